#include "core/json_writer.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include <random>
#include <vector>

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

// The escaper scans 16 bytes at a time: every special byte at every offset of a block, in runs
// and alone, must come out as the byte-by-byte definition says.
std::string escaped_byte_by_byte(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte == 0xE2 && i + 2 < text.size() && static_cast<unsigned char>(text[i + 1]) == 0x80 &&
        (static_cast<unsigned char>(text[i + 2]) == 0xA8 ||
         static_cast<unsigned char>(text[i + 2]) == 0xA9)) {
      out += static_cast<unsigned char>(text[i + 2]) == 0xA8 ? "\\u2028" : "\\u2029";
      i += 2;
    } else if (byte == '"' || byte == '\\') {
      out += '\\';
      out += static_cast<char>(byte);
    } else if (byte < 0x20) {
      const char* short_forms = "btnvfr";
      if (byte >= '\b' && byte <= '\r' && byte != '\v') {
        out += '\\';
        out += short_forms[byte - '\b'];
      } else {
        out += fmt::format("\\u{:04x}", byte);
      }
    } else {
      out += static_cast<char>(byte);
    }
  }
  return out;
}

TEST(JsonWriterTest, EscapingMatchesTheByteByByteDefinitionAtEveryOffset) {
  const std::vector<std::string> specials = {"\"",     "\\",       std::string(1, '\0'),
                                             "\x1f",   "\n",       "\t",
                                             "\b",     "\f",       "\r",
                                             "\v",     "\u2028",   "\u2029",
                                             "\u2027", "\xe2\x80", "\xe2",
                                             "é",      "\x7f"};
  std::mt19937 random(7);
  for (size_t length = 0; length < 70; ++length) {
    for (size_t position = 0; position < length; ++position) {
      for (const std::string& special : specials) {
        std::string text(length, 'a');
        text.replace(position, std::min(special.size(), length - position), special);
        std::string out = "prefix";
        append_json_escaped(out, text);
        ASSERT_EQ(out, "prefix" + escaped_byte_by_byte(text)) << length << " " << position;
      }
    }
  }
  for (int round = 0; round < 2000; ++round) {
    std::string text(random() % 200, ' ');
    for (char& c : text) {
      const unsigned pick = random() % 8;
      c = pick == 0   ? static_cast<char>(random() % 0x20)
          : pick == 1 ? '"'
          : pick == 2 ? static_cast<char>(0xE2)
                      : static_cast<char>(0x20 + random() % 0xE0);
    }
    std::string out;
    append_json_escaped(out, text);
    ASSERT_EQ(out, escaped_byte_by_byte(text));
  }
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
