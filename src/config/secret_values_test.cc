// Config::secret_values(): every place a secret can be configured gives up its value.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "config/config.h"

namespace hikyaku::config {
namespace {

using ::testing::Contains;
using ::testing::Not;

LoadOptions no_environment() {
  LoadOptions options;
  options.environment = [](const std::string&) -> std::optional<std::string> {
    return std::nullopt;
  };
  return options;
}

TEST(SecretValuesTest, ListsEverySecretPlacement) {
  const std::string text = R"(Server:
  Listen: 0.0.0.0:4010
  Auth:
    SigV4: { Credentials: [{ AccessKeyId: AKIDPUBLIC, SecretAccessKey: sv-sigv4-secret }] }
    ApiKeys: [{ HeaderName: x-hook, Value: sv-hook-key }]
Connections:
  - Name: k
    AuthorizationType: API_KEY
    AuthParameters:
      ApiKeyAuthParameters: { ApiKeyName: x-api-key, ApiKeyValue: sv-api-key-value }
      InvocationHttpParameters:
        HeaderParameters: [{ Key: x-plain, Value: sv-marked-header, IsValueSecret: true },
                           { Key: x-visible, Value: public-header-value }]
        QueryStringParameters: [{ Key: q, Value: sv-marked-query, IsValueSecret: true },
                                { Key: access_token, Value: sv-named-query }]
        BodyParameters: [{ Key: b, Value: sv-marked-body, IsValueSecret: true }]
  - Name: b
    AuthorizationType: BASIC
    AuthParameters: { BasicAuthParameters: { Username: public-user, Password: sv-basic-password } }
  - Name: o
    AuthorizationType: OAUTH_CLIENT_CREDENTIALS
    AuthParameters:
      OAuthParameters:
        ClientParameters: { ClientID: public-client, ClientSecret: sv-client-secret }
        AuthorizationEndpoint: "https://auth.example/token?client_secret=sv-endpoint-secret"
        HttpMethod: POST
        OAuthHttpParameters:
          BodyParameters: [{ Key: audience, Value: sv-oauth-body, IsValueSecret: true }]
ApiDestinations:
  - Name: d1
    ConnectionName: k
    InvocationEndpoint: "https://sv-url-user:sv-url-password@h.example/a;apiKey=sv-matrix?x=public-x&apiKey=sv-query-key#token=sv-fragment"
    HttpMethod: POST
  - Name: d2
    ConnectionName: k
    InvocationEndpoint: "https://sv-url-token@h.example/b?api%4Bey=sv%2Dencoded"
    HttpMethod: POST
Rules:
  - Name: r
    EventPattern: { source: [x] }
    Targets:
      - Id: t
        ApiDestination: d1
        HttpParameters:
          HeaderParameters: { Authorization: sv-target-header, X-Path: $.detail.token }
)";
  LoadResult result = load_config_text(text, "s.yaml", no_environment());
  ASSERT_TRUE(result.ok()) << result.errors[0].to_string();
  const std::vector<std::string> values = result.config->secret_values();
  for (const char* expected :
       {"sv-sigv4-secret",  "sv-hook-key",        "sv-api-key-value", "sv-marked-header",
        "sv-marked-query",  "sv-named-query",     "sv-marked-body",   "sv-basic-password",
        "sv-client-secret", "sv-endpoint-secret", "sv-oauth-body",    "sv-url-user",
        "sv-url-password",  "sv-matrix",          "sv-query-key",     "sv-fragment",
        "sv-url-token",     "sv%2Dencoded",       "sv-encoded",       "sv-target-header"}) {
    EXPECT_THAT(values, Contains(std::string(expected)));
  }
  for (const char* public_value : {"AKIDPUBLIC", "public-header-value", "public-user",
                                   "public-client", "public-x", "$.detail.token", ""}) {
    EXPECT_THAT(values, Not(Contains(std::string(public_value))));
  }
  EXPECT_TRUE(std::is_sorted(
      values.begin(), values.end(),
      [](const std::string& a, const std::string& b) { return a.size() > b.size(); }));
  EXPECT_EQ(std::adjacent_find(values.begin(), values.end()), values.end());
}

TEST(SecretValuesTest, ListsEveryBacklogApiKeyButNotAnEmptyOne) {
  const std::string text = R"(Rules:
  - Name: r
    EventPattern: { source: [x] }
    Targets:
      - Id: one
        Backlog: { Endpoint: "https://a.backlog.com", ApiKey: sv-backlog-key-1, Project: SEC }
      - Id: two
        Backlog: { Endpoint: "https://b.backlog.jp", ApiKey: sv-backlog-key-2, Project: OPS }
      - Id: dry
        Backlog: { Project: SEC, DryRun: true }
)";
  LoadResult result = load_config_text(text, "s.yaml", no_environment());
  ASSERT_TRUE(result.ok()) << result.errors[0].to_string();
  const std::vector<std::string> values = result.config->secret_values();
  EXPECT_THAT(values, Contains(std::string("sv-backlog-key-1")));
  EXPECT_THAT(values, Contains(std::string("sv-backlog-key-2")));
  for (const char* public_value : {"SEC", "OPS", "https://a.backlog.com", ""}) {
    EXPECT_THAT(values, Not(Contains(std::string(public_value))));
  }
  const std::string described = describe(*result.config);
  EXPECT_EQ(described.find("sv-backlog-key"), std::string::npos) << described;
}

TEST(SecretValuesTest, DescribeShowsNoSecretValue) {
  const std::string text = R"(Connections:
  - Name: k
    AuthorizationType: API_KEY
    AuthParameters:
      ApiKeyAuthParameters: { ApiKeyName: x-api-key, ApiKeyValue: dv-api-key }
      InvocationHttpParameters:
        HeaderParameters: [{ Key: x-copy, Value: dv-api-key }]
ApiDestinations:
  - Name: d
    ConnectionName: k
    InvocationEndpoint: "https://h.example/p;pwd=dv-pwd?sig=dv-sig&api%4Bey=dv-encoded#apiKey=dv-frag"
    HttpMethod: POST
Rules:
  - Name: r
    EventPattern: { source: [x] }
    Targets: [{ Id: t, ApiDestination: d }]
)";
  LoadResult result = load_config_text(text, "s.yaml", no_environment());
  ASSERT_TRUE(result.ok()) << result.errors[0].to_string();
  const std::string described = describe(*result.config);
  for (const char* secret : {"dv-api-key", "dv-encoded", "dv-frag"}) {
    EXPECT_EQ(described.find(secret), std::string::npos) << secret << " in\n" << described;
  }
}

}  // namespace
}  // namespace hikyaku::config
