// `hikyaku serve` as operators and producers use it: the AWS CLI publishing with SigV4, the
// `send` command, deliveries into a Log file and to an HTTP receiver, kill -9 and restart
// (at-least-once), graceful stop, and no secret in any output.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "core/json_writer.h"
#include "testing/http_client.h"
#include "testing/http_receiver.h"
#include "testing/process.h"
#include "testing/scriptable_destination.h"
#include "testing/securityhub_samples.h"
#include "testing/temp_dir.h"
#include "testing/wait.h"

namespace hikyaku {
namespace {

using testing::ChildProcess;
using testing::CommandResult;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::read_file;
using testing::run_command;
using testing::sample_path;
using testing::wait_for;

constexpr const char* kAccessKey = "AKIDHIKYAKUTEST";
constexpr const char* kSecretKey = "hikyaku-secret-key-7f3a9c";
constexpr const char* kBacklogKey = "backlog-api-key-52e1d0";
std::vector<std::string> lines_of(const std::filesystem::path& path) {
  std::vector<std::string> lines;
  std::ifstream file(path);
  std::string line;
  while (std::getline(file, line)) {
    lines.push_back(line);
  }
  return lines;
}

// The ids of the events in a Log target's file (each line's body is the whole event).
std::multiset<std::string> delivered_event_ids(const std::filesystem::path& path) {
  std::multiset<std::string> ids;
  simdjson::dom::parser line_parser;
  simdjson::dom::parser body_parser;
  for (const std::string& line : lines_of(path)) {
    simdjson::dom::element entry;
    std::string_view body;
    std::string_view id;
    simdjson::dom::element event;
    if (line_parser.parse(line).get(entry) == simdjson::SUCCESS &&
        entry["body"].get(body) == simdjson::SUCCESS &&
        body_parser.parse(body).get(event) == simdjson::SUCCESS &&
        event["id"].get(id) == simdjson::SUCCESS) {
      ids.emplace(id);
    }
  }
  return ids;
}

// The server's /metrics text.
std::string lines_of_metrics(const std::string& url) {
  testing::HttpClient http = testing::HttpClient::from_url(url);
  return http.request("GET", "/metrics", {}, "").body;
}

class ServeTest : public ::testing::Test {
 protected:
  void TearDown() override { server_.reset(); }

  // Writes the config: SigV4 auth, an all-findings Log target and the scenario's Backlog rule
  // pointing at `backlog_url` (with the API key in the query, as the scenario does).
  void write_config(const std::string& backlog_url) {
    std::ofstream(directory_ / "hikyaku.yaml") << R"(Server:
  Listen: 127.0.0.1:0
  Account: "123456789012"
  Region: us-east-1
  Auth:
    SigV4:
      Credentials: [{ AccessKeyId: )" << kAccessKey
                                               << R"(, SecretAccessKey: "${TEST_SECRET_KEY}" }]
Store:
  Sqlite: { Path: var/hikyaku.db, Synchronous: NORMAL }
Connections:
  - Name: backlog
    AuthorizationType: API_KEY
    AuthParameters:
      ApiKeyAuthParameters: { ApiKeyName: dummy-key, ApiKeyValue: dummy-value }
ApiDestinations:
  - Name: backlog-add-issue
    ConnectionName: backlog
    InvocationEndpoint: ")" << backlog_url << R"(/api/v2/issues?apiKey=${TEST_BACKLOG_KEY}"
    HttpMethod: POST
    InvocationRateLimitPerSecond: 50
Rules:
  - Name: all-findings
    EventPattern: { source: [aws.securityhub] }
    Targets: [{ Id: log, Log: { Path: deliveries.jsonl } }]
  - Name: securityhub-to-backlog
    EventPattern: |
      { "detail-type": ["Security Hub Findings - Imported"], "source": ["aws.securityhub"],
        "detail": { "findings": {
          "Compliance": { "Status": [{ "anything-but": "PASSED" }] },
          "RecordState": ["ACTIVE"], "Workflow": { "Status": ["NEW"] },
          "Severity": { "Label": ["CRITICAL", "HIGH"] } } } }
    Targets:
      - Id: backlog
        ApiDestination: backlog-add-issue
        RetryPolicy: { MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 60 }
        InputTransformer:
          InputPathsMap: { Summary: "$.detail.findings[0].Title", Label: "$.detail.findings[0].Severity.Label" }
          InputTemplate: '{"projectId": "123456", "summary": <Summary>, "description": "Severity: <Label>"}'
)";
  }

