#pragma once
// Group commit: many concurrent producers share one store transaction, and one disk sync.
//
// submit() queues a batch and returns at once. A writer thread takes everything queued while the
// previous commit ran and appends it as ONE transaction without waiting for the disk; a syncer
// thread then makes every transaction committed meanwhile durable with one Store::sync() and only
// then calls the submitters' `done` with the outcome. The two overlap: while one group waits for
// the disk, the next group's transaction runs. No timer is involved: under load, groups grow by
// themselves; when idle, a lone batch commits and syncs at once (no added latency).
//
// Memory is bounded in bytes (Options::max_queued_bytes, 256 MiB by default): a submitted batch
// counts (batch_bytes(): its bodies, envelopes, dead letters and per-entry overhead) from submit()
// until its `done` is called, i.e. while it is queued, being committed and waiting for the sync;
// jobs are then handed to the consumer, which bounds what it holds itself. A batch that would take
// the total past the bound is refused whole: submit() calls `done` at once with
// kResourceExhausted (nothing of it is stored), which ingest turns into a retryable throttling
// error. Nothing ever waits for room, so admission cannot deadlock. Options::max_queued_jobs
// bounds the number of queued jobs the same way.
//
// It reads no clock: the one time it keeps, Options::completion_delay_ms, is a bounded wait on a
// condition variable (real time) for company. docs/store.md describes the durability model.
//
// Thread safety: submit() and complete() are thread-safe. `done` and the CommitConsumer's
// committed() run on the syncer thread (`done` on the caller's thread for an immediate
// rejection): keep them short.

#include <cstdint>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "core/metrics.h"
#include "core/mutex.h"
#include "store/store.h"

namespace hikyaku::store {

// Takes delivery jobs straight from the commit that makes them durable (the dispatcher): they are
// leased to it in that same transaction, so they are never read back from the store.
class CommitConsumer {
 public:
  // How many of a commit's jobs to lease to the consumer, from its first: at most `jobs`, and
  // as many as fit in `bytes` (as entry_bytes counts them). The rest stay pending for claim().
  struct Offer {
    int jobs = 0;
    int64_t bytes = 0;
    int64_t lease_expires_at_ms = 0;
  };
  virtual ~CommitConsumer() = default;
  // Asked on the writer thread before each commit that holds jobs: the commit holds `jobs` jobs
  // of `bytes` bytes (entry_bytes). The consumer keeps the room it offers reserved until the
  // matching committed(), so that what it holds stays within its bound however commits and its
  // own claims interleave.
  virtual Offer offer(int64_t jobs, int64_t bytes) = 0;
  // Called on the syncer thread once per offer(), in the same order, when the commit is durable
  // or failed: the offer it answers, the jobs leased to the consumer (at most the offer; none
  // when the commit failed), and how many others the commit left pending for claim().
  virtual void committed(const Offer& offer, std::vector<Claim> leased, int64_t left_pending) = 0;
};

// What a batch (or one of its parts) holds in memory, as the committer's byte bound counts it:
// the strings' bytes plus a fixed overhead per entry.
int64_t batch_bytes(const Batch& batch);
// A job without its original event: the jobs of one event share it (NewJob::event).
int64_t entry_bytes(const NewJob& job);
// The original event of `job` when it is not `last_event` (the one the job before it shared),
// which it then becomes: the jobs of one event, adjacent in a batch, count their event once.
int64_t shared_event_bytes(const NewJob& job, const std::string*& last_event);
int64_t entry_bytes(const ArchivedEvent& event);
int64_t entry_bytes(const NewDeadLetter& letter);
int64_t entry_bytes(const Claim& claim);

class GroupCommitter {
 public:
  using Done = std::function<void(const Status&)>;

  static constexpr int64_t kDefaultMaxQueuedBytes = int64_t{256} * 1024 * 1024;

  struct Options {
    // batch_bytes() of the batches submitted and not yet answered, across all submitters.
    int64_t max_queued_bytes = kDefaultMaxQueuedBytes;
    int64_t max_queued_jobs = 200'000;  // jobs waiting for a commit, across all submitters
    int64_t max_jobs_per_commit = 20'000;
    // Completed deliveries (complete()) wait up to this long for a submission to ride along
    // with, or until this many have gathered, before they are committed on their own.
    int64_t completion_delay_ms = 20;
    int64_t completions_alone = 1000;
  };

  GroupCommitter(Store& store, Options options);
  explicit GroupCommitter(Store& store) : GroupCommitter(store, Options{}) {}
  // Commits everything already submitted, then stops.
  ~GroupCommitter();

  GroupCommitter(const GroupCommitter&) = delete;
  GroupCommitter& operator=(const GroupCommitter&) = delete;

