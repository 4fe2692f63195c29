// ApiDestinations[].TimeoutSeconds and Tls.CaFile: hikyaku's keys for a destination's timeout and
// a private CA.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "config/config.h"
#include "testing/temp_dir.h"

namespace hikyaku::config {
namespace {

using ::testing::HasSubstr;

std::string config_with(std::string_view destination_extra) {
  return std::string(R"(Connections:
  - Name: c
    AuthorizationType: API_KEY
    AuthParameters:
      ApiKeyAuthParameters: { ApiKeyName: k, ApiKeyValue: v }
ApiDestinations:
  - Name: d
    ConnectionName: c
    InvocationEndpoint: https://example.com/hook
    HttpMethod: POST
)") + std::string(destination_extra) +
         R"(Rules:
  - Name: r
    EventPattern: { source: [s] }
    Targets: [{ Id: t, ApiDestination: d }]
)";
}

LoadResult load(std::string_view destination_extra) {
  return load_config_text(config_with(destination_extra), "test.yaml");
}

std::string errors_of(const LoadResult& result) {
  std::string text;
  for (const ConfigError& error : result.errors) {
    text += error.to_string() + "\n";
  }
  return text;
}

TEST(ApiDestinationConfigTest, DefaultsAreFiveSecondsAndTheSystemTrustStore) {
  LoadResult result = load("");
  ASSERT_TRUE(result.ok()) << errors_of(result);
  EXPECT_EQ(result.config->api_destinations[0].timeout_seconds, 5);
  EXPECT_EQ(result.config->api_destinations[0].ca_file, "");
}

TEST(ApiDestinationConfigTest, TimeoutSecondsFromOneToTwenty) {
  for (int seconds : {1, 5, 20}) {
    LoadResult result = load("    TimeoutSeconds: " + std::to_string(seconds) + "\n");
    ASSERT_TRUE(result.ok()) << errors_of(result);
    EXPECT_EQ(result.config->api_destinations[0].timeout_seconds, seconds);
  }
  for (const char* bad : {"0", "21", "-1", "2.5", "soon"}) {
    LoadResult result = load(std::string("    TimeoutSeconds: ") + bad + "\n");
    ASSERT_EQ(result.errors.size(), 1u) << bad;
    EXPECT_EQ(result.errors[0].key_path, "ApiDestinations[0].TimeoutSeconds") << bad;
  }
}

TEST(ApiDestinationConfigTest, CaFileMustBeAReadableRegularFile) {
  testing::TempDir dir("ca-file");
  const std::string ca = dir.write("ca.pem", "-----BEGIN CERTIFICATE-----\n");
  LoadResult result = load("    Tls: { CaFile: " + ca + " }\n");
  ASSERT_TRUE(result.ok()) << errors_of(result);
  EXPECT_EQ(result.config->api_destinations[0].ca_file, ca);

  LoadResult missing = load("    Tls: { CaFile: " + dir.file("missing.pem") + " }\n");
  ASSERT_EQ(missing.errors.size(), 1u);
  EXPECT_EQ(missing.errors[0].key_path, "ApiDestinations[0].Tls.CaFile");
  EXPECT_THAT(missing.errors[0].message, HasSubstr("No such file or directory"));
  EXPECT_EQ(missing.errors[0].location.line, 11);

  LoadResult folder = load("    Tls: { CaFile: " + dir.path() + " }\n");
  ASSERT_EQ(folder.errors.size(), 1u);
  EXPECT_THAT(folder.errors[0].message, HasSubstr("is not a regular file"));
  LoadResult device = load("    Tls: { CaFile: /dev/null }\n");
  ASSERT_EQ(device.errors.size(), 1u);
  EXPECT_THAT(device.errors[0].message, HasSubstr("is not a regular file"));
}

TEST(ApiDestinationConfigTest, TlsTakesOnlyCaFile) {
  LoadResult empty = load("    Tls: {}\n");
  ASSERT_EQ(empty.errors.size(), 1u);
  EXPECT_EQ(empty.errors[0].key_path, "ApiDestinations[0].Tls.CaFile");
  LoadResult typo = load("    Tls: { CAFile: ca.pem }\n");
  ASSERT_FALSE(typo.ok());
  EXPECT_THAT(errors_of(typo), HasSubstr("did you mean \"CaFile\"?"));
}

}  // namespace
}  // namespace hikyaku::config
