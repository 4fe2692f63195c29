#include "pattern/internal/values.h"

#include <gtest/gtest.h>

#include "core/json_number.h"
#include "pattern/internal/json_tree.h"

namespace hikyaku::pattern::internal {
namespace {

TEST(NumbersTest, ComparabilityFollowsJavaRoundTrip) {
  for (const char* t : {"4.9e-324", "1.7976931348623157e308", "123456789012", "0.30000000000000004",
                        "5", "-0", "0.1", "1e22", "2.2250738585072014e-308"}) {
    EXPECT_TRUE(analyze_number(t).comparable) << t;
  }
  for (const char* t : {"0.30000000000000001", "1.00000000000000001", "12345678901234567890",
                        "5e-324", "1e309", "-1e309", "5.0000000000000001"}) {
    EXPECT_FALSE(analyze_number(t).comparable) << t;
  }
  EXPECT_EQ(analyze_number("-0").value, 0.0);
  EXPECT_EQ(analyze_number("50e-1").value, 5.0);
}

TEST(NumbersTest, JsonNumberGrammar) {
  for (const char* t : {"0", "-0", "1.5", "1e5", "1E+5", "-1.5e-3"}) {
    EXPECT_TRUE(is_json_number(t)) << t;
  }
  for (const char* t : {"", "-", "01", "1.", ".5", "+1", "1e", "0x5", "NaN", "Infinity"}) {
    EXPECT_FALSE(is_json_number(t)) << t;
  }
}

TEST(IpTest, ParsesLenientIpv4AndIpv6) {
  auto a = parse_ip("010.000.000.001");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->family, 4);
  EXPECT_EQ(a->bytes[0], 10);
  EXPECT_EQ(a->bytes[3], 1);
  EXPECT_TRUE(parse_ip("10.00000.0.1"));
  EXPECT_FALSE(parse_ip("256.0.0.1"));
  EXPECT_FALSE(parse_ip("10.0.0"));
  EXPECT_FALSE(parse_ip("10.0.0.1.2"));
  EXPECT_FALSE(parse_ip("host"));
  auto b = parse_ip("2001:DB8::0:1");
  auto c = parse_ip("2001:db8:0:0:0:0:0:1");
  ASSERT_TRUE(b && c);
  EXPECT_EQ(b->bytes, c->bytes);
  EXPECT_TRUE(parse_ip("::"));
  EXPECT_TRUE(parse_ip("::1"));
  EXPECT_TRUE(parse_ip("1::"));
  EXPECT_FALSE(parse_ip("1:::2"));
  EXPECT_FALSE(parse_ip("1::2::3"));
  EXPECT_FALSE(parse_ip("::ffff:10.0.0.1"));
  EXPECT_FALSE(parse_ip("1:2:3:4:5:6:7:8:9"));
  EXPECT_FALSE(parse_ip("12345::"));
  EXPECT_FALSE(parse_ip("fe80::1%eth0"));
}

TEST(IpTest, CidrRanges) {
  std::string err;
  auto r = parse_cidr("10.1.2.3/8", err);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->contains(*parse_ip("10.255.0.0")));
  EXPECT_FALSE(r->contains(*parse_ip("11.0.0.0")));
  auto r6 = parse_cidr("2001:db8:1234:1a00::/56", err);
  ASSERT_TRUE(r6);
  EXPECT_TRUE(r6->contains(*parse_ip("2001:db8:1234:1aff::1")));
  EXPECT_FALSE(r6->contains(*parse_ip("2001:db8:1234:1b00::")));
  auto odd = parse_cidr("10.0.0.0/13", err);
  ASSERT_TRUE(odd);
  EXPECT_TRUE(odd->contains(*parse_ip("10.7.255.255")));
  EXPECT_FALSE(odd->contains(*parse_ip("10.8.0.0")));
  EXPECT_FALSE(parse_cidr("bad-filter", err));
  EXPECT_FALSE(parse_cidr("10.0.0.0/", err));
}

TEST(CaseTest, AlternativesAndMatching) {
  CaseAlternatives a = case_alternatives("aß");
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[1].size(), 2u);  // ß, SS
  EXPECT_TRUE(case_insensitive_match(a, "ASS", CaseMode::kExact));
  EXPECT_TRUE(case_insensitive_match(a, "aß", CaseMode::kExact));
  EXPECT_FALSE(case_insensitive_match(a, "ass", CaseMode::kExact));
  EXPECT_TRUE(case_insensitive_match(a, "Aßx", CaseMode::kPrefix));
  EXPECT_TRUE(case_insensitive_match(a, "xASS", CaseMode::kSuffix));
  EXPECT_FALSE(case_insensitive_match(a, "xASSx", CaseMode::kSuffix));
}

TEST(CaseTest, SameLengthSpellingsTakeTheDirectPath) {
  // ASCII and two-byte letters whose cases have the same length: one position at each step.
  CaseAlternatives fulton = case_alternatives("FuLtOn");
  EXPECT_TRUE(case_insensitive_match(fulton, "fulton", CaseMode::kExact));
  EXPECT_FALSE(case_insensitive_match(fulton, "fultonx", CaseMode::kExact));
  EXPECT_FALSE(case_insensitive_match(fulton, "fulto", CaseMode::kExact));
  EXPECT_TRUE(case_insensitive_match(fulton, "FULTONS", CaseMode::kPrefix));
  EXPECT_FALSE(case_insensitive_match(fulton, "FULTO", CaseMode::kPrefix));
  EXPECT_TRUE(case_insensitive_match(fulton, "W FULTON", CaseMode::kSuffix));
  EXPECT_FALSE(case_insensitive_match(fulton, "FULTON W", CaseMode::kSuffix));
  CaseAlternatives accent = case_alternatives("é");
  EXPECT_TRUE(case_insensitive_match(accent, "É", CaseMode::kExact));
  EXPECT_FALSE(case_insensitive_match(accent, "e", CaseMode::kExact));
}

TEST(WildcardTest, ParseAndMatch) {
  std::string err;
  auto w = parse_wildcard("a*b\\*c*", err);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->star_count, 2u);
  EXPECT_TRUE(w->matches("a-b*c"));
  EXPECT_TRUE(w->matches("ab*cxyz"));
  EXPECT_FALSE(w->matches("ab-c"));
  EXPECT_EQ(w->literal_prefix(), "a");
  EXPECT_FALSE(parse_wildcard("**", err));
  EXPECT_FALSE(parse_wildcard("\\a", err));
}

TEST(JsonTreeTest, StrictParsing) {
  auto r = parse_json(R"({"a":[1.50,"x\u00e9",true,null],"a":{}})", 10);
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->keys.size(), 2u);
  EXPECT_EQ(r->items[0].items[0].text, "1.50");
  EXPECT_EQ(r->items[0].items[1].text, "x\xC3\xA9");
  EXPECT_EQ(to_json(*r), R"({"a": [1.50, "xé", true, null], "a": {}})");
  for (const char* bad : {"", "{", "{\"a\"}", "[1,]", "{\"a\":01}", "tru", R"("\x")", "{'a':1}",
                          "[1] [2]", "\"a\nb\""}) {
    EXPECT_FALSE(parse_json(bad, 10).has_value()) << bad;
  }
  EXPECT_FALSE(parse_json("[[[[1]]]]", 3).has_value());
  EXPECT_TRUE(parse_json("[[[1]]]", 3).has_value());
}

}  // namespace
}  // namespace hikyaku::pattern::internal
