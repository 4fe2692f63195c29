#pragma once
// hikyaku::server — the HTTP front of the event bus (Boost.Beast on Asio, HTTP/1.1, keep-alive,
// optional TLS). A thin adapter: it authenticates, validates and translates requests, hands
// envelopes to bus::EventBus::ingest() and answers when the bus has committed them.
//
// Routes (one listener, Server.Listen):
//   POST /  X-Amz-Target: AWSEvents.<Op>   AWS JSON 1.1: PutEvents, TestEventPattern, ListRules,
//                                          DescribeRule, ListTargetsByRule, ListEventBuses;
//                                          with ServerOptions::archives ListArchives,
//                                          DescribeArchive, StartReplay, DescribeReplay,
//                                          ListReplays, CancelReplay.
//                                          SigV4-verified when Server.Auth is configured.
//   POST /events/{bus}                     one raw envelope (an EventBridge API destination);
//                                          Server.Auth.ApiKeys header, constant-time compare;
//                                          401 missing / 403 wrong; 200 {"EventId": "..."}.
//   GET  /healthz                          200 "ok" while the process serves.
//   GET  /readyz                           200 / 503 from ServerOptions::readiness.
//   GET  /metrics                          ServerOptions::metrics_text() (Prometheus text); open on
//                                          a loopback listener, else needs an Auth.ApiKeys header.
//   *    /admin/v1/...                     ServerOptions::admin (the operators' JSON API,
//                                          docs/operations.md): one of Server.Auth.AdminApiKeys'
//                                          headers (constant-time compare; 401 missing / 403
//                                          wrong); without AdminApiKeys only on a loopback
//                                          listener (403 otherwise).
//   GET  /console, /console/{file}         the web console (docs/console.md): static files built
//                                          into the binary, no data, no key; present when
//                                          ServerOptions::admin is.
//
// Example (the composition root, `hikyaku serve`):
//
//   server::ServerOptions options;
//   options.readiness = [&] { return store.ping(); };
//   options.metrics_text = [&] { return bus_metrics() + srv->server_metrics_text(); };
//   const Clock& clock = SystemClock::instance();
//   auto srv = std::make_unique<server::Server>(config.server, bus, clock, std::move(options));
//   HK_ASSIGN_OR_RETURN(uint16_t port, srv->start());
//   ... wait for SIGTERM ...
//   srv->stop(clock.steady_now() + std::chrono::seconds(10));
//
// Limits (Server.Limits): MaxHeaderBytes (431), MaxBodyBytes (413), MaxConnections (further
// connections are closed at once and counted), MaxConcurrentRequests (a request that may carry a
// body, arriving while that many are between their head and their answer, is answered from its
// head alone, its body read and dropped: PutEvents ThrottlingException, webhook 429, others 503;
// the connection stays open), RequestTimeoutSeconds (a whole request, headers and
// body, must arrive within it, and an idle keep-alive connection is closed after it: slowloris
// clients are cut off without holding an io thread). PutEvents: MaxEntryBytes with AWS's entry
// size rule; at most 10 entries.
//
// Security: with no Server.Auth section every route is open and start() refuses a non-loopback
// Server.Listen. With an Auth section, POST / needs a valid SigV4 signature from one of
// Auth.SigV4.Credentials (none configured = every AWS API call is refused with 403), and
// /events/{bus} needs one of Auth.ApiKeys' headers (none configured = 401). A credential's
// AllowedSources ("exact" or "prefix*"; empty = any, aws.* included) restricts the sources it may
// publish: PutEvents answers NotAuthorizedForSourceException per entry, the webhook 403. Secrets
// (Authorization headers, API keys, secret access keys) never reach logs, errors or metrics.
//
// PutEvents details (docs/putevents.md §2): the entry size rule sums over all entries of the
// request and refuses (400 ValidationException) when the total is over MaxEntryBytes (a total
// exactly at the limit is accepted). Events get version "0", a new UUIDv4 id, Time (epoch seconds,
// or an RFC 3339 string) or now, Server.Account, and Server.Region (else the SigV4 signing region,
// else us-east-1). EventBusName may be a name or an ARN; entries are grouped per bus, one ingest()
// per bus, answered in entry order. Detail may nest at most kMaxEventNestingDepth - 1 levels
// (MalformedDetail otherwise, that entry alone). Bus failures become per-entry errors:
// kResourceExhausted -> ThrottlingException, kUnavailable/kDeadlineExceeded/kInternal ->
// InternalFailure (both retryable), anything else -> InvalidArgument (final); when every entry is
// throttled the whole request answers 400 ThrottlingException, which SDKs back off on. The
// webhook answers 400 / 429 / 503 for the same three.
//
// Framing: a request whose body length is ambiguous (Transfer-Encoding other than a lone
// "chunked", with Content-Length or in HTTP/1.0; a repeated or non-digit Content-Length; obs-fold;
// not exactly one Host) is answered 400 (501 for an unimplemented coding) and its connection
// closed (docs/putevents.md §4.1).
//
// Threads: `io_threads` Asio threads; request handling never blocks them (ingest is
// asynchronous; its callback posts the response back to the connection's strand). An exception
// escaping a handler is a bug and aborts the process (core/check.h).
//
// Thread safety: start() and stop() are externally synchronized (call them from one thread);
// server_metrics_text() and port() are thread-safe. The EventBus must outlive the Server and
// should not call an IngestDone after the Server is destroyed (a late call is harmless for
// memory safety but its response is dropped).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "bus/archive.h"
#include "bus/event_bus.h"
#include "config/config.h"
#include "core/clock.h"
#include "core/status.h"

