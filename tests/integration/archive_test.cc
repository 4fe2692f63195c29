// Archives and replays through the real `hikyaku serve` and the real AWS CLI: events archived by
// pattern, a replay of a time window delivered exactly to the filtered rule's destination with
// replay-name set, cancel, retention, and `hikyaku replay` doing the same as the AWS CLI.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include <chrono>
#include <deque>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "store/sqlite/sqlite_store.h"
#include "testing/http_receiver.h"
#include "testing/nats_cluster.h"
#include "testing/process.h"
#include "testing/temp_dir.h"
#include "testing/wait.h"

namespace hikyaku {
namespace {

using testing::ChildProcess;
using testing::CommandResult;
using ::testing::HasSubstr;
using testing::run_command;
using testing::wait_for;

constexpr const char* kAccessKey = "AKIDHIKYAKUARCHIVE";
constexpr const char* kSecretKey = "hikyaku-archive-secret-3b9d";
constexpr const char* kBusArn = "arn:aws:events:us-east-1:123456789012:event-bus/default";
constexpr const char* kArchiveArn = "arn:aws:events:us-east-1:123456789012:archive/shop";
constexpr const char* kOrdersRuleArn = "arn:aws:events:us-east-1:123456789012:rule/orders";

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Waits for the wall clock's next whole second and returns it (epoch seconds).
int64_t next_second() {
  const int64_t next = now_ms() / 1000 + 1;
  EXPECT_TRUE(wait_for([&] { return now_ms() >= next * 1000; }));
  return next;
}

std::string event_envelope(const std::string& id, const std::string& source) {
  return R"({"version":"0","id":")" + id + R"(","detail-type":"order","source":")" + source +
         R"(","account":"123456789012","time":"2026-03-01T09:15:02Z","region":"us-east-1",)"
         R"("resources":[],"detail":{"n":1}})";
}

class ArchiveTest : public ::testing::Test {
 protected:
  void TearDown() override { server_.reset(); }

  // The config's Store section (the JetStream variant below names its cluster instead).
  virtual std::string store_section() const {
    return "Store:\n  Sqlite: { Path: var/hikyaku.db, Synchronous: NORMAL }\n";
  }
  void a_replay_of_a_window_delivers_exactly_those_events_to_the_filtered_rule();

  void write_config(int retention_days = 0) {
    std::ofstream(directory_ / "hikyaku.yaml") << R"(Server:
  Listen: 127.0.0.1:0
  Account: "123456789012"
  Region: us-east-1
  Auth:
    SigV4:
      Credentials: [{ AccessKeyId: )" << kAccessKey
                                               << R"(, SecretAccessKey: "${TEST_SECRET_KEY}" }]
)" << store_section() << R"(Connections:
  - Name: none
    AuthorizationType: API_KEY
    AuthParameters:
      ApiKeyAuthParameters: { ApiKeyName: x-key, ApiKeyValue: dummy }
ApiDestinations:
  - { Name: orders, ConnectionName: none, HttpMethod: POST, InvocationEndpoint: ")"
                                               << orders_.url("/orders") << R"(" }
  - { Name: audit, ConnectionName: none, HttpMethod: POST, InvocationEndpoint: ")"
                                               << audit_.url("/audit") << R"(" }
Rules:
  - Name: orders
    EventPattern: { source: [shop] }
    Targets: [{ Id: orders, ApiDestination: orders }]
  - Name: audit
    EventPattern: { source: [shop, other] }
    Targets: [{ Id: audit, ApiDestination: audit }]
  - Name: bulk
    EventPattern: { source: [bulk] }
    Targets: [{ Id: log, Log: { Path: bulk.jsonl } }]
Archives:
  - ArchiveName: shop
    EventSourceArn: )" << kBusArn << R"(
    EventPattern: { source: [shop, bulk] }
    RetentionDays: )" << retention_days << R"(
    Description: the shop's events
)";
  }

