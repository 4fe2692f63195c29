#include "config/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "testing/temp_dir.h"

namespace hikyaku::config {
namespace {

using ::testing::HasSubstr;

LoadOptions options_with(std::map<std::string, std::string> variables) {
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

// A small valid config in the scenario's shape; tests break one thing at a time.
constexpr std::string_view kValid = R"(Server:
  Listen: 127.0.0.1:4010
Store:
  Sqlite: { Path: var/test.db }
Connections:
  - Name: backlog
    AuthorizationType: API_KEY
    AuthParameters:
      ApiKeyAuthParameters: { ApiKeyName: dummy-key, ApiKeyValue: dummy-value }
ApiDestinations:
  - Name: backlog-add-issue
    ConnectionName: backlog
    InvocationEndpoint: "https://${BACKLOG_HOST:-example.backlog.com}/api/v2/issues?apiKey=${BACKLOG_API_KEY}"
    HttpMethod: POST
    InvocationRateLimitPerSecond: 1
Rules:
  - Name: securityhub-to-backlog
    EventPattern:
      source: [aws.securityhub]
      detail:
        findings:
          Severity: { Label: [CRITICAL, HIGH] }
          Compliance: { Status: [{ anything-but: PASSED }] }
    Targets:
      - Id: backlog
        ApiDestination: backlog-add-issue
        InputTransformer:
          InputPathsMap: { Summary: "$.detail.findings[0].Title" }
          InputTemplate: '{"summary": <Summary>}'
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

LoadResult load(std::string_view text, std::map<std::string, std::string> variables = {
                                           {"BACKLOG_API_KEY", "k-123-secret"}}) {
  return load_config_text(text, "test.yaml", options_with(std::move(variables)));
}

// Loads `text`, expects exactly one error and returns it formatted.
std::string single_error(std::string_view text, std::map<std::string, std::string> variables = {
                                                    {"BACKLOG_API_KEY", "k-123-secret"}}) {
  LoadResult result = load(text, std::move(variables));
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(result.errors.size(), 1u);
  std::string all;
  for (const ConfigError& error : result.errors) {
    all += error.to_string() + "\n";
  }
  if (!all.empty()) {
    all.pop_back();
  }
  return all;
}

TEST(ConfigTest, LoadsValidConfigIntoTypedStructs) {
  LoadResult result = load(kValid);
  ASSERT_TRUE(result.ok()) << result.errors[0].to_string();
  const Config& config = *result.config;
  EXPECT_EQ(config.server.listen, "127.0.0.1:4010");
  EXPECT_EQ(config.store.sqlite.path, "var/test.db");
  ASSERT_EQ(config.connections.size(), 1u);
  EXPECT_EQ(config.connections[0].api_key_name, "dummy-key");
  EXPECT_EQ(config.connections[0].api_key_value.reveal(), "dummy-value");
  ASSERT_EQ(config.api_destinations.size(), 1u);
  EXPECT_EQ(config.api_destinations[0].invocation_endpoint,
            "https://example.backlog.com/api/v2/issues?apiKey=k-123-secret");
  EXPECT_EQ(config.api_destinations[0].invocation_rate_limit_per_second, 1);
  ASSERT_EQ(config.rules.size(), 1u);
  const Rule& rule = config.rules[0];
  EXPECT_EQ(rule.event_bus_name, "default");
  EXPECT_EQ(rule.state, RuleState::kEnabled);
  EXPECT_EQ(
      rule.event_pattern,
      R"({"source":["aws.securityhub"],"detail":{"findings":{"Severity":{"Label":["CRITICAL","HIGH"]},"Compliance":{"Status":[{"anything-but":"PASSED"}]}}}})");
  ASSERT_EQ(rule.targets.size(), 1u);
  const Target& target = rule.targets[0];
  EXPECT_EQ(target.api_destination, "backlog-add-issue");
  ASSERT_TRUE(target.input_transformer.has_value());
  ASSERT_EQ(target.input_transformer->input_paths_map.size(), 1u);
  EXPECT_EQ(target.input_transformer->input_paths_map[0].second, "$.detail.findings[0].Title");
  EXPECT_EQ(target.input_transformer->input_template, R"({"summary": <Summary>})");
  EXPECT_EQ(target.retry_policy.maximum_retry_attempts, 185);
  EXPECT_EQ(target.retry_policy.maximum_event_age_in_seconds, 86400);
}

TEST(ConfigTest, StoreMaxQueuedBytesDefaultsTo256MiBAndIsBounded) {
  LoadResult defaults = load(kValid);
  ASSERT_TRUE(defaults.ok()) << defaults.errors[0].to_string();
  EXPECT_EQ(defaults.config->store.max_queued_bytes, int64_t{256} * 1024 * 1024);

  const std::string set = replace(kValid, "Store:\n", "Store:\n  MaxQueuedBytes: 67108864\n");
  LoadResult loaded = load(set);
  ASSERT_TRUE(loaded.ok()) << loaded.errors[0].to_string();
  EXPECT_EQ(loaded.config->store.max_queued_bytes, int64_t{64} * 1024 * 1024);

  for (const char* bad : {"0", "1000", "-5", "1e9", "many", "68719476737"}) {
    EXPECT_THAT(single_error(replace(kValid, "Store:\n",
                                     std::string("Store:\n  MaxQueuedBytes: ") + bad + "\n")),
                HasSubstr("Store.MaxQueuedBytes"))
        << bad;
  }
}

TEST(ConfigTest, YamlScalarsBecomeJsonTypesInPatterns) {
  std::string text = replace(kValid, "source: [aws.securityhub]",
                             "source: [aws.securityhub]\n      n: [5, \"5\", true, null, 1.5e3]");
  LoadResult result = load(text);
  ASSERT_TRUE(result.ok()) << result.errors[0].to_string();
  EXPECT_THAT(result.config->rules[0].event_pattern, HasSubstr(R"("n":[5,"5",true,null,1.5e3])"));
}

TEST(ConfigTest, EventPatternAsJsonStringAsAwsTakesIt) {
  std::string text = replace(kValid, R"(EventPattern:
      source: [aws.securityhub])",
                             R"(EventPattern: '{"source": ["aws.securityhub"], "x": [1]}'
    Description: d
    Unused:
      source: [aws.securityhub])");
  // Unused is an unknown key: checks that a JSON string pattern is kept verbatim AND that the
  // rest of the file is still checked.
  LoadResult result = load(text);
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].key_path, "Rules[0].Unused");

