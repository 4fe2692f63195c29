// The Store contract (store.h), one suite run against every backend: SqliteStore, and
// JetStreamStore on a real nats-server (one node with replicas 1; three nodes with replicas 3 for
// the key cases). What only one backend can show lives beside it: sqlite/sqlite_store_test.cc
// (leases expiring on the callers' clock, the body log, files) and
// jetstream/jetstream_store_test.cc (AckWait, nodes sharing work, a cluster losing servers).
//
// Times: the backends take due times from the callers' now_ms, so the suite uses small made-up
// times. JetStream's leases are real time (AckWait), so no test here waits for one to expire.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "store/group_commit.h"
#include "store/jetstream/jetstream_store.h"
#include "store/sqlite/sqlite_store.h"
#include "testing/nats_cluster.h"
#include "testing/temp_dir.h"
#include "testing/wait.h"

namespace hikyaku::store {
namespace {

struct Backend {
  std::string name;
  int nats_nodes = 0;  // 0: SQLite
};

std::ostream& operator<<(std::ostream& out, const Backend& backend) { return out << backend.name; }

// The tests that run on the three-node cluster too (the rest would only repeat them slowly).
const std::set<std::string> kReplicatedCases = {
    "AppendedJobsAreClaimedOnceInOrderAndCompleted",
    "AppendAndLeaseHandsTheFirstJobsOverLeasedAndLeavesTheRestPending",
    "JobsLeasedByAppendSettleEveryWayAClaimedJobDoes",
    "DeadLetterListRedrivePurge",
    "AGroupCommitterHandsItsConsumerJobsAndSettlesThem",
    "KvCompareAndSet",
    "EverythingSurvivesReopen"};

// One cluster per size for the whole test program; every test gets streams of its own.
testing::NatsCluster* shared_cluster(int nodes, std::string& failure) {
  static std::map<int, std::unique_ptr<testing::NatsCluster>> clusters;
  static std::map<int, std::string> failures;
  if (clusters.count(nodes) == 0) {
    clusters[nodes] = std::make_unique<testing::NatsCluster>(nodes);
    failures[nodes] = clusters[nodes]->start();
  }
  failure = failures[nodes];
  return failure.empty() ? clusters[nodes].get() : nullptr;
}

class StoreContractTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    test = test.substr(0, test.find('/'));  // without the backend's name
    if (GetParam().nats_nodes == 3 && kReplicatedCases.count(test) == 0) {
      GTEST_SKIP() << "runs on one node only";
    }
    if (GetParam().nats_nodes > 0) {
      static std::atomic<int> next_prefix{0};
      std::string failure;
      testing::NatsCluster* cluster = shared_cluster(GetParam().nats_nodes, failure);
      ASSERT_NE(cluster, nullptr) << failure;
      jetstream_.servers = {cluster->urls()};
      jetstream_.replicas = GetParam().nats_nodes == 3 ? 3 : 1;
      jetstream_.stream_prefix = "T" + std::to_string(next_prefix++);
      jetstream_.recheck_not_due_ms = 0;  // the tests' clock is not the real one
    }
    reopen();
  }
  void TearDown() override { store_.reset(); }
  // A new store over the same data (SQLite: the file; JetStream: the streams). Jobs the old one
  // held leased are due again.
  void reopen() {
    store_.reset();
    if (GetParam().nats_nodes == 0) {
      Result<std::unique_ptr<SqliteStore>> opened =
          SqliteStore::open({.path = dir_.file("hikyaku.db")});
      ASSERT_TRUE(opened.has_value()) << opened.error().message();
      store_ = std::move(opened).value();
    } else {
      Result<std::unique_ptr<JetStreamStore>> opened = JetStreamStore::open(jetstream_);
      ASSERT_TRUE(opened.has_value()) << opened.error().message();
      store_ = std::move(opened).value();
    }
  }
  // The store's only dead letter (a failure, and an empty letter, when there is not exactly one).
  DeadLetter only_dead_letter() {
    Result<std::vector<DeadLetter>> letters = store_->dlq_list(10, 0);
    const bool one = letters.has_value() && letters->size() == 1;
    EXPECT_TRUE(one) << (letters.has_value() ? std::to_string(letters->size()) + " letters"
                                             : letters.error().message());
    return one ? (*letters)[0] : DeadLetter{};
  }
  static NewJob job(std::string body, int64_t at = 1000) {
    return {"default/rule/target", "event-" + body, std::move(body), "", at};
  }
  // A redrive as the admin API makes it: the letter's job appended again (with a body rendered
  // again, or as recorded) and the letter removed, in one batch.
  Status redrive(const DeadLetter& letter, const std::optional<std::string>& body = std::nullopt,
                 std::string headers = "") {
    Batch batch;
    batch.jobs.push_back(
        {letter.job.target, letter.job.event_id, body.value_or(letter.job.body), std::move(headers),
         letter.job.ingested_at_ms,
         letter.event ? std::make_shared<const std::string>(*letter.event) : nullptr});
    batch.redriven.push_back(letter.id);
    return store_->append(batch);
  }
  std::vector<Claim> claim(int64_t now, int limit = 100, int64_t lease = 30'000) {
    Result<std::vector<Claim>> claims = store_->claim(now, limit, lease);
    EXPECT_TRUE(claims.has_value()) << claims.error().message();
    return claims.has_value() ? std::move(claims).value() : std::vector<Claim>{};
  }
  void archive(const std::string& name, const std::string& id, int64_t at) {
    Batch batch;
    batch.events.push_back({id, "default", R"({"id":")" + id + R"("})", at, name});
    ASSERT_TRUE(store_->append(batch).ok());
  }
  // Every id of `name`'s window [from, to), read `page` at a time.
  std::vector<std::string> read_all(const std::string& name, int64_t from, int64_t to, int page) {
    std::vector<std::string> ids;
    ArchiveCursor cursor{from, 0};
    for (;;) {
      Result<std::vector<StoredArchivedEvent>> events =
          store_->archive_read(name, to, cursor, page);
      EXPECT_TRUE(events.has_value()) << events.error().message();
      if (!events.has_value() || events->empty()) {
        return ids;
      }
      for (const StoredArchivedEvent& event : *events) {
        ids.push_back(event.envelope.substr(7, event.envelope.size() - 9));
      }
      cursor = {events->back().ingested_at_ms, events->back().id};
    }
  }

