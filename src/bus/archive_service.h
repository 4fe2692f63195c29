#pragma once
// ArchiveService: bus::Archives (archive.h) over the store and the pipeline, and the thread that
// runs replays and retention (hk-replay, at a lower CPU priority than ingest).
//
//   ArchiveService archives(store, committer, pipeline, SystemClock::instance(), {});
//   HK_RETURN_IF_ERROR(archives.start());   // resumes unfinished replays, sweeps retention
//   ... server::ServerOptions::archives = &archives ...
//   archives.stop();                          // before the pipeline and the committer go
//
// A replay is a record in the store's KV ("replay/<name>", JSON) changed only by compare-and-set:
// its state, window, destination, and how far it got (the (ingested_at_ms, id) of the last event
// replayed). The runner takes one page of an active replay at a time (active replays take turns):
// it reads up to Options::page_events archived events after that cursor, sets their
// replay-name, hands them to Pipeline::replay() (matched only against the replay's rules, not
// archived again), waits for that commit, then moves the cursor. A crash between a commit and the
// cursor's move replays that page again: replays are at least once, like delivery.
//
// Live traffic goes first: a page waits while the committer's free room is below
// Options::min_free_fraction of its bound, pages are moderate and one at a time, and
// Options::max_events_per_second (0 = no limit) paces a replay further.
//
// Cancel: cancel_replay() writes CANCELLING; the runner stops at its next page and writes
// CANCELLED. A replay whose window is exhausted is COMPLETED.
//
// Retention: sweep_retention() removes each archive's events older than its RetentionDays (0 keeps
// them); the thread runs it at start and every Options::retention_sweep_interval.
//
// Time: records and retention use the injected Clock; the thread's waits are real time.
//
// Thread safety: every public method is thread-safe; run_once() must not run concurrently with
// the thread (call it only when start() was not called: tests drive the runner step by step).

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <thread>
#include <vector>

#include "bus/archive.h"
#include "bus/pipeline.h"
#include "core/clock.h"
#include "core/mutex.h"
#include "store/group_commit.h"
#include "store/store.h"

namespace hikyaku::bus {

class ArchiveService final : public Archives {
 public:
  struct Options {
    int page_events = 250;
    double min_free_fraction = 0.5;
    int64_t max_events_per_second = 0;
    std::chrono::milliseconds retention_sweep_interval{60'000};
  };

  // Every reference must outlive the service.
  ArchiveService(store::Store& store, store::GroupCommitter& committer, Pipeline& pipeline,
                 const Clock& clock, Options options);
  ~ArchiveService() override;
  ArchiveService(const ArchiveService&) = delete;
  ArchiveService& operator=(const ArchiveService&) = delete;

  // Loads the replays the store holds unfinished (they resume from their cursor), then starts
  // the thread, which sweeps retention first.
  Status start() HK_EXCLUDES(mutex_);
  // Stops the thread after its current page. Idempotent.
  void stop() HK_EXCLUDES(mutex_);

  // Loads unfinished replays without starting the thread (start() does it too).
  Status resume() HK_EXCLUDES(mutex_);

  // One step of the runner on the calling thread: one page, or one state change, of the next
  // active replay.
  struct Step {
    enum Kind { kIdle, kWaitingForRoom, kWorked };
    Kind kind = kIdle;
    int64_t events = 0;  // replayed in this step
  };
  Result<Step> run_once() HK_EXCLUDES(mutex_);

  // Removes archived events older than their archive's RetentionDays; returns how many.
  Result<int64_t> sweep_retention();

  Result<std::vector<ArchiveInfo>> list_archives() override;
  Result<ArchiveInfo> describe_archive(std::string_view name) override;
  Result<ReplayInfo> start_replay(const ReplayRequest& request) override HK_EXCLUDES(mutex_);
  Result<ReplayInfo> describe_replay(std::string_view name) override;
  Result<std::vector<ReplayInfo>> list_replays() override;
  Result<ReplayInfo> cancel_replay(std::string_view name) override HK_EXCLUDES(mutex_);

 private:
  struct Record;  // the KV record of a replay (archive_service.cc)

  void run() HK_EXCLUDES(mutex_);
  Result<ArchiveInfo> archive_info(const config::Config& config, const config::Archive& archive);
  // Runs one page of `name`; `events` gets how many it replayed.
  Status step(const std::string& name, int64_t& events, bool& finished);
  void activate(const std::string& name) HK_EXCLUDES(mutex_);

  store::Store& store_;
  store::GroupCommitter& committer_;
  Pipeline& pipeline_;
  const Clock& clock_;
  const Options options_;

  Mutex mutex_;
  CondVar wake_;
  std::deque<std::string> active_ HK_GUARDED_BY(mutex_);  // replays to run, in turn
  bool stopping_ HK_GUARDED_BY(mutex_) = false;
  bool started_ HK_GUARDED_BY(mutex_) = false;
  std::thread thread_;
};

}  // namespace hikyaku::bus