  LoadResult ok = load(replace(kValid, R"(EventPattern:
      source: [aws.securityhub]
      detail:
        findings:
          Severity: { Label: [CRITICAL, HIGH] }
          Compliance: { Status: [{ anything-but: PASSED }] })",
                               R"(EventPattern: '{"source": ["aws.securityhub"]}')"));
  ASSERT_TRUE(ok.ok()) << ok.errors[0].to_string();
  EXPECT_EQ(ok.config->rules[0].event_pattern, R"({"source": ["aws.securityhub"]})");
}

TEST(ConfigTest, JsonConfigIsAccepted) {
  LoadResult result = load(R"({
    "Connections": [{"Name": "c", "AuthorizationType": "BASIC",
                     "AuthParameters": {"BasicAuthParameters": {"Username": "u", "Password": "p"}}}],
    "ApiDestinations": [{"Name": "d", "ConnectionName": "c",
                         "InvocationEndpoint": "https://h.example/x", "HttpMethod": "PUT"}],
    "Rules": [{"Name": "r", "EventPattern": {"source": ["s"]},
               "Targets": [{"Id": "t", "ApiDestination": "d", "Input": {"a": 1}}]}]
  })");
  ASSERT_TRUE(result.ok()) << result.errors[0].to_string();
  EXPECT_EQ(result.config->connections[0].authorization_type, AuthorizationType::kBasic);
  EXPECT_EQ(result.config->rules[0].event_pattern, R"({"source":["s"]})");
  EXPECT_EQ(result.config->rules[0].targets[0].input, R"({"a":1})");
  EXPECT_EQ(result.config->api_destinations[0].invocation_rate_limit_per_second, 300);
}

TEST(ConfigTest, TargetAcceptsApiDestinationArn) {
  LoadResult result = load(
      replace(kValid, "ApiDestination: backlog-add-issue",
              "Arn: arn:aws:events:ap-northeast-1:123456789012:api-destination/backlog-add-issue/"
              "0b5c1a2e-1111-2222-3333-444455556666"));
  ASSERT_TRUE(result.ok()) << result.errors[0].to_string();
  EXPECT_EQ(result.config->rules[0].targets[0].api_destination, "backlog-add-issue");
}

