#include "delivery/dispatcher.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <set>
#include <sstream>

#include "store/group_commit.h"
#include "store/sqlite/sqlite_store.h"
#include "testing/fake_clock.h"
#include "testing/http_receiver.h"
#include "testing/temp_dir.h"
#include "testing/wait.h"

namespace hikyaku::delivery {
namespace {

using ::testing::HasSubstr;
using testing::HttpReceiver;
using ::testing::Not;
using testing::wait_for;

constexpr const char* kSecret = "bk-SECRET-4711";

class DispatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened =
        store::SqliteStore::open({.path = (directory_ / "db").string(), .synchronous_full = false});
    ASSERT_TRUE(opened.has_value()) << opened.error().message();
    store_ = std::move(opened).value();
  }
  void TearDown() override {
    dispatcher_.reset();
    store_.reset();
  }

  void start(Endpoints endpoints, int workers = 2, int64_t lease_ms = 60'000,
             int64_t idle_poll_ms = 20, int max_handed_off = 2048,
             int64_t max_handed_off_bytes = int64_t{64} << 20) {
    Dispatcher::Options options;
    options.workers = workers;
    options.lease_ms = lease_ms;
    options.idle_poll_ms = idle_poll_ms;
    options.max_handed_off = max_handed_off;
    options.max_handed_off_bytes = max_handed_off_bytes;
    options.backoff = backoff_;
    options.http_timeout_ms = 1000;
    dispatcher_ = std::make_unique<Dispatcher>(
        *store_, metrics_, *clock_, std::make_shared<const Endpoints>(std::move(endpoints)),
        options, *random_);
    if (committer_ != nullptr) {
      dispatcher_->attach(*committer_);
    }
    dispatcher_->start();
  }

  void append(const std::string& target, const std::string& body) {
    ASSERT_TRUE(
        store_->append({{{target, "event-1", body, "", clock_->now_ms()}}, {}, {}, {}}).ok());
    if (dispatcher_) {
      dispatcher_->notify();
    }
  }

  static Endpoint log_to(const std::string& path) {
    Endpoint log;
    log.kind = Endpoint::Kind::kLog;
    log.rule = "r1";
    log.target_id = "t1";
    log.log_path = path;
    return log;
  }

  // Commits `count` jobs in one group commit that hands them to the dispatcher.
  void commit_through(store::GroupCommitter& committer, int count) {
    store::Batch batch;
    for (int i = 0; i < count; ++i) {
      batch.jobs.push_back({"default/r1/t1", "event-" + std::to_string(i),
                            "{\"n\":" + std::to_string(i) + "}", "", clock_->now_ms()});
    }
    std::promise<Status> committed;
    committer.submit(std::move(batch), [&](const Status& s) { committed.set_value(s); });
    ASSERT_TRUE(committed.get_future().get().ok());
  }

  std::set<std::string> logged_bodies(const std::string& path) {
    std::ifstream file(path);
    std::string line;
    std::set<std::string> bodies;
    simdjson::dom::parser parser;
    while (std::getline(file, line)) {
      bodies.emplace(std::string_view(parser.parse(line)["body"]));
    }
    return bodies;
  }

  int64_t pending() { return store_->counts(clock_->now_ms() + 3'600'000)->pending; }
  std::vector<store::DeadLetter> dead_letters() { return store_->dlq_list(100, 0).value(); }

  static Endpoint http(const std::string& url, RetryPolicy retry = {}) {
    Endpoint endpoint;
    endpoint.kind = Endpoint::Kind::kHttp;
    endpoint.destination = "dest";
    endpoint.url = url;
    endpoint.headers.emplace_back("dummy-key", Secret("dummy-value"));
    endpoint.retry_policy = retry;
    endpoint.rate_limit_per_second = 1000;
    return endpoint;
  }

  testing::TempDir dir_{"delivery"};
  const std::filesystem::path directory_{dir_.path()};
  testing::FakeClock fake_clock_;
  testing::FakeRandom fake_random_;
  // What start() gives the dispatcher; a test may point them at the fakes before.
  const Clock* clock_ = &SystemClock::instance();
  Random* random_ = &SystemRandom::instance();
  Backoff backoff_{1, 4};  // retries within milliseconds
  MetricsRegistry metrics_;
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<Dispatcher> dispatcher_;
  store::GroupCommitter* committer_ = nullptr;  // attached by start() when set
};

