#include "store/group_commit.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <utility>
#include <vector>

#include "core/thread.h"

namespace hikyaku::store {

namespace {

// A vector element plus the allocator's bookkeeping per string; what SSO keeps inline is counted
// twice, which errs on the safe side.
constexpr int64_t kEntryOverhead = 64;

int64_t bytes_of(const std::string& text) { return static_cast<int64_t>(text.size()); }

}  // namespace

int64_t entry_bytes(const NewJob& job) {
  return kEntryOverhead + static_cast<int64_t>(sizeof(NewJob)) + bytes_of(job.target) +
         bytes_of(job.event_id) + bytes_of(job.body) + bytes_of(job.headers);
}

int64_t entry_bytes(const ArchivedEvent& event) {
  return kEntryOverhead + static_cast<int64_t>(sizeof(ArchivedEvent)) + bytes_of(event.event_id) +
         bytes_of(event.bus) + bytes_of(event.envelope);
}

int64_t entry_bytes(const NewDeadLetter& letter) {
  const std::string* none = nullptr;
  return entry_bytes(letter.job) + shared_event_bytes(letter.job, none) +
         bytes_of(letter.reason.error_code) + bytes_of(letter.reason.error_message) +
         bytes_of(letter.reason.exhausted_retry_condition);
}

int64_t entry_bytes(const Claim& claim) {
  return kEntryOverhead + static_cast<int64_t>(sizeof(Claim)) + bytes_of(claim.token) +
         bytes_of(claim.job.target) + bytes_of(claim.job.event_id) + bytes_of(claim.job.body) +
         bytes_of(claim.job.headers);
}

int64_t shared_event_bytes(const NewJob& job, const std::string*& last_event) {
  if (job.event == nullptr || job.event.get() == last_event) {
    return 0;
  }
  last_event = job.event.get();
  return kEntryOverhead + bytes_of(*job.event);
}

int64_t batch_bytes(const Batch& batch) {
  int64_t bytes = 0;
  const std::string* last_event = nullptr;
  for (const NewJob& job : batch.jobs) {
    bytes += entry_bytes(job) + shared_event_bytes(job, last_event);
  }
  for (const ArchivedEvent& event : batch.events) {
    bytes += entry_bytes(event);
  }
  for (const NewDeadLetter& letter : batch.dead_letters) {
    bytes += entry_bytes(letter);
  }
  for (const Claim& claim : batch.completed) {
    bytes += entry_bytes(claim);
  }
  return bytes + static_cast<int64_t>(batch.redriven.size() * sizeof(int64_t));
}

namespace {

// How many of `jobs`, from the first, the offer takes.
int jobs_within(const CommitConsumer::Offer& offer, const std::vector<NewJob>& jobs) {
  int taken = 0;
  int64_t bytes = 0;
  for (const NewJob& job : jobs) {
    bytes += entry_bytes(job);
    if (taken >= offer.jobs || bytes > offer.bytes) {
      break;
    }
    ++taken;
  }
  return taken;
}

}  // namespace

GroupCommitter::GroupCommitter(Store& store, Options options)
    : store_(store),
      options_(options),
      writer_([this] {
        name_this_thread("hk-commit");
        run_writer();
      }),
      syncer_([this] {
        name_this_thread("hk-sync");
        run_syncer();
      }) {}

GroupCommitter::~GroupCommitter() { stop(); }

void GroupCommitter::submit(Batch batch, Done done) {
  const auto jobs = static_cast<int64_t>(batch.jobs.size());
  const int64_t bytes = batch_bytes(batch);
  {
    MutexLock lock(mutex_);
    if (stopping_) {
      lock.unlock();
      done(unavailable("the store is shutting down"));
      return;
    }
    // Whole batches only: a batch that does not fit is refused entirely, and nobody waits.
    if ((queued_jobs_ > 0 && queued_jobs_ + jobs > options_.max_queued_jobs) ||
        queued_bytes_ + bytes > options_.max_queued_bytes) {
      lock.unlock();
      done(resource_exhausted("the store's commit queue is full; retry shortly"));
      return;
    }
    queued_jobs_ += jobs;
    queued_bytes_ += bytes;
    peak_queued_bytes_ = std::max(peak_queued_bytes_, queued_bytes_);
    queue_.push_back({std::move(batch), std::move(done), bytes});
    ++submissions_;
    if (queued_bytes_gauge_ != nullptr) {
      queued_bytes_gauge_->add(bytes);  // under the lock: never behind its release
    }
  }
  wake_.notify_one();
}

void GroupCommitter::release_bytes(int64_t bytes) {
  MutexLock lock(mutex_);
  queued_bytes_ -= bytes;
  if (queued_bytes_gauge_ != nullptr) {
    queued_bytes_gauge_->add(-bytes);
  }
}

int64_t GroupCommitter::room_bytes() const {
  MutexLock lock(mutex_);
  return std::max<int64_t>(options_.max_queued_bytes - queued_bytes_, 0);
}

int64_t GroupCommitter::queued_bytes() const {
  MutexLock lock(mutex_);
  return queued_bytes_;
}

int64_t GroupCommitter::peak_queued_bytes() const {
  MutexLock lock(mutex_);
  return peak_queued_bytes_;
}

void GroupCommitter::stop() {
  {
    MutexLock lock(mutex_);
    if (stopping_) {
      return;
    }
    stopping_ = true;
  }
  wake_.notify_one();
  if (writer_.joinable()) {
    writer_.join();
  }
  {
    MutexLock lock(mutex_);
    writer_done_ = true;
  }
  wake_syncer_.notify_one();
  if (syncer_.joinable()) {
    syncer_.join();
  }
}

int64_t GroupCommitter::submissions() const {
  MutexLock lock(mutex_);
  return submissions_;
}

int64_t GroupCommitter::commits() const {
  MutexLock lock(mutex_);
  return commits_;
}

void GroupCommitter::commit(Batch& merged, Committed& committed) {
  committed.completions = merged.completed.size();
  const auto jobs = static_cast<int64_t>(merged.jobs.size());
  committed.had_jobs = jobs > 0;
  if (consumer_ != nullptr && jobs > 0) {
    int64_t bytes = 0;
    for (const NewJob& job : merged.jobs) {
      bytes += entry_bytes(job);
    }
    committed.offer = consumer_->offer(jobs, bytes);
  }
  const CommitConsumer::Offer& offer = committed.offer;
  Result<std::vector<Claim>> leased = store_.append_and_lease(
      merged, jobs_within(offer, merged.jobs), offer.lease_expires_at_ms, /*defer_sync=*/true);
  if (!leased.has_value()) {
    committed.status = leased.error();
    return;
  }
  committed.left_pending = jobs - static_cast<int64_t>(leased->size());
  committed.leased = std::move(leased).value();
}

void GroupCommitter::complete(std::vector<Claim> delivered) {
  if (delivered.empty()) {
    return;
  }
  bool wake = false;
  {
    MutexLock lock(mutex_);
    if (!stopping_) {
      // The writer hears of the first completions (to start waiting for company) and of enough
      // to commit alone; in between it need not wake.
      wake = completed_.empty() || static_cast<int64_t>(completed_.size() + delivered.size()) >=
                                       options_.completions_alone;
      for (Claim& claim : delivered) {
        // Settling needs the job's id and lease token only: the body is freed now rather than
        // kept until the next commit.
        std::string().swap(claim.job.body);
        std::string().swap(claim.job.headers);
        completed_.push_back(std::move(claim));
      }
      delivered.clear();
    }
  }
  if (delivered.empty()) {
    if (wake) {
      wake_.notify_one();
    }
    return;
  }
  // Stopped: settle on the caller's thread.
  if (Result<int64_t> done = store_.complete_all(delivered); !done.has_value()) {
    spdlog::error("store: completing deliveries failed jobs={} error=\"{}\"", delivered.size(),
                  done.error().message());
  }
}

void GroupCommitter::run_writer() {
  std::vector<Pending> taken;
  Batch merged;
  std::vector<Claim> completed;
  for (;;) {
    taken.clear();
    completed.clear();
    if (!take_next_group(taken, completed)) {
      return;  // stopping and drained
    }
    merge(taken, merged);
    merged.completed.swap(completed);
    Committed committed;
    if (!merged.empty()) {
      commit(merged, committed);
    }
    // What was not leased is in the store now: free it before the sync, not at the next group.
    merged.jobs.clear();
    merged.events.clear();
    merged.dead_letters.clear();
    merged.completed.clear();
    merged.redriven.clear();
    committed.done.reserve(taken.size());
    for (Pending& pending : taken) {
      committed.done.push_back(std::move(pending.done));
      committed.bytes += pending.bytes;
    }
    {
      MutexLock lock(mutex_);
      ++commits_;
      unsynced_.push_back(std::move(committed));
    }
    wake_syncer_.notify_one();
  }
}

bool GroupCommitter::take_next_group(std::vector<Pending>& taken, std::vector<Claim>& completed) {
  MutexLock lock(mutex_);
  // At most one committed group waits for the sync after the one in progress: meanwhile
  // submissions gather into the next group instead of each becoming a transaction of its own.
  wake_.wait(lock, [this]() HK_REQUIRES(mutex_) {
    return (stopping_ || !queue_.empty() || !completed_.empty()) && unsynced_.empty();
  });
  // Completions alone wait a little for a submission to share its transaction (under load
  // one comes within a commit's time), unless there are many of them.
  auto submission_or_enough = [this]() HK_REQUIRES(mutex_) {
    return stopping_ || !queue_.empty() ||
           static_cast<int64_t>(completed_.size()) >= options_.completions_alone;
  };
  if (!submission_or_enough()) {
    wake_.wait_for(lock, std::chrono::milliseconds(options_.completion_delay_ms),
                   submission_or_enough);
  }
  if (queue_.empty() && completed_.empty()) {
    return false;
  }
  completed.swap(completed_);
  // Everything that queued while the previous commit ran, up to the per-commit cap (at least one
  // submission, however large).
  int64_t jobs = 0;
  while (!queue_.empty() &&
         (taken.empty() || jobs + static_cast<int64_t>(queue_.front().batch.jobs.size()) <=
                               options_.max_jobs_per_commit)) {
    jobs += static_cast<int64_t>(queue_.front().batch.jobs.size());
    taken.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  queued_jobs_ -= jobs;
  return true;
}

void GroupCommitter::merge(std::vector<Pending>& taken, Batch& merged) {
  if (taken.size() == 1) {
    merged = std::move(taken[0].batch);
    return;
  }
  for (Pending& pending : taken) {
    for (NewJob& job : pending.batch.jobs) {
      merged.jobs.push_back(std::move(job));
    }
    for (ArchivedEvent& event : pending.batch.events) {
      merged.events.push_back(std::move(event));
    }
    for (NewDeadLetter& letter : pending.batch.dead_letters) {
      merged.dead_letters.push_back(std::move(letter));
    }
    merged.redriven.insert(merged.redriven.end(), pending.batch.redriven.begin(),
                           pending.batch.redriven.end());
  }
}

void GroupCommitter::run_syncer() {
  std::deque<Committed> groups;
  for (;;) {
    {
      MutexLock lock(mutex_);
      wake_syncer_.wait(
          lock, [this]() HK_REQUIRES(mutex_) { return writer_done_ || !unsynced_.empty(); });
      if (unsynced_.empty()) {
        return;  // the writer has stopped and every group is answered
      }
      groups.swap(unsynced_);
    }
    wake_.notify_one();  // the writer may commit the next group while this one syncs
    // One sync covers every group committed so far.
    const Status synced = store_.sync();
    for (Committed& group : groups) {
      const Status status = group.status.ok() ? synced : group.status;
      if (!status.ok() && group.completions > 0) {
        spdlog::error(
            "store: completing deliveries failed jobs={} error=\"{}\" (they are delivered again "
            "when their leases expire)",
            group.completions, status.message());
      }
      // Leased jobs go to the consumer even when the sync failed: they are in the store (their
      // submitters hear of the failure and may send them again; at-least-once allows that).
      if (group.had_jobs && consumer_ != nullptr) {
        consumer_->committed(group.offer, std::move(group.leased), group.left_pending);
      }
      for (Done& done : group.done) {
        done(status);
      }
      release_bytes(group.bytes);
    }
    groups.clear();
  }
}

}  // namespace hikyaku::store
