// The lazy event walk: its byte-level pieces, and the early stop seen through Matcher::match
// (the stop must never change an outcome: keys repeated or spelled with dots or escapes after
// the point where every named field was read still count).
#include "pattern/internal/event_scan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <charconv>
#include <string>
#include <vector>

#include "core/json_number.h"
#include "pattern/pattern.h"

namespace hikyaku::pattern {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const char* skip(const std::string& text) {
  return internal::skip_value(text.data(), text.data() + text.size());
}

// Where skip_value stops, as an offset; -1 for nullptr.
long skip_end(const std::string& text) {
  const char* end = skip(text);
  return end == nullptr ? -1 : end - text.data();
}

TEST(EventScanTest, SkipsValuesStructurally) {
  EXPECT_EQ(skip_end(R"("abc",1)"), 5);
  EXPECT_EQ(skip_end(R"("a\"b\\",1)"), 8);
  EXPECT_EQ(skip_end("123,"), 3);
  EXPECT_EQ(skip_end("true}"), 4);
  EXPECT_EQ(skip_end(R"({"a":[1,{"b":"]}"}]},2)"), 20);
  EXPECT_EQ(skip_end("[[[]]]]"), 6);
  EXPECT_EQ(skip_end(R"({"a":"unterminated)"), -1);
  EXPECT_EQ(skip_end("[1,2"), -1);
  EXPECT_EQ(skip_end("@"), -1);
}

TEST(EventScanTest, SkipsLongContainersAcrossVectorBlocks) {
  // Brackets and quotes at every offset relative to the 64-byte stretches, with and without
  // escapes, strings that span stretches, and brackets inside strings.
  for (size_t pad = 0; pad < 70; ++pad) {
    for (const char* inner : {R"("x")", R"("]}[{")", R"("a\"]")", R"("\\")", "[[1],[2,[3]]]"}) {
      std::string text = "[" + std::string(pad, ' ') + "{\"k\":" + inner + "}," +
                         std::string(pad % 7, ' ') + "\"" + std::string(pad, 'y') + "\"]";
      const long want = static_cast<long>(text.size());
      text += ",\"after\"]";
      EXPECT_EQ(skip_end(text), want) << text;
    }
  }
  std::string deep = std::string(5000, '[') + std::string(5000, ']');
  EXPECT_EQ(skip_end(deep), 10000);
  EXPECT_EQ(skip_end(std::string(5000, '[') + std::string(4999, ']')), -1);
}

TEST(EventScanTest, NumbersConvertExactlyOnTheFastPathOrDeferToTheCaller) {
  // Every token either converts to exactly what from_chars gives or says it did not.
  int exact = 0;
  for (const char* text : {"0",
                           "-0",
                           "5",
                           "-122.46229521271",
                           "37.72659637008993",
                           "37.729900216217324",
                           "9007199254740993",
                           "9007199254740992",
                           "1e22",
                           "1e23",
                           "123456789012345678901",
                           "0.000001",
                           "1.5e-300",
                           "4.9e-324",
                           "1e309",
                           "0.1",
                           "3.14159",
                           "2.5E+3",
                           "100e-2",
                           "0.0000000000000000000000012"}) {
    std::string t = text;
    internal::NumberToken token;
    const char* end = internal::scan_number(t.data(), t.data() + t.size(), &token);
    ASSERT_EQ(end, t.data() + t.size()) << t;
    if (!token.exact) {
      continue;
    }
    ++exact;
    double want = 0;
    std::from_chars(t.data(), t.data() + t.size(), want);
    EXPECT_EQ(token.value, want == 0 ? 0.0 : want) << t;
  }
  EXPECT_GE(exact, 12);  // the fast path is taken for the ordinary ones
  for (const char* bad : {"-", "01", "1.", ".5", "1e", "1e+", "-x"}) {
    std::string t = bad;
    const char* end = internal::scan_number(t.data(), t.data() + t.size());
    EXPECT_TRUE(end == nullptr || end != t.data() + t.size()) << t;
  }
}

TEST(EventScanTest, NumberGrammarIsCores) {
  // The event scanner reads exactly the tokens core/json_number.h does, with or without converting.
  for (const char* text : {"-",         "01",     "1.",
                           "1e",        "1e+",    "-0",
                           "1E5",       "0.0e-0", "12345678901234567890123",
                           ".5",        "+1",     "-01.5",
                           "1.5e",      "1e-",    "0e0",
                           "-",         "",       "1.2.3",
                           "1ee5",      "00",     "-a",
                           "9e99999999"}) {
    const std::string t = text;
    const char* end = t.data() + t.size();
    const char* want = scan_json_number(t.data(), end);
    internal::NumberToken token;
    EXPECT_EQ(internal::scan_number(t.data(), end), want) << t;
    EXPECT_EQ(internal::scan_number(t.data(), end, &token), want) << t;
  }
}

TEST(EventScanTest, DecodesEscapes) {
  std::string out;
  EXPECT_EQ(internal::decode_string(R"(a\"b\\c\/\n\u00e9\ud83d\ude00)", out), nullptr);
  EXPECT_EQ(out, "a\"b\\c/\n\xC3\xA9\xF0\x9F\x98\x80");
  out.clear();
  EXPECT_STREQ(internal::decode_string(R"(\x)", out), "invalid escape");
  EXPECT_STREQ(internal::decode_string(R"(\u12)", out), "invalid \\u escape");
  EXPECT_STREQ(internal::decode_string(R"(\ud83d)", out), "unpaired surrogate in \\u escape");
  EXPECT_STREQ(internal::decode_string(R"(\ude00)", out), "unpaired surrogate in \\u escape");
}

TEST(EventScanTest, NeedlesFindQuotedSegmentsAndBackslashes) {
  internal::KeyNeedles needles;
  needles.add("properties");
  needles.add("STREET");
  needles.add("STREET");  // twice: no harm
  needles.freeze();
  auto may = [&](const std::string& text) {
    return needles.may_occur(text.data(), text.data() + text.size());
  };
  std::string filler(100, 'z');
  EXPECT_FALSE(may(filler + R"(, "geometry": {"type": "Polygon"}})" + filler));
  EXPECT_TRUE(may(filler + R"(, "STREET": 1)"));
  EXPECT_TRUE(may(R"(,"properties.STREET":1})"));
  EXPECT_TRUE(may(filler + R"("prop\u0065rties")"));  // an escape could spell a segment
  EXPECT_FALSE(may(filler + "properties STREET"));    // unquoted: not a key
  for (size_t at = 0; at < 80; ++at) {
    EXPECT_TRUE(may(std::string(at, ' ') + "\"STREET\"" + std::string(at % 5, ' '))) << at;
  }
  EXPECT_FALSE(may(R"("STREE")"));  // cut short by the end of the text
}

TEST(EventScanTest, ManyNeedlesCostOneProbePerLength) {
  // 20,000 distinct segments sharing first bytes: a hit and a miss are both found.
  internal::KeyNeedles needles;
  for (int i = 0; i < 20000; ++i) {
    needles.add("field" + std::to_string(i));
  }
  needles.freeze();
  std::string hit = std::string(200, ' ') + R"("field19999": 1)";
  std::string miss = std::string(200, ' ') + R"("field20000x": 1, "fiel": 2)";
  EXPECT_TRUE(needles.may_occur(hit.data(), hit.data() + hit.size()));
  // "field20000x" starts with "field2000" (a segment): a conservative hit is correct too.
  EXPECT_TRUE(needles.may_occur(miss.data(), miss.data() + miss.size()));
  std::string none = std::string(200, ' ') + R"("fiel": 2, "other": 3)";
  EXPECT_FALSE(needles.may_occur(none.data(), none.data() + none.size()));
}

std::vector<uint32_t> match_ids(std::string_view pattern, std::string_view event) {
  auto m = Matcher::compile({{7, pattern}});
  EXPECT_TRUE(m.has_value()) << pattern;
  std::vector<uint32_t> ids;
  Status st = (*m)->match(event, ids);
  EXPECT_TRUE(st.ok()) << event << ": " << st.to_string();
  return ids;
}

TEST(EarlyStopTest, LaterKeysThatNameAFieldStillCount) {
  const char* pattern = R"({"p":{"s":["x"]},"t":[{"exists":false}]})";
  EXPECT_THAT(match_ids(pattern, R"({"p":{"s":"x"},"g":[1,2,3]})"), ElementsAre(7));
  // A duplicate key acts like an array of both values; a dotted key reaches the same field.
  EXPECT_THAT(match_ids(pattern, R"({"p":{"s":"x"},"g":[1,2,3],"t":1})"), IsEmpty());
  EXPECT_THAT(match_ids(pattern, R"({"p":{"s":"y"},"g":[1],"p.s":"x"})"), ElementsAre(7));
  EXPECT_THAT(match_ids(pattern, R"({"p":{"s":"y"},"g":[1],"p":{"s":"x"}})"), ElementsAre(7));
  EXPECT_THAT(match_ids(pattern, R"({"p":{"s":"y","z":1,"s":"x"},"g":2})"), ElementsAre(7));
  // Spelled with an escape.
  EXPECT_THAT(match_ids(pattern, R"({"p":{"s":"x"},"g":[1],"\u0074":1})"), IsEmpty());
  const char* exact = R"({"p":{"s":["x"]}})";
  EXPECT_THAT(match_ids(exact, R"({"p":{"s":"y"},"g":"long tail","p":{"s":"x"}})"), ElementsAre(7));
  EXPECT_THAT(match_ids(exact, R"({"p":[{"s":"y"}],"p":[{"s":"x"}]})"), ElementsAre(7));
}

TEST(EarlyStopTest, TheTextAfterTheStopIsNotRead) {
  // Documented: once nothing later can matter, the rest is not read, so it is not validated.
  const char* exact = R"({"p":{"s":["x"]}})";
  EXPECT_THAT(match_ids(exact, R"({"p":{"s":"x"},"g": not json at all)"), ElementsAre(7));
  // Before the stop, malformed JSON is an error that says where.
  auto m = Matcher::compile({{7, exact}});
  ASSERT_TRUE(m.has_value());
  std::vector<uint32_t> ids;
  Status st = (*m)->match(R"({"p":{"t":1,,"s":"x"}})", ids);
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr("expected a key at offset 12"));
  st = (*m)->match(R"({"p":{"s" "x"}})", ids);
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr("event is not valid JSON: expected ':' at offset 10"));
  st = (*m)->match(R"({"p":{"s":"x)", ids);
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr("unterminated string"));
  st = (*m)->match("  ", ids);
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr("empty"));
}

}  // namespace
}  // namespace hikyaku::pattern
