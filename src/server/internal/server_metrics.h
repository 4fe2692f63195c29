#pragma once
// The server's counters for GET /metrics, kept in a MetricsRegistry of their own (the names and
// labels below are read by dashboards and tests: do not rename them).
//
//   hikyaku_ingest_entries_accepted_total{path}              counter  path: put_events | webhook
//   hikyaku_ingest_entries_rejected_total{path,error_code}   counter  error_code: kEntryErrorCodes
//   hikyaku_ingest_requests_throttled_total{path}            counter  answered ThrottlingException
//                                                                     (PutEvents, whole request) or
//                                                                     429 (webhook): overload
//   hikyaku_http_requests_total                              counter
//   hikyaku_http_request_errors_total{error_type}            counter  error_type:
//   kRequestErrorTypes hikyaku_http_connections_active                          gauge
//   hikyaku_http_connections_accepted_total                  counter
//   hikyaku_http_connections_refused_total                   counter  over MaxConnections
//   hikyaku_http_requests_in_flight                          gauge    holding one of
//                                                                     MaxConcurrentRequests
//   hikyaku_http_request_timeouts_total                      counter  request not read in time
//   hikyaku_http_malformed_requests_total                    counter  bad framing, TLS handshake
//
// Every label value is registered up front, so a scrape shows zeros rather than missing series.
//
// Thread safety: thread-safe (atomic counters; the registry locks only to render).

#include <array>
#include <string>
#include <string_view>

#include "core/metrics.h"

namespace hikyaku::server {

enum class IngestPath { kPutEvents, kWebhook };

class ServerMetrics {
 public:
  // PutEvents / webhook entry outcomes; any other code counts as InternalFailure.
  static constexpr std::array<std::string_view, 5> kEntryErrorCodes = {
      "InvalidArgument", "MalformedDetail", "NotAuthorizedForSourceException", "InternalFailure",
      "ThrottlingException"};
  // Whole-request errors by __type; anything else counts as "Other".
  static constexpr std::array<std::string_view, 15> kRequestErrorTypes = {
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
      "ThrottlingException",
      "Other"};

  ServerMetrics();
  ServerMetrics(const ServerMetrics&) = delete;
  ServerMetrics& operator=(const ServerMetrics&) = delete;

  void count_entry_accepted(IngestPath path);
  void count_entry_error(IngestPath path, std::string_view code);
  void count_request_error(std::string_view type);
  void count_throttled_request(IngestPath path);

  // Prometheus text (format 0.0.4).
  std::string render() const { return registry_.render(); }

 private:
  MetricsRegistry registry_;  // first: the references below point into it

 public:
  Counter& requests_total;
  // Maintained by server.cc.
  Gauge& connections_active;
  Counter& connections_accepted;
  Counter& connections_refused;
  Gauge& requests_in_flight;
  Counter& request_timeouts;
  Counter& malformed_requests;

 private:
  std::array<Counter*, 2> accepted_{};   // by IngestPath
  std::array<Counter*, 2> throttled_{};  // by IngestPath
  std::array<std::array<Counter*, kEntryErrorCodes.size()>, 2> rejected_{};
  std::array<Counter*, kRequestErrorTypes.size()> request_errors_{};
};

}  // namespace hikyaku::server
