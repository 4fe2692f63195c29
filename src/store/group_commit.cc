#include "store/group_commit.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <utility>
#include <vector>

#include "core/thread.h"

namespace hikyaku::store {

GroupCommitter::GroupCommitter(Store& store, Options options)
    : store_(store), options_(options), writer_([this] {
        name_this_thread("hk-commit");
        run();
      }) {}

GroupCommitter::~GroupCommitter() { stop(); }

void GroupCommitter::submit(Batch batch, Done done) {
  const auto jobs = static_cast<int64_t>(batch.jobs.size());
  {
    std::unique_lock lock(mutex_);
    if (stopping_) {
      lock.unlock();
      done(unavailable("the store is shutting down"));
      return;
    }
    if (queued_jobs_ > 0 && queued_jobs_ + jobs > options_.max_queued_jobs) {
      lock.unlock();
      done(resource_exhausted("the store's commit queue is full; retry shortly"));
      return;
    }
    queued_jobs_ += jobs;
    queue_.push_back({std::move(batch), std::move(done)});
  }
  wake_.notify_one();
}

void GroupCommitter::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      return;
    }
    stopping_ = true;
  }
  wake_.notify_one();
  if (writer_.joinable()) {
    writer_.join();
  }
}

int64_t GroupCommitter::commits() const {
  std::lock_guard lock(mutex_);
  return commits_;
}

Status GroupCommitter::commit(Batch& merged) {
  if (merged.empty()) {
    return ok_status();
  }
  const auto jobs = static_cast<int64_t>(merged.jobs.size());
  if (consumer_ == nullptr || jobs == 0) {
    return store_.append(merged);
  }
  const CommitConsumer::Offer offer = consumer_->offer();
  if (offer.jobs <= 0) {
    HK_RETURN_IF_ERROR(store_.append(merged));
    consumer_->committed({}, jobs);
    return ok_status();
  }
  Result<std::vector<Claim>> leased =
      store_.append_and_lease(merged, offer.jobs, offer.lease_expires_at_ms);
  if (!leased.has_value()) {
    return leased.error();
  }
  const auto left_pending = jobs - static_cast<int64_t>(leased->size());
  consumer_->committed(std::move(leased).value(), left_pending);
  return ok_status();
}

void GroupCommitter::complete(std::vector<Claim> delivered) {
  if (delivered.empty()) {
    return;
  }
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      // The writer hears of the first completions (to start waiting for company) and of enough
      // to commit alone; in between it need not wake.
      wake = completed_.empty() || static_cast<int64_t>(completed_.size() + delivered.size()) >=
                                       options_.completions_alone;
      for (Claim& claim : delivered) {
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

void GroupCommitter::run() {
  std::vector<Pending> taken;
  Batch merged;
  std::vector<Claim> completed;
  for (;;) {
    taken.clear();
    completed.clear();
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty() || !completed_.empty(); });
      // Completions alone wait a little for a submission to share its transaction (under load
      // one comes within a commit's time), unless there are many of them.
      auto submission_or_enough = [this] {
        return stopping_ || !queue_.empty() ||
               static_cast<int64_t>(completed_.size()) >= options_.completions_alone;
      };
      if (!submission_or_enough()) {
        wake_.wait_for(lock, std::chrono::milliseconds(options_.completion_delay_ms),
                       submission_or_enough);
      }
      if (queue_.empty() && completed_.empty()) {
        return;  // stopping and drained
      }
      completed.swap(completed_);
      // Everything that queued while the previous commit ran, up to the per-commit cap (at
      // least one submission, however large).
      int64_t jobs = 0;
      while (!queue_.empty() &&
             (taken.empty() || jobs + static_cast<int64_t>(queue_.front().batch.jobs.size()) <=
                                   options_.max_jobs_per_commit)) {
        jobs += static_cast<int64_t>(queue_.front().batch.jobs.size());
        taken.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      queued_jobs_ -= jobs;
    }

    merged.jobs.clear();
    merged.events.clear();
    merged.dead_letters.clear();
    if (taken.size() == 1) {
      merged = std::move(taken[0].batch);
    } else {
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
      }
    }
    merged.completed.swap(completed);
    const Status status = commit(merged);
    if (!status.ok() && !merged.completed.empty()) {
      spdlog::error(
          "store: completing deliveries failed jobs={} error=\"{}\" (they are delivered again "
          "when their leases expire)",
          merged.completed.size(), status.message());
    }
    {
      std::lock_guard lock(mutex_);
      ++commits_;
    }
    for (Pending& pending : taken) {
      pending.done(status);
    }
  }
}

}  // namespace hikyaku::store