  testing::TempDir dir_{"store-contract"};
  JetStreamOptions jetstream_;
  std::unique_ptr<Store> store_;
};

TEST_P(StoreContractTest, AppendedJobsAreClaimedOnceInOrderAndCompleted) {
  ASSERT_TRUE(store_->append({{job("a"), job("b"), job("c")}, {}, {}, {}}).ok());
  std::vector<Claim> first = claim(2000, 2);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0].job.body, "a");
  EXPECT_EQ(first[1].job.body, "b");
  EXPECT_EQ(first[0].job.event_id, "event-a");
  EXPECT_EQ(first[0].job.attempts, 0);
  // Leased jobs are invisible to other claimers.
  std::vector<Claim> second = claim(2000);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].job.body, "c");
  EXPECT_TRUE(claim(2000).empty());

  for (const Claim& c : first) {
    EXPECT_TRUE(store_->complete(c).ok());
  }
  Result<Counts> counts = store_->counts(2000);
  ASSERT_TRUE(counts.has_value());
  EXPECT_EQ(counts->pending, 0);
  EXPECT_EQ(counts->leased, 1);
}

TEST_P(StoreContractTest, AppendAndLeaseHandsTheFirstJobsOverLeasedAndLeavesTheRestPending) {
  Batch batch{{job("a"), job("b"), job("c")}, {}, {}, {}};
  Result<std::vector<Claim>> leased = store_->append_and_lease(batch, 2, 50'000, false);
  ASSERT_TRUE(leased.has_value()) << leased.error().message();
  ASSERT_EQ(leased->size(), 2u);
  EXPECT_EQ((*leased)[0].job.body, "a");
  EXPECT_EQ((*leased)[0].job.event_id, "event-a");
  EXPECT_EQ((*leased)[1].job.body, "b");
  EXPECT_LT((*leased)[0].job.id, (*leased)[1].job.id);
  EXPECT_EQ((*leased)[0].lease_expires_at_ms, 50'000);
  EXPECT_EQ(batch.jobs[2].body, "c");  // not leased: left in the batch

  // Only the unleased job is claimable; the leased ones settle like claimed ones.
  std::vector<Claim> claimed = claim(2000);
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].job.body, "c");
  EXPECT_EQ(store_->counts(2000)->leased, 3);
  EXPECT_EQ(store_->complete_all(*leased).value(), 2);
  EXPECT_EQ(store_->counts(2000)->leased, 1);
}