  void start_server() {
    server_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{HIKYAKU_BINARY, "serve", "--config", "hikyaku.yaml"},
        std::vector<std::pair<std::string, std::string>>{{"TEST_SECRET_KEY", kSecretKey},
                                                         {"TEST_BACKLOG_KEY", kBacklogKey}},
        directory_.string());
    const std::string address = server_->wait_for_line("listening ");
    ASSERT_FALSE(address.empty()) << "server did not start:\n" << server_->err();
    url_ = address;
  }

  CommandResult aws(std::vector<std::string> arguments, const std::string& secret = kSecretKey) {
    std::vector<std::string> argv = {"/usr/bin/aws", "events"};
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    for (const char* extra : {"--endpoint-url", url_.c_str(), "--region", "us-east-1", "--output",
                              "json", "--no-cli-pager"}) {
      argv.emplace_back(extra);
    }
    return run_command(argv, {{"AWS_ACCESS_KEY_ID", kAccessKey},
                              {"AWS_SECRET_ACCESS_KEY", secret},
                              {"AWS_CONFIG_FILE", "/dev/null"},
                              {"AWS_SHARED_CREDENTIALS_FILE", "/dev/null"},
                              {"AWS_EC2_METADATA_DISABLED", "true"},
                              {"AWS_MAX_ATTEMPTS", "1"},
                              {"HOME", directory_.string()}});
  }

