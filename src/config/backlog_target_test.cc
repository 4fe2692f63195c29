// Targets[].Backlog: its keys, defaults and every refusal, each naming rule, target and key.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "config/config.h"

namespace hikyaku::config {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr const char* kApiKey = "bk-api-key-0123456789";

LoadOptions environment(std::map<std::string, std::string> variables) {
  LoadOptions options;
  options.environment =
      [variables = std::move(variables)](const std::string& name) -> std::optional<std::string> {
    auto found = variables.find(name);
    if (found == variables.end()) {
      return std::nullopt;
    }
    return found->second;
  };
  return options;
}

// A rule whose one target is `target`, written as the lines below `Targets:` (8-space indent).
std::string config_with(std::string_view target) {
  return std::string(R"(Rules:
  - Name: findings
    EventPattern: { source: [aws.securityhub] }
    Targets:
)") + std::string(target);
}

constexpr std::string_view kMinimal = R"(      - Id: backlog
        Backlog:
          Endpoint: https://example.backlog.com
          ApiKey: ${BACKLOG_API_KEY}
          Project: SEC
)";

LoadResult load(std::string_view target,
                std::map<std::string, std::string> variables = {{"BACKLOG_API_KEY", kApiKey}}) {
  return load_config_text(config_with(target), "b.yaml", environment(std::move(variables)));
}

std::string errors_of(const LoadResult& result) {
  std::string all;
  for (const ConfigError& error : result.errors) {
    all += error.to_string() + "\n";
  }
  return all;
}

// The one error loading `target` gives.
std::string single_error(std::string_view target, std::map<std::string, std::string> variables = {
                                                      {"BACKLOG_API_KEY", kApiKey}}) {
  const LoadResult result = load(target, std::move(variables));
  EXPECT_EQ(result.errors.size(), 1u) << errors_of(result);
  return result.errors.empty() ? "" : result.errors[0].to_string();
}

std::string replace(std::string_view text, std::string_view from, std::string_view to) {
  std::string out(text);
  const size_t position = out.find(from);
  EXPECT_NE(position, std::string::npos) << "test bug: \"" << from << "\" not in config";
  if (position != std::string::npos) {
    out.replace(position, from.size(), to);
  }
  return out;
}

// kMinimal with `lines` added to the Backlog mapping (10-space indent).
std::string with_backlog_keys(std::string_view lines) {
  return std::string(kMinimal) + std::string(lines);
}

TEST(BacklogTargetTest, MinimalTargetTakesTheDefaults) {
  const LoadResult result = load(kMinimal);
  ASSERT_TRUE(result.ok()) << errors_of(result);
  EXPECT_THAT(result.warnings, IsEmpty());
  const Target& target = result.config->rules[0].targets[0];
  ASSERT_TRUE(target.backlog.has_value());
  EXPECT_TRUE(target.api_destination.empty());
  EXPECT_FALSE(target.log.has_value());
  const BacklogTarget& backlog = *target.backlog;
  EXPECT_EQ(backlog.endpoint, "https://example.backlog.com");
  EXPECT_EQ(backlog.api_key, kApiKey);
  EXPECT_EQ(backlog.project, "SEC");
  EXPECT_EQ(backlog.issue_type, "Task");
  const std::map<std::string, std::string> priorities = {{"CRITICAL", "High"},
                                                         {"HIGH", "High"},
                                                         {"MEDIUM", "Normal"},
                                                         {"LOW", "Low"},
                                                         {"INFORMATIONAL", "Low"}};
  EXPECT_EQ(backlog.priority, priorities);
  EXPECT_EQ(backlog.create_when, kDefaultBacklogCreateWhen);
  EXPECT_EQ(backlog.resolved_status, "Closed");
  EXPECT_EQ(backlog.reopen_status, "Open");
  EXPECT_EQ(backlog.on_update, BacklogTarget::OnUpdate::kComment);
  EXPECT_FALSE(backlog.dry_run);
  EXPECT_EQ(backlog.location.line, 7);
}