TEST_P(StoreContractTest, JobsLeasedByAppendSettleEveryWayAClaimedJobDoes) {
  Batch batch{{job("retried"), job("released"), job("dead")}, {}, {}, {}};
  std::vector<Claim> leased = store_->append_and_lease(batch, 3, 50'000, false).value();
  ASSERT_EQ(leased.size(), 3u);
  ASSERT_TRUE(store_->retry(leased[0], 7000, "HTTP_503: busy").ok());
  ASSERT_TRUE(store_->release(leased[1], 6000).ok());
  ASSERT_TRUE(store_->dead_letter(leased[2], {"HTTP_400", "bad", ""}, 2000, nullptr).ok());
  // Settled once: the same claims are stale now.
  EXPECT_EQ(store_->retry(leased[0], 7000, "again").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->release(leased[1]).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->dead_letter(leased[2], {"X", "y", ""}, 2000, nullptr).code(),
            StatusCode::kFailedPrecondition);

  EXPECT_TRUE(claim(5999).empty());
  std::vector<Claim> released = claim(6000);
  ASSERT_EQ(released.size(), 1u);
  EXPECT_EQ(released[0].job.body, "released");
  EXPECT_EQ(released[0].job.attempts, 0);
  std::vector<Claim> retried = claim(7000);
  ASSERT_EQ(retried.size(), 1u);
  EXPECT_EQ(retried[0].job.body, "retried");
  EXPECT_EQ(retried[0].job.attempts, 1);
  EXPECT_EQ(retried[0].job.last_error, "HTTP_503: busy");
  std::vector<DeadLetter> letters = store_->dlq_list(10, 0).value();
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_EQ(letters[0].job.body, "dead");
  EXPECT_EQ(letters[0].reason.error_code, "HTTP_400");
}

TEST_P(StoreContractTest, JobsNotYetDueAreNotClaimed) {
  ASSERT_TRUE(store_->append({{job("later", 5000)}, {}, {}, {}}).ok());
  EXPECT_TRUE(claim(4999).empty());
  EXPECT_EQ(claim(5000).size(), 1u);
}

TEST_P(StoreContractTest, RetryCountsAttemptsKeepsErrorAndDelays) {
  ASSERT_TRUE(store_->append({{job("a")}, {}, {}, {}}).ok());
  std::vector<Claim> first = claim(1000);
  ASSERT_TRUE(store_->retry(first[0], 3000, "HTTP 503").ok());
  EXPECT_TRUE(claim(2999).empty());
  std::vector<Claim> again = claim(3000);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].job.attempts, 1);
  EXPECT_EQ(again[0].job.last_error, "HTTP 503");
  EXPECT_EQ(again[0].job.ingested_at_ms, 1000);
}

TEST_P(StoreContractTest, DeadLetterListRedrivePurge) {
  ASSERT_TRUE(store_->append({{job("a"), job("b")}, {}, {}, {}}).ok());
  std::vector<Claim> claims = claim(1000);
  ASSERT_EQ(claims.size(), 2u);
  ASSERT_TRUE(store_->retry(claims[0], 1000, "HTTP 500").ok());
  claims[0] = claim(1000)[0];
  ASSERT_TRUE(store_
                  ->dead_letter(claims[0],
                                {"HTTP 500", "Internal Server Error", "MaximumRetryAttempts"}, 1100,
                                nullptr)
                  .ok());
  ASSERT_TRUE(store_->dead_letter(claims[1], {"HTTP 400", "Bad Request", ""}, 1200, nullptr).ok());

  Result<std::vector<DeadLetter>> letters = store_->dlq_list(10, 0);
  ASSERT_TRUE(letters.has_value());
  ASSERT_EQ(letters->size(), 2u);
  EXPECT_EQ((*letters)[0].job.body, "a");
  EXPECT_EQ((*letters)[0].job.attempts, 2);
  EXPECT_EQ((*letters)[0].job.last_error, "HTTP 500");
  EXPECT_EQ((*letters)[0].reason.exhausted_retry_condition, "MaximumRetryAttempts");
  EXPECT_EQ((*letters)[0].dead_lettered_at_ms, 1100);
  EXPECT_EQ((*letters)[1].reason.error_code, "HTTP 400");
  EXPECT_TRUE(claim(5000).empty());

  Result<std::vector<DeadLetter>> after_first = store_->dlq_list(10, (*letters)[0].id);
  ASSERT_TRUE(after_first.has_value());
  ASSERT_EQ(after_first->size(), 1u);

  ASSERT_TRUE(redrive((*letters)[0]).ok());
  EXPECT_EQ(store_->counts(6000)->dead_letters, 1);
  std::vector<Claim> redriven = claim(6000);
  ASSERT_EQ(redriven.size(), 1u);
  EXPECT_EQ(redriven[0].job.body, "a");
  EXPECT_EQ(redriven[0].job.attempts, 0);

  Result<int64_t> purged = store_->dlq_purge({});
  ASSERT_TRUE(purged.has_value());
  EXPECT_EQ(*purged, 1);
  EXPECT_EQ(store_->counts(6000)->dead_letters, 0);
}

