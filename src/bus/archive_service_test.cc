// Archiving at ingest and the replay runner, driven step by step (run_once) over a real SQLite
// store, group committer and pipeline: archives by pattern, replays of a window to the rules
// named (with replay-name, not archived again), cancel, resume after a restart, retention.
#include "bus/archive_service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include <future>
#include <map>

#include "store/sqlite/sqlite_store.h"
#include "testing/fake_clock.h"
#include "testing/temp_dir.h"

namespace hikyaku::bus {
namespace {

using ::testing::HasSubstr;

constexpr std::string_view kConfig = R"(Server: { Account: "123456789012", Region: us-east-1 }
Rules:
  - Name: orders
    EventPattern: { source: [shop] }
    Targets: [{ Id: log, Log: { Path: orders.jsonl } }]
  - Name: audit
    EventPattern: { source: [shop, other] }
    Targets: [{ Id: log, Log: { Path: audit.jsonl } }]
Archives:
  - ArchiveName: shop
    EventSourceArn: arn:aws:events:us-east-1:123456789012:event-bus/default
    EventPattern: { source: [shop] }
    RetentionDays: 1
  - ArchiveName: everything
    EventBusName: default
)";

constexpr std::string_view kBusArn = "arn:aws:events:us-east-1:123456789012:event-bus/default";
constexpr std::string_view kShopArchiveArn = "arn:aws:events:us-east-1:123456789012:archive/shop";
constexpr std::string_view kOrdersRuleArn = "arn:aws:events:us-east-1:123456789012:rule/orders";

Envelope event(const std::string& id, const std::string& source) {
  Envelope envelope;
  envelope.version = "0";
  envelope.id = id;
  envelope.detail_type = "test";
  envelope.source = source;
  envelope.account = "123456789012";
  envelope.time = "2026-03-01T09:15:02Z";
  envelope.region = "us-east-1";
  envelope.detail_json = R"({"n":1})";
  return envelope;
}

class ArchiveServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    open();
    config::LoadResult loaded = config::load_config_text(kConfig, "test.yaml");
    ASSERT_TRUE(loaded.ok()) << loaded.errors[0].to_string();
    auto snapshot = Snapshot::build(
        std::make_shared<const config::Config>(std::move(*loaded.config)), metrics_);
    ASSERT_TRUE(snapshot.has_value()) << snapshot.error().message();
    snapshot_ = *snapshot;
    start_pipeline();
  }
  void TearDown() override { close(); }

  void open() {
    auto opened = store::SqliteStore::open({.path = directory_.file("db")});
    ASSERT_TRUE(opened.has_value()) << opened.error().message();
    store_ = std::move(opened).value();
    committer_ = std::make_unique<store::GroupCommitter>(*store_);
  }
  void start_pipeline() {
    pipeline_ = std::make_unique<Pipeline>(*committer_, metrics_, clock_, snapshot_);
    service_ = std::make_unique<ArchiveService>(*store_, *committer_, *pipeline_, clock_,
                                                ArchiveService::Options{.page_events = 2});
  }
  void close() {
    service_.reset();
    pipeline_.reset();
    committer_.reset();
    store_.reset();
  }

  void ingest(std::vector<Envelope> envelopes) {
    std::promise<std::vector<Status>> answer;
    pipeline_->ingest("default", std::move(envelopes),
                      [&](std::vector<Status> statuses) { answer.set_value(std::move(statuses)); });
    for (const Status& status : answer.get_future().get()) {
      ASSERT_TRUE(status.ok()) << status.to_string();
    }
  }

  // What the jobs committed since the last call were: target key -> event ids, and whether each
  // body carried the replay's name.
  std::multimap<std::string, std::string> take_jobs() {
    auto claims = store_->claim(clock_.now_ms() + 1, 10'000, 60'000);
    EXPECT_TRUE(claims.has_value());
    std::multimap<std::string, std::string> jobs;
    simdjson::dom::parser parser;
    for (const store::Claim& claim : *claims) {
      simdjson::dom::element body = parser.parse(claim.job.body);
      std::string_view replay_name = "-";
      if (body["replay-name"].get(replay_name) != simdjson::SUCCESS) {
        replay_name = "";
      }
      jobs.emplace(claim.job.target,
                   std::string(std::string_view(body["id"])) + "@" + std::string(replay_name));
      EXPECT_TRUE(store_->complete(claim).ok());
    }
    return jobs;
  }

  std::vector<std::string> archived_ids(const std::string& archive) {
    std::vector<std::string> ids;
    auto events = store_->archive_read(archive, INT64_MAX, {0, 0}, 1000);
    EXPECT_TRUE(events.has_value());
    simdjson::dom::parser parser;
    for (const store::StoredArchivedEvent& stored : *events) {
      ids.emplace_back(std::string_view(parser.parse(stored.envelope)["id"]));
    }
    return ids;
  }

  ReplayRequest replay_request(const std::string& name, std::vector<std::string> filters) {
    return {.name = name,
            .description = "",
            .event_source_arn = std::string(kShopArchiveArn),
            .event_start_ms = 0,
            .event_end_ms = clock_.now_ms(),
            .destination_arn = std::string(kBusArn),
            .filter_arns = std::move(filters)};
  }

  ReplayState run_to_end(const std::string& name) {
    for (int i = 0; i < 100; ++i) {
      Result<ArchiveService::Step> step = service_->run_once();
      EXPECT_TRUE(step.has_value()) << step.error().message();
      if (!step.has_value() || step->kind == ArchiveService::Step::kIdle) {
        break;
      }
    }
    return service_->describe_replay(name)->state;
  }

  testing::TempDir directory_{"archive"};
  testing::FakeClock clock_;
  MetricsRegistry metrics_;
  std::shared_ptr<const Snapshot> snapshot_;
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<store::GroupCommitter> committer_;
  std::unique_ptr<Pipeline> pipeline_;
  std::unique_ptr<ArchiveService> service_;
};