  void start_server(std::vector<std::pair<std::string, std::string>> environment = {}) {
    environment.emplace_back("TEST_SECRET_KEY", kSecretKey);
    server_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{HIKYAKU_BINARY, "serve", "--config", "hikyaku.yaml"}, environment,
        directory_.string());
    const std::string address = server_->wait_for_line("listening ");
    ASSERT_FALSE(address.empty()) << "server did not start:\n" << server_->err();
    url_ = address;
  }

  std::vector<std::pair<std::string, std::string>> aws_environment() const {
    return {{"AWS_ACCESS_KEY_ID", kAccessKey},
            {"AWS_SECRET_ACCESS_KEY", kSecretKey},
            {"AWS_REGION", "us-east-1"},
            {"AWS_CONFIG_FILE", "/dev/null"},
            {"AWS_SHARED_CREDENTIALS_FILE", "/dev/null"},
            {"AWS_EC2_METADATA_DISABLED", "true"},
            {"AWS_MAX_ATTEMPTS", "1"},
            {"HOME", directory_.string()}};
  }

  CommandResult aws(std::vector<std::string> arguments) {
    std::vector<std::string> argv = {"/usr/bin/aws", "events"};
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    for (const char* extra : {"--endpoint-url", url_.c_str(), "--region", "us-east-1", "--output",
                              "json", "--no-cli-pager"}) {
      argv.emplace_back(extra);
    }
    return run_command(argv, aws_environment());
  }

  // aws `arguments`, which must succeed; its JSON answer.
  simdjson::dom::element aws_json(std::vector<std::string> arguments) {
    CommandResult result = aws(arguments);
    EXPECT_EQ(result.exit_code, 0) << arguments[0] << ": " << result.err;
    answers_.push_back(result.out.empty() ? "{}" : result.out);
    simdjson::dom::element element;
    EXPECT_EQ(parsers_.emplace_back().parse(answers_.back()).get(element), simdjson::SUCCESS)
        << result.out;
    return element;
  }

  // Publishes `count` events of `source` with the AWS CLI; their ids.
  std::vector<std::string> put(const std::string& source, int count) {
    std::string entries = "[";
    for (int i = 0; i < count; ++i) {
      entries += std::string(i == 0 ? "" : ",") + R"({"Source":")" + source +
                 R"(","DetailType":"order","Detail":"{\"n\":)" + std::to_string(i) + "}\"}";
    }
    entries += "]";
    simdjson::dom::element answer = aws_json({"put-events", "--entries", entries});
    std::vector<std::string> ids;
    for (simdjson::dom::element entry : answer["Entries"].get_array()) {
      ids.emplace_back(std::string_view(entry["EventId"]));
    }
    EXPECT_EQ(ids.size(), static_cast<size_t>(count));
    return ids;
  }

  std::string replay_state(const std::string& name) {
    return std::string(
        std::string_view(aws_json({"describe-replay", "--replay-name", name})["State"]));
  }

  // Writes `count` archived `source` events ingested at `at_ms` straight into the store, before
  // the server starts (how old events get into an archive without waiting for them to age).
  void archive_directly(const std::string& prefix, const std::string& source, int count,
                        int64_t at_ms) {
    std::filesystem::create_directories(directory_ / "var");
    auto store = store::SqliteStore::open({.path = (directory_ / "var/hikyaku.db").string()});
    ASSERT_TRUE(store.has_value()) << store.error().message();
    store::Batch batch;
    for (int i = 0; i < count; ++i) {
      const std::string id = prefix + std::to_string(i);
      batch.events.push_back({id, "default", event_envelope(id, source), at_ms, "shop"});
    }
    ASSERT_TRUE((*store)->append(batch).ok());
  }

  std::set<std::string> ids_received(const testing::HttpReceiver& receiver,
                                     const std::string& replay_name) {
    std::set<std::string> ids;
    simdjson::dom::parser parser;
    for (const testing::ReceivedRequest& request : receiver.requests()) {
      simdjson::dom::element body = parser.parse(request.body);
      std::string_view name = "";
      if (body["replay-name"].get(name) != simdjson::SUCCESS) {
        name = "";
      }
      if (name == replay_name) {
        ids.emplace(std::string_view(body["id"]));
      }
    }
    return ids;
  }

  testing::TempDir temp_dir_{"archive"};
  const std::filesystem::path directory_{temp_dir_.path()};
  testing::HttpReceiver orders_;
  testing::HttpReceiver audit_;
  std::unique_ptr<ChildProcess> server_;
  std::string url_;
  std::deque<simdjson::dom::parser> parsers_;
  std::deque<std::string> answers_;
};