TEST(ConfigTest, ServerSectionAndLogTarget) {
  const testing::TempDir dir("config-tls");
  const std::string cert = dir.write("cert.pem", "not checked before serve loads it\n");
  const std::string key = dir.write("key.pem", "not checked before serve loads it\n");
  std::string text = replace(kValid, "  Listen: 127.0.0.1:4010\n", R"(  Listen: 0.0.0.0:8443
  Account: "123456789012"
  Region: ap-northeast-1
  Auth:
    SigV4:
      Credentials: [{ AccessKeyId: AKIDEXAMPLE, SecretAccessKey: "${AWS_SECRET}", AllowedSources: [aws.securityhub] }]
    ApiKeys: [{ HeaderName: x-hikyaku-key, Value: "${HOOK_KEY}" }]
    AdminApiKeys: [{ HeaderName: x-hikyaku-admin-key, Value: "${ADMIN_KEY}" }]
  Tls: { CertFile: CERT, KeyFile: KEY }
  Limits: { MaxEntryBytes: 1024, RequestTimeoutSeconds: 5, MaxConcurrentRequests: 32 }
)");
  text = replace(replace(text, "CERT", cert), "KEY }", key + " }");
  text = replace(text, "ApiDestination: backlog-add-issue", "Log: { Path: var/out.jsonl }");
  LoadResult result = load(text, {{"BACKLOG_API_KEY", "k"},
                                  {"AWS_SECRET", "aws-s3cr3t"},
                                  {"HOOK_KEY", "hook-s3cr3t"},
                                  {"ADMIN_KEY", "admin-s3cr3t"}});
  ASSERT_TRUE(result.ok()) << result.errors[0].to_string();
  const ServerConfig& server = result.config->server;
  EXPECT_EQ(server.account, "123456789012");
  EXPECT_EQ(server.region, "ap-northeast-1");
  ASSERT_EQ(server.auth.sigv4_credentials.size(), 1u);
  EXPECT_EQ(server.auth.sigv4_credentials[0].secret_access_key.reveal(), "aws-s3cr3t");
  EXPECT_EQ(server.auth.sigv4_credentials[0].allowed_sources,
            std::vector<std::string>{"aws.securityhub"});
  ASSERT_EQ(server.auth.api_keys.size(), 1u);
  EXPECT_EQ(server.auth.api_keys[0].header_name, "x-hikyaku-key");
  ASSERT_EQ(server.auth.admin_api_keys.size(), 1u);
  EXPECT_EQ(server.auth.admin_api_keys[0].header_name, "x-hikyaku-admin-key");
  EXPECT_EQ(server.auth.admin_api_keys[0].value.reveal(), "admin-s3cr3t");
  EXPECT_THAT(result.config->secret_values(), ::testing::Contains("admin-s3cr3t"));
  ASSERT_TRUE(server.tls.has_value());
  EXPECT_EQ(server.tls->key_file, key);
  EXPECT_EQ(server.limits.max_entry_bytes, 1024);
  EXPECT_EQ(server.limits.request_timeout_seconds, 5);
  EXPECT_EQ(server.limits.max_body_bytes, 1024 * 1024);
  EXPECT_EQ(server.limits.max_concurrent_requests, 32);
  EXPECT_EQ(server.limits.max_connections, 1024);
  ASSERT_TRUE(result.config->rules[0].targets[0].log.has_value());
  EXPECT_EQ(result.config->rules[0].targets[0].log->path, "var/out.jsonl");

  const std::string summary = describe(*result.config);
  EXPECT_THAT(summary, HasSubstr("log file var/out.jsonl"));
  EXPECT_THAT(summary, HasSubstr("sigv4 AKIDEXAMPLE: secret ***"));
  EXPECT_THAT(summary, HasSubstr("admin key header x-hikyaku-admin-key: ***"));
  EXPECT_EQ(summary.find("s3cr3t"), std::string::npos) << summary;
}

