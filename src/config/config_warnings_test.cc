// The warnings of a config that loads (internal/config_warnings.h)
// and the forms of DeadLetterConfig.Arn.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/file.h"
#include "pattern/pattern.h"

namespace hikyaku::config {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr const char* kSecret = "k-123-very-secret-value";

// The scenario in the form validate recommends: no warning at all.
constexpr std::string_view kClean = R"(Connections:
  - Name: backlog
    AuthorizationType: API_KEY
    AuthParameters:
      ApiKeyAuthParameters: { ApiKeyName: dummy-key, ApiKeyValue: dummy-value }
      InvocationHttpParameters:
        QueryStringParameters: [{ Key: apiKey, Value: "${BACKLOG_API_KEY}", IsValueSecret: true }]
ApiDestinations:
  - Name: backlog-add-issue
    ConnectionName: backlog
    InvocationEndpoint: "https://example.backlog.com/api/v2/issues?projectId=1&lang=ja"
    HttpMethod: POST
  - Name: chat
    ConnectionName: backlog
    InvocationEndpoint: "https://chat.example/hooks/x"
    HttpMethod: POST
Rules:
  - Name: findings
    EventPattern:
      source: [aws.securityhub]
      detail-type: [Security Hub Findings - Imported]
      detail:
        findings:
          Severity: { Label: [CRITICAL, HIGH] }
          Compliance: { Status: [{ anything-but: PASSED }, { exists: false }] }
    Targets:
      - Id: backlog
        ApiDestination: backlog-add-issue
)";

std::string replace(std::string_view text, std::string_view from, std::string_view to) {
  std::string out(text);
  const size_t position = out.find(from);
  EXPECT_NE(position, std::string::npos) << "test bug: \"" << from << "\" not in config";
  if (position != std::string::npos) {
    out.replace(position, from.size(), to);
  }
  return out;
}

LoadResult load(std::string_view text) {
  LoadOptions options;
  options.environment = [](const std::string& name) -> std::optional<std::string> {
    if (name == "BACKLOG_API_KEY") {
      return kSecret;
    }
    return std::nullopt;
  };
  return load_config_text(text, "w.yaml", options);
}

// Loads `text`, expects it valid, and returns its warnings formatted.
std::vector<std::string> warnings_of(std::string_view text) {
  LoadResult result = load(text);
  EXPECT_TRUE(result.ok()) << (result.errors.empty() ? "" : result.errors[0].to_string());
  std::vector<std::string> out;
  for (const ConfigError& warning : result.warnings) {
    out.push_back(warning.to_string());
    EXPECT_THAT(out.back(), Not(HasSubstr(kSecret)));
  }
  return out;
}

// Loads `text`, expects exactly one error and returns it formatted.
std::string single_error(std::string_view text) {
  LoadResult result = load(text);
  EXPECT_EQ(result.errors.size(), 1u);
  return result.errors.empty() ? "" : result.errors[0].to_string();
}

TEST(ConfigWarningsTest, TheRecommendedFormHasNone) { EXPECT_THAT(warnings_of(kClean), IsEmpty()); }

// --- A secret in InvocationEndpoint ----------------------------------------------------------

TEST(ConfigWarningsTest, ApiKeyInTheEndpointSuggestsAConnectionParameter) {
  const std::vector<std::string> warnings = warnings_of(
      replace(kClean, "issues?projectId=1", "issues?projectId=1&apiKey=${BACKLOG_API_KEY}&x=2"));
  ASSERT_EQ(warnings.size(), 1u);
  // Located at the destination, named by its key path.
  EXPECT_THAT(warnings[0], HasSubstr("w.yaml:9:5: ApiDestinations[0].InvocationEndpoint: "));
  EXPECT_THAT(warnings[0], HasSubstr("query parameter \"apiKey\""));
  EXPECT_THAT(warnings[0], HasSubstr("connection \"backlog\""));
  EXPECT_THAT(warnings[0], HasSubstr("QueryStringParameters: [{ Key: apiKey, Value: "
                                     "\"${YOUR_SECRET_VARIABLE}\", IsValueSecret: true }]"));
}

TEST(ConfigWarningsTest, SecretValueWrittenInlineIsNeverQuoted) {
  const std::vector<std::string> warnings =
      warnings_of(replace(kClean, "issues?projectId=1", "issues?token=tok-inline-0123456789"));
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_THAT(warnings[0], HasSubstr("\"token\""));
  EXPECT_THAT(warnings[0], Not(HasSubstr("tok-inline")));
}