TEST_F(ArchiveTest, AReplayOfAWindowDeliversExactlyThoseEventsToTheFilteredRule) {
  a_replay_of_a_window_delivers_exactly_those_events_to_the_filtered_rule();
}

// The same on the JetStream store: archives are a stream, replay reads them back.
class JetStreamArchiveTest : public ArchiveTest {
 protected:
  void SetUp() override { ASSERT_EQ(cluster_.start(), ""); }
  std::string store_section() const override {
    return "Store:\n  Jetstream: { Servers: [" + cluster_.urls() + "], Replicas: 1 }\n";
  }
  testing::NatsCluster cluster_{1};
};

TEST_F(JetStreamArchiveTest, AReplayOfAWindowDeliversExactlyThoseEventsToTheFilteredRule) {
  a_replay_of_a_window_delivers_exactly_those_events_to_the_filtered_rule();
}

void ArchiveTest::a_replay_of_a_window_delivers_exactly_those_events_to_the_filtered_rule() {
  write_config();
  start_server();
  const std::vector<std::string> before = put("shop", 2);
  put("other", 1);
  const int64_t start = next_second();
  const std::vector<std::string> inside = put("shop", 3);
  put("other", 2);
  const int64_t end = next_second();
  put("shop", 1);
  ASSERT_TRUE(
      wait_for([&] { return orders_.request_count() == 6 && audit_.request_count() == 9; }));

  // Only the shop's events are archived.
  simdjson::dom::element archive = aws_json({"describe-archive", "--archive-name", "shop"});
  EXPECT_EQ(int64_t(archive["EventCount"]), 6);
  EXPECT_GT(int64_t(archive["SizeBytes"]), 6 * 100);
  EXPECT_EQ(std::string_view(archive["ArchiveArn"]), kArchiveArn);
  EXPECT_EQ(std::string_view(archive["State"]), "ENABLED");
  EXPECT_EQ(std::string_view(archive["Description"]), "the shop's events");
  simdjson::dom::element archives = aws_json({"list-archives"});
  EXPECT_EQ(std::string_view(archives["Archives"].at(0)["ArchiveName"]), "shop");

  simdjson::dom::element started = aws_json(
      {"start-replay", "--replay-name", "window", "--event-source-arn", kArchiveArn,
       "--event-start-time", std::to_string(start), "--event-end-time", std::to_string(end),
       "--destination",
       std::string(R"({"Arn":")") + kBusArn + R"(","FilterArns":[")" + kOrdersRuleArn + R"("]})"});
  EXPECT_EQ(std::string_view(started["ReplayArn"]),
            "arn:aws:events:us-east-1:123456789012:replay/window");
  EXPECT_EQ(std::string_view(started["State"]), "STARTING");
  ASSERT_TRUE(wait_for([&] { return replay_state("window") == "COMPLETED"; }));

  ASSERT_TRUE(wait_for([&] { return orders_.request_count() == 9; }));
  EXPECT_EQ(ids_received(orders_, "window"), std::set<std::string>(inside.begin(), inside.end()));
  simdjson::dom::element replay = aws_json({"describe-replay", "--replay-name", "window"});
  EXPECT_EQ(std::string_view(replay["EventSourceArn"]), kArchiveArn);
  EXPECT_EQ(std::string_view(replay["Destination"]["FilterArns"].at(0)), kOrdersRuleArn);
  simdjson::dom::element replays = aws_json({"list-replays", "--state", "COMPLETED"});
  EXPECT_EQ(std::string_view(replays["Replays"].at(0)["ReplayName"]), "window");
  // The audit rule matched the same events live, but was not in FilterArns.
  put("other", 1);
  ASSERT_TRUE(wait_for([&] { return audit_.request_count() == 10; }));
  EXPECT_TRUE(ids_received(audit_, "window").empty());
  (void)before;

  // A second replay of the same name, and one of an archive that does not exist.
  CommandResult again =
      aws({"start-replay", "--replay-name", "window", "--event-source-arn", kArchiveArn,
           "--event-start-time", std::to_string(start), "--event-end-time", std::to_string(end),
           "--destination", std::string(R"({"Arn":")") + kBusArn + R"("})"});
  EXPECT_NE(again.exit_code, 0);
  EXPECT_THAT(again.err, HasSubstr("ResourceAlreadyExistsException"));
  CommandResult missing = aws({"describe-archive", "--archive-name", "nope"});
  EXPECT_THAT(missing.err, HasSubstr("ResourceNotFoundException"));
}

TEST_F(ArchiveTest, CancelStopsALongReplay) {
  write_config();
  archive_directly("bulk-", "bulk", 3000, now_ms() - 60'000);
  // 100 events a second: the replay takes 30 seconds unless cancelled.
  start_server({{"HIKYAKU_REPLAY_MAX_EVENTS_PER_SECOND", "100"}});
  const int64_t end = now_ms() / 1000;
  aws_json({"start-replay", "--replay-name", "long", "--event-source-arn", kArchiveArn,
            "--event-start-time", std::to_string(end - 3600), "--event-end-time",
            std::to_string(end), "--destination", std::string(R"({"Arn":")") + kBusArn + "\"}"});
  ASSERT_TRUE(wait_for([&] { return replay_state("long") == "RUNNING"; }));
  simdjson::dom::element cancelling = aws_json({"cancel-replay", "--replay-name", "long"});
  EXPECT_EQ(std::string_view(cancelling["State"]), "CANCELLING");
  ASSERT_TRUE(wait_for([&] { return replay_state("long") == "CANCELLED"; }));
  simdjson::dom::element replay = aws_json({"describe-replay", "--replay-name", "long"});
  EXPECT_TRUE(replay["ReplayEndTime"].error() == simdjson::SUCCESS);
  // It stopped part of the way: the last event replayed is the minute before the end of the window.
  std::string_view last;
  ASSERT_EQ(replay["EventLastReplayedTime"].get(last), simdjson::SUCCESS);
  // Cancelling an ended replay is refused as EventBridge does.
  CommandResult again = aws({"cancel-replay", "--replay-name", "long"});
  EXPECT_THAT(again.err, HasSubstr("IllegalStatusException"));
  // Fewer than all the events reached the rule's Log.
  std::ifstream log(directory_ / "bulk.jsonl");
  size_t lines = 0;
  for (std::string line; std::getline(log, line);) {
    ++lines;
  }
  EXPECT_LT(lines, 3000u);
}

TEST_F(ArchiveTest, RetentionRemovesOldEvents) {
  write_config(1);
  archive_directly("old-", "shop", 5, now_ms() - 2 * 86'400'000);
  archive_directly("recent-", "shop", 3, now_ms() - 3'600'000);
  start_server();
  ASSERT_TRUE(wait_for([&] {
    return int64_t(aws_json({"describe-archive", "--archive-name", "shop"})["EventCount"]) == 3;
  }));
  simdjson::dom::element archive = aws_json({"describe-archive", "--archive-name", "shop"});
  EXPECT_EQ(int64_t(archive["RetentionDays"]), 1);
}

TEST_F(ArchiveTest, ReplayCommandStartsWatchesAndCancels) {
  write_config();
  archive_directly("bulk-", "bulk", 2000, now_ms() - 60'000);
  start_server({{"HIKYAKU_REPLAY_MAX_EVENTS_PER_SECOND", "100"}});
  const int64_t end = now_ms() / 1000;
  const auto hikyaku = [&](std::vector<std::string> arguments) {
    arguments.insert(arguments.begin(), {HIKYAKU_BINARY, "replay"});
    arguments.insert(arguments.end(), {"--endpoint", url_});
    return run_command(arguments, aws_environment());
  };
  CommandResult started = hikyaku({"start", "cli", "--archive", "shop", "--from",
                                   std::to_string(end - 3600), "--to", std::to_string(end)});
  ASSERT_EQ(started.exit_code, 0) << started.err;
  EXPECT_THAT(started.out, HasSubstr("cli STARTING"));
  ASSERT_TRUE(wait_for([&] {
    return hikyaku({"status", "cli"}).out.find("RUNNING") != std::string::npos;
  }));
  CommandResult cancelled = hikyaku({"cancel", "cli"});
  ASSERT_EQ(cancelled.exit_code, 0) << cancelled.err;
  EXPECT_THAT(cancelled.out, HasSubstr("cli CANCELLING"));
  ASSERT_TRUE(wait_for([&] {
    return hikyaku({"status", "cli"}).out.find("CANCELLED") != std::string::npos;
  }));
  CommandResult missing = hikyaku({"status", "nope"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("ResourceNotFoundException"));
}

}  // namespace
}  // namespace hikyaku