TEST(ConfigErrorTest, ServerSectionErrors) {
  LoadResult result = load(replace(kValid, "  Listen: 127.0.0.1:4010\n", R"(  Listen: 127.0.0.1:4010
  Account: "12345"
  Auth:
    ApiKeys: [{ HeaderName: x-k, Value: "" }]
  Tls: { CertFile: c.pem }
)"));
  ASSERT_EQ(result.errors.size(), 3u);
  EXPECT_THAT(result.errors[0].to_string(),
              HasSubstr("Server.Account: must be a 12-digit AWS account id"));
  EXPECT_THAT(result.errors[1].to_string(),
              HasSubstr("Server.Auth.ApiKeys[0].Value: must not be empty"));
  EXPECT_THAT(result.errors[2].to_string(), HasSubstr("Server.Tls.KeyFile: is required"));
}

TEST(ConfigTest, AdminKeysTakeNoAllowedSourcesAndTheDeliveryLogIsBounded) {
  LoadResult result =
      load(replace(replace(kValid, "  Sqlite: { Path: var/test.db }\n",
                           "  Sqlite: { Path: var/test.db }\n  DeliveryLog: { MaxEntries: -1 }\n"),
                   "  Listen: 127.0.0.1:4010\n", R"(  Listen: 127.0.0.1:4010
  Auth:
    AdminApiKeys: [{ HeaderName: x-admin, Value: v, AllowedSources: [a.b] }]
)"));
  ASSERT_EQ(result.errors.size(), 2u);
  EXPECT_THAT(result.errors[0].to_string(), HasSubstr("Server.Auth.AdminApiKeys[0]"));
  EXPECT_THAT(result.errors[0].to_string(), HasSubstr("AllowedSources"));
  EXPECT_THAT(result.errors[1].to_string(), HasSubstr("Store.DeliveryLog.MaxEntries"));

  LoadResult good =
      load(replace(kValid, "  Sqlite: { Path: var/test.db }\n",
                   "  Sqlite: { Path: var/test.db }\n  DeliveryLog: { MaxEntries: 0 }\n"));
  ASSERT_TRUE(good.ok()) << good.errors[0].to_string();
  EXPECT_EQ(good.config->store.delivery_log_entries, 0);
  EXPECT_TRUE(good.config->server.auth.admin_api_keys.empty());
}

// --- A dozen broken configs, each with a precise error ---------------------------------------

TEST(ConfigErrorTest, BadYamlGivesLineAndColumn) {
  std::string error = single_error("Rules:\n  - Name: [unclosed\n");
  EXPECT_THAT(error, HasSubstr("test.yaml:"));
  EXPECT_THAT(error, HasSubstr("invalid YAML"));
}

TEST(ConfigErrorTest, UnknownKeyWithDidYouMean) {
  EXPECT_EQ(
      single_error(replace(kValid, "HttpMethod: POST", "HttpMethd: POST\n    HttpMethod: POST")),
      "test.yaml:14:5: ApiDestinations[0].HttpMethd: unknown key (did you mean "
      "\"HttpMethod\"?); allowed here: Name, Description, ConnectionName, ConnectionArn, "
      "InvocationEndpoint, HttpMethod, InvocationRateLimitPerSecond, TimeoutSeconds, Tls");
}

TEST(ConfigErrorTest, WrongTypes) {
  EXPECT_EQ(single_error(replace(kValid, "InvocationRateLimitPerSecond: 1",
                                 "InvocationRateLimitPerSecond: fast")),
            "test.yaml:15:35: ApiDestinations[0].InvocationRateLimitPerSecond: must be an "
            "integer, got \"fast\"");
  EXPECT_EQ(single_error(replace(kValid, "Listen: 127.0.0.1:4010", "Listen: [127.0.0.1, 4010]")),
            "test.yaml:2:11: Server.Listen: must be a string, got a list");
}

TEST(ConfigErrorTest, MissingEnvironmentVariableIsNamed) {
  EXPECT_EQ(single_error(kValid, {}),
            "test.yaml:13:25: ApiDestinations[0].InvocationEndpoint: environment variable "
            "BACKLOG_API_KEY is not set (set it, or write ${BACKLOG_API_KEY:-default} to allow a "
            "default)");
}

TEST(ConfigErrorTest, DuplicateNames) {
  std::string text = replace(kValid, "Rules:\n", R"(  - Name: backlog-add-issue
    ConnectionName: backlog
    InvocationEndpoint: https://other.example/x
    HttpMethod: POST
Rules:
)");
  EXPECT_EQ(single_error(text),
            "test.yaml:16:5: ApiDestinations[1].Name: duplicate name \"backlog-add-issue\"");
}

TEST(ConfigErrorTest, TargetNamingMissingDestination) {
  EXPECT_EQ(single_error(replace(kValid, "ApiDestination: backlog-add-issue",
                                 "ApiDestination: backlog-add-isue")),
            "test.yaml:26:25: Rules[0].Targets[0].ApiDestination: no API destination named "
            "\"backlog-add-isue\" (did you mean \"backlog-add-issue\"?)");
}

TEST(ConfigErrorTest, DestinationNamingMissingConnection) {
  EXPECT_EQ(single_error(replace(kValid, "ConnectionName: backlog", "ConnectionName: nope")),
            "test.yaml:12:21: ApiDestinations[0].ConnectionName: no connection named \"nope\"");
}

TEST(ConfigErrorTest, InvalidEnumsAreCaseSensitiveLikeAws) {
  EXPECT_EQ(single_error(replace(kValid, "HttpMethod: POST", "HttpMethod: post")),
            "test.yaml:14:17: ApiDestinations[0].HttpMethod: must be one of POST | GET | HEAD | "
            "OPTIONS | PUT | PATCH | DELETE, got \"post\" (did you mean \"POST\"?)");
}

TEST(ConfigErrorTest, WrongAuthBlockForType) {
  std::string error =
      single_error(replace(kValid, "AuthorizationType: API_KEY", "AuthorizationType: BASIC"));
  EXPECT_THAT(error, HasSubstr("Connections[0].AuthParameters.ApiKeyAuthParameters: does not apply "
                               "to AuthorizationType BASIC; use BasicAuthParameters"));
}

TEST(ConfigErrorTest, MissingRequiredFields) {
  EXPECT_EQ(
      single_error(replace(kValid, "- Id: backlog\n        ApiDestination", "- ApiDestination")),
      "test.yaml:25:9: Rules[0].Targets[0].Id: is required");
  EXPECT_EQ(single_error(replace(kValid, "    HttpMethod: POST\n", "")),
            "test.yaml:11:5: ApiDestinations[0].HttpMethod: is required");
}

TEST(ConfigErrorTest, MoreThanOneInputIsAwsError) {
  std::string text = replace(kValid, "        InputTransformer:",
                             "        InputPath: $.detail\n        InputTransformer:");
  EXPECT_THAT(single_error(text),
              HasSubstr("Rules[0].Targets[0]: Only one of Input, InputPath, or InputTransformer "
                        "must be provided for target backlog."));
}

TEST(ConfigErrorTest, InvalidPatternJsonAndBadUrl) {
  EXPECT_THAT(single_error(replace(kValid, "InvocationEndpoint: \"https://",
                                   "InvocationEndpoint: \"ftp://")),
              HasSubstr("InvocationEndpoint: must be an http:// or https:// URL, got "
                        "\"ftp://example.backlog.com/api/v2/issues?apiKey=***\""));
  std::string text = replace(kValid, R"(EventPattern:
      source: [aws.securityhub])",
                             R"(EventPattern: '{"source": ["aws.securityhub"'
    Unused:
      source: [aws.securityhub])");
  LoadResult result = load(text);
  ASSERT_EQ(result.errors.size(), 2u);
  EXPECT_THAT(result.errors[0].to_string(), HasSubstr("Rules[0].Unused: unknown key"));
  EXPECT_THAT(result.errors[1].to_string(), HasSubstr("Rules[0].EventPattern: is not valid JSON"));
}

TEST(ConfigErrorTest, InvalidPatternNamesRuleAndPatternPath) {
  std::string text = replace(kValid, "Severity: { Label: [CRITICAL, HIGH] }",
                             R"(Severity: { Label: [{ numeric: ["<", "5"] }] })");
  std::string error = single_error(text);
  EXPECT_THAT(error, HasSubstr("Rules[0].EventPattern: invalid pattern in rule "
                               "\"securityhub-to-backlog\": detail.findings.Severity.Label"));
  EXPECT_THAT(error, HasSubstr("numeric"));
}

TEST(ConfigErrorTest, TemplateErrorsNameRuleTargetAndPlaceholder) {
  std::string error =
      single_error(replace(kValid, R"('{"summary": <Summary>}')", R"('{"summary": <Sumary>}')"));
  EXPECT_THAT(error, HasSubstr("Rules[0].Targets[0].InputTransformer.InputTemplate: rule "
                               "\"securityhub-to-backlog\" target \"backlog\": "));
  EXPECT_THAT(error, HasSubstr("<Sumary>"));
  EXPECT_THAT(error, HasSubstr("did you mean <Summary>"));

  std::string path_error = single_error(replace(kValid, "$.detail.findings[0].Title", "$..Title"));
  EXPECT_THAT(path_error, HasSubstr("Rules[0].Targets[0].InputTransformer.InputPathsMap.Summary"));
}

TEST(ConfigErrorTest, RetryPolicyBoundsFollowAws) {
  std::string text = replace(kValid, "        InputTransformer:",
                             "        RetryPolicy: { MaximumRetryAttempts: 186, "
                             "MaximumEventAgeInSeconds: 59 }\n        InputTransformer:");
  LoadResult result = load(text);
  ASSERT_EQ(result.errors.size(), 2u);
  EXPECT_THAT(result.errors[0].to_string(),
              HasSubstr("RetryPolicy.MaximumRetryAttempts: must be between 0 and 185, got 186"));
  EXPECT_THAT(result.errors[1].to_string(),
              HasSubstr("RetryPolicy.MaximumEventAgeInSeconds: must be between 60 and 86400"));
}

TEST(ConfigErrorTest, EveryErrorIsReportedNotJustTheFirst) {
  std::string text = replace(kValid, "HttpMethod: POST", "HttpMethod: FETCH");
  text = replace(text, "Name: securityhub-to-backlog", "Name: has space");
  text = replace(text, "Listen: 127.0.0.1:4010", "Listen: localhost");
  LoadResult result = load(text);
  ASSERT_EQ(result.errors.size(), 3u);
  EXPECT_EQ(result.errors[0].key_path, "Server.Listen");
  EXPECT_EQ(result.errors[1].key_path, "ApiDestinations[0].HttpMethod");
  EXPECT_EQ(result.errors[2].key_path, "Rules[0].Name");
}

TEST(ConfigErrorTest, EmptyAndMissingRules) {
  EXPECT_EQ(single_error(""), "test.yaml: the config is empty; it needs at least Rules");
  EXPECT_THAT(single_error("Server: { Listen: 127.0.0.1:1 }\n"), HasSubstr("Rules: is required"));
  EXPECT_THAT(single_error("- a\n- b\n"), HasSubstr("the config must be a mapping"));
}

TEST(ConfigErrorTest, DuplicateYamlKeys) {
  EXPECT_THAT(
      single_error(replace(kValid, "HttpMethod: POST", "HttpMethod: POST\n    HttpMethod: PUT")),
      HasSubstr("ApiDestinations[0].HttpMethod: duplicate key"));
}

TEST(ConfigErrorTest, UnreadableFile) {
  LoadResult result = load_config_file("/nonexistent/hikyaku.yaml");
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].to_string(), "/nonexistent/hikyaku.yaml: cannot open the config file");
}

