#include "pattern/pattern.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace hikyaku::pattern {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// Matches `pattern` against `event`, failing the test on any error.
bool matched(std::string_view pattern, std::string_view event) {
  Result<bool> r = matches(pattern, event);
  EXPECT_TRUE(r.has_value()) << pattern << " / " << event << ": " << r.status().to_string();
  return r.has_value() && *r;
}

std::string invalid(std::string_view pattern) {
  Status st = validate_pattern(pattern);
  EXPECT_FALSE(st.ok()) << pattern;
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << pattern;
  return st.message();
}

TEST(PatternTest, ExactStringsAreTypeStrictAndByteExact) {
  EXPECT_TRUE(matched(R"({"a":["x"]})", R"({"a":"x"})"));
  EXPECT_FALSE(matched(R"({"a":["x"]})", R"({"a":"X"})"));
  EXPECT_FALSE(matched(R"({"a":["5"]})", R"({"a":5})"));
  EXPECT_FALSE(matched(R"({"a":["true"]})", R"({"a":true})"));
  EXPECT_FALSE(matched(R"({"a":["null"]})", R"({"a":null})"));
  EXPECT_TRUE(matched(R"({"a":[""]})", R"({"a":""})"));
  EXPECT_FALSE(matched(R"({"a":["é"]})", "{\"a\":\"e\\u0301\"}"));
  EXPECT_TRUE(matched(R"({"a":["\u00e9"]})", R"({"a":"é"})"));
  EXPECT_FALSE(matched(R"({"a":["x"]})", R"({"b":"x"})"));
}

TEST(PatternTest, LiteralsMatchOnlyThemselves) {
  EXPECT_TRUE(matched(R"({"a":[true]})", R"({"a":true})"));
  EXPECT_FALSE(matched(R"({"a":[true]})", R"({"a":false})"));
  EXPECT_TRUE(matched(R"({"a":[null]})", R"({"a":null})"));
  EXPECT_TRUE(matched(R"({"a":[null]})", R"({"a":[null]})"));
  EXPECT_FALSE(matched(R"({"a":[null]})", R"({"b":1})"));
  EXPECT_FALSE(matched(R"({"a":[false]})", R"({"a":0})"));
}

TEST(PatternTest, NumbersCompareByValueWithLiteralFallback) {
  for (const char* ev : {"5", "5.0", "5e0", "0.5e1", "50e-1"}) {
    EXPECT_TRUE(matched(R"({"a":[5]})", std::string(R"({"a":)") + ev + "}")) << ev;
  }
  EXPECT_TRUE(matched(R"({"a":[0]})", R"({"a":-0})"));
  EXPECT_TRUE(matched(R"({"a":[0.1]})", R"({"a":0.10})"));
  EXPECT_TRUE(matched(R"({"a":[12345678901234567890]})", R"({"a":12345678901234567890})"));
  EXPECT_FALSE(matched(R"({"a":[12345678901234567890]})", R"({"a":12345678901234567890.0})"));
  EXPECT_FALSE(matched(R"({"a":[5]})", R"({"a":5.0000000000000001})"));
  EXPECT_TRUE(matched(R"({"a":[1e309]})", R"({"a":1e309})"));
  EXPECT_FALSE(matched(R"({"a":[0.30000000000000001]})", R"({"a":0.3})"));
  EXPECT_TRUE(matched(R"({"a":[0.30000000000000004]})", R"({"a":0.30000000000000004})"));
  EXPECT_FALSE(matched(R"({"a":[5]})", R"({"a":"5"})"));
}

TEST(PatternTest, DottedPathsAndNestingAreInterchangeable) {
  EXPECT_TRUE(matched(R"({"a":{"b":["x"]}})", R"({"a":{"b":"x"}})"));
  EXPECT_TRUE(matched(R"({"a":{"b":["x"]}})", R"({"a.b":"x"})"));
  EXPECT_TRUE(matched(R"({"a.b":["x"]})", R"({"a":{"b":"x"}})"));
  EXPECT_TRUE(matched(R"({"a":{"b":["x"]}})", R"({"a":[{"b":"y"},{"b":"x"}]})"));
  EXPECT_FALSE(matched(R"({"a":["x"]})", R"({"a":{"b":"x"}})"));  // a leaf never matches an object
}

TEST(PatternTest, DuplicatePathsLastOneWins) {
  EXPECT_TRUE(matched(R"({"f":["x"],"f":["y"]})", R"({"f":"y"})"));
  EXPECT_FALSE(matched(R"({"f":["x"],"f":["y"]})", R"({"f":"x"})"));
}

TEST(PatternTest, EventArraysAreTransparent) {
  EXPECT_TRUE(matched(R"({"a":["x"]})", R"({"a":["y","x"]})"));
  EXPECT_TRUE(matched(R"({"a":["x"]})", R"({"a":[["x"]]})"));
  EXPECT_FALSE(matched(R"({"a":["x"]})", R"({"a":[]})"));
}

