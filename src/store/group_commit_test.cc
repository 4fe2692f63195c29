#include "store/group_commit.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <limits>
#include <mutex>
#include <thread>

#include "testing/wait.h"

namespace hikyaku::store {
namespace {

// A point a thread can be held at until the test opens it again; the test can wait for a thread
// to arrive there.
class Gate {
 public:
  void pass() {
    std::unique_lock lock(mutex_);
    entered_ = true;
    changed_.notify_all();
    changed_.wait(lock, [this] { return !held_; });
  }
  void hold() {
    std::lock_guard lock(mutex_);
    held_ = true;
    entered_ = false;
  }
  void wait_until_entered() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [this] { return entered_; });
  }
  void open() {
    std::lock_guard lock(mutex_);
    held_ = false;
    changed_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool held_ = false;
  bool entered_ = false;
};

// A store whose append() and sync() can be held at a gate, recording each commit's size.
class RecordingStore : public Store {
 public:
  Gate append_gate;
  Gate sync_gate;

  Status append(const Batch& batch) override {
    append_gate.pass();
    std::lock_guard lock(mutex_);
    commit_sizes_.push_back(batch.jobs.size());
    completion_sizes_.push_back(batch.completed.size());
    for (const Claim& claim : batch.completed) {
      completed_body_bytes_ += claim.job.body.size() + claim.job.headers.size();
    }
    return fail_ ? unavailable("disk full") : ok_status();
  }
  Status sync() override {
    sync_gate.pass();
    std::lock_guard lock(mutex_);
    return fail_sync_ ? unavailable("fdatasync: I/O error") : ok_status();
  }
  void fail_syncs() {
    std::lock_guard lock(mutex_);
    fail_sync_ = true;
  }
  void fail_commits() {
    std::lock_guard lock(mutex_);
    fail_ = true;
  }
  std::vector<size_t> commit_sizes() {
    std::lock_guard lock(mutex_);
    return commit_sizes_;
  }
  std::vector<size_t> completion_sizes() {
    std::lock_guard lock(mutex_);
    return completion_sizes_;
  }
  size_t completed_body_bytes() {
    std::lock_guard lock(mutex_);
    return completed_body_bytes_;
  }

  Result<std::vector<Claim>> append_and_lease(Batch& batch, int limit, int64_t lease_expires_at_ms,
                                              bool defer_sync) override {
    EXPECT_TRUE(defer_sync);  // the committer syncs once per round itself
    HK_RETURN_IF_ERROR(append(batch));
    std::vector<Claim> claims;
    for (int i = 0; i < limit && i < static_cast<int>(batch.jobs.size()); ++i) {
      Claim claim;
      claim.job.id = i + 1;
      claim.job.body = std::move(batch.jobs[static_cast<size_t>(i)].body);
      claim.lease_expires_at_ms = lease_expires_at_ms;
      claims.push_back(std::move(claim));
    }
    return claims;
  }
  Result<std::vector<Claim>> claim(int64_t, int, int64_t) override { return std::vector<Claim>{}; }
  Status complete(const Claim&) override { return ok_status(); }
  Status release(const Claim&, int64_t) override { return ok_status(); }
  Result<int64_t> complete_all(const std::vector<Claim>& claims) override {
    return static_cast<int64_t>(claims.size());
  }
  Status retry(const Claim&, int64_t, const std::string&) override { return ok_status(); }
  Status dead_letter(const Claim&, const DeadLetterReason&, int64_t, const NewJob*) override {
    return ok_status();
  }
  Result<std::optional<std::string>> job_event(const Claim&) override {
    return std::optional<std::string>();
  }
  Result<std::optional<KvEntry>> kv_get(const std::string&) override {
    return std::optional<KvEntry>();
  }
  Result<int64_t> kv_put_if(const std::string&, const std::string&, int64_t) override { return 1; }
  Result<std::vector<std::pair<std::string, KvEntry>>> kv_list(const std::string&,
                                                               const std::string&, int) override {
    return std::vector<std::pair<std::string, KvEntry>>{};
  }
  Result<std::vector<DeadLetter>> dlq_find(const DeadLetterFilter&, int, int64_t, bool) override {
    return std::vector<DeadLetter>{};
  }
  Result<std::vector<DeadLetter>> dlq_get_many(const std::vector<int64_t>&) override {
    return std::vector<DeadLetter>{};
  }
  Status log_deliveries(const std::vector<DeliveryRecord>&, int64_t) override {
    return ok_status();
  }
  Result<std::vector<DeliveryRecord>> recent_deliveries(int, int64_t) override {
    return std::vector<DeliveryRecord>{};
  }
  Result<std::vector<TargetQueue>> queues() override { return std::vector<TargetQueue>{}; }
  Result<int64_t> dlq_purge(const std::vector<int64_t>&) override { return 0; }
  Result<Counts> counts(int64_t) override { return Counts{}; }
  Status ping() override { return ok_status(); }