TEST(ConfigErrorTest, ConfigFileOverTheCapOrAFolderIsOneClearError) {
  const hikyaku::testing::TempDir directory("config");
  const std::string big = directory.write("big.yaml", std::string(kMaxConfigFileBytes + 1, '#'));
  LoadResult too_big = load_config_file(big);
  ASSERT_EQ(too_big.errors.size(), 1u);
  EXPECT_EQ(too_big.errors[0].to_string(),
            big + ": cannot read the config file: larger than the limit of " +
                std::to_string(kMaxConfigFileBytes) + " bytes");

  LoadResult folder = load_config_file(directory.path());
  ASSERT_EQ(folder.errors.size(), 1u);
  EXPECT_EQ(folder.errors[0].to_string(),
            directory.path() + ": cannot read the config file: it is a directory");
}

TEST(ConfigErrorTest, FileReferenceOverTheCapFailsWithItsLocation) {
  const hikyaku::testing::TempDir directory("config");
  directory.write("key.txt", std::string(kMaxReferenceFileBytes + 1, 'k'));
  LoadOptions options = options_with({{"BACKLOG_API_KEY", "k"}});
  options.base_directory = directory.path();
  LoadResult result = load_config_text(
      replace(kValid, "ApiKeyValue: dummy-value", "ApiKeyValue: \"${file:key.txt}\""), "test.yaml",
      options);
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].key_path,
            "Connections[0].AuthParameters.ApiKeyAuthParameters.ApiKeyValue");
  EXPECT_THAT(
      result.errors[0].to_string(),
      HasSubstr("${file:key.txt}: cannot read " + directory.file("key.txt") +
                ": larger than the limit of " + std::to_string(kMaxReferenceFileBytes) + " bytes"));
}