TEST(PatternTest, ArrayConsistencyNeverCombinesElements) {
  const char* p = R"({"employees":{"firstName":["Anna"],"lastName":["Jones"]}})";
  EXPECT_FALSE(matched(p, R"({"employees":[{"firstName":"Anna","lastName":"Smith"},
                                      {"firstName":"Peter","lastName":"Jones"}]})"));
  EXPECT_TRUE(matched(p, R"({"employees":[{"firstName":"Anna","lastName":"Smith"},
                                     {"firstName":"Anna","lastName":"Jones"}]})"));
  // Different arrays combine freely; so do values inside and outside an array.
  EXPECT_TRUE(matched(R"({"a":{"x":["1"]},"b":{"y":["2"]}})",
                      R"({"a":[{"x":"1"}],"b":[{"y":"0"},{"y":"2"}]})"));
  EXPECT_TRUE(matched(R"({"a":{"x":["1"],"y":["2"]}})", R"({"a":{"x":"1","y":["0","2"]}})"));
  // Nested arrays apply the rule at every level.
  EXPECT_FALSE(
      matched(R"({"a":{"b":{"x":["1"],"y":["2"]}}})", R"({"a":[{"b":[{"x":"1"},{"y":"2"}]}]})"));
  EXPECT_TRUE(matched(R"({"a":{"b":{"x":["1"]},"c":["2"]}})",
                      R"({"a":[{"b":[{"x":"0"},{"x":"1"}],"c":"2"}]})"));
  // exists:false is judged per element.
  const char* q = R"({"employees":{"firstName":["Anna"],"lastName":[{"exists":false}]}})";
  EXPECT_TRUE(
      matched(q, R"({"employees":[{"firstName":"Anna"},{"firstName":"Peter","lastName":"J"}]})"));
  EXPECT_FALSE(
      matched(q, R"({"employees":[{"firstName":"Anna","lastName":"S"},{"firstName":"P"}]})"));
}

TEST(PatternTest, PrefixAndSuffix) {
  EXPECT_TRUE(matched(R"({"a":[{"prefix":"ab"}]})", R"({"a":"abc"})"));
  EXPECT_FALSE(matched(R"({"a":[{"prefix":"ab"}]})", R"({"a":"xabc"})"));
  EXPECT_TRUE(matched(R"({"a":[{"prefix":""}]})", R"({"a":""})"));
  EXPECT_FALSE(matched(R"({"a":[{"prefix":""}]})", R"({"a":5})"));
  EXPECT_TRUE(matched(R"({"a":[{"suffix":".png"}]})", R"({"a":"x.png"})"));
  EXPECT_FALSE(matched(R"({"a":[{"suffix":".png"}]})", R"({"a":"x.PNG"})"));
  EXPECT_TRUE(matched(R"({"a":[{"suffix":""}]})", R"({"a":"q"})"));
  EXPECT_FALSE(matched(R"({"a":[{"prefix":"1"}]})", R"({"a":12})"));
}

TEST(PatternTest, EqualsIgnoreCaseFollowsPerCharacterRule) {
  EXPECT_TRUE(matched(R"({"a":[{"equals-ignore-case":"HeLLo"}]})", R"({"a":"hello"})"));
  EXPECT_FALSE(matched(R"({"a":[{"equals-ignore-case":"hello"}]})", R"({"a":"hello!"})"));
  EXPECT_TRUE(matched(R"({"a":[{"equals-ignore-case":""}]})", R"({"a":""})"));
  EXPECT_TRUE(matched(R"({"a":[{"equals-ignore-case":"straße"}]})", R"({"a":"STRASSE"})"));
  EXPECT_FALSE(matched(R"({"a":[{"equals-ignore-case":"straße"}]})", R"({"a":"strasse"})"));
  EXPECT_TRUE(matched(R"({"a":[{"equals-ignore-case":"ς"}]})", R"({"a":"Σ"})"));
  EXPECT_FALSE(matched(R"({"a":[{"equals-ignore-case":"ς"}]})", R"({"a":"σ"})"));
  EXPECT_FALSE(matched(R"({"a":[{"equals-ignore-case":"istanbul"}]})", R"({"a":"İSTANBUL"})"));
  EXPECT_TRUE(matched(R"({"a":[{"equals-ignore-case":"K"}]})", R"({"a":"k"})"));  // Kelvin sign
  // docs/event-patterns.md §13: a string always matches itself, emoji compare by code point.
  EXPECT_TRUE(matched(R"({"a":[{"equals-ignore-case":"ǅ"}]})", R"({"a":"ǅ"})"));
  EXPECT_TRUE(matched(R"({"a":[{"equals-ignore-case":"ǅ"}]})", R"({"a":"ǆ"})"));
  EXPECT_TRUE(matched(R"({"a":[{"equals-ignore-case":"😀"}]})", R"({"a":"😀"})"));
  EXPECT_FALSE(matched(R"({"a":[{"equals-ignore-case":"😀"}]})", R"({"a":"??"})"));
  EXPECT_TRUE(matched(R"({"a":[{"prefix":{"equals-ignore-case":"AB"}}]})", R"({"a":"abc"})"));
  EXPECT_TRUE(matched(R"({"a":[{"suffix":{"equals-ignore-case":"ÉTÉ"}}]})", R"({"a":"un été"})"));
  EXPECT_FALSE(matched(R"({"a":[{"suffix":{"equals-ignore-case":"BC"}}]})", R"({"a":"abd"})"));
  EXPECT_FALSE(matched(R"({"a":[{"equals-ignore-case":"5"}]})", R"({"a":5})"));
}

