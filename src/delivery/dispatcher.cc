#include "delivery/dispatcher.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>

#include "core/json_writer.h"
#include "core/redact.h"
#include "core/thread.h"
#include "core/time.h"
#include "delivery/http_client.h"

namespace hikyaku::delivery {
namespace {

// What of an HTTP error answer goes into the job's error message.
constexpr size_t kErrorExcerptBytes = 512;

// Text recorded or shown about `endpoint` (null: the target is gone) with its secrets masked.
std::string redacted(const Endpoint* endpoint, std::string_view text) {
  if (endpoint != nullptr && endpoint->redactor != nullptr) {
    return endpoint->redactor->redact(text);
  }
  return redact_url(text);
}

// Opens a Log target's file for appending. A file it creates is 0600 whatever the umask (the
// lines hold event bodies); an existing file keeps its mode. Anything but a regular file is
// refused. Returns null with `error` set on failure.
FILE* open_log_file(const std::string& path, std::string& error) {
  // Non-blocking so that a FIFO put in the way fails at once instead of hanging a worker.
  constexpr int kFlags = O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
  for (int attempt = 0; attempt < 3; ++attempt) {
    bool created = true;
    int fd = ::open(path.c_str(), kFlags | O_CREAT | O_EXCL, S_IRUSR | S_IWUSR);
    if (fd < 0 && errno == EEXIST) {
      created = false;
      fd = ::open(path.c_str(), kFlags);
      if (fd < 0 && errno == ENOENT) {
        continue;  // removed between the two opens
      }
    }
    if (fd < 0) {
      error = fmt::format("cannot open {}: {}", path, std::strerror(errno));
      return nullptr;
    }
    struct stat status {};
    if (::fstat(fd, &status) != 0 || !S_ISREG(status.st_mode)) {
      ::close(fd);
      error = fmt::format("cannot write {}: not a regular file", path);
      return nullptr;
    }
    if (created && ::fchmod(fd, S_IRUSR | S_IWUSR) != 0) {
      error = fmt::format("cannot set the mode of {}: {}", path, std::strerror(errno));
      ::close(fd);
      return nullptr;
    }
    (void)::fcntl(fd, F_SETFL, O_APPEND);  // a regular file: blocking writes from here
    FILE* file = ::fdopen(fd, "a");
    if (file == nullptr) {
      error = fmt::format("cannot open {}: {}", path, std::strerror(errno));
      ::close(fd);
    }
    return file;
  }
  error = fmt::format("cannot open {}: it keeps disappearing", path);
  return nullptr;
}

}  // namespace

// Per-destination pacing: each send takes the next slot 1/rate seconds after the previous one.
// Excess deliveries wait (EventBridge delays rather than drops them); they keep aging meanwhile.
class Dispatcher::RateLimiter {
 public:
  explicit RateLimiter(const Clock& clock) : clock_(clock) {}

  // Returns the time (the clock's monotonic time) at which the caller may send: now or later.
  // The slot is booked only when it is no later than `latest`.
  std::chrono::steady_clock::time_point reserve(const std::string& destination, int per_second,
                                                std::chrono::steady_clock::time_point latest) {
    MutexLock lock(mutex_);
    const auto now = clock_.steady_now();
    auto& next = next_slot_[destination];
    const auto slot = std::max(now, next);
    if (slot <= latest) {
      next = slot + std::chrono::microseconds(1'000'000 / std::max(per_second, 1));
    }
    return slot;
  }

 private:
  const Clock& clock_;
  Mutex mutex_;
  std::map<std::string, std::chrono::steady_clock::time_point> next_slot_ HK_GUARDED_BY(mutex_);
};

// Appends lines to log-target files; one FILE per path, kept open.
class Dispatcher::LogFiles {
 public:
  ~LogFiles() {
    for (auto& [path, file] : files_) {
      std::fclose(file);
    }
  }
  // Returns "" on success or the error.
  std::string append(const std::string& path, const std::string& line) {
    MutexLock lock(mutex_);
    FILE*& file = files_[path];
    if (file == nullptr) {
      std::string error;
      file = open_log_file(path, error);
      if (file == nullptr) {
        files_.erase(path);
        return error;
      }
    }
    if (std::fwrite(line.data(), 1, line.size(), file) != line.size() || std::fflush(file) != 0) {
      return fmt::format("cannot write {}: {}", path, std::strerror(errno));
    }
    return "";
  }