TEST(ConfigWarningsTest, PercentEncodedNameIsRecognisedAndDecodedInTheSuggestion) {
  const std::vector<std::string> warnings =
      warnings_of(replace(kClean, "issues?projectId=1", "issues?projectId=1&api%4Bey=abc"));
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_THAT(warnings[0], HasSubstr("query parameter \"api%4Bey\""));
  EXPECT_THAT(warnings[0], HasSubstr("Key: apiKey,"));
}

TEST(ConfigWarningsTest, OrdinaryQueryParametersAndFragmentsDoNotWarn) {
  // projectId and lang (kClean), names that only look close, and a fragment (never sent).
  EXPECT_THAT(warnings_of(replace(kClean, "lang=ja", "lang=ja&passenger=2&signal=1#token=x")),
              IsEmpty());
}

TEST(ConfigWarningsTest, UserinfoInTheEndpointSuggestsBasic) {
  const std::vector<std::string> warnings = warnings_of(
      replace(kClean, "https://chat.example", "https://bot:pw-0123456789@chat.example"));
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_THAT(warnings[0], HasSubstr("ApiDestinations[1].InvocationEndpoint"));
  EXPECT_THAT(warnings[0], HasSubstr("BASIC"));
  EXPECT_THAT(warnings[0], Not(HasSubstr("pw-0123456789")));
}

TEST(ConfigWarningsTest, BodyParametersOnAMethodWithoutBodyWarn) {
  const std::string with_body = replace(
      kClean, "        QueryStringParameters:",
      "        BodyParameters: [{ Key: team, Value: sec }]\n        QueryStringParameters:");
  EXPECT_THAT(warnings_of(with_body), IsEmpty());  // POST carries them
  const std::vector<std::string> warnings = warnings_of(
      replace(with_body, "HttpMethod: POST\n  - Name: chat", "HttpMethod: GET\n  - Name: chat"));
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_THAT(warnings[0], HasSubstr("ApiDestinations[0].HttpMethod: GET requests have no body, so "
                                     "connection \"backlog\"'s InvocationHttpParameters."
                                     "BodyParameters are not sent"));
}

// --- anything-but on Compliance.Status -------------------------------------------------------

constexpr std::string_view kSuggested = "{ anything-but: PASSED }, { exists: false }";

TEST(ConfigWarningsTest, AnythingButAloneOnComplianceWarnsAtThePattern) {
  const std::vector<std::string> warnings =
      warnings_of(replace(kClean, kSuggested, "{ anything-but: PASSED }"));
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_THAT(warnings[0], HasSubstr("w.yaml:20:7: Rules[0].EventPattern: "
                                     "detail.findings.Compliance.Status: anything-but never "
                                     "matches a missing field"));
  EXPECT_THAT(warnings[0], HasSubstr("GuardDuty, Inspector, Macie"));
  EXPECT_THAT(warnings[0],
              HasSubstr(R"("Status": [{"anything-but":"PASSED"}, {"exists": false}])"));
}

TEST(ConfigWarningsTest, ComplianceWarningNeedsAPatternOnSecurityHubFindings) {
  const std::string alone = replace(kClean, kSuggested, "{ anything-but: PASSED }");
  // detail-type alone, source alone, a prefix of the source, neither: all admit the findings.
  EXPECT_THAT(warnings_of(replace(alone, "      source: [aws.securityhub]\n", "")),
              testing::SizeIs(1));
  EXPECT_THAT(
      warnings_of(replace(alone, "      detail-type: [Security Hub Findings - Imported]\n", "")),
      testing::SizeIs(1));
  EXPECT_THAT(warnings_of(replace(alone, "source: [aws.securityhub]",
                                  "source: [{ prefix: aws.security }]")),
              testing::SizeIs(1));
  EXPECT_THAT(warnings_of(replace(replace(alone, "      source: [aws.securityhub]\n", ""),
                                  "      detail-type: [Security Hub Findings - Imported]\n", "")),
              testing::SizeIs(1));
  // Another source, or another detail-type: not about Security Hub findings.
  EXPECT_THAT(warnings_of(replace(alone, "source: [aws.securityhub]", "source: [my.app]")),
              IsEmpty());
  EXPECT_THAT(warnings_of(replace(alone, "detail-type: [Security Hub Findings - Imported]",
                                  "detail-type: [Security Hub Insight Results]")),
              IsEmpty());
}

