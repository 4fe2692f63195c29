// Security Hub findings into Backlog issues through the real server: the AWS CLI and the webhook
// publish the sample events, `hikyaku serve` runs the Backlog target against the Backlog stand-in
// over loopback, and the stand-in's issues show what a Backlog space would hold.

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "core/json_writer.h"
#include "testing/backlog_standin.h"
#include "testing/http_client.h"
#include "testing/process.h"
#include "testing/securityhub_samples.h"
#include "testing/temp_dir.h"
#include "testing/wait.h"

namespace hikyaku {
namespace {

using testing::BacklogIssue;
using testing::BacklogStandIn;
using testing::ChildProcess;
using testing::CommandResult;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::read_file;
using testing::run_command;
using testing::sample_path;
using testing::wait_for;

constexpr const char* kAccessKey = "AKIDHIKYAKUBACKLOG";
constexpr const char* kSecretKey = "hikyaku-sigv4-secret-41c2";
constexpr const char* kWebhookKey = "webhook-key-9d3e";
constexpr const char* kBacklogKey = "backlog-api-key-e7b1f0";
constexpr const char* kTarget = "default/findings/backlog";

// The value of one metrics line ("name{labels} value"), 0 when absent.
int64_t metric(const std::string& text, const std::string& line_start) {
  const std::string line = "\n" + line_start + " ";
  const size_t at = ("\n" + text).find(line);
  return at == std::string::npos ? 0 : std::stoll(text.substr(at + line.size() - 1));
}

class BacklogServeTest : public ::testing::Test {
 protected:
  void TearDown() override { server_.reset(); }

  // The server's config: SigV4 and webhook keys, every Security Hub finding event to a Backlog
  // target on the stand-in. `create_when` (YAML flow mapping) replaces the default CreateWhen.
  void write_config(const BacklogStandIn& backlog, const std::string& create_when = "",
                    const std::string& target_extra = "") {
    std::ofstream(directory_ / "hikyaku.yaml") << R"(Server:
  Listen: 127.0.0.1:0
  Account: "123456789012"
  Region: us-east-1
  Auth:
    SigV4:
      Credentials: [{ AccessKeyId: )" << kAccessKey
                                               << R"(, SecretAccessKey: "${TEST_SECRET_KEY}" }]
    ApiKeys:
      - { HeaderName: x-hikyaku-key, Value: "${TEST_WEBHOOK_KEY}" }
Store:
  Sqlite: { Path: )" << (directory_ / "var/hikyaku.db").string()
                                               << R"(, Synchronous: NORMAL }
Rules:
  - Name: findings
    EventPattern: { source: [aws.securityhub] }
    Targets:
      - Id: backlog
        RetryPolicy: { MaximumRetryAttempts: 20, MaximumEventAgeInSeconds: 600 }
        Backlog:
          Endpoint: )" << backlog.url("") << R"(
          ApiKey: ${TEST_BACKLOG_KEY}
          Project: SEC
          IssueType: Task
)" << (create_when.empty() ? "" : "          CreateWhen: " + create_when + "\n")
                                               << target_extra;
  }

  std::string config_path() const { return (directory_ / "hikyaku.yaml").string(); }
  static std::vector<std::pair<std::string, std::string>> server_environment() {
    return {{"TEST_SECRET_KEY", kSecretKey},
            {"TEST_WEBHOOK_KEY", kWebhookKey},
            {"TEST_BACKLOG_KEY", kBacklogKey}};
  }

  void start_server() {
    server_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{HIKYAKU_BINARY, "serve", "--config", "hikyaku.yaml"},
        server_environment(), directory_.string());
    const std::string address = server_->wait_for_line("listening ");
    ASSERT_FALSE(address.empty()) << "server did not start:\n" << server_->err();
    url_ = address;
  }

  // Stops the server and returns everything it logged.
  std::string stop_server() {
    server_->signal(SIGTERM);
    EXPECT_EQ(server_->wait(), 0);
    std::string logged = server_->out() + server_->err();
    server_.reset();
    return logged;
  }