TEST(BacklogTargetTest, EveryKeyIsRead) {
  const LoadResult result = load(R"(      - Id: backlog
        Backlog:
          Endpoint: http://127.0.0.1:8080/backlog
          ApiKey: ${BACKLOG_API_KEY}
          Project: "12345"
          IssueType: 67
          Priority: { CRITICAL: 2, HIGH: High, MEDIUM: Normal, LOW: Low, INFORMATIONAL: "4" }
          CreateWhen: '{"detail": {"findings": {"Severity": {"Label": ["CRITICAL"]}}}}'
          ResolvedStatus: Resolved
          ReopenStatus: "1"
          OnUpdate: IGNORE
          DryRun: false
        InputTransformer:
          InputPathsMap: { title: "$.detail.findings[0].Title" }
          InputTemplate: ' {"summary": <title>}'
        RetryPolicy: { MaximumRetryAttempts: 3 }
        DeadLetterConfig: { Arn: "arn:aws:sqs:us-east-1:123456789012:dlq" }
)");
  ASSERT_TRUE(result.ok()) << errors_of(result);
  const Target& target = result.config->rules[0].targets[0];
  const BacklogTarget& backlog = *target.backlog;
  EXPECT_EQ(backlog.endpoint, "http://127.0.0.1:8080/backlog");
  EXPECT_EQ(backlog.project, "12345");
  EXPECT_EQ(backlog.issue_type, "67");
  EXPECT_EQ(backlog.priority.at("CRITICAL"), "2");
  EXPECT_EQ(backlog.priority.at("INFORMATIONAL"), "4");
  EXPECT_EQ(backlog.create_when,
            R"({"detail": {"findings": {"Severity": {"Label": ["CRITICAL"]}}}})");
  EXPECT_EQ(backlog.resolved_status, "Resolved");
  EXPECT_EQ(backlog.reopen_status, "1");
  EXPECT_EQ(backlog.on_update, BacklogTarget::OnUpdate::kIgnore);
  EXPECT_FALSE(backlog.dry_run);
  ASSERT_TRUE(target.input_transformer.has_value());
  EXPECT_EQ(target.input_transformer->input_template, R"( {"summary": <title>})");
  EXPECT_EQ(target.retry_policy.maximum_retry_attempts, 3);
  ASSERT_TRUE(target.dead_letter_config.has_value());
}

TEST(BacklogTargetTest, OnePriorityFillsEveryLabelAndAMappingKeepsDefaultsForTheRest) {
  LoadResult one = load(with_backlog_keys("          Priority: Normal\n"));
  ASSERT_TRUE(one.ok()) << errors_of(one);
  ASSERT_EQ(one.config->rules[0].targets[0].backlog->priority.size(), 5u);
  for (const auto& [label, priority] : one.config->rules[0].targets[0].backlog->priority) {
    EXPECT_EQ(priority, "Normal") << label;
  }
  LoadResult some = load(with_backlog_keys("          Priority: { LOW: Normal }\n"));
  ASSERT_TRUE(some.ok()) << errors_of(some);
  EXPECT_EQ(some.config->rules[0].targets[0].backlog->priority.at("LOW"), "Normal");
  EXPECT_EQ(some.config->rules[0].targets[0].backlog->priority.at("CRITICAL"), "High");
}

TEST(BacklogTargetTest, PriorityLabelsAreTheFiveUpperCaseOnesWithValues) {
  EXPECT_THAT(single_error(with_backlog_keys("          Priority: { Critical: High }\n")),
              HasSubstr("b.yaml:10:23: Rules[0].Targets[0].Backlog.Priority.Critical: unknown key "
                        "(did you mean \"CRITICAL\"?)"));
  EXPECT_THAT(single_error(with_backlog_keys("          Priority: { HIGH: \"\" }\n")),
              HasSubstr("Rules[0].Targets[0].Backlog.Priority.HIGH: rule \"findings\" target "
                        "\"backlog\": must not be empty"));
  EXPECT_THAT(single_error(with_backlog_keys("          Priority: [High]\n")),
              HasSubstr("Backlog.Priority: rule \"findings\" target \"backlog\": must be a "
                        "priority name or id, or a mapping of severity labels"));
}

