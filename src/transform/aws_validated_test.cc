// Every case of tests/data/aws-validated/input-transformer.jsonl (outputs recorded from real
// EventBridge) through the transformer:
// - aws_output: the exact body text;
// - aws_output_json: the same JSON value (the recording kept only the parsed value);
// - delivered: false (AWS produced invalid JSON and dropped the event): valid JSON whose value
//   carries the escaped text (docs/input-transformer.md §3.2);
// - api PutTargets errors: a compile error saying the same thing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include <sstream>
#include <string>
#include <vector>

#include "transform/test_json.h"
#include "transform/transformer.h"

namespace hikyaku::transform {
namespace {

using testing::is_valid_json;
using testing::json_equal;
using testing::read_file;
using testing::to_json;

struct AwsCase {
  std::string id;
  std::string line;
};

std::vector<AwsCase> load_cases() {
  const std::string text =
      read_file(std::string(HIKYAKU_TEST_DATA_DIR) + "/data/aws-validated/input-transformer.jsonl");
  std::vector<AwsCase> cases;
  std::istringstream lines(text);
  std::string line;
  simdjson::dom::parser parser;
  while (std::getline(lines, line)) {
    if (line.empty()) {
      continue;
    }
    simdjson::dom::element root = parser.parse(line);
    cases.push_back({std::string(root["id"].get_string().value()), line});
  }
  return cases;
}

// Names the case in failure messages (gtest's customization point, hence the name).
void PrintTo(const AwsCase& c, std::ostream* os) {  // NOLINT(readability-identifier-naming)
  *os << c.id;
}

class AwsValidatedTest : public ::testing::TestWithParam<AwsCase> {};

TEST_P(AwsValidatedTest, MatchesAws) {
  simdjson::dom::parser parser;
  simdjson::dom::element c = parser.parse(GetParam().line);

  TargetInput target;
  std::string_view text;
  if (c["input_path"].get_string().get(text) == simdjson::SUCCESS) {
    target.input_path = std::string(text);
  }
  if (c["input_template"].get_string().get(text) == simdjson::SUCCESS) {
    InputTransformerSpec spec;
    spec.input_template = std::string(text);
    simdjson::dom::object paths;
    if (c["input_paths_map"].get_object().get(paths) == simdjson::SUCCESS) {
      for (auto field : paths) {
        spec.input_paths_map.emplace_back(std::string(field.key),
                                          std::string(field.value.get_string().value()));
      }
    }
    target.input_transformer = std::move(spec);
  }
  Result<Transformer> transformer = Transformer::compile(target);

  if (c["api"].get_string().get(text) == simdjson::SUCCESS && text == "PutTargets") {
    ASSERT_FALSE(transformer.has_value()) << "AWS rejected this configuration";
    EXPECT_EQ(transformer.error().code(), StatusCode::kInvalidArgument);
    const std::string aws_error(c["aws_error"].get_string().value());
    if (aws_error.find("invalid placeholder") != std::string::npos) {
      // "InputTemplate for target <id> contains invalid placeholder notdefinedkey."
      const size_t start = aws_error.rfind(' ') + 1;
      const std::string name = aws_error.substr(start, aws_error.size() - start - 1);
      EXPECT_THAT(transformer.error().message(),
                  ::testing::HasSubstr("invalid placeholder <" + name + ">"));
      EXPECT_THAT(transformer.error().message(), ::testing::HasSubstr("InputTemplate"));
    } else {
      EXPECT_THAT(aws_error, ::testing::HasSubstr(transformer.error().message()));
    }
    return;
  }
  ASSERT_TRUE(transformer.has_value()) << transformer.error().to_string();

  const std::string event = to_json(c["event"]);
  RenderContext context;
  simdjson::dom::element ctx;
  if (c["context"].get(ctx) == simdjson::SUCCESS) {
    context.rule_arn = ctx["rule_arn"].get_string().value();
    context.rule_name = ctx["rule_name"].get_string().value();
    context.ingestion_time = ctx["ingestion_time"].get_string().value();
  }
  Result<std::string> out = transformer->render(event, context);
  ASSERT_TRUE(out.has_value()) << out.error().to_string();

  if (c["aws_output"].get_string().get(text) == simdjson::SUCCESS) {
    EXPECT_EQ(*out, text);
  } else if (simdjson::dom::element expected;
             c["aws_output_json"].get(expected) == simdjson::SUCCESS) {
    std::string why;
    EXPECT_TRUE(json_equal(*out, to_json(expected), &why)) << why << "\noutput: " << *out;
    // Where the template is the same text, JSON templates keep the author's bytes.
    if (transformer->is_json_template()) {
      EXPECT_EQ(out->front(), target.input_transformer->input_template.front());
    }
  } else {
    bool delivered = true;
    ASSERT_EQ(c["delivered"].get_bool().get(delivered), simdjson::SUCCESS);
    ASSERT_FALSE(delivered);
    // AWS dropped these; hikyaku delivers valid JSON with the object/array escaped as text.
    EXPECT_TRUE(is_valid_json(*out)) << *out;
    EXPECT_THAT(*out, ::testing::AnyOf(::testing::HasSubstr(R"(\"acc_id\":\"0a787ecb-4015\")"),
                                       ::testing::HasSubstr(R"([\"HIGH\"])")))
        << *out;
  }
}

INSTANTIATE_TEST_SUITE_P(InputTransformer, AwsValidatedTest, ::testing::ValuesIn(load_cases()),
                         [](const ::testing::TestParamInfo<AwsCase>& param_info) {
                           std::string name;
                           for (char ch : param_info.param.id) {
                             name += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
                           }
                           return name + "_" + std::to_string(param_info.index);
                         });

TEST(AwsValidatedDataTest, AllThirtyFiveCasesAreLoaded) { EXPECT_EQ(load_cases().size(), 35u); }

}  // namespace
}  // namespace hikyaku::transform
