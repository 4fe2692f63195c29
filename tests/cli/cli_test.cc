// The `hikyaku` executable as a user runs it: exit codes, output, and no secret in any output.

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <string>
#include <thread>

#include "testing/backlog_standin.h"
#include "testing/process.h"
#include "testing/temp_dir.h"

namespace hikyaku {
namespace {

using testing::CommandResult;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::run_command;

constexpr const char* kExample =
    HIKYAKU_SOURCE_DIR "/examples/securityhub-backlog-apidestination.yaml";
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
  // The key is the connection's secret query parameter, not part of the URL.
  EXPECT_THAT(result.out,
              HasSubstr("POST https://acme.backlog.com/api/v2/issues (connection backlog, 1/s)"));
  EXPECT_THAT(result.out, HasSubstr("query apiKey: ***"));
  EXPECT_THAT(result.out, HasSubstr("dummy-key: ***"));
  EXPECT_THAT(result.out + result.err, Not(HasSubstr(kSecret)));
  EXPECT_THAT(result.out + result.err, Not(HasSubstr("dummy-value")));
  // The scenario's pattern is kept as it was, and validate says what it misses.
  EXPECT_THAT(result.err, HasSubstr("warning: " + std::string(kExample)));
  EXPECT_THAT(result.err, HasSubstr("Rules[0].EventPattern: detail.findings.Compliance.Status: "
                                    "anything-but never matches a missing field"));
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

TEST(CliTest, ValidateABacklogTargetShowsItWithoutItsKeyAndNamesEveryFault) {
  const std::string good = R"(Rules:
  - Name: findings
    EventPattern: { source: [aws.securityhub] }
    Targets:
      - Id: backlog
        Backlog:
          Endpoint: https://example.backlog.com
          ApiKey: ${HIKYAKU_TEST_BACKLOG_KEY}
          Project: SEC
          DryRun: ${HIKYAKU_TEST_DRY_RUN:-false}
)";
  const TempFile config(good);
  CommandResult valid = run_command({HIKYAKU_BINARY, "validate", "--config", config.path()},
                                    {{"HIKYAKU_TEST_BACKLOG_KEY", kSecret}});
  EXPECT_EQ(valid.exit_code, 0) << valid.err;
  EXPECT_THAT(valid.out, HasSubstr("target backlog -> backlog https://example.backlog.com "
                                   "project SEC, input: one issue per finding"));
  EXPECT_THAT(valid.out + valid.err, Not(HasSubstr(kSecret)));

  std::string bad = good;
  bad.replace(bad.find("Project: SEC"), 12, "Project: SEC\n          OnUpdate: NEVER");
  const TempFile broken(bad);
  CommandResult invalid =
      run_command({HIKYAKU_BINARY, "validate", "--config", broken.path()},
                  {{"HIKYAKU_TEST_BACKLOG_KEY", kSecret}, {"HIKYAKU_TEST_DRY_RUN", "sometimes"}});
  EXPECT_EQ(invalid.exit_code, 1);
  EXPECT_THAT(invalid.err, HasSubstr("Rules[0].Targets[0].Backlog.OnUpdate: rule \"findings\" "
                                     "target \"backlog\": must be COMMENT or IGNORE"));
  EXPECT_THAT(invalid.err, HasSubstr("Rules[0].Targets[0].Backlog.DryRun: rule \"findings\" "
                                     "target \"backlog\": must be true or false"));
  EXPECT_THAT(invalid.out + invalid.err, Not(HasSubstr(kSecret)));
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

// --- Every file a command reads has a cap ----------------------------------------------------

// A FIFO that a thread feeds without end (no newline) until the reader goes away: the kind of
// source no size check before reading can judge.
class EndlessFifo {
 public:
  EndlessFifo() : path_(directory_.file("endless")) {
    std::signal(SIGPIPE, SIG_IGN);  // the writer learns of the reader's exit through EPIPE
    EXPECT_EQ(::mkfifo(path_.c_str(), 0600), 0);
    writer_ = std::thread([this] {
      const int fd = ::open(path_.c_str(), O_WRONLY | O_CLOEXEC);  // waits for the reader
      if (fd < 0) {
        return;
      }
      const std::string chunk(64 * 1024, 'a');
      while (::write(fd, chunk.data(), chunk.size()) > 0) {
      }
      ::close(fd);
    });
  }
  ~EndlessFifo() {
    // Unblocks the writer if no reader ever opened the FIFO.
    const int fd = ::open(path_.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd >= 0) {
      ::close(fd);
    }
    writer_.join();
  }
  const std::string& path() const { return path_; }