TEST_F(ArchiveServiceTest, ArchivesEachEventInTheArchivesWhosePatternItMatches) {
  ingest({event("s1", "shop"), event("o1", "other"), event("s2", "shop")});
  EXPECT_EQ(archived_ids("shop"), (std::vector<std::string>{"s1", "s2"}));
  EXPECT_EQ(archived_ids("everything"), (std::vector<std::string>{"s1", "o1", "s2"}));
  Result<ArchiveInfo> shop = service_->describe_archive("shop");
  ASSERT_TRUE(shop.has_value());
  EXPECT_EQ(shop->arn, kShopArchiveArn);
  EXPECT_EQ(shop->event_source_arn, kBusArn);
  EXPECT_EQ(shop->event_count, 2);
  EXPECT_GT(shop->size_bytes, 100);
  EXPECT_EQ(shop->retention_days, 1);
  EXPECT_EQ(service_->describe_archive("none").error().code(), StatusCode::kNotFound);
  EXPECT_EQ(service_->list_archives()->size(), 2u);
}

TEST_F(ArchiveServiceTest, AReplayGoesOnlyToTheFilteredRulesWithReplayNameAndIsNotArchivedAgain) {
  ingest({event("s1", "shop"), event("o1", "other"), event("s2", "shop"), event("s3", "shop")});
  (void)take_jobs();
  clock_.advance(std::chrono::seconds(1));
  Result<ReplayInfo> started =
      service_->start_replay(replay_request("r1", {std::string(kOrdersRuleArn)}));
  ASSERT_TRUE(started.has_value()) << started.error().message();
  EXPECT_EQ(started->state, ReplayState::kStarting);
  EXPECT_EQ(started->arn, "arn:aws:events:us-east-1:123456789012:replay/r1");
  EXPECT_EQ(run_to_end("r1"), ReplayState::kCompleted);
  const auto jobs = take_jobs();
  EXPECT_EQ(jobs, (std::multimap<std::string, std::string>{{"default/orders/log", "s1@r1"},
                                                           {"default/orders/log", "s2@r1"},
                                                           {"default/orders/log", "s3@r1"}}));
  EXPECT_EQ(archived_ids("shop").size(), 3u);  // not archived again
  EXPECT_EQ(archived_ids("everything").size(), 4u);
  Result<ReplayInfo> done = service_->describe_replay("r1");
  EXPECT_EQ(done->replayed_events, 3);
  EXPECT_TRUE(done->replay_end_ms.has_value());
  EXPECT_TRUE(done->event_last_replayed_ms.has_value());
  EXPECT_EQ(service_->start_replay(replay_request("r1", {})).error().code(),
            StatusCode::kAlreadyExists);
}

TEST_F(ArchiveServiceTest, AReplayWithoutFiltersGoesToEveryMatchingRuleOfTheBus) {
  ingest({event("s1", "shop")});
  (void)take_jobs();
  clock_.advance(std::chrono::seconds(1));
  ASSERT_TRUE(service_->start_replay(replay_request("all", {})).has_value());
  EXPECT_EQ(run_to_end("all"), ReplayState::kCompleted);
  EXPECT_EQ(take_jobs(), (std::multimap<std::string, std::string>{
                             {"default/audit/log", "s1@all"}, {"default/orders/log", "s1@all"}}));
}

