// Property test (fixed seed): for random event values full of characters that break naive JSON
// templating (quotes, backslashes, control characters, U+2028, `<`, non-ASCII), a JSON template
// always renders valid JSON (docs/input-transformer.md §3.2), a value-position placeholder gives
// back the value itself, and an in-string placeholder gives back its text.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <random>
#include <string>
#include <vector>

#include "core/json_writer.h"
#include "transform/test_json.h"
#include "transform/transformer.h"

namespace hikyaku::transform {
namespace {

using testing::json_equal;
using testing::to_json;

// A random JSON value as compact text, plus the text an in-string placeholder must produce
// (the string itself for strings, the compact JSON for everything else).
struct RandomValue {
  std::string json;
  std::string in_string_text;
};

class ValueGenerator {
 public:
  explicit ValueGenerator(uint32_t seed) : rng_(seed) {}

  RandomValue value(int depth) {
    switch (pick(depth > 2 ? 5 : 7)) {
      case 0:
      case 1: {
        const std::string s = random_string();
        return {json_quote(s), s};
      }
      case 2: {
        const std::string n = std::to_string(static_cast<int>(pick(2000)) - 1000);
        return {n, n};
      }
      case 3: {
        const char* literal = pick(3) == 0 ? "true" : (pick(2) == 0 ? "false" : "null");
        return {literal, literal};
      }
      case 4:
        return {"1.25e-3", "1.25e-3"};
      case 5: {
        std::string json = "{";
        const size_t n = pick(3);
        for (size_t i = 0; i < n; ++i) {
          json += (i > 0 ? "," : "") + json_quote(random_string()) + ":" + value(depth + 1).json;
        }
        json += "}";
        return {json, json};
      }
      default: {
        std::string json = "[";
        const size_t n = pick(3);
        for (size_t i = 0; i < n; ++i) {
          json += (i > 0 ? "," : "") + value(depth + 1).json;
        }
        json += "]";
        return {json, json};
      }
    }
  }

 private:
  size_t pick(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }

  std::string random_string() {
    static const std::vector<std::string> pieces = {"a",
                                                    "Z",
                                                    " ",
                                                    "\"",
                                                    "\\",
                                                    "\n",
                                                    "\t",
                                                    "\r",
                                                    std::string(1, '\x01'),
                                                    std::string(1, '\x1f'),
                                                    "é",
                                                    "日本",
                                                    "🚨",
                                                    "\xE2\x80\xA8",
                                                    "\xE2\x80\xA9",
                                                    "\xE2\x9A\xA0",
                                                    "<",
                                                    ">",
                                                    "<br />",
                                                    "{",
                                                    "}",
                                                    "[",
                                                    "]",
                                                    ":",
                                                    ",",
                                                    "/",
                                                    "'"};
    std::string s;
    const size_t n = pick(8);
    for (size_t i = 0; i < n; ++i) {
      s += pieces[pick(pieces.size())];
    }
    return s;
  }

  std::mt19937 rng_;
};

TEST(RenderPropertyTest, JsonTemplatesAlwaysRenderValidJsonThatRoundTrips) {
  ValueGenerator generator(20260302);
  constexpr int kEvents = 300;
  constexpr int kVariables = 4;
  std::vector<std::pair<std::string, std::string>> paths;
  std::string text = "{";
  for (int i = 0; i < kVariables; ++i) {
    const std::string name = "v" + std::to_string(i);
    paths.emplace_back(name, "$.detail." + name);
    text += "\"a" + std::to_string(i) + "\": <" + name + ">, ";
    text += "\"b" + std::to_string(i) + "\": \"pre <" + name + "> post\", ";
  }
  text += "\"n\": [<v0>, <v1>]}";
  TargetInput target;
  target.input_transformer = InputTransformerSpec{paths, text};
  Result<Transformer> transformer = Transformer::compile(target);
  ASSERT_TRUE(transformer.has_value()) << transformer.error().to_string();

  for (int e = 0; e < kEvents; ++e) {
    std::vector<RandomValue> values;
    std::string event = R"({"id":"x","detail":{)";
    for (int i = 0; i < kVariables; ++i) {
      values.push_back(generator.value(0));
      event +=
          (i > 0 ? "," : "") + std::string("\"v") + std::to_string(i) + "\":" + values.back().json;
    }
    event += "}}";
    ASSERT_TRUE(testing::is_valid_json(event)) << event;

    Result<std::string> out = transformer->render(event, RenderContext{});
    ASSERT_TRUE(out.has_value()) << out.error().to_string() << "\nevent: " << event;
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    ASSERT_EQ(parser.parse(*out).get(root), simdjson::SUCCESS)
        << "invalid JSON: " << *out << "\nevent: " << event;
    for (int i = 0; i < kVariables; ++i) {
      std::string why;
      const std::string a = to_json(root["a" + std::to_string(i)].value());
      EXPECT_TRUE(json_equal(a, values[static_cast<size_t>(i)].json, &why))
          << why << "\nevent: " << event;
      const std::string_view b = root["b" + std::to_string(i)].get_string().value();
      EXPECT_EQ(b, "pre " + values[static_cast<size_t>(i)].in_string_text + " post")
          << "event: " << event;
    }
  }
}

}  // namespace
}  // namespace hikyaku::transform
