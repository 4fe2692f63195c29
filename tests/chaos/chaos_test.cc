// Chaos: the real `hikyaku serve` under a steady load of Security Hub events (PutEvents over the
// AWS JSON 1.1 protocol and the webhook, unsigned: no Server.Auth, loopback only) while things go
// wrong around it:
//   a. kill -9 and restart of the server (same config, same store), every few seconds, and also
//      right after Backlog created an issue, before hikyaku could read the answer;
//   b. an API destination that flaps: 5xx, answers slower than the attempt timeout, connection
//      resets and closes, 429 storms with Retry-After; some events are refused for good or fail
//      until their retries run out, and end in the dead-letter queue (and at the target's
//      DeadLetterConfig destination);
//   c. (SQLite) the store's file system full: a small tmpfs, filled until writes fail, then grown;
//      then filled again and the server killed while its writes fail;
//   d. client connections cut mid-request (half the head, half the body; FIN or RST) and stalled
//      requests the server must cut after Server.Limits.RequestTimeoutSeconds.
// A Backlog target (the stand-in) receives distinct findings, their re-imports and updates,
// through all of it, and now and then answers 503.
//
// Each event carries a unique sequence number in its detail ("chaos-seq"). Afterwards every entry
// the client saw accepted must have reached the destination (a 2xx answer; duplicates allowed) or
// the dead-letter queue (read through the admin API), no finding may have two Backlog issues, the
// server must have answered every request within its timeouts while it was alive, and its peak
// memory must stay under a bound derived from the config. The figures are printed on stdout,
// prefixed "chaos figures [<case>]:".
//
// The same scenario runs on the JetStream store with two hikyaku nodes on one nats-server, killed
// in turn. The disk-full case is SQLite only: JetStream keeps the store in nats-server, whose disk
// is not hikyaku's to fill.

#include <arpa/inet.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <simdjson.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "core/json_writer.h"
#include "testing/backlog_standin.h"
#include "testing/http_client.h"
#include "testing/nats_cluster.h"
#include "testing/process.h"
#include "testing/scriptable_destination.h"
#include "testing/securityhub_samples.h"
#include "testing/temp_dir.h"

namespace hikyaku {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;
using testing::ChildProcess;

// Server.Limits.RequestTimeoutSeconds: a request not received whole within it is cut.
constexpr int kRequestTimeoutSeconds = 3;
// Every client request's own timeout: a few seconds above the server's.
constexpr auto kClientTimeout = std::chrono::seconds(kRequestTimeoutSeconds + 7);
// Store.MaxQueuedBytes: accepted work waiting for its commit, in memory.
constexpr int64_t kMaxQueuedBytes = 16 << 20;
// The flapping destination's attempt timeout (TimeoutSeconds); its slow answers take longer.
constexpr int kAttemptTimeoutSeconds = 1;
constexpr auto kSlowAnswer = 2500ms;
// The flapping target's retries: at most 4 attempts.
constexpr int kMaximumRetryAttempts = 3;

constexpr const char* kBacklogKey = "backlog-key-chaos-41d7";
// Sample 02's finding Id and envelope id; Backlog findings get "-NNNN" suffixes.
constexpr const char* kFindingId = "70ad2ccd-03bb-405b-a04f-14a7b6d801b2";
constexpr const char* kSampleEventId = "126e79e2-e6ca-41d6-a1ad-bc4e10bfa287";

// Events the destination never accepts, by sequence number: refused for good (HTTP 400, dead
// letter at the first attempt) or failing until the retries run out (HTTP 500).
constexpr int kPoisonModulus = 53;
constexpr int kPoison400 = 7;
constexpr int kPoison500 = 29;
bool poison_400(int seq) { return seq % kPoisonModulus == kPoison400; }
bool poison_500(int seq) { return seq % kPoisonModulus == kPoison500; }

// Every 4th event carries a finding for Backlog: finding seq/12, in three versions (the first
// import, an unchanged re-import, an update to CRITICAL with a later UpdatedAt).
bool for_backlog(int seq) { return seq % 4 == 0; }
int finding_of(int seq) { return seq / 4 / 3; }
int version_of(int seq) { return seq / 4 % 3; }

void replace_all(std::string& text, std::string_view from, std::string_view to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

void replace_first(std::string& text, std::string_view from, std::string_view to) {
  const size_t at = text.find(from);
  if (at != std::string::npos) {
    text.replace(at, from.size(), to);
  }
}

// The non-negative integer after `key` (and optional blanks) in `text`, if any.
std::optional<int> number_after(std::string_view text, std::string_view key) {
  size_t at = text.find(key);
  if (at == std::string_view::npos) {
    return std::nullopt;
  }
  at += key.size();
  while (at < text.size() && (text[at] == ' ' || text[at] == '\n')) {
    ++at;
  }
  if (at >= text.size() || text[at] < '0' || text[at] > '9') {
    return std::nullopt;
  }
  int value = 0;
  while (at < text.size() && text[at] >= '0' && text[at] <= '9') {
    value = value * 10 + (text[at++] - '0');
  }
  return value;
}

std::optional<int> seq_in(std::string_view body) { return number_after(body, "\"chaos-seq\":"); }

// The finding number in a Backlog issue's description.
std::optional<int> finding_in(std::string_view description) {
  return number_after(description, std::string(kFindingId) + "-");
}

// The events of the load, made from sample 02.
class Events {
 public:
  Events() : sample_(testing::read_file(testing::sample_path("02-fsbp-s3-8-high-failed.json"))) {}

  // Event `seq` as a whole envelope (the webhook's body); its id is unique too.
  std::string envelope(int seq) const {
    std::string event = sample_;
    replace_first(event, kSampleEventId, fmt::format("c4a05000-0000-4000-8000-{:012d}", seq));
    replace_first(event, "\"detail\": {",
                  fmt::format("\"detail\": {{\"chaos-seq\": {}, \"chaos-backlog\": \"{}\",", seq,
                              for_backlog(seq) ? "yes" : "no"));
    if (for_backlog(seq)) {
      replace_all(event, kFindingId, fmt::format("{}-{:04d}", kFindingId, finding_of(seq)));
      if (version_of(seq) == 2) {
        replace_all(event, "2026-03-03T04:41:57.220Z", "2026-03-04T06:00:00.000Z");
        replace_first(event, "\"Label\": \"HIGH\"", "\"Label\": \"CRITICAL\"");
        replace_first(event, "\"Normalized\": 70", "\"Normalized\": 90");
      }
    }
    return event;
  }

  // An event sent on connections the client cuts: no sequence number, never for Backlog.
  std::string cut_envelope() const {
    std::string event = sample_;
    replace_first(event, "\"detail\": {",
                  "\"detail\": {\"chaos-cut\": true, \"chaos-backlog\": \"no\",");
    return event;
  }

  // A PutEvents entry ({"Source", "DetailType", "Detail"}) of an envelope.
  static void write_entry(JsonWriter& writer, simdjson::dom::parser& parser,
                          const std::string& envelope) {
    testing::write_put_events_entry(writer, parser.parse(envelope));
  }

 private:
  std::string sample_;
};

// "http://127.0.0.1:PORT" -> PORT.
uint16_t port_of(const std::string& url) {
  return static_cast<uint16_t>(std::stoi(url.substr(url.rfind(':') + 1)));
}

// A raw TCP connection to 127.0.0.1:port (-1 when refused).
int connect_raw(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return -1;
  }
  timeval timeout{.tv_sec = 2, .tv_usec = 0};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  return fd;
}

void send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t sent = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (sent <= 0) {
      return;
    }
    bytes.remove_prefix(static_cast<size_t>(sent));
  }
}

// Closes with a TCP RST instead of a FIN.
void reset_raw(int fd) {
  linger abortive{.l_onoff = 1, .l_linger = 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abortive, sizeof abortive);
  ::close(fd);
}

// One `hikyaku serve` process after another on one config and store: started, killed with
// SIGKILL, started again. Its URL changes with each start (port 0), so clients take it from
// view(). Its epoch changes at every start and kill: a request that began and ended in the same
// epoch, with the server alive, ran against one living process.
class Server {
 public:
  Server(std::string name, std::filesystem::path directory)
      : name_(std::move(name)), directory_(std::move(directory)) {
    std::filesystem::create_directories(directory_);
  }
  ~Server() {
    std::unique_ptr<ChildProcess> process;
    {
      std::lock_guard lock(mutex_);
      process = std::move(process_);
    }
  }