  void put_events(const std::vector<std::string>& files) {
    std::ofstream(directory_ / "entries.json") << testing::put_events_entries(files);
    CommandResult put =
        run_command({"/usr/bin/aws", "events", "put-events", "--entries",
                     "file://" + (directory_ / "entries.json").string(), "--endpoint-url", url_,
                     "--region", "us-east-1", "--output", "json", "--no-cli-pager"},
                    {{"AWS_ACCESS_KEY_ID", kAccessKey},
                     {"AWS_SECRET_ACCESS_KEY", kSecretKey},
                     {"AWS_CONFIG_FILE", "/dev/null"},
                     {"AWS_SHARED_CREDENTIALS_FILE", "/dev/null"},
                     {"AWS_EC2_METADATA_DISABLED", "true"},
                     {"AWS_MAX_ATTEMPTS", "1"},
                     {"HOME", directory_.string()}});
    ASSERT_EQ(put.exit_code, 0) << put.err;
    EXPECT_THAT(put.out, HasSubstr("\"FailedEntryCount\": 0"));
  }

  // One event through the webhook, as an EventBridge API destination would forward it.
  void webhook(const std::string& name) {
    testing::HttpClient http = testing::HttpClient::from_url(url_);
    const testing::Response response =
        http.request("POST", "/events/default",
                     {{"Content-Type", "application/json"}, {"x-hikyaku-key", kWebhookKey}},
                     read_file(sample_path(name)));
    ASSERT_EQ(response.status, 200) << response.body;
  }

  std::string metrics() {
    return testing::HttpClient::from_url(url_).request("GET", "/metrics", {}, "").body;
  }

  // Waits until the Backlog target has handled `count` findings in this server's life.
  bool wait_for_handled(int64_t count) {
    const std::string delivered = fmt::format(
        R"(hikyaku_invocation_attempts_total{{target="{}",outcome="delivered"}})", kTarget);
    return wait_for([&] { return metric(metrics(), delivered) >= count; },
                    std::chrono::seconds(30));
  }

  // Every byte the server wrote under its folder (store, logs) plus what it printed.
  void expect_key_nowhere(const std::string& printed) {
    EXPECT_THAT(printed, Not(HasSubstr(kBacklogKey)));
    for (const auto& entry : std::filesystem::recursive_directory_iterator(directory_)) {
      if (entry.is_regular_file()) {
        EXPECT_THAT(read_file(entry.path()), Not(HasSubstr(kBacklogKey))) << entry.path();
      }
    }
  }