TEST(ConfigWarningTest, AnOperatorNameAsAFieldNameWarnsWithoutFailing) {
  const std::string text =
      replace(kValid, "source: [aws.securityhub]", "source: [aws.securityhub]\n      prefix: [a]");
  // kValid draws other warnings too (the apiKey in its endpoint, anything-but on Compliance;
  // config_warnings_test.cc): only the operator-name one is looked at here.
  const auto operator_name_warnings = [](const LoadResult& result) {
    std::vector<ConfigError> found;
    for (const ConfigError& warning : result.warnings) {
      if (warning.message.starts_with("prefix")) {
        found.push_back(warning);
      }
    }
    return found;
  };
  LoadResult result = load(text, {{"BACKLOG_API_KEY", "k"}});
  ASSERT_TRUE(result.ok()) << result.errors[0].to_string();
  const std::vector<ConfigError> warnings = operator_name_warnings(result);
  ASSERT_EQ(warnings.size(), 1u);
  const ConfigError& warning = warnings[0];
  EXPECT_EQ(warning.key_path, "Rules[0].EventPattern");
  EXPECT_EQ(warning.location.line, 19);  // the pattern's first key
  EXPECT_THAT(warning.message, HasSubstr("prefix"));
  EXPECT_THAT(warning.to_string(), HasSubstr("test.yaml:19:7: Rules[0].EventPattern: prefix"));

  EXPECT_TRUE(operator_name_warnings(load(kValid, {{"BACKLOG_API_KEY", "k"}})).empty());
}

