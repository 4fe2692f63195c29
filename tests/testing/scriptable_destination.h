#pragma once
// A scriptable HTTP destination for delivery tests, on 127.0.0.1:<ephemeral port>, plain HTTP or
// TLS. Each request takes the next scripted response (then the default one), which can answer
// any status with chosen headers and body, after a delay, keeping the connection alive or closing
// it; or misbehave: close or reset (TCP RST) the connection before answering, reset it halfway
// through the response, or never answer. Every request is recorded with its arrival time and the
// connection it came on; connections are counted and served concurrently (a thread each).
//
//   testing::ScriptableDestination destination;
//   destination.script({.status = 429, .headers = {{"Retry-After", "2"}}});
//   destination.set_default({.status = 200});
//   ... deliver to destination.url("/hook") ...
//   ASSERT_TRUE(destination.wait_for_requests(2));
//   EXPECT_EQ(destination.connections_accepted(), 1);  // the retry reused the connection
//
// Waits are on conditions, never on guessed sleeps. Destroying the destination ends every
// connection, hung ones included, and joins its threads.
//
// Thread safety: all methods are thread-safe.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/mutex.h"
#include "testing/http_headers.h"
#include "testing/tls_certificate.h"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace hikyaku::testing {
namespace internal {
class WireStream;
}  // namespace internal

// How a scripted exchange goes wrong.
enum class Fault {
  kNone,               // answer as scripted
  kCloseBeforeAnswer,  // read the request, then close the connection (FIN) without answering
  kResetBeforeAnswer,  // read the request, then reset the connection (RST) without answering
  kResetMidResponse,   // send the head and half of the body (half the head if no body), then RST
  kHang,               // read the request and never answer, until the destination is destroyed
};

struct ScriptedResponse {
  int status = 200;
  std::string reason{};  // empty: the usual phrase for the status
  // Sent in this order. Content-Length is added unless given here (or Transfer-Encoding is).
  std::vector<std::pair<std::string, std::string>> headers{};
  std::string body{};
  std::chrono::milliseconds delay{0};  // waited (real time) after the request, before anything
  bool close = false;                  // send "Connection: close" and close after the response
  Fault fault = Fault::kNone;
  // When not empty, sent verbatim instead of a response built from the fields above (framing
  // tests); `close` still decides whether the connection stays open afterwards.
  std::string raw{};
};

struct RecordedRequest {
  std::string method;
  std::string target;  // path and query, as sent
  std::string path;
  std::string query;                              // after '?'; empty when none
  Headers headers;                                // names lower-cased; lookups ignore case
  std::string body;                               // de-chunked
  std::chrono::steady_clock::time_point arrival;  // request fully read, on the options' clock
  int connection = 0;  // 1 for the first connection accepted, 2 for the second, ...

  std::string header(std::string_view name) const { return header_value(headers, name); }
};

struct DestinationOptions {
  std::optional<TlsFiles> tls{};  // serve HTTPS with this certificate and key
  const Clock* clock = nullptr;   // stamps arrivals; the system clock when null
  // When set, answers every request the script has no response for, instead of the default
  // response: a stand-in for a real service (BacklogStandIn) is this function. It runs on the
  // connection's thread, concurrently for concurrent connections, after the request is recorded.
  std::function<ScriptedResponse(const RecordedRequest&)> responder{};
};

class ScriptableDestination {
 public:
  explicit ScriptableDestination(DestinationOptions options = {});
  ~ScriptableDestination();
  ScriptableDestination(const ScriptableDestination&) = delete;
  ScriptableDestination& operator=(const ScriptableDestination&) = delete;

  uint16_t port() const { return port_; }
  // "http://127.0.0.1:<port><path>" ("https://..." with TLS).
  std::string url(std::string_view path = "/") const;

  // Queues a response for the next request that has none yet.
  void script(ScriptedResponse response) HK_EXCLUDES(mutex_);
  // The response once the script has run out (initially a plain 200 with no body).
  void set_default(ScriptedResponse response) HK_EXCLUDES(mutex_);

  std::vector<RecordedRequest> requests() const HK_EXCLUDES(mutex_);
  size_t request_count() const HK_EXCLUDES(mutex_);
  int connections_accepted() const HK_EXCLUDES(mutex_);
  // Connections still open now.
  int open_connections() const HK_EXCLUDES(mutex_);

  // True once at least `count` requests (connections) arrived; false if `timeout` passed first.
  bool wait_for_requests(size_t count,
                         std::chrono::milliseconds timeout = std::chrono::seconds(20)) const
      HK_EXCLUDES(mutex_);
  bool wait_for_connections(int count,
                            std::chrono::milliseconds timeout = std::chrono::seconds(20)) const
      HK_EXCLUDES(mutex_);

 private:
  struct Worker {
    std::thread thread;
    std::atomic<bool> done{false};
  };
  enum class Ending { kClose, kReset };

  void accept_loop();
  void serve(int fd, int connection);
  Ending converse(internal::WireStream& stream, int connection) HK_EXCLUDES(mutex_);
  ScriptedResponse next_response(const RecordedRequest& request) HK_EXCLUDES(mutex_);
  // Waits `duration` (forever when nullopt); false when the destination is stopping.
  bool pause(std::optional<std::chrono::milliseconds> duration) HK_EXCLUDES(mutex_);

  const Clock& clock_;
  const bool tls_;
  const std::function<ScriptedResponse(const RecordedRequest&)> responder_;
  ssl_ctx_st* tls_context_ = nullptr;
  int listen_fd_ = -1;
  int wake_fds_[2] = {-1, -1};  // a pipe: the destructor wakes the accept loop through it
  uint16_t port_ = 0;

  mutable Mutex mutex_;
  mutable CondVar changed_;
  std::deque<ScriptedResponse> script_ HK_GUARDED_BY(mutex_);
  ScriptedResponse default_ HK_GUARDED_BY(mutex_);
  std::vector<RecordedRequest> requests_ HK_GUARDED_BY(mutex_);
  int accepted_ HK_GUARDED_BY(mutex_) = 0;
  std::set<int> open_fds_ HK_GUARDED_BY(mutex_);
  bool stopping_ HK_GUARDED_BY(mutex_) = false;

  std::list<Worker> workers_;  // the accept loop's alone until it has been joined
  std::thread acceptor_;
};

}  // namespace hikyaku::testing