TEST_P(StoreContractTest, DeadLettersAreFoundByRuleTargetCodeAndTimeAPageAtATime) {
  // Straight into the DLQ, as a render failure puts them: five letters over two rules.
  const auto letter = [](std::string target, std::string code, int64_t at) {
    NewJob job{std::move(target),
               "event",
               "body of " + code,
               "",
               at,
               std::make_shared<const std::string>(R"({"detail":{}})")};
    return NewDeadLetter{std::move(job), {std::move(code), "message", ""}};
  };
  Batch batch;
  batch.dead_letters = {letter("default/orders/slack", "HTTP_400", 1000),
                        letter("default/orders/backlog", "HTTP_500", 1000),
                        letter("default/orders-eu/slack", "HTTP_400", 1000),
                        letter("sec/orders/slack", "TIMEOUT", 1000),
                        letter("default/findings/slack-orders", "HTTP_400", 1000)};
  ASSERT_TRUE(store_->append(batch).ok());
  const auto targets = [&](const DeadLetterFilter& filter, int limit = 10, int64_t after = 0) {
    Result<std::vector<DeadLetter>> found = store_->dlq_find(filter, limit, after, true);
    EXPECT_TRUE(found.has_value()) << found.error().message();
    std::vector<std::string> keys;
    if (found.has_value()) {
      for (const DeadLetter& dead : *found) {
        keys.push_back(dead.job.target);
      }
    }
    return keys;
  };
  using Keys = std::vector<std::string>;
  // A rule is the key's middle part: "orders" is neither "orders-eu" nor a target named so.
  EXPECT_EQ(targets({.rule = "orders"}),
            (Keys{"default/orders/slack", "default/orders/backlog", "sec/orders/slack"}));
  EXPECT_EQ(targets({.target = "slack"}),
            (Keys{"default/orders/slack", "default/orders-eu/slack", "sec/orders/slack"}));
  EXPECT_EQ(targets({.target = "default/orders/slack"}), (Keys{"default/orders/slack"}));
  EXPECT_EQ(targets({.rule = "orders", .error_code = "HTTP_400"}), (Keys{"default/orders/slack"}));
  // A LIKE wildcard in a name is a character like any other.
  EXPECT_TRUE(targets({.rule = "%"}).empty());
  EXPECT_TRUE(targets({.target = "_lack"}).empty());

  // Pages: after the last id of the previous page.
  Result<std::vector<DeadLetter>> first = store_->dlq_find({}, 2, 0, true);
  ASSERT_TRUE(first.has_value());
  ASSERT_EQ(first->size(), 2u);
  EXPECT_EQ(targets({}, 10, first->back().id).size(), 3u);
  // A summary leaves the large columns out; a letter read alone has them.
  EXPECT_TRUE((*first)[0].job.body.empty());
  EXPECT_FALSE((*first)[0].event.has_value());
  Result<std::optional<DeadLetter>> whole = store_->dlq_get((*first)[0].id);
  ASSERT_TRUE(whole.has_value() && whole->has_value());
  EXPECT_EQ((*whole)->job.body, "body of HTTP_400");
  EXPECT_EQ((*whole)->event, R"({"detail":{}})");
  EXPECT_FALSE(store_->dlq_get(999)->has_value());
}

TEST_P(StoreContractTest, DeadLettersAreFoundByTheTimeTheyWereDeadLettered) {
  ASSERT_TRUE(store_->append({{job("a"), job("b"), job("c")}, {}, {}, {}}).ok());
  std::vector<Claim> claims = claim(1000);
  ASSERT_EQ(claims.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(store_->dead_letter(claims[i], {"HTTP_400", "", ""}, 1000 * (i + 1), nullptr).ok());
  }
  Result<std::vector<DeadLetter>> found =
      store_->dlq_find({.since_ms = 2000, .until_ms = 3000}, 10, 0, false);
  ASSERT_TRUE(found.has_value());
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].job.body, "b");
}

TEST_P(StoreContractTest, ARedriveAppendsTheJobAndRemovesItsLetterInOneBatch) {
  Batch batch;
  batch.dead_letters.push_back({{"default/rule/target", "event-1", "broken", "", 1000,
                                 std::make_shared<const std::string>(R"({"id":"event-1"})")},
                                {"TRANSFORM_ERROR", "bad template", ""}});
  ASSERT_TRUE(store_->append(batch).ok());
  const DeadLetter letter = only_dead_letter();
  // Read by id, whole; an id that is no dead letter is left out.
  Result<std::vector<DeadLetter>> read = store_->dlq_get_many({999, letter.id});
  ASSERT_TRUE(read.has_value()) << read.error().message();
  ASSERT_EQ(read->size(), 1u);
  EXPECT_EQ((*read)[0].job.body, "broken");
  EXPECT_EQ((*read)[0].event, std::optional<std::string>(R"({"id":"event-1"})"));
  EXPECT_FALSE(store_->dlq_get(999)->has_value());

  ASSERT_TRUE(redrive(letter, "fixed", R"({"header:x":"1"})").ok());
  EXPECT_EQ(store_->counts(5000)->dead_letters, 0);
  std::vector<Claim> claims = claim(5000);
  ASSERT_EQ(claims.size(), 1u);
  EXPECT_EQ(claims[0].job.body, "fixed");
  EXPECT_EQ(claims[0].job.headers, R"({"header:x":"1"})");
  EXPECT_EQ(claims[0].job.attempts, 0);
  EXPECT_EQ(claims[0].job.ingested_at_ms, 1000);
  // Its event is still there for the next dead letter.
  Result<std::optional<std::string>> event = store_->job_event(claims[0]);
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(*event, R"({"id":"event-1"})");
}