TEST(BacklogTargetTest, CreateWhenIsAMappingOrJsonTextCheckedAsAnEventPattern) {
  LoadResult mapping = load(with_backlog_keys(R"(          CreateWhen:
            detail:
              findings:
                Severity: { Label: [CRITICAL] }
)"));
  ASSERT_TRUE(mapping.ok()) << errors_of(mapping);
  EXPECT_EQ(mapping.config->rules[0].targets[0].backlog->create_when,
            R"({"detail":{"findings":{"Severity":{"Label":["CRITICAL"]}}}})");

  EXPECT_EQ(single_error(with_backlog_keys(
                "          CreateWhen: { detail: { findings: { Severity: { Label: "
                "[{ numeric: [\"<\", \"5\"] }] } } } }\n")),
            "b.yaml:10:23: Rules[0].Targets[0].Backlog.CreateWhen: rule \"findings\" target "
            "\"backlog\": invalid pattern: detail.findings.Severity.Label[0]: \"numeric\" "
            "needs [op, number] pairs, got [\"<\", \"5\"] (op is one of = < <= > >=; a range "
            "is [\">\" or \">=\", low, \"<\" or \"<=\", high])");
  EXPECT_THAT(single_error(with_backlog_keys("          CreateWhen: '{\"detail\": '\n")),
              HasSubstr("Rules[0].Targets[0].Backlog.CreateWhen: is not valid JSON"));
}

TEST(BacklogTargetTest, CreateWhenGetsThePatternWarningsOfEventPattern) {
  const LoadResult result = load(with_backlog_keys(
      "          CreateWhen: { detail: { findings: { Compliance: { Status: [{ anything-but: "
      "PASSED }] } } } }\n"));
  ASSERT_TRUE(result.ok()) << errors_of(result);
  ASSERT_EQ(result.warnings.size(), 1u);
  EXPECT_EQ(result.warnings[0].key_path, "Rules[0].Targets[0].Backlog.CreateWhen");
  EXPECT_THAT(result.warnings[0].message, HasSubstr("anything-but never matches a missing field"));
}

TEST(BacklogTargetTest, DryRunTakesBooleansInAnyCaseAndWaivesEndpointAndApiKey) {
  const std::string dry = R"(      - Id: backlog
        Backlog:
          Project: SEC
          DryRun: ${DRY}
)";
  for (const char* value : {"true", "TRUE", "True", "tRuE"}) {
    const LoadResult result = load(dry, {{"DRY", value}});
    ASSERT_TRUE(result.ok()) << value << "\n" << errors_of(result);
    const BacklogTarget& backlog = *result.config->rules[0].targets[0].backlog;
    EXPECT_TRUE(backlog.dry_run);
    EXPECT_EQ(backlog.endpoint, "");
    EXPECT_EQ(backlog.api_key, "");
  }
  const LoadResult yaml_bool = load(replace(dry, "${DRY}", "true"));
  ASSERT_TRUE(yaml_bool.ok()) << errors_of(yaml_bool);
  EXPECT_TRUE(yaml_bool.config->rules[0].targets[0].backlog->dry_run);

  const LoadResult with_endpoint = load(
      replace(dry, "Project: SEC", "Project: SEC\n          Endpoint: \"\""), {{"DRY", "true"}});
  ASSERT_TRUE(with_endpoint.ok()) << errors_of(with_endpoint);

  EXPECT_EQ(single_error(dry, {{"DRY", "yes"}}),
            "b.yaml:8:19: Rules[0].Targets[0].Backlog.DryRun: rule \"findings\" target "
            "\"backlog\": must be true or false, got \"${DRY}\"");
  EXPECT_THAT(single_error(replace(dry, "${DRY}", "1")),
              HasSubstr("Backlog.DryRun: rule \"findings\" target \"backlog\": must be true or "
                        "false, got \"1\""));
  // false keeps both required.
  const LoadResult not_dry = load(dry, {{"DRY", "False"}});
  ASSERT_EQ(not_dry.errors.size(), 2u) << errors_of(not_dry);
  EXPECT_THAT(not_dry.errors[0].to_string(),
              HasSubstr("Rules[0].Targets[0].Backlog.Endpoint: rule \"findings\" target "
                        "\"backlog\": is required"));
  EXPECT_THAT(not_dry.errors[1].to_string(),
              HasSubstr("Rules[0].Targets[0].Backlog.ApiKey: rule \"findings\" target "
                        "\"backlog\": is required"));
}