TEST(ConfigWarningsTest, AnAlternativeForMissingComplianceSilencesTheWarning) {
  const std::string alone = replace(kClean, kSuggested, "{ anything-but: PASSED }");
  // exists:false in the same list (kClean itself), or in a $or alternative.
  EXPECT_THAT(
      warnings_of(replace(alone, "          Compliance: { Status: [{ anything-but: PASSED }] }\n",
                          "          $or:\n"
                          "            - Compliance: { Status: [{ anything-but: PASSED }] }\n"
                          "            - Compliance: { Status: [{ exists: false }] }\n")),
      IsEmpty());
  // A $or alternative that does not look at Compliance at all lets such findings through too.
  EXPECT_THAT(
      warnings_of(replace(alone, "          Compliance: { Status: [{ anything-but: PASSED }] }\n",
                          "          $or:\n"
                          "            - Compliance: { Status: [{ anything-but: PASSED }] }\n"
                          "            - ProductName: [GuardDuty]\n")),
      IsEmpty());
  // A $or at the top whose every alternative still refuses them: warned.
  EXPECT_THAT(warnings_of(replace(
                  alone, "          Compliance: { Status: [{ anything-but: PASSED }] }\n",
                  "          $or:\n"
                  "            - Compliance: { Status: [{ anything-but: PASSED }] }\n"
                  "            - Compliance: { Status: [{ anything-but: [PASSED, WARNING] }] }\n")),
              testing::SizeIs(1));
  // Plain values say plainly that only those statuses match: no warning.
  EXPECT_THAT(warnings_of(replace(alone, "{ anything-but: PASSED }", "FAILED")), IsEmpty());
}

std::string sample(const std::string& name) {
  Result<std::string> text =
      read_file(std::string(HIKYAKU_TEST_DATA_DIR) + "/data/securityhub/" + name, 1 << 20);
  EXPECT_TRUE(text.has_value()) << name;
  return text.has_value() ? *text : "";
}

// What the warning suggests really lets GuardDuty-like findings through and still keeps
// PASSED ones out, by the real matcher.
TEST(ConfigWarningsTest, TheSuggestedFixMatchesFindingsWithoutComplianceButNotPassedOnes) {
  const std::vector<std::string> warnings =
      warnings_of(replace(kClean, kSuggested, "{ anything-but: PASSED }"));
  ASSERT_EQ(warnings.size(), 1u);
  const size_t begin = warnings[0].find("\"Status\": ");
  const size_t end = warnings[0].find(" (docs/");
  ASSERT_NE(begin, std::string::npos);
  ASSERT_NE(end, std::string::npos);
  const std::string status = warnings[0].substr(begin + 10, end - begin - 10);
  const auto matches = [&](const std::string& compliance, const std::string& event) {
    const Result<bool> matched = pattern::matches(
        R"({"source": ["aws.securityhub"], "detail": {"findings": {"Compliance": {"Status": )" +
            compliance + "}}}}",
        event);
    EXPECT_TRUE(matched.has_value()) << matched.error().to_string();
    return matched.has_value() && *matched;
  };
  const std::string original = R"([{"anything-but": "PASSED"}])";
  for (const char* without_compliance :
       {"05-guardduty-ec2-cryptomining-high.json", "06-inspector-cve-2024-3094-critical.json",
        "07-macie-s3-personal-data-high.json"}) {
    EXPECT_FALSE(matches(original, sample(without_compliance))) << without_compliance;
    EXPECT_TRUE(matches(status, sample(without_compliance))) << without_compliance;
  }
  EXPECT_TRUE(matches(status, sample("01-fsbp-ec2-19-critical-failed.json")));
  EXPECT_FALSE(matches(status, sample("09-fsbp-ec2-19-passed-update-same-id.json")));
}

// --- DeadLetterConfig ------------------------------------------------------------------------

std::string with_dead_letter(std::string_view arn) {
  return replace(kClean, "        ApiDestination: backlog-add-issue\n",
                 "        ApiDestination: backlog-add-issue\n        DeadLetterConfig: { Arn: \"" +
                     std::string(arn) + "\" }\n");
}

TEST(ConfigDeadLetterTest, SqsQueueIsAcceptedWithAWarning) {
  LoadResult result = load(with_dead_letter("arn:aws:sqs:ap-northeast-1:123456789012:dlq.fifo"));
  ASSERT_TRUE(result.ok()) << result.errors[0].to_string();
  const DeadLetterConfig& dlq = *result.config->rules[0].targets[0].dead_letter_config;
  EXPECT_EQ(dlq.kind, DeadLetterConfig::Kind::kSqsQueue);
  EXPECT_EQ(dlq.arn, "arn:aws:sqs:ap-northeast-1:123456789012:dlq.fifo");
  ASSERT_EQ(result.warnings.size(), 1u);
  EXPECT_THAT(result.warnings[0].to_string(),
              HasSubstr("w.yaml:29:34: Rules[0].Targets[0].DeadLetterConfig.Arn: names an SQS "
                        "queue: hikyaku sends nothing to SQS"));
}