  void submit(Batch batch, Done done) HK_EXCLUDES(mutex_);

  // Completes delivered claims in the next commit (see Batch::completed) without waiting for it:
  // settling deliveries shares the ingest's transactions instead of adding its own (they wait up
  // to Options::completion_delay_ms for one; a crash meanwhile only redelivers them). After
  // stop(), completes them at once on the caller's thread. Failures are logged; the jobs are
  // then delivered again when their leases expire.
  void complete(std::vector<Claim> delivered) HK_EXCLUDES(mutex_);

  // Hands committed jobs to `consumer` (see CommitConsumer); set before the first submit. Without
  // one, jobs only become pending in the store.
  void set_consumer(CommitConsumer* consumer) { consumer_ = consumer; }

  // Commits everything submitted so far and stops; later submits fail with kUnavailable.
  void stop() HK_EXCLUDES(mutex_);

  // Commits performed so far (each may hold many submissions); for metrics and tests.
  int64_t commits() const HK_EXCLUDES(mutex_);
  // Batches accepted by submit() so far (completions not counted): a background producer (a
  // redrive) tells from it whether others (ingest) are submitting too.
  int64_t submissions() const HK_EXCLUDES(mutex_);

  // The bytes a submission may still take (Options::max_queued_bytes minus what is queued;
  // 0 when full): a producer that builds a large batch stops building once past it.
  int64_t room_bytes() const HK_EXCLUDES(mutex_);
  int64_t max_queued_bytes() const { return options_.max_queued_bytes; }
  // Bytes submitted and not yet answered, and the most there ever were (for metrics and tests).
  int64_t queued_bytes() const HK_EXCLUDES(mutex_);
  int64_t peak_queued_bytes() const HK_EXCLUDES(mutex_);
  // Keeps `gauge` equal to queued_bytes(); set before the first submit.
  void set_queued_bytes_gauge(Gauge* gauge) { queued_bytes_gauge_ = gauge; }

 private:
  struct Pending {
    Batch batch;
    Done done;
    int64_t bytes = 0;  // batch_bytes(batch) at submit()
  };
  // A committed group waiting for the sync that makes it durable.
  struct Committed {
    std::vector<Done> done;
    Status status;  // of the transaction
    bool had_jobs = false;
    CommitConsumer::Offer offer;  // what the consumer offered (when it was asked: had_jobs)
    std::vector<Claim> leased;    // for the consumer
    int64_t left_pending = 0;     // jobs of the group not leased to the consumer
    size_t completions = 0;       // Batch::completed settled in it (for the error log)
    int64_t bytes = 0;            // the submissions' bytes, released once they are answered
  };

  void run_writer() HK_EXCLUDES(mutex_);
  void run_syncer() HK_EXCLUDES(mutex_);
  // The writer's wait: the submissions of the next group, up to the per-commit cap, and the
  // completions gathered meanwhile. False when stopping and drained.
  bool take_next_group(std::vector<Pending>& taken, std::vector<Claim>& completed)
      HK_EXCLUDES(mutex_);
  // Merges the taken submissions into one batch (`merged` is reused across groups).
  static void merge(std::vector<Pending>& taken, Batch& merged);
  // Appends `merged` (deferring the sync) and records what the consumer gets.
  void commit(Batch& merged, Committed& committed);
  // Returns answered submissions' bytes to the bound.
  void release_bytes(int64_t bytes) HK_EXCLUDES(mutex_);

  Store& store_;
  const Options options_;
  CommitConsumer* consumer_ = nullptr;  // set before the first submit
  mutable Mutex mutex_;
  CondVar wake_;         // the writer's
  CondVar wake_syncer_;  // the syncer's
  std::deque<Pending> queue_ HK_GUARDED_BY(mutex_);
  std::vector<Claim> completed_ HK_GUARDED_BY(mutex_);
  std::deque<Committed> unsynced_ HK_GUARDED_BY(mutex_);
  int64_t queued_jobs_ HK_GUARDED_BY(mutex_) = 0;
  int64_t queued_bytes_ HK_GUARDED_BY(mutex_) = 0;
  int64_t peak_queued_bytes_ HK_GUARDED_BY(mutex_) = 0;
  Gauge* queued_bytes_gauge_ = nullptr;  // set before the first submit
  int64_t commits_ HK_GUARDED_BY(mutex_) = 0;
  int64_t submissions_ HK_GUARDED_BY(mutex_) = 0;
  bool stopping_ HK_GUARDED_BY(mutex_) = false;
  bool writer_done_ HK_GUARDED_BY(mutex_) = false;
  std::thread writer_;
  std::thread syncer_;
};

}  // namespace hikyaku::store
