#pragma once
// The server's request handling, independent of Beast: routes, the AWS JSON 1.1 operations
// (PutEvents, TestEventPattern, ListRules, DescribeRule, ListTargetsByRule, ListEventBuses), the
// webhook, health, readiness and metrics. server.cc owns the sockets and calls Api::handle() with
// a request already read (size limits applied) and a Respond callback; tests call it directly.
//
//   Api api(config.server, bus, SystemClock::instance(), {});
//   api.handle(std::move(request), [](HttpResponse response) { ... });
//
// This is the only place where a Status becomes an EventBridge wire error (a JSON `__type` /
// `message` body, or a PutEvents entry's ErrorCode / ErrorMessage; docs/putevents.md §4).
//
// Files: api.cc routes and dispatches, put_events.cc is PutEvents, read_operations.cc the
// read-only operations and TestEventPattern, archive_operations.cc archives and replays, webhook.cc
// POST /events/{bus}, auth.h who may call, wire.h the response helpers they share, server_metrics.h
// the counters.
//
// Thread safety: handle() may be called from any number of threads at once (per-thread simdjson
// parsers; counters are atomics). Respond may be invoked on the calling thread before handle()
// returns, or later on the bus's thread: it must be callable from any thread.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bus/archive.h"
#include "bus/event_bus.h"
#include "config/config.h"
#include "core/clock.h"
#include "core/status.h"
#include "server/internal/server_metrics.h"
#include "server/server.h"

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

struct ApiOptions {
  std::function<Status()> readiness;          // GET /readyz; empty = always ready
  std::function<std::string()> metrics_text;  // GET /metrics; empty = only the server's counters
  AdminHandler admin;                         // /admin/v1/...; empty = 404
  bus::Archives* archives = nullptr;          // the archive and replay operations; null = unknown
};

struct Caller;
struct Refusal;

class Api {
 public:
  // `clock` (SigV4 clock skew, PutEvents' default event time) must outlive the Api.
  Api(config::ServerConfig config, bus::EventBus& bus, const Clock& clock, ApiOptions options);

  // Handles one request; calls `respond` exactly once (see the thread-safety note above).
  void handle(const HttpRequest& request, Respond respond);

  // The answer to a request refused from its head alone, its body unread, because
  // Server.Limits.MaxConcurrentRequests requests are in flight: the AWS operations 400
  // ThrottlingException (which SDKs back off on), the webhook 429, anything else 503; the last two
  // with Retry-After. Counted as the bus's overload is.
  HttpResponse too_busy(std::string_view target);

  // Shared with server.cc's connections and with bus callbacks that may outlive the Api.
  const std::shared_ptr<ServerMetrics>& metrics() const { return metrics_; }
  const config::ServerConfig& config() const { return config_; }

 private:
  void handle_aws_json(const HttpRequest& request, Respond& respond);
  HttpResponse dispatch_read_operation(std::string_view operation, const HttpRequest& request,
                                       const std::string& request_id, std::string_view region);
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
  // ListArchives, DescribeArchive, StartReplay, DescribeReplay, ListReplays, CancelReplay
  // (archive_operations.cc); nullopt for any other operation.
  std::optional<HttpResponse> archive_operation(std::string_view operation,
                                                const HttpRequest& request,
                                                const std::string& request_id);
  void handle_webhook(const HttpRequest& request, std::string_view bus_name, Respond& respond);
  void handle_admin(const HttpRequest& request, Respond& respond);

  // An AWS JSON error response, counted by its type.
  HttpResponse aws_error(unsigned status, std::string_view type, std::string_view message,
                         const std::string& request_id);
  // Server.Region, else the caller's SigV4 signing region, else us-east-1.
  std::string region_for(std::string_view signing_region) const;

  config::ServerConfig config_;
  bus::EventBus& bus_;
  const Clock& clock_;
  ApiOptions options_;
  std::shared_ptr<ServerMetrics> metrics_;
  // GET /metrics asks for one of Server.Auth.ApiKeys: Server.Auth is set and Listen is not
  // loopback.
  bool metrics_need_key_;
  bool loopback_listener_;
};

// Epoch seconds -> "YYYY-MM-DDTHH:MM:SSZ". Errors: kInvalidArgument outside years 0001..9999.
Result<std::string> format_event_time(int64_t epoch_seconds);

// AWS's entry size (docs/putevents.md §2.4) of one PutEvents entry.
struct EntrySizeInput {
  bool has_time = false;
  std::string_view source;
  std::string_view detail_type;
  std::string_view detail;
  std::vector<std::string_view> resources;
};
int64_t put_events_entry_size(const EntrySizeInput& entry);

}  // namespace hikyaku::server