TEST(ConfigDeadLetterTest, ApiDestinationByNameOrArnIsResolved) {
  for (const char* arn :
       {"chat", "arn:aws:events:ap-northeast-1:123456789012:api-destination/chat",
        "arn:aws:events:ap-northeast-1:123456789012:api-destination/chat/0b5c1a2e-1234"}) {
    LoadResult result = load(with_dead_letter(arn));
    ASSERT_TRUE(result.ok()) << result.errors[0].to_string();
    const DeadLetterConfig& dlq = *result.config->rules[0].targets[0].dead_letter_config;
    EXPECT_EQ(dlq.kind, DeadLetterConfig::Kind::kApiDestination) << arn;
    EXPECT_EQ(dlq.api_destination, "chat") << arn;
    EXPECT_EQ(dlq.arn, arn);
    // Dead letters are delivered there: nothing to warn about.
    EXPECT_TRUE(result.warnings.empty()) << result.warnings[0].to_string();
  }
}

TEST(ConfigDeadLetterTest, TheTargetsOwnDestinationWarns) {
  LoadResult result = load(with_dead_letter("backlog-add-issue"));
  ASSERT_TRUE(result.ok()) << result.errors[0].to_string();
  ASSERT_EQ(result.warnings.size(), 1u);
  EXPECT_THAT(result.warnings[0].to_string(),
              HasSubstr("Rules[0].Targets[0].DeadLetterConfig.Arn: names the target's own API "
                        "destination \"backlog-add-issue\""));
}

TEST(ConfigDeadLetterTest, UnknownDestinationIsAnErrorWithASuggestion) {
  EXPECT_THAT(single_error(with_dead_letter("chta")),
              HasSubstr("w.yaml:29:34: Rules[0].Targets[0].DeadLetterConfig.Arn: no API "
                        "destination named \"chta\" (did you mean \"chat\"?)"));
  EXPECT_THAT(single_error(with_dead_letter(
                  "arn:aws:events:ap-northeast-1:123456789012:api-destination/nothing/1")),
              HasSubstr("no API destination named \"nothing\""));
}

TEST(ConfigDeadLetterTest, AnythingElseSaysWhatIsAccepted) {
  for (const char* arn :
       {"not a name", "arn:aws:sqs:ap-northeast-1:1234:dlq",
        "arn:aws:sqs:ap-northeast-1:123456789012:", "arn:aws:sqs:ap-northeast-1:123456789012:a/b",
        "arn:aws:sns:ap-northeast-1:123456789012:topic",
        "arn:aws:events:ap-northeast-1:123456789012:rule/r", "https://chat.example/hooks/x"}) {
    EXPECT_THAT(single_error(with_dead_letter(arn)),
                HasSubstr("Rules[0].Targets[0].DeadLetterConfig.Arn: \"" + std::string(arn) +
                          "\" is neither an SQS queue ARN (arn:aws:sqs:REGION:ACCOUNT:NAME) nor "
                          "an API destination"))
        << arn;
  }
  EXPECT_THAT(single_error(replace(kClean, "        ApiDestination: backlog-add-issue\n",
                                   "        ApiDestination: backlog-add-issue\n"
                                   "        DeadLetterConfig: {}\n")),
              HasSubstr("Rules[0].Targets[0].DeadLetterConfig.Arn: is required"));
}

TEST(ConfigDeadLetterTest, ADestinationWithPathWildcardsIsAnError) {
  const std::string config = replace(with_dead_letter("chat"), "https://chat.example/hooks/x",
                                     "https://chat.example/hooks/*");
  EXPECT_THAT(single_error(config),
              HasSubstr("Rules[0].Targets[0].DeadLetterConfig.Arn: API destination chat's "
                        "InvocationEndpoint path has `*` wildcards, but dead letters are sent with "
                        "no PathParameterValues"));
}

// --- Everything accepted is acted on: no warning for a setting as such ------------------------

TEST(ConfigNotYetAppliedTest, AnOAuthConnectionIsAppliedWithoutAWarning) {
  const std::vector<std::string> warnings = warnings_of(
      replace(kClean,
              "    AuthorizationType: API_KEY\n    AuthParameters:\n      ApiKeyAuthParameters: { "
              "ApiKeyName: dummy-key, ApiKeyValue: dummy-value }\n",
              "    AuthorizationType: OAUTH_CLIENT_CREDENTIALS\n    AuthParameters:\n"
              "      OAuthParameters:\n"
              "        ClientParameters: { ClientID: id, ClientSecret: \"${BACKLOG_API_KEY}\" }\n"
              "        AuthorizationEndpoint: https://auth.example/token\n"
              "        HttpMethod: POST\n"));
  EXPECT_TRUE(warnings.empty()) << warnings.front();
}

}  // namespace
}  // namespace hikyaku::config