namespace hikyaku::server {

// A call of the admin API (/admin/v1/...), authenticated already, for ServerOptions::admin.
struct AdminRequest {
  std::string method;
  std::string path;   // after "/admin/v1", e.g. "/dead-letters/42"
  std::string query;  // after '?', undecoded; "" = none
  std::string body;
};
struct AdminAnswer {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
};
// Answers one admin call; calls `answer` exactly once, from any thread. Must not block the
// calling io thread (run the work elsewhere).
using AdminHandler =
    std::function<void(AdminRequest request, std::function<void(AdminAnswer)> answer)>;

struct ServerOptions {
  // GET /metrics body. Empty: the server's own counters (server_metrics_text()). Called on an io
  // thread for every scrape: must be quick and must not block.
  std::function<std::string()> metrics_text;
  // GET /readyz: ok -> 200, otherwise 503 with the message. Empty: always ready. Called on an io
  // thread: must not block (check a flag or a cached probe, not a slow store round trip).
  std::function<Status()> readiness;
  // The admin API (/admin/v1/...), called once the caller is authenticated (see above). Empty:
  // those paths answer 404.
  AdminHandler admin;
  // Number of Asio threads; 0 = std::thread::hardware_concurrency() (at least 1).
  int io_threads = 0;
  // ListArchives, DescribeArchive, StartReplay, DescribeReplay, ListReplays and CancelReplay are
  // answered from it (it must outlive the Server); null: they are unknown operations. Its calls
  // run on an io thread and must be short (a few store reads or one compare-and-set).
  bus::Archives* archives = nullptr;
};

class Server {
 public:
  // `clock` (SigV4 clock skew, PutEvents' default event time, stop()'s deadline) must outlive the
  // Server.
  Server(config::ServerConfig config, bus::EventBus& bus, const Clock& clock,
         ServerOptions options = {});
  // With SystemClock::instance().
  Server(config::ServerConfig config, bus::EventBus& bus, ServerOptions options = {});
  ~Server();  // stop()s with a zero deadline if still running
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Checks the Server section with config::check_server_config() (exactly what `hikyaku
  // validate` checks), binds Server.Listen ("host:port", "[v6]:port"; port 0 picks a free port),
  // loads the TLS certificate when Server.Tls is set, and starts the io threads. Returns the
  // bound port. Errors: kFailedPrecondition when already started; kInvalidArgument for what
  // check_server_config() refuses (a malformed Listen, a non-loopback Listen without
  // Server.Auth, unreadable TLS files) or an invalid certificate or key; kUnavailable when the
  // address cannot be bound.
  Result<uint16_t> start();

  // Stops accepting, closes idle connections, lets in-flight requests finish and answer (their
  // connections then close), and waits for that until the clock's steady_now() reaches
  // `deadline`; then stops the io threads, cutting whatever is left. Idempotent.
  void stop(std::chrono::steady_clock::time_point deadline);

  // The bound port (0 before start()).
  uint16_t port() const;

  // Prometheus text (format 0.0.4) for the server's counters: ingest entries accepted/rejected
  // by error code and path, request errors by __type, connections, timeouts. Names start with
  // hikyaku_ and are snake_case.
  std::string server_metrics_text() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hikyaku::server