 private:
  Mutex mutex_;
  std::map<std::string, FILE*> files_ HK_GUARDED_BY(mutex_);
};

Dispatcher::Dispatcher(store::Store& store, MetricsRegistry& metrics, const Clock& clock,
                       std::shared_ptr<const Endpoints> endpoints, Options options, Random& random)
    : store_(store),
      metrics_(metrics),
      clock_(clock),
      options_(options),
      random_(random),
      endpoints_(std::move(endpoints)),
      rate_limiter_(std::make_unique<RateLimiter>(clock)),
      log_files_(std::make_unique<LogFiles>()) {}

Dispatcher::~Dispatcher() { stop(); }

void Dispatcher::attach(store::GroupCommitter& committer) {
  committer_ = &committer;
  committer.set_consumer(this);
}

void Dispatcher::start() {
  {
    MutexLock lock(mutex_);
    started_ = true;
  }
  for (int i = 0; i < options_.workers; ++i) {
    workers_.emplace_back([this] {
      name_this_thread("hk-deliver");
      lower_this_thread_priority(kDeliveryNice);
      run_worker();
    });
  }
}

void Dispatcher::notify() {
  {
    MutexLock lock(mutex_);
    store_has_due_ = true;
  }
  wake_.notify_all();
}

store::CommitConsumer::Offer Dispatcher::offer() {
  MutexLock lock(mutex_);
  if (stopping_ || !started_) {
    return {};
  }
  return {options_.max_handed_off - static_cast<int>(handed_off_.size()),
          options_.max_handed_off_bytes - handed_off_bytes_, clock_.now_ms() + options_.lease_ms};
}

void Dispatcher::committed(std::vector<store::Claim> leased, int64_t left_pending) {
  const size_t handed = leased.size();
  {
    MutexLock lock(mutex_);
    if (!stopping_) {
      for (store::Claim& claim : leased) {
        handed_off_bytes_ += store::entry_bytes(claim);
        handed_off_.push_back(std::move(claim));
      }
      leased.clear();
    }
    store_has_due_ = store_has_due_ || left_pending > 0;
  }
  // One worker takes up to claim_batch: wake as many as the work needs, not all of them.
  if (left_pending > 0 || handed > static_cast<size_t>(options_.claim_batch)) {
    wake_.notify_all();
  } else {
    wake_.notify_one();
  }
  for (const store::Claim& claim : leased) {
    (void)store_.release(claim);  // stopped meanwhile: due again at once (next run)
  }
}

void Dispatcher::publish(std::shared_ptr<const Endpoints> endpoints) {
  MutexLock lock(mutex_);
  endpoints_ = std::move(endpoints);
}

void Dispatcher::stop() {
  {
    MutexLock lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  stop_wake_.notify_all();
  for (std::thread& worker : workers_) {
    worker.join();
  }
  workers_.clear();
  std::deque<store::Claim> unattempted;
  {
    MutexLock lock(mutex_);
    unattempted.swap(handed_off_);
    handed_off_bytes_ = 0;
  }
  for (const store::Claim& claim : unattempted) {
    (void)store_.release(claim);
  }
}

int64_t Dispatcher::attempts() const {
  MutexLock lock(mutex_);
  return attempts_;
}

Counter& Dispatcher::target_counter(const char* name, const char* help, const Endpoint* endpoint,
                                    const std::string& target) {
  return metrics_.counter(name, help, {{"target", redacted(endpoint, target)}});
}

// One worker's state. What it has attempted but not yet settled: successful deliveries wait in
// `delivered` to be completed in one store transaction, and Log lines wait in `logs` to be written
// with one write per file; a claim moves from `logs` to `delivered` only once its line is written.
// Everything is settled before the next claim, so `endpoints` (the batch's snapshot) outlives the
// pointers into it.
struct Dispatcher::Worker {
  struct TargetMetrics {
    Counter* invocations = nullptr;
    Histogram* latency = nullptr;
  };
  struct LogWrite {
    std::string text;  // the lines, in claim order
    std::vector<store::Claim> claims;
    std::vector<const Endpoint*> endpoints;  // per claim
    std::vector<TargetMetrics*> metrics;     // per claim
  };

  HttpClient http;
  std::shared_ptr<const Endpoints> endpoints;
  std::map<std::string, TargetMetrics, std::less<>> metrics;  // looked up once per target
  std::vector<store::Claim> delivered;
  std::map<std::string, LogWrite, std::less<>> logs;  // by file path
  std::chrono::steady_clock::time_point oldest;       // of the unsettled attempts (clock time)

  bool unsettled() const { return !delivered.empty() || !logs.empty(); }

  // The current time for Log lines, formatted once per millisecond rather than once per line.
  const std::string& time_text(const Clock& clock) {
    const auto now = clock.now();
    const auto ms = std::chrono::time_point_cast<std::chrono::milliseconds>(now);
    if (ms != time_text_ms) {
      time_text_ms = ms;
      time_text_value = format_rfc3339_millis(now);
    }
    return time_text_value;
  }
  std::chrono::sys_time<std::chrono::milliseconds> time_text_ms{};
  std::string time_text_value;

  TargetMetrics& metrics_for(MetricsRegistry& registry, const Endpoint& endpoint,
                             const std::string& target) {
    auto [slot, inserted] = metrics.try_emplace(target);
    if (inserted) {
      const std::string label = redacted(&endpoint, target);
      slot->second.invocations = &registry.counter(
          "hikyaku_invocations_total", "Delivery attempts (Invocations)", {{"target", label}});
      slot->second.latency =
          &registry.histogram("hikyaku_delivery_latency_seconds",
                              "From ingestion to successful delivery", {{"target", label}});
    }
    return slot->second;
  }
};

void Dispatcher::settle(Worker& worker) {
  for (auto& [path, write] : worker.logs) {
    const std::string error = log_files_->append(path, write.text);
    count_attempts(static_cast<int64_t>(write.claims.size()));
    for (size_t i = 0; i < write.claims.size(); ++i) {
      store::Claim& claim = write.claims[i];
      write.metrics[i]->invocations->add();
      if (error.empty()) {
        write.metrics[i]->latency->observe(
            static_cast<double>(clock_.now_ms() - claim.job.ingested_at_ms) / 1000.0);
        worker.delivered.push_back(std::move(claim));
      } else {
        AttemptResult result;
        result.error = error;
        settle_failure(claim, write.endpoints[i], result, error);
      }
    }
  }
  worker.logs.clear();
  if (worker.delivered.empty()) {
    return;
  }
  if (committer_ != nullptr) {
    committer_->complete(std::move(worker.delivered));
  } else if (Result<int64_t> completed = store_.complete_all(worker.delivered);
             !completed.has_value()) {
    spdlog::error("delivery complete failed jobs={} error=\"{}\"", worker.delivered.size(),
                  completed.error().message());
  }
  worker.delivered.clear();
}

std::vector<store::Claim> Dispatcher::next_claims(Worker& worker) {
  std::vector<store::Claim> claims;
  bool poll_store = false;
  {
    MutexLock lock(mutex_);
    // The time left as the clock counts it, waited for in real time.
    wake_.wait_for(lock, next_poll_ - clock_.steady_now(), [this]() HK_REQUIRES(mutex_) {
      return stopping_ || !handed_off_.empty() || store_has_due_;
    });
    if (stopping_) {
      return {};
    }
    const auto now = clock_.steady_now();
    poll_store = store_has_due_ || now >= next_poll_;
    if (poll_store) {
      store_has_due_ = false;
      next_poll_ = now + std::chrono::milliseconds(options_.idle_poll_ms);
    }
    // Handed-off jobs wait in memory while their leases run; run_worker() gives back any whose
    // lease got too short for an attempt.
    while (!handed_off_.empty() && static_cast<int>(claims.size()) < options_.claim_batch) {
      handed_off_bytes_ -= store::entry_bytes(handed_off_.front());
      claims.push_back(std::move(handed_off_.front()));
      handed_off_.pop_front();
    }
    worker.endpoints = endpoints_;
  }
  if (poll_store) {
    Result<std::vector<store::Claim>> claimed =
        store_.claim(clock_.now_ms(), options_.claim_batch, options_.lease_ms);
    if (!claimed.has_value()) {
      spdlog::error("delivery claim failed error=\"{}\"", claimed.error().message());
    } else {
      if (static_cast<int>(claimed->size()) == options_.claim_batch) {
        notify();  // probably more due: another worker claims the next batch
      }
      for (store::Claim& claim : *claimed) {
        claims.push_back(std::move(claim));
      }
    }
  }
  return claims;
}

void Dispatcher::run_worker() {
  Worker worker;
  for (;;) {
    std::vector<store::Claim> claims = next_claims(worker);
    if (claims.empty()) {
      MutexLock lock(mutex_);
      if (stopping_) {
        return;
      }
      continue;
    }
    for (store::Claim& claim : claims) {
      bool stopping = false;
      {
        MutexLock lock(mutex_);
        stopping = stopping_;
      }
      if (stopping) {
        (void)store_.release(claim);  // unattempted: due again at once after restart
        continue;
      }
      // Earlier attempts of the batch may have used up the lease: an attempt that could outlast
      // it would race whoever claims the job next.
      if (latest_start_ms(claim) < clock_.now_ms()) {
        (void)store_.release(claim);
        continue;
      }
      if (!worker.unsettled()) {
        worker.oldest = clock_.steady_now();
      }
      deliver(std::move(claim), worker);
      if (clock_.steady_now() - worker.oldest >
          std::chrono::milliseconds(options_.settle_interval_ms)) {
        settle(worker);
      }
    }
    settle(worker);
  }
}

int64_t Dispatcher::latest_start_ms(const store::Claim& claim) const {
  return claim.lease_expires_at_ms - 2 * options_.http_timeout_ms;
}

bool Dispatcher::wait_for_rate_limit(const store::Claim& claim, const Endpoint& endpoint) {
  const auto now = clock_.steady_now();
  const auto latest = now + std::chrono::milliseconds(latest_start_ms(claim) - clock_.now_ms());
  const auto slot =
      rate_limiter_->reserve(endpoint.destination, endpoint.rate_limit_per_second, latest);
  if (slot <= now) {
    return true;
  }
  if (slot > latest) {
    const auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(slot - now).count();
    (void)store_.release(claim, clock_.now_ms() + wait_ms);
    return false;
  }
  metrics_
      .counter("hikyaku_throttled_rules_total",
               "Deliveries delayed by an API destination's InvocationRateLimitPerSecond",
               {{"destination", redacted(&endpoint, endpoint.destination)}})
      .add();
  MutexLock lock(mutex_);
  if (stop_wake_.wait_for(lock, slot - clock_.steady_now(),
                          [this]() HK_REQUIRES(mutex_) { return stopping_; })) {
    lock.unlock();
    (void)store_.release(claim);  // stopping while waiting for a send slot
    return false;
  }
  return true;
}

void Dispatcher::deliver(store::Claim claim, Worker& worker) {
  const store::Job& job = claim.job;
  auto found = worker.endpoints->find(job.target);
  if (found == worker.endpoints->end()) {
    settle_failure(claim, nullptr, {},
                   fmt::format("target {} is no longer configured", job.target));
    return;
  }
  const Endpoint& endpoint = found->second;
  Worker::TargetMetrics& metrics = worker.metrics_for(metrics_, endpoint, job.target);
  if (endpoint.kind == Endpoint::Kind::kLog) {
    // Written with the rest of the batch (settle()); only then is the job completed.
    Worker::LogWrite& write = worker.logs[endpoint.log_path];
    std::string& text = write.text;
    text += R"({"time":")";
    text += worker.time_text(clock_);
    text += R"(","rule":)";
    append_json_string(text, endpoint.rule);
    text += R"(,"target":)";
    append_json_string(text, endpoint.target_id);
    text += R"(,"body":)";
    append_json_string(text, job.body);
    text += "}\n";
    write.claims.push_back(std::move(claim));
    write.endpoints.push_back(&endpoint);
    write.metrics.push_back(&metrics);
    return;
  }
  if (!wait_for_rate_limit(claim, endpoint)) {
    return;
  }
  Result<HttpRequest> built = build_request(endpoint, job, nullptr);
  if (!built.has_value()) {
    AttemptResult invalid;
    invalid.invalid_request = true;
    settle_failure(claim, &endpoint, invalid, built.error().message());
    return;
  }
  HttpRequest request = std::move(built).value();
  // The attempt ends within its lease, whatever the destination's timeout.
  request.timeout_ms =
      std::max(1L, std::min(request.timeout_ms,
                            static_cast<long>(claim.lease_expires_at_ms - clock_.now_ms())));
  std::string response;
  AttemptResult result = worker.http.send(request, nullptr, &response);
  count_attempts(1);
  metrics.invocations->add();
  if (classify(result) == Outcome::kDelivered) {
    metrics.latency->observe(static_cast<double>(clock_.now_ms() - job.ingested_at_ms) / 1000.0);
    worker.delivered.push_back(std::move(claim));  // completed in settle(), batched
    return;
  }
  // The whole answer is redacted before it is cut: a cut through an echoed secret would leave
  // its head unrecognisable.
  std::string detail = result.http_status != 0 ? redacted(&endpoint, response) : result.error;
  if (detail.size() > kErrorExcerptBytes) {
    detail.resize(kErrorExcerptBytes);
  }
  settle_failure(claim, &endpoint, result, detail);
}

