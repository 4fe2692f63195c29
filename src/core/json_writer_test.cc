#include "core/json_writer.h"

#include <gtest/gtest.h>
#include <simdjson.h>

namespace hikyaku {
namespace {

std::string roundtrip(std::string_view text) {
  simdjson::dom::parser parser;
  std::string json = json_quote(text);
  simdjson::dom::element element;
  EXPECT_EQ(parser.parse(json).get(element), simdjson::SUCCESS) << json;
  std::string_view parsed;
  EXPECT_EQ(element.get(parsed), simdjson::SUCCESS);
  return std::string(parsed);
}

TEST(JsonWriterTest, EscapesQuotesBackslashesAndControls) {
  EXPECT_EQ(json_quote("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(json_quote("line1\nline2\ttab\r"), R"("line1\nline2\ttab\r")");
  EXPECT_EQ(json_quote(std::string_view("\x01\x1f", 2)), R"("\u0001\u001f")");
  EXPECT_EQ(json_quote(std::string_view("nul\0x", 5)), R"("nul\u0000x")");
}

TEST(JsonWriterTest, KeepsNonAsciiButEscapesLineSeparators) {
  EXPECT_EQ(json_quote("重大 🚨"), "\"重大 🚨\"");
  EXPECT_EQ(json_quote("a\u2028b\u2029c"), R"("a\u2028b\u2029c")");
  // Other characters starting with 0xE2 (U+2000..U+2FFF), and a cut-off sequence, stay as they
  // are.
  EXPECT_EQ(json_quote("\u2027\u202a\u2192"), "\"\u2027\u202a\u2192\"");
  EXPECT_EQ(json_quote(std::string_view("x\xe2\x80", 3)), std::string("\"x\xe2\x80\""));
}

TEST(JsonWriterTest, EveryByteStringRoundTrips) {
  std::string all;
  for (int c = 1; c < 0x80; ++c) {
    all += static_cast<char>(c);
  }
  all += "ü漢\u2028";
  EXPECT_EQ(roundtrip(all), all);
}

TEST(JsonWriterTest, BuildsNestedDocuments) {
  JsonWriter w;
  w.begin_object();
  w.key("rule");
  w.string("r\"1");
  w.key("n");
  w.number(int64_t{3});
  w.key("list");
  w.begin_array();
  w.boolean(true);
  w.null();
  w.number(0.5);
  w.begin_object();
  w.end_object();
  w.end_array();
  w.key("raw");
  w.raw("[1,2]");
  w.end_object();
  EXPECT_EQ(w.str(), R"({"rule":"r\"1","n":3,"list":[true,null,0.5,{}],"raw":[1,2]})");
}

TEST(JsonWriterTest, NonFiniteNumbersBecomeNull) {
  JsonWriter w;
  w.begin_array();
  w.number(std::numeric_limits<double>::infinity());
  w.number(0.1);
  w.end_array();
  EXPECT_EQ(w.str(), "[null,0.1]");
}

}  // namespace
}  // namespace hikyaku