TEST_P(StoreContractTest, TheDeliveryLogKeepsTheNewestRecordsNewestFirst) {
  std::vector<DeliveryRecord> records;
  for (int i = 1; i <= 5; ++i) {
    records.push_back({.at_ms = 1000 * i,
                       .target = "default/rule/target",
                       .destination = "hooks",
                       .event_id = "event-" + std::to_string(i),
                       .job_id = i,
                       .attempt = 1,
                       .http_status = i == 5 ? 500 : 200,
                       .latency_ms = 12,
                       .outcome = i == 5 ? "retrying" : "delivered",
                       .error = i == 5 ? "HTTP_500: oops" : ""});
  }
  ASSERT_TRUE(store_->log_deliveries(records, 3).ok());
  Result<std::vector<DeliveryRecord>> recent = store_->recent_deliveries(10, 0);
  ASSERT_TRUE(recent.has_value());
  ASSERT_EQ(recent->size(), 3u);
  EXPECT_EQ((*recent)[0].event_id, "event-5");
  EXPECT_EQ((*recent)[0].outcome, "retrying");
  EXPECT_EQ((*recent)[0].http_status, 500);
  EXPECT_EQ((*recent)[0].error, "HTTP_500: oops");
  EXPECT_EQ((*recent)[2].event_id, "event-3");
  // Older pages: ids below the last one seen.
  Result<std::vector<DeliveryRecord>> older = store_->recent_deliveries(10, (*recent)[1].id);
  ASSERT_TRUE(older.has_value());
  ASSERT_EQ(older->size(), 1u);
  EXPECT_EQ((*older)[0].event_id, "event-3");
  // The bound holds across calls.
  ASSERT_TRUE(store_->log_deliveries({records[0]}, 3).ok());
  EXPECT_EQ(store_->recent_deliveries(10, 0)->size(), 3u);
  EXPECT_EQ(store_->recent_deliveries(10, 0)->front().event_id, "event-1");
}

TEST_P(StoreContractTest, QueuesCountTheJobsWaitingPerTarget) {
  NewJob other = job("x", 500);
  other.target = "default/rule/other";
  ASSERT_TRUE(store_->append({{job("a", 700), job("b", 900), other}, {}, {}, {}}).ok());
  Result<std::vector<TargetQueue>> queues = store_->queues();
  ASSERT_TRUE(queues.has_value());
  ASSERT_EQ(queues->size(), 2u);
  EXPECT_EQ((*queues)[0].target, "default/rule/other");
  EXPECT_EQ((*queues)[0].jobs, 1);
  EXPECT_EQ((*queues)[1].target, "default/rule/target");
  EXPECT_EQ((*queues)[1].jobs, 2);
  EXPECT_EQ((*queues)[1].oldest_ingested_at_ms, 700);
}

TEST_P(StoreContractTest, KvCompareAndSet) {
  ASSERT_TRUE(store_->kv_put_if("ticket/f0", "a", 0).has_value());
  ASSERT_TRUE(store_->kv_put_if("tickets", "not in the prefix", 0).has_value());
  ASSERT_TRUE(store_->kv_put_if("ticker/x", "before the prefix", 0).has_value());
  ASSERT_TRUE(store_->kv_put_if("ticket/f2", "b", 0).has_value());
  Result<std::vector<std::pair<std::string, KvEntry>>> page = store_->kv_list("ticket/", "", 1);
  ASSERT_TRUE(page.has_value());
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ((*page)[0].first, "ticket/f0");
  page = store_->kv_list("ticket/", (*page)[0].first, 10);
  ASSERT_TRUE(page.has_value());
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ((*page)[0].first, "ticket/f2");
  EXPECT_EQ((*page)[0].second.value, "b");
  EXPECT_GT((*page)[0].second.revision, 0);
  Result<std::optional<KvEntry>> missing = store_->kv_get("ticket/f1");
  ASSERT_TRUE(missing.has_value());
  EXPECT_FALSE(missing->has_value());

  Result<int64_t> created = store_->kv_put_if("ticket/f1", "SEC-101", 0);
  ASSERT_TRUE(created.has_value());
  EXPECT_GT(*created, 0);
  EXPECT_EQ(store_->kv_put_if("ticket/f1", "SEC-999", 0).status().code(),
            StatusCode::kFailedPrecondition);
  // Revisions only increase; a write names the one it read.
  Result<int64_t> updated = store_->kv_put_if("ticket/f1", "SEC-101:closed", *created);
  ASSERT_TRUE(updated.has_value());
  EXPECT_GT(*updated, *created);
  EXPECT_EQ(store_->kv_put_if("ticket/f1", "lost", *created).status().code(),
            StatusCode::kFailedPrecondition);
  Result<std::optional<KvEntry>> value = store_->kv_get("ticket/f1");
  ASSERT_TRUE(value.has_value() && value->has_value());
  EXPECT_EQ((*value)->value, "SEC-101:closed");
  EXPECT_EQ((*value)->revision, *updated);
}