TEST_F(DispatcherTest, LogTargetAppendsOneJsonLinePerDelivery) {
  const std::string path = (directory_ / "out.jsonl").string();
  Endpoint log;
  log.kind = Endpoint::Kind::kLog;
  log.rule = "r1";
  log.target_id = "t1";
  log.log_path = path;
  start({{"default/r1/t1", log}});
  append("default/r1/t1", R"({"a": "quote \" and\nnewline"})");
  append("default/r1/t1", "second");
  ASSERT_TRUE(wait_for([&] { return pending() == 0 && dispatcher_->attempts() == 2; }));

  std::ifstream file(path);
  std::string line;
  std::vector<std::string> bodies;
  simdjson::dom::parser parser;
  while (std::getline(file, line)) {
    simdjson::dom::element element;
    ASSERT_EQ(parser.parse(line).get(element), simdjson::SUCCESS) << line;
    EXPECT_EQ(std::string_view(element["rule"]), "r1");
    EXPECT_EQ(std::string_view(element["target"]), "t1");
    EXPECT_EQ(std::string_view(element["time"]).size(), 24u);
    bodies.emplace_back(std::string_view(element["body"]));
  }
  std::sort(bodies.begin(), bodies.end());
  EXPECT_EQ(bodies, (std::vector<std::string>{"second", R"({"a": "quote \" and\nnewline"})"}));
}

TEST_F(DispatcherTest, HttpSuccessSendsBodyAndConnectionHeaders) {
  HttpReceiver receiver;
  start({{"b/r/t", http(receiver.url("/api/v2/issues?apiKey=") + kSecret)}});
  append("b/r/t", R"({"summary":"x"})");
  ASSERT_TRUE(wait_for([&] { return pending() == 0 && dispatcher_->attempts() == 1; }));
  std::vector<testing::ReceivedRequest> requests = receiver.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].target, std::string("/api/v2/issues?apiKey=") + kSecret);
  EXPECT_EQ(requests[0].body, R"({"summary":"x"})");
  EXPECT_EQ(requests[0].headers["dummy-key"], "dummy-value");
  EXPECT_EQ(requests[0].headers["content-type"], "application/json; charset=utf-8");
  EXPECT_TRUE(dead_letters().empty());
  // Counters are bumped right after the store is updated: wait for them rather than race.
  EXPECT_TRUE(wait_for([&] {
    return metrics_.render().find("hikyaku_invocations_total{target=\"b/r/t\"} 1") !=
           std::string::npos;
  }));
}

TEST_F(DispatcherTest, ClientErrorGoesToDlqAtOnceWithoutLeakingTheKey) {
  HttpReceiver receiver;
  receiver.set_status(400);
  start({{"b/r/t", http(receiver.url("/x?apiKey=") + kSecret)}});
  append("b/r/t", "{}");
  ASSERT_TRUE(wait_for([&] { return dead_letters().size() == 1; }));
  EXPECT_EQ(receiver.request_count(), 1u);  // not retried
  const store::DeadLetter letter = dead_letters()[0];
  EXPECT_EQ(letter.reason.error_code, "HTTP_400");
  EXPECT_THAT(letter.reason.error_message, HasSubstr("test error"));
  EXPECT_EQ(letter.reason.exhausted_retry_condition, "");
  EXPECT_EQ(pending(), 0);
  EXPECT_TRUE(wait_for([&] {
    return metrics_.render().find("hikyaku_invocations_sent_to_dlq_total{target=\"b/r/t\"} 1") !=
           std::string::npos;
  }));
}

TEST_F(DispatcherTest, ServerErrorsAreRetriedUntilAttemptsRunOut) {
  HttpReceiver receiver;
  receiver.set_status(503);
  start({{"b/r/t", http(receiver.url("/"), {.maximum_retry_attempts = 2})}});
  append("b/r/t", "{}");
  ASSERT_TRUE(wait_for([&] { return dead_letters().size() == 1; }));
  EXPECT_EQ(receiver.request_count(), 3u);  // 1 attempt + 2 retries
  const store::DeadLetter letter = dead_letters()[0];
  EXPECT_EQ(letter.reason.error_code, "HTTP_503");
  EXPECT_EQ(letter.reason.exhausted_retry_condition, "MaximumRetryAttempts");
  EXPECT_EQ(letter.job.attempts, 3);
}