  const std::string& name() const { return name_; }
  const std::filesystem::path& directory() const { return directory_; }
  void write_config(const std::string& text) const {
    std::ofstream(directory_ / "hikyaku.yaml") << text;
  }

  // Starts `hikyaku serve`; "" once it listens, else what it printed.
  std::string start() {
    auto process = std::make_unique<ChildProcess>(
        std::vector<std::string>{HIKYAKU_BINARY, "serve", "--config", "hikyaku.yaml"},
        std::vector<std::pair<std::string, std::string>>{{"TEST_BACKLOG_KEY", kBacklogKey}},
        directory_.string());
    const std::string url = process->wait_for_line("listening ", 60'000);
    std::lock_guard lock(mutex_);
    if (url.empty()) {
      return "did not start:\n" + process->out() + process->err();
    }
    process_ = std::move(process);
    url_ = url;
    alive_ = true;
    ++epoch_;
    ++starts_;
    return "";
  }

  // The process exited by itself (a crash): its exit code, else nullopt. Main thread only.
  std::optional<int> exited() {
    std::lock_guard lock(mutex_);
    if (process_ == nullptr) {
      return std::nullopt;
    }
    const int code = process_->wait(0);
    return code == -1 ? std::nullopt : std::optional(code);
  }

  // SIGKILL, reaped; its last memory figure read first.
  void kill() {
    std::unique_ptr<ChildProcess> process;
    {
      std::lock_guard lock(mutex_);
      sample_memory_locked();
      alive_ = false;
      ++epoch_;
      ++kills_;
      process = std::move(process_);
    }
    process->signal(SIGKILL);
    const int code = process->wait(60'000);
    std::lock_guard lock(mutex_);
    previous_logs_ += fmt::format("---- {} process killed (exit {}) ----\n", name_, code) +
                      process->out() + process->err();
  }

  // SIGTERM: the exit code and everything every process logged.
  std::pair<int, std::string> stop() {
    std::unique_ptr<ChildProcess> process;
    {
      std::lock_guard lock(mutex_);
      sample_memory_locked();
      alive_ = false;
      ++epoch_;
      process = std::move(process_);
    }
    if (process == nullptr) {
      return {-1, logs()};
    }
    process->signal(SIGTERM);
    const int code = process->wait(60'000);
    std::lock_guard lock(mutex_);
    previous_logs_ += process->out() + process->err();
    return {code, previous_logs_};
  }

  struct View {
    std::string url;
    uint64_t epoch = 0;
    bool alive = false;
  };
  View view() const {
    std::lock_guard lock(mutex_);
    return {url_, epoch_, alive_};
  }
  uint64_t epoch() const {
    std::lock_guard lock(mutex_);
    return epoch_;
  }

  // VmHWM (peak resident set) of the running process, kept as the highest seen.
  void sample_memory() {
    std::lock_guard lock(mutex_);
    sample_memory_locked();
  }
  int64_t peak_kib() const {
    std::lock_guard lock(mutex_);
    return peak_kib_;
  }
  int kills() const {
    std::lock_guard lock(mutex_);
    return kills_;
  }
  int starts() const {
    std::lock_guard lock(mutex_);
    return starts_;
  }
  std::string logs() const {
    std::lock_guard lock(mutex_);
    return previous_logs_ + (process_ ? process_->out() + process_->err() : "");
  }

 private:
  void sample_memory_locked() {
    if (!alive_ || process_ == nullptr) {
      return;
    }
    std::ifstream status(fmt::format("/proc/{}/status", process_->pid()));
    std::string line;
    while (std::getline(status, line)) {
      if (line.starts_with("VmHWM:")) {
        peak_kib_ = std::max<int64_t>(peak_kib_, std::stoll(line.substr(6)));
      }
    }
  }

  const std::string name_;
  const std::filesystem::path directory_;
  mutable std::mutex mutex_;
  std::unique_ptr<ChildProcess> process_;
  std::string url_;
  uint64_t epoch_ = 0;
  bool alive_ = false;
  int kills_ = 0;
  int starts_ = 0;
  int64_t peak_kib_ = 0;
  std::string previous_logs_;
};

// The API destination that flaps. Answers by the event's sequence number first (the poisoned
// ones), then by the phase of an 8-second cycle of real time, so that each event's attempts
// (spread by hikyaku's back-off) meet different phases: most are delivered after some retries,
// a few fail every attempt and are dead-lettered.
class FlappingDestination {
 public:
  explicit FlappingDestination(bool flapping) : flapping_(flapping) {}

  std::string url() const { return destination_.url("/flap"); }

  // Sequence numbers answered 2xx (at once, not after the attempt timeout), with how many times.
  std::map<int, int> delivered() const {
    std::lock_guard lock(mutex_);
    return delivered_;
  }
  // Of them, those whose first attempt here failed.
  std::set<int> delivered_after_failure() const {
    std::lock_guard lock(mutex_);
    std::set<int> after;
    for (const auto& [seq, count] : delivered_) {
      if (failed_.contains(seq)) {
        after.insert(seq);
      }
    }
    return after;
  }
  std::map<std::string, int> answers() const {
    std::lock_guard lock(mutex_);
    return answers_;
  }
  size_t request_count() const { return destination_.request_count(); }

 private:
  testing::ScriptedResponse respond(const testing::RecordedRequest& request) {
    const std::optional<int> seq = seq_in(request.body);
    std::lock_guard lock(mutex_);
    if (!seq) {  // an event from a cut connection that made it in anyway
      ++answers_["200 unnumbered"];
      return {.status = 200, .body = "{}"};
    }
    const auto fail = [&](std::string kind, testing::ScriptedResponse response) {
      failed_.insert(*seq);
      ++answers_[kind];
      return response;
    };
    if (poison_400(*seq)) {
      return fail("400 poisoned", {.status = 400, .body = R"({"error":"refused for good"})"});
    }
    if (poison_500(*seq)) {
      return fail("500 poisoned", {.status = 500, .body = R"({"error":"always failing"})"});
    }
    const int64_t phase =
        flapping_
            ? std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - start_)
                      .count() %
                  8000
            : 0;
    if (phase >= 2500 && phase < 3300) {
      return fail("503", {.status = 503, .body = R"({"error":"busy"})"});
    }
    if (phase >= 4100 && phase < 4900) {  // answers after the attempt timeout
      return fail("slow (timeout)", {.status = 200, .body = "{}", .delay = kSlowAnswer});
    }
    if (phase >= 4900 && phase < 5700) {
      switch (++faults_ % 3) {
        case 0:
          return fail("reset before answer", {.fault = testing::Fault::kResetBeforeAnswer});
        case 1:
          return fail("close before answer", {.fault = testing::Fault::kCloseBeforeAnswer});
        default:
          return fail("reset mid-response", {.status = 200,
                                             .body = R"({"ok":true,"padding":"..............."})",
                                             .fault = testing::Fault::kResetMidResponse});
      }
    }
    if (phase >= 5700 && phase < 6500) {
      return fail(
          "429 Retry-After: 1",
          {.status = 429, .headers = {{"Retry-After", "1"}}, .body = R"({"error":"slow down"})"});
    }
    ++delivered_[*seq];
    ++answers_["200"];
    return {.status = 200, .body = "{}"};
  }

  const bool flapping_;
  const SteadyClock::time_point start_ = SteadyClock::now();
  mutable std::mutex mutex_;
  std::map<int, int> delivered_;
  std::set<int> failed_;
  std::map<std::string, int> answers_;
  int faults_ = 0;
  // Last: its threads call respond().
  testing::ScriptableDestination destination_{
      {.responder = [this](const testing::RecordedRequest& request) { return respond(request); }}};
};

// What the clients saw.
struct ClientTally {
  std::mutex mutex;
  std::set<int> published;                           // sequence numbers sent at least once
  std::map<int, std::vector<std::string>> accepted;  // seq -> the EventIds it was given
  std::map<std::string, int> outcomes;               // per kind of answer or failure
  std::vector<std::string> timeouts_while_alive;     // what each such request was
  std::vector<std::string> unexpected;               // answers no chaos explains
  std::atomic<int64_t> accepted_count{0};
  std::atomic<int64_t> store_failures{0};  // InternalFailure entries, webhook 503s

  void count(const std::string& kind, int64_t n = 1) {
    std::lock_guard lock(mutex);
    outcomes[kind] += n;
  }
};

// Picks the server for a request: the preferred one if alive, else any alive one.
Server* pick(const std::vector<Server*>& servers, size_t preferred) {
  for (size_t i = 0; i < servers.size(); ++i) {
    Server* server = servers[(preferred + i) % servers.size()];
    if (server->view().alive) {
      return server;
    }
  }
  return nullptr;
}

// Classifies a request that got no answer.
void no_answer(ClientTally& tally, const Server::View& before, uint64_t epoch_after,
               const testing::Response& response, const std::string& what) {
  const bool same_process = before.alive && before.epoch == epoch_after;
  if (response.error.find("timed out") != std::string::npos) {
    if (same_process) {
      std::lock_guard lock(tally.mutex);
      tally.timeouts_while_alive.push_back(what + ": " + response.error);
      ++tally.outcomes["timeout while alive"];
    } else {
      tally.count("timeout across a kill");
    }
  } else {
    tally.count(same_process ? "no answer while alive (" + response.error + ")"
                             : "no answer across a kill/down");
  }
}

// The load: PutEvents batches and webhook posts at steady rates, each entry numbered; what is
// not accepted (throttled, store failures, no answer) is sent again, as SDKs do.
class Load {
 public:
  struct Options {
    std::chrono::milliseconds put_period = 100ms;  // one PutEvents request per period
    int batch = 5;                                 // entries per PutEvents request
    std::chrono::milliseconds webhook_period = 100ms;
    std::chrono::milliseconds cut_period = 100ms;  // one cut connection per period
    bool stall = true;                             // open a stalled request every second
  };

  Load(const Events& events, std::vector<Server*> servers, ClientTally& tally, Options options)
      : events_(events), servers_(std::move(servers)), tally_(tally), options_(options) {}
  ~Load() { stop(); }

  void start() {
    threads_.emplace_back([this] { put_events_loop(); });
    threads_.emplace_back([this] { webhook_loop(); });
    threads_.emplace_back([this] { cut_loop(); });
    if (options_.stall) {
      threads_.emplace_back([this] { stall_loop(); });
    }
  }
  void stop() {
    stopping_ = true;
    for (std::thread& thread : threads_) {
      thread.join();
    }
    threads_.clear();
  }

  int cut_connections() const { return cuts_; }
  int stalled() const { return stalled_; }
  int stalled_not_cut() const { return stalled_not_cut_; }
  double longest_stall_seconds() const {
    std::lock_guard lock(mutex_);
    return longest_stall_;
  }

 private:
  int next_seq() { return seq_++; }

  void put_events_loop() {
    simdjson::dom::parser parser;
    std::vector<int> retry;
    std::optional<testing::HttpClient> client;
    std::string client_url;
    for (auto next = SteadyClock::now(); !stopping_; next += options_.put_period) {
      std::this_thread::sleep_until(next);
      std::vector<int> batch;
      while (!retry.empty() && static_cast<int>(batch.size()) < options_.batch) {
        batch.push_back(retry.front());
        retry.erase(retry.begin());
      }
      while (retry.empty() && static_cast<int>(batch.size()) < options_.batch) {
        batch.push_back(next_seq());
      }
      Server* server = pick(servers_, 0);
      if (server == nullptr) {
        retry.insert(retry.begin(), batch.begin(), batch.end());
        tally_.count("put_events: no server up");
        continue;
      }
      const Server::View view = server->view();
      if (!client || client_url != view.url) {
        client.emplace(testing::HttpClient::from_url(view.url, {.timeout = kClientTimeout}));
        client_url = view.url;
      }
      JsonWriter writer;
      writer.begin_object();
      writer.key("Entries");
      writer.begin_array();
      {
        std::lock_guard lock(tally_.mutex);
        tally_.published.insert(batch.begin(), batch.end());
      }
      for (int seq : batch) {
        Events::write_entry(writer, parser, events_.envelope(seq));
      }
      writer.end_array();
      writer.end_object();
      const testing::Response response = client->request(
          "POST", "/",
          {{"Content-Type", "application/x-amz-json-1.1"}, {"X-Amz-Target", "AWSEvents.PutEvents"}},
          writer.str());
      tally_.count("put_events requests");
      if (!response.ok()) {
        no_answer(tally_, view, server->epoch(), response, "PutEvents");
        client->close();
        retry.insert(retry.end(), batch.begin(), batch.end());
        continue;
      }
      simdjson::dom::element answer;
      if (parser.parse(response.body).get(answer) != simdjson::SUCCESS) {
        std::lock_guard lock(tally_.mutex);
        tally_.unexpected.push_back(fmt::format("PutEvents {} {}", response.status, response.body));
        retry.insert(retry.end(), batch.begin(), batch.end());
        continue;
      }
      std::string_view type;
      if (response.status != 200) {
        if (answer["__type"].get(type) == simdjson::SUCCESS && type == "ThrottlingException") {
          tally_.count("put_events entries throttled", static_cast<int64_t>(batch.size()));
        } else {
          std::lock_guard lock(tally_.mutex);
          tally_.unexpected.push_back(
              fmt::format("PutEvents {} {}", response.status, response.body));
        }
        retry.insert(retry.end(), batch.begin(), batch.end());
        continue;
      }
      size_t i = 0;
      for (simdjson::dom::element result : answer["Entries"]) {
        if (i >= batch.size()) {
          break;
        }
        const int seq = batch[i++];
        std::string_view id;
        std::string_view code;
        if (result["ErrorCode"].get(code) != simdjson::SUCCESS &&
            result["EventId"].get(id) == simdjson::SUCCESS) {
          std::lock_guard lock(tally_.mutex);
          tally_.accepted[seq].emplace_back(id);
          ++tally_.accepted_count;
          continue;
        }
        if (code == "InternalFailure") {
          ++tally_.store_failures;
        }
        tally_.count("put_events entries " + std::string(code));
        if (code == "ThrottlingException" || code == "InternalFailure") {
          retry.push_back(seq);
        } else {
          std::lock_guard lock(tally_.mutex);
          tally_.unexpected.push_back(fmt::format("entry {}: {}", seq, simdjson::minify(result)));
        }
      }
    }
  }

  void webhook_loop() {
    simdjson::dom::parser parser;
    std::optional<int> retry;
    std::optional<testing::HttpClient> client;
    std::string client_url;
    for (auto next = SteadyClock::now(); !stopping_; next += options_.webhook_period) {
      std::this_thread::sleep_until(next);
      const int seq = retry ? *retry : next_seq();
      retry.reset();
      Server* server = pick(servers_, servers_.size() - 1);
      if (server == nullptr) {
        retry = seq;
        tally_.count("webhook: no server up");
        continue;
      }
      const Server::View view = server->view();
      if (!client || client_url != view.url) {
        client.emplace(testing::HttpClient::from_url(view.url, {.timeout = kClientTimeout}));
        client_url = view.url;
      }
      {
        std::lock_guard lock(tally_.mutex);
        tally_.published.insert(seq);
      }
      const testing::Response response = client->request(
          "POST", "/events/default", {{"Content-Type", "application/json"}}, events_.envelope(seq));
      tally_.count("webhook requests");
      if (!response.ok()) {
        no_answer(tally_, view, server->epoch(), response, "webhook");
        client->close();
        retry = seq;
        continue;
      }
      simdjson::dom::element answer;
      std::string_view id;
      if (response.status == 200 && parser.parse(response.body).get(answer) == simdjson::SUCCESS &&
          answer["EventId"].get(id) == simdjson::SUCCESS) {
        std::lock_guard lock(tally_.mutex);
        tally_.accepted[seq].emplace_back(id);
        ++tally_.accepted_count;
        continue;
      }
      retry = seq;
      if (response.status == 429) {
        tally_.count("webhook 429");
      } else if (response.status == 503) {
        ++tally_.store_failures;
        tally_.count("webhook 503");
      } else {
        std::lock_guard lock(tally_.mutex);
        tally_.unexpected.push_back(fmt::format("webhook {} {}", response.status, response.body));
      }
    }
  }

  // Connections cut mid-request, in turn: half the head, the head and half the body, the whole
  // request with no wait for the answer; each closed with a FIN or a RST; and connections
  // closed before sending anything.
  void cut_loop() {
    JsonWriter writer;
    simdjson::dom::parser parser;
    writer.begin_object();
    writer.key("Entries");
    writer.begin_array();
    Events::write_entry(writer, parser, events_.cut_envelope());
    writer.end_array();
    writer.end_object();
    const std::string put_body = writer.take();
    const std::string hook_body = events_.cut_envelope();
    int turn = 0;
    for (auto next = SteadyClock::now(); !stopping_; next += options_.cut_period) {
      std::this_thread::sleep_until(next);
      Server* server = pick(servers_, static_cast<size_t>(turn));
      if (server == nullptr) {
        continue;
      }
      const int fd = connect_raw(port_of(server->view().url));
      if (fd < 0) {
        continue;
      }
      const bool webhook = turn % 2 == 0;
      const std::string& body = webhook ? hook_body : put_body;
      const std::string head =
          webhook ? fmt::format(
                        "POST /events/default HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                        "application/json\r\nContent-Length: {}\r\n\r\n",
                        body.size())
                  : fmt::format(
                        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                        "application/x-amz-json-1.1\r\nX-Amz-Target: AWSEvents.PutEvents\r\n"
                        "Content-Length: {}\r\n\r\n",
                        body.size());
      switch (turn / 2 % 4) {
        case 0:
          send_all(fd, std::string_view(head).substr(0, head.size() / 2));
          break;
        case 1:
          send_all(fd, head);
          send_all(fd, std::string_view(body).substr(0, body.size() / 2));
          break;
        case 2:
          send_all(fd, head + body);
          break;
        default:
          break;  // nothing at all
      }
      if (turn % 3 == 0) {
        reset_raw(fd);
      } else {
        ::close(fd);
      }
      ++cuts_;
      ++turn;
    }
  }

  // Every second a request that sends its head and a tenth of its body, then nothing: the server
  // must cut each after RequestTimeoutSeconds. Several are open at once; those whose server was
  // killed meanwhile say nothing about the timeout and are dropped.
  void stall_loop() { stall(0); }

 public:
  // After the load (stop()): `count` stalled requests at once to each live server, followed to
  // their end, so that the timeout is measured also where kills interrupted every earlier one.
  void probe_stalls(int count) { stall(count); }

 private:
  void stall(int probe) {
    struct Stalled {
      int fd;
      Server* server;
      Server::View view;
      SteadyClock::time_point began;
    };
    const std::string body = events_.cut_envelope();
    const std::string request = fmt::format(
                                    "POST /events/default HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                    "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                                    body.size()) +
                                body.substr(0, body.size() / 10);
    const auto limit = std::chrono::seconds(kRequestTimeoutSeconds + 5);
    std::vector<Stalled> open;
    const auto open_one = [&](Server* server) {
      const Server::View view = server->view();
      const int fd = connect_raw(port_of(view.url));
      if (fd >= 0) {
        send_all(fd, request);
        open.push_back({fd, server, view, SteadyClock::now()});
      }
    };
    for (Server* server : servers_) {
      for (int i = 0; i < probe && server->view().alive; ++i) {
        open_one(server);
      }
    }
    auto next_open = SteadyClock::now();
    int turn = 0;
    while (probe > 0 ? !open.empty() : !stopping_) {
      if (probe == 0 && SteadyClock::now() >= next_open) {
        next_open += 1s;
        if (Server* server = pick(servers_, static_cast<size_t>(turn++))) {
          open_one(server);
        }
      }
      std::vector<pollfd> fds;
      for (const Stalled& stalled : open) {
        fds.push_back({.fd = stalled.fd, .events = POLLIN, .revents = 0});
      }
      ::poll(fds.data(), fds.size(), 100);  // also the loop's pace
      std::vector<Stalled> still_open;
      for (size_t i = 0; i < open.size(); ++i) {
        Stalled& stalled = open[i];
        bool cut = false;
        if (fds[i].revents != 0) {
          char buffer[4096];
          // An answer (408, say) is fine too: it is read, and the close awaited.
          cut = ::recv(stalled.fd, buffer, sizeof buffer, 0) <= 0;
        }
        const auto elapsed = SteadyClock::now() - stalled.began;
        if (!cut && elapsed < limit) {
          still_open.push_back(stalled);
          continue;
        }
        ::close(stalled.fd);
        if (!stalled.view.alive || stalled.server->epoch() != stalled.view.epoch) {
          continue;  // killed meanwhile
        }
        ++stalled_;
        if (!cut) {
          ++stalled_not_cut_;
        } else {
          std::lock_guard lock(mutex_);
          longest_stall_ = std::max(longest_stall_, std::chrono::duration<double>(elapsed).count());
        }
      }
      open.swap(still_open);
    }
    for (const Stalled& stalled : open) {
      ::close(stalled.fd);  // the load ended before their time: not counted
    }
  }

  const Events& events_;
  const std::vector<Server*> servers_;
  ClientTally& tally_;
  const Options options_;
  std::atomic<int> seq_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<int> cuts_{0};
  std::atomic<int> stalled_{0};
  std::atomic<int> stalled_not_cut_{0};
  mutable std::mutex mutex_;
  double longest_stall_ = 0;
  std::vector<std::thread> threads_;
};

// Samples every server's VmHWM every 100 ms until destroyed.
class MemorySampler {
 public:
  explicit MemorySampler(std::vector<Server*> servers) : servers_(std::move(servers)) {
    thread_ = std::thread([this] {
      while (!stopping_) {
        for (Server* server : servers_) {
          server->sample_memory();
        }
        std::this_thread::sleep_for(100ms);  // a sampling period, not a wait for a condition
      }
    });
  }
  ~MemorySampler() {
    stopping_ = true;
    thread_.join();
  }

 private:
  std::vector<Server*> servers_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

// Polls `condition` every `interval` (it makes HTTP calls: not every 2 ms) until it holds.
bool poll_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds interval = 500ms) {
  const auto deadline = SteadyClock::now() + timeout;
  for (;;) {
    if (condition()) {
      return true;
    }
    if (SteadyClock::now() > deadline) {
      return false;
    }
    std::this_thread::sleep_for(interval);
  }
}

struct DeadLetter {
  std::string id;
  std::string event_id;
  std::string target;
  std::string error_code;
  std::string exhausted;
  std::string message;
};

// Every dead letter, through the admin API (loopback, no admin keys configured).
std::optional<std::vector<DeadLetter>> dead_letters(const std::string& url) {
  testing::HttpClient http = testing::HttpClient::from_url(url, {.timeout = kClientTimeout});
  simdjson::dom::parser parser;
  std::vector<DeadLetter> letters;
  std::string token;
  for (;;) {
    const testing::Response response = http.get("/admin/v1/dead-letters?limit=1000" +
                                                (token.empty() ? "" : "&next_token=" + token));
    simdjson::dom::element root;
    if (response.status != 200 || parser.parse(response.body).get(root) != simdjson::SUCCESS) {
      return std::nullopt;
    }
    for (simdjson::dom::element letter : root["DeadLetters"]) {
      DeadLetter read;
      read.id = simdjson::minify(letter["Id"]);
      std::string_view text;
      if (letter["EventId"].get(text) == simdjson::SUCCESS) {
        read.event_id = text;
      }
      if (letter["Target"].get(text) == simdjson::SUCCESS) {
        read.target = text;
      }
      if (letter["ErrorCode"].get(text) == simdjson::SUCCESS) {
        read.error_code = text;
      }
      if (letter["ExhaustedRetryCondition"].get(text) == simdjson::SUCCESS) {
        read.exhausted = text;
      }
      if (letter["ErrorMessage"].get(text) == simdjson::SUCCESS) {
        read.message = text;
      }
      letters.push_back(std::move(read));
    }
    std::string_view next;
    if (root["NextToken"].get(next) != simdjson::SUCCESS || next.empty()) {
      return letters;
    }
    token = next;
  }
}

// GET /admin/v1/counts as text ("" when it does not answer 200).
std::string counts(const std::string& url) {
  const testing::Response response =
      testing::HttpClient::from_url(url, {.timeout = kClientTimeout}).get("/admin/v1/counts");
  return response.status == 200 ? response.body : "";
}

bool queue_empty(const std::string& url) {
  const std::string text = counts(url);
  return number_after(text, "\"PendingJobs\":") == 0 && number_after(text, "\"LeasedJobs\":") == 0;
}

// The whole scenario's pieces and its final accounting.
class Scenario {
 public:
  explicit Scenario(std::string name, bool flapping = true)
      : name_(std::move(name)), flapping_(flapping) {
    testing::BacklogStandInOptions options;
    options.api_key = kBacklogKey;
    options.window = std::chrono::seconds(1);
    options.update_budget = 1000;
    options.search_budget = 1000;
    options.read_budget = 1000;
    backlog_ = std::make_unique<testing::BacklogStandIn>(options);
  }

  const std::string& name() const { return name_; }
  FlappingDestination& destination() { return destination_; }
  testing::BacklogStandIn& backlog() { return *backlog_; }
  ClientTally& tally() { return tally_; }
  const Events& events() const { return events_; }

  // The config: `server_extra` under Server (after Listen), `store` the whole Store section.
  std::string config(const std::string& store) const {
    return fmt::format(R"(Server:
  Listen: 127.0.0.1:0
  Limits: {{ RequestTimeoutSeconds: {}, MaxConnections: 256 }}
{}Connections:
  - Name: hooks
    AuthorizationType: API_KEY
    AuthParameters:
      ApiKeyAuthParameters: {{ ApiKeyName: x-api-key, ApiKeyValue: unused-here }}
ApiDestinations:
  - Name: flapping
    ConnectionName: hooks
    InvocationEndpoint: {}
    HttpMethod: POST
    InvocationRateLimitPerSecond: 1000
    TimeoutSeconds: {}
  - Name: dead-letters
    ConnectionName: hooks
    InvocationEndpoint: {}
    HttpMethod: POST
    InvocationRateLimitPerSecond: 1000
Rules:
  - Name: all-findings
    EventPattern: {{ source: [aws.securityhub] }}
    Targets:
      - Id: flapping
        ApiDestination: flapping
        RetryPolicy: {{ MaximumRetryAttempts: {}, MaximumEventAgeInSeconds: 600 }}
        DeadLetterConfig: {{ Arn: dead-letters }}
  - Name: findings-to-backlog
    EventPattern: {{ source: [aws.securityhub], detail: {{ chaos-backlog: ["yes"] }} }}
    Targets:
      - Id: backlog
        RetryPolicy: {{ MaximumRetryAttempts: 30, MaximumEventAgeInSeconds: 600 }}
        Backlog:
          Endpoint: {}
          ApiKey: ${{TEST_BACKLOG_KEY}}
          Project: SEC
          IssueType: Task
)",
                       kRequestTimeoutSeconds, store, destination_.url(), kAttemptTimeoutSeconds,
                       dead_letter_receiver_.url("/dead-letters"), kMaximumRetryAttempts,
                       backlog_->url(""));
  }

  // Accepted entries neither delivered nor dead-lettered, once everything settled; the figures
  // are computed and printed, and the assertions made, by finish().
  struct Accounting {
    std::set<int> accepted;
    std::set<int> delivered;
    std::set<int> dead_lettered;  // accepted, not delivered, with a letter on the flapping target
    std::set<int> lost;
    std::vector<DeadLetter> letters;
    std::set<int> findings;                // accepted Backlog findings
    std::set<int> findings_without_issue;  // and no Backlog dead letter either
    std::map<int, int> issues_per_finding;
    std::set<std::string> letters_not_forwarded;  // flapping letters absent at DeadLetterConfig's
  };

  Accounting account(const std::string& admin_url) {
    Accounting a;
    std::map<std::string, int> seq_of_event;
    {
      std::lock_guard lock(tally_.mutex);
      for (const auto& [seq, ids] : tally_.accepted) {
        a.accepted.insert(seq);
        for (const std::string& id : ids) {
          seq_of_event[id] = seq;
        }
      }
    }
    for (const auto& [seq, count] : destination_.delivered()) {
      if (a.accepted.contains(seq)) {
        a.delivered.insert(seq);
      }
    }
    std::optional<std::vector<DeadLetter>> letters = dead_letters(admin_url);
    if (letters) {
      a.letters = std::move(*letters);
    }
    std::set<int> backlog_letters;
    std::set<std::string> forwarded;
    for (const testing::RecordedRequest& request : dead_letter_receiver_.requests()) {
      simdjson::dom::parser parser;
      simdjson::dom::element document;
      std::string_view id;
      if (parser.parse(request.body).get(document) == simdjson::SUCCESS &&
          document["EventId"].get(id) == simdjson::SUCCESS) {
        forwarded.emplace(id);
      }
    }
    for (const DeadLetter& letter : a.letters) {
      const auto found = seq_of_event.find(letter.event_id);
      if (letter.target == "flapping") {
        if (!forwarded.contains(letter.event_id)) {
          a.letters_not_forwarded.insert(letter.event_id);
        }
        if (found != seq_of_event.end() && !a.delivered.contains(found->second)) {
          a.dead_lettered.insert(found->second);
        }
      } else if (letter.target == "backlog" && found != seq_of_event.end()) {
        backlog_letters.insert(finding_of(found->second));
      }
    }
    for (int seq : a.accepted) {
      if (!a.delivered.contains(seq) && !a.dead_lettered.contains(seq)) {
        a.lost.insert(seq);
      }
      if (for_backlog(seq)) {
        a.findings.insert(finding_of(seq));
      }
    }
    for (const testing::BacklogIssue& issue : backlog_->issues()) {
      if (const std::optional<int> finding = finding_in(issue.description)) {
        ++a.issues_per_finding[*finding];
      } else {
        ++a.issues_per_finding[-1];  // an issue without a finding Id: counted, never expected
      }
    }
    for (int finding : a.findings) {
      if (!a.issues_per_finding.contains(finding) && !backlog_letters.contains(finding)) {
        a.findings_without_issue.insert(finding);
      }
    }
    return a;
  }

  // Waits until every accepted entry is delivered or dead-lettered, every letter forwarded,
  // every accepted finding has its issue, and the queue is empty; then asserts and prints.
  void finish(const std::string& admin_url, const std::vector<Server*>& servers,
              std::chrono::seconds drain_timeout, Load& load, double load_seconds,
              int64_t memory_bound_mib) {
    release_held_answer();
    const auto drain_began = SteadyClock::now();
    std::thread prober([&] { load.probe_stalls(3); });  // while the queue drains
    Accounting a;
    const bool settled = poll_until(
        [&] {
          a = account(admin_url);
          return a.lost.empty() && a.findings_without_issue.empty() &&
                 a.letters_not_forwarded.empty() && queue_empty(admin_url);
        },
        drain_timeout, 1000ms);
    prober.join();
    a = account(admin_url);
    const double drain_seconds =
        std::chrono::duration<double>(SteadyClock::now() - drain_began).count();

    std::map<std::string, int> reasons;
    int flapping_letters = 0;
    int backlog_letters = 0;
    int letters_without_reason = 0;
    for (const DeadLetter& letter : a.letters) {
      ++reasons[letter.target + ":" + letter.error_code +
                (letter.exhausted.empty() ? "" : "/" + letter.exhausted)];
      (letter.target == "flapping" ? flapping_letters : backlog_letters) += 1;
      if (letter.error_code.empty() || letter.message.empty()) {
        ++letters_without_reason;
      }
    }
    int duplicate_tickets = 0;
    int backlog_issues = 0;
    for (const auto& [finding, issues] : a.issues_per_finding) {
      backlog_issues += issues;
      duplicate_tickets += issues > 1 ? 1 : 0;
    }
    int comments = 0;
    for (const testing::BacklogIssue& issue : backlog_->issues()) {
      comments += static_cast<int>(issue.comments.size());
    }
    int64_t peak_kib = 0;
    int kills = 0;
    int starts = 0;
    for (Server* server : servers) {
      peak_kib = std::max(peak_kib, server->peak_kib());
      kills += server->kills();
      starts += server->starts();
    }
    size_t published = 0;
    size_t accepted_entries = 0;
    std::map<std::string, int> outcomes;
    std::vector<std::string> timeouts;
    std::vector<std::string> unexpected;
    {
      std::lock_guard lock(tally_.mutex);
      published = tally_.published.size();
      for (const auto& [seq, ids] : tally_.accepted) {
        accepted_entries += ids.size();
      }
      outcomes = tally_.outcomes;
      timeouts = tally_.timeouts_while_alive;
      unexpected = tally_.unexpected;
    }
    int64_t duplicates = 0;
    for (const auto& [seq, count] : destination_.delivered()) {
      duplicates += count - 1;
    }
    const int poisoned_400 = static_cast<int>(std::count_if(
        a.accepted.begin(), a.accepted.end(), [](int seq) { return poison_400(seq); }));
    const int poisoned_500 = static_cast<int>(std::count_if(
        a.accepted.begin(), a.accepted.end(), [](int seq) { return poison_500(seq); }));

    std::string figures = fmt::format(
        "chaos figures [{}]: load_seconds={:.1f} drain_seconds={:.1f} published={} accepted={} "
        "(entries answered with an EventId: {}) not_accepted_when_load_stopped={} delivered={} "
        "delivered_after_a_failed_attempt={} redelivered_duplicates={} dead_lettered={} "
        "(poisoned_400={} poisoned_500={}) lost={} dead_letters_total={} (flapping={} backlog={} "
        "without_reason={} not_forwarded_to_DeadLetterConfig={}) backlog_findings={} "
        "backlog_issues={} backlog_comments={} findings_with_two_or_more_tickets={} "
        "findings_without_issue={} backlog_503s_injected={} "
        "kills_between_issue_created_and_answer={} restarts_survived={} "
        "(kills={} starts={}) peak_vmhwm_mib={:.1f} (bound {} MiB) "
        "client_timeouts_while_alive={} cut_connections={} stalled_requests={} "
        "stalled_not_cut={} longest_stall_cut_after_s={:.2f} destination_requests={}\n",
        name_, load_seconds, drain_seconds, published, a.accepted.size(), accepted_entries,
        published - a.accepted.size(), a.delivered.size(),
        destination_.delivered_after_failure().size(), duplicates, a.dead_lettered.size(),
        poisoned_400, poisoned_500, a.lost.size(), a.letters.size(), flapping_letters,
        backlog_letters, letters_without_reason, a.letters_not_forwarded.size(), a.findings.size(),
        backlog_issues, comments, duplicate_tickets, a.findings_without_issue.size(),
        backlog_failures_injected_, kills_on_create(), starts - servers.size(), kills, starts,
        static_cast<double>(peak_kib) / 1024.0, memory_bound_mib, timeouts.size(),
        load.cut_connections(), load.stalled(), load.stalled_not_cut(),
        load.longest_stall_seconds(), destination_.request_count());
    figures += "chaos figures [" + name_ + "] client outcomes:";
    for (const auto& [kind, n] : outcomes) {
      figures += fmt::format(" {{{}: {}}}", kind, n);
    }
    figures += "\nchaos figures [" + name_ + "] destination answers:";
    for (const auto& [kind, n] : destination_.answers()) {
      figures += fmt::format(" {{{}: {}}}", kind, n);
    }
    figures += "\nchaos figures [" + name_ + "] dead-letter reasons:";
    for (const auto& [kind, n] : reasons) {
      figures += fmt::format(" {{{}: {}}}", kind, n);
    }
    figures += "\nchaos figures [" + name_ + "] store counts at the end: " + counts(admin_url);
    std::cout << figures << std::endl;
    ::testing::Test::RecordProperty("figures", figures);

    std::string lost_list;
    for (int seq : a.lost) {
      lost_list += fmt::format(" {}", seq);
      if (lost_list.size() > 400) {
        lost_list += " ...";
        break;
      }
    }
    EXPECT_TRUE(settled) << "not settled within " << drain_timeout.count() << " s";
    EXPECT_GT(a.accepted.size(), 0u);
    EXPECT_EQ(a.lost.size(), 0u) << "accepted but neither delivered nor dead-lettered:"
                                 << lost_list;
    EXPECT_GT(a.delivered.size(), a.accepted.size() / 2) << "most entries must be delivered";
    EXPECT_EQ(duplicate_tickets, 0) << "a finding has two Backlog issues";
    EXPECT_EQ(a.issues_per_finding.count(-1), 0u) << "an issue names no finding";
    EXPECT_TRUE(a.findings_without_issue.empty())
        << a.findings_without_issue.size() << " accepted findings have no issue";
    EXPECT_EQ(letters_without_reason, 0);
    EXPECT_TRUE(a.letters_not_forwarded.empty())
        << a.letters_not_forwarded.size() << " dead letters never reached DeadLetterConfig's";
    EXPECT_TRUE(timeouts.empty()) << "requests timed out while the server was alive: "
                                  << (timeouts.empty() ? "" : timeouts.front());
    EXPECT_TRUE(unexpected.empty())
        << unexpected.size()
        << " unexpected answers, the first: " << (unexpected.empty() ? "" : unexpected.front());
    EXPECT_GT(load.stalled(), 0);
    EXPECT_EQ(load.stalled_not_cut(), 0) << "stalled requests the server never cut";
    EXPECT_LE(load.longest_stall_seconds(), kRequestTimeoutSeconds + 3.0);
    EXPECT_LT(peak_kib, memory_bound_mib * 1024) << "peak VmHWM over the bound";
    // Every poisoned entry that was accepted is a dead letter with the destination's answer.
    for (int seq : a.accepted) {
      if (poison_400(seq) || poison_500(seq)) {
        EXPECT_TRUE(a.dead_lettered.contains(seq)) << "poisoned entry " << seq;
      }
    }
    for (const DeadLetter& letter : a.letters) {
      if (letter.target == "flapping") {
        EXPECT_FALSE(letter.error_code.empty()) << letter.id;
      }
    }
  }

  // The issue creations numbered in `at` (1 = the first) hold the stand-in's 201 until the test
  // has killed the server(s) (it polls kill_requested()): the issue exists, hikyaku never learns
  // its key, and must find it again by its marker instead of filing a second one.
  void kill_on_issue_created(std::set<int> at) {
    backlog_->on_issue_created([this, at](const testing::BacklogIssue&) {
      std::unique_lock lock(kill_mutex_);
      if (!at.contains(++issues_created_)) {
        return;
      }
      kill_requested_ = true;
      kill_done_.wait_for(lock, 30s, [this] { return !kill_requested_; });
    });
  }
  bool kill_requested() {
    std::lock_guard lock(kill_mutex_);
    return kill_requested_;
  }
  void killed() {
    std::lock_guard lock(kill_mutex_);
    kill_requested_ = false;
    ++kills_on_create_;
    kill_done_.notify_all();
  }
  // Lets a held answer go (the load ended before the test could kill for it).
  void release_held_answer() {
    std::lock_guard lock(kill_mutex_);
    kill_requested_ = false;
    kill_done_.notify_all();
  }
  int kills_on_create() {
    std::lock_guard lock(kill_mutex_);
    return kills_on_create_;
  }

  void inject_backlog_failures(int count) {
    backlog_->fail_next(count, 503);
    backlog_failures_injected_ += count;
  }

 private:
  const std::string name_;
  const bool flapping_;
  Events events_;
  ClientTally tally_;
  FlappingDestination destination_{flapping_};
  testing::ScriptableDestination dead_letter_receiver_;
  // Before the stand-in: its hook uses them until it is destroyed.
  std::mutex kill_mutex_;
  std::condition_variable kill_done_;
  int issues_created_ = 0;
  bool kill_requested_ = false;
  int kills_on_create_ = 0;
  std::unique_ptr<testing::BacklogStandIn> backlog_;
  int backlog_failures_injected_ = 0;
};

// The bound on each server's peak resident set (VmHWM), in MiB, for the configs here. What the
// server holds: SQLite's page cache (at most 64 MiB; the JetStream store has none), the accepted
// work waiting for its commit (Store.MaxQueuedBytes, 16 MiB here), the jobs the delivery workers
// hold (a few thousand bodies of ~5 KB: tens of MiB at most), request buffers (at most
// MaxConnections 256 x what one client sends at once, here under 60 KB: 15 MiB) and code,
// threads' stacks and the allocator's slack (~30 MiB): about 160 MiB at worst; 27-41 MiB measured.
// A run is ~2,000 events and ~3,000 attempts: memory kept at ~40 KB or more per event or ~25 KB
// per attempt (an unbounded queue of bodies with their requests, a leaked connection or response)
// crosses the bound, while the allocator's slack stays far below it.
constexpr int64_t kMemoryBoundMiB = 160;

// Runs the load for at most `duration` while `chaos(elapsed)` is called every 100 ms from this
// thread, until it returns false; returns the load's real duration.
double run_load(Load& load, std::chrono::milliseconds duration,
                const std::function<bool(std::chrono::milliseconds)>& chaos) {
  const auto began = SteadyClock::now();
  load.start();
  for (auto next = began; SteadyClock::now() - began < duration; next += 100ms) {
    std::this_thread::sleep_until(next);  // the chaos schedule's clock
    if (!chaos(std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - began))) {
      break;
    }
  }
  load.stop();
  return std::chrono::duration<double>(SteadyClock::now() - began).count();
}

