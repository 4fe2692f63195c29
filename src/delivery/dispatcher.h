#pragma once
// The delivery engine: takes due jobs from the store, sends each to its endpoint, settles the
// outcome. docs/api-destinations.md §4-§7 describes what users see; this is how it is built.
//
//   Dispatcher dispatcher(store, metrics, SystemClock::instance(), endpoints,
//   {}); dispatcher.attach(committer);  // new jobs come straight from each
//   commit dispatcher.start(); dispatcher.stop();   // finishes attempts in
//   flight, gives unattempted jobs back
//
// Two threads:
//   - the sender ("hk-deliver") owns every API destination's queue and schedule
//   (Pacer: rate
//     limit, requests in flight, pauses learnt from 429/503 Retry-After and
//     X-RateLimit-* headers) and runs all HTTP exchanges at once on libcurl's
//     multi interface, with keep-alive connections. A job that may not be sent
//     yet waits in its destination's queue, never in a thread: a slow,
//     throttled or failing destination delays no other destination.
//   - the settler ("hk-settle") does everything that touches the store or a
//   file: claims due
//     jobs (retries, jobs left by an earlier run, jobs beyond what commits hand
//     over), records retries and dead letters, gives back jobs, writes Log
//     targets' lines, completes deliveries when no committer is attached.
//   - handler threads ("hk-handler", Options::handler_threads) run the attempts of handler
//     targets (handler.h), which may block; their jobs are queued and paced by the sender like
//     an API destination's, and their outcomes settled the same way.
// New jobs are leased to the dispatcher by the commit that makes them durable and handed over in
// memory. Everything the dispatcher holds in memory (handed over, queued for a destination, in
// flight) is bounded by
// Options::max_held_jobs and max_held_bytes; the rest waits in the store.
//
// Each job is attempted under a store lease. A job whose turn at its destination would come after
// its lease allows is given back to the store, due at that turn, so a long queue costs store rows,
// not memory, and is not attempted twice. Delivery is at-least-once: a crash between an attempt and
// its settling repeats the attempt, so receivers must tolerate duplicates.
// Outcomes follow retry_policy.h: delivered -> complete; retryable -> rescheduled with backoff
// (never before a pause the destination asked for) until the target's RetryPolicy is exhausted;
// permanent or exhausted -> the dead-letter queue with the error attributes. A job whose target
// disappeared in a reload is dead-lettered (NO_RESOURCE).
//
// Every error text recorded in the store, logged, or used as a metrics label passes the endpoint's
// Redactor (endpoint.h). A Log target appends one JSON object per line to its file (created 0600,
// whatever the umask):
//   {"time": "...", "rule": "...", "target": "...", "body": "<the delivered
//   body, as a string>"}
//
// Time (lease expiries, log-line times, pacing, polling) is read from the injected Clock; waits for
// a time are real-time waits of at most
// Options::idle_poll_ms, after which the clock is read again (so a test's
// FakeClock moves the schedule). Retry jitter is drawn from the injected
// Random.
//
// Thread safety: all public methods are thread-safe.

#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/metrics.h"
#include "core/mutex.h"
#include "core/random.h"
#include "delivery/endpoint.h"
#include "delivery/handler.h"
#include "delivery/oauth.h"
#include "delivery/rate_share.h"
#include "delivery/retry_policy.h"
#include "store/group_commit.h"
#include "store/store.h"

namespace hikyaku::delivery {

namespace internal {
class HttpMulti;
}  // namespace internal

class Dispatcher final : public store::CommitConsumer {
 public:
  struct Options {
    int claim_batch = 32;  // jobs per store claim
    // Jobs held in memory at once (handed over by commits, queued for a destination, in flight),
    // counted and in bytes (store::entry_bytes).
    int max_held_jobs = 4096;
    int64_t max_held_bytes = int64_t{64} << 20;
    int max_in_flight_per_destination = 16;
    int max_idle_connections = 256;  // kept open for reuse, across all destinations
    int handler_threads = 2;         // run handler targets' attempts (handler.h)
    int64_t lease_ms = 60'000;       // a job whose turn comes later than lease - 2 x
                                     // timeout goes back
    int64_t idle_poll_ms = 1000;     // look for due retries at least this often
    // The delivery log (store::Store::log_deliveries): every attempt's outcome, the newest this
    // many kept; written by the settler in batches, at most delivery_log_flush_ms apart while
    // attempts are made. 0 = no log.
    int64_t delivery_log_entries = 10'000;
    int64_t delivery_log_flush_ms = 250;
    Backoff backoff;
    // Nodes sharing one store (JetStream) share each destination's rate limit and pauses
    // through it (rate_share.h); null: this node's own. Must outlive the dispatcher.
    RateShare* rate_share = nullptr;
  };

  // `clock` and `random` must outlive the dispatcher.
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
  // Wakes the dispatcher to claim from the store (jobs were appended there), and to read the clock
  // again.
  void notify();

  // store::CommitConsumer: jobs leased to the dispatcher by a commit.
  Offer offer(int64_t jobs, int64_t bytes) override;
  void committed(const Offer& offer, std::vector<store::Claim> leased,
                 int64_t left_pending) override;
  // Replaces the endpoints (config reload). Jobs already queued keep the endpoint they were queued
  // with until they are sent.
  void publish(std::shared_ptr<const Endpoints> endpoints);
  // Stops claiming and sending, waits for the exchanges in flight (each bounded by its timeout),
  // records every outcome, gives back the jobs not yet attempted, and joins the threads.
  void stop();