 private:
  testing::TempDir directory_{"fifo"};
  std::string path_;
  std::thread writer_;
};

// A sparse regular file of `bytes` (cheap to make, expensive to read whole).
std::string sparse_file(const testing::TempDir& directory, const std::string& name, off_t bytes) {
  const std::string path = directory.file(name);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(::ftruncate(fd, bytes), 0);
  ::close(fd);
  return path;
}

constexpr const char* kArgumentLimit = "larger than the limit of 16777216 bytes";

TEST(CliFileCapTest, AtFileArgumentsAreCapped) {
  const testing::TempDir directory("caps");
  const std::string big = sparse_file(directory, "big.json", (off_t{16} << 20) + 1);
  for (const std::string& source : {std::string("/dev/zero"), big}) {
    SCOPED_TRACE(source);
    CommandResult pattern =
        run_command({HIKYAKU_BINARY, "test-pattern", "-p", "@" + source, "-e", "{}"});
    EXPECT_EQ(pattern.exit_code, 2);
    EXPECT_THAT(pattern.err, HasSubstr("cannot read " + source + ": " + kArgumentLimit));
    CommandResult event =
        run_command({HIKYAKU_BINARY, "test-pattern", "-p", "{}", "-e", "@" + source});
    EXPECT_THAT(event.err, HasSubstr(kArgumentLimit));
    CommandResult transform =
        run_command({HIKYAKU_BINARY, "transform", "--event", "@" + source, "--input-path", "$"});
    EXPECT_EQ(transform.exit_code, 2);
    EXPECT_THAT(transform.err, HasSubstr(kArgumentLimit));
    CommandResult template_file = run_command({HIKYAKU_BINARY, "transform", "--event", "{}",
                                               "--input-paths", "{}", "--template", "@" + source});
    EXPECT_THAT(template_file.err, HasSubstr(kArgumentLimit));
  }
  EndlessFifo fifo;
  CommandResult endless =
      run_command({HIKYAKU_BINARY, "test-pattern", "-p", "{}", "-e", "@" + fifo.path()});
  EXPECT_EQ(endless.exit_code, 2);
  EXPECT_THAT(endless.err, HasSubstr("cannot read " + fifo.path() + ": " + kArgumentLimit));
}

TEST(CliFileCapTest, BatchLinesAreCapped) {
  for (const char* command : {"test-pattern", "transform"}) {
    SCOPED_TRACE(command);
    CommandResult zero = run_command({HIKYAKU_BINARY, command, "--batch", "/dev/zero"});
    EXPECT_EQ(zero.exit_code, 2);
    EXPECT_THAT(
        zero.err,
        HasSubstr("cannot read /dev/zero: line 1 is longer than the limit of 16777216 bytes"));
    EndlessFifo fifo;
    CommandResult endless = run_command({HIKYAKU_BINARY, command, "--batch", fifo.path()});
    EXPECT_EQ(endless.exit_code, 2);
    EXPECT_THAT(endless.err, HasSubstr("line 1 is longer than the limit"));
  }
  // From stdin, after lines that are answered: they are, then the long one stops the batch.
  const std::string input =
      std::string(R"({"pattern": "{\"a\": [\"b\"]}", "event": "{\"a\": \"b\"}"})") + "\n" +
      std::string((size_t{16} << 20) + 1, 'x') + "\n";
  CommandResult stdin_batch =
      run_command({HIKYAKU_BINARY, "test-pattern", "--batch", "-"}, {}, input);
  EXPECT_EQ(stdin_batch.exit_code, 2);
  EXPECT_EQ(stdin_batch.out, "match\n");
  EXPECT_THAT(stdin_batch.err, HasSubstr("cannot read stdin: line 2 is longer than the limit"));
  CommandResult folder = run_command({HIKYAKU_BINARY, "transform", "--batch", "/"});
  EXPECT_EQ(folder.exit_code, 2);
  EXPECT_THAT(folder.err, HasSubstr("cannot read /: it is a directory"));
}

TEST(CliFileCapTest, SendEventFilesAndConfigFilesAreCapped) {
  const testing::TempDir directory("caps");
  const std::string big = sparse_file(directory, "big.json", (off_t{1} << 20) + 1);  // 1 MiB + 1
  for (const std::string& source : {std::string("/dev/zero"), big}) {
    CommandResult send =
        run_command({HIKYAKU_BINARY, "send", "--endpoint", "http://127.0.0.1:9", source});
    EXPECT_EQ(send.exit_code, 2);
    EXPECT_THAT(send.err, HasSubstr("cannot read " + source + ": larger than the limit of"));
  }
  const std::string big_config = sparse_file(directory, "big.yaml", (off_t{4} << 20) + 1);
  for (const std::string& source : {std::string("/dev/zero"), big_config}) {
    CommandResult validate = run_command({HIKYAKU_BINARY, "validate", "--config", source});
    EXPECT_EQ(validate.exit_code, 1);
    EXPECT_THAT(validate.err, HasSubstr("larger than the limit of 4194304 bytes"));
  }
  EndlessFifo fifo;
  CommandResult endless = run_command({HIKYAKU_BINARY, "validate", "--config", fifo.path()});
  EXPECT_EQ(endless.exit_code, 1);
  EXPECT_THAT(endless.err, HasSubstr("larger than the limit of 4194304 bytes"));
}

// --- validate refuses what serve refuses ------------------------------------------------------

TEST(CliValidateTest, RefusesWhatServeRefuses) {
  const std::string rules =
      "Rules:\n  - Name: r\n    EventPattern: { source: [x] }\n"
      "    Targets: [{ Id: t, Log: { Path: out.jsonl } }]\n";
  for (const char* listen :
       {"0.0.0.0:4010", "[::]:4010", "[::ffff:127.0.0.1]:4010", "127.1:4010"}) {
    SCOPED_TRACE(listen);
    TempFile config("Server: { Listen: \"" + std::string(listen) + "\" }\n" + rules);
    CommandResult result = run_command({HIKYAKU_BINARY, "validate", "--config", config.path()});
    EXPECT_EQ(result.exit_code, 1);
    EXPECT_THAT(result.err, HasSubstr(":1:19: Server.Listen: "));
  }
  for (const char* path : {"/etc/passwd", "/proc/self/mem", ""}) {
    SCOPED_TRACE(path);
    TempFile config("Store: { Sqlite: { Path: \"" + std::string(path) + "\" } }\n" + rules);
    CommandResult result = run_command({HIKYAKU_BINARY, "validate", "--config", config.path()});
    EXPECT_EQ(result.exit_code, 1);
    EXPECT_THAT(result.err, HasSubstr("Store.Sqlite.Path: "));
  }
}

// --- Store.Jetstream: validated offline; serve fails fast when the cluster is unreachable ------

TEST(CliJetstreamTest, ValidateChecksItAndServeFailsFastOnAnUnreachableClusterWithoutTheToken) {
  const testing::TempDir work("jetstream-cli");
  const std::string rules =
      "Rules:\n  - Name: r\n    EventPattern: { source: [x] }\n"
      "    Targets: [{ Id: t, Log: { Path: " +
      work.file("out.jsonl") + " } }]\n";
  TempFile config(
      "Store:\n  Jetstream:\n    Servers: [nats://127.0.0.1:1]\n"
      "    Token: \"${HIKYAKU_TEST_NATS_TOKEN}\"\n" +
      rules);
  const std::vector<std::pair<std::string, std::string>> environment = {
      {"HIKYAKU_TEST_NATS_TOKEN", kSecret}};
  CommandResult validate =
      run_command({HIKYAKU_BINARY, "validate", "--config", config.path()}, environment);
  EXPECT_EQ(validate.exit_code, 0) << validate.err;
  EXPECT_THAT(validate.out, HasSubstr("store: jetstream nats://127.0.0.1:1 (3 replicas, "
                                      "stream prefix HIKYAKU, token ***, no TLS)"));

  CommandResult serve =
      run_command({HIKYAKU_BINARY, "serve", "--config", config.path()}, environment);
  EXPECT_EQ(serve.exit_code, 1);
  // Nothing listens on port 1: the connection is refused at once.
  EXPECT_THAT(serve.err, HasSubstr("store JetStream HIKYAKU on nats://127.0.0.1:1: JetStream: "
                                   "cannot connect to nats://127.0.0.1:1"));
  EXPECT_THAT(serve.out, Not(HasSubstr("listening")));
  EXPECT_THAT(validate.out + validate.err + serve.out + serve.err, Not(HasSubstr(kSecret)));

  TempFile both("Store:\n  Sqlite: { Path: " + work.file("h.db") +
                " }\n  Jetstream: { Servers: [nats://127.0.0.1:4222] }\n" + rules);
  CommandResult refused = run_command({HIKYAKU_BINARY, "validate", "--config", both.path()});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr(":3:14: Store.Jetstream: Store names both Sqlite and "
                                     "Jetstream: give one of them"));
}

TEST(CliValidateTest, AliasBombIsRefusedAtItsKey) {
  std::string text = "Rules:\n  - Name: r\n    EventPattern:\n      l0: &l0 [lol]\n";
  for (int level = 1; level < 9; ++level) {
    text += "      l" + std::to_string(level) + ": &l" + std::to_string(level) + " [";
    for (int i = 0; i < 10; ++i) {
      text += (i == 0 ? "*l" : ", *l") + std::to_string(level - 1);
    }
    text += "]\n";
  }
  text += "    Targets: [{ Id: t, Log: { Path: out.jsonl } }]\n";
  TempFile config(text);
  CommandResult result = run_command({HIKYAKU_BINARY, "validate", "--config", config.path()});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr(": Rules[0].EventPattern.l"));
  EXPECT_THAT(result.err, HasSubstr("expands to more than 4194304 bytes through YAML aliases"));
}