// Restarts `server` after a kill (or a crash); false, with the reason kept, when it does not start.
bool restart(Server& server, std::vector<std::string>& failures) {
  const std::string started = server.start();
  if (!started.empty()) {
    failures.push_back(server.name() + " did not restart: " + started);
    return false;
  }
  return true;
}

std::string tail(const std::string& text, size_t bytes = 20000) {
  return text.substr(text.size() > bytes ? text.size() - bytes : 0);
}

// kill -9 every 5 s (the server restarted at once on the same store) while the destination flaps,
// clients cut connections and Backlog fails now and then.
TEST(ChaosTest, SqliteKillsFlappingDestinationCutConnectionsAndBacklog) {
  Scenario scenario("sqlite");
  const testing::TempDir work("chaos-sqlite");
  Server server("sqlite", work.path() + "/node");
  server.write_config(
      scenario.config(fmt::format("Store:\n  Sqlite: {{ Path: var/hikyaku.db }}\n"
                                  "  MaxQueuedBytes: {}\n",
                                  kMaxQueuedBytes)));
  ASSERT_EQ(server.start(), "");
  std::vector<Server*> servers = {&server};
  MemorySampler sampler(servers);
  Load load(scenario.events(), servers, scenario.tally(), {});
  scenario.kill_on_issue_created({3, 30, 70});
  std::vector<std::string> failures;
  int kills = 0;
  const double load_seconds = run_load(load, 30s, [&](std::chrono::milliseconds elapsed) {
    if (const std::optional<int> code = server.exited()) {
      failures.push_back(fmt::format("exited by itself with {} at {} ms", *code, elapsed.count()));
      server.kill();
      return restart(server, failures);
    }
    if (scenario.kill_requested()) {  // an issue was created; its answer waits for this
      server.kill();
      scenario.killed();
      if (!restart(server, failures)) {
        return false;
      }
    }
    if (elapsed >= std::chrono::seconds(5 * (kills + 1)) && kills < 5) {
      ++kills;
      server.kill();
      if (!restart(server, failures)) {
        return false;
      }
    }
    if (elapsed.count() % 7000 < 100) {
      scenario.inject_backlog_failures(3);
    }
    return true;
  });
  ASSERT_TRUE(failures.empty()) << failures.front() << "\n" << tail(server.logs());
  scenario.finish(server.view().url, servers, 120s, load, load_seconds, kMemoryBoundMiB);
  const auto [code, logged] = server.stop();
  EXPECT_EQ(code, 0);
  if (HasFailure()) {
    std::cout << "server log tail:\n" << tail(logged) << std::endl;
  }
}

