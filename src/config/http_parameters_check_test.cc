// internal/http_parameters_check.h: targets' HttpParameters that could never be sent.

#include "config/internal/http_parameters_check.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace hikyaku::config::internal {
namespace {

using ::testing::HasSubstr;

std::string config_with(std::string_view endpoint, std::string_view http_parameters) {
  return std::string(R"(Connections:
  - Name: c
    AuthorizationType: API_KEY
    AuthParameters:
      ApiKeyAuthParameters: { ApiKeyName: k, ApiKeyValue: v }
ApiDestinations:
  - Name: d
    ConnectionName: c
    InvocationEndpoint: )") +
         std::string(endpoint) + R"(
    HttpMethod: POST
Rules:
  - Name: r
    EventPattern: { source: [s] }
    Targets:
      - Id: t
        ApiDestination: d
        HttpParameters: )" +
         std::string(http_parameters) + "\n";
}

// The errors of a config that is valid but for its HttpParameters: check_http_parameters()'s
// (the loader runs it once every other check passed).
std::vector<ConfigError> check(std::string_view endpoint, std::string_view http_parameters) {
  return load_config_text(config_with(endpoint, http_parameters), "test.yaml").errors;
}

TEST(HttpParametersCheckTest, ValidParametersPass) {
  EXPECT_TRUE(check("https://example.com/a/*/b/*?q=*",
                    R"({ PathParameterValues: ["$.detail.key", literal],
                         HeaderParameters: { X-Finding: "$.detail.findings[0].Id", X-Team: sec },
                         QueryStringParameters: { s: "$.detail.severity" } })")
                  .empty());
}

TEST(HttpParametersCheckTest, WildcardCountMustMatchThePathOnly) {
  std::vector<ConfigError> errors =
      check("https://example.com/a/*/b/*?q=*", R"({ PathParameterValues: [secret-value] })");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].key_path, "Rules[0].Targets[0].HttpParameters.PathParameterValues");
  EXPECT_THAT(errors[0].message, HasSubstr("has 1 value but API destination d's"));
  EXPECT_THAT(errors[0].message, HasSubstr("has 2 `*` wildcards"));
  EXPECT_THAT(errors[0].message, ::testing::Not(HasSubstr("secret-value")));
  EXPECT_EQ(check("https://example.com/a", R"({ PathParameterValues: [x] })").size(), 1u);
}

TEST(HttpParametersCheckTest, BadPathsSegmentsAndHeadersAreErrors) {
  std::vector<ConfigError> errors = check("https://example.com/*/*/*",
                                          R"({ PathParameterValues: ["$.detail[x", "..", ""],
                 HeaderParameters: { "X Bad": v, X-Path: "$.a b" },
                 QueryStringParameters: { q: "$.detail..x" } })");
  std::vector<std::string> paths;
  for (const ConfigError& error : errors) {
    paths.push_back(error.key_path);
  }
  EXPECT_THAT(paths, ::testing::UnorderedElementsAre(
                         "Rules[0].Targets[0].HttpParameters.PathParameterValues[0]",
                         "Rules[0].Targets[0].HttpParameters.PathParameterValues[1]",
                         "Rules[0].Targets[0].HttpParameters.PathParameterValues[2]",
                         "Rules[0].Targets[0].HttpParameters.HeaderParameters.X Bad",
                         "Rules[0].Targets[0].HttpParameters.HeaderParameters.X-Path",
                         "Rules[0].Targets[0].HttpParameters.QueryStringParameters.q"));
}

}  // namespace
}  // namespace hikyaku::config::internal
