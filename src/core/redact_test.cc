#include "core/redact.h"

#include <gtest/gtest.h>

#include "core/secret.h"

namespace hikyaku {
namespace {

TEST(RedactUrlTest, MasksBacklogApiKey) {
  EXPECT_EQ(redact_url("https://example.backlog.com/api/v2/issues?apiKey=s3cr3t"),
            "https://example.backlog.com/api/v2/issues?apiKey=***");
}

TEST(RedactUrlTest, MasksOnlySecretParametersAndKeepsOrder) {
  EXPECT_EQ(redact_url("https://h/p?projectId=1&apiKey=abc&access_token=t&count=2#frag"),
            "https://h/p?projectId=1&apiKey=***&access_token=***&count=2#frag");
}

TEST(RedactUrlTest, MasksUserinfoPassword) {
  EXPECT_EQ(redact_url("https://alice:pw@h.example/x"), "https://alice:***@h.example/x");
  EXPECT_EQ(redact_url("https://alice@h.example/x"), "https://alice@h.example/x");
}

TEST(RedactUrlTest, LeavesHarmlessUrlsAlone) {
  EXPECT_EQ(redact_url("https://h.example/api/v2/issues"), "https://h.example/api/v2/issues");
  EXPECT_EQ(redact_url("https://h.example/p?apiKey="), "https://h.example/p?apiKey=");
  EXPECT_EQ(redact_url(""), "");
}

TEST(RedactUrlTest, SecretNeverSurvivesInAnyPosition) {
  const std::string secret = "ZZsecretZZ";
  for (const std::string& url : {"https://h/?apiKey=" + secret, "https://h/?a=1&APIKEY=" + secret,
                                 "https://u:" + secret + "@h/", "https://h/?token=" + secret + "#x",
                                 "https://h/?x-amz-signature=" + secret}) {
    EXPECT_EQ(redact_url(url).find(secret), std::string::npos) << url;
  }
}

TEST(SecretParameterNameTest, RecognisesCredentialNames) {
  EXPECT_TRUE(is_secret_parameter_name("apiKey"));
  EXPECT_TRUE(is_secret_parameter_name("Authorization"));
  EXPECT_TRUE(is_secret_parameter_name("client_secret"));
  EXPECT_FALSE(is_secret_parameter_name("projectId"));
  EXPECT_FALSE(is_secret_parameter_name("summary"));
}

TEST(SecretTest, FormatsAsMask) {
  Secret secret("hunter2");
  EXPECT_EQ(fmt::format("{}", secret), "***");
  EXPECT_EQ(fmt::format("{}", Secret()), "");
  EXPECT_EQ(secret.reveal(), "hunter2");
}

}  // namespace
}  // namespace hikyaku