 private:
  std::mutex mutex_;
  bool fail_ = false;
  bool fail_sync_ = false;
  std::vector<size_t> commit_sizes_;
  std::vector<size_t> completion_sizes_;
  size_t completed_body_bytes_ = 0;
};

Batch batch_of(size_t jobs) {
  Batch batch;
  for (size_t i = 0; i < jobs; ++i) {
    batch.jobs.push_back({"t", "e", "body", "", 0});
  }
  return batch;
}

TEST(GroupCommitTest, SubmissionsQueuedDuringACommitShareTheNextOne) {
  RecordingStore store;
  GroupCommitter committer(store);
  store.append_gate.hold();
  std::promise<Status> first;
  committer.submit(batch_of(1), [&](const Status& s) { first.set_value(s); });
  store.append_gate.wait_until_entered();  // the writer is now inside the first commit

  std::atomic<int> done{0};
  std::atomic<int> ok{0};
  for (int i = 0; i < 10; ++i) {
    committer.submit(batch_of(3), [&](const Status& s) {
      ok += s.ok() ? 1 : 0;
      ++done;
    });
  }
  EXPECT_EQ(done.load(), 0);  // nobody is answered before their commit
  store.append_gate.open();
  committer.stop();
  EXPECT_TRUE(first.get_future().get().ok());
  EXPECT_EQ(done.load(), 10);
  EXPECT_EQ(ok.load(), 10);
  EXPECT_EQ(store.commit_sizes(), (std::vector<size_t>{1, 30}));
  EXPECT_EQ(committer.commits(), 2);
}

std::vector<Claim> claims(int count) {
  std::vector<Claim> claims(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) {
    claims[static_cast<size_t>(i)].job.id = i + 1;
  }
  return claims;
}

TEST(GroupCommitTest, CompletionsRideAlongWithTheNextSubmission) {
  RecordingStore store;
  GroupCommitter committer(store, {.completion_delay_ms = 3'600'000, .completions_alone = 1000});
  committer.complete(claims(3));
  std::promise<Status> done;
  committer.submit(batch_of(1), [&](const Status& s) { done.set_value(s); });
  ASSERT_TRUE(done.get_future().get().ok());
  committer.stop();
  EXPECT_EQ(store.commit_sizes(), (std::vector<size_t>{1}));
  EXPECT_EQ(store.completion_sizes(), (std::vector<size_t>{3}));
}

TEST(GroupCommitTest, CompletionsCommitAloneAfterTheDelayOrWhenThereAreEnough) {
  RecordingStore store;
  GroupCommitter waits_briefly(store, {.completion_delay_ms = 1, .completions_alone = 1000});
  waits_briefly.complete(claims(2));
  ASSERT_TRUE(testing::wait_for([&] { return store.completion_sizes().size() == 1; }));
  EXPECT_EQ(store.completion_sizes()[0], 2u);
  EXPECT_EQ(store.commit_sizes()[0], 0u);
  waits_briefly.stop();

  RecordingStore other;
  GroupCommitter waits_long(other, {.completion_delay_ms = 3'600'000, .completions_alone = 5});
  waits_long.complete(claims(4));
  waits_long.complete(claims(1));  // the fifth: enough to commit alone
  ASSERT_TRUE(testing::wait_for([&] { return other.completion_sizes().size() == 1; }));
  EXPECT_EQ(other.completion_sizes()[0], 5u);
}

TEST(GroupCommitTest, FailedCommitFailsEverySubmitterInIt) {
  RecordingStore store;
  store.fail_commits();
  GroupCommitter committer(store);
  std::promise<Status> result;
  committer.submit(batch_of(2), [&](const Status& s) { result.set_value(s); });
  Status status = result.get_future().get();
  EXPECT_EQ(status.code(), StatusCode::kUnavailable);
  EXPECT_EQ(status.message(), "disk full");
}

TEST(GroupCommitTest, FullQueueIsRejectedAtOnceAsResourceExhausted) {
  RecordingStore store;
  GroupCommitter committer(store, {.max_queued_jobs = 5, .max_jobs_per_commit = 100});
  store.append_gate.hold();
  committer.submit(batch_of(1), [](const Status&) {});
  store.append_gate.wait_until_entered();
  std::promise<Status> queued;
  committer.submit(batch_of(5), [&](const Status& s) { queued.set_value(s); });
  std::promise<Status> rejected;
  committer.submit(batch_of(1), [&](const Status& s) { rejected.set_value(s); });
  EXPECT_EQ(rejected.get_future().get().code(), StatusCode::kResourceExhausted);
  store.append_gate.open();
  EXPECT_TRUE(queued.get_future().get().ok());
}

TEST(GroupCommitTest, SubmitAfterStopIsUnavailable) {
  RecordingStore store;
  GroupCommitter committer(store);
  committer.stop();
  std::promise<Status> result;
  committer.submit(batch_of(1), [&](const Status& s) { result.set_value(s); });
  EXPECT_EQ(result.get_future().get().code(), StatusCode::kUnavailable);
}

TEST(GroupCommitTest, ConcurrentProducersAllGetAnswers) {
  RecordingStore store;
  GroupCommitter committer(store);
  constexpr int kThreads = 8;
  constexpr int kPerThread = 200;
  std::atomic<int> ok{0};
  std::vector<std::thread> producers;
  producers.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    producers.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        std::promise<void> done;
        committer.submit(batch_of(2), [&](const Status& s) {
          ok += s.ok() ? 1 : 0;
          done.set_value();
        });
        done.get_future().wait();
      }
    });
  }
  for (std::thread& producer : producers) {
    producer.join();
  }
  committer.stop();
  EXPECT_EQ(ok.load(), kThreads * kPerThread);
  size_t total = 0;
  for (size_t size : store.commit_sizes()) {
    total += size;
  }
  EXPECT_EQ(total, static_cast<size_t>(kThreads * kPerThread * 2));
}