TEST(CliValidateTest, FileReferencesOutsideTheConfigFolderNeedTheFlag) {
  const testing::TempDir outside("outside");
  const std::string secret_file = outside.write("key.txt", std::string(kSecret) + "\n");
  TempFile config(R"(Connections:
  - Name: c
    AuthorizationType: API_KEY
    AuthParameters: { ApiKeyAuthParameters: { ApiKeyName: k, ApiKeyValue: "${file:)" +
                  secret_file + R"(}" } }
Rules:
  - Name: r
    State: "${file:)" +
                  secret_file + R"(}"
    EventPattern: { source: [x] }
    Targets: [{ Id: t, Log: { Path: out.jsonl } }]
)");
  CommandResult refused = run_command({HIKYAKU_BINARY, "validate", "--config", config.path()});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr("absolute paths are refused"));
  EXPECT_THAT(refused.err, HasSubstr("--allow-file-references-outside-config-dir"));
  CommandResult allowed = run_command({HIKYAKU_BINARY, "validate", "--config", config.path(),
                                       "--allow-file-references-outside-config-dir"});
  EXPECT_EQ(allowed.exit_code, 1);  // the State is still wrong, and says so without the value
  EXPECT_THAT(allowed.err, HasSubstr("Rules[0].State: must be one of ENABLED | DISABLED, got "
                                     "\"${file:" +
                                     secret_file + "}\""));
  EXPECT_THAT(refused.out + refused.err + allowed.out + allowed.err, Not(HasSubstr(kSecret)));
}