TEST_P(StoreContractTest, EverythingSurvivesReopen) {
  NewJob binary = job(std::string("body with \0 nul and \xff byte", 26));
  ASSERT_TRUE(store_->append({{binary}, {{"e1", "default", R"({"id":"e1"})", 1000}}, {}, {}}).ok());
  ASSERT_TRUE(store_->kv_put_if("k", "v", 0).has_value());
  reopen();
  std::vector<Claim> claims = claim(1000);
  ASSERT_EQ(claims.size(), 1u);
  EXPECT_EQ(claims[0].job.body, binary.body);
  EXPECT_EQ(store_->counts(1000)->archived_events, 1);
  EXPECT_EQ((*store_->kv_get("k"))->value, "v");
}

TEST_P(StoreContractTest, ReleaseMakesJobDueAgainWithoutCountingAnAttempt) {
  ASSERT_TRUE(store_->append({{job("a")}, {}, {}, {}}).ok());
  std::vector<Claim> claims = claim(1000);
  ASSERT_EQ(claims.size(), 1u);
  ASSERT_TRUE(store_->release(claims[0]).ok());
  EXPECT_EQ(store_->release(claims[0]).code(), StatusCode::kFailedPrecondition);
  std::vector<Claim> again = claim(1000);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].job.attempts, 0);
}

TEST_P(StoreContractTest, BatchDeadLettersGoStraightToTheDlq) {
  Batch batch;
  batch.jobs.push_back(job("ok"));
  batch.dead_letters.push_back({job("bad"), {"TRANSFORM_ERROR", "Input path $.x: not JSON", ""}});
  ASSERT_TRUE(store_->append(batch).ok());
  Result<std::vector<DeadLetter>> letters = store_->dlq_list(10, 0);
  ASSERT_TRUE(letters.has_value());
  ASSERT_EQ(letters->size(), 1u);
  EXPECT_EQ((*letters)[0].job.body, "bad");
  EXPECT_EQ((*letters)[0].reason.error_code, "TRANSFORM_ERROR");
  EXPECT_EQ(claim(1000).size(), 1u);
}

TEST_P(StoreContractTest, ADeadLetterForwardedSomewhereIsAJobInTheSameTransaction) {
  ASSERT_TRUE(store_->append({{job("original")}, {}, {}, {}}).ok());
  std::vector<Claim> claims = claim(1000);
  ASSERT_EQ(claims.size(), 1u);
  const NewJob forward{"default/rule/target#dead-letters", "event-original", R"({"letter":1})", "",
                       1000};
  ASSERT_TRUE(store_->dead_letter(claims[0], {"HTTP_400", "bad", ""}, 2000, &forward).ok());
  std::vector<Claim> forwarded = claim(2000);
  ASSERT_EQ(forwarded.size(), 1u);
  EXPECT_EQ(forwarded[0].job.target, "default/rule/target#dead-letters");
  EXPECT_EQ(forwarded[0].job.body, R"({"letter":1})");
  EXPECT_EQ(store_->counts(2000)->dead_letters, 1);
  // A stale claim forwards nothing: the transaction is refused whole.
  EXPECT_EQ(store_->dead_letter(claims[0], {"HTTP_400", "bad", ""}, 2000, &forward).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->counts(2000)->leased + store_->counts(2000)->pending, 1);
}