TEST_F(DispatcherTest, RetryBackoffIsDrawnFromTheInjectedRandomAndClock) {
  HttpReceiver receiver;
  receiver.set_status(503);
  fake_random_.set(uint64_t{1} << 63);  // Random::unit() == 0.5
  clock_ = &fake_clock_;
  random_ = &fake_random_;
  backoff_ = {1000, 600'000};
  start({{"b/r/t", http(receiver.url("/"))}});
  append("b/r/t", "{}");
  // The attempt failed and its retry is recorded: no lease left.
  ASSERT_TRUE(wait_for([&] {
    return dispatcher_->attempts() == 1 && store_->counts(fake_clock_.now_ms())->leased == 0;
  }));
  dispatcher_->stop();
  // Retry 1 waits unit() x min(cap, base x 2^1) = 0.5 x 2000 ms after the failure.
  EXPECT_TRUE(store_->claim(fake_clock_.now_ms() + 999, 10, 60'000)->empty());
  Result<std::vector<store::Claim>> due = store_->claim(fake_clock_.now_ms() + 1000, 10, 60'000);
  ASSERT_TRUE(due.has_value());
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ((*due)[0].job.attempts, 1);
  EXPECT_THAT((*due)[0].job.last_error, HasSubstr("HTTP_503"));
  EXPECT_EQ(receiver.request_count(), 1u);
}

TEST_F(DispatcherTest, RecoversWhenTheDestinationComesBack) {
  HttpReceiver receiver;
  receiver.set_status(500);
  start({{"b/r/t", http(receiver.url("/"))}});
  append("b/r/t", "{}");
  ASSERT_TRUE(wait_for([&] { return receiver.request_count() >= 2; }));
  receiver.set_status(200);
  ASSERT_TRUE(wait_for([&] { return pending() == 0; }));
  EXPECT_TRUE(dead_letters().empty());
}

TEST_F(DispatcherTest, UnreachableDestinationIsAConnectionFailureAndKeyStaysHidden) {
  uint16_t closed_port = 0;
  {
    HttpReceiver gone;
    closed_port = gone.port();
  }
  start({{"b/r/t", http("http://127.0.0.1:" + std::to_string(closed_port) + "/x?apiKey=" + kSecret,
                        {.maximum_retry_attempts = 1})}});
  append("b/r/t", "{}");
  ASSERT_TRUE(wait_for([&] { return dead_letters().size() == 1; }));
  const store::DeadLetter letter = dead_letters()[0];
  EXPECT_EQ(letter.reason.error_code, "CONNECTION_FAILURE");
  EXPECT_THAT(letter.reason.error_message, Not(HasSubstr(kSecret)));
  EXPECT_THAT(metrics_.render(), Not(HasSubstr(kSecret)));
}

TEST_F(DispatcherTest, TargetRemovedByReloadIsDeadLettered) {
  start({});
  append("b/r/gone", "{}");
  ASSERT_TRUE(wait_for([&] { return dead_letters().size() == 1; }));
  EXPECT_EQ(dead_letters()[0].reason.error_code, "NO_RESOURCE");
}

TEST_F(DispatcherTest, RateLimitPacesDeliveries) {
  HttpReceiver receiver;
  Endpoint endpoint = http(receiver.url("/"));
  endpoint.rate_limit_per_second = 20;
  start({{"b/r/t", endpoint}}, 4);
  const auto started = SystemClock::instance().steady_now();
  for (int i = 0; i < 6; ++i) {
    append("b/r/t", "{}");
  }
  ASSERT_TRUE(wait_for([&] { return receiver.request_count() == 6; }));
  // 6 sends at 20/s need at least 5 intervals of 50 ms, whatever the number of workers.
  EXPECT_GE(SystemClock::instance().steady_now() - started, std::chrono::milliseconds(250));
  EXPECT_THAT(metrics_.render(), HasSubstr("hikyaku_throttled_rules_total{destination=\"dest\"}"));
}

TEST_F(DispatcherTest, SendSlotsBeyondTheLeaseAreReleasedNotDuplicated) {
  HttpReceiver receiver;
  Endpoint endpoint = http(receiver.url("/"));
  endpoint.rate_limit_per_second = 4;
  // Lease 3 s and 1 s timeouts: only slots within the next second are waited for.
  start({{"b/r/t", endpoint}}, 2, 3000);
  for (int i = 0; i < 8; ++i) {
    append("b/r/t", "{\"n\":" + std::to_string(i) + "}");
  }
  ASSERT_TRUE(wait_for([&] { return pending() == 0 && receiver.request_count() == 8; }));
  std::set<std::string> bodies;
  for (const testing::ReceivedRequest& request : receiver.requests()) {
    bodies.insert(request.body);
  }
  EXPECT_EQ(bodies.size(), 8u);  // each job sent exactly once
  EXPECT_TRUE(dead_letters().empty());
}

TEST_F(DispatcherTest, JobsHandedOverByTheCommitAreDeliveredWithoutAStoreClaim) {
  const std::string path = (directory_ / "out.jsonl").string();
  // Polls the store once at start and then only after an hour: whatever arrives later can only
  // come from the commits.
  store::GroupCommitter committer(*store_);
  committer_ = &committer;
  start({{"default/r1/t1", log_to(path)}}, 2, 60'000, 3'600'000);
  commit_through(committer, 25);
  ASSERT_TRUE(wait_for([&] { return logged_bodies(path).size() == 25; }));
  EXPECT_TRUE(wait_for([&] { return store_->counts(0)->leased == 0 && pending() == 0; }));
  dispatcher_->stop();
}

TEST_F(DispatcherTest, JobsBeyondTheHandoffLimitStayInTheStoreAndAreClaimed) {
  const std::string path = (directory_ / "out.jsonl").string();
  store::GroupCommitter committer(*store_);
  committer_ = &committer;
  start({{"default/r1/t1", log_to(path)}}, 2, 60'000, 3'600'000, 4);
  commit_through(committer, 30);  // 4 handed over, 26 left for claim()
  ASSERT_TRUE(wait_for([&] { return logged_bodies(path).size() == 30; }));
  EXPECT_TRUE(wait_for([&] { return store_->counts(0)->leased == 0 && pending() == 0; }));
  dispatcher_->stop();
}

TEST_F(DispatcherTest, HandedOverJobsAreBoundedInBytesToo) {
  store::GroupCommitter committer(*store_);
  committer_ = &committer;
  // No workers: what is handed over stays handed over. Room for two 10 kB jobs and a half.
  const store::NewJob sample{"default/r1/t1", "event-0", std::string(10'000, 'x'), "", 0};
  start({{"default/r1/t1", log_to((directory_ / "out.jsonl").string())}}, 0, 60'000, 20, 2048,
        2 * store::entry_bytes(sample) + store::entry_bytes(sample) / 2);
  const auto commit_large = [&](int count) {
    store::Batch batch;
    batch.jobs.assign(count, sample);
    std::promise<Status> committed;
    committer.submit(std::move(batch), [&](const Status& s) { committed.set_value(s); });
    ASSERT_TRUE(committed.get_future().get().ok());
  };
  commit_large(5);
  EXPECT_EQ(store_->counts(0)->leased, 2);
  EXPECT_EQ(store_->counts(0)->pending, 3);
  commit_large(1);  // the half left is not room for another
  EXPECT_EQ(store_->counts(0)->leased, 2);
  EXPECT_EQ(store_->counts(0)->pending, 4);
  committer.stop();
  dispatcher_->stop();
  EXPECT_EQ(store_->counts(0)->leased, 0);
  EXPECT_EQ(pending(), 6);
}

TEST_F(DispatcherTest, StopGivesHandedOverJobsNotYetAttemptedBackToTheStore) {
  store::GroupCommitter committer(*store_);
  committer_ = &committer;
  start({{"default/r1/t1", log_to((directory_ / "out.jsonl").string())}}, 0);  // no workers
  commit_through(committer, 5);
  EXPECT_EQ(store_->counts(0)->leased, 5);
  committer.stop();
  dispatcher_->stop();
  EXPECT_EQ(store_->counts(0)->leased, 0);
  EXPECT_EQ(pending(), 5);
  EXPECT_EQ(dispatcher_->attempts(), 0);
}

}  // namespace
}  // namespace hikyaku::delivery