TEST_F(ArchiveServiceTest, OnlyTheWindowIsReplayed) {
  ingest({event("before", "shop")});
  clock_.advance(std::chrono::seconds(10));
  const int64_t start = clock_.now_ms();
  ingest({event("inside", "shop")});
  clock_.advance(std::chrono::seconds(10));
  const int64_t end = clock_.now_ms();
  ingest({event("after", "shop")});
  (void)take_jobs();
  ReplayRequest request = replay_request("window", {std::string(kOrdersRuleArn)});
  request.event_start_ms = start;
  request.event_end_ms = end;
  ASSERT_TRUE(service_->start_replay(request).has_value());
  EXPECT_EQ(run_to_end("window"), ReplayState::kCompleted);
  EXPECT_EQ(take_jobs(),
            (std::multimap<std::string, std::string>{{"default/orders/log", "inside@window"}}));
}

TEST_F(ArchiveServiceTest, CancelStopsTheReplayAtItsNextPage) {
  ingest({event("s1", "shop"), event("s2", "shop"), event("s3", "shop"), event("s4", "shop"),
          event("s5", "shop")});
  (void)take_jobs();
  clock_.advance(std::chrono::seconds(1));
  ASSERT_TRUE(service_->start_replay(replay_request("c", {std::string(kOrdersRuleArn)})));
  Result<ArchiveService::Step> first = service_->run_once();  // one page of two
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->events, 2);
  EXPECT_EQ(service_->describe_replay("c")->state, ReplayState::kRunning);
  Result<ReplayInfo> cancelling = service_->cancel_replay("c");
  ASSERT_TRUE(cancelling.has_value());
  EXPECT_EQ(cancelling->state, ReplayState::kCancelling);
  EXPECT_EQ(run_to_end("c"), ReplayState::kCancelled);
  EXPECT_EQ(take_jobs().size(), 2u);
  EXPECT_EQ(service_->cancel_replay("c").error().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(service_->cancel_replay("none").error().code(), StatusCode::kNotFound);
}

TEST_F(ArchiveServiceTest, AReplayResumesAfterARestartFromWhereItGot) {
  ingest({event("s1", "shop"), event("s2", "shop"), event("s3", "shop"), event("s4", "shop"),
          event("s5", "shop")});
  (void)take_jobs();
  clock_.advance(std::chrono::seconds(1));
  ASSERT_TRUE(service_->start_replay(replay_request("resume", {std::string(kOrdersRuleArn)})));
  ASSERT_TRUE(service_->run_once().has_value());
  EXPECT_EQ(take_jobs().size(), 2u);
  close();
  open();
  start_pipeline();
  ASSERT_TRUE(service_->resume().ok());
  EXPECT_EQ(run_to_end("resume"), ReplayState::kCompleted);
  EXPECT_EQ(take_jobs(),
            (std::multimap<std::string, std::string>{{"default/orders/log", "s3@resume"},
                                                     {"default/orders/log", "s4@resume"},
                                                     {"default/orders/log", "s5@resume"}}));
  EXPECT_EQ(service_->describe_replay("resume")->replayed_events, 5);
}

TEST_F(ArchiveServiceTest, RefusesBadReplays) {
  ReplayRequest unknown_archive = replay_request("x", {});
  unknown_archive.event_source_arn = "arn:aws:events:us-east-1:123456789012:archive/nope";
  EXPECT_EQ(service_->start_replay(unknown_archive).error().code(), StatusCode::kNotFound);
  ReplayRequest bad_name = replay_request("bad name", {});
  EXPECT_EQ(service_->start_replay(bad_name).error().code(), StatusCode::kInvalidArgument);
  ReplayRequest backwards = replay_request("x", {});
  backwards.event_start_ms = backwards.event_end_ms;
  EXPECT_EQ(service_->start_replay(backwards).error().code(), StatusCode::kInvalidArgument);
  ReplayRequest other_bus = replay_request("x", {});
  other_bus.destination_arn = "arn:aws:events:us-east-1:123456789012:event-bus/other";
  EXPECT_THAT(service_->start_replay(other_bus).error().message(), HasSubstr("Destination.Arn"));
  ReplayRequest unknown_rule =
      replay_request("x", {"arn:aws:events:us-east-1:123456789012:rule/nope"});
  EXPECT_THAT(service_->start_replay(unknown_rule).error().message(),
              HasSubstr("Destination.FilterArns"));
  EXPECT_EQ(service_->describe_replay("x").error().code(), StatusCode::kNotFound);
  EXPECT_TRUE(service_->list_replays()->empty());
}

TEST_F(ArchiveServiceTest, RetentionRemovesEventsOlderThanTheArchivesDays) {
  ingest({event("old", "shop")});
  clock_.advance(std::chrono::hours(23));
  ingest({event("new", "shop")});
  clock_.advance(std::chrono::hours(2));
  Result<int64_t> removed = service_->sweep_retention();
  ASSERT_TRUE(removed.has_value());
  EXPECT_EQ(*removed, 1);
  EXPECT_EQ(archived_ids("shop"), (std::vector<std::string>{"new"}));
  EXPECT_EQ(archived_ids("everything").size(), 2u);  // RetentionDays 0: kept
}

}  // namespace
}  // namespace hikyaku::bus