// --- validate --strict and warnings ---------------------------------------------------------

constexpr std::string_view kNoWarnings = R"(Connections:
  - Name: c
    AuthorizationType: API_KEY
    AuthParameters:
      ApiKeyAuthParameters: { ApiKeyName: x-key, ApiKeyValue: "${HIKYAKU_TEST_KEY}" }
ApiDestinations:
  - Name: d
    ConnectionName: c
    InvocationEndpoint: https://h.example/x?projectId=1
    HttpMethod: POST
Rules:
  - Name: r
    EventPattern: { source: [aws.securityhub] }
    Targets: [{ Id: t, ApiDestination: d }]
)";

TEST(CliValidateTest, StrictExitsZeroWithoutWarnings) {
  TempFile config(kNoWarnings);
  CommandResult result =
      run_command({HIKYAKU_BINARY, "validate", "--strict", "--config", config.path()},
                  {{"HIKYAKU_TEST_KEY", kSecret}});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.err, "");
  EXPECT_THAT(result.out, HasSubstr("is valid"));
}

TEST(CliValidateTest, StrictExitsOneOnAnyWarning) {
  std::string text(kNoWarnings);
  text.replace(text.find("?projectId=1"), 12, "?projectId=1&apiKey=${HIKYAKU_TEST_KEY}");
  TempFile config(text);
  CommandResult lenient = run_command({HIKYAKU_BINARY, "validate", "--config", config.path()},
                                      {{"HIKYAKU_TEST_KEY", kSecret}});
  EXPECT_EQ(lenient.exit_code, 0) << lenient.err;
  EXPECT_THAT(lenient.err, HasSubstr("warning: " + config.path() +
                                     ":7:5: ApiDestinations[0].InvocationEndpoint: the URL "
                                     "carries the credential-like query parameter \"apiKey\""));
  EXPECT_THAT(lenient.out, HasSubstr("is valid"));

  CommandResult strict =
      run_command({HIKYAKU_BINARY, "validate", "--config", config.path(), "--strict"},
                  {{"HIKYAKU_TEST_KEY", kSecret}});
  EXPECT_EQ(strict.exit_code, 1);
  EXPECT_THAT(strict.err, HasSubstr("ApiDestinations[0].InvocationEndpoint"));
  EXPECT_THAT(strict.err, HasSubstr(config.path() + ": 1 warning, and --strict fails on any"));
  EXPECT_EQ(strict.out, "");
  EXPECT_THAT(lenient.out + lenient.err + strict.out + strict.err, Not(HasSubstr(kSecret)));
}