  testing::TempDir temp_dir_{"serve"};
  const std::filesystem::path directory_{temp_dir_.path()};
  std::unique_ptr<ChildProcess> server_;
  std::string url_;
};

TEST_F(ServeTest, AwsCliPublishesSignedEventsThatAreDelivered) {
  testing::HttpReceiver backlog;
  write_config(backlog.url(""));
  start_server();
  std::ofstream(directory_ / "entries.json") << testing::put_events_entries(
      {"01-fsbp-ec2-19-critical-failed.json", "03-fsbp-iam-3-medium-failed.json"});
  CommandResult put =
      aws({"put-events", "--entries", "file://" + (directory_ / "entries.json").string()});
  ASSERT_EQ(put.exit_code, 0) << put.err;
  EXPECT_THAT(put.out, HasSubstr("\"FailedEntryCount\": 0"));

  // Both events reach the Log target; only the CRITICAL one becomes a Backlog issue.
  ASSERT_TRUE(wait_for([&] { return lines_of(directory_ / "deliveries.jsonl").size() == 2; }));
  ASSERT_TRUE(wait_for([&] { return backlog.request_count() == 1; }));
  const testing::ReceivedRequest issue = backlog.requests()[0];
  EXPECT_EQ(issue.target, std::string("/api/v2/issues?apiKey=") + kBacklogKey);
  EXPECT_EQ(issue.headers.at("dummy-key"), "dummy-value");
  simdjson::dom::parser parser;
  simdjson::dom::element body = parser.parse(issue.body);
  EXPECT_EQ(std::string_view(body["projectId"]), "123456");
  EXPECT_EQ(std::string_view(body["description"]), "Severity: CRITICAL");
}

TEST_F(ServeTest, WrongSecretIsRefusedAndNothingIsIngested) {
  write_config("http://127.0.0.1:9");
  start_server();
  std::ofstream(directory_ / "entries.json")
      << testing::put_events_entries({"05-guardduty-ec2-cryptomining-high.json"});
  CommandResult put =
      aws({"put-events", "--entries", "file://" + (directory_ / "entries.json").string()},
          "not-the-secret");
  EXPECT_NE(put.exit_code, 0);
  EXPECT_THAT(put.err, HasSubstr("when calling the PutEvents operation"));
  EXPECT_THAT(put.err, Not(HasSubstr(kSecretKey)));
  // A signed request afterwards goes through: the first one really was refused, not lost.
  CommandResult good =
      aws({"put-events", "--entries", "file://" + (directory_ / "entries.json").string()});
  ASSERT_EQ(good.exit_code, 0) << good.err;
  ASSERT_TRUE(wait_for([&] { return lines_of(directory_ / "deliveries.jsonl").size() == 1; }));
}

TEST_F(ServeTest, AwsCliTestEventPatternAndListRules) {
  write_config("http://127.0.0.1:9");
  start_server();
  CommandResult matches =
      aws({"test-event-pattern", "--event-pattern", R"({"source": ["aws.securityhub"]})", "--event",
           read_file(sample_path("05-guardduty-ec2-cryptomining-high.json"))});
  ASSERT_EQ(matches.exit_code, 0) << matches.err;
  EXPECT_THAT(matches.out, HasSubstr("\"Result\": true"));

  CommandResult rules = aws({"list-rules"});
  ASSERT_EQ(rules.exit_code, 0) << rules.err;
  EXPECT_THAT(rules.out, HasSubstr("\"Name\": \"securityhub-to-backlog\""));
  EXPECT_THAT(rules.out, HasSubstr("\"Name\": \"all-findings\""));
}

TEST_F(ServeTest, SendCommandPublishesFilesInBatchesOfTen) {
  write_config("http://127.0.0.1:9");
  start_server();
  std::vector<std::string> argv = {HIKYAKU_BINARY, "send", "--endpoint", url_};
  for (int i = 0; i < 12; ++i) {
    argv.push_back(sample_path("07-macie-s3-personal-data-high.json"));
  }
  CommandResult sent = run_command(argv, {{"AWS_ACCESS_KEY_ID", kAccessKey},
                                          {"AWS_SECRET_ACCESS_KEY", kSecretKey},
                                          {"AWS_REGION", "us-east-1"}});
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  EXPECT_EQ(std::count(sent.out.begin(), sent.out.end(), '\n'), 12);
  ASSERT_TRUE(wait_for([&] { return lines_of(directory_ / "deliveries.jsonl").size() == 12; }));

  CommandResult unsigned_send = run_command({HIKYAKU_BINARY, "send", "--endpoint", url_,
                                             sample_path("07-macie-s3-personal-data-high.json")});
  EXPECT_EQ(unsigned_send.exit_code, 2);
}

// Publishes batches of 10 on one kept-alive connection until `stop`, the server stops answering,
// or `max_batches`; returns the ids of the entries the server accepted. `accepted_so_far` follows
// the count as it grows.
std::vector<std::string> publish_until(const std::string& url, const std::atomic<bool>& stop,
                                       int max_batches, std::atomic<size_t>& accepted_so_far) {
  testing::HttpClient http =
      testing::HttpClient::from_url(url, {.timeout = std::chrono::seconds(10)});
  std::vector<std::string> accepted;
  const std::string entry = testing::put_events_entries({"02-fsbp-s3-8-high-failed.json"});
  const std::string one = entry.substr(1, entry.size() - 2);
  std::string body = "{\"Entries\":[";
  for (int i = 0; i < 10; ++i) {
    body += (i == 0 ? "" : ",") + one;
  }
  body += "]}";
  simdjson::dom::parser parser;
  for (int batch = 0; batch < max_batches && !stop; ++batch) {
    const testing::Response response = http.request(
        "POST", "/",
        {{"Content-Type", "application/x-amz-json-1.1"}, {"X-Amz-Target", "AWSEvents.PutEvents"}},
        body);
    if (response.status != 200) {
      break;  // the server died: whatever was not answered was not accepted
    }
    simdjson::dom::element answer;
    if (parser.parse(response.body).get(answer) != simdjson::SUCCESS) {
      break;
    }
    for (simdjson::dom::element result : answer["Entries"]) {
      std::string_view id;
      if (result["EventId"].get(id) == simdjson::SUCCESS) {
        accepted.emplace_back(id);
      }
    }
    accepted_so_far = accepted.size();
  }
  return accepted;
}

TEST_F(ServeTest, KillDashNineLosesNoAcceptedEvent) {
  // No auth: a loopback server accepts unsigned requests, which keeps the publisher simple.
  std::ofstream(directory_ / "hikyaku.yaml") << R"(Server: { Listen: 127.0.0.1:0 }
Store: { Sqlite: { Path: var/hikyaku.db } }
Rules:
  - Name: all
    EventPattern: { source: [aws.securityhub] }
    Targets: [{ Id: log, Log: { Path: deliveries.jsonl } }]
)";
  start_server();
  std::atomic<bool> stop{false};
  std::vector<std::string> accepted;
  // At most 3,000 events, so that catching up after the restart stays quick even in sanitizer
  // builds on a loaded machine.
  std::atomic<size_t> accepted_so_far{0};
  std::thread publisher([&] { accepted = publish_until(url_, stop, 300, accepted_so_far); });
  // Let some events be accepted and delivered, then kill the server mid-stream without warning.
  // (Waiting on deliveries alone is not enough: a batch can be delivered before its answer
  // reaches the publisher.)
  ASSERT_TRUE(wait_for([&] {
    return accepted_so_far >= 200 && lines_of(directory_ / "deliveries.jsonl").size() >= 200;
  }));
  server_->signal(SIGKILL);
  EXPECT_EQ(server_->wait(), 128 + SIGKILL);
  publisher.join();
  ASSERT_GE(accepted.size(), 200u);

