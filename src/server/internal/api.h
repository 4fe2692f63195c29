#pragma once
// The server's request handling, independent of Beast: routes, the AWS JSON 1.1 operations
// (PutEvents, TestEventPattern, ListRules, DescribeRule, ListTargetsByRule, ListEventBuses), the
// webhook, health, readiness and metrics. server.cc owns the sockets and calls Api::handle() with
// a request already read (size limits applied) and a Respond callback.
//
// This is the only place where a Status becomes an EventBridge wire error (a JSON `__type` /
// `message` body, or a PutEvents entry's ErrorCode / ErrorMessage).
//
// Thread safety: handle() may be called from any number of threads at once (per-thread simdjson
// parsers; counters are atomics). Respond may be invoked on the calling thread before handle()
// returns, or later on the bus's thread: it must be callable from any thread.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bus/event_bus.h"
#include "config/config.h"
#include "core/status.h"

namespace hikyaku::server {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query as received ("/", "/events/default?x=1")
  std::vector<std::pair<std::string, std::string>> headers;  // arrival order, names as received
  std::string body;

  // The first header named `name` (case-insensitive), or nullptr.
  const std::string* header(std::string_view name) const;
};

struct HttpResponse {
  unsigned status = 200;
  std::string content_type;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers (x-amzn-RequestId)
};

// Called exactly once per request, from any thread.
using Respond = std::function<void(HttpResponse)>;

using Clock = std::function<std::chrono::system_clock::time_point()>;

// Counters for /metrics. All relaxed atomics: read without locks, approximate across threads.
struct Metrics {
  // PutEvents / webhook entry outcomes. Error codes are a fixed list (kEntryErrorCodes).
  static constexpr std::array<std::string_view, 5> kEntryErrorCodes = {
      "InvalidArgument", "MalformedDetail", "NotAuthorizedForSourceException", "InternalFailure",
      "ThrottlingException"};
  // Whole-request errors by __type; anything else counts as "Other".
  static constexpr std::array<std::string_view, 14> kRequestErrorTypes = {
      "ValidationException",
      "SerializationException",
      "UnknownOperationException",
      "InvalidEventPatternException",
      "ResourceNotFoundException",
      "MissingAuthenticationTokenException",
      "IncompleteSignatureException",
      "UnrecognizedClientException",
      "InvalidSignatureException",
      "AccessDeniedException",
      "RequestEntityTooLargeException",
      "RequestHeaderFieldsTooLarge",
      "ServiceUnavailable",
      "Other"};

  std::atomic<uint64_t> put_events_entries_accepted{0};
  std::array<std::atomic<uint64_t>, kEntryErrorCodes.size()> put_events_entries_rejected{};
  std::atomic<uint64_t> webhook_events_accepted{0};
  std::array<std::atomic<uint64_t>, kEntryErrorCodes.size()> webhook_events_rejected{};
  std::array<std::atomic<uint64_t>, kRequestErrorTypes.size()> request_errors{};
  std::atomic<uint64_t> requests_total{0};
  // Connection-level counters, maintained by server.cc.
  std::atomic<int64_t> connections_active{0};
  std::atomic<uint64_t> connections_accepted{0};
  std::atomic<uint64_t> connections_refused{0};  // over Server.Limits.MaxConnections
  std::atomic<uint64_t> request_timeouts{0};     // requests not read within the timeout
  std::atomic<uint64_t> malformed_requests{0};   // HTTP framing errors, TLS handshake failures

  void count_entry_error(bool webhook, std::string_view code);
  void count_request_error(std::string_view type);

  // Prometheus text exposition (format 0.0.4), names prefixed hikyaku_.
  std::string text() const;
};

struct ApiOptions {
  Clock clock;                                // default: system_clock::now
  std::function<Status()> readiness;          // GET /readyz; empty = always ready
  std::function<std::string()> metrics_text;  // GET /metrics; empty = only the server's counters
};

class Api {
 public:
  Api(config::ServerConfig config, bus::EventBus& bus, ApiOptions options);

  // Handles one request; calls `respond` exactly once (see the thread-safety note above).
  void handle(HttpRequest request, Respond respond);

  const std::shared_ptr<Metrics>& metrics() const { return metrics_; }
  const config::ServerConfig& config() const { return config_; }

 private:
  struct Caller;  // who signed the request

  void handle_aws_json(HttpRequest& request, Respond& respond);
  void put_events(const HttpRequest& request, const Caller& caller, std::string request_id,
                  Respond& respond);
  HttpResponse test_event_pattern(const HttpRequest& request, const std::string& request_id);
  HttpResponse list_rules(const HttpRequest& request, const std::string& request_id,
                          std::string_view region);
  HttpResponse describe_rule(const HttpRequest& request, const std::string& request_id,
                             std::string_view region);
  HttpResponse list_targets_by_rule(const HttpRequest& request, const std::string& request_id,
                                    std::string_view region);
  HttpResponse list_event_buses(const HttpRequest& request, const std::string& request_id,
                                std::string_view region);
  void handle_webhook(const HttpRequest& request, std::string_view bus_name, Respond& respond);

  HttpResponse aws_error(unsigned status, std::string_view type, std::string_view message,
                         const std::string& request_id);
  // Server.Region, else the caller's SigV4 signing region, else us-east-1.
  std::string region_for(std::string_view signing_region) const;

  config::ServerConfig config_;
  bus::EventBus& bus_;
  ApiOptions options_;
  std::shared_ptr<Metrics> metrics_;
};

// Epoch seconds -> "YYYY-MM-DDTHH:MM:SSZ". Errors: kInvalidArgument outside years 0001..9999.
Result<std::string> format_event_time(int64_t epoch_seconds);

// AWS's entry size (reference §2.4) of one PutEvents entry.
struct EntrySizeInput {
  bool has_time = false;
  std::string_view source;
  std::string_view detail_type;
  std::string_view detail;
  std::vector<std::string_view> resources;
};
int64_t put_events_entry_size(const EntrySizeInput& entry);

// True for loopback listen hosts: 127.0.0.0/8, ::1, localhost.
bool is_loopback_host(std::string_view host);

}  // namespace hikyaku::server
