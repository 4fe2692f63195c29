#pragma once
// Group commit: many concurrent producers share one store transaction.
//
// submit() queues a batch and returns at once; a single writer thread takes everything queued
// while the previous commit ran, appends it as ONE batch, then calls every submitter's `done`
// with the commit's status. No timer is involved: under load, batches grow by themselves while
// a commit is in flight; when idle, a lone batch commits immediately (no added latency).
//
// The queue is bounded (Options::max_queued_jobs): beyond it submit() calls `done` at once with
// kResourceExhausted, which ingest turns into a retryable throttling error.
//
// Thread safety: submit() is thread-safe. `done` runs on the writer thread (or on the caller's
// thread for an immediate rejection): keep it short.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "store/store.h"

namespace hikyaku::store {

class GroupCommitter {
 public:
  using Done = std::function<void(const Status&)>;

  struct Options {
    int64_t max_queued_jobs = 200'000;  // jobs waiting for a commit, across all submitters
    int64_t max_jobs_per_commit = 20'000;
  };

  GroupCommitter(Store& store, Options options);
  explicit GroupCommitter(Store& store) : GroupCommitter(store, Options{}) {}
  // Commits everything already submitted, then stops the writer.
  ~GroupCommitter();

  GroupCommitter(const GroupCommitter&) = delete;
  GroupCommitter& operator=(const GroupCommitter&) = delete;

  void submit(Batch batch, Done done);

  // Commits everything submitted so far and stops; later submits fail with kUnavailable.
  void stop();

  // Commits performed so far (each may hold many submissions); for metrics and tests.
  int64_t commits() const;

 private:
  struct Pending {
    Batch batch;
    Done done;
  };

  void run();

  Store& store_;
  const Options options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Pending> queue_;  // guarded by mutex_
  int64_t queued_jobs_ = 0;    // guarded by mutex_
  int64_t commits_ = 0;        // guarded by mutex_
  bool stopping_ = false;      // guarded by mutex_
  std::thread writer_;
};

}  // namespace hikyaku::store
