#include "server/internal/server_metrics.h"

#include <cstddef>

namespace hikyaku::server {
namespace {

constexpr std::array<std::string_view, 2> kPathLabels = {"put_events", "webhook"};
constexpr size_t kInternalFailure = 3;  // kEntryErrorCodes[3]
static_assert(ServerMetrics::kEntryErrorCodes[kInternalFailure] == "InternalFailure");

constexpr const char* kAccepted = "hikyaku_ingest_entries_accepted_total";
constexpr const char* kAcceptedHelp = "Entries accepted (durably committed), by ingest path.";
constexpr const char* kRejected = "hikyaku_ingest_entries_rejected_total";
constexpr const char* kRejectedHelp =
    "Entries rejected, by ingest path and EventBridge error code.";
constexpr const char* kThrottled = "hikyaku_ingest_requests_throttled_total";
constexpr const char* kThrottledHelp =
    "Requests refused as a whole because the server is overloaded (PutEvents "
    "ThrottlingException, webhook 429), by ingest path.";
constexpr const char* kRequestErrors = "hikyaku_http_request_errors_total";
constexpr const char* kRequestErrorsHelp = "Requests refused as a whole, by error type (__type).";

size_t index_of(IngestPath path) { return path == IngestPath::kPutEvents ? 0 : 1; }

}  // namespace

ServerMetrics::ServerMetrics()
    : requests_total(registry_.counter("hikyaku_http_requests_total", "HTTP requests handled.")),
      connections_active(
          registry_.gauge("hikyaku_http_connections_active", "Open client connections.")),
      connections_accepted(registry_.counter("hikyaku_http_connections_accepted_total",
                                             "Client connections accepted.")),
      connections_refused(registry_.counter(
          "hikyaku_http_connections_refused_total",
          "Connections closed at once because Server.Limits.MaxConnections was reached.")),
      requests_in_flight(registry_.gauge("hikyaku_http_requests_in_flight",
                                         "Requests read or being handled, each holding one of "
                                         "Server.Limits.MaxConcurrentRequests.")),
      request_timeouts(registry_.counter(
          "hikyaku_http_request_timeouts_total",
          "Connections cut off for not sending a whole request within the request timeout.")),
      malformed_requests(
          registry_.counter("hikyaku_http_malformed_requests_total",
                            "Connections closed for malformed HTTP or failed TLS handshakes.")) {
  for (size_t path = 0; path < kPathLabels.size(); ++path) {
    const std::string label(kPathLabels[path]);
    accepted_[path] = &registry_.counter(kAccepted, kAcceptedHelp, {{"path", label}});
    throttled_[path] = &registry_.counter(kThrottled, kThrottledHelp, {{"path", label}});
    for (size_t code = 0; code < kEntryErrorCodes.size(); ++code) {
      rejected_[path][code] = &registry_.counter(
          kRejected, kRejectedHelp,
          {{"path", label}, {"error_code", std::string(kEntryErrorCodes[code])}});
    }
  }
  for (size_t type = 0; type < kRequestErrorTypes.size(); ++type) {
    request_errors_[type] =
        &registry_.counter(kRequestErrors, kRequestErrorsHelp,
                           {{"error_type", std::string(kRequestErrorTypes[type])}});
  }
}

void ServerMetrics::count_entry_accepted(IngestPath path) { accepted_[index_of(path)]->add(); }

void ServerMetrics::count_throttled_request(IngestPath path) { throttled_[index_of(path)]->add(); }

void ServerMetrics::count_entry_error(IngestPath path, std::string_view code) {
  auto& counters = rejected_[index_of(path)];
  for (size_t i = 0; i < kEntryErrorCodes.size(); ++i) {
    if (kEntryErrorCodes[i] == code) {
      counters[i]->add();
      return;
    }
  }
  counters[kInternalFailure]->add();
}

void ServerMetrics::count_request_error(std::string_view type) {
  for (size_t i = 0; i < kRequestErrorTypes.size(); ++i) {
    if (kRequestErrorTypes[i] == type) {
      request_errors_[i]->add();
      return;
    }
  }
  request_errors_.back()->add();
}

}  // namespace hikyaku::server