// --- Secrets ---------------------------------------------------------------------------------

TEST(ConfigSecretTest, DescribeMasksEverySecret) {
  std::string text =
      replace(kValid, "ApiKeyValue: dummy-value", "ApiKeyValue: \"${HEADER_SECRET}\"");
  LoadResult result =
      load(text, {{"BACKLOG_API_KEY", "k-123-secret"}, {"HEADER_SECRET", "h-456-secret"}});
  ASSERT_TRUE(result.ok()) << result.errors[0].to_string();
  const std::string summary = describe(*result.config);
  EXPECT_THAT(summary, HasSubstr("apiKey=***"));
  EXPECT_THAT(summary, HasSubstr("dummy-key: ***"));
  EXPECT_EQ(summary.find("k-123-secret"), std::string::npos) << summary;
  EXPECT_EQ(summary.find("h-456-secret"), std::string::npos) << summary;
}

TEST(ConfigSecretTest, ErrorsNeverEchoResolvedSecrets) {
  std::string text =
      replace(kValid, "InvocationEndpoint: \"https://", "InvocationEndpoint: \"gopher://");
  text = replace(text, "ApiKeyValue: dummy-value", "ApiKeyValue: \"${HEADER_SECRET}\"");
  text = replace(text, "Name: backlog\n", "Name: bad name\n");
  LoadResult result =
      load(text, {{"BACKLOG_API_KEY", "k-123-secret"}, {"HEADER_SECRET", "h-456-secret"}});
  ASSERT_EQ(result.errors.size(), 2u);  // the URL scheme and the connection name
  EXPECT_EQ(result.errors[0].key_path, "Connections[0].Name");
  EXPECT_EQ(result.errors[1].key_path, "ApiDestinations[0].InvocationEndpoint");
  for (const ConfigError& error : result.errors) {
    EXPECT_EQ(error.to_string().find("k-123-secret"), std::string::npos) << error.to_string();
    EXPECT_EQ(error.to_string().find("h-456-secret"), std::string::npos) << error.to_string();
  }
}

}  // namespace
}  // namespace hikyaku::config