TEST(BacklogTargetTest, EndpointIsAnHttpBaseUrlWithoutCredentials) {
  EXPECT_EQ(single_error(replace(kMinimal, "https://example.backlog.com", "ftp://example.com")),
            "b.yaml:7:21: Rules[0].Targets[0].Backlog.Endpoint: rule \"findings\" target "
            "\"backlog\": must be an http:// or https:// URL, got \"ftp://example.com\"");
  EXPECT_THAT(single_error(replace(kMinimal, "https://example.backlog.com", "https://")),
              HasSubstr("must be an http:// or https:// URL"));
  const std::string userinfo = single_error(
      replace(kMinimal, "https://example.backlog.com", "https://me:pw-secret@example.com"));
  EXPECT_THAT(userinfo, HasSubstr("Backlog.Endpoint: rule \"findings\" target \"backlog\": must "
                                  "not carry credentials before its host"));
  EXPECT_THAT(userinfo, Not(HasSubstr("pw-secret")));
  const std::string query = single_error(
      replace(kMinimal, "https://example.backlog.com", "https://example.com?apiKey=q-secret"));
  EXPECT_THAT(query, HasSubstr("is a base URL and must have no query or fragment"));
  EXPECT_THAT(query, Not(HasSubstr("q-secret")));
  EXPECT_THAT(
      single_error(replace(kMinimal, "Endpoint: https://example.backlog.com", "Endpoint: \"\"")),
      HasSubstr("Backlog.Endpoint: rule \"findings\" target \"backlog\": must not be "
                "empty (only a DryRun target may leave it empty)"));
}

TEST(BacklogTargetTest, ApiKeyAndProjectAreRequired) {
  EXPECT_EQ(single_error(kMinimal, {{"BACKLOG_API_KEY", ""}}),
            "b.yaml:8:19: Rules[0].Targets[0].Backlog.ApiKey: rule \"findings\" target "
            "\"backlog\": is required and must not be empty (e.g. ApiKey: ${BACKLOG_API_KEY}); "
            "only a DryRun target may go without");
  EXPECT_THAT(single_error(kMinimal, {}),
              HasSubstr("Backlog.ApiKey: environment variable BACKLOG_API_KEY is not set"));
  EXPECT_EQ(single_error(replace(kMinimal, "          Project: SEC\n", "")),
            "b.yaml:7:11: Rules[0].Targets[0].Backlog.Project: rule \"findings\" target "
            "\"backlog\": is required: the project key (e.g. SEC) or its numeric id");
  EXPECT_THAT(single_error(with_backlog_keys("          IssueType: \"\"\n")),
              HasSubstr("Backlog.IssueType: rule \"findings\" target \"backlog\": must not be "
                        "empty: give a name or an id"));
}

TEST(BacklogTargetTest, OnUpdateIsCommentOrIgnoreAndUnknownKeysAreNamed) {
  EXPECT_THAT(single_error(with_backlog_keys("          OnUpdate: comment\n")),
              HasSubstr("Rules[0].Targets[0].Backlog.OnUpdate: rule \"findings\" target "
                        "\"backlog\": must be COMMENT or IGNORE, got \"comment\" (did you mean "
                        "\"COMMENT\"?)"));
  EXPECT_THAT(single_error(with_backlog_keys("          ResolveStatus: Done\n")),
              HasSubstr("Rules[0].Targets[0].Backlog.ResolveStatus: unknown key (did you mean "
                        "\"ResolvedStatus\"?)"));
  EXPECT_THAT(single_error("      - Id: backlog\n        Backlog: yes\n"),
              HasSubstr("Rules[0].Targets[0].Backlog: must be a mapping, got a scalar"));
}