// A tmpfs mounted for one test, unmounted (lazily, so even with a file open) when it goes.
class Tmpfs {
 public:
  Tmpfs(std::string path, int size_mib) : path_(std::move(path)) {
    std::filesystem::create_directories(path_);
    const std::string options = fmt::format("size={}m,mode=0700", size_mib);
    if (::mount("tmpfs", path_.c_str(), "tmpfs", 0, options.c_str()) != 0) {
      error_ =
          fmt::format("mount -t tmpfs -o {} tmpfs {}: {}", options, path_, std::strerror(errno));
    }
  }
  ~Tmpfs() {
    if (error_.empty()) {
      ::umount2(path_.c_str(), MNT_DETACH);
    }
  }
  Tmpfs(const Tmpfs&) = delete;
  Tmpfs& operator=(const Tmpfs&) = delete;

  // Why it could not be mounted ("" when mounted); EPERM means no right to mount here.
  const std::string& error() const { return error_; }
  bool not_permitted() const { return error_.find(std::strerror(EPERM)) != std::string::npos; }
  const std::string& path() const { return path_; }

  std::string resize(int size_mib) {
    const std::string options = fmt::format("size={}m,mode=0700", size_mib);
    if (::mount("tmpfs", path_.c_str(), "tmpfs", MS_REMOUNT, options.c_str()) != 0) {
      return fmt::format("remount {}: {}", options, std::strerror(errno));
    }
    return "";
  }
  int64_t free_bytes() const {
    struct statvfs stats {};
    if (::statvfs(path_.c_str(), &stats) != 0) {
      return -1;
    }
    return static_cast<int64_t>(stats.f_bavail) * static_cast<int64_t>(stats.f_frsize);
  }