  start_server();  // same store: pending and leased jobs resume
  const std::set<std::string> expected(accepted.begin(), accepted.end());
  ASSERT_EQ(expected.size(), accepted.size());  // ids are unique
  ASSERT_TRUE(wait_for(
      [&] {
        const std::multiset<std::string> delivered =
            delivered_event_ids(directory_ / "deliveries.jsonl");
        for (const std::string& id : expected) {
          if (delivered.count(id) == 0) {
            return false;
          }
        }
        return true;
      },
      std::chrono::seconds(120)))
      << "accepted events missing after restart: accepted " << expected.size() << ", delivered ids "
      << delivered_event_ids(directory_ / "deliveries.jsonl").size();
  // Duplicates are allowed only for jobs that were in flight at the kill (attempted, not yet
  // marked done; completions are batched): at most the dispatcher's workers x claim batch.
  const std::multiset<std::string> delivered = delivered_event_ids(directory_ / "deliveries.jsonl");
  size_t duplicates = 0;
  for (const std::string& id : expected) {
    duplicates += delivered.count(id) - 1;
  }
  EXPECT_LE(duplicates, 4u * 32u);
  RecordProperty("accepted", static_cast<int>(accepted.size()));
  RecordProperty("duplicates", static_cast<int>(duplicates));
}

// A delivery waiting for its retry survives kill -9: after the restart it is retried at its time
// (here the destination's Retry-After), not at once, and not never.
TEST_F(ServeTest, ARetryWaitingAtAKillIsMadeAtItsTimeAfterTheRestart) {
  testing::ScriptableDestination destination;
  for (int i = 0; i < 10; ++i) {  // the first attempts; the retries get the default 200
    destination.script({.status = 503, .headers = {{"Retry-After", "3"}}});
  }
  std::ofstream(directory_ / "hikyaku.yaml") << R"(Server: { Listen: 127.0.0.1:0 }
Store: { Sqlite: { Path: var/hikyaku.db } }
Connections:
  - Name: none
    AuthorizationType: API_KEY
    AuthParameters: { ApiKeyAuthParameters: { ApiKeyName: x-unused, ApiKeyValue: unused } }
ApiDestinations:
  - { Name: receiver, ConnectionName: none, HttpMethod: POST, InvocationEndpoint: ")"
                                             << destination.url("/hook") << R"(" }
Rules:
  - Name: all
    EventPattern: { source: [aws.securityhub] }
    Targets: [{ Id: receiver, ApiDestination: receiver }]
)";
  start_server();
  std::atomic<bool> stop{false};
  std::atomic<size_t> accepted_so_far{0};
  ASSERT_EQ(publish_until(url_, stop, 1, accepted_so_far).size(), 10u);
  // The first attempts answered 503 with Retry-After: 3 s; their retries are due then.
  ASSERT_TRUE(destination.wait_for_requests(10));
  const auto first_attempt = destination.requests()[0].arrival;
  // Kill it once every failure is recorded (the store shows no lease left).
  ASSERT_TRUE(wait_for([&] {
    return lines_of_metrics(url_).find("hikyaku_queue_leased_jobs 0\n") != std::string::npos;
  }));
  server_->signal(SIGKILL);
  EXPECT_EQ(server_->wait(), 128 + SIGKILL);
  start_server();
  ASSERT_TRUE(destination.wait_for_requests(20, std::chrono::seconds(30)))
      << destination.request_count() << " requests\n"
      << server_->err();
  const std::vector<testing::RecordedRequest> requests = destination.requests();
  for (size_t i = 10; i < requests.size(); ++i) {
    EXPECT_GE(requests[i].arrival - first_attempt, std::chrono::seconds(3)) << i;
  }
  ASSERT_TRUE(wait_for([&] {
    return lines_of_metrics(url_).find("hikyaku_queue_pending_jobs 0\n") != std::string::npos;
  }));
}