void Dispatcher::count_attempts(int64_t count) {
  MutexLock lock(mutex_);
  attempts_ += count;
}

void Dispatcher::settle_failure(const store::Claim& claim, const Endpoint* endpoint,
                                const AttemptResult& result, const std::string& detail) {
  const store::Job& job = claim.job;
  target_counter("hikyaku_failed_invocations_total", "Failed delivery attempts (FailedInvocations)",
                 endpoint, job.target)
      .add();
  const std::string code = endpoint == nullptr ? "NO_RESOURCE" : error_code(result);
  // Every error text the store records passes the redactor, whatever produced it (an echoing
  // destination, libcurl, a Log file's path).
  const std::string message =
      redacted(endpoint, detail.empty() ? code : fmt::format("{}: {}", code, detail));
  std::string exhausted;
  if (endpoint != nullptr && classify(result) == Outcome::kRetry) {
    const int attempts_done = job.attempts + 1;
    const int64_t next = clock_.now_ms() + options_.backoff.delay_ms(attempts_done, random_);
    exhausted =
        exhausted_condition(endpoint->retry_policy, attempts_done, job.ingested_at_ms, next);
    if (exhausted.empty()) {
      Status status = store_.retry(claim, next, message);
      if (!status.ok()) {
        spdlog::error("delivery retry failed target={} error=\"{}\"", job.target, status.message());
      }
      return;
    }
  }
  Status status = store_.dead_letter(claim, {code, message, exhausted}, clock_.now_ms());
  if (!status.ok()) {
    spdlog::error("delivery dead-letter failed target={} error=\"{}\"", job.target,
                  status.message());
    return;
  }
  target_counter("hikyaku_invocations_sent_to_dlq_total",
                 "Deliveries moved to the dead-letter queue (InvocationsSentToDlq)", endpoint,
                 job.target)
      .add();
}

}  // namespace hikyaku::delivery