 private:
  std::string path_;
  std::string error_;
};

// Writes `bytes` of ballast to `path` (less if the file system fills first).
void write_ballast(const std::string& path, int64_t bytes) {
  std::ofstream ballast(path, std::ios::binary);
  const std::string chunk(1 << 20, 'x');
  for (int64_t written = 0; written < bytes && ballast; written += 1 << 20) {
    ballast.write(chunk.data(),
                  static_cast<std::streamsize>(std::min<int64_t>(1 << 20, bytes - written)));
  }
}

// The SQLite store on a small tmpfs (32 MiB): a ballast file takes all but 4 MiB, the load fills
// the rest until the store's writes fail. The server must keep answering meanwhile
// (InternalFailure, 503, throttling: fine; hangs and crashes: not). Then the file system grows to
// 64 MiB and the server must accept again, without a restart. Then the disk is filled once more
// (a second ballast file), the server killed with SIGKILL while its writes fail, the second
// ballast removed, the server restarted on that store: everything it ever accepted must be
// delivered or dead-lettered. The destination does not flap here; the poisoned entries still go
// to the dead-letter queue, which writes to the full store too.
TEST(ChaosTest, SqliteDiskFullThenGrown) {
  Scenario scenario("sqlite-disk-full", /*flapping=*/false);
  const testing::TempDir work("chaos-disk");
  Tmpfs tmpfs(work.path() + "/store", 32);
  if (tmpfs.not_permitted()) {
    GTEST_SKIP() << "cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): " << tmpfs.error();
  }
  ASSERT_EQ(tmpfs.error(), "");
  // Declared after the tmpfs: killed before it is unmounted.
  Server server("disk-full", work.path() + "/node");
  server.write_config(scenario.config(
      fmt::format("Store:\n  Sqlite: {{ Path: {}/hikyaku.db }}\n  MaxQueuedBytes: {}\n",
                  tmpfs.path(), kMaxQueuedBytes)));
  ASSERT_EQ(server.start(), "");
  const int64_t ballast_bytes = tmpfs.free_bytes() - (4 << 20);
  ASSERT_GT(ballast_bytes, 0);
  write_ballast(tmpfs.path() + "/ballast", ballast_bytes);
  std::vector<Server*> servers = {&server};
  MemorySampler sampler(servers);
  // Faster than the others: ~200 entries a second of ~5 KB bodies fill 4 MiB within seconds.
  Load load(scenario.events(), servers, scenario.tally(),
            {.put_period = 50ms, .batch = 10, .webhook_period = 50ms, .cut_period = 200ms});
  enum class Phase {
    kFilling,
    kFull,
    kGrown,
    kRecovered,
    kRefilling,
    kFullAgain,
    kRestarted,
    kEnd
  };
  Phase phase = Phase::kFilling;
  std::chrono::milliseconds since{0};  // when the phase began
  std::chrono::milliseconds full_at{0};
  double recovery_seconds = 0;
  double recovery_after_restart_seconds = 0;
  int64_t accepted_before = 0;
  int64_t failures_before = 0;
  int64_t requests_at_full = 0;
  int64_t requests_while_full = 0;
  std::vector<int> readiness_while_full;
  std::vector<std::string> failures;
  const auto requests = [&] {
    std::lock_guard lock(scenario.tally().mutex);
    return scenario.tally().outcomes["put_events requests"] +
           scenario.tally().outcomes["webhook requests"];
  };
  const auto enter = [&](Phase next, std::chrono::milliseconds now) {
    phase = next;
    since = now;
    accepted_before = scenario.tally().accepted_count;
    failures_before = scenario.tally().store_failures;
  };
  const auto fail = [&](std::string why) {
    failures.push_back(std::move(why));
    return false;
  };
  const double load_seconds = run_load(load, 150s, [&](std::chrono::milliseconds now) {
    if (const std::optional<int> code = server.exited()) {
      return fail(fmt::format("exited by itself with {} at {} ms", *code, now.count()));
    }
    const auto in_phase = now - since;
    switch (phase) {
      case Phase::kFilling:
        if (scenario.tally().store_failures > 0) {
          full_at = now;
          requests_at_full = requests();
          enter(Phase::kFull, now);
        } else if (in_phase > 60s) {
          return fail("the store never failed on the full disk");
        }
        return true;
      case Phase::kFull:
        // The server answers while full: readiness (whatever it says) and the load's requests.
        readiness_while_full.push_back(
            testing::HttpClient::from_url(server.view().url, {.timeout = kClientTimeout})
                .get("/readyz")
                .status);
        if (in_phase >= 4s) {
          requests_while_full = requests() - requests_at_full;
          if (const std::string grown = tmpfs.resize(64); !grown.empty()) {
            return fail(grown);
          }
          enter(Phase::kGrown, now);
        }
        return true;
      case Phase::kGrown:
        if (scenario.tally().accepted_count > accepted_before + 50) {
          recovery_seconds = std::chrono::duration<double>(in_phase).count();
          enter(Phase::kRecovered, now);
        } else if (in_phase > 60s) {
          return fail("no entry accepted within 60 s after the file system grew");
        }
        return true;
      case Phase::kRecovered:
        if (in_phase >= 2s) {
          write_ballast(tmpfs.path() + "/ballast-2", tmpfs.free_bytes() - (1 << 20));
          enter(Phase::kRefilling, now);
        }
        return true;
      case Phase::kRefilling:
        if (scenario.tally().store_failures > failures_before + 20) {
          enter(Phase::kFullAgain, now);
        } else if (in_phase > 60s) {
          return fail("the store never failed on the disk filled again");
        }
        return true;
      case Phase::kFullAgain:
        if (in_phase >= 1s) {
          server.kill();  // while its writes fail
          std::filesystem::remove(tmpfs.path() + "/ballast-2");
          if (!restart(server, failures)) {
            return false;
          }
          enter(Phase::kRestarted, now);
        }
        return true;
      case Phase::kRestarted:
        if (scenario.tally().accepted_count > accepted_before + 50) {
          recovery_after_restart_seconds = std::chrono::duration<double>(in_phase).count();
          enter(Phase::kEnd, now);
        } else if (in_phase > 60s) {
          return fail("no entry accepted within 60 s after the restart");
        }
        return true;
      case Phase::kEnd:
        return in_phase < 2s;
    }
    return false;
  });
  std::cout << fmt::format(
                   "chaos figures [sqlite-disk-full] disk: tmpfs=32 MiB (store left 4 MiB) "
                   "store_failures_seen={} first_failure_after_s={:.1f} "
                   "requests_answered_while_full={} readyz_while_full={} grown_to=64 MiB "
                   "first_accepts_after_grow_s={:.1f} (no restart) refilled_and_killed_while_full "
                   "first_accepts_after_restart_s={:.1f}",
                   scenario.tally().store_failures.load(), full_at.count() / 1000.0,
                   requests_while_full,
                   fmt::join(readiness_while_full.begin(),
                             readiness_while_full.begin() +
                                 std::min<size_t>(readiness_while_full.size(), 5),
                             ","),
                   recovery_seconds, recovery_after_restart_seconds)
            << std::endl;
  // What the server said about its disk (the first distinct messages).
  std::set<std::string> said;
  {
    std::istringstream lines(server.logs());
    std::string line;
    while (std::getline(lines, line) && said.size() < 4) {
      if (!line.starts_with("----") &&
          (line.find("full") != std::string::npos || line.find("space") != std::string::npos)) {
        const size_t at = line.find("] ");
        said.insert(line.substr(at == std::string::npos ? 0 : at + 2, 160));
      }
    }
  }
  std::cout << "chaos figures [sqlite-disk-full] server said:";
  for (const std::string& line : said) {
    std::cout << " {" << line << "}";
  }
  std::cout << std::endl;
  ASSERT_TRUE(failures.empty()) << failures.front() << "\n" << tail(server.logs());
  EXPECT_GT(requests_while_full, 20) << "the server must keep answering while its disk is full";
  for (int status : readiness_while_full) {
    EXPECT_NE(status, 0) << "/readyz did not answer while the disk was full";
  }
  scenario.finish(server.view().url, servers, 120s, load, load_seconds, kMemoryBoundMiB);
  const auto [code, logged] = server.stop();
  EXPECT_EQ(code, 0);
  if (HasFailure()) {
    std::cout << "server log tail:\n" << tail(logged) << std::endl;
  }
}