// Secrets written into endpoint URLs in every way a user might: from the environment, inline,
// percent-encoded name, userinfo. None reaches validate's output, warnings included.
TEST(CliValidateTest, NoSecretOfAnEndpointUrlInValidateOutput) {
  const std::string inline_token = "tok-Inline-55aa66bb77cc";
  const std::string inline_key = "key-Encoded-88dd99ee00ff";
  const std::string password = "pw-Userinfo-11223344aabb";
  TempFile config(R"(Connections:
  - Name: c
    AuthorizationType: API_KEY
    AuthParameters: { ApiKeyAuthParameters: { ApiKeyName: x-key, ApiKeyValue: dummy-value } }
ApiDestinations:
  - Name: env
    ConnectionName: c
    InvocationEndpoint: "https://h.example/x?apiKey=${HIKYAKU_TEST_KEY}&a=1"
    HttpMethod: POST
  - Name: inline
    ConnectionName: c
    InvocationEndpoint: "https://h.example/x?access_token=)" +
                  inline_token + R"(;api%4Bey=)" + inline_key + R"("
    HttpMethod: POST
  - Name: userinfo
    ConnectionName: c
    InvocationEndpoint: "https://bot:)" +
                  password + R"(@h.example/x"
    HttpMethod: POST
Rules:
  - Name: r
    EventPattern: { source: [x] }
    Targets: [{ Id: t, ApiDestination: env }, { Id: u, ApiDestination: inline },
              { Id: v, ApiDestination: userinfo }]
)");
  for (const bool strict : {false, true}) {
    std::vector<std::string> arguments = {HIKYAKU_BINARY, "validate", "--config", config.path()};
    if (strict) {
      arguments.emplace_back("--strict");
    }
    CommandResult result = run_command(arguments, {{"HIKYAKU_TEST_KEY", kSecret}});
    EXPECT_EQ(result.exit_code, strict ? 1 : 0) << result.err;
    // One warning per credential: apiKey, access_token, api%4Bey, the userinfo.
    size_t warnings = 0;
    for (size_t at = result.err.find("warning: "); at != std::string::npos;
         at = result.err.find("warning: ", at + 1)) {
      ++warnings;
    }
    EXPECT_EQ(warnings, 4u) << result.err;
    const std::string all = result.out + result.err;
    for (const std::string& secret : {std::string(kSecret), inline_token, inline_key, password}) {
      EXPECT_THAT(all, Not(HasSubstr(secret))) << all;
    }
  }
}

// --- hikyaku backlog lookup ----------------------------------------------------------------