TEST_P(StoreContractTest, JobsLeasedByAppendAreDueAgainOnceTheirStoreIsGone) {
  Batch batch{{job("a"), job("b")}, {}, {}, {}};
  ASSERT_EQ(store_->append_and_lease(batch, 2, 900'000, /*defer_sync=*/true).value().size(), 2u);
  ASSERT_TRUE(store_->sync().ok());
  EXPECT_TRUE(claim(2000).empty());
  reopen();  // the dispatcher's memory is gone, the lease with it
  // (JetStream: the closed store handed its messages back; the server takes them in its time.)
  std::set<std::string> bodies;
  EXPECT_TRUE(testing::wait_for([&] {
    for (const Claim& c : claim(2000)) {
      bodies.insert(c.job.body);
    }
    return bodies.size() == 2;
  }));
  EXPECT_EQ(bodies, (std::set<std::string>{"a", "b"}));
}

TEST_P(StoreContractTest, ADeadLetterKeepsTheOriginalEvent) {
  const auto event = std::make_shared<const std::string>(R"({"id":"e-1","detail":"original"})");
  NewJob rendered = job("rendered");
  rendered.event = event;
  NewJob verbatim = job(*event);
  verbatim.event = event;
  NewJob without = job("no-event");
  ASSERT_TRUE(store_->append({{rendered, verbatim, without}, {}, {}, {}}).ok());
  std::vector<Claim> claims = claim(1000);
  ASSERT_EQ(claims.size(), 3u);
  EXPECT_EQ(claims[0].job.body, "rendered");  // a claim carries the body alone
  EXPECT_EQ(store_->job_event(claims[0]).value(), std::optional<std::string>(*event));
  EXPECT_EQ(store_->job_event(claims[1]).value(), std::optional<std::string>(*event));
  EXPECT_EQ(store_->job_event(claims[2]).value(), std::nullopt);
  DeadLetterReason reason{"HTTP_400", "HTTP_400: bad", ""};
  reason.request = R"({"Method":"POST"})";
  reason.http_status = 400;
  reason.response_excerpt = "bad";
  ASSERT_TRUE(store_->dead_letter(claims[0], reason, 2000, nullptr).ok());
  const DeadLetter letter = only_dead_letter();
  EXPECT_EQ(letter.job.body, "rendered");
  EXPECT_EQ(letter.event, std::optional<std::string>(*event));
  EXPECT_EQ(letter.reason.request, R"({"Method":"POST"})");
  EXPECT_EQ(letter.reason.http_status, 400);
  EXPECT_EQ(letter.reason.response_excerpt, "bad");
  // Redriven, the job keeps its event for the next letter.
  ASSERT_TRUE(redrive(letter).ok());
  std::vector<Claim> again = claim(3000);
  ASSERT_EQ(again.size(), 1u);  // the others are still leased
  EXPECT_EQ(again[0].job.body, "rendered");
  ASSERT_TRUE(store_->dead_letter(again[0], {"HTTP_500", "again", ""}, 4000, nullptr).ok());
  EXPECT_EQ(only_dead_letter().event, std::optional<std::string>(*event));
  ASSERT_TRUE(store_->dead_letter(claims[1], {"HTTP_500", "x", ""}, 4000, nullptr).ok());
  ASSERT_TRUE(store_->dead_letter(claims[2], {"HTTP_500", "y", ""}, 4000, nullptr).ok());
  Result<std::vector<DeadLetter>> letters = store_->dlq_list(10, 0);
  ASSERT_EQ(letters->size(), 3u);
  EXPECT_EQ((*letters)[1].event, std::optional<std::string>(*event));  // its body is the event
  EXPECT_EQ((*letters)[2].event, std::nullopt);                        // never kept
}

TEST_P(StoreContractTest, ReadsAWindowOfOneArchiveInTimeOrderAPageAtATime) {
  archive("a", "e3", 3000);
  archive("a", "e1", 1000);
  archive("b", "other", 2000);
  archive("a", "e2a", 2000);
  archive("a", "e2b", 2000);
  archive("a", "e4", 4000);
  EXPECT_EQ(read_all("a", 1000, 4000, 1), (std::vector<std::string>{"e1", "e2a", "e2b", "e3"}));
  EXPECT_EQ(read_all("a", 1500, 3000, 2), (std::vector<std::string>{"e2a", "e2b"}));
  EXPECT_EQ(read_all("b", 0, 10000, 10), (std::vector<std::string>{"other"}));
  EXPECT_TRUE(read_all("c", 0, 10000, 10).empty());
}

TEST_P(StoreContractTest, CountsAndSizesPerArchive) {
  archive("a", "e1", 1000);
  archive("a", "e2", 1000);
  archive("b", "e3", 1000);
  Result<ArchiveStats> stats = store_->archive_stats("a");
  ASSERT_TRUE(stats.has_value());
  EXPECT_EQ(stats->event_count, 2);
  EXPECT_EQ(stats->size_bytes, 2 * static_cast<int64_t>(std::string(R"({"id":"e1"})").size()));
  Result<ArchiveStats> none = store_->archive_stats("none");
  ASSERT_TRUE(none.has_value());
  EXPECT_EQ(none->event_count, 0);
  EXPECT_EQ(none->size_bytes, 0);
}

TEST_P(StoreContractTest, ExpiresOnlyOldEventsOfTheArchiveInChunks) {
  for (int i = 0; i < 5; ++i) {
    archive("a", "old" + std::to_string(i), 1000 + i);
  }
  archive("a", "new", 9000);
  archive("b", "other-old", 1000);
  Result<int64_t> first = store_->archive_expire("a", 5000, 3);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(*first, 3);
  EXPECT_EQ(*store_->archive_expire("a", 5000, 3), 2);
  EXPECT_EQ(*store_->archive_expire("a", 5000, 3), 0);
  EXPECT_EQ(read_all("a", 0, 100000, 10), (std::vector<std::string>{"new"}));
  EXPECT_EQ(read_all("b", 0, 100000, 10), (std::vector<std::string>{"other-old"}));
  // The totals follow.
  EXPECT_EQ(store_->archive_stats("a")->event_count, 1);
  EXPECT_EQ(store_->archive_stats("a")->size_bytes,
            static_cast<int64_t>(std::string(R"({"id":"new"})").size()));
  EXPECT_EQ(store_->archive_stats("b")->event_count, 1);
}

TEST_P(StoreContractTest, ArchivedEventsSurviveAReopen) {
  archive("a", "e1", 1000);
  reopen();
  EXPECT_EQ(read_all("a", 0, 2000, 10), (std::vector<std::string>{"e1"}));
}

TEST_P(StoreContractTest, NamesWithAnyCharacterRoundTrip) {
  NewJob odd = job("odd");
  odd.target = "bus.with dots/rule*>/target=1";
  ASSERT_TRUE(store_->append({{odd}, {}, {}, {}}).ok());
  Result<std::vector<TargetQueue>> queues = store_->queues();
  ASSERT_TRUE(queues.has_value()) << queues.error().message();
  ASSERT_EQ(queues->size(), 1u);
  EXPECT_EQ((*queues)[0].target, odd.target);
  EXPECT_EQ(claim(1000).at(0).job.target, odd.target);
  ASSERT_TRUE(store_->kv_put_if("replay/a.b c", "v", 0).has_value());
  Result<std::vector<std::pair<std::string, KvEntry>>> page = store_->kv_list("replay/", "", 10);
  ASSERT_TRUE(page.has_value());
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ((*page)[0].first, "replay/a.b c");
  archive("archive.one two", "e1", 1000);
  EXPECT_EQ(read_all("archive.one two", 0, 2000, 10), (std::vector<std::string>{"e1"}));
}

// The committer's consumer takes the first jobs of each commit (append_and_lease); the rest are
// claimed. Every job submitted is delivered exactly once when nothing fails.
class TakingConsumer : public CommitConsumer {
 public:
  Offer offer(int64_t jobs, int64_t /*bytes*/) override {
    return {static_cast<int>(std::min<int64_t>(jobs, 3)), int64_t{1} << 30, 10'000'000};
  }
  void committed(const Offer& /*offer*/, std::vector<Claim> leased,
                 int64_t /*left_pending*/) override {
    std::lock_guard lock(mutex_);
    for (Claim& claim : leased) {
      taken_.push_back(std::move(claim));
    }
  }
  std::vector<Claim> taken() {
    std::lock_guard lock(mutex_);
    return taken_;
  }

 private:
  std::mutex mutex_;
  std::vector<Claim> taken_;
};

TEST_P(StoreContractTest, AGroupCommitterHandsItsConsumerJobsAndSettlesThem) {
  TakingConsumer consumer;
  GroupCommitter committer(*store_);
  committer.set_consumer(&consumer);
  constexpr int kThreads = 4;
  constexpr int kBatches = 10;
  std::atomic<int> accepted{0};
  std::vector<std::thread> producers;
  producers.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    producers.emplace_back([&, t] {
      for (int b = 0; b < kBatches; ++b) {
        Batch batch;
        for (int j = 0; j < 5; ++j) {
          batch.jobs.push_back(
              job(std::to_string(t) + "-" + std::to_string(b) + "-" + std::to_string(j)));
        }
        std::promise<void> answered;
        committer.submit(std::move(batch), [&](const Status& status) {
          accepted += status.ok() ? 5 : 0;
          answered.set_value();
        });
        answered.get_future().wait();
      }
    });
  }
  for (std::thread& producer : producers) {
    producer.join();
  }
  ASSERT_EQ(accepted.load(), kThreads * kBatches * 5);
  std::vector<Claim> taken = consumer.taken();
  EXPECT_FALSE(taken.empty());
  std::set<std::string> bodies;
  for (const Claim& claim : taken) {
    EXPECT_TRUE(bodies.insert(claim.job.body).second) << claim.job.body;
  }
  committer.complete(std::move(taken));
  committer.stop();  // commits the completions
  for (const Claim& claim : claim(2000, 1000)) {
    EXPECT_TRUE(bodies.insert(claim.job.body).second) << claim.job.body;
    EXPECT_TRUE(store_->complete(claim).ok());
  }
  EXPECT_EQ(bodies.size(), static_cast<size_t>(kThreads * kBatches * 5));
  Result<Counts> counts = store_->counts(2000);
  ASSERT_TRUE(counts.has_value());
  EXPECT_EQ(counts->pending + counts->leased, 0);
}

std::string backend_name(const ::testing::TestParamInfo<Backend>& backend) {
  return backend.param.name;
}

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreContractTest, ::testing::Values(Backend{"Sqlite", 0}),
                         backend_name);
INSTANTIATE_TEST_SUITE_P(JetStream, StoreContractTest,
                         ::testing::Values(Backend{"OneNode", 1}, Backend{"ThreeNodesR3", 3}),
                         backend_name);

}  // namespace
}  // namespace hikyaku::store
