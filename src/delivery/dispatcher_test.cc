#include "delivery/dispatcher.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <set>
#include <sstream>

#include "core/mutex.h"
#include "core/redact.h"
#include "delivery/oauth.h"
#include "store/group_commit.h"
#include "store/sqlite/sqlite_store.h"
#include "testing/fake_clock.h"
#include "testing/http_receiver.h"
#include "testing/scriptable_destination.h"
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

  void start(Endpoints endpoints, int64_t lease_ms = 60'000, int64_t idle_poll_ms = 20,
             int max_held_jobs = 4096, int64_t max_held_bytes = int64_t{64} << 20) {
    Dispatcher::Options options;
    options.lease_ms = lease_ms;
    options.idle_poll_ms = idle_poll_ms;
    options.max_held_jobs = max_held_jobs;
    options.max_held_bytes = max_held_bytes;
    options.max_in_flight_per_destination = max_in_flight_;
    options.claim_batch = claim_batch_;
    options.backoff = backoff_;
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
    endpoint.timeout_ms = 1000;
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
  int max_in_flight_ = 16;
  int claim_batch_ = 32;
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

// A dead letter keeps the original event and the last attempt, and goes on to the target's
// dead-letter destination as one JSON document; no secret in either.
TEST_F(DispatcherTest, ADeadLetterKeepsTheEventAndTheAttemptAndIsSentOn) {
  HttpReceiver receiver;
  receiver.set_status(400);
  HttpReceiver chat;
  Endpoint target = http(receiver.url("/x?apiKey=") + kSecret);
  target.rule = "r";
  target.target_id = "t";
  target.headers.emplace_back("X-Api-Token", Secret(kSecret));
  target.redactor = std::make_shared<const Redactor>(std::vector<std::string>{kSecret});
  target.dead_letter_target = "b/r/t#dead-letters";
  Endpoint forward = http(chat.url("/hooks/dlq"));
  forward.destination = "chat";
  start({{"b/r/t", target}, {"b/r/t#dead-letters", forward}});
  store::NewJob job{"b/r/t", "event-1", R"({"rendered":true})", "", clock_->now_ms()};
  job.event = std::make_shared<const std::string>(R"({"id":"event-1","detail":{"n":7}})");
  ASSERT_TRUE(store_->append({{job}, {}, {}, {}}).ok());
  dispatcher_->notify();

  ASSERT_TRUE(wait_for([&] { return chat.request_count() == 1; }));
  const std::string document = chat.requests()[0].body;
  EXPECT_THAT(document, Not(HasSubstr(kSecret)));
  simdjson::dom::parser parser;
  simdjson::dom::element letter = parser.parse(document);
  EXPECT_EQ(std::string_view(letter["Rule"]), "r");
  EXPECT_EQ(std::string_view(letter["Target"]), "t");
  EXPECT_EQ(std::string_view(letter["Destination"]), "dest");
  EXPECT_EQ(std::string_view(letter["EventId"]), "event-1");
  EXPECT_EQ(std::string_view(letter["ErrorCode"]), "HTTP_400");
  EXPECT_EQ(std::string_view(letter["ExhaustedRetryCondition"]), "");
  EXPECT_EQ(int64_t(letter["RetryAttempts"]), 0);
  EXPECT_EQ(int64_t(letter["HttpStatus"]), 400);
  EXPECT_THAT(std::string(std::string_view(letter["ResponseExcerpt"])), HasSubstr("test error"));
  EXPECT_EQ(std::string_view(letter["Body"]), R"({"rendered":true})");
  EXPECT_EQ(int64_t(letter["Event"]["detail"]["n"]), 7);
  EXPECT_EQ(std::string_view(letter["Request"]["Method"]), "POST");
  EXPECT_THAT(std::string(std::string_view(letter["Request"]["Url"])), HasSubstr("apiKey=***"));
  EXPECT_EQ(std::string_view(letter["Request"]["Headers"]["dummy-key"]), "***");
  EXPECT_EQ(std::string_view(letter["Request"]["Headers"]["X-Api-Token"]), "***");
  EXPECT_EQ(std::string_view(letter["Request"]["Body"]), R"({"rendered":true})");

  // The store's letter holds the same, and the forwarded letter is settled.
  ASSERT_TRUE(wait_for([&] { return pending() == 0; }));
  const std::vector<store::DeadLetter> letters = dead_letters();
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_EQ(letters[0].event, std::optional<std::string>(*job.event));
  EXPECT_EQ(letters[0].reason.http_status, 400);
  EXPECT_THAT(letters[0].reason.response_excerpt, HasSubstr("test error"));
  EXPECT_THAT(letters[0].reason.request, HasSubstr(R"("X-Api-Token":"***")"));
  EXPECT_THAT(letters[0].reason.request, Not(HasSubstr(kSecret)));
}

// A dead letter that its destination refuses stays in the store's queue, and is not sent on
// again (no loop).
TEST_F(DispatcherTest, ADeadLetterTheDestinationRefusesStaysInTheStore) {
  HttpReceiver receiver;
  receiver.set_status(400);
  HttpReceiver chat;
  chat.set_status(400);
  Endpoint target = http(receiver.url("/x"));
  target.dead_letter_target = "b/r/t#dead-letters";
  start({{"b/r/t", target}, {"b/r/t#dead-letters", http(chat.url("/hooks/dlq"))}});
  append("b/r/t", "{}");
  ASSERT_TRUE(wait_for([&] { return dead_letters().size() == 2; }));
  EXPECT_EQ(chat.request_count(), 1u);
  EXPECT_EQ(dead_letters()[1].job.target, "b/r/t#dead-letters");
  EXPECT_EQ(pending(), 0);
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

TEST_F(DispatcherTest, EveryAttemptGoesToTheDeliveryLogWithItsOutcome) {
  HttpReceiver failing;
  failing.set_status(503);
  HttpReceiver working;
  Endpoints endpoints;
  endpoints["b/r/failing"] =
      http(failing.url("/?apiKey=dummy-value"), {.maximum_retry_attempts = 1});
  endpoints["b/r/working"] = http(working.url("/"));
  endpoints["b/r/working"].destination = "working-dest";
  start(std::move(endpoints));
  append("b/r/failing", "{}");
  append("b/r/working", "{}");
  // Two attempts of the failing job (the second dead-letters it) and one delivery.
  std::vector<store::DeliveryRecord> records;
  ASSERT_TRUE(wait_for([&] {
    records = store_->recent_deliveries(10, 0).value();
    return records.size() == 3;
  }));
  std::map<std::string, const store::DeliveryRecord*> by_outcome;
  for (const store::DeliveryRecord& record : records) {
    by_outcome[record.outcome] = &record;
  }
  ASSERT_EQ(by_outcome.size(), 3u);
  const store::DeliveryRecord& delivered = *by_outcome["delivered"];
  EXPECT_EQ(delivered.target, "b/r/working");
  EXPECT_EQ(delivered.destination, "working-dest");
  EXPECT_EQ(delivered.http_status, 200);
  EXPECT_EQ(delivered.attempt, 1);
  EXPECT_GE(delivered.latency_ms, 0);
  EXPECT_EQ(delivered.error, "");
  const store::DeliveryRecord& retrying = *by_outcome["retrying"];
  EXPECT_EQ(retrying.target, "b/r/failing");
  EXPECT_EQ(retrying.http_status, 503);
  EXPECT_EQ(retrying.attempt, 1);
  EXPECT_THAT(retrying.error, ::testing::StartsWith("HTTP_503"));
  const store::DeliveryRecord& dead = *by_outcome["dead-lettered"];
  EXPECT_EQ(dead.attempt, 2);
  EXPECT_EQ(dead.event_id, "event-1");
  for (const store::DeliveryRecord& record : records) {
    EXPECT_THAT(record.error, ::testing::Not(::testing::HasSubstr("dummy-value")));
  }
}

TEST_F(DispatcherTest, TheDeliveryLogKeepsItsBound) {
  Endpoints endpoints;
  endpoints["default/r1/t1"] = log_to((directory_ / "out.jsonl").string());
  Dispatcher::Options options;
  options.delivery_log_entries = 3;
  options.idle_poll_ms = 20;
  dispatcher_ = std::make_unique<Dispatcher>(
      *store_, metrics_, *clock_, std::make_shared<const Endpoints>(std::move(endpoints)), options,
      *random_);
  dispatcher_->start();
  for (int i = 0; i < 5; ++i) {
    append("default/r1/t1", "{}");
  }
  ASSERT_TRUE(wait_for([&] {
    return logged_bodies((directory_ / "out.jsonl").string()).size() == 1 &&
           dispatcher_->attempts() == 5;
  }));
  dispatcher_->stop();  // the last records are written on the way out
  std::vector<store::DeliveryRecord> records = store_->recent_deliveries(10, 0).value();
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].destination, "log:" + (directory_ / "out.jsonl").string());
  EXPECT_EQ(records[0].outcome, "delivered");
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

// The rate limit is a token bucket with a burst of one second's worth; what is beyond it waits for
// the clock (a FakeClock here, so only the test moves it).
TEST_F(DispatcherTest, RateLimitPacesDeliveries) {
  HttpReceiver receiver;
  Endpoint endpoint = http(receiver.url("/"));
  endpoint.rate_limit_per_second = 2;
  clock_ = &fake_clock_;
  start({{"b/r/t", endpoint}});
  for (int i = 0; i < 5; ++i) {
    append("b/r/t", "{}");
  }
  ASSERT_TRUE(wait_for([&] { return receiver.request_count() == 2; }));  // the burst
  ASSERT_TRUE(wait_for([&] {
    return metrics_.render().find("hikyaku_destination_queued_jobs{destination=\"dest\"} 3") !=
           std::string::npos;
  }));
  EXPECT_EQ(receiver.request_count(), 2u);
  fake_clock_.advance(std::chrono::milliseconds(500));
  ASSERT_TRUE(wait_for([&] { return receiver.request_count() == 3; }));
  fake_clock_.advance(std::chrono::milliseconds(1000));
  ASSERT_TRUE(wait_for([&] { return receiver.request_count() == 5; }));
  // Three had to wait (more when a job arrived while the one before it was still queued).
  const std::string metrics = metrics_.render();
  const std::string throttled = "hikyaku_throttled_rules_total{destination=\"dest\"} ";
  const size_t at = metrics.find(throttled);
  ASSERT_NE(at, std::string::npos) << metrics;
  EXPECT_GE(std::stoi(metrics.substr(at + throttled.size())), 3);
}

TEST_F(DispatcherTest, SendSlotsBeyondTheLeaseAreReleasedNotDuplicated) {
  HttpReceiver receiver;
  Endpoint endpoint = http(receiver.url("/"));
  endpoint.rate_limit_per_second = 4;
  // Lease 3 s and 1 s timeouts: only slots within the next second are waited for; the burst and
  // four more fit, the rest go back to the store until their turn.
  start({{"b/r/t", endpoint}}, 3000);
  for (int i = 0; i < 12; ++i) {
    append("b/r/t", "{\"n\":" + std::to_string(i) + "}");
  }
  ASSERT_TRUE(wait_for([&] { return pending() == 0 && receiver.request_count() == 12; }));
  std::set<std::string> bodies;
  for (const testing::ReceivedRequest& request : receiver.requests()) {
    bodies.insert(request.body);
  }
  EXPECT_EQ(bodies.size(), 12u);  // each job sent exactly once
  EXPECT_TRUE(dead_letters().empty());
}

TEST_F(DispatcherTest, JobsHandedOverByTheCommitAreDeliveredWithoutAStoreClaim) {
  const std::string path = (directory_ / "out.jsonl").string();
  // Polls the store once at start and then only after an hour: whatever arrives later can only come
  // from the commits.
  store::GroupCommitter committer(*store_);
  committer_ = &committer;
  start({{"default/r1/t1", log_to(path)}}, 60'000, 3'600'000);
  commit_through(committer, 25);
  ASSERT_TRUE(wait_for([&] { return logged_bodies(path).size() == 25; }));
  EXPECT_TRUE(wait_for([&] { return store_->counts(0)->leased == 0 && pending() == 0; }));
  dispatcher_->stop();
}

TEST_F(DispatcherTest, JobsBeyondTheHandoffLimitStayInTheStoreAndAreClaimed) {
  const std::string path = (directory_ / "out.jsonl").string();
  store::GroupCommitter committer(*store_);
  committer_ = &committer;
  start({{"default/r1/t1", log_to(path)}}, 60'000, 3'600'000, 4);
  commit_through(committer, 30);  // 4 handed over, 26 left for claim()
  ASSERT_TRUE(wait_for([&] { return logged_bodies(path).size() == 30; }));
  EXPECT_TRUE(wait_for([&] { return store_->counts(0)->leased == 0 && pending() == 0; }));
  dispatcher_->stop();
}

// What the dispatcher holds in memory (handed over, queued, in flight) is bounded in bytes too. A
// destination that never answers, one request at a time and a clock that does not move keep
// everything held where it is.
TEST_F(DispatcherTest, HeldJobsAreBoundedInBytesToo) {
  testing::ScriptableDestination destination;
  destination.set_default({.fault = testing::Fault::kHang});
  store::GroupCommitter committer(*store_);
  committer_ = &committer;
  clock_ = &fake_clock_;
  max_in_flight_ = 1;
  // Claims of one job: what the dispatcher holds is then within the bound whichever path (a
  // commit's handover or a claim) brings it. A larger claim may go past it once, when nothing is
  // held and the size of the jobs is not known yet.
  claim_batch_ = 1;
  Endpoint endpoint = http(destination.url("/"));
  endpoint.rate_limit_per_second = 1;
  // Room for two 10 kB jobs and a half.
  const store::NewJob sample{"default/r1/t1", "event-0", std::string(10'000, 'x'), "",
                             fake_clock_.now_ms()};
  start({{"default/r1/t1", endpoint}}, 60'000, 20, 2048,
        2 * store::entry_bytes(sample) + store::entry_bytes(sample) / 2);
  const auto commit_large = [&](int count) {
    store::Batch batch;
    batch.jobs.assign(count, sample);
    std::promise<Status> committed;
    committer.submit(std::move(batch), [&](const Status& s) { committed.set_value(s); });
    ASSERT_TRUE(committed.get_future().get().ok());
  };
  commit_large(5);
  ASSERT_TRUE(destination.wait_for_requests(1));  // one in flight, the others queued behind it
  // Two fit. A commit's handover reserves its room until the jobs arrive, so a claim racing it
  // cannot take the same room.
  ASSERT_TRUE(wait_for([&] { return store_->counts(0)->leased >= 2; }));
  store::Counts counts = store_->counts(0).value();
  EXPECT_LE(counts.leased, 2);
  EXPECT_EQ(counts.leased + counts.pending, 5);
  commit_large(1);  // no room for another, handed over or claimed
  counts = store_->counts(0).value();
  EXPECT_LE(counts.leased, 2);
  EXPECT_EQ(counts.leased + counts.pending, 6);
  committer.stop();
  dispatcher_->stop();  // the hung request times out (1 s) and is retried later
  EXPECT_EQ(store_->counts(0)->leased, 0);
  EXPECT_EQ(pending(), 6);
  EXPECT_EQ(dispatcher_->attempts(), 1);
}

TEST_F(DispatcherTest, StopGivesJobsNotYetAttemptedBackToTheStore) {
  HttpReceiver receiver;
  Endpoint endpoint = http(receiver.url("/"));
  endpoint.rate_limit_per_second = 1;
  store::GroupCommitter committer(*store_);
  committer_ = &committer;
  clock_ = &fake_clock_;
  start({{"default/r1/t1", endpoint}});
  commit_through(committer, 5);
  ASSERT_TRUE(wait_for([&] { return dispatcher_->attempts() == 1; }));  // the burst of one
  // The delivery is completed by the committer's next commit.
  ASSERT_TRUE(wait_for([&] { return store_->counts(0)->leased == 4; }));
  committer.stop();
  dispatcher_->stop();
  EXPECT_EQ(store_->counts(0)->leased, 0);
  EXPECT_EQ(pending(), 4);
  EXPECT_EQ(receiver.request_count(), 1u);
}

// A destination limited to 1/s with 100 jobs waiting does not slow another destination.
TEST_F(DispatcherTest, APacedDestinationDoesNotDelayAnother) {
  HttpReceiver slow;
  HttpReceiver fast;
  Endpoint paced = http(slow.url("/"));
  paced.destination = "paced";
  paced.rate_limit_per_second = 1;
  Endpoint quick = http(fast.url("/"));
  quick.destination = "quick";
  start({{"b/r/paced", paced}, {"b/r/quick", quick}});
  store::Batch batch;
  for (int i = 0; i < 100; ++i) {
    batch.jobs.push_back({"b/r/paced", "e", "{}", "", clock_->now_ms()});
  }
  for (int i = 0; i < 1000; ++i) {
    batch.jobs.push_back({"b/r/quick", "e", "{}", "", clock_->now_ms()});
  }
  ASSERT_TRUE(store_->append(batch).ok());
  dispatcher_->notify();
  ASSERT_TRUE(wait_for([&] { return fast.request_count() == 1000; }, std::chrono::seconds(60)));
  // 100 at 1/s take 99 s: the quick destination was never behind them.
  EXPECT_LT(slow.request_count(), 100u);
  EXPECT_GE(slow.request_count(), 1u);
}

// Deliveries reuse connections: 1,000 of them arrive on no more connections than requests may be in
// flight.
TEST_F(DispatcherTest, DeliveriesReuseKeepAliveConnections) {
  testing::ScriptableDestination destination;
  max_in_flight_ = 4;
  start({{"b/r/t", http(destination.url("/"))}});
  store::Batch batch;
  for (int i = 0; i < 1000; ++i) {
    batch.jobs.push_back({"b/r/t", "e", "{\"n\":" + std::to_string(i) + "}", "", clock_->now_ms()});
  }
  ASSERT_TRUE(store_->append(batch).ok());
  dispatcher_->notify();
  ASSERT_TRUE(wait_for([&] { return pending() == 0; }, std::chrono::seconds(60)));
  EXPECT_EQ(destination.request_count(), 1000u);
  EXPECT_LE(destination.connections_accepted(), 4);
}

// A 429 or 503 with Retry-After sets the retry's time (later than its backoff here)...
TEST_F(DispatcherTest, RetryAfterSetsTheRetryTime) {
  for (const std::string& retry_after :
       {std::string("30"), std::string("Sun, 01 Mar 2026 09:15:32 GMT")}) {
    SCOPED_TRACE(retry_after);
    testing::ScriptableDestination destination;
    destination.script({.status = 503, .headers = {{"Retry-After", retry_after}}});
    clock_ = &fake_clock_;
    const int64_t failed_at = fake_clock_.now_ms();  // FakeClock's start: 09:15:02Z
    start({{"b/r/t", http(destination.url("/"))}});
    append("b/r/t", "{}");
    ASSERT_TRUE(wait_for([&] {
      return dispatcher_->attempts() == 1 && store_->counts(fake_clock_.now_ms())->leased == 0;
    }));
    dispatcher_->stop();
    EXPECT_TRUE(store_->claim(failed_at + 29'999, 10, 60'000)->empty());
    Result<std::vector<store::Claim>> due = store_->claim(failed_at + 30'000, 10, 60'000);
    ASSERT_TRUE(due.has_value());
    ASSERT_EQ(due->size(), 1u);
    EXPECT_EQ((*due)[0].job.attempts, 1);
    ASSERT_TRUE(store_->complete((*due)[0]).ok());
  }
}

// ... and pauses the destination: other jobs for it wait too.
TEST_F(DispatcherTest, RetryAfterPausesTheDestination) {
  testing::ScriptableDestination destination;
  destination.script({.status = 429, .headers = {{"Retry-After", "30"}}});
  clock_ = &fake_clock_;
  start({{"b/r/t", http(destination.url("/"))}});
  append("b/r/t", "{\"first\":1}");
  ASSERT_TRUE(wait_for([&] {
    return dispatcher_->attempts() == 1 && store_->counts(fake_clock_.now_ms())->leased == 0;
  }));
  append("b/r/t", "{\"second\":2}");
  ASSERT_TRUE(wait_for([&] {
    return metrics_.render().find("hikyaku_destination_queued_jobs{destination=\"dest\"} 1") !=
           std::string::npos;
  }));
  EXPECT_EQ(destination.request_count(), 1u);
  EXPECT_THAT(metrics_.render(),
              HasSubstr("hikyaku_destination_paused_until_seconds{destination=\"dest\"} " +
                        std::to_string(fake_clock_.now_ms() / 1000 + 30)));
  fake_clock_.advance(std::chrono::seconds(30));
  dispatcher_->notify();
  ASSERT_TRUE(wait_for([&] { return destination.request_count() == 3; }));
  ASSERT_TRUE(wait_for([&] { return pending() == 0; }));
  EXPECT_TRUE(dead_letters().empty());
}

TEST_F(DispatcherTest, ANegativeRetryAfterEndsTheDeliveryAtOnce) {
  testing::ScriptableDestination destination;
  destination.set_default({.status = 503, .headers = {{"Retry-After", "-1"}}});
  start({{"b/r/t", http(destination.url("/"))}});
  append("b/r/t", "{}");
  ASSERT_TRUE(wait_for([&] { return dead_letters().size() == 1; }));
  EXPECT_EQ(destination.request_count(), 1u);
  EXPECT_EQ(dead_letters()[0].reason.error_code, "HTTP_503");
  EXPECT_THAT(dead_letters()[0].reason.error_message, HasSubstr("Retry-After is negative"));
}

// What each answer means (EventBridge's table, docs/api-destinations.md §5): every status a
// destination may answer, and the failures that are no answer at all.
struct AnswerCase {
  const char* name;
  testing::ScriptedResponse response;
  int attempts;            // with MaximumRetryAttempts 1: 1 when final at once, 2 when retried
  const char* error_code;  // "" when delivered
};

class DestinationAnswerTest : public DispatcherTest,
                              public ::testing::WithParamInterface<AnswerCase> {};

TEST_P(DestinationAnswerTest, IsDeliveredRetriedOrDeadLettered) {
  const AnswerCase& answer = GetParam();
  testing::ScriptableDestination destination;
  destination.set_default(answer.response);
  start({{"b/r/t", http(destination.url("/"), {.maximum_retry_attempts = 1})}});
  append("b/r/t", "{}");
  ASSERT_TRUE(wait_for([&] { return pending() == 0; }, std::chrono::seconds(30)));
  EXPECT_EQ(destination.request_count(), static_cast<size_t>(answer.attempts));
  const std::vector<store::DeadLetter> letters = dead_letters();
  if (std::string_view(answer.error_code).empty()) {
    EXPECT_TRUE(letters.empty());
    return;
  }
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_EQ(letters[0].reason.error_code, answer.error_code);
  EXPECT_EQ(letters[0].reason.exhausted_retry_condition,
            answer.attempts == 2 ? "MaximumRetryAttempts" : "");
  EXPECT_EQ(letters[0].job.attempts, answer.attempts);
  // The last attempt: its request always; the answer's status and body when there was one.
  EXPECT_THAT(letters[0].reason.request, HasSubstr(R"("Method":"POST")"));
  const bool answered = std::string_view(answer.error_code).starts_with("HTTP_");
  EXPECT_EQ(letters[0].reason.http_status, answered ? answer.response.status : 0);
  EXPECT_EQ(letters[0].reason.response_excerpt,
            answered ? answer.response.body.substr(0, 512) : "");
}

INSTANTIATE_TEST_SUITE_P(
    EveryAnswer, DestinationAnswerTest,
    ::testing::Values(
        AnswerCase{"ok200", {.status = 200}, 1, ""},
        AnswerCase{"created201", {.status = 201, .body = "{}"}, 1, ""},
        AnswerCase{"noContent204", {.status = 204}, 1, ""},
        AnswerCase{"badRequest400", {.status = 400}, 1, "HTTP_400"},
        AnswerCase{"unauthorized401", {.status = 401}, 1, "HTTP_401"},
        AnswerCase{"forbidden403", {.status = 403}, 1, "HTTP_403"},
        AnswerCase{"notFound404", {.status = 404}, 1, "HTTP_404"},
        AnswerCase{"conflict409", {.status = 409}, 1, "HTTP_409"},
        AnswerCase{"tooLarge413", {.status = 413}, 1, "HTTP_413"},
        AnswerCase{"tooMany429", {.status = 429, .headers = {{"Retry-After", "0"}}}, 2, "HTTP_429"},
        AnswerCase{"serverError500", {.status = 500}, 2, "HTTP_500"},
        AnswerCase{"badGateway502", {.status = 502}, 2, "HTTP_502"},
        AnswerCase{"unavailable503", {.status = 503}, 2, "HTTP_503"},
        AnswerCase{"gatewayTimeout504", {.status = 504}, 2, "HTTP_504"},
        AnswerCase{"slowerThanTheTimeout",
                   {.status = 200, .delay = std::chrono::milliseconds(1500)},
                   2,
                   "TIMEOUT"},
        AnswerCase{"resetBeforeAnswer",
                   {.fault = testing::Fault::kResetBeforeAnswer},
                   2,
                   "CONNECTION_FAILURE"},
        AnswerCase{"resetMidResponse",
                   {.status = 200,
                    .body = std::string(4096, 'x'),
                    .fault = testing::Fault::kResetMidResponse},
                   2,
                   "CONNECTION_FAILURE"},
        AnswerCase{"closedBeforeAnswer",
                   {.fault = testing::Fault::kCloseBeforeAnswer},
                   2,
                   "CONNECTION_FAILURE"}),
    [](const ::testing::TestParamInfo<AnswerCase>& param) {
      return std::string(param.param.name);
    });

// OAUTH_CLIENT_CREDENTIALS: a token endpoint and a destination, both real servers.
class OAuthDeliveryTest : public DispatcherTest {
 protected:
  static constexpr const char* kClientSecret = "cs-SECRET-0a1b2c";

  static Endpoint oauth_endpoint(const std::string& url, const std::string& token_url,
                                 RetryPolicy retry = {}) {
    Endpoint endpoint = http(url, retry);
    endpoint.headers.clear();
    auto settings = std::make_shared<OAuthSettings>();
    settings->connection = "idp";
    settings->client_id = "hikyaku";
    settings->client_secret = Secret(kClientSecret);
    settings->authorization_endpoint = token_url;
    settings->http_method = "POST";
    endpoint.oauth = std::move(settings);
    endpoint.redactor = std::make_shared<const Redactor>(std::vector<std::string>{kClientSecret});
    return endpoint;
  }

  static testing::ScriptedResponse token(const std::string& value) {
    return {
        .status = 200,
        .headers = {{"Content-Type", "application/json"}},
        .body = R"({"access_token":")" + value + R"(","token_type":"Bearer","expires_in":3600})"};
  }
};

TEST_F(OAuthDeliveryTest, TheTokenIsFetchedOnceAndSentAsBearer) {
  testing::ScriptableDestination idp;
  idp.set_default(token("tok-1"));
  testing::ScriptableDestination destination;
  start({{"b/r/t", oauth_endpoint(destination.url("/hook"), idp.url("/oauth/token"))}});
  for (int i = 0; i < 3; ++i) {
    append("b/r/t", "{}");
  }
  ASSERT_TRUE(wait_for([&] { return pending() == 0 && destination.request_count() == 3; }));
  for (const testing::RecordedRequest& request : destination.requests()) {
    EXPECT_EQ(request.header("authorization"), "Bearer tok-1");
  }
  ASSERT_EQ(idp.request_count(), 1u);
  const testing::RecordedRequest fetch = idp.requests()[0];
  EXPECT_EQ(fetch.method, "POST");
  EXPECT_EQ(fetch.header("content-type"), "application/x-www-form-urlencoded");
  EXPECT_THAT(fetch.body, HasSubstr("grant_type=client_credentials"));
  EXPECT_EQ(fetch.header("authorization").substr(0, 6), "Basic ");
}

TEST_F(OAuthDeliveryTest, A401RefreshesTheTokenOnceAndTheRetryCarriesTheNewOne) {
  testing::ScriptableDestination idp;
  idp.script(token("tok-1"));
  idp.set_default(token("tok-2"));
  testing::ScriptableDestination destination;
  destination.script({.status = 401, .body = "token expired"});
  start({{"b/r/t", oauth_endpoint(destination.url("/hook"), idp.url("/oauth/token"))}});
  append("b/r/t", "{}");
  ASSERT_TRUE(wait_for([&] { return pending() == 0; }));
  const std::vector<testing::RecordedRequest> requests = destination.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].header("authorization"), "Bearer tok-1");
  EXPECT_EQ(requests[1].header("authorization"), "Bearer tok-2");
  EXPECT_EQ(idp.request_count(), 2u);
  EXPECT_TRUE(dead_letters().empty());
}

TEST_F(OAuthDeliveryTest, TheNewTokenRefusedTooIsFinal) {
  testing::ScriptableDestination idp;
  idp.script(token("tok-1"));
  idp.set_default(token("tok-2"));
  testing::ScriptableDestination destination;
  destination.set_default({.status = 401});
  start({{"b/r/t", oauth_endpoint(destination.url("/hook"), idp.url("/oauth/token"))}});
  append("b/r/t", "{}");
  ASSERT_TRUE(wait_for([&] { return dead_letters().size() == 1; }));
  EXPECT_EQ(destination.request_count(), 2u);
  EXPECT_EQ(dead_letters()[0].reason.error_code, "HTTP_401");
  EXPECT_EQ(dead_letters()[0].reason.exhausted_retry_condition, "");
}

TEST_F(OAuthDeliveryTest, ATokenEndpointThatFailsMakesAClearRetryableFailure) {
  testing::ScriptableDestination idp;
  idp.set_default({.status = 503,
                   .headers = {{"Content-Type", "application/json"}},
                   .body = std::string(R"({"error":"temporarily_unavailable","echo":")") +
                           kClientSecret + "\"}"});
  testing::ScriptableDestination destination;
  start({{"b/r/t", oauth_endpoint(destination.url("/hook"), idp.url("/oauth/token"),
                                  {.maximum_retry_attempts = 0})}});
  append("b/r/t", "{}");
  ASSERT_TRUE(wait_for([&] { return dead_letters().size() == 1; }));
  const store::DeadLetter letter = dead_letters()[0];
  EXPECT_EQ(letter.reason.error_code, "OAUTH_TOKEN_FAILURE");
  EXPECT_THAT(letter.reason.error_message, HasSubstr("token endpoint"));
  EXPECT_THAT(letter.reason.error_message, HasSubstr("503"));
  EXPECT_THAT(letter.reason.error_message, Not(HasSubstr(kClientSecret)));
  // Retryable: the policy ran out (no retries allowed here), it was not refused outright.
  EXPECT_EQ(letter.reason.exhausted_retry_condition, "MaximumRetryAttempts");
  EXPECT_EQ(destination.request_count(), 0u);
}

// Handler targets (handler.h): attempts run on a handler thread, outcomes settle as an API
// destination's would.
class ScriptedHandler final : public DeliveryHandler {
 public:
  explicit ScriptedHandler(std::vector<HandlerOutcome> outcomes) : outcomes_(std::move(outcomes)) {}
  HandlerOutcome deliver(const store::Claim& claim, int64_t deadline_ms) override {
    MutexLock lock(mutex_);
    bodies_.push_back(claim.job.body);
    deadlines_ok_ = deadlines_ok_ && deadline_ms < claim.lease_expires_at_ms;
    const size_t index = std::min(calls_++, outcomes_.size() - 1);
    return outcomes_[index];
  }
  size_t calls() const {
    MutexLock lock(mutex_);
    return calls_;
  }
  std::vector<std::string> bodies() const {
    MutexLock lock(mutex_);
    return bodies_;
  }
  bool deadlines_ok() const {
    MutexLock lock(mutex_);
    return deadlines_ok_;
  }

 private:
  mutable Mutex mutex_;
  std::vector<HandlerOutcome> outcomes_;
  size_t calls_ HK_GUARDED_BY(mutex_) = 0;
  std::vector<std::string> bodies_ HK_GUARDED_BY(mutex_);
  bool deadlines_ok_ HK_GUARDED_BY(mutex_) = true;
};

Endpoint handled_by(std::shared_ptr<DeliveryHandler> handler, RetryPolicy retry = {}) {
  Endpoint endpoint;
  endpoint.kind = Endpoint::Kind::kHandler;
  endpoint.rule = "r1";
  endpoint.target_id = "backlog";
  endpoint.destination = "backlog:example";
  endpoint.url = "https://example.backlog.com";
  endpoint.handler = std::move(handler);
  endpoint.retry_policy = retry;
  endpoint.rate_limit_per_second = 1000;
  endpoint.max_in_flight = 1;
  endpoint.timeout_ms = 1000;
  return endpoint;
}

TEST_F(DispatcherTest, AHandlerTargetIsDeliveredOnAHandlerThread) {
  auto handler = std::make_shared<ScriptedHandler>(std::vector<HandlerOutcome>{{}});
  start({{"b/r/t", handled_by(handler)}});
  append("b/r/t", R"({"n":1})");
  append("b/r/t", R"({"n":2})");
  ASSERT_TRUE(wait_for([&] { return pending() == 0 && handler->calls() == 2; }));
  EXPECT_THAT(handler->bodies(), ::testing::UnorderedElementsAre(R"({"n":1})", R"({"n":2})"));
  EXPECT_TRUE(handler->deadlines_ok());
  EXPECT_TRUE(dead_letters().empty());
  EXPECT_TRUE(wait_for([&] {
    return metrics_.render().find(
               "hikyaku_invocation_attempts_total{target=\"b/r/t\",outcome=\"delivered\"} 2") !=
           std::string::npos;
  }));
}

TEST_F(DispatcherTest, AHandlerFailureIsRetriedThenDeadLetteredWithItsReasonRedacted) {
  HandlerOutcome failed;
  failed.outcome = Outcome::kRetry;
  failed.result.http_status = 503;
  failed.detail = std::string("Backlog answered 503 for apiKey=") + kSecret;
  failed.response_excerpt = R"({"errors":[{"message":"busy","code":1}]})";
  auto handler = std::make_shared<ScriptedHandler>(std::vector<HandlerOutcome>{failed});
  Endpoint endpoint = handled_by(handler, RetryPolicy{.maximum_retry_attempts = 2});
  endpoint.redactor = std::make_shared<const Redactor>(std::vector<std::string>{kSecret});
  start({{"b/r/t", endpoint}});
  append("b/r/t", "{}");
  ASSERT_TRUE(wait_for([&] { return dead_letters().size() == 1; }));
  EXPECT_EQ(handler->calls(), 3u);
  const store::DeadLetter letter = dead_letters()[0];
  EXPECT_EQ(letter.reason.error_code, "HTTP_503");
  EXPECT_EQ(letter.reason.exhausted_retry_condition, "MaximumRetryAttempts");
  EXPECT_THAT(letter.reason.error_message, HasSubstr("Backlog answered 503"));
  EXPECT_THAT(letter.reason.error_message, Not(HasSubstr(kSecret)));
  EXPECT_THAT(letter.reason.response_excerpt, HasSubstr("busy"));
}

TEST_F(DispatcherTest, APermanentHandlerFailureIsDeadLetteredAtOnceWithItsCode) {
  HandlerOutcome refused;
  refused.outcome = Outcome::kPermanent;
  refused.error_code = "NOT_A_FINDING";
  refused.detail = "the event has no detail.findings";
  auto handler = std::make_shared<ScriptedHandler>(std::vector<HandlerOutcome>{refused});
  start({{"b/r/t", handled_by(handler)}});
  append("b/r/t", "{}");
  ASSERT_TRUE(wait_for([&] { return dead_letters().size() == 1; }));
  EXPECT_EQ(handler->calls(), 1u);
  EXPECT_EQ(dead_letters()[0].reason.error_code, "NOT_A_FINDING");
  EXPECT_THAT(dead_letters()[0].reason.error_message, HasSubstr("no detail.findings"));
}

// A 429 with Backlog's rate-limit headers pauses the handler's destination until the reset, and
// the retry is not due before it.
TEST_F(DispatcherTest, AHandlersRateLimitAnswerPausesItsDestination) {
  clock_ = &fake_clock_;
  HandlerOutcome throttled;
  throttled.outcome = Outcome::kRetry;
  throttled.result.http_status = 429;
  throttled.hints.http_status = 429;
  throttled.hints.rate_limit_remaining = "0";
  const int64_t reset_s = fake_clock_.now_ms() / 1000 + 30;
  throttled.hints.rate_limit_reset = std::to_string(reset_s);
  auto handler = std::make_shared<ScriptedHandler>(std::vector<HandlerOutcome>{throttled, {}});
  start({{"b/r/t", handled_by(handler)}});
  const int64_t failed_at = fake_clock_.now_ms();
  append("b/r/t", "{}");
  ASSERT_TRUE(wait_for([&] {
    return dispatcher_->attempts() == 1 && store_->counts(fake_clock_.now_ms())->leased == 0;
  }));
  dispatcher_->stop();
  EXPECT_EQ(handler->calls(), 1u);
  EXPECT_TRUE(store_->claim(reset_s * 1000 - 1, 10, 60'000)->empty());
  EXPECT_EQ(store_->claim(failed_at + 40'000, 10, 60'000)->size(), 1u);
}
}  // namespace
}  // namespace hikyaku::delivery