// Two hikyaku nodes on one nats-server (JetStream store, one replica), killed with SIGKILL in turn
// every 6 s and restarted at once, under the same load and faults. What a killed node had leased
// goes to the other node after AckWait (30 s: the least the Backlog target's 10-s attempt timeout
// allows), so the drain waits longer here.
TEST(ChaosTest, JetStreamKillsNodesFlappingDestinationCutConnectionsAndBacklog) {
  testing::NatsCluster cluster(1);
  ASSERT_EQ(cluster.start(), "");
  Scenario scenario("jetstream");
  const testing::TempDir work("chaos-jetstream");
  const std::string config = scenario.config(fmt::format(
      "Store:\n  Jetstream:\n    Servers: [{}]\n    Replicas: 1\n    AckWaitSeconds: 30\n"
      "  MaxQueuedBytes: {}\n",
      cluster.url(0), kMaxQueuedBytes));
  Server a("node-a", work.path() + "/a");
  Server b("node-b", work.path() + "/b");
  a.write_config(config);
  b.write_config(config);
  ASSERT_EQ(a.start(), "");
  ASSERT_EQ(b.start(), "");
  std::vector<Server*> servers = {&a, &b};
  MemorySampler sampler(servers);
  Load load(scenario.events(), servers, scenario.tally(), {});
  scenario.kill_on_issue_created({10, 60});
  std::vector<std::string> failures;
  int kills = 0;
  const double load_seconds = run_load(load, 30s, [&](std::chrono::milliseconds elapsed) {
    for (Server* server : servers) {
      if (const std::optional<int> code = server->exited()) {
        failures.push_back(fmt::format("{} exited by itself with {} at {} ms", server->name(),
                                       *code, elapsed.count()));
        server->kill();
        return restart(*server, failures);
      }
    }
    if (scenario.kill_requested()) {  // an issue was created: which node asked is unknown
      a.kill();
      b.kill();
      scenario.killed();
      if (!restart(a, failures) || !restart(b, failures)) {
        return false;
      }
    }
    if (elapsed >= std::chrono::seconds(6 * (kills + 1)) && kills < 4) {
      Server& victim = kills % 2 == 0 ? a : b;
      ++kills;
      victim.kill();
      if (!restart(victim, failures)) {
        return false;
      }
    }
    if (elapsed.count() % 7000 < 100) {
      scenario.inject_backlog_failures(3);
    }
    return true;
  });
  ASSERT_TRUE(failures.empty()) << failures.front() << "\n"
                                << tail(a.logs()) << "\n"
                                << tail(b.logs());
  scenario.finish(a.view().url, servers, 150s, load, load_seconds, kMemoryBoundMiB);
  for (Server* server : servers) {
    const auto [code, logged] = server->stop();
    EXPECT_EQ(code, 0) << server->name();
    if (HasFailure()) {
      std::cout << server->name() << " log tail:\n" << tail(logged) << std::endl;
    }
  }
}

}  // namespace
}  // namespace hikyaku