  // Attempts finished so far (any outcome); for tests.
  int64_t attempts() const { return attempts_.load(); }

 private:
  struct Sender;
  struct Task;
  struct TargetMetricsCache;
  class LogFiles;
  // One attempt of a handler target (handler.h), from the sender to a handler thread and back.
  struct HandlerWork {
    uint64_t tag = 0;  // the sender's in-flight tag
    store::Claim claim;
    std::shared_ptr<const Endpoints> endpoints;  // keeps `endpoint` alive
    const Endpoint* endpoint = nullptr;
    int64_t deadline_ms = 0;
    bool expired = false;  // its deadline passed before a handler thread took it: not attempted
    HandlerOutcome outcome;
    int64_t latency_ms = -1;  // how long deliver() took
  };

  using SteadyTime = std::chrono::steady_clock::time_point;
  using WallTime = std::chrono::system_clock::time_point;

  // The sender's loop, in the order of one turn: route what came in to its destination's queue,
  // start what may start (returns when the next start may be), move data, take in the answers,
  // hand the delivered jobs over.
  void run_sender();
  void route(Sender& sender, std::deque<store::Claim>& incoming,
             const std::shared_ptr<const Endpoints>& endpoints, bool stopping, SteadyTime now,
             int64_t now_ms);
  SteadyTime start_due(Sender& sender, bool stopping, SteadyTime now, int64_t now_ms);
  void take_answers(Sender& sender, SteadyTime now, int64_t now_ms, WallTime wall_now);
  void hand_over_delivered(Sender& sender) HK_EXCLUDES(mutex_);
  // Handler targets (handler.h): start_due() hands their attempts to the handler threads; the
  // sender takes in their outcomes here.
  void take_handler_outcomes(Sender& sender, SteadyTime now, int64_t now_ms, WallTime wall_now)
      HK_EXCLUDES(mutex_);
  void run_handler() HK_EXCLUDES(mutex_);
  void run_settler();
  // Queues outcomes for the settler (and counts the jobs out of what the dispatcher holds).
  void hand_to_settler(std::vector<Task> tasks) HK_EXCLUDES(mutex_);
  void settle(std::vector<Task>& tasks, TargetMetricsCache& metrics);
  void settle_failure(const Task& task);
  // The delivery log: records of attempts made, written to the store by the settler.
  void log_failed_attempt(const Task& task, const char* outcome, const std::string& error)
      HK_EXCLUDES(log_mutex_);
  void log_attempts(std::vector<store::DeliveryRecord>& records) HK_EXCLUDES(log_mutex_);
  void flush_delivery_log(bool now) HK_EXCLUDES(log_mutex_);
  // The job that sends a dead letter on to its target's dead-letter destination.
  std::optional<store::NewJob> dead_letter_job(const Task& task,
                                               const store::DeadLetterReason& reason, int attempts,
                                               int64_t now_ms);
  // Claims due jobs from the store when there is room and reason to.
  void claim_from_store() HK_EXCLUDES(mutex_);
  // How many more jobs the dispatcher may hold (Options::max_held_jobs and max_held_bytes).
  int64_t room_to_claim() const HK_REQUIRES(mutex_);
  Counter& target_counter(const char* name, const char* help, const Endpoint* endpoint,
                          const std::string& target);

  store::Store& store_;
  MetricsRegistry& metrics_;
  const Clock& clock_;
  const Options options_;
  Random& random_;
  store::GroupCommitter* committer_ = nullptr;
  std::unique_ptr<internal::HttpMulti> http_;  // used by the sender; wakeup() from anywhere
  std::unique_ptr<LogFiles> log_files_;        // used by the settler
  TokenCache tokens_;                          // OAuth connections' bearer tokens

  mutable Mutex mutex_;
  CondVar settler_wake_;
  std::shared_ptr<const Endpoints> endpoints_ HK_GUARDED_BY(mutex_);
  bool started_ HK_GUARDED_BY(mutex_) = false;
  bool stopping_ HK_GUARDED_BY(mutex_) = false;
  bool sender_done_ HK_GUARDED_BY(mutex_) = false;
  std::deque<store::Claim> inbox_ HK_GUARDED_BY(mutex_);  // for the sender
  CondVar handler_wake_;
  std::deque<HandlerWork> handler_work_ HK_GUARDED_BY(mutex_);   // for the handler threads
  std::vector<HandlerWork> handler_done_ HK_GUARDED_BY(mutex_);  // for the sender
  bool handlers_exit_ HK_GUARDED_BY(mutex_) = false;
  std::vector<Task> tasks_ HK_GUARDED_BY(mutex_);  // for the settler
  int64_t held_jobs_ HK_GUARDED_BY(mutex_) = 0;
  int64_t held_bytes_ HK_GUARDED_BY(mutex_) = 0;
  // The store may hold due jobs (set at start and by notify(); cleared by a claim that found fewer
  // than it asked for); it is also polled every idle_poll_ms for retries coming due.
  bool store_has_due_ HK_GUARDED_BY(mutex_) = true;

  Mutex log_mutex_;
  std::vector<store::DeliveryRecord> log_records_ HK_GUARDED_BY(log_mutex_);
  SteadyTime last_log_flush_{};  // used by the settler

  std::atomic<int64_t> attempts_{0};
  std::thread sender_;
  std::thread settler_;
  std::vector<std::thread> handler_threads_;
};

}  // namespace hikyaku::delivery
