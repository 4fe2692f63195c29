#include "delivery/dispatcher.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <unordered_map>

#include "core/check.h"
#include "core/json_writer.h"
#include "core/redact.h"
#include "core/thread.h"
#include "core/time.h"
#include "delivery/dead_letter.h"
#include "delivery/internal/http_multi.h"
#include "delivery/internal/pacer.h"
#include "delivery/oauth.h"
#include "delivery/request.h"

namespace hikyaku::delivery {
namespace {

using internal::FinishedExchange;
using internal::Pacer;
using std::chrono::milliseconds;

// What of an HTTP error answer goes into the job's error message.
constexpr size_t kErrorExcerptBytes = 512;

int64_t to_ms(std::chrono::steady_clock::duration duration) {
  return std::chrono::duration_cast<milliseconds>(duration).count();
}

// Where an endpoint delivers, as the delivery log names it.
std::string destination_label(const Endpoint& endpoint) {
  return endpoint.kind == Endpoint::Kind::kLog ? "log:" + endpoint.log_path : endpoint.destination;
}

store::DeliveryRecord delivered_record(const Endpoint& endpoint, const store::Job& job,
                                       int64_t now_ms, int http_status, int64_t latency_ms) {
  store::DeliveryRecord record;
  record.at_ms = now_ms;
  record.target = job.target;
  record.destination = destination_label(endpoint);
  record.event_id = job.event_id;
  record.job_id = job.id;
  record.attempt = job.attempts + 1;
  record.http_status = http_status;
  record.latency_ms = latency_ms;
  record.outcome = "delivered";
  return record;
}

// Opens a Log target's file for appending. A file it creates is 0600 whatever the umask (the lines
// hold event bodies); an existing file keeps its mode.
// Anything but a regular file is refused. Returns null with `error` set on failure.
FILE* open_log_file(const std::string& path, std::string& error) {
  // Non-blocking so that a FIFO put in the way fails at once instead of hanging the settler.
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
    (void)::fcntl(fd, F_SETFL,
                  O_APPEND);  // a regular file: blocking writes from here
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

// Appends lines to log-target files; one FILE per path, kept open. Used by the settler only.
class Dispatcher::LogFiles {
 public:
  LogFiles() = default;
  LogFiles(const LogFiles&) = delete;
  LogFiles& operator=(const LogFiles&) = delete;
  ~LogFiles() {
    for (auto& [path, file] : files_) {
      std::fclose(file);
    }
  }
  // Returns "" on success or the error.
  std::string append(const std::string& path, const std::string& text) {
    FILE*& file = files_[path];
    if (file == nullptr) {
      std::string error;
      file = open_log_file(path, error);
      if (file == nullptr) {
        files_.erase(path);
        return error;
      }
    }
    if (std::fwrite(text.data(), 1, text.size(), file) != text.size() || std::fflush(file) != 0) {
      return fmt::format("cannot write {}: {}", path, std::strerror(errno));
    }
    return "";
  }

 private:
  std::map<std::string, FILE*> files_;
};

// Each target's delivery metrics, looked up once per thread and target rather than per attempt (a
// lookup takes the registry's lock and redacts the label).
struct Dispatcher::TargetMetricsCache {
  struct Metrics {
    Counter* invocations = nullptr;
    Histogram* latency = nullptr;
    Counter* delivered = nullptr;
    Counter* failed_retryable = nullptr;
    Counter* failed_permanent = nullptr;
  };

  Metrics& get(MetricsRegistry& registry, const Endpoint& endpoint, const std::string& target) {
    auto [slot, inserted] = metrics.try_emplace(target);
    if (inserted) {
      const std::string label = redacted(&endpoint, target);
      Metrics& m = slot->second;
      m.invocations = &registry.counter("hikyaku_invocations_total",
                                        "Delivery attempts (Invocations)", {{"target", label}});
      m.latency = &registry.histogram("hikyaku_delivery_latency_seconds",
                                      "From ingestion to successful delivery", {{"target", label}});
      const auto outcome = [&](const char* name) {
        return &registry.counter("hikyaku_invocation_attempts_total",
                                 "Delivery attempts by outcome (InvocationAttempts)",
                                 {{"target", label}, {"outcome", name}});
      };
      m.delivered = outcome("delivered");
      m.failed_retryable = outcome("failed_retryable");
      m.failed_permanent = outcome("failed_permanent");
    }
    return slot->second;
  }

  std::map<std::string, Metrics, std::less<>> metrics;
};

// An outcome for the settler to record.
struct Dispatcher::Task {
  enum class Kind {
    kDelivered,  // complete the job (only without a committer)
    kFailed,     // retry or dead-letter it
    kRelease,    // give it back unattempted, due at `not_before_ms`
    kLog,        // write its Log line, then complete it
  };
  static Task of(Kind kind, store::Claim claim,
                 std::shared_ptr<const Endpoints> endpoints = nullptr,
                 const Endpoint* endpoint = nullptr) {
    Task task;
    task.kind = kind;
    task.claim = std::move(claim);
    task.endpoints = std::move(endpoints);
    task.endpoint = endpoint;
    return task;
  }

  Kind kind = Kind::kFailed;
  store::Claim claim;
  std::shared_ptr<const Endpoints> endpoints;  // keeps `endpoint` alive
  const Endpoint* endpoint = nullptr;          // null: the target is gone
  AttemptResult result;
  std::string detail;            // kFailed: the error, already redacted
  bool final = false;            // kFailed: not retried, whatever the status
  bool retry = false;            // kFailed: retried (within the retry policy), whatever the status
  std::string error_code;        // kFailed: the ERROR_CODE when not the attempt's own
  std::string response_excerpt;  // kFailed: the start of the answer's body, already redacted
  int64_t not_before_ms = 0;     // kFailed: earliest retry; kRelease: when due again
  int64_t attempted_at_ms = 0;
  int64_t latency_ms = -1;  // kFailed: how long the attempt took (-1: not measured)
};

// The sender thread's state.
struct Dispatcher::Sender {
  struct Queued {
    store::Claim claim;
    std::shared_ptr<const Endpoints> endpoints;
    const Endpoint* endpoint = nullptr;
  };
  struct Destination {
    Destination(const Endpoint& endpoint, int max_in_flight, MetricsRegistry& metrics,
                const std::string& label)
        : name(endpoint.destination),
          pacer(endpoint.rate_limit_per_second, max_in_flight),
          queued(metrics.gauge("hikyaku_destination_queued_jobs",
                               "Deliveries waiting for their turn at an API destination",
                               {{"destination", label}})),
          in_flight(metrics.gauge("hikyaku_destination_in_flight_requests",
                                  "Requests to an API destination awaiting their answer",
                                  {{"destination", label}})),
          paused_until(metrics.gauge("hikyaku_destination_paused_until_seconds",
                                     "Unix time until which an API destination "
                                     "asked not to be sent to (0: not paused)",
                                     {{"destination", label}})),
          oldest_age(metrics.gauge("hikyaku_destination_oldest_job_age_seconds",
                                   "Age of the oldest delivery queued for an API destination",
                                   {{"destination", label}})),
          throttled(metrics.counter("hikyaku_throttled_rules_total",
                                    "Deliveries delayed by an API destination's rate "
                                    "limit or a pause it asked for",
                                    {{"destination", label}})) {}
    std::string name;
    Pacer pacer;
    std::deque<Queued> queue;
    Gauge& queued;
    Gauge& in_flight;
    Gauge& paused_until;
    Gauge& oldest_age;
    Counter& throttled;
  };
  struct InFlight {
    Queued job;
    Destination* destination = nullptr;
    std::shared_ptr<const Token> token;  // OAuth: the bearer token the request carried
    SteadyTime started{};
  };
  // A token request in flight for an OAuth connection.
  struct TokenFetch {
    std::shared_ptr<const OAuthSettings> settings;
    uint64_t ticket = 0;
    std::shared_ptr<const Endpoints> endpoints;  // keeps `endpoint` alive
    const Endpoint* endpoint = nullptr;          // one that uses the connection (its redactor)
  };
  std::map<std::string, std::unique_ptr<Destination>, std::less<>> destinations;
  std::unordered_map<uint64_t, InFlight> in_flight;
  std::unordered_map<uint64_t, TokenFetch> token_fetches;
  uint64_t next_tag = 1;
  std::vector<store::Claim> delivered;  // settled through the committer, or the settler
  std::vector<Task> tasks;
  TargetMetricsCache metrics;
  std::vector<FinishedExchange> finished;
  std::vector<HandlerWork> handler_starts;               // start_due(): for the handler threads
  std::vector<store::DeliveryRecord> delivered_records;  // for the delivery log

  // Gives back the queue's tail that cannot be sent within its leases, due at its turn.
  void shed(Destination& destination, SteadyTime now, int64_t now_ms);
  void update_gauges(SteadyTime now, int64_t now_ms);
  // OAuth: the bearer token for `job`, or null when it must wait for one (a token request is
  // started, or `wake_at` moved to when one may be).
  std::shared_ptr<const Token> token_for(const Queued& job, TokenCache& tokens,
                                         internal::HttpMulti& http, SteadyTime now,
                                         SteadyTime& wake_at);
  // Sends `job` (or fails it when its request cannot be built).
  void start_one(Destination& destination, Queued job, std::shared_ptr<const Token> token,
                 internal::HttpMulti& http, SteadyTime now, int64_t now_ms);

  // OAuth: starts the token request of `job`'s connection.
  void start_token_fetch(const Queued& job, uint64_t ticket, internal::HttpMulti& http,
                         TokenCache& tokens, std::chrono::steady_clock::time_point now) {
    const OAuthSettings& settings = *job.endpoint->oauth;
    Result<TokenRequest> built = build_token_request(settings);
    const uint64_t tag = next_tag++;
    token_fetches.emplace(tag,
                          TokenFetch{job.endpoint->oauth, ticket, job.endpoints, job.endpoint});
    if (!built.has_value()) {
      // The config refuses what build_token_request() does; settled as a failed fetch all the same.
      FinishedExchange failed;
      failed.tag = tag;
      failed.result.error = built.error().message();
      finish_token_fetch(token_fetches.at(tag), failed, tokens, now, 0);
      token_fetches.erase(tag);
      return;
    }
    HttpRequest request;
    request.method = built->method;
    request.url = std::move(built->url);
    request.headers = std::move(built->headers);
    if (!built->content_type.empty()) {
      request.headers.emplace_back("Content-Type", built->content_type);
    }
    request.body = std::move(built->body);
    // The token endpoint is another server than the destination: the system's trust store.
    http.start(tag, std::move(request), {milliseconds(job.endpoint->timeout_ms), ""});
  }

  // OAuth: takes in the token endpoint's answer. When it holds no token, the deliveries waiting for
  // one fail (retryably) with the reason.
  void finish_token_fetch(const TokenFetch& fetch, const FinishedExchange& exchange,
                          TokenCache& tokens, std::chrono::steady_clock::time_point now,
                          int64_t now_ms) {
    const int64_t steady_ms = to_ms(now.time_since_epoch());
    const Redactor fallback;
    const Redactor& redactor =
        fetch.endpoint->redactor != nullptr ? *fetch.endpoint->redactor : fallback;
    Result<Token> token =
        token_from_response(*fetch.settings, exchange.result, exchange.body, steady_ms, redactor);
    if (token.has_value()) {
      (void)tokens.complete_refresh(fetch.settings->connection, fetch.ticket, std::move(token),
                                    steady_ms);
      return;
    }
    const std::string error = token.error().message();
    spdlog::warn("oauth token request failed connection={} error={}", fetch.settings->connection,
                 json_quote(error));
    (void)tokens.complete_refresh(fetch.settings->connection, fetch.ticket, std::move(token),
                                  steady_ms);
    for (auto& [name, destination] : destinations) {
      std::deque<Queued> kept;
      for (Queued& job : destination->queue) {
        if (job.endpoint->oauth == nullptr ||
            job.endpoint->oauth->connection != fetch.settings->connection) {
          kept.push_back(std::move(job));
          continue;
        }
        Task task = Task::of(Task::Kind::kFailed, std::move(job.claim), std::move(job.endpoints),
                             job.endpoint);
        task.result.error = error;
        task.error_code = "OAUTH_TOKEN_FAILURE";
        task.detail = error;
        task.attempted_at_ms = now_ms;
        tasks.push_back(std::move(task));
      }
      destination->queue.swap(kept);
    }
  }
};

Dispatcher::Dispatcher(store::Store& store, MetricsRegistry& metrics, const Clock& clock,
                       std::shared_ptr<const Endpoints> endpoints, Options options, Random& random)
    : store_(store),
      metrics_(metrics),
      clock_(clock),
      options_(options),
      random_(random),
      http_(std::make_unique<internal::HttpMulti>(options.max_idle_connections)),
      log_files_(std::make_unique<LogFiles>()),
      endpoints_(std::move(endpoints)) {}

Dispatcher::~Dispatcher() { stop(); }

void Dispatcher::attach(store::GroupCommitter& committer) {
  committer_ = &committer;
  committer.set_consumer(this);
}

void Dispatcher::start() {
  {
    MutexLock lock(mutex_);
    if (started_) {
      return;
    }
    started_ = true;
  }
  sender_ = std::thread([this] {
    name_this_thread("hk-deliver");
    lower_this_thread_priority(kDeliveryNice);
    run_sender();
  });
  settler_ = std::thread([this] {
    name_this_thread("hk-settle");
    lower_this_thread_priority(kDeliveryNice);
    run_settler();
  });
  for (int i = 0; i < std::max(1, options_.handler_threads); ++i) {
    handler_threads_.emplace_back([this] {
      name_this_thread("hk-handler");
      lower_this_thread_priority(kDeliveryNice);
      run_handler();
    });
  }
}

void Dispatcher::notify() {
  {
    MutexLock lock(mutex_);
    store_has_due_ = true;
  }
  settler_wake_.notify_all();
  http_->wakeup();
}

store::CommitConsumer::Offer Dispatcher::offer(int64_t jobs, int64_t bytes) {
  MutexLock lock(mutex_);
  if (stopping_ || !started_) {
    return {};
  }
  // Reserved until committed(): a claim from the store meanwhile sees the room as taken.
  const Offer offer{static_cast<int>(std::clamp<int64_t>(
                        options_.max_held_jobs - held_jobs_, 0,
                        std::min<int64_t>(jobs, std::numeric_limits<int>::max()))),
                    std::clamp<int64_t>(options_.max_held_bytes - held_bytes_, 0, bytes),
                    clock_.now_ms() + options_.lease_ms};
  held_jobs_ += offer.jobs;
  held_bytes_ += offer.bytes;
  return offer;
}

void Dispatcher::committed(const Offer& offer, std::vector<store::Claim> leased,
                           int64_t left_pending) {
  bool taken = false;
  {
    MutexLock lock(mutex_);
    held_jobs_ -= offer.jobs;
    held_bytes_ -= offer.bytes;
    if (!stopping_) {
      for (store::Claim& claim : leased) {
        held_jobs_ += 1;
        held_bytes_ += store::entry_bytes(claim);
        inbox_.push_back(std::move(claim));
      }
      taken = !leased.empty();
      leased.clear();
    }
    store_has_due_ = store_has_due_ || left_pending > 0;
  }
  if (taken) {
    http_->wakeup();
  }
  if (left_pending > 0) {
    settler_wake_.notify_all();
  }
  for (const store::Claim& claim : leased) {
    (void)store_.release(claim);  // stopped meanwhile: due again at once (next run)
  }
}

void Dispatcher::publish(std::shared_ptr<const Endpoints> endpoints) {
  // A reload may have changed a connection's credentials: its next delivery fetches a new token.
  for (const auto& [key, endpoint] : *endpoints) {
    if (endpoint.oauth != nullptr) {
      tokens_.forget(endpoint.oauth->connection);
    }
  }
  {
    MutexLock lock(mutex_);
    endpoints_ = std::move(endpoints);
  }
  http_->wakeup();
}

void Dispatcher::stop() {
  {
    MutexLock lock(mutex_);
    if (stopping_) {
      return;
    }
    stopping_ = true;
  }
  settler_wake_.notify_all();
  http_->wakeup();
  if (sender_.joinable()) {
    sender_.join();
  }
  {
    MutexLock lock(mutex_);
    sender_done_ = true;
    handlers_exit_ = true;  // the sender left with no attempt in flight: no handler work is left
  }
  handler_wake_.notify_all();
  for (std::thread& thread : handler_threads_) {
    thread.join();
  }
  handler_threads_.clear();
  settler_wake_.notify_all();
  if (settler_.joinable()) {
    settler_.join();
  }
  // Never started, or handed over after the sender left: back to the store.
  std::deque<store::Claim> unattempted;
  {
    MutexLock lock(mutex_);
    unattempted.swap(inbox_);
    held_jobs_ = 0;
    held_bytes_ = 0;
  }
  for (const store::Claim& claim : unattempted) {
    (void)store_.release(claim);
  }
}

Counter& Dispatcher::target_counter(const char* name, const char* help, const Endpoint* endpoint,
                                    const std::string& target) {
  return metrics_.counter(name, help, {{"target", redacted(endpoint, target)}});
}

void Dispatcher::hand_to_settler(std::vector<Task> tasks) {
  if (tasks.empty()) {
    return;
  }
  {
    MutexLock lock(mutex_);
    for (Task& task : tasks) {
      held_jobs_ -= 1;
      held_bytes_ -= store::entry_bytes(task.claim);
      tasks_.push_back(std::move(task));
    }
  }
  settler_wake_.notify_all();
}

// ---------------------------------------------------------------------------------------------
// The sender.

namespace {

// A pause an answer asked for, told to the other nodes when they share the rate limits.
void share_pause(RateShare* share, const std::string& destination, milliseconds asked_wait,
                 int64_t now_ms) {
  if (share != nullptr && asked_wait > milliseconds(0)) {
    share->pause(destination, now_ms + asked_wait.count());
  }
}

// The latest a job may start and still end within its lease, whatever its destination's timeout.
int64_t latest_start_ms(const store::Claim& claim, const Endpoint& endpoint) {
  return claim.lease_expires_at_ms - 2 * endpoint.timeout_ms;
}

}  // namespace

void Dispatcher::Sender::shed(Destination& destination, SteadyTime now, int64_t now_ms) {
  const std::optional<SteadyTime> next = destination.pacer.next_start(now);
  const auto first = std::max(next.value_or(now), destination.pacer.paused_until());
  const auto interval = destination.pacer.interval();
  while (!destination.queue.empty()) {
    Queued& last = destination.queue.back();
    const auto position = static_cast<int64_t>(destination.queue.size() - 1);
    const int64_t turn_ms = now_ms + to_ms(first - now) + to_ms(interval * position);
    if (turn_ms <= latest_start_ms(last.claim, *last.endpoint)) {
      break;
    }
    Task task = Task::of(Task::Kind::kRelease, std::move(last.claim));
    task.not_before_ms = turn_ms;
    tasks.push_back(std::move(task));
    destination.queue.pop_back();
  }
}

void Dispatcher::Sender::update_gauges(SteadyTime now, int64_t now_ms) {
  for (auto& [name, destination] : destinations) {
    destination->queued.set(static_cast<int64_t>(destination->queue.size()));
    destination->in_flight.set(destination->pacer.in_flight());
    const auto paused = destination->pacer.paused_until();
    destination->paused_until.set(paused > now ? (now_ms + to_ms(paused - now)) / 1000 : 0);
    destination->oldest_age.set(
        destination->queue.empty()
            ? 0
            : (now_ms - destination->queue.front().claim.job.ingested_at_ms) / 1000);
  }
}

void Dispatcher::run_sender() {
  Sender sender;
  for (;;) {
    std::deque<store::Claim> incoming;
    std::shared_ptr<const Endpoints> endpoints;
    bool stopping = false;
    {
      MutexLock lock(mutex_);
      incoming.swap(inbox_);
      endpoints = endpoints_;
      stopping = stopping_;
    }
    SteadyTime now = clock_.steady_now();
    int64_t now_ms = clock_.now_ms();
    route(sender, incoming, endpoints, stopping, now, now_ms);
    const SteadyTime wake_at = start_due(sender, stopping, now, now_ms);
    const bool finished = stopping && sender.in_flight.empty();

    // Move data until something finishes, something arrives, or the next start is due.
    const auto wait = std::clamp(std::chrono::duration_cast<milliseconds>(wake_at - now),
                                 milliseconds(0), milliseconds(options_.idle_poll_ms));
    sender.finished.clear();
    if (!finished) {
      http_->perform(sender.tasks.empty() ? wait : milliseconds(0), sender.finished);
    }
    now = clock_.steady_now();
    now_ms = clock_.now_ms();
    take_answers(sender, now, now_ms, clock_.now());
    take_handler_outcomes(sender, now, now_ms, clock_.now());
    hand_over_delivered(sender);
    hand_to_settler(std::move(sender.tasks));
    sender.tasks.clear();
    if (finished) {
      return;
    }
    sender.update_gauges(now, now_ms);
  }
}

void Dispatcher::route(Sender& sender, std::deque<store::Claim>& incoming,
                       const std::shared_ptr<const Endpoints>& endpoints, bool stopping,
                       SteadyTime now, int64_t now_ms) {
  for (store::Claim& claim : incoming) {
    const auto found = endpoints->find(claim.job.target);
    if (stopping) {
      sender.tasks.push_back(Task::of(Task::Kind::kRelease, std::move(claim)));
    } else if (found == endpoints->end()) {
      Task task = Task::of(Task::Kind::kFailed, std::move(claim));
      task.detail = fmt::format("target {} is no longer configured", task.claim.job.target);
      task.final = true;
      task.attempted_at_ms = now_ms;
      sender.tasks.push_back(std::move(task));
    } else if (found->second.kind == Endpoint::Kind::kLog) {
      sender.tasks.push_back(
          Task::of(Task::Kind::kLog, std::move(claim), endpoints, &found->second));
    } else {
      const Endpoint& endpoint = found->second;
      const int max_in_flight = endpoint.max_in_flight > 0 ? endpoint.max_in_flight
                                                           : options_.max_in_flight_per_destination;
      auto [slot, inserted] = sender.destinations.try_emplace(endpoint.destination);
      if (inserted) {
        slot->second = std::make_unique<Sender::Destination>(
            endpoint, max_in_flight, metrics_, redacted(&endpoint, endpoint.destination));
      } else {
        slot->second->pacer.set_limits(endpoint.rate_limit_per_second, max_in_flight);
      }
      Sender::Destination& destination = *slot->second;
      const std::optional<SteadyTime> next = destination.pacer.next_start(now);
      if (!destination.queue.empty() || !next || *next > now) {
        destination.throttled.add();  // it waits for its turn
      }
      destination.queue.push_back({std::move(claim), endpoints, &endpoint});
      sender.shed(destination, now, now_ms);
    }
  }
}

Dispatcher::SteadyTime Dispatcher::start_due(Sender& sender, bool stopping, SteadyTime now,
                                             int64_t now_ms) {
  SteadyTime wake_at = now + milliseconds(options_.idle_poll_ms);
  for (auto& [name, destination] : sender.destinations) {
    auto& queue = destination->queue;
    if (stopping) {
      for (Sender::Queued& queued : queue) {
        sender.tasks.push_back(Task::of(Task::Kind::kRelease, std::move(queued.claim)));
      }
      queue.clear();
      continue;
    }
    while (!queue.empty()) {
      const std::optional<SteadyTime> next = destination->pacer.next_start(now);
      if (!next) {
        break;  // an answer frees a slot
      }
      if (*next > now) {
        wake_at = std::min(wake_at, *next);
        break;
      }
      Sender::Queued job = std::move(queue.front());
      queue.pop_front();
      if (latest_start_ms(job.claim, *job.endpoint) < now_ms) {
        // Its lease ran short while it waited: whoever claims it next attempts it.
        sender.tasks.push_back(Task::of(Task::Kind::kRelease, std::move(job.claim)));
        continue;
      }
      if (int64_t retry_at_ms = 0;
          options_.rate_share != nullptr &&
          !options_.rate_share->try_take(name, job.endpoint->rate_limit_per_second, now_ms,
                                         retry_at_ms)) {
        queue.push_front(std::move(job));  // the cluster's second is spent, or it is paused
        wake_at = std::min(wake_at, now + milliseconds(std::max<int64_t>(1, retry_at_ms - now_ms)));
        break;
      }
      if (job.endpoint->kind == Endpoint::Kind::kHandler) {
        const bool started = destination->pacer.try_start(now);
        HK_CHECK(started);
        const uint64_t tag = sender.next_tag++;
        const int64_t deadline_ms = job.claim.lease_expires_at_ms - job.endpoint->timeout_ms;
        sender.handler_starts.push_back(
            {tag, std::move(job.claim), job.endpoints, job.endpoint, deadline_ms, false, {}});
        sender.in_flight.emplace(
            tag, Sender::InFlight{
                     {{}, std::move(job.endpoints), job.endpoint}, destination.get(), nullptr});
        continue;
      }
      std::shared_ptr<const Token> token;
      if (job.endpoint->oauth != nullptr) {
        token = sender.token_for(job, tokens_, *http_, now, wake_at);
        if (token == nullptr) {
          queue.push_front(std::move(job));  // its turn comes with the token
          break;
        }
      }
      sender.start_one(*destination, std::move(job), std::move(token), *http_, now, now_ms);
    }
  }
  if (!sender.handler_starts.empty()) {
    {
      MutexLock lock(mutex_);
      for (HandlerWork& work : sender.handler_starts) {
        handler_work_.push_back(std::move(work));
      }
    }
    sender.handler_starts.clear();
    handler_wake_.notify_all();
  }
  return wake_at;
}

std::shared_ptr<const Token> Dispatcher::Sender::token_for(const Queued& job, TokenCache& tokens,
                                                           internal::HttpMulti& http,
                                                           SteadyTime now, SteadyTime& wake_at) {
  const OAuthSettings& oauth = *job.endpoint->oauth;
  const int64_t steady_ms = to_ms(now.time_since_epoch());
  std::shared_ptr<const Token> token = tokens.current(oauth.connection, steady_ms);
  if (token != nullptr) {
    return token;
  }
  TokenCache::Decision decision = tokens.begin_refresh(oauth.connection, steady_ms);
  if (decision.action == TokenCache::Decision::Action::kFetch) {
    start_token_fetch(job, decision.ticket, http, tokens, now);
  }
  if (decision.action == TokenCache::Decision::Action::kFail) {
    // No token request may start yet (the last one failed, or one just ran): the job waits for
    // the next one. (The jobs that waited for a failed one have failed with its reason:
    // finish_token_fetch.)
    wake_at = std::min(wake_at, now + milliseconds(decision.retry_at_ms - steady_ms));
  }
  return decision.token;  // kUse, or kFetch while the old token is still valid; else null
}

void Dispatcher::Sender::start_one(Destination& destination, Queued job,
                                   std::shared_ptr<const Token> token, internal::HttpMulti& http,
                                   SteadyTime now, int64_t now_ms) {
  Result<HttpRequest> request =
      build_request(*job.endpoint, job.claim.job, token ? &token->access_token : nullptr);
  if (!request.has_value()) {
    Task task =
        Task::of(Task::Kind::kFailed, std::move(job.claim), std::move(job.endpoints), job.endpoint);
    task.result.invalid_request = true;
    task.detail = request.error().message();
    task.attempted_at_ms = now_ms;
    tasks.push_back(std::move(task));
    return;
  }
  const bool started = destination.pacer.try_start(now);
  HK_CHECK(started);
  // The attempt ends within its lease, whatever the destination's timeout.
  const int64_t timeout_ms =
      std::clamp<int64_t>(job.claim.lease_expires_at_ms - now_ms, 1, request->timeout_ms);
  const uint64_t tag = next_tag++;
  http.start(tag, std::move(request).value(), {milliseconds(timeout_ms), job.endpoint->ca_file});
  in_flight.emplace(tag, InFlight{std::move(job), &destination, std::move(token), now});
}

void Dispatcher::take_answers(Sender& sender, SteadyTime now, int64_t now_ms, WallTime wall_now) {
  for (FinishedExchange& exchange : sender.finished) {
    if (auto fetch = sender.token_fetches.find(exchange.tag); fetch != sender.token_fetches.end()) {
      sender.finish_token_fetch(fetch->second, exchange, tokens_, now, now_ms);
      sender.token_fetches.erase(fetch);
      continue;
    }
    auto found = sender.in_flight.find(exchange.tag);
    HK_CHECK(found != sender.in_flight.end());
    Sender::InFlight flight = std::move(found->second);
    sender.in_flight.erase(found);
    Sender::Destination& destination = *flight.destination;
    const milliseconds asked_wait = destination.pacer.finish(exchange.hints, now, wall_now);
    share_pause(options_.rate_share, destination.name, asked_wait, now_ms);
    attempts_.fetch_add(1);
    const Endpoint& endpoint = *flight.job.endpoint;
    const store::Job& job = flight.job.claim.job;
    TargetMetricsCache::Metrics& metrics = sender.metrics.get(metrics_, endpoint, job.target);
    metrics.invocations->add();
    const Outcome outcome = classify(exchange.result);
    const int64_t latency_ms = to_ms(now - flight.started);
    if (outcome == Outcome::kDelivered) {
      metrics.delivered->add();
      metrics.latency->observe(static_cast<double>(now_ms - job.ingested_at_ms) / 1000.0);
      sender.delivered_records.push_back(
          delivered_record(endpoint, job, now_ms, exchange.result.http_status, latency_ms));
      sender.delivered.push_back(std::move(flight.job.claim));
      continue;
    }
    // OAuth: a 401 or 407 refuses the token. It is dropped (once, whatever the number of requests
    // that carried it) and the delivery retried with the next one, unless the attempt before this
    // one was refused too.
    const int status = exchange.result.http_status;
    const bool refused_token = flight.token != nullptr && (status == 401 || status == 407) &&
                               !job.last_error.starts_with("HTTP_401") &&
                               !job.last_error.starts_with("HTTP_407");
    if (flight.token != nullptr && (status == 401 || status == 407)) {
      tokens_.invalidate(endpoint.oauth->connection, flight.token->serial);
    }
    (outcome == Outcome::kRetry || refused_token ? metrics.failed_retryable
                                                 : metrics.failed_permanent)
        ->add();
    // The whole answer is redacted before it is cut: a cut through an echoed secret would leave
    // its head unrecognisable.
    Task task = Task::of(Task::Kind::kFailed, std::move(flight.job.claim),
                         std::move(flight.job.endpoints), &endpoint);
    task.result = exchange.result;
    task.retry = refused_token;
    task.detail = exchange.result.http_status != 0 ? redacted(&endpoint, exchange.body)
                                                   : exchange.result.error;
    if (flight.token != nullptr && flight.token->redactor != nullptr) {
      task.detail = flight.token->redactor->redact(task.detail);  // an echoed token
    }
    if (task.detail.size() > kErrorExcerptBytes) {
      task.detail.resize(kErrorExcerptBytes);
    }
    if (exchange.result.http_status != 0) {
      task.response_excerpt = task.detail;
    }
    const std::optional<milliseconds> retry_after =
        internal::parse_retry_after(exchange.hints.retry_after, wall_now);
    if (retry_after && *retry_after < milliseconds(0) &&
        (exchange.result.http_status == 429 || exchange.result.http_status == 503)) {
      task.final = true;  // EventBridge: a negative Retry-After stops retrying this event
      task.detail = "Retry-After is negative: not retried. " + task.detail;
    }
    task.attempted_at_ms = now_ms;
    task.latency_ms = latency_ms;
    task.not_before_ms = now_ms + std::max<int64_t>(asked_wait.count(),
                                                    to_ms(destination.pacer.paused_until() - now));
    sender.tasks.push_back(std::move(task));
    if (asked_wait > milliseconds(0)) {
      sender.shed(destination, now, now_ms);
    }
  }
}

void Dispatcher::take_handler_outcomes(Sender& sender, SteadyTime now, int64_t now_ms,
                                       WallTime wall_now) {
  std::vector<HandlerWork> done;
  {
    MutexLock lock(mutex_);
    done.swap(handler_done_);
  }
  for (HandlerWork& work : done) {
    auto found = sender.in_flight.find(work.tag);
    HK_CHECK(found != sender.in_flight.end());
    Sender::Destination& destination = *found->second.destination;
    sender.in_flight.erase(found);
    const HandlerOutcome& outcome = work.outcome;
    const milliseconds asked_wait = destination.pacer.finish(outcome.hints, now, wall_now);
    share_pause(options_.rate_share, destination.name, asked_wait, now_ms);
    if (work.expired) {
      sender.tasks.push_back(Task::of(Task::Kind::kRelease, std::move(work.claim)));
      continue;
    }
    attempts_.fetch_add(1);
    const Endpoint& endpoint = *work.endpoint;
    const store::Job& job = work.claim.job;
    TargetMetricsCache::Metrics& metrics = sender.metrics.get(metrics_, endpoint, job.target);
    metrics.invocations->add();
    if (outcome.outcome == Outcome::kDelivered) {
      metrics.delivered->add();
      metrics.latency->observe(static_cast<double>(now_ms - job.ingested_at_ms) / 1000.0);
      sender.delivered_records.push_back(
          delivered_record(endpoint, job, now_ms, outcome.result.http_status, work.latency_ms));
      sender.delivered.push_back(std::move(work.claim));
      continue;
    }
    (outcome.outcome == Outcome::kRetry ? metrics.failed_retryable : metrics.failed_permanent)
        ->add();
    Task task =
        Task::of(Task::Kind::kFailed, std::move(work.claim), std::move(work.endpoints), &endpoint);
    task.result = outcome.result;
    task.retry = outcome.outcome == Outcome::kRetry;
    task.final = outcome.outcome == Outcome::kPermanent;
    task.error_code = outcome.error_code;
    task.detail = redacted(&endpoint, outcome.detail);
    task.response_excerpt = redacted(&endpoint, outcome.response_excerpt);
    if (task.response_excerpt.size() > kErrorExcerptBytes) {
      task.response_excerpt.resize(kErrorExcerptBytes);
    }
    task.attempted_at_ms = now_ms;
    task.latency_ms = work.latency_ms;
    task.not_before_ms =
        std::max(outcome.not_before_ms,
                 now_ms + std::max<int64_t>(asked_wait.count(),
                                            to_ms(destination.pacer.paused_until() - now)));
    sender.tasks.push_back(std::move(task));
    if (asked_wait > milliseconds(0)) {
      sender.shed(destination, now, now_ms);
    }
  }
}

void Dispatcher::run_handler() {
  for (;;) {
    HandlerWork work;
    {
      MutexLock lock(mutex_);
      handler_wake_.wait(
          lock, [&]() HK_REQUIRES(mutex_) { return !handler_work_.empty() || handlers_exit_; });
      if (handler_work_.empty()) {
        return;
      }
      work = std::move(handler_work_.front());
      handler_work_.pop_front();
    }
    // Work that waited past its deadline (behind other destinations' slow attempts) goes back
    // unattempted: its lease may run out while it runs.
    work.expired = clock_.now_ms() >= work.deadline_ms;
    if (!work.expired) {
      const SteadyTime started = clock_.steady_now();
      work.outcome = work.endpoint->handler->deliver(work.claim, work.deadline_ms);
      work.latency_ms = to_ms(clock_.steady_now() - started);
    }
    {
      MutexLock lock(mutex_);
      handler_done_.push_back(std::move(work));
    }
    http_->wakeup();
  }
}

void Dispatcher::hand_over_delivered(Sender& sender) {
  if (!sender.delivered_records.empty()) {
    log_attempts(sender.delivered_records);
  }
  if (sender.delivered.empty()) {
    return;
  }
  if (committer_ == nullptr) {
    for (store::Claim& claim : sender.delivered) {
      sender.tasks.push_back(Task::of(Task::Kind::kDelivered, std::move(claim)));
    }
    sender.delivered.clear();
    return;
  }
  const auto count = static_cast<int64_t>(sender.delivered.size());
  int64_t bytes = 0;
  for (const store::Claim& claim : sender.delivered) {
    bytes += store::entry_bytes(claim);
  }
  committer_->complete(std::move(sender.delivered));
  sender.delivered.clear();
  bool claim_more = false;
  {
    MutexLock lock(mutex_);
    held_jobs_ -= count;
    held_bytes_ -= bytes;
    claim_more = store_has_due_;
  }
  if (claim_more) {
    settler_wake_.notify_all();  // room for what waits in the store
  }
}

// ---------------------------------------------------------------------------------------------
// The settler.

void Dispatcher::run_settler() {
  std::vector<Task> tasks;
  TargetMetricsCache metrics;
  auto next_poll = clock_.steady_now();
  for (;;) {
    bool done = false;
    {
      MutexLock lock(mutex_);
      settler_wake_.wait_for(lock, milliseconds(options_.idle_poll_ms), [&]() HK_REQUIRES(mutex_) {
        return !tasks_.empty() || sender_done_ ||
               (store_has_due_ && !stopping_ && room_to_claim() > 0);
      });
      tasks.swap(tasks_);
      done = sender_done_ && tasks.empty();
    }
    settle(tasks, metrics);
    tasks.clear();
    flush_delivery_log(done);
    if (done) {
      return;
    }
    const auto now = clock_.steady_now();
    bool poll = false;
    {
      MutexLock lock(mutex_);
      poll = !stopping_ && (store_has_due_ || now >= next_poll);
    }
    if (poll) {
      next_poll = now + milliseconds(options_.idle_poll_ms);
      claim_from_store();
    }
  }
}

int64_t Dispatcher::room_to_claim() const {
  int64_t room = options_.max_held_jobs - held_jobs_;
  if (held_jobs_ > 0) {
    // The bytes of jobs not yet read are unknown: they count at the average of those held.
    room = std::min(room, (options_.max_held_bytes - held_bytes_) / (held_bytes_ / held_jobs_ + 1));
  }
  return room;
}

void Dispatcher::claim_from_store() {
  int limit = 0;
  {
    MutexLock lock(mutex_);
    const int64_t room = room_to_claim();
    if (room <= 0) {
      return;  // the sender has enough; the settler is woken when it has room again
    }
    limit = static_cast<int>(std::min<int64_t>(options_.claim_batch, room));
    // Cleared before the claim, so that jobs appended meanwhile set it again.
    store_has_due_ = false;
  }
  Result<std::vector<store::Claim>> claimed =
      store_.claim(clock_.now_ms(), limit, options_.lease_ms);
  if (!claimed.has_value()) {
    spdlog::error("delivery claim failed error=\"{}\"", claimed.error().message());
    return;
  }
  {
    MutexLock lock(mutex_);
    if (static_cast<int>(claimed->size()) == limit) {
      store_has_due_ = true;  // probably more due
    }
    for (store::Claim& claim : *claimed) {
      held_jobs_ += 1;
      held_bytes_ += store::entry_bytes(claim);
      inbox_.push_back(std::move(claim));
    }
  }
  if (!claimed->empty()) {
    http_->wakeup();
  }
}

void Dispatcher::settle(std::vector<Task>& tasks, TargetMetricsCache& metrics) {
  if (tasks.empty()) {
    return;
  }
  // Log lines: one write per file, then each job completes or fails with the write.
  struct LogWrite {
    std::string text;
    std::vector<Task*> tasks;
  };
  std::map<std::string, LogWrite, std::less<>> writes;
  std::vector<store::Claim> delivered;
  const std::string time_text = format_rfc3339_millis(clock_.now());
  for (Task& task : tasks) {
    switch (task.kind) {
      case Task::Kind::kDelivered:
        delivered.push_back(std::move(task.claim));
        break;
      case Task::Kind::kRelease:
        (void)store_.release(task.claim, task.not_before_ms);
        if (task.not_before_ms == 0) {
          MutexLock lock(mutex_);
          store_has_due_ = true;
        }
        break;
      case Task::Kind::kFailed:
        settle_failure(task);
        break;
      case Task::Kind::kLog: {
        LogWrite& write = writes[task.endpoint->log_path];
        std::string& text = write.text;
        text += R"({"time":")";
        text += time_text;
        text += R"(","rule":)";
        append_json_string(text, task.endpoint->rule);
        text += R"(,"target":)";
        append_json_string(text, task.endpoint->target_id);
        text += R"(,"body":)";
        append_json_string(text, task.claim.job.body);
        text += "}\n";
        write.tasks.push_back(&task);
        break;
      }
    }
  }
  const int64_t now_ms = clock_.now_ms();
  std::vector<store::DeliveryRecord> records;
  for (auto& [path, write] : writes) {
    const std::string error = log_files_->append(path, write.text);
    attempts_.fetch_add(static_cast<int64_t>(write.tasks.size()));
    for (Task* task : write.tasks) {
      TargetMetricsCache::Metrics& target =
          metrics.get(metrics_, *task->endpoint, task->claim.job.target);
      target.invocations->add();
      if (error.empty()) {
        target.delivered->add();
        target.latency->observe(static_cast<double>(now_ms - task->claim.job.ingested_at_ms) /
                                1000.0);
        records.push_back(delivered_record(*task->endpoint, task->claim.job, now_ms, 0, -1));
        delivered.push_back(std::move(task->claim));
      } else {
        target.failed_retryable->add();
        task->result.error = error;
        task->detail = error;
        task->attempted_at_ms = now_ms;
        settle_failure(*task);
      }
    }
  }
  log_attempts(records);
  if (delivered.empty()) {
    return;
  }
  if (committer_ != nullptr) {
    committer_->complete(std::move(delivered));
  } else if (Result<int64_t> completed = store_.complete_all(delivered); !completed.has_value()) {
    spdlog::error("delivery complete failed jobs={} error=\"{}\"", delivered.size(),
                  completed.error().message());
  }
}

std::optional<store::NewJob> Dispatcher::dead_letter_job(const Task& task,
                                                         const store::DeadLetterReason& reason,
                                                         int attempts, int64_t now_ms) {
  const store::Job& job = task.claim.job;
  Result<std::optional<std::string>> event = store_.job_event(task.claim);
  if (!event.has_value()) {
    // The letter still goes, without the event, rather than not at all.
    spdlog::warn("delivery dead letter sent without its event target={} error=\"{}\"",
                 redacted(task.endpoint, job.target), event.error().message());
  }
  const std::string document =
      dead_letter_document({.endpoint = task.endpoint,
                            .job = &job,
                            .reason = &reason,
                            .attempts = attempts,
                            .event = event.has_value() ? std::move(event).value() : std::nullopt,
                            .dead_lettered_at_ms = now_ms});
  return store::NewJob{task.endpoint->dead_letter_target, job.event_id, document, "", now_ms};
}

void Dispatcher::log_failed_attempt(const Task& task, const char* outcome,
                                    const std::string& error) {
  if (options_.delivery_log_entries <= 0) {
    return;
  }
  const store::Job& job = task.claim.job;
  store::DeliveryRecord record;
  record.at_ms = task.attempted_at_ms;
  record.target = job.target;
  record.destination = task.endpoint != nullptr ? destination_label(*task.endpoint) : "";
  record.event_id = job.event_id;
  record.job_id = job.id;
  record.attempt = job.attempts + 1;
  record.http_status = task.result.http_status;
  record.latency_ms = task.latency_ms;
  record.outcome = outcome;
  record.error = error;
  MutexLock lock(log_mutex_);
  log_records_.push_back(std::move(record));
}

void Dispatcher::log_attempts(std::vector<store::DeliveryRecord>& records) {
  if (records.empty() || options_.delivery_log_entries <= 0) {
    records.clear();
    return;
  }
  MutexLock lock(log_mutex_);
  // Bounded while the store cannot keep up (or refuses): the oldest records go first.
  const size_t bound =
      static_cast<size_t>(std::min<int64_t>(options_.delivery_log_entries, 100'000));
  if (log_records_.size() + records.size() > bound) {
    const size_t drop = std::min(log_records_.size(), log_records_.size() + records.size() - bound);
    log_records_.erase(log_records_.begin(), log_records_.begin() + static_cast<ptrdiff_t>(drop));
  }
  std::move(records.begin(), records.end(), std::back_inserter(log_records_));
  records.clear();
}

void Dispatcher::flush_delivery_log(bool now) {
  const SteadyTime steady_now = clock_.steady_now();
  if (!now && steady_now - last_log_flush_ < milliseconds(options_.delivery_log_flush_ms)) {
    return;
  }
  std::vector<store::DeliveryRecord> records;
  {
    MutexLock lock(log_mutex_);
    records.swap(log_records_);
  }
  last_log_flush_ = steady_now;
  if (records.empty()) {
    return;
  }
  if (Status logged = store_.log_deliveries(records, options_.delivery_log_entries); !logged.ok()) {
    spdlog::warn("delivery log not written records={} error=\"{}\"", records.size(),
                 logged.message());
  }
}

void Dispatcher::settle_failure(const Task& task) {
  const store::Job& job = task.claim.job;
  const Endpoint* endpoint = task.endpoint;
  target_counter("hikyaku_failed_invocations_total", "Failed delivery attempts (FailedInvocations)",
                 endpoint, job.target)
      .add();
  const std::string code = endpoint == nullptr        ? "NO_RESOURCE"
                           : !task.error_code.empty() ? task.error_code
                                                      : error_code(task.result);
  // Every error text the store records passes the redactor, whatever produced it (an echoing
  // destination, libcurl, a Log file's path).
  const std::string message =
      redacted(endpoint, task.detail.empty() ? code : fmt::format("{}: {}", code, task.detail));
  const int attempt = job.attempts + 1;
  const std::string where =
      endpoint == nullptr
          ? fmt::format("target={}", job.target)
          : fmt::format("rule={} target={} {}", endpoint->rule, endpoint->target_id,
                        endpoint->kind == Endpoint::Kind::kLog
                            ? "log=" + endpoint->log_path
                            : fmt::format("destination={} url={}", endpoint->destination,
                                          redacted(endpoint, endpoint->url)));
  std::string exhausted;
  if (endpoint != nullptr && !task.final &&
      (task.retry || classify(task.result) == Outcome::kRetry)) {
    const int64_t next = std::max(
        task.attempted_at_ms + options_.backoff.delay_ms(attempt, random_), task.not_before_ms);
    exhausted = exhausted_condition(endpoint->retry_policy, attempt, job.ingested_at_ms, next);
    if (exhausted.empty()) {
      Status status = store_.retry(task.claim, next, message);
      if (!status.ok()) {
        spdlog::error("delivery retry failed {} error=\"{}\"", redacted(endpoint, where),
                      status.message());
        return;
      }
      spdlog::warn(
          "delivery attempt failed {} attempt={} error={} next_attempt={}",
          redacted(endpoint, where), attempt, json_quote(message),
          format_rfc3339_millis(std::chrono::system_clock::time_point(milliseconds(next))));
      log_failed_attempt(task, "retrying", message);
      return;
    }
  }
  store::DeadLetterReason reason{code, message, exhausted};
  reason.http_status = task.result.http_status;
  reason.response_excerpt = task.response_excerpt;
  if (endpoint != nullptr && endpoint->kind == Endpoint::Kind::kHttp) {
    reason.request = recorded_request(*endpoint, job);
  }
  const int64_t now_ms = clock_.now_ms();
  std::optional<store::NewJob> forward;
  if (endpoint != nullptr && !endpoint->dead_letter_target.empty()) {
    forward = dead_letter_job(task, reason, attempt, now_ms);
  }
  Status status =
      store_.dead_letter(task.claim, reason, now_ms, forward.has_value() ? &*forward : nullptr);
  if (!status.ok()) {
    spdlog::error("delivery dead-letter failed {} error=\"{}\"", redacted(endpoint, where),
                  status.message());
    return;
  }
  if (forward.has_value()) {
    MutexLock lock(mutex_);
    store_has_due_ = true;  // the forwarded letter, due now (this thread claims it next)
  }
  spdlog::error(
      "delivery dead-lettered {} attempts={} error_code={} exhausted_retry_condition={} error={}{}",
      redacted(endpoint, where), attempt, code, exhausted.empty() ? "-" : exhausted,
      json_quote(message),
      forward.has_value() ? " sent_to=" + redacted(endpoint, forward->target) : "");
  log_failed_attempt(task, "dead-lettered", message);
  target_counter("hikyaku_invocations_sent_to_dlq_total",
                 "Deliveries moved to the dead-letter queue (InvocationsSentToDlq)", endpoint,
                 job.target)
      .add();
}

}  // namespace hikyaku::delivery