TEST(BacklogTargetTest, ExactlyOneDestination) {
  for (const char* other : {"        Log: { Path: out.jsonl }\n", "        Arn: some-destination\n",
                            "        ApiDestination: some-destination\n"}) {
    EXPECT_EQ(single_error(std::string(kMinimal) + other),
              "b.yaml:5:9: Rules[0].Targets[0]: rule \"findings\" target \"backlog\": give "
              "exactly one of ApiDestination, Arn, Log or Backlog")
        << other;
  }
}

TEST(BacklogTargetTest, InputSettingsThatCannotApplyAreRefusedByName) {
  for (const char* key : {"Input", "InputPath", "HttpParameters", "SplitBy", "BodyEncoding"}) {
    const std::string line =
        std::string("        ") + key +
        (std::string(key) == "Input"            ? ": { a: 1 }\n"
         : std::string(key) == "InputPath"      ? ": $.detail\n"
         : std::string(key) == "HttpParameters" ? ": { HeaderParameters: { X-A: b } }\n"
         : std::string(key) == "SplitBy"        ? ": $.detail.findings\n"
                                                : ": FORM\n");
    const std::string error = single_error(std::string(kMinimal) + line);
    EXPECT_THAT(error, HasSubstr(std::string("Rules[0].Targets[0].") + key +
                                 ": rule \"findings\" target \"backlog\": does not apply to a "
                                 "Backlog target, which always handles every finding of the "
                                 "event on its own"));
  }
}

TEST(BacklogTargetTest, InputTransformerMustBeAJsonObjectTemplate) {
  const std::string transformer = R"(        InputTransformer:
          InputPathsMap: { title: "$.detail.findings[0].Title" }
          InputTemplate: 'TEMPLATE'
)";
  const LoadResult object =
      load(std::string(kMinimal) + replace(transformer, "TEMPLATE", R"(  {"summary": <title>})"));
  ASSERT_TRUE(object.ok()) << errors_of(object);
  EXPECT_EQ(single_error(std::string(kMinimal) + replace(transformer, "TEMPLATE", "<title>")),
            "b.yaml:12:26: Rules[0].Targets[0].InputTransformer.InputTemplate: rule \"findings\" "
            "target \"backlog\": must be a JSON object template (starting with `{`) for a Backlog "
            "target: its members override the issue's fields");
  EXPECT_THAT(single_error(std::string(kMinimal) +
                           replace(transformer, "TEMPLATE", R"({"summary": <titel>})")),
              HasSubstr("Rules[0].Targets[0].InputTransformer.InputTemplate: rule \"findings\" "
                        "target \"backlog\": "));
}

TEST(BacklogTargetTest, TheApiKeyIsASecretValueAndNeverShown) {
  const std::string literal_key = replace(kMinimal, "${BACKLOG_API_KEY}", "bk-literal-key-987");
  const LoadResult result = load(literal_key);
  ASSERT_TRUE(result.ok()) << errors_of(result);
  EXPECT_THAT(result.config->secret_values(), Contains(std::string("bk-literal-key-987")));
  const std::string described = describe(*result.config);
  EXPECT_THAT(described,
              HasSubstr("target backlog -> backlog https://example.backlog.com project SEC, "
                        "input: one issue per finding"));
  EXPECT_EQ(described.find("bk-literal-key-987"), std::string::npos) << described;

  // An error elsewhere in the same target never quotes the key either.
  const LoadResult broken = load(replace(kMinimal, "Project: SEC", "Project: \"\""));
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(errors_of(broken).find(kApiKey), std::string::npos) << errors_of(broken);
}

}  // namespace
}  // namespace hikyaku::config
