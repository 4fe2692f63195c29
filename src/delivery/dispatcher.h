#pragma once
// Delivery workers: claim due jobs from the store, send each to its endpoint, settle the outcome.
//
//   Dispatcher dispatcher(store, metrics, SystemClock::instance(), endpoints, {});
//   dispatcher.attach(committer);  // new jobs come straight from each commit
//   dispatcher.start();
//   dispatcher.stop();   // finishes attempts in flight, gives unattempted claims back
//
// Each job is attempted under a store lease; a worker that dies loses its lease and the job is
// attempted again elsewhere: delivery is at-least-once, so receivers must tolerate duplicates.
// New jobs are leased to the dispatcher by the commit that makes them durable and handed over in
// memory (up to Options::max_handed_off jobs and max_handed_off_bytes waiting); the rest, retries
// and jobs left by an earlier run are claimed from the store. Outcomes follow retry_policy.h:
// delivered -> complete; retryable -> rescheduled with backoff until the target's RetryPolicy is
// exhausted; permanent or exhausted -> the dead-letter queue with the error attributes. A job whose
// target disappeared in a reload is dead-lettered (NO_RESOURCE).
//
// Every error text recorded in the store (retries, dead letters) and every metrics label passes
// the endpoint's Redactor (endpoint.h). Endpoints of kind kLog append one JSON object per line to
// their file (created 0600, whatever the umask):
//   {"time": "...", "rule": "...", "target": "...", "body": "<the delivered body, as a string>"}
//
// What is sent, retried and dead-lettered is described in docs/api-destinations.md §4-§6.
// Time (lease expiries, log-line times, pacing, polling, settle batching) is read from the
// injected Clock, and retry jitter drawn from the injected Random.
//
// Thread safety: all public methods are thread-safe.

#include <chrono>
#include <deque>
#include <memory>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/metrics.h"
#include "core/mutex.h"
#include "core/random.h"
#include "delivery/endpoint.h"
#include "delivery/retry_policy.h"
#include "store/group_commit.h"
#include "store/store.h"

namespace hikyaku::delivery {

class Dispatcher final : public store::CommitConsumer {
 public:
  struct Options {
    int workers = 4;
    int claim_batch = 32;
    // Jobs taken from commits and not yet picked up by a worker: at most this many, holding at
    // most this many bytes (store::entry_bytes). The rest wait in the store for claim().
    int max_handed_off = 2048;
    int64_t max_handed_off_bytes = int64_t{64} << 20;
    int64_t lease_ms = 60'000;  // a send slot later than lease - 2 x timeout is not waited for
    int64_t settle_interval_ms = 20;  // successful deliveries are completed in batches this often
    int64_t idle_poll_ms = 1000;      // look for due retries at least this often
    long http_timeout_ms = 5000;      // EventBridge's limit for API destinations
    Backoff backoff;
  };

  // `clock` and `random` must outlive the dispatcher; `random` is shared by the workers.
  Dispatcher(store::Store& store, MetricsRegistry& metrics, const Clock& clock,
             std::shared_ptr<const Endpoints> endpoints, Options options,
             Random& random = SystemRandom::instance());
  Dispatcher(store::Store& store, MetricsRegistry& metrics, const Clock& clock,
             std::shared_ptr<const Endpoints> endpoints)
      : Dispatcher(store, metrics, clock, std::move(endpoints), Options{}) {}
  ~Dispatcher() override;

  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // Takes new jobs straight from `committer`'s commits and settles deliveries in them (see
  // GroupCommitter::set_consumer and complete). Call before start(); `committer` must outlive
  // stop(). Without it, jobs are claimed from the store and completed in transactions of their own.
  void attach(store::GroupCommitter& committer);

  void start();
  // Wakes idle workers to claim from the store: jobs were appended there.
  void notify();

  // store::CommitConsumer: jobs leased to the dispatcher by a commit.
  Offer offer() override;
  void committed(std::vector<store::Claim> leased, int64_t left_pending) override;
  // Replaces the endpoints (config reload).
  void publish(std::shared_ptr<const Endpoints> endpoints);
  // Stops claiming, finishes the attempts in flight, releases claimed jobs not yet attempted,
  // and joins the workers.
  void stop();

  // Attempts finished so far (any outcome); for tests and metrics.
  int64_t attempts() const;

 private:
  struct Worker;
  class RateLimiter;
  class LogFiles;

  void run_worker() HK_EXCLUDES(mutex_);
  // Waits for work and returns the next claims: handed-off jobs first, and the store's due jobs
  // whenever it may hold some. Empty when stopping.
  std::vector<store::Claim> next_claims(Worker& worker) HK_EXCLUDES(mutex_);
  // Attempts one job. A Log line is queued in `worker` and a successful HTTP delivery waits
  // there to be completed (both are settled in batches by settle()); every other outcome is
  // settled here.
  void deliver(store::Claim claim, Worker& worker) HK_EXCLUDES(mutex_);
  // Writes the queued Log lines (one write per file) and completes every delivered job in one
  // store transaction.
  void settle(Worker& worker) HK_EXCLUDES(mutex_);
  // The latest time an attempt of `claim` may start and still finish inside its lease (an HTTP
  // attempt takes at most the timeout; twice that leaves room for settling it).
  int64_t latest_start_ms(const store::Claim& claim) const;
  // False when stopping or when the next send slot is too late for the claim's lease (the job
  // was then released until that slot).
  bool wait_for_rate_limit(const store::Claim& claim, const Endpoint& endpoint) HK_EXCLUDES(mutex_);
  void settle_failure(const store::Claim& claim, const Endpoint* endpoint,
                      const AttemptResult& result, const std::string& detail);
  void count_attempts(int64_t count) HK_EXCLUDES(mutex_);
  // The counter of `target` (its label redacted with `endpoint`'s redactor; null: names only).
  Counter& target_counter(const char* name, const char* help, const Endpoint* endpoint,
                          const std::string& target);

  store::Store& store_;
  MetricsRegistry& metrics_;
  const Clock& clock_;
  const Options options_;
  Random& random_;

  mutable Mutex mutex_;
  CondVar wake_;       // workers waiting for work
  CondVar stop_wake_;  // workers waiting for a send slot (only stop() ends that)
  std::shared_ptr<const Endpoints> endpoints_ HK_GUARDED_BY(mutex_);
  bool started_ HK_GUARDED_BY(mutex_) = false;
  bool stopping_ HK_GUARDED_BY(mutex_) = false;
  std::deque<store::Claim> handed_off_ HK_GUARDED_BY(mutex_);
  int64_t handed_off_bytes_ HK_GUARDED_BY(mutex_) = 0;
  // The store may hold due jobs (set at start and by notify(); cleared by the worker that
  // claims them); it is also polled every idle_poll_ms for retries coming due.
  bool store_has_due_ HK_GUARDED_BY(mutex_) = true;
  std::chrono::steady_clock::time_point next_poll_ HK_GUARDED_BY(mutex_){};  // clock_'s time
  int64_t attempts_ HK_GUARDED_BY(mutex_) = 0;
  std::vector<std::thread> workers_;
  store::GroupCommitter* committer_ = nullptr;  // set by attach() before start()
  std::unique_ptr<RateLimiter> rate_limiter_;
  std::unique_ptr<LogFiles> log_files_;
};

}  // namespace hikyaku::delivery
