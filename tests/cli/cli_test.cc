// The `hikyaku` executable as a user runs it: exit codes, output, and no secret in any output.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include "testing/process.h"
#include "testing/temp_dir.h"

namespace hikyaku {
namespace {

using testing::CommandResult;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::run_command;

constexpr const char* kExample = HIKYAKU_SOURCE_DIR "/examples/securityhub-backlog.yaml";
constexpr const char* kSecret = "bk-Z9x8Y7w6-very-secret";

// A config file in a directory of its own, removed with the object.
class TempFile {
 public:
  explicit TempFile(std::string_view contents) : path_(directory_.write("config.yaml", contents)) {}
  const std::string& path() const { return path_; }

 private:
  testing::TempDir directory_{"cli"};
  std::string path_;
};

TEST(CliTest, VersionAndHelp) {
  CommandResult version = run_command({HIKYAKU_BINARY, "--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_THAT(version.out, HasSubstr("hikyaku "));

  CommandResult help = run_command({HIKYAKU_BINARY, "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("validate"));
}

TEST(CliTest, ValidateExamplePrintsSummaryWithKeyMasked) {
  CommandResult result =
      run_command({HIKYAKU_BINARY, "validate", "--config", kExample},
                  {{"BACKLOG_API_KEY", kSecret}, {"BACKLOG_HOST", "acme.backlog.com"}});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("is valid"));
  EXPECT_THAT(result.out, HasSubstr("securityhub-to-backlog"));
  EXPECT_THAT(result.out, HasSubstr("https://acme.backlog.com/api/v2/issues?apiKey=***"));
  EXPECT_THAT(result.out, HasSubstr("dummy-key: ***"));
  EXPECT_THAT(result.out + result.err, Not(HasSubstr(kSecret)));
  EXPECT_THAT(result.out + result.err, Not(HasSubstr("dummy-value")));
}

TEST(CliTest, InvalidConfigListsEveryErrorAndExitsOne) {
  TempFile config(R"(Rules:
  - Name: r
    EventPatern: { source: [x] }
    Targets:
      - Id: t
        ApiDestination: nowhere
)");
  CommandResult result = run_command({HIKYAKU_BINARY, "validate", "--config", config.path()});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr(config.path() + ":3:5: Rules[0].EventPatern: unknown key (did "
                                                    "you mean \"EventPattern\"?)"));
  EXPECT_THAT(result.err, HasSubstr("Rules[0].EventPattern: is required"));
  EXPECT_THAT(result.err, HasSubstr("2 errors; nothing was started"));
  EXPECT_EQ(result.out, "");
}

TEST(CliTest, MissingEnvironmentVariableIsNamedAndSecretsStayHidden) {
  TempFile config(R"(Connections:
  - Name: c
    AuthorizationType: BASIC
    AuthParameters:
      BasicAuthParameters: { Username: u, Password: "${HIKYAKU_TEST_PASSWORD}" }
ApiDestinations:
  - Name: d
    ConnectionName: c
    InvocationEndpoint: https://h.example/x?apiKey=${HIKYAKU_TEST_UNSET_KEY}
    HttpMethod: POST
Rules:
  - Name: r
    EventPattern: { source: [x] }
    Targets: [{ Id: t, ApiDestination: d }]
)");
  CommandResult result = run_command({HIKYAKU_BINARY, "validate", "--config", config.path()},
                                     {{"HIKYAKU_TEST_PASSWORD", kSecret}});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("environment variable HIKYAKU_TEST_UNSET_KEY is not set"));
  EXPECT_THAT(result.out + result.err, Not(HasSubstr(kSecret)));
}

TEST(CliTest, UsageErrorsExitTwo) {
  CommandResult missing = run_command({HIKYAKU_BINARY, "validate"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr("--config is required"));

  CommandResult unknown = run_command({HIKYAKU_BINARY, "frobnicate"});
  EXPECT_EQ(unknown.exit_code, 2);
}

TEST(CliTest, UnreadableConfig) {
  CommandResult result = run_command({HIKYAKU_BINARY, "validate", "--config", "/nonexistent.yaml"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("/nonexistent.yaml: cannot open the config file"));
}

// --- hikyaku transform (issue 4 contract) ---------------------------------------------------

TEST(CliTransformTest, RendersValidJsonFromHostileFindingText) {
  const std::string sample = std::string(HIKYAKU_TEST_DATA_DIR) +
                             "/data/securityhub/13-custom-unicode-japanese-quotes-newlines.json";
  CommandResult result = run_command(
      {HIKYAKU_BINARY, "transform", "--event", "@" + sample, "--input-paths",
       R"({"Summary": "$.detail.findings[0].Title", "Description": "$.detail.findings[0].Description"})",
       "--template",
       R"({"summary": <Summary>, "description": "Description:<br /><Description>"})"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  simdjson::dom::parser parser;
  simdjson::dom::element body;
  ASSERT_EQ(parser.parse(result.out).get(body), simdjson::SUCCESS) << result.out;
  simdjson::dom::parser event_parser;
  simdjson::dom::element event = event_parser.load(sample);
  const std::string_view title = event["detail"]["findings"].at(0)["Title"];
  const std::string_view description = event["detail"]["findings"].at(0)["Description"];
  EXPECT_EQ(std::string_view(body["summary"]), title);
  EXPECT_EQ(std::string_view(body["description"]), "Description:<br />" + std::string(description));
  EXPECT_EQ(result.err, "");
}

TEST(CliTransformTest, BadTemplateIsAnErrorWithExitTwo) {
  CommandResult result = run_command({HIKYAKU_BINARY, "transform", "--event", "{}", "--input-paths",
                                      R"({"t": "$.detail.t"})", "--template", R"({"x": <tt>})"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("error: "));
  EXPECT_THAT(result.err, HasSubstr("did you mean <t>"));
  EXPECT_EQ(result.out, "");
}

TEST(CliTransformTest, BatchAnswersOneJsonLinePerInputLine) {
  const std::string input =
      R"({"event": "{\"detail\":{\"a\":\"b\"}}", "input_transformer": {"InputPathsMap": {"a": "$.detail.a"}, "InputTemplate": "<a> here"}})"
      "\n"
      R"({"event": "not json", "input_path": "$.detail"})"
      "\n";
  CommandResult result = run_command({HIKYAKU_BINARY, "transform", "--batch", "-"}, {}, input);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("{\"output\":\"b here\"}\n"));
  EXPECT_THAT(result.out, HasSubstr("{\"error\":\"event: "));
  EXPECT_EQ(std::count(result.out.begin(), result.out.end(), '\n'), 2);
}

}  // namespace
}  // namespace hikyaku
