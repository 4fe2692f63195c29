#include "transform/transformer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/arn.h"
#include "core/time.h"
#include "transform/test_json.h"

namespace hikyaku::transform {
namespace {

using ::testing::HasSubstr;
using testing::is_valid_json;
using testing::read_file;

constexpr std::string_view kDataDir = HIKYAKU_TEST_DATA_DIR;

std::string sample(const std::string& name) {
  return read_file(std::string(kDataDir) + "/data/securityhub/" + name);
}

// The scenario's transformer (docs/scenario.md), verbatim, template on one line as the user typed
// it into the console.
TargetInput scenario_target() {
  InputTransformerSpec spec;
  spec.input_paths_map = {
      {"Description", "$.detail.findings[0].Description"},
      {"Id", "$.detail.findings[0].Id"},
      {"Label", "$.detail.findings[0].Severity.Label"},
      {"Recommendation", "$.detail.findings[0].ProductFields.RecommendationUrl"},
      {"Resource", "$.detail.findings[0].Resources[0].Id"},
      {"Summary", "$.detail.findings[0].Title"},
  };
  spec.input_template =
      R"TPL({ "projectId": "123456", "summary": <Summary>, "description": "Description:<br /><Description><br /><br />Severity:<br /><Label><br /><br />Resource:<br /><Resource><br /><br />Links:<br />[Security Hub](https://ap-northeast-1.console.aws.amazon.com/securityhub/home?region=ap-northeast-1#/findings?search=Id%3D%255Coperator%255C%253AEQUALS%255C%253A<Id>)<br />[Recommendation](<Recommendation>)", "issueTypeId": "1234567", "priorityId": "3" })TPL";
  TargetInput target;
  target.input_transformer = std::move(spec);
  return target;
}

constexpr RenderContext kContext{"shub-to-backlog",
                                 "arn:aws:events:ap-northeast-1:123456789012:rule/shub-to-backlog",
                                 "2026-03-02T01:15:45Z"};

Transformer compile_ok(const TargetInput& target) {
  Result<Transformer> t = Transformer::compile(target);
  EXPECT_TRUE(t.has_value()) << t.status().to_string();
  if (!t) {
    std::abort();
  }
  return *t;
}

TargetInput template_target(std::vector<std::pair<std::string, std::string>> paths,
                            std::string text) {
  TargetInput target;
  target.input_transformer = InputTransformerSpec{std::move(paths), std::move(text)};
  return target;
}

std::string render_ok(const Transformer& t, const std::string& event,
                      const RenderContext& context = kContext) {
  Result<std::string> out = t.render(event, context);
  EXPECT_TRUE(out.has_value()) << out.status().to_string();
  return out ? *out : std::string();
}

TEST(ScenarioTest, Sample01RendersTheBacklogBodyByteForByte) {
  const Transformer t = compile_ok(scenario_target());
  EXPECT_TRUE(t.is_json_template());
  const std::string out = render_ok(t, sample("01-fsbp-ec2-19-critical-failed.json"));
  // Strings stand unquoted (summary) or inside the description; the finding has no
  // ProductFields.RecommendationUrl, so the Recommendation link is empty (missing -> "").
  const std::string expected =
      R"TPL({ "projectId": "123456", "summary": "Security groups should not allow unrestricted access to ports with high risk", "description": "Description:<br />Checks whether any inbound rule of an Amazon EC2 security group opens a high-risk port (such as 20, 21, 22, 23, 25, 110, 135, 143, 445, 1433, 1434, 3000, 3306, 3389, 4333, 5000, 5432, 5500, 5601, 8080, 8088, 8888, 9200 or 9300) to 0.0.0.0/0 or ::/0. The check fails when such a rule exists.<br /><br />Severity:<br />CRITICAL<br /><br />Resource:<br />arn:aws:ec2:ap-northeast-1:123456789012:security-group/sg-0a1b2c3d4e5f60718<br /><br />Links:<br />[Security Hub](https://ap-northeast-1.console.aws.amazon.com/securityhub/home?region=ap-northeast-1#/findings?search=Id%3D%255Coperator%255C%253AEQUALS%255C%253Aarn:aws:securityhub:ap-northeast-1:123456789012:security-control/EC2.19/finding/0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9)<br />[Recommendation]()", "issueTypeId": "1234567", "priorityId": "3" })TPL";
  EXPECT_EQ(out, expected);
  EXPECT_TRUE(is_valid_json(out));
}

TEST(ScenarioTest, Sample13WithQuotesNewlinesJapaneseAndEmojiGivesValidJsonWithTextIntact) {
  const std::string event = sample("13-custom-unicode-japanese-quotes-newlines.json");
  const Transformer t = compile_ok(scenario_target());
  const std::string out = render_ok(t, event);
  ASSERT_TRUE(is_valid_json(out)) << out;

  // The description inserted inside the JSON string must decode back to the event's text.
  simdjson::dom::parser event_parser;
  simdjson::dom::element e = event_parser.parse(event);
  const std::string_view description =
      e["detail"]["findings"].at(0)["Description"].get_string().value();
  const std::string_view title = e["detail"]["findings"].at(0)["Title"].get_string().value();
  simdjson::dom::parser out_parser;
  simdjson::dom::element o = out_parser.parse(out);
  EXPECT_EQ(o["summary"].get_string().value(), title);
  const std::string_view body = o["description"].get_string().value();
  EXPECT_NE(body.find(description), std::string_view::npos);
  EXPECT_THAT(std::string(body), HasSubstr("🚨🔒"));
  EXPECT_THAT(std::string(body), HasSubstr("\"prod-db-2026-03-01\""));
  EXPECT_THAT(std::string(body), HasSubstr("C:\\audit\\rules"));
  EXPECT_EQ(o["projectId"].get_string().value(), "123456");
}

TEST(ScenarioTest, FormEncodingOfTheScenarioBodyForBacklog) {
  TargetInput target = scenario_target();
  target.body_encoding = BodyEncoding::kForm;
  const Transformer t = compile_ok(target);
  EXPECT_EQ(content_type(t.body_encoding()), "application/x-www-form-urlencoded");
  const std::string out = render_ok(t, sample("01-fsbp-ec2-19-critical-failed.json"));
  EXPECT_EQ(out.rfind("projectId=123456&summary=Security+groups+should+not+allow+", 0), 0u) << out;
  EXPECT_THAT(out, HasSubstr("&description=Description%3A%3Cbr+%2F%3EChecks+whether"));
  EXPECT_THAT(out, HasSubstr("%5BRecommendation%5D%28%29&issueTypeId=1234567&priorityId=3"));
}

TEST(TransformerTest, WholeEventIsPassedThroughUnchanged) {
  const Transformer t = compile_ok(TargetInput{});
  EXPECT_EQ(t.kind(), Transformer::Kind::kWholeEvent);
  const std::string event = R"({"version": "0", "detail": {"a": [1, 2]}})";
  EXPECT_EQ(render_ok(t, event), event);
}

TEST(TransformerTest, InputIsSentVerbatim) {
  TargetInput target;
  target.input = R"({"fixed": [1, "two"]})";
  const Transformer t = compile_ok(target);
  EXPECT_EQ(render_ok(t, R"({"x":1})"), *target.input);
}

TEST(TransformerTest, OnlyOneOfInputInputPathInputTransformer) {
  TargetInput target = template_target({}, "\"x\"");
  target.input_path = "$.detail";
  Result<Transformer> t = Transformer::compile(target);
  ASSERT_FALSE(t.has_value());
  EXPECT_EQ(t.error().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(t.error().message(),
              HasSubstr("Only one of Input, InputPath, or InputTransformer must be provided"));
}

TEST(TransformerTest, ErrorsNameTheOffendingKeyOrPlaceholder) {
  struct Case {
    TargetInput target;
    std::string message;
  };
  TargetInput too_long = template_target({}, std::string(8193, 'x'));
  TargetInput bad_input;
  bad_input.input = "{not json";
  TargetInput bad_input_path;
  bad_input_path.input_path = "$.detail['a']";
  const std::vector<Case> cases = {
      {template_target({{"Summary", "$.x"}}, R"({"a": <Sumary>})"),
       "InputTransformer.InputTemplate: invalid placeholder <Sumary>: it is neither an "
       "InputPathsMap key nor a predefined variable; did you mean <Summary>?"},
      {template_target({{"fid", "$.detail..Id"}}, R"({"a": <fid>})"),
       "InputTransformer.InputPathsMap.fid: path \"$.detail..Id\": recursive descent"},
      {template_target({{"finding.id", "$.id"}}, R"("x")"),
       "InputTransformer.InputPathsMap: key \"finding.id\" must match [A-Za-z0-9_-]+"},
      {too_long, "InputTransformer.InputTemplate: 8193 characters long; the limit is 8192"},
      {bad_input, "Input: not valid JSON"},
      {bad_input_path, "InputPath: path \"$.detail['a']\": bracket notation"},
  };
  for (const Case& c : cases) {
    Result<Transformer> t = Transformer::compile(c.target);
    ASSERT_FALSE(t.has_value()) << c.message;
    EXPECT_EQ(t.error().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(t.error().message(), HasSubstr(c.message));
  }
}

TEST(TransformerTest, TemplateLimitCountsUtf16UnitsLikeAws) {
  // 8192 characters of 3-byte Japanese text are 24576 bytes but within the limit.
  std::string text = "\"";
  for (int i = 0; i < 8190; ++i) {
    text += "あ";
  }
  text += "\"";
  EXPECT_TRUE(Transformer::compile(template_target({}, text)).has_value());
  text.insert(1, "あ");
  EXPECT_FALSE(Transformer::compile(template_target({}, text)).has_value());
  // An emoji is two UTF-16 units.
  std::string emoji(8190, 'x');
  emoji += "🚨";
  EXPECT_TRUE(Transformer::compile(template_target({}, emoji)).has_value());
  emoji += "y";
  EXPECT_FALSE(Transformer::compile(template_target({}, emoji)).has_value());
}

TEST(TransformerTest, AHundredPathsAreAllowedNotMore) {
  std::vector<std::pair<std::string, std::string>> paths;
  std::string text = "{";
  for (int i = 0; i < 100; ++i) {
    paths.emplace_back("k" + std::to_string(i), "$.v" + std::to_string(i));
    text += (i > 0 ? ", " : "") + std::string("\"k") + std::to_string(i) + "\": <k" +
            std::to_string(i) + ">";
  }
  text += "}";
  const Transformer t = compile_ok(template_target(paths, text));
  const std::string out = render_ok(t, R"({"v0": 0, "v99": "last"})");
  EXPECT_TRUE(is_valid_json(out));
  EXPECT_THAT(out, HasSubstr(R"("k0": 0, "k1": "")"));
  EXPECT_THAT(out, HasSubstr(R"("k99": "last"})"));
  paths.emplace_back("k100", "$.v100");
  Result<Transformer> too_many = Transformer::compile(template_target(paths, text));
  ASSERT_FALSE(too_many.has_value());
  EXPECT_THAT(too_many.error().message(), HasSubstr("101 entries; the limit is 100"));
}

TEST(TransformerTest, InvalidEventJsonIsAnErrorNotAnInvalidBody) {
  const Transformer t = compile_ok(template_target({{"a", "$.a"}}, R"({"x": <a>})"));
  for (const std::string event : {R"({"a": "unterminated)", R"({"a": tru})", R"({"a": 01})",
                                  R"({"a": "bad \q escape"})", R"({"a": {"b": 1)",
                                  // Unescaped control characters and invalid UTF-8 anywhere in
                                  // the event are caught (the raw-string fast path relies on it).
                                  "{\"b\": \"x\ty\", \"a\": \"ok\"}", "{\"a\": \"\xff\"}"}) {
    Result<std::string> out = t.render(event, kContext);
    EXPECT_FALSE(out.has_value()) << event << " -> " << (out ? *out : "");
    if (!out) {
      EXPECT_EQ(out.error().code(), StatusCode::kInvalidArgument);
    }
  }
}

TEST(TransformerTest, DeepEventsAreRejectedWithoutUnboundedRecursion) {
  // depth_test.cc covers the limit in every mode; this is the plain case.
  const Transformer t = compile_ok(template_target({{"all", "$"}}, R"({"x": <all>})"));
  std::string deep(1000, '[');  // 1,001 levels with the object around it
  deep.append(1000, ']');
  const std::string event = R"({"a": )" + deep + "}";
  Result<std::string> out = t.render(event, kContext);
  ASSERT_FALSE(out.has_value());
  EXPECT_THAT(out.error().message(), HasSubstr("deeper than 1000"));
  // Within the bound it renders (999 arrays in the envelope: 1,000 levels).
  std::string at_limit(999, '[');
  at_limit.append(999, ']');
  EXPECT_TRUE(t.render(R"({"a": )" + at_limit + "}", kContext).has_value());
}

TEST(TransformerTest, RenderDoesNotDependOnPreviousEventsOnTheSameThread) {
  const Transformer t =
      compile_ok(template_target({{"a", "$.a"}, {"b", "$.b.c"}}, R"({"a": <a>, "b": "<b>"})"));
  EXPECT_EQ(render_ok(t, R"({"a": "first", "b": {"c": [1,2]}})"),
            R"({"a": "first", "b": "[1,2]"})");
  EXPECT_EQ(render_ok(t, R"({"z": 0})"), R"({"a": "", "b": ""})");
  EXPECT_EQ(render_ok(t, R"({"a": 5, "b": {"c": "x\"y"}})"), R"({"a": 5, "b": "x\"y"})");
}

TEST(TransformerTest, ConcurrentRendersFromOneTransformerAgree) {
  const Transformer t = compile_ok(scenario_target());
  const std::string e01 = sample("01-fsbp-ec2-19-critical-failed.json");
  const std::string e13 = sample("13-custom-unicode-japanese-quotes-newlines.json");
  const std::string want01 = render_ok(t, e01);
  const std::string want13 = render_ok(t, e13);
  std::atomic<int> mismatches{0};
  constexpr int kThreads = 4;
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      std::string out;
      for (int n = 0; n < 200; ++n) {
        const bool odd = (n + i) % 2 == 1;
        if (!t.render_to(odd ? e13 : e01, kContext, out).ok() || out != (odd ? want13 : want01)) {
          ++mismatches;
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(TransformerTest, CopiesShareTheCompiledStateAndOutliveTheSpec) {
  Transformer copy = compile_ok(TargetInput{});
  {
    TargetInput target = template_target({{"v", "$.v"}}, R"("value=<v>")");
    copy = compile_ok(target);
  }
  EXPECT_EQ(render_ok(copy, R"({"v": [1,"a"]})"), R"("value=[1,a]")");
}

// The pipeline fills the predefined variables with core/time.h's and core/arn.h's functions;
// this is what a target receives from them.
TEST(HelpersTest, IngestionTimeAndRuleArn) {
  const Transformer t = compile_ok(
      template_target({}, R"("<aws.events.event.ingestion-time> <aws.events.rule-arn>")"));
  auto rendered = [&](std::string_view bus) {
    const std::string time = format_rfc3339_seconds(
        std::chrono::system_clock::time_point(std::chrono::seconds(1772414145)));
    const std::string arn =
        hikyaku::rule_arn("us-east-1", "111111111111", bus, bus == "test-bus" ? "test-rule" : "r");
    return render_ok(t, "{}", RenderContext{"r", arn, time});
  };
  EXPECT_EQ(rendered(""), R"("2026-03-02T01:15:45Z arn:aws:events:us-east-1:111111111111:rule/r")");
  EXPECT_EQ(rendered("default"),
            R"("2026-03-02T01:15:45Z arn:aws:events:us-east-1:111111111111:rule/r")");
  EXPECT_EQ(
      rendered("test-bus"),
      R"("2026-03-02T01:15:45Z arn:aws:events:us-east-1:111111111111:rule/test-bus/test-rule")");
  EXPECT_EQ(*parse_body_encoding("FORM"), BodyEncoding::kForm);
  EXPECT_EQ(*parse_body_encoding("JSON"), BodyEncoding::kJson);
  EXPECT_FALSE(parse_body_encoding("form").has_value());
}

}  // namespace
}  // namespace hikyaku::transform