  testing::TempDir temp_dir_{"backlog-serve"};
  const std::filesystem::path directory_{temp_dir_.path()};
  std::unique_ptr<ChildProcess> server_;
  std::string url_;
};

const BacklogIssue* issue_titled(const std::vector<BacklogIssue>& issues, std::string_view part) {
  for (const BacklogIssue& issue : issues) {
    if (issue.summary.find(part) != std::string::npos) {
      return &issue;
    }
  }
  return nullptr;
}

// The samples' three lifecycle chains: 01 -> 16 -> 09, 02 -> 10, 03 -> 11 (MEDIUM findings are
// wanted here, so that 03 gets its issue).
TEST_F(BacklogServeTest, LifecycleChainsFileOnceAndCloseWithTheFinding) {
  BacklogStandIn backlog({.api_key = kBacklogKey});
  write_config(
      backlog,
      R"({ detail: { findings: { RecordState: [ACTIVE], Workflow: { Status: [NEW] }, Severity: { Label: [CRITICAL, HIGH, MEDIUM] } } } })");
  start_server();

  put_events({"01-fsbp-ec2-19-critical-failed.json"});
  ASSERT_TRUE(backlog.wait_for_issues(1));
  webhook("16-custom-action-send-to-backlog.json");
  ASSERT_TRUE(wait_for_handled(2));
  put_events({"09-fsbp-ec2-19-passed-update-same-id.json"});
  put_events({"02-fsbp-s3-8-high-failed.json", "03-fsbp-iam-3-medium-failed.json"});
  ASSERT_TRUE(backlog.wait_for_issues(3));
  put_events({"10-fsbp-s3-8-archived-same-id.json"});
  webhook("11-fsbp-iam-3-suppressed-same-id.json");
  ASSERT_TRUE(backlog.wait_until([](const std::vector<BacklogIssue>& issues) {
    return std::all_of(issues.begin(), issues.end(), [](const BacklogIssue& issue) {
      return issue.status_id == testing::kBacklogStatusClosed;
    });
  })) << server_->err();

  const std::vector<BacklogIssue> issues = backlog.issues();
  ASSERT_EQ(issues.size(), 3u);
  EXPECT_EQ(backlog.request_count("POST /api/v2/issues"), 3);
  const BacklogIssue* ec2 = issue_titled(issues, "EC2.19");
  const BacklogIssue* s3 = issue_titled(issues, "S3.8");
  const BacklogIssue* iam = issue_titled(issues, "IAM.3");
  ASSERT_TRUE(ec2 != nullptr && s3 != nullptr && iam != nullptr);
  EXPECT_EQ(ec2->resolution_id, testing::kBacklogResolutionFixed);
  EXPECT_EQ(s3->resolution_id, testing::kBacklogResolutionFixed);
  EXPECT_EQ(iam->resolution_id, testing::kBacklogResolutionWontFix);
  ASSERT_FALSE(s3->comments.empty());
  EXPECT_THAT(s3->comments.back().content.value_or(""), HasSubstr("ARCHIVED"));
  EXPECT_EQ(ec2->priority_id, testing::kBacklogPriorityHigh);
  EXPECT_EQ(iam->priority_id, testing::kBacklogPriorityNormal);

  EXPECT_THAT(metrics(), Not(HasSubstr(kBacklogKey)));
  const std::string printed = stop_server();
  EXPECT_THAT(printed, HasSubstr("backlog ticket created"));
  EXPECT_THAT(printed, HasSubstr("backlog ticket resolved"));
  // The ledger, read back by the CLI.
  CommandResult listed =
      run_command({HIKYAKU_BINARY, "tickets", "list", "--config", config_path(), "--json"},
                  server_environment());
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  simdjson::dom::parser parser;
  simdjson::dom::array rows = parser.parse(listed.out).get_array();
  ASSERT_EQ(rows.size(), 3u);
  for (simdjson::dom::element row : rows) {
    EXPECT_EQ(std::string_view(row["Ticket"]), "resolved");
    EXPECT_THAT(std::string(std::string_view(row["IssueKey"])), HasSubstr("SEC-"));
  }
  CommandResult shown = run_command(
      {HIKYAKU_BINARY, "tickets", "show", "--config", config_path(),
       "arn:aws:securityhub:ap-northeast-1:123456789012:security-control/EC2.19/finding/"
       "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"},
      server_environment());
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_THAT(shown.out, HasSubstr(ec2->issue_key));
  expect_key_nowhere(printed + listed.out + listed.err + shown.out);
}

// 09 before 01: the finding's latest known state is resolved, so no issue. 02 ten times: one.
TEST_F(BacklogServeTest, OutOfOrderAndDuplicateDeliveriesFileNothingTwice) {
  BacklogStandIn backlog({.api_key = kBacklogKey});
  write_config(backlog);
  start_server();
  put_events({"09-fsbp-ec2-19-passed-update-same-id.json"});
  ASSERT_TRUE(wait_for_handled(1));
  put_events({"01-fsbp-ec2-19-critical-failed.json"});
  ASSERT_TRUE(wait_for_handled(2));
  EXPECT_TRUE(backlog.issues().empty());

  put_events(std::vector<std::string>(10, "02-fsbp-s3-8-high-failed.json"));
  ASSERT_TRUE(wait_for_handled(12));
  EXPECT_EQ(backlog.issues().size(), 1u);
  EXPECT_EQ(backlog.request_count("POST /api/v2/issues"), 1);
  expect_key_nowhere(stop_server());
}

// One issue per active CRITICAL or HIGH finding of every kind the default CreateWhen files:
// three findings in one event (HIGH, HIGH, MEDIUM), GuardDuty, Inspector, Macie, a custom
// finding in Japanese with quotes and markup, and a ~240 KB Inspector finding.
TEST_F(BacklogServeTest, FindingsOfEveryProductAreFiledWithTheirTextIntact) {
  BacklogStandIn backlog({.api_key = kBacklogKey});
  write_config(backlog);
  start_server();
  put_events({"12-synthetic-three-findings-one-event.json",
              "05-guardduty-ec2-cryptomining-high.json", "06-inspector-cve-2024-3094-critical.json",
              "07-macie-s3-personal-data-high.json"});
  webhook("13-custom-unicode-japanese-quotes-newlines.json");
  webhook("14-inspector-large-near-240kb-finding.json");
  ASSERT_TRUE(backlog.wait_for_issues(7)) << server_->err();
  ASSERT_TRUE(wait_for_handled(8));
  const std::vector<BacklogIssue> issues = backlog.issues();
  EXPECT_EQ(issues.size(), 7u);

  simdjson::dom::parser parser;
  simdjson::dom::element custom =
      parser.load(sample_path("13-custom-unicode-japanese-quotes-newlines.json"));
  const std::string title(std::string_view(custom["detail"]["findings"].at(0)["Title"]));
  const BacklogIssue* japanese = nullptr;
  for (const BacklogIssue& issue : issues) {
    if (issue.summary.find(title.substr(0, 12)) != std::string::npos) {
      japanese = &issue;
    }
  }
  ASSERT_NE(japanese, nullptr) << "no issue for sample 13";
  EXPECT_THAT(japanese->summary + japanese->description, HasSubstr(title.substr(0, 12)));
  for (const BacklogIssue& issue : issues) {
    EXPECT_LE(issue.summary.size(), 255u * 4);
    EXPECT_LT(issue.description.size(), 64u * 1024) << issue.summary;
  }
  expect_key_nowhere(stop_server());
}

// kill -9 after Backlog created the issue and before hikyaku recorded it: the restarted server
// finds the issue by its marker and files no second one.
TEST_F(BacklogServeTest, AKillBetweenTheCreateAndTheLedgerFilesOneIssue) {
  BacklogStandIn backlog({.api_key = kBacklogKey});
  write_config(backlog);
  start_server();
  std::atomic<bool> fired{false};
  std::atomic<bool> dead{false};
  backlog.on_issue_created([&](const BacklogIssue&) {
    if (!fired.exchange(true)) {
      server_->signal(SIGKILL);
      server_->wait();
      dead = true;
    }
  });
  put_events({"01-fsbp-ec2-19-critical-failed.json"});
  ASSERT_TRUE(wait_for([&] { return dead.load(); }));
  backlog.on_issue_created(nullptr);
  ASSERT_EQ(backlog.issues().size(), 1u);

  start_server();  // the same store: the job leased by the dead process is due again at once
  ASSERT_TRUE(wait_for_handled(1)) << server_->err();
  EXPECT_EQ(backlog.issues().size(), 1u);
  EXPECT_EQ(backlog.request_count("POST /api/v2/issues"), 1);
  EXPECT_EQ(backlog.request_count("GET /api/v2/issues"), 1);  // the search for the marker
  // The re-import of the finding now finds the issue in the ledger.
  put_events({"16-custom-action-send-to-backlog.json"});
  ASSERT_TRUE(wait_for_handled(2));
  EXPECT_EQ(backlog.request_count("POST /api/v2/issues"), 1);
  const std::string printed = stop_server();
  EXPECT_THAT(printed, HasSubstr("found by its marker"));
  expect_key_nowhere(printed);
}

// Backlog refuses the issue (an InputTransformer sends a parameter Add Issue does not know): a
// dead letter with Backlog's own reason, nothing retried, no key anywhere.
TEST_F(BacklogServeTest, ARefusedIssueIsDeadLetteredWithBacklogsReason) {
  BacklogStandIn backlog({.api_key = kBacklogKey});
  write_config(backlog, "", R"(        InputTransformer:
          InputPathsMap: { title: "$.detail.findings[0].Title" }
          InputTemplate: '{"summary": "Finding: <title>", "notAParameter": "x"}'
)");
  start_server();
  put_events({"01-fsbp-ec2-19-critical-failed.json"});
  ASSERT_TRUE(wait_for([&] { return metric(metrics(), "hikyaku_dead_letter_jobs") == 1; }))
      << server_->err();
  EXPECT_TRUE(backlog.issues().empty());
  EXPECT_EQ(backlog.request_count("POST /api/v2/issues"), 1);
  EXPECT_THAT(metrics(), Not(HasSubstr(kBacklogKey)));
  const std::string printed = stop_server();
  EXPECT_THAT(printed, HasSubstr("delivery dead-lettered rule=findings target=backlog"));
  EXPECT_THAT(printed, HasSubstr("InvalidRequestError (code 7)"));
  EXPECT_THAT(printed, HasSubstr("notAParameter"));
  expect_key_nowhere(printed);
}

// A wrong API key fails startup with Backlog's reason; a wrong name lists the valid ones.
TEST_F(BacklogServeTest, WrongKeyOrNameFailsStartupClearly) {
  BacklogStandIn backlog({.api_key = "another-key"});
  write_config(backlog);
  ChildProcess refused({HIKYAKU_BINARY, "serve", "--config", "hikyaku.yaml"},
                       {{"TEST_SECRET_KEY", kSecretKey},
                        {"TEST_WEBHOOK_KEY", kWebhookKey},
                        {"TEST_BACKLOG_KEY", kBacklogKey}},
                       directory_.string());
  EXPECT_EQ(refused.wait(), 1);
  EXPECT_THAT(refused.err(), HasSubstr("rule findings target backlog"));
  EXPECT_THAT(refused.err(), HasSubstr("11"));
  EXPECT_THAT(refused.err(), Not(HasSubstr(kBacklogKey)));

  BacklogStandIn other({.api_key = kBacklogKey});
  write_config(other);
  std::string text = read_file(directory_ / "hikyaku.yaml");
  text.replace(text.find("IssueType: Task"), 15, "IssueType: Incident");
  std::ofstream(directory_ / "hikyaku.yaml") << text;
  ChildProcess wrong_name({HIKYAKU_BINARY, "serve", "--config", "hikyaku.yaml"},
                          {{"TEST_SECRET_KEY", kSecretKey},
                           {"TEST_WEBHOOK_KEY", kWebhookKey},
                           {"TEST_BACKLOG_KEY", kBacklogKey}},
                          directory_.string());
  EXPECT_EQ(wrong_name.wait(), 1);
  EXPECT_THAT(wrong_name.err(), HasSubstr("Incident"));
  EXPECT_THAT(wrong_name.err(), HasSubstr("Task"));
}

// The scenario's EventBridge configuration, as the example file holds it, files issues from its
// JSON body (the stand-in takes JSON bodies as Backlog did for EventBridge users).
TEST_F(BacklogServeTest, TheVerbatimApiDestinationExampleFilesIssues) {
  testing::BacklogStandInOptions options;
  options.api_key = kBacklogKey;
  options.project_id = 123456;
  options.issue_types = {{1234567, "Task", "#7ea800"}};
  BacklogStandIn backlog(options);
  std::string text = read_file(std::string(HIKYAKU_SOURCE_DIR) +
                               "/examples/securityhub-backlog-apidestination.yaml");
  // Only what a test on loopback must change: the port, and plain HTTP to the stand-in.
  text =
      std::regex_replace(text, std::regex("Listen: 127\\.0\\.0\\.1:4010"), "Listen: 127.0.0.1:0");
  text =
      std::regex_replace(text, std::regex("https://\\$\\{BACKLOG_HOST"), "http://${BACKLOG_HOST");
  std::ofstream(directory_ / "hikyaku.yaml") << text;
  server_ = std::make_unique<ChildProcess>(
      std::vector<std::string>{HIKYAKU_BINARY, "serve", "--config", "hikyaku.yaml"},
      std::vector<std::pair<std::string, std::string>>{
          {"BACKLOG_API_KEY", kBacklogKey},
          {"BACKLOG_HOST", fmt::format("127.0.0.1:{}", backlog.port())}},
      directory_.string());
  url_ = server_->wait_for_line("listening ");
  ASSERT_FALSE(url_.empty()) << server_->err();
  CommandResult sent = run_command({HIKYAKU_BINARY, "send", "--endpoint", url_,
                                    sample_path("01-fsbp-ec2-19-critical-failed.json"),
                                    sample_path("05-guardduty-ec2-cryptomining-high.json")});
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  ASSERT_TRUE(backlog.wait_for_issues(1)) << server_->err();
  const BacklogIssue issue = backlog.issues()[0];
  EXPECT_EQ(issue.summary,
            "Security groups should not allow unrestricted access to ports with high risk");
  EXPECT_THAT(issue.description, HasSubstr("Severity:<br />CRITICAL"));
  EXPECT_EQ(issue.priority_id, testing::kBacklogPriorityNormal);
  // The scenario's pattern never matches GuardDuty's finding (no Compliance): one issue only.
  EXPECT_THAT(read_file(directory_ / "var/backlog-issues.jsonl"), Not(HasSubstr("GuardDuty")));
  expect_key_nowhere(stop_server());
}

// `make run`'s dry run: the Backlog example without a space logs and writes each action.
TEST_F(BacklogServeTest, TheExampleDryRunShowsTheActionsAndSendsNothing) {
  std::string text =
      read_file(std::string(HIKYAKU_SOURCE_DIR) + "/examples/securityhub-backlog.yaml");
  text =
      std::regex_replace(text, std::regex("Listen: 127\\.0\\.0\\.1:4010"), "Listen: 127.0.0.1:0");
  std::ofstream(directory_ / "hikyaku.yaml") << text;
  server_ = std::make_unique<ChildProcess>(
      std::vector<std::string>{HIKYAKU_BINARY, "serve", "--config", "hikyaku.yaml"},
      std::vector<std::pair<std::string, std::string>>{{"BACKLOG_DRY_RUN", "true"}},
      directory_.string());
  url_ = server_->wait_for_line("listening ");
  ASSERT_FALSE(url_.empty()) << server_->err();
  for (const char* name :
       {"01-fsbp-ec2-19-critical-failed.json", "16-custom-action-send-to-backlog.json",
        "09-fsbp-ec2-19-passed-update-same-id.json"}) {
    CommandResult sent =
        run_command({HIKYAKU_BINARY, "send", "--endpoint", url_, sample_path(name)});
    ASSERT_EQ(sent.exit_code, 0) << sent.err;
    ASSERT_TRUE(wait_for([&] {
      const std::string written = read_file(directory_ / "var/backlog-dry-run.jsonl");
      return std::count(written.begin(), written.end(), '\n') ==
             (std::string_view(name).starts_with("01")   ? 1
              : std::string_view(name).starts_with("16") ? 2
                                                         : 3);
    })) << server_->err();
  }
  std::ifstream file(directory_ / "var/backlog-dry-run.jsonl");
  std::string line;
  std::vector<std::string> actions;
  simdjson::dom::parser parser;
  while (std::getline(file, line)) {
    actions.emplace_back(std::string_view(parser.parse(line)["action"]));
  }
  EXPECT_THAT(actions, ::testing::ElementsAre("create", "none", "resolve"));
  EXPECT_THAT(stop_server(), HasSubstr("backlog ticket created (dry run)"));
}

// A burst of 500 distinct findings against a budget of 20 updates per 5 seconds: all filed,
// paced by Backlog's X-RateLimit-* answers, at most one 429, nothing dead-lettered. (Takes the
// budget's time: 25 windows, about two minutes.)
TEST_F(BacklogServeTest, ABurstIsFiledAtBacklogsPaceWithoutCollecting429s) {
  constexpr int kFindings = 500;
  testing::BacklogStandInOptions options;
  options.api_key = kBacklogKey;
  options.window = std::chrono::seconds(5);
  options.update_budget = 20;
  BacklogStandIn backlog(options);
  write_config(backlog);
  start_server();
  const std::string event = read_file(sample_path("02-fsbp-s3-8-high-failed.json"));
  const std::string id = "70ad2ccd-03bb-405b-a04f-14a7b6d801b2";
  testing::HttpClient http = testing::HttpClient::from_url(url_);
  for (int i = 0; i < kFindings; ++i) {
    std::string distinct = event;
    for (size_t at = distinct.find(id); at != std::string::npos; at = distinct.find(id, at + 1)) {
      distinct.replace(at, id.size(), fmt::format("{}-{}", id, i));
    }
    const testing::Response response = http.request(
        "POST", "/events/default",
        {{"Content-Type", "application/json"}, {"x-hikyaku-key", kWebhookKey}}, distinct);
    ASSERT_EQ(response.status, 200) << response.body;
  }
  ASSERT_TRUE(backlog.wait_for_issues(kFindings, std::chrono::minutes(4)))
      << backlog.issues().size() << " issues";
  EXPECT_EQ(backlog.issues().size(), static_cast<size_t>(kFindings));
  EXPECT_LE(backlog.throttled_count(), 1);
  EXPECT_EQ(backlog.request_count("POST /api/v2/issues"), kFindings + backlog.throttled_count());
  EXPECT_EQ(metric(metrics(), "hikyaku_dead_letter_jobs"), 0);
  RecordProperty("throttled", backlog.throttled_count());
  expect_key_nowhere(stop_server());
}

}  // namespace
}  // namespace hikyaku