TEST_F(ServeTest, SighupReloadsConfigAndRefusesAnInvalidOne) {
  auto write_rule = [&](const std::string& log_file) {
    std::ofstream(directory_ / "hikyaku.yaml")
        << "Server: { Listen: 127.0.0.1:0 }\n"
           "Store: { Sqlite: { Path: var/hikyaku.db } }\n"
           "Rules:\n"
           "  - Name: all\n"
           "    EventPattern: { source: [aws.securityhub] }\n"
           "    Targets: [{ Id: log, Log: { Path: "
        << log_file << " } }]\n";
  };
  auto publish = [&] {
    CommandResult sent = run_command({HIKYAKU_BINARY, "send", "--endpoint", url_,
                                      sample_path("05-guardduty-ec2-cryptomining-high.json")});
    ASSERT_EQ(sent.exit_code, 0) << sent.err;
  };
  write_rule("first.jsonl");
  start_server();
  publish();
  ASSERT_TRUE(wait_for([&] { return lines_of(directory_ / "first.jsonl").size() == 1; }));

  write_rule("second.jsonl");
  server_->signal(SIGHUP);
  ASSERT_TRUE(wait_for([&] { return server_->err().find("reloaded") != std::string::npos; }));
  publish();
  ASSERT_TRUE(wait_for([&] { return lines_of(directory_ / "second.jsonl").size() == 1; }));

  std::ofstream(directory_ / "hikyaku.yaml") << "Rules: [ { Name: broken } ]\n";
  server_->signal(SIGHUP);
  ASSERT_TRUE(wait_for([&] { return server_->err().find("reload refused") != std::string::npos; }));
  publish();  // still served by the second config
  ASSERT_TRUE(wait_for([&] { return lines_of(directory_ / "second.jsonl").size() == 2; }));
  EXPECT_EQ(lines_of(directory_ / "first.jsonl").size(), 1u);
}

TEST_F(ServeTest, SigtermDrainsAndStopsCleanly) {
  write_config("http://127.0.0.1:9");
  start_server();
  server_->signal(SIGTERM);
  EXPECT_EQ(server_->wait(), 0);
  EXPECT_THAT(server_->err(), HasSubstr("stopped"));
  start_server();  // the store was closed cleanly and opens again
}

TEST_F(ServeTest, SecretsNeverReachLogsMetricsOrDeadLetters) {
  // The Backlog destination refuses everything: the failure path runs with the key in the URL.
  testing::HttpReceiver backlog;
  backlog.set_status(401);
  write_config(backlog.url(""));
  start_server();
  std::ofstream(directory_ / "entries.json")
      << testing::put_events_entries({"01-fsbp-ec2-19-critical-failed.json"});
  ASSERT_EQ(aws({"put-events", "--entries", "file://" + (directory_ / "entries.json").string()})
                .exit_code,
            0);
  (void)aws({"put-events", "--entries", "file://" + (directory_ / "entries.json").string()},
            "wrong");
  ASSERT_TRUE(wait_for([&] { return backlog.request_count() == 1; }));
  std::string metrics;
  ASSERT_TRUE(wait_for([&] {
    metrics = testing::HttpClient::from_url(url_).get("/metrics").body;
    return metrics.find("hikyaku_invocations_sent_to_dlq_total") != std::string::npos;
  }));
  server_->signal(SIGTERM);
  ASSERT_EQ(server_->wait(), 0);
  const std::string database = read_file(directory_ / "var" / "hikyaku.db") +
                               read_file(directory_ / "var" / "hikyaku.db-wal");
  for (const char* secret : {kSecretKey, kBacklogKey}) {
    EXPECT_THAT(server_->out(), Not(HasSubstr(secret)));
    EXPECT_THAT(server_->err(), Not(HasSubstr(secret)));
    EXPECT_THAT(metrics, Not(HasSubstr(secret)));
    EXPECT_THAT(database, Not(HasSubstr(secret))) << "a secret was stored";
  }
}

}  // namespace
}  // namespace hikyaku