TEST(PatternTest, Wildcard) {
  EXPECT_TRUE(matched(R"({"a":[{"wildcard":"a*c"}]})", R"({"a":"abbc"})"));
  EXPECT_TRUE(matched(R"({"a":[{"wildcard":"a*c"}]})", R"({"a":"ac"})"));
  EXPECT_FALSE(matched(R"({"a":[{"wildcard":"a*c"}]})", R"({"a":"acb"})"));
  EXPECT_TRUE(matched(R"({"a":[{"wildcard":"*"}]})", R"({"a":""})"));
  EXPECT_TRUE(matched(R"({"a":[{"wildcard":""}]})", R"({"a":""})"));
  EXPECT_FALSE(matched(R"({"a":[{"wildcard":""}]})", R"({"a":"x"})"));
  EXPECT_TRUE(matched(R"({"a":[{"wildcard":"a\\*b"}]})", R"({"a":"a*b"})"));
  EXPECT_FALSE(matched(R"({"a":[{"wildcard":"a\\*b"}]})", R"({"a":"axb"})"));
  EXPECT_TRUE(matched(R"({"a":[{"wildcard":"a\\\\b"}]})", R"({"a":"a\\b"})"));
  EXPECT_TRUE(matched(R"({"a":[{"wildcard":"*x*y*"}]})", R"({"a":"1x2y3"})"));
  EXPECT_FALSE(matched(R"({"a":[{"wildcard":"*x*y*"}]})", R"({"a":"1y2x3"})"));
  EXPECT_TRUE(matched(R"({"a":[{"wildcard":"*.png"}]})", R"({"a":"x.png"})"));
  EXPECT_FALSE(matched(R"({"a":[{"wildcard":"ab*ba"}]})", R"({"a":"aba"})"));
  EXPECT_FALSE(matched(R"({"a":[{"wildcard":"*"}]})", R"({"a":1})"));
  EXPECT_THAT(invalid(R"({"a":[{"wildcard":"a**b"}]})"), HasSubstr("consecutive"));
  EXPECT_THAT(invalid(R"({"a":[{"wildcard":"a\\b"}]})"), HasSubstr("escape"));
  EXPECT_THAT(invalid(R"({"a":[{"wildcard":"ab\\"}]})"), HasSubstr("escape"));
  EXPECT_THAT(invalid(R"({"a":[{"wildcard":"*:*:*:*:*:event-bus/*"}]})"), HasSubstr("complex"));
}

TEST(PatternTest, Exactly) {
  EXPECT_TRUE(matched(R"({"a":[{"exactly":"10.0.0.1"}]})", R"({"a":"10.0.0.1"})"));
  EXPECT_FALSE(matched(R"({"a":[{"exactly":"10.0.0.1"}]})", R"({"a":"010.0.0.1"})"));
  EXPECT_TRUE(matched(R"({"a":["10.0.0.1"]})", R"({"a":"010.0.000.01"})"));
  EXPECT_TRUE(matched(R"({"a":["2001:db8::1"]})", R"({"a":"2001:DB8::0:1"})"));
  EXPECT_FALSE(matched(R"({"a":["10.0.0.1"]})",
                       R"({"a":"0a00:0001::"})"));  // docs/event-patterns.md §13 family-strict
}

TEST(PatternTest, AnythingBut) {
  const char* p = R"({"a":[{"anything-but":"x"}]})";
  EXPECT_FALSE(matched(p, R"({"a":"x"})"));
  EXPECT_TRUE(matched(p, R"({"a":"y"})"));
  EXPECT_TRUE(matched(p, R"({"a":5})"));
  EXPECT_TRUE(matched(p, R"({"a":null})"));
  EXPECT_TRUE(matched(p, R"({"a":true})"));
  EXPECT_FALSE(matched(p, R"({"b":"y"})"));
  EXPECT_FALSE(matched(p, R"({"a":[]})"));
  EXPECT_TRUE(matched(R"({"a":[{"anything-but":"stopped"}]})", R"({"a":["stopped","running"]})"));
  EXPECT_FALSE(matched(R"({"a":[{"anything-but":"stopped"}]})", R"({"a":["stopped"]})"));
  EXPECT_FALSE(matched(R"({"a":[{"anything-but":["a","b"]}]})", R"({"a":"b"})"));
  EXPECT_TRUE(matched(R"({"a":[{"anything-but":5}]})", R"({"a":"5"})"));
  EXPECT_FALSE(matched(R"({"a":[{"anything-but":5}]})", R"({"a":5.0})"));
  EXPECT_FALSE(matched(R"({"a":[{"anything-but":[1,2]}]})", R"({"a":2})"));
  EXPECT_TRUE(matched(R"({"a":[{"anything-but":{"prefix":"x"}}]})", R"({"a":5})"));
  EXPECT_FALSE(matched(R"({"a":[{"anything-but":{"prefix":"x"}}]})", R"({"a":"xy"})"));
  EXPECT_FALSE(matched(R"({"a":[{"anything-but":{"prefix":["x","y"]}}]})", R"({"a":"yz"})"));
  EXPECT_FALSE(matched(R"({"a":[{"anything-but":{"suffix":"z"}}]})", R"({"a":"yz"})"));
  EXPECT_TRUE(matched(R"({"a":[{"anything-but":{"suffix":"z"}}]})", R"({"a":"zy"})"));
  EXPECT_FALSE(matched(R"({"a":[{"anything-but":{"equals-ignore-case":"AB"}}]})", R"({"a":"ab"})"));
  EXPECT_TRUE(
      matched(R"({"a":[{"anything-but":{"equals-ignore-case":["AB"]}}]})", R"({"a":"abc"})"));
  EXPECT_FALSE(matched(R"({"a":[{"anything-but":{"wildcard":"*/x/*"}}]})", R"({"a":"a/x/b"})"));
  EXPECT_TRUE(matched(R"({"a":[{"anything-but":{"wildcard":""}}]})", R"({"a":"a"})"));
  EXPECT_TRUE(matched(R"({"a":[{"anything-but":"a"},{"anything-but":"b"}]})", R"({"a":"a"})"));
}

TEST(PatternTest, AnythingButInvalidForms) {
  for (const char* p : {
           R"({"a":[{"anything-but":[]}]})",
           R"({"a":[{"anything-but":["a",1]}]})",
           R"({"a":[{"anything-but":null}]})",
           R"({"a":[{"anything-but":true}]})",
           R"({"a":[{"anything-but":["a",null]}]})",
           R"({"a":[{"anything-but":[["a"]]}]})",
           R"({"a":[{"anything-but":{"prefix":""}}]})",
           R"({"a":[{"anything-but":{"suffix":""}}]})",
           R"({"a":[{"anything-but":{"prefix":[]}}]})",
           R"({"a":[{"anything-but":{"prefix":123}}]})",
           R"({"a":[{"anything-but":{"numeric":[">",1]}}]})",
           R"({"a":[{"anything-but":{"exists":true}}]})",
           R"({"a":[{"anything-but":{"cidr":"10.0.0.0/8"}}]})",
           R"({"a":[{"anything-but":{"anything-but":"x"}}]})",
           R"({"a":[{"anything-but":{}}]})",
           R"({"a":[{"anything-but":{"prefix":"a","suffix":"b"}}]})",
           R"({"a":[{"anything-but":{"prefix":{"equals-ignore-case":"x"}}}]})",
           R"({"a":[{"anything-but":{"wildcard":"a**"}}]})",
           R"({"a":[{"anything-but":{"equals-ignore-case":123}}]})",
       }) {
    invalid(p);
  }
}

TEST(PatternTest, Numeric) {
  EXPECT_TRUE(matched(R"({"a":[{"numeric":[">",5]}]})", R"({"a":5.1})"));
  EXPECT_FALSE(matched(R"({"a":[{"numeric":[">",5]}]})", R"({"a":5})"));
  EXPECT_TRUE(matched(R"({"a":[{"numeric":[">=",5]}]})", R"({"a":5})"));
  EXPECT_TRUE(matched(R"({"a":[{"numeric":["<",0]}]})", R"({"a":-1e300})"));
  EXPECT_TRUE(matched(R"({"a":[{"numeric":["=",0]}]})", R"({"a":-0})"));
  EXPECT_TRUE(matched(R"({"a":[{"numeric":[">",0,"<=",5]}]})", R"({"a":5})"));
  EXPECT_FALSE(matched(R"({"a":[{"numeric":[">",0,"<",5]}]})", R"({"a":5})"));
  EXPECT_FALSE(matched(R"({"a":[{"numeric":[">",0]}]})", R"({"a":"5"})"));
  EXPECT_FALSE(matched(R"({"a":[{"numeric":[">",0]}]})", R"({"a":5.0000000000000001})"));
  EXPECT_TRUE(matched(R"({"a":[{"numeric":[">",0]}]})", R"({"a":[-1, 3]})"));
  EXPECT_TRUE(matched(R"({"a":[{"numeric":["<",1.7976931348623157e308]}]})", R"({"a":1e300})"));
}

TEST(PatternTest, NumericInvalidForms) {
  for (const char* p : {
           R"({"a":[{"numeric":["<",5,">",1]}]})",
           R"({"a":[{"numeric":[">",1,"<"]}]})",
           R"({"a":[{"numeric":[">",1,"<",5,"<",6]}]})",
           R"({"a":[{"numeric":[">"]}]})",
           R"({"a":[{"numeric":[">","5"]}]})",
           R"({"a":[{"numeric":[">",null]}]})",
           R"({"a":[{"numeric":["==",5]}]})",
           R"({"a":[{"numeric":["!=",5]}]})",
           R"({"a":[{"numeric":[">",5,"<",5]}]})",
           R"({"a":[{"numeric":[">=",5,"<=",5]}]})",
           R"({"a":[{"numeric":[">",1e309]}]})",
           R"({"a":[{"numeric":[">",5e-324]}]})",
           R"({"a":[{"numeric":["=",0.30000000000000001]}]})",
           R"({"a":[{"numeric":["<",12345678901234567890]}]})",
           R"({"a":[{"numeric":{">":5}}]})",
           R"({"a":[{"numeric":10}]})",
           R"({"a":[{"numeric":[">",1.7976931348623157e308]}]})",
           R"({"a":[{"numeric":["<",-1.7976931348623157e308]}]})",
           R"({"a":[{"numeric":["=",5,"<",6]}]})",
       }) {
    invalid(p);
  }
  EXPECT_TRUE(validate_pattern(R"({"a":[{"numeric":[">",4.9e-324]}]})").ok());
}

TEST(PatternTest, Exists) {
  const char* t = R"({"a":[{"exists":true}]})";
  const char* f = R"({"a":[{"exists":false}]})";
  for (const char* ev :
       {R"({"a":null})", R"({"a":""})", R"({"a":0})", R"({"a":false})", R"({"a":[1]})"}) {
    EXPECT_TRUE(matched(t, ev)) << ev;
    EXPECT_FALSE(matched(f, ev)) << ev;
  }
  for (const char* ev : {R"({"b":1})", R"({"a":[]})", R"({"a":[[]]})", R"({"a":{}})",
                         R"({"a":{"g":1}})", R"({"a":[{}]})"}) {
    EXPECT_FALSE(matched(t, ev)) << ev;
    EXPECT_TRUE(matched(f, ev)) << ev;
  }
  EXPECT_TRUE(matched(R"({"a":{"b":[{"exists":false}]}})", R"({"a":5})"));
  EXPECT_TRUE(matched(R"({"a":[{"exists":false},"x"]})", R"({"a":"x"})"));
  EXPECT_TRUE(matched(R"({"a":[{"exists":false},"x"]})", R"({})"));
  EXPECT_FALSE(matched(R"({"a":[{"exists":false},"x"]})", R"({"a":"y"})"));
  invalid(R"({"a":[{"exists":"true"}]})");
  invalid(R"({"a":[{"exists":null}]})");
}

TEST(PatternTest, Cidr) {
  const char* p = R"({"ip":[{"cidr":"10.0.0.0/8"}]})";
  EXPECT_TRUE(matched(p, R"({"ip":"10.1.2.3"})"));
  EXPECT_TRUE(matched(p, R"({"ip":"010.1.2.3"})"));
  EXPECT_FALSE(matched(p, R"({"ip":"11.0.0.1"})"));
  EXPECT_FALSE(matched(p, R"({"ip":"a00::1"})"));  // docs/event-patterns.md §13: family-strict
  EXPECT_FALSE(matched(p, R"({"ip":10})"));
  EXPECT_FALSE(matched(R"({"ip":[{"cidr":"0.0.0.0/0"}]})", R"({"ip":"::1"})"));
  EXPECT_TRUE(matched(R"({"ip":[{"cidr":"0.0.0.0/0"}]})", R"({"ip":"1.2.3.4"})"));
  EXPECT_FALSE(matched(R"({"ip":[{"cidr":"::/0"}]})", R"({"ip":"10.0.0.1"})"));
  EXPECT_TRUE(matched(R"({"ip":[{"cidr":"2001:db8::/32"}]})", R"({"ip":"2001:DB8:0:0::ff"})"));
  EXPECT_TRUE(matched(R"({"ip":[{"cidr":"10.0.0.1/32"}]})", R"({"ip":"10.0.0.1"})"));
  EXPECT_FALSE(matched(R"({"ip":[{"cidr":"10.0.0.1/32"}]})", R"({"ip":"10.0.0.2"})"));
  EXPECT_TRUE(matched(R"({"ip":[{"cidr":"10.0.0.255/24"}]})", R"({"ip":"10.0.0.7"})"));
  for (const char* bad :
       {"10.0.0.0", "10.0.0.0/x", "10.0.0.0/-1", "10.0.0/8", "300.0.0.0/8", "host/8",
        "::ffff:10.0.0.0/104", " 10.0.0.0/8", "10.0.0.0/33", "::/129"}) {
    invalid(std::string(R"({"ip":[{"cidr":")") + bad + "\"}]}");
  }
}

TEST(PatternTest, Or) {
  const char* p = R"({"a":["x"],"$or":[{"b":["1"]},{"c":["2"]}]})";
  EXPECT_TRUE(matched(p, R"({"a":"x","b":"1"})"));
  EXPECT_TRUE(matched(p, R"({"a":"x","c":"2"})"));
  EXPECT_FALSE(matched(p, R"({"a":"x"})"));
  EXPECT_FALSE(matched(p, R"({"b":"1"})"));
  EXPECT_TRUE(matched(R"({"d":{"$or":[{"b":["1"]},{"c":["2"]}]}})", R"({"d":{"c":"2"}})"));
  EXPECT_TRUE(
      matched(R"({"$or":[{"$or":[{"a":["1"]},{"b":["1"]}]},{"c":["1"]}]})", R"({"b":"1"})"));
  // Order quirk: later writers override.
  EXPECT_TRUE(matched(R"({"a":["x"],"$or":[{"a":["y"]},{"b":["z"]}]})", R"({"a":"y"})"));
  for (const char* bad :
       {R"({"$or":[{"a":["x"]}]})", R"({"$or":{"a":["x"]}})", R"({"$or":["x","y"]})",
        R"({"$or":[{"a":["x"]},"y"]})", R"({"$or":[{"numeric":[">",5]},{"prefix":["a"]}]})",
        R"({"$or":[]})", R"({"$or":[{},{"a":["x"]}]})"}) {
    invalid(bad);
  }
}

// docs/event-patterns.md §9: operator names ("numeric", "prefix", ...) are ordinary field names,
// matched by exact value, except as keys of a $or branch: there EventBridge reads the whole "$or"
// as a field of that name with the branches as its matchers when they are valid matchers, and
// refuses the pattern otherwise; hikyaku does the same, naming the key in the error.
TEST(PatternTest, OperatorNamesAreFieldNamesOutsideOr) {
  const char* numeric = R"({"numeric":[">",5]})";  // the field "numeric" is ">" or 5
  EXPECT_TRUE(matched(numeric, R"({"numeric":">"})"));
  EXPECT_TRUE(matched(numeric, R"({"numeric":5})"));
  EXPECT_TRUE(matched(numeric, R"({"numeric":5.0})"));
  EXPECT_FALSE(matched(numeric, R"({"numeric":6})"));
  EXPECT_FALSE(matched(numeric, R"({"numeric":"5"})"));
  EXPECT_FALSE(matched(numeric, R"({"n":6})"));
  EXPECT_TRUE(matched(R"({"detail":{"prefix":["a"]}})", R"({"detail":{"prefix":"a"}})"));
  EXPECT_FALSE(matched(R"({"detail":{"prefix":["a"]}})", R"({"detail":{"prefix":"ab"}})"));
  EXPECT_FALSE(matched(R"({"detail":{"prefix":["a"]}})", R"({"detail":"a"})"));
  EXPECT_TRUE(matched(R"({"exists":[false],"cidr":["10.0.0.0/8"]})",
                      R"({"exists":false,"cidr":"10.0.0.0/8"})"));
  EXPECT_FALSE(matched(R"({"cidr":["10.0.0.0/8"]})", R"({"cidr":"10.1.2.3"})"));
}

TEST(PatternTest, OperatorNamesAreRefusedAsKeysOfOrBranches) {
  for (const char* name :
       {"numeric", "prefix", "suffix", "exists", "anything-but", "cidr", "equals-ignore-case",
        "wildcard", "exactly", ">", "<=", "regex", "date-after", "ip-address-in-range"}) {
    const std::string key = std::string("\"") + name + "\"";
    const std::string second = R"({"$or":[{"a":["1"]},{)" + key + R"(:["x"]}]})";
    EXPECT_THAT(invalid(second), HasSubstr("$or[1]: " + key + " is a match operator")) << name;
    const std::string first = R"({"$or":[{)" + key + R"(:[">",5]},{"b":["x"]}]})";
    EXPECT_THAT(invalid(first), HasSubstr("$or[0]: " + key)) << name;
    // In a nested $or, and in a $or under a field.
    const std::string nested =
        R"({"$or":[{"a":["1"]},{"$or":[{"b":["2"]},{)" + key + R"(:["x"]}]}]})";
    EXPECT_THAT(invalid(nested), HasSubstr("$or[1].$or[1]: " + key)) << name;
    const std::string under = R"({"d":{"$or":[{)" + key + R"(:["x"]},{"b":["2"]}]}})";
    EXPECT_THAT(invalid(under), HasSubstr("d.$or[0]: " + key)) << name;
  }
  // When every element is a valid matcher, EventBridge reads the "$or" as a field of that name
  // with those matchers (verified against AWS); so does hikyaku. {"prefix": ["a"]} is no valid
  // matcher (prefix takes a string), so that pattern stays refused, with the $or error.
  EXPECT_THAT(invalid(R"({"$or":[{"numeric":[">",5]},{"prefix":["a"]}]})"),
              HasSubstr("is a match operator"));
  const char* field = R"({"$or":[{"numeric":[">",5]},{"prefix":"a"}]})";
  EXPECT_TRUE(matched(field, R"({"$or":7})"));
  EXPECT_TRUE(matched(field, R"({"$or":"abc"})"));
  EXPECT_FALSE(matched(field, R"({"$or":5})"));
  EXPECT_FALSE(matched(field, R"({"$or":"b"})"));
  EXPECT_FALSE(matched(field, R"({"numeric":6,"prefix":"a"})"));
  const char* under = R"({"d":{"$or":[{"exists":true},{"anything-but":"x"}]}})";
  EXPECT_TRUE(matched(under, R"({"d":{"$or":"y"}})"));
  EXPECT_FALSE(matched(under, R"({"d":{"a":"y"}})"));
  EXPECT_THAT(lint_pattern(field), ElementsAre(HasSubstr("read as a field called \"$or\"")));
  // Ordinary names in the same places are fine, and the branches still match as $or.
  const char* ok = R"({"$or":[{"numerics":[">",5]},{"prefixes":["a"]}]})";
  EXPECT_TRUE(matched(ok, R"({"numerics":5})"));
  EXPECT_TRUE(matched(ok, R"({"prefixes":"a"})"));
  EXPECT_FALSE(matched(ok, R"({"numerics":6,"prefixes":"b"})"));
}

TEST(PatternTest, LintNamesOperatorNamesUsedAsFieldNames) {
  EXPECT_THAT(lint_pattern(R"({"detail":{"state":["running"]}})"), IsEmpty());
  EXPECT_THAT(lint_pattern(R"({"a":[{"prefix":"x"}]})"), IsEmpty());  // an operator, as meant
  EXPECT_THAT(lint_pattern("not json"), IsEmpty());  // invalid: validate_pattern says why
  std::vector<std::string> w = lint_pattern(R"({"detail":{"prefix":["a"]},"numeric":[5]})");
  ASSERT_EQ(w.size(), 2u);
  EXPECT_THAT(w[0], HasSubstr(R"(detail.prefix: "prefix" is a match operator, used here as a )"
                              R"(field name)"));
  EXPECT_THAT(w[0], HasSubstr(R"([{"prefix": ...}])"));
  EXPECT_THAT(w[0], Not(HasSubstr("$or")));
  EXPECT_THAT(w[1], HasSubstr(R"(numeric: "numeric" is a match operator)"));
  // Deeper inside a $or branch hikyaku accepts the name as a field; AWS refuses it there.
  w = lint_pattern(R"({"$or":[{"a":["1"]},{"b":{"cidr":["x"]}}]})");
  ASSERT_EQ(w.size(), 1u);
  EXPECT_THAT(w[0], HasSubstr(R"($or[1].b.cidr: "cidr" is a match operator)"));
  EXPECT_THAT(w[0],
              HasSubstr("AWS EventBridge rejects operator names as field names inside a $or"));
}

TEST(PatternTest, StructuralErrorsNameThePath) {
  EXPECT_THAT(invalid(""), HasSubstr("JSON"));
  EXPECT_THAT(invalid("[]"), HasSubstr("object"));
  EXPECT_THAT(invalid("{}"), HasSubstr("empty"));
  EXPECT_THAT(invalid(R"({"a":{}})"), HasSubstr("a: empty"));
  EXPECT_THAT(invalid(R"({"a":"x"})"), HasSubstr("a: must be an object or an array"));
  EXPECT_THAT(invalid(R"({"a":[]})"), HasSubstr("a: empty arrays"));
  EXPECT_THAT(invalid(R"({"a":[["x"]]})"), HasSubstr("a[0]"));
  EXPECT_THAT(invalid(R"({"a":[{}]})"), HasSubstr("a[0]"));
  EXPECT_THAT(invalid(R"({"a":[{"regex":"x"}]})"), HasSubstr("unrecognized match type \"regex\""));
  EXPECT_THAT(invalid(R"({"a":[{"Prefix":"x"}]})"), HasSubstr("Prefix"));
  EXPECT_THAT(invalid(R"({"a":[{"prefix":"x","suffix":"y"}]})"), HasSubstr("exactly one key"));
  EXPECT_THAT(invalid(R"({"a":[{"prefix":5}]})"), HasSubstr("a[0]"));
  EXPECT_THAT(invalid(R"({"a":["x"]} garbage)"), HasSubstr("after the JSON value"));
  EXPECT_THAT(invalid(R"({"a":["x"]}})"), HasSubstr("after the JSON value"));
  EXPECT_THAT(
      invalid(R"({"detail":{"findings":{"Severity":{"Label":["HIGH",{"numeric":["<","5"]}]}}}})"),
      HasSubstr(R"(detail.findings.Severity.Label[1]: "numeric" needs [op, number] pairs)"));
  EXPECT_THAT(invalid(R"({"a":[{"numeric":["<","5"]}]})"), HasSubstr(R"(got ["<", "5"])"));
  EXPECT_THAT(invalid(R"({"x":{"$or":[{"a":["1"]},{"b":[{"cidr":"1"}]}]}})"),
              HasSubstr("x.$or[1].b[0]"));
}

TEST(PatternTest, LimitsStopHostilePatterns) {
  // Nesting depth.
  std::string deep;
  for (int i = 0; i < 100; ++i) {
    deep += "{\"a\":";
  }
  deep += "[1]";
  for (int i = 0; i < 100; ++i) {
    deep += "}";
  }
  EXPECT_THAT(invalid(deep), HasSubstr("deeper"));
  // $or explosion: 11 nested pairs would be 2^11 combinations.
  std::string ors = "{";
  for (int i = 0; i < 11; ++i) {
    ors += std::string(i ? "," : "") + "\"f" + std::to_string(i) +
           R"(":{"$or":[{"a":[1]},{"b":[2]}]})";
  }
  ors += "}";
  EXPECT_THAT(invalid(ors), HasSubstr("combinations"));
  // 257 fields.
  std::string many = "{";
  for (int i = 0; i < 257; ++i) {
    many += std::string(i ? "," : "") + "\"f" + std::to_string(i) + "\":[1]";
  }
  many += "}";
  EXPECT_THAT(invalid(many), HasSubstr("256"));
  // Size.
  std::string big = R"({"a":[")" + std::string(size_t{300} * 1024, 'x') + R"("]})";
  EXPECT_THAT(invalid(big), HasSubstr("bytes"));
  // Bad UTF-8 and lone surrogates never crash.
  invalid("{\"a\":[\"\xff\"]}");
  invalid(R"({"a":["\ud800"]})");
}

TEST(PatternTest, InvalidEventsAreReported) {
  EXPECT_FALSE(matches(R"({"a":["x"]})", "[1]").has_value());
  EXPECT_FALSE(matches(R"({"a":["x"]})", R"({"a":)").has_value());
  EXPECT_FALSE(matches(R"({"a":["x"]})", R"({"a":"x"} x)").has_value());
  Result<bool> r = matches(R"({"a":["x"]})", "nope");
  ASSERT_FALSE(r.has_value());
  EXPECT_THAT(r.error().message(), HasSubstr("event"));
  r = matches(R"({"a":[x]})", "{}");
  ASSERT_FALSE(r.has_value());
  EXPECT_THAT(r.error().message(), HasSubstr("pattern"));
}

TEST(PatternTest, HostileEventsAreBoundedNotCrashes) {
  // Arrays nested far deeper than the limit on a path a rule names: an error, not a stack
  // overflow; within the limit they are transparent.
  std::string deep = R"({"a":)" + std::string(2000, '[') + "1" + std::string(2000, ']') + "}";
  auto m = Matcher::compile({{1, R"({"a":[1]})"}});
  ASSERT_TRUE(m.has_value());
  std::vector<uint32_t> ids;
  Status st = (*m)->match(deep, ids);
  EXPECT_FALSE(st.ok());
  EXPECT_FALSE(matches(R"({"a":[1]})", deep).has_value());
  std::string ok_depth = R"({"a":)" + std::string(500, '[') + "1" + std::string(500, ']') + "}";
  EXPECT_TRUE(matched(R"({"a":[1]})", ok_depth));
  // Deep nesting where no rule looks is skipped by simdjson.
  EXPECT_TRUE(matched(R"({"a":[1]})",
                      R"({"a":1,"b":)" + std::string(900, '[') + std::string(900, ']') + "}"));
  std::vector<uint32_t> skipped_ids;
  Status skipped = (*m)->match(
      R"({"a":1,"b":)" + std::string(3000, '[') + std::string(3000, ']') + "}", skipped_ids);
  EXPECT_TRUE(!skipped.ok() || skipped_ids.size() == 1);  // either way: no crash
  // A wide array where three fields each match in many elements but never in the same one.
  std::string wide = R"({"g":[)";
  for (int i = 0; i < 600; ++i) {
    wide += std::string(i ? "," : "") + (i % 3 == 0   ? R"({"a":1,"b":1})"
                                         : i % 3 == 1 ? R"({"b":1,"c":1})"
                                                      : R"({"a":1,"c":1})");
  }
  wide += "]}";
  EXPECT_FALSE(matched(R"({"g":{"a":[1],"b":[1],"c":[1]}})", wide));
  EXPECT_TRUE(matched(R"({"g":{"a":[1],"b":[1]}})", wide));
}

TEST(PatternTest, EmptyStringKeysWork) {
  EXPECT_TRUE(matched(R"({"":{"":["x"]}})", R"({"":{"":"x"}})"));
}

TEST(MatcherTest, ReturnsSortedUniqueIdsOfAllMatchingRules) {
  std::vector<RuleSpec> rules = {
      {7, R"({"source":["a"]})"},
      {3, R"({"source":[{"prefix":"a"}]})"},
      {9, R"({"source":["b"]})"},
      {3, R"({"detail":{"n":[{"numeric":[">",1]}]}})"},
      {5, R"({"$or":[{"source":["a"]},{"detail":{"n":[2]}}]})"},
      {6, R"({"missing":[{"exists":false}]})"},
  };
  Result<std::unique_ptr<const Matcher>> m = Matcher::compile(rules);
  ASSERT_TRUE(m.has_value()) << m.status().to_string();
  std::vector<uint32_t> ids;
  ASSERT_TRUE((*m)->match(R"({"source":"a","detail":{"n":2}})", ids).ok());
  EXPECT_THAT(ids, ElementsAre(3, 5, 6, 7));
  ASSERT_TRUE((*m)->match(R"({"source":"b","missing":1})", ids).ok());
  EXPECT_THAT(ids, ElementsAre(9));
  ASSERT_TRUE((*m)->match(R"({"other":1})", ids).ok());
  EXPECT_THAT(ids, ElementsAre(6));
  EXPECT_FALSE((*m)->match("[]", ids).ok());
  EXPECT_THAT(ids, IsEmpty());
  EXPECT_EQ((*m)->rule_count(), 6u);
  EXPECT_GT((*m)->memory_bytes(), 0u);
}

TEST(MatcherTest, CompileNamesTheInvalidRule) {
  std::vector<RuleSpec> rules = {{1, R"({"a":["x"]})"}, {42, R"({"a":[{"prefix":1}]})"}};
  Result<std::unique_ptr<const Matcher>> m = Matcher::compile(rules);
  ASSERT_FALSE(m.has_value());
  EXPECT_THAT(m.error().message(), HasSubstr("rule 42: a[0]"));
}

TEST(MatcherTest, SharedConditionsAcrossManyRules) {
  std::vector<std::string> patterns;
  std::vector<RuleSpec> rules;
  for (uint32_t i = 0; i < 1000; ++i) {
    patterns.push_back(R"({"k":[")" + std::to_string(i % 10) + R"("],"j":[)" + std::to_string(i) +
                       "]}");
  }
  for (uint32_t i = 0; i < 1000; ++i) {
    rules.push_back({i, patterns[i]});
  }
  auto m = Matcher::compile(rules);
  ASSERT_TRUE(m.has_value());
  std::vector<uint32_t> ids;
  ASSERT_TRUE((*m)->match(R"({"k":"3","j":[13, 23, 24]})", ids).ok());
  EXPECT_THAT(ids, ElementsAre(13, 23));
}

TEST(MatcherTest, IsThreadSafe) {
  auto m = Matcher::compile({{1, R"({"a":[{"prefix":"x"}]})"}, {2, R"({"b":[1]})"}});
  ASSERT_TRUE(m.has_value());
  const Matcher& matcher = **m;
  std::vector<std::thread> threads;
  threads.reserve(4);
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&matcher, &wrong, t] {
      std::vector<uint32_t> ids;
      for (int i = 0; i < 2000; ++i) {
        bool even = (i + t) % 2 == 0;
        Status st = matcher.match(even ? R"({"a":"xy","b":1})" : R"({"a":"y"})", ids);
        if (!st.ok() || ids.size() != (even ? 2u : 0u)) {
          ++wrong;
        }
      }
    });
  }
  for (std::thread& th : threads) {
    th.join();
  }
  EXPECT_EQ(wrong.load(), 0);
}

TEST(ExplainTest, NamesTheFailedFieldAndCondition) {
  Result<Explanation> e =
      explain(R"({"detail":{"findings":{"Workflow":{"Status":["NEW"]}}}})",
              R"({"detail":{"findings":[{"Workflow":{"Status":"NOTIFIED"}}]}})");
  ASSERT_TRUE(e.has_value());
  EXPECT_FALSE(e->matched);
  EXPECT_EQ(e->reason, R"(detail.findings.Workflow.Status: "NOTIFIED" is not one of ["NEW"])");

  e = explain(R"({"a":[{"prefix":"x"}]})", R"({"b":1})");
  ASSERT_TRUE(e.has_value());
  EXPECT_THAT(e->reason, HasSubstr("a: the field is missing"));
  EXPECT_THAT(e->reason, HasSubstr(R"([{"prefix": "x"}])"));

  e = explain(R"({"a":[{"exists":false}]})", R"({"a":[1,2]})");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->reason, R"(a: [1, 2] exists, but the pattern needs [{"exists": false}])");

  e = explain(R"({"e":{"f":["Anna"],"l":["Jones"]}})",
              R"({"e":[{"f":"Anna","l":"S"},{"f":"P","l":"Jones"}]})");
  ASSERT_TRUE(e.has_value());
  EXPECT_THAT(e->reason, HasSubstr("different elements of the same array"));

  e = explain(R"({"$or":[{"a":["1"]},{"b":["2"]}]})", R"({"a":"0"})");
  ASSERT_TRUE(e.has_value());
  EXPECT_THAT(e->reason, HasSubstr("$or combination 2: b: the field is missing"));

  e = explain(R"({"a":["1"]})", R"({"a":"1"})");
  ASSERT_TRUE(e.has_value());
  EXPECT_TRUE(e->matched);
  EXPECT_EQ(e->reason, "");
}

}  // namespace
}  // namespace hikyaku::pattern