class CliBacklogLookupTest : public ::testing::Test {
 protected:
  static testing::BacklogStandIn::Options options() {
    testing::BacklogStandIn::Options options;
    options.api_key = kSecret;
    options.custom_fields = {{4'000'000'007, 6, "Affected resources", true}};
    return options;
  }
  CommandResult lookup(std::vector<std::string> extra, const std::string& key = kSecret) {
    std::vector<std::string> argv = {HIKYAKU_BINARY, "backlog",         "lookup",
                                     "--endpoint",   backlog_.url("/"), "--project"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return run_command(argv, {{"BACKLOG_API_KEY", key}});
  }

  testing::BacklogStandIn backlog_{options()};
};

TEST_F(CliBacklogLookupTest, JsonCarriesEveryIdAndNotTheKey) {
  CommandResult result = lookup({"SEC", "--json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.err, "");
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(result.out).get(root), simdjson::SUCCESS) << result.out;
  EXPECT_EQ(int64_t(root["project"]["id"]), 1073741901);
  EXPECT_EQ(std::string_view(root["project"]["key"]), "SEC");
  EXPECT_EQ(std::string_view(root["project"]["name"]), "Security findings");
  EXPECT_EQ(std::string_view(root["project"]["textFormattingRule"]), "markdown");
  simdjson::dom::array types = root["issueTypes"];
  ASSERT_EQ(types.size(), 4u);
  EXPECT_EQ(int64_t(types.at(0)["id"]), 1073742001);
  EXPECT_EQ(std::string_view(types.at(0)["name"]), "Bug");
  EXPECT_EQ(simdjson::dom::array(root["priorities"]).size(), 3u);
  EXPECT_EQ(int64_t(root["priorities"].at(0)["id"]), 2);
  EXPECT_EQ(simdjson::dom::array(root["statuses"]).size(), 4u);
  EXPECT_EQ(std::string_view(root["statuses"].at(3)["name"]), "Closed");
  EXPECT_EQ(simdjson::dom::array(root["resolutions"]).size(), 5u);
  EXPECT_EQ(int64_t(root["resolutions"].at(0)["id"]), 0);
  simdjson::dom::array fields = root["customFields"];
  ASSERT_EQ(fields.size(), 1u);
  EXPECT_EQ(int64_t(fields.at(0)["id"]), 4'000'000'007);
  EXPECT_EQ(std::string_view(fields.at(0)["name"]), "Affected resources");
  EXPECT_EQ(int64_t(fields.at(0)["typeId"]), 6);
  EXPECT_EQ(bool(fields.at(0)["required"]), true);
  EXPECT_THAT(result.out + result.err, Not(HasSubstr(kSecret)));
}

TEST_F(CliBacklogLookupTest, TableListsTheIds) {
  CommandResult result = lookup({"SEC"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("Project SEC (id 1073741901): Security findings\n"));
  EXPECT_THAT(result.out, HasSubstr("Text formatting rule: markdown\n"));
  EXPECT_THAT(result.out, HasSubstr("Issue types:\n  1073742001  Bug\n"));
  EXPECT_THAT(result.out, HasSubstr("Priorities:\n  2  High\n"));
  EXPECT_THAT(result.out, HasSubstr("Statuses:\n  1  Open\n"));
  EXPECT_THAT(result.out, HasSubstr("Resolutions:\n  0  Fixed\n"));
  EXPECT_THAT(result.out,
              HasSubstr("Custom fields:\n  4000000007  Affected resources (type 6, required)\n"));
  EXPECT_THAT(result.out + result.err, Not(HasSubstr(kSecret)));
}

TEST_F(CliBacklogLookupTest, FailuresPrintTheClientsMessageWithoutTheKey) {
  CommandResult unknown = lookup({"NOPE", "--json"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_EQ(unknown.out, "");
  EXPECT_EQ(unknown.err,
            "error: Backlog refused GET /api/v2/projects/NOPE: HTTP 404, NoResourceError (code 6): "
            "No project.\n");

  const std::string wrong_key = std::string(kSecret) + "-old";
  CommandResult refused = lookup({"SEC"}, wrong_key);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr("error: Backlog refused GET /api/v2/projects/SEC: HTTP 401, "
                                     "AuthenticationError (code 11)"));
  EXPECT_THAT(refused.out + refused.err, Not(HasSubstr(kSecret)));
}

TEST_F(CliBacklogLookupTest, AMissingKeyIsBadInput) {
  CommandResult result = lookup({"SEC"}, "");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("error: set BACKLOG_API_KEY"));
  EXPECT_EQ(backlog_.requests().size(), 0u);

  CommandResult usage = run_command({HIKYAKU_BINARY, "backlog", "lookup", "--project", "SEC"},
                                    {{"BACKLOG_API_KEY", kSecret}});
  EXPECT_EQ(usage.exit_code, 2);
  EXPECT_THAT(usage.err, HasSubstr("--endpoint is required"));
}

}  // namespace
}  // namespace hikyaku
