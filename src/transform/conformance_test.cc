// Data-driven transform conformance: every case of tests/conformance/transform/*.json.
//
// A file is {"description": "...", "defaults": {...}, "cases": [...]}; `defaults` may give
// "event", "input_paths_map" and "context" for every case of the file. A case has:
//   "name"                       unique within the file
//   "event" (any JSON, sent compact) | "event_text" (exact text) | "event_file" (under tests/)
//   "input_paths_map" + "input_template" | "input" (JSON text) | "input_path" | none
//   "body_encoding": "JSON" | "FORM"          "context": {rule_name, rule_arn, ingestion_time}
// and one expectation:
//   "output"        exact body text
//   "output_json"   the body parses to this JSON value (same member order)
//   "error"         compile fails with kInvalidArgument and this substring in the message
//   "render_error"  compile succeeds, render fails with this substring
// plus optionally "valid_json": true (the body must parse as JSON).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "transform/test_json.h"
#include "transform/transformer.h"

namespace hikyaku::transform {
namespace {

using testing::is_valid_json;
using testing::json_equal;
using testing::read_file;
using testing::to_json;

constexpr std::string_view kTestsDir = HIKYAKU_TEST_DATA_DIR;

struct ConformanceCase {
  std::string file;
  std::string name;
  std::string case_json;      // the case object, compact
  std::string defaults_json;  // the file's defaults object, compact ("{}" if none)
};

std::vector<ConformanceCase> load_cases() {
  std::vector<ConformanceCase> cases;
  const std::filesystem::path dir = std::string(kTestsDir) + "/conformance/transform";
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".json") {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  simdjson::dom::parser parser;
  for (const auto& path : files) {
    const std::string text = read_file(path.string());
    simdjson::dom::element root;
    if (parser.parse(text).get(root) != simdjson::SUCCESS) {
      ADD_FAILURE() << path << " is not valid JSON";
      continue;
    }
    simdjson::dom::element defaults;
    const std::string defaults_json =
        root["defaults"].get(defaults) == simdjson::SUCCESS ? to_json(defaults) : "{}";
    std::set<std::string> names;
    simdjson::dom::array case_list;
    if (root["cases"].get_array().get(case_list) != simdjson::SUCCESS) {
      ADD_FAILURE() << path << " has no \"cases\" array";
      continue;
    }
    for (simdjson::dom::element c : case_list) {
      const std::string name(c["name"].get_string().value());
      if (!names.insert(name).second) {
        ADD_FAILURE() << path << ": duplicate case name " << name;
      }
      cases.push_back({path.stem().string(), name, to_json(c), defaults_json});
    }
  }
  return cases;
}

// Names the case in failure messages instead of dumping its bytes (gtest's customization point,
// hence the name).
void PrintTo(const ConformanceCase& c,  // NOLINT(readability-identifier-naming)
             std::ostream* os) {
  *os << c.file << "/" << c.name;
}

class TransformConformanceTest : public ::testing::TestWithParam<ConformanceCase> {};

TEST_P(TransformConformanceTest, Case) {
  const ConformanceCase& param = GetParam();
  simdjson::dom::parser case_parser;
  simdjson::dom::parser defaults_parser;
  simdjson::dom::element c = case_parser.parse(param.case_json);
  simdjson::dom::element defaults = defaults_parser.parse(param.defaults_json);
  auto member = [&](const char* key, simdjson::dom::element& out) {
    return c[key].get(out) == simdjson::SUCCESS || defaults[key].get(out) == simdjson::SUCCESS;
  };

  TargetInput target;
  std::string_view text;
  simdjson::dom::element e;
  if (c["input_template"].get_string().get(text) == simdjson::SUCCESS) {
    InputTransformerSpec spec;
    spec.input_template = std::string(text);
    simdjson::dom::object paths;
    if (member("input_paths_map", e) && e.get_object().get(paths) == simdjson::SUCCESS) {
      for (auto field : paths) {
        spec.input_paths_map.emplace_back(std::string(field.key),
                                          std::string(field.value.get_string().value()));
      }
    }
    target.input_transformer = std::move(spec);
  }
  if (c["input"].get_string().get(text) == simdjson::SUCCESS) {
    target.input = std::string(text);
  }
  if (c["input_path"].get_string().get(text) == simdjson::SUCCESS) {
    target.input_path = std::string(text);
  }
  if (c["body_encoding"].get_string().get(text) == simdjson::SUCCESS) {
    Result<BodyEncoding> encoding = parse_body_encoding(text);
    ASSERT_TRUE(encoding.has_value());
    target.body_encoding = *encoding;
  }

  Result<Transformer> transformer = Transformer::compile(target);
  if (c["error"].get_string().get(text) == simdjson::SUCCESS) {
    ASSERT_FALSE(transformer.has_value()) << "expected a configuration error";
    EXPECT_EQ(transformer.error().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(transformer.error().message(), ::testing::HasSubstr(std::string(text)));
    return;
  }
  ASSERT_TRUE(transformer.has_value()) << transformer.error().to_string();

  std::string event;
  if (c["event_text"].get_string().get(text) == simdjson::SUCCESS) {
    event = std::string(text);
  } else if (c["event_file"].get_string().get(text) == simdjson::SUCCESS) {
    event = read_file(std::string(kTestsDir) + "/" + std::string(text));
  } else if (member("event", e)) {
    event = to_json(e);
  } else {
    event = "{}";
  }
  RenderContext context;
  if (member("context", e)) {
    std::string_view value;
    if (e["rule_name"].get_string().get(value) == simdjson::SUCCESS) {
      context.rule_name = value;
    }
    if (e["rule_arn"].get_string().get(value) == simdjson::SUCCESS) {
      context.rule_arn = value;
    }
    if (e["ingestion_time"].get_string().get(value) == simdjson::SUCCESS) {
      context.ingestion_time = value;
    }
  }

  Result<std::string> out = transformer->render(event, context);
  if (c["render_error"].get_string().get(text) == simdjson::SUCCESS) {
    ASSERT_FALSE(out.has_value()) << "expected a render error, got: " << *out;
    EXPECT_EQ(out.error().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(out.error().message(), ::testing::HasSubstr(std::string(text)));
    return;
  }
  ASSERT_TRUE(out.has_value()) << out.error().to_string();

  bool checked = false;
  if (c["output"].get_string().get(text) == simdjson::SUCCESS) {
    EXPECT_EQ(*out, text);
    checked = true;
  }
  if (c["output_json"].get(e) == simdjson::SUCCESS) {
    std::string why;
    EXPECT_TRUE(json_equal(*out, to_json(e), &why)) << why << "\noutput: " << *out;
    checked = true;
  }
  bool valid_json = false;
  if (c["valid_json"].get_bool().get(valid_json) == simdjson::SUCCESS && valid_json) {
    EXPECT_TRUE(is_valid_json(*out)) << *out;
  }
  // A JSON template's output is always valid JSON (docs/input-transformer.md §3.2); check it on
  // every such case.
  if (transformer->is_json_template() && target.body_encoding == BodyEncoding::kJson) {
    EXPECT_TRUE(is_valid_json(*out)) << "JSON template rendered invalid JSON: " << *out;
  }
  EXPECT_TRUE(checked) << "case has no expectation";
}

std::string test_name(const ::testing::TestParamInfo<ConformanceCase>& info) {
  std::string name = info.param.file + "_" + info.param.name;
  for (char& ch : name) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) {
      ch = '_';
    }
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(Transform, TransformConformanceTest, ::testing::ValuesIn(load_cases()),
                         test_name);

TEST(TransformConformanceDataTest, AtLeast150Cases) { EXPECT_GE(load_cases().size(), 150u); }

}  // namespace
}  // namespace hikyaku::transform
