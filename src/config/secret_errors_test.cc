// Error messages name a ${...} reference, never what it resolved to: a generator puts distinctive
// secrets, through environment variables and ${file:...}, in place of every value (and every
// section) of a full config in turn, alone and embedded in text, and searches every error and
// warning of every load for them.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "config/config.h"
#include "testing/temp_dir.h"

namespace hikyaku::config {
namespace {

// Every placement below is wrong somewhere: spaces, punctuation and JSON are invalid names,
// numbers, enums, URLs and listen addresses.
const std::map<std::string, std::string> kEnvironment = {
    {"LONG_SECRET", "Zq9-long env secret/with?apiKey=and&spaces"},
    {"JSON_SECRET",
     R"({"source": "Zq9jsonMember", "detail": {"x": [{"numeric": ["<", "Zq9notANumber"]}]}})"},
    {"QUOTE_SECRET", "Zq9 \"quoted\" \\ back\\slash\ttab"},
    {"SHORT_SECRET", "Zq9!"},
};

constexpr std::string_view kFileSecret =
    "Zq9-file-line-one: root:x:0:0\n{\"source\": [\"Zq9fileJsonMember\"]}\nZq9-last line\n";

// What must never appear in a message.
const std::vector<std::string> kForbidden = {
    "Zq9-long env secret", "apiKey=and&spaces", "Zq9jsonMember",     "Zq9notANumber",
    "Zq9 \"quoted\"",      "Zq9 \\\"quoted",    "back\\slash",       "Zq9!",
    "Zq9-file-line-one",   "root:x:0:0",        "Zq9fileJsonMember", "Zq9-last line",
};

const std::vector<std::string> kReferences = {
    "${LONG_SECRET}",
    "${JSON_SECRET}",
    "${SHORT_SECRET}",
    "${file:secret.txt}",
    // Embedded in text.
    "x-${LONG_SECRET}-y",
    "https://h.example/${QUOTE_SECRET}${JSON_SECRET}",
    "pre ${file:secret.txt} post",
};

constexpr std::string_view kBase = R"(Server:
  Listen: 0.0.0.0:4010
  Account: "123456789012"
  Region: ap-northeast-1
  Auth:
    SigV4:
      Credentials: [{ AccessKeyId: AKIDEXAMPLE, SecretAccessKey: s, AllowedSources: [aws.x] }]
    ApiKeys: [{ HeaderName: x-hook, Value: v, AllowedSources: [a.b] }]
  Tls: { CertFile: CERT, KeyFile: KEY }
  Limits: { MaxEntryBytes: 1024, MaxBodyBytes: 4096, MaxHeaderBytes: 2048, MaxConnections: 5, RequestTimeoutSeconds: 5 }
Store:
  Sqlite: { Path: var/t.db, Synchronous: NORMAL }
Connections:
  - Name: key
    Description: d
    AuthorizationType: API_KEY
    AuthParameters:
      ApiKeyAuthParameters: { ApiKeyName: x-api-key, ApiKeyValue: v }
      InvocationHttpParameters:
        HeaderParameters: [{ Key: h, Value: v, IsValueSecret: true }]
        QueryStringParameters: [{ Key: q, Value: v, IsValueSecret: false }]
        BodyParameters: [{ Key: b, Value: v }]
  - Name: basic
    AuthorizationType: BASIC
    AuthParameters: { BasicAuthParameters: { Username: u, Password: p } }
  - Name: oauth
    AuthorizationType: OAUTH_CLIENT_CREDENTIALS
    AuthParameters:
      OAuthParameters:
        ClientParameters: { ClientID: c, ClientSecret: s }
        AuthorizationEndpoint: https://auth.example/token
        HttpMethod: POST
        OAuthHttpParameters: { BodyParameters: [{ Key: scope, Value: v }] }
ApiDestinations:
  - Name: dest
    Description: d
    ConnectionName: key
    InvocationEndpoint: https://h.example/x/*
    HttpMethod: POST
    InvocationRateLimitPerSecond: 5
  - Name: dest2
    ConnectionArn: arn:aws:events:ap-northeast-1:123456789012:connection/basic/0b5c1a2e
    InvocationEndpoint: https://h.example/y
    HttpMethod: PUT
Rules:
  - Name: rule
    Description: d
    EventBusName: bus
    State: ENABLED
    EventPattern:
      source: [aws.securityhub]
      detail: { n: [{ numeric: [">", 5] }], p: [{ prefix: x }], c: [{ cidr: 10.0.0.0/8 }] }
    Targets:
      - Id: t1
        ApiDestination: dest
        InputTransformer:
          InputPathsMap: { a: $.detail.a }
          InputTemplate: '{"a": <a>}'
        BodyEncoding: JSON
        HttpParameters:
          PathParameterValues: [$.detail.p]
          HeaderParameters: { X-H: v }
          QueryStringParameters: { q: v }
        RetryPolicy: { MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 60 }
        DeadLetterConfig: { Arn: "arn:aws:sqs:ap-northeast-1:123456789012:dlq" }
      - Id: t2
        Arn: arn:aws:events:ap-northeast-1:123456789012:api-destination/dest2/0b5c1a2e
        Input: '{"constant": true}'
      - Id: t3
        Log: { Path: out.jsonl }
        InputPath: $.detail
  - Name: rule2
    EventPattern: '{"source": ["x"]}'
    Targets: [{ Id: t, ApiDestination: dest2 }]
)";

// Calls `visit` with a copy of `root` in which the node at each place (every scalar, and every
// mapping or list below the top) is replaced by `replacement`, and a description of the place.
void for_each_placement(const YAML::Node& root, const std::string& replacement,
                        const std::function<void(const YAML::Node&, const std::string&)>& visit) {
  std::vector<std::vector<YAML::Node>> paths;  // keys and indexes, as nodes
  std::function<void(const YAML::Node&, std::vector<YAML::Node>&)> walk =
      [&](const YAML::Node& node, std::vector<YAML::Node>& path) {
        if (!path.empty()) {
          paths.push_back(path);
        }
        if (node.IsMap()) {
          for (const auto& entry : node) {
            path.push_back(entry.first);
            walk(entry.second, path);
            path.pop_back();
          }
        } else if (node.IsSequence()) {
          for (size_t i = 0; i < node.size(); ++i) {
            path.push_back(YAML::Node(i));
            walk(node[i], path);
            path.pop_back();
          }
        }
      };
  std::vector<YAML::Node> path;
  walk(root, path);
  for (const std::vector<YAML::Node>& place : paths) {
    YAML::Node copy = YAML::Clone(root);
    std::vector<YAML::Node> chain = {copy};
    std::string where;
    for (const YAML::Node& step : place) {
      const YAML::Node& parent = chain.back();
      if (parent.IsSequence()) {
        chain.push_back(parent[step.as<size_t>()]);
        where += "[" + step.as<std::string>() + "]";
      } else {
        chain.push_back(parent[step.as<std::string>()]);
        where += "." + step.as<std::string>();
      }
    }
    chain.back() = replacement;  // assigning through a Node rewrites the node it refers to
    visit(copy, where);
  }
}

TEST(SecretErrorsTest, NoMessageShowsAResolvedValue) {
  const testing::TempDir dir("secret-errors");
  dir.write("secret.txt", kFileSecret);
  std::string base(kBase);
  base.replace(base.find("CERT"), 4, dir.write("cert.pem", "c"));
  base.replace(base.find("KEY }"), 3, dir.write("key.pem", "k"));
  LoadOptions options;
  options.base_directory = dir.path();
  options.environment = [](const std::string& name) -> std::optional<std::string> {
    const auto found = kEnvironment.find(name);
    return found == kEnvironment.end() ? std::nullopt : std::optional(found->second);
  };
  LoadResult valid = load_config_text(base, "base.yaml", options);
  ASSERT_TRUE(valid.ok()) << valid.errors[0].to_string();

  const YAML::Node root = YAML::Load(base);
  size_t loads = 0;
  size_t errors = 0;
  for (const std::string& reference : kReferences) {
    for_each_placement(root, reference, [&](const YAML::Node& config, const std::string& where) {
      YAML::Emitter out;
      out << config;
      LoadResult result = load_config_text(out.c_str(), "gen.yaml", options);
      ++loads;
      std::vector<ConfigError> messages = result.errors;
      messages.insert(messages.end(), result.warnings.begin(), result.warnings.end());
      errors += result.errors.size();
      for (const ConfigError& error : messages) {
        const std::string text = error.to_string();
        for (const std::string& secret : kForbidden) {
          EXPECT_EQ(text.find(secret), std::string::npos)
              << reference << " at " << where << " shows \"" << secret << "\": " << text;
        }
      }
    });
  }
  // The generator did what it claims: many placements, most of them refused.
  EXPECT_GT(loads, 1000u);
  EXPECT_GT(errors, loads / 2);
}

TEST(SecretErrorsTest, MessagesNameTheReference) {
  LoadOptions options;
  options.environment = [](const std::string& name) -> std::optional<std::string> {
    return name == "SECRET" ? std::optional<std::string>("hunter2 but longer") : std::nullopt;
  };
  const std::string text = R"(Connections:
  - Name: c
    AuthorizationType: API_KEY
    AuthParameters: { ApiKeyAuthParameters: { ApiKeyName: k, ApiKeyValue: "${SECRET}" } }
Rules:
  - Name: r
    State: "${SECRET}"
    EventPattern: { source: [x] }
    Targets: [{ Id: "${SECRET}", Log: { Path: out.jsonl }, RetryPolicy: { MaximumRetryAttempts: "${SECRET}" } }]
)";
  LoadResult result = load_config_text(text, "n.yaml", options);
  ASSERT_EQ(result.errors.size(), 3u);
  EXPECT_EQ(result.errors[0].message, R"(must be one of ENABLED | DISABLED, got "${SECRET}")");
  EXPECT_EQ(result.errors[1].message,
            R"("${SECRET}" must be 1 to 64 characters of [.-_A-Za-z0-9])");
  EXPECT_EQ(result.errors[2].message, R"(must be an integer, got "${SECRET}")");
}

}  // namespace
}  // namespace hikyaku::config