// A batch whose bodies hold `body_bytes` bytes in all, over `jobs` jobs, and archived events and
// dead letters too: every part of a batch counts.
Batch sized_batch(size_t jobs, size_t body_bytes) {
  Batch batch;
  for (size_t i = 0; i < jobs; ++i) {
    batch.jobs.push_back({"bus/rule/target", "event", std::string(body_bytes / jobs, 'b'), "", 0});
  }
  batch.events.push_back({"event", "bus", std::string(body_bytes / 4, 'e'), 0});
  batch.dead_letters.push_back(
      {{"bus/rule/t2", "event", std::string(body_bytes / 4, 'd'), "", 0}, {"X", "why", ""}});
  return batch;
}

TEST(GroupCommitTest, BatchSizesCountEveryPartOfTheBatch) {
  const int64_t bodies_only = batch_bytes(batch_of(0));
  EXPECT_EQ(bodies_only, 0);
  const Batch batch = sized_batch(4, 40'000);
  // Bodies, the archived envelope and the dead letter's event, plus overhead per entry.
  EXPECT_GT(batch_bytes(batch), 40'000 + 10'000 + 10'000);
  EXPECT_LT(batch_bytes(batch), 40'000 + 10'000 + 10'000 + 6 * 512);
  Batch bigger = sized_batch(4, 40'000);
  bigger.jobs[0].headers = std::string(1000, 'h');
  EXPECT_EQ(batch_bytes(bigger), batch_bytes(batch) + 1000);
}

TEST(GroupCommitTest, ABatchPastTheByteBoundIsRefusedWholeAndTheBoundFreesOnceAnswered) {
  RecordingStore store;
  const int64_t one = batch_bytes(sized_batch(10, 100'000));
  GroupCommitter committer(store, {.max_queued_bytes = one * 2 + one / 2});
  store.sync_gate.hold();
  std::promise<Status> first;
  committer.submit(sized_batch(10, 100'000), [&](const Status& s) { first.set_value(s); });
  store.sync_gate.wait_until_entered();  // committed, waiting for the disk: still counted
  EXPECT_EQ(committer.queued_bytes(), one);
  std::promise<Status> second;
  committer.submit(sized_batch(10, 100'000), [&](const Status& s) { second.set_value(s); });
  EXPECT_EQ(committer.queued_bytes(), 2 * one);
  EXPECT_EQ(committer.room_bytes(), one / 2);

  // A third does not fit, nor does a small one that would cross the bound by a byte.
  std::promise<Status> refused;
  committer.submit(sized_batch(10, 100'000), [&](const Status& s) { refused.set_value(s); });
  const Status status = refused.get_future().get();
  EXPECT_EQ(status.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(status.message().find("retry"), std::string::npos) << status.message();
  Batch just_over = sized_batch(1, 4);
  just_over.jobs[0].body.assign(static_cast<size_t>(one / 2 + 1), 'x');
  std::promise<Status> also_refused;
  committer.submit(std::move(just_over), [&](const Status& s) { also_refused.set_value(s); });
  EXPECT_EQ(also_refused.get_future().get().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(committer.queued_bytes(), 2 * one);

  store.sync_gate.open();
  EXPECT_TRUE(first.get_future().get().ok());
  EXPECT_TRUE(second.get_future().get().ok());
  ASSERT_TRUE(testing::wait_for([&] { return committer.queued_bytes() == 0; }));
  EXPECT_EQ(committer.room_bytes(), committer.max_queued_bytes());
  std::promise<Status> later;
  committer.submit(sized_batch(10, 100'000), [&](const Status& s) { later.set_value(s); });
  EXPECT_TRUE(later.get_future().get().ok());
  committer.stop();
  // The refused batches stored nothing: three batches of ten jobs were committed.
  size_t jobs = 0;
  for (size_t size : store.commit_sizes()) {
    jobs += size;
  }
  EXPECT_EQ(jobs, 30u);
  EXPECT_EQ(committer.peak_queued_bytes(), 2 * one);
}

TEST(GroupCommitTest, UnderConcurrentProducersTheQueuedBytesNeverPassTheBound) {
  RecordingStore store;
  constexpr int64_t kBound = 200'000;
  MetricsRegistry metrics;
  Gauge& gauge = metrics.gauge("queued_bytes", "test");
  GroupCommitter committer(store, {.max_queued_bytes = kBound});
  committer.set_queued_bytes_gauge(&gauge);
  constexpr int kThreads = 8;
  constexpr int kRounds = 40;
  constexpr int kPerRound = 4;  // submissions in flight per producer
  std::atomic<int64_t> accepted_jobs{0};
  std::atomic<int> accepted{0};
  std::atomic<int> refused{0};
  std::atomic<int64_t> largest_seen{0};
  // The disk is held until the queue has overflowed once, then slow now and then.
  store.sync_gate.hold();
  std::atomic<bool> producing{true};
  std::thread disk([&] {
    EXPECT_TRUE(testing::wait_for([&] { return refused > 0; }));
    while (producing) {
      store.sync_gate.open();
      std::this_thread::yield();
      store.sync_gate.hold();
      std::this_thread::yield();
    }
    store.sync_gate.open();
  });
  std::vector<std::thread> producers;
  producers.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    producers.emplace_back([&, t] {
      for (int round = 0; round < kRounds; ++round) {
        std::vector<std::future<void>> answers;
        for (int k = 0; k < kPerRound; ++k) {
          const int i = round * kPerRound + k;
          // Sizes from a few bytes to a third of the bound, jobs from 1 to 40.
          const size_t jobs = 1 + static_cast<size_t>((t * 7 + i * 13) % 40);
          const size_t bytes = 8 + static_cast<size_t>((t * 7919 + i * 104'729) % (kBound / 3));
          auto done = std::make_shared<std::promise<void>>();
          answers.push_back(done->get_future());
          committer.submit(sized_batch(jobs, bytes), [&, jobs, done](const Status& s) {
            if (s.ok()) {
              ++accepted;
              accepted_jobs += static_cast<int64_t>(jobs);
            } else {
              EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s.message();
              ++refused;
            }
            done->set_value();
          });
          const int64_t seen = committer.queued_bytes();
          int64_t largest = largest_seen.load();
          while (seen > largest && !largest_seen.compare_exchange_weak(largest, seen)) {
          }
        }
        for (std::future<void>& answer : answers) {
          answer.wait();
        }
      }
    });
  }
  for (std::thread& producer : producers) {
    producer.join();
  }
  producing = false;
  disk.join();
  committer.stop();
  EXPECT_EQ(accepted + refused, kThreads * kRounds * kPerRound);
  EXPECT_GT(accepted.load(), 0);
  EXPECT_GT(refused.load(), 0);
  EXPECT_LE(committer.peak_queued_bytes(), kBound);
  EXPECT_LE(largest_seen.load(), kBound);
  EXPECT_EQ(committer.queued_bytes(), 0);
  EXPECT_EQ(gauge.value(), 0);
  // Refused batches stored nothing; every accepted job was committed.
  size_t committed_jobs = 0;
  for (size_t size : store.commit_sizes()) {
    committed_jobs += size;
  }
  EXPECT_EQ(static_cast<int64_t>(committed_jobs), accepted_jobs.load());
}

TEST(GroupCommitTest, CompletedClaimsDoNotKeepTheirBodiesUntilTheNextCommit) {
  RecordingStore store;
  GroupCommitter committer(store, {.completion_delay_ms = 3'600'000, .completions_alone = 1000});
  std::vector<Claim> delivered = claims(2);
  delivered[0].job.body = std::string(100'000, 'b');
  delivered[1].job.headers = R"({"x-h":"v"})";
  committer.complete(std::move(delivered));
  std::promise<Status> done;
  committer.submit(batch_of(1), [&](const Status& s) { done.set_value(s); });
  ASSERT_TRUE(done.get_future().get().ok());
  EXPECT_EQ(store.completion_sizes(), (std::vector<size_t>{2}));
  EXPECT_EQ(store.completed_body_bytes(), 0u);  // settled by id and token alone
}

// Takes up to `slots` jobs and `bytes` per commit and records what it was given.
class RecordingConsumer : public CommitConsumer {
 public:
  explicit RecordingConsumer(int slots, int64_t bytes = std::numeric_limits<int64_t>::max())
      : slots_(slots), bytes_(bytes) {}
  Offer offer(int64_t jobs, int64_t bytes) override {
    std::lock_guard lock(mutex_);
    EXPECT_GT(jobs, 0);
    EXPECT_GT(bytes, 0);
    ++offers_;
    return {slots_, bytes_, 4242};
  }
  void committed(const Offer& offer, std::vector<Claim> leased, int64_t left_pending) override {
    std::lock_guard lock(mutex_);
    EXPECT_EQ(offer.lease_expires_at_ms, 4242);
    EXPECT_LE(static_cast<int>(leased.size()), offer.jobs);
    for (Claim& claim : leased) {
      EXPECT_EQ(claim.lease_expires_at_ms, 4242);
      bodies_.push_back(std::move(claim.job.body));
    }
    left_pending_ += left_pending;
    ++calls_;
  }
  std::vector<std::string> bodies() {
    std::lock_guard lock(mutex_);
    return bodies_;
  }
  int64_t left_pending() {
    std::lock_guard lock(mutex_);
    return left_pending_;
  }
  int calls() {
    std::lock_guard lock(mutex_);
    return calls_;
  }
  int offers() {
    std::lock_guard lock(mutex_);
    return offers_;
  }

 private:
  const int slots_;
  const int64_t bytes_;
  std::mutex mutex_;
  std::vector<std::string> bodies_;
  int64_t left_pending_ = 0;
  int calls_ = 0;
  int offers_ = 0;
};

Batch numbered_batch(int first, int count) {
  Batch batch;
  for (int i = first; i < first + count; ++i) {
    batch.jobs.push_back({"t", "e", std::to_string(i), "", 0});
  }
  return batch;
}

TEST(GroupCommitTest, ConsumerGetsTheCommittedJobsUpToItsOfferAndHearsOfTheRest) {
  RecordingStore store;
  RecordingConsumer consumer(3);
  GroupCommitter committer(store);
  committer.set_consumer(&consumer);
  std::promise<Status> first;
  committer.submit(numbered_batch(0, 2), [&](const Status& s) { first.set_value(s); });
  ASSERT_TRUE(first.get_future().get().ok());
  std::promise<Status> second;
  committer.submit(numbered_batch(2, 5), [&](const Status& s) { second.set_value(s); });
  ASSERT_TRUE(second.get_future().get().ok());
  committer.stop();
  EXPECT_EQ(consumer.bodies(), (std::vector<std::string>{"0", "1", "2", "3", "4"}));
  EXPECT_EQ(consumer.left_pending(), 2);  // jobs 5 and 6 stay in the store for claim()
}

TEST(GroupCommitTest, ConsumerGetsNoMoreBytesThanItsOffer) {
  RecordingStore store;
  Batch batch;
  for (int i = 0; i < 6; ++i) {
    batch.jobs.push_back({"t", "e", std::string(1000, static_cast<char>('a' + i)), "", 0});
  }
  const int64_t one_job = entry_bytes(batch.jobs[0]);
  RecordingConsumer consumer(100, 3 * one_job + one_job / 2);  // room for three and a half
  GroupCommitter committer(store);
  committer.set_consumer(&consumer);
  std::promise<Status> done;
  committer.submit(std::move(batch), [&](const Status& s) { done.set_value(s); });
  ASSERT_TRUE(done.get_future().get().ok());
  committer.stop();
  ASSERT_EQ(consumer.bodies().size(), 3u);
  EXPECT_EQ(consumer.bodies()[2], std::string(1000, 'c'));  // the first three, in order
  EXPECT_EQ(consumer.left_pending(), 3);
}

TEST(GroupCommitTest, NobodyIsAnsweredBeforeTheSyncAndTheNextGroupCommitsMeanwhile) {
  RecordingStore store;
  RecordingConsumer consumer(10);
  GroupCommitter committer(store);
  committer.set_consumer(&consumer);
  store.sync_gate.hold();
  std::promise<Status> first;
  committer.submit(numbered_batch(0, 2), [&](const Status& s) { first.set_value(s); });
  store.sync_gate.wait_until_entered();
  // The first group is committed but not yet durable: no answer, nothing handed over.
  auto first_answer = first.get_future();
  EXPECT_EQ(first_answer.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  EXPECT_TRUE(consumer.bodies().empty());
  // The writer is not held up by the sync: a second group commits while the first syncs.
  std::promise<Status> second;
  committer.submit(numbered_batch(2, 3), [&](const Status& s) { second.set_value(s); });
  ASSERT_TRUE(testing::wait_for([&] { return store.commit_sizes().size() == 2; }));
  EXPECT_EQ(store.commit_sizes(), (std::vector<size_t>{2, 3}));
  store.sync_gate.open();
  EXPECT_TRUE(first_answer.get().ok());
  EXPECT_TRUE(second.get_future().get().ok());
  committer.stop();
  EXPECT_EQ(consumer.bodies(), (std::vector<std::string>{"0", "1", "2", "3", "4"}));
}

TEST(GroupCommitTest, AFailedSyncFailsTheGroupsItCovered) {
  RecordingStore store;
  store.fail_syncs();
  GroupCommitter committer(store);
  std::promise<Status> result;
  committer.submit(batch_of(2), [&](const Status& s) { result.set_value(s); });
  Status status = result.get_future().get();
  EXPECT_EQ(status.code(), StatusCode::kUnavailable);
  EXPECT_EQ(status.message(), "fdatasync: I/O error");
}

// A consumer that reserves what it offers must get every offer back, also from a failed commit,
// and is not asked by a commit without jobs.
TEST(GroupCommitTest, EveryOfferIsAnsweredOnceAlsoByAFailedCommit) {
  RecordingStore store;
  RecordingConsumer consumer(10);
  GroupCommitter committer(store);
  committer.set_consumer(&consumer);
  std::promise<Status> archive_only;
  Batch events;
  events.events.push_back({"e", "default", "{}", 0});
  committer.submit(std::move(events), [&](const Status& s) { archive_only.set_value(s); });
  ASSERT_TRUE(archive_only.get_future().get().ok());
  store.fail_commits();
  std::promise<Status> failed;
  committer.submit(numbered_batch(0, 2), [&](const Status& s) { failed.set_value(s); });
  EXPECT_EQ(failed.get_future().get().code(), StatusCode::kUnavailable);
  committer.stop();
  EXPECT_EQ(consumer.offers(), 1);
  EXPECT_EQ(consumer.calls(), 1);
  EXPECT_TRUE(consumer.bodies().empty());
  EXPECT_EQ(consumer.left_pending(), 0);
}

}  // namespace
}  // namespace hikyaku::store
