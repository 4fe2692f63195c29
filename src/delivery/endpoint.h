#pragma once
// Where a delivery job goes: the resolved form of a rule target, keyed like the job's `target`
// ("<bus>/<rule>/<target id>"). Built by the composition root from the config; delivery knows
// nothing of patterns, transformers or the config file.
//
// Every text the delivery engine records or shows about an endpoint (retry and dead-letter
// error messages, metrics labels) passes the endpoint's `redactor`, built from every configured
// secret value: a destination that echoes the URL, a header or the body in its error answer
// cannot put a secret into the store.
//
// Connection secrets (auth headers, IsValueSecret parameters) and the target's literal
// HttpParameters live only here and are applied at send time by build_request() (request.h);
// they are never part of a job's stored body or headers. Only the target's JSONPath values,
// resolved from the event at ingest, travel with the job (store::Job::headers, shape in
// request.h).
//
// Immutable once published; thread-safe to read.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/redact.h"
#include "core/secret.h"

namespace hikyaku::delivery {

struct OAuthSettings;   // oauth.h
class DeliveryHandler;  // handler.h

struct RetryPolicy {
  int maximum_retry_attempts = 185;  // 0 = exactly one attempt
  int64_t maximum_event_age_seconds = 86400;
};

// One value of a target's HttpParameters: a literal (in `value`) or a JSONPath into the event,
// resolved at ingest and looked up in the job's headers (request.h says under which name).
struct TargetParameter {
  std::string key;        // header or query name; empty for a path value
  Secret value;           // the literal; empty when `json_path` is set
  std::string json_path;  // "$.detail.x" when the value comes from the event; else empty
  bool from_event() const { return !json_path.empty(); }
};

struct Endpoint {
  // kHttp: an API destination; kLog: a file; kHandler: code (handler.h), paced like kHttp.
  enum class Kind { kHttp, kLog, kHandler };
  enum class BodyEncoding { kJson, kForm };
  Kind kind = Kind::kHttp;
  std::string rule;  // for log lines and messages
  std::string target_id;

  // kHttp: an API destination. `url` is InvocationEndpoint as configured: its path may hold `*`
  // wildcards, and it may embed a secret (Backlog's apiKey): show it only through `redactor`.
  std::string destination;  // the API destination's name
  std::string method = "POST";
  std::string url;
  BodyEncoding body_encoding = BodyEncoding::kJson;  // the target's BodyEncoding
  // The connection's, in precedence order: its authorization header (API key, Basic) first,
  // then its InvocationHttpParameters header parameters.
  std::vector<std::pair<std::string, Secret>> headers;
  std::vector<std::pair<std::string, Secret>> query_parameters;  // connection's
  std::vector<std::pair<std::string, Secret>> body_parameters;   // connection's
  // The target's HttpParameters.
  std::vector<TargetParameter> path_parameters;  // one per `*` in the path, in order
  std::vector<TargetParameter> header_parameters;
  std::vector<TargetParameter> query_string_parameters;
  int rate_limit_per_second = 300;
  int max_in_flight =
      0;  // requests at once; 0 = Dispatcher::Options::max_in_flight_per_destination
  long timeout_ms = 5000;  // the whole exchange (ApiDestinations[].TimeoutSeconds)
  std::string ca_file;     // PEM CA bundle trusted instead of the system store; "" = system
  // An OAUTH_CLIENT_CREDENTIALS connection: where its bearer token comes from (null: none).
  std::shared_ptr<const OAuthSettings> oauth;

  // kLog
  std::string log_path;

  // kHandler: delivers each job (`destination` names its pacing queue; rate_limit_per_second,
  // max_in_flight, timeout_ms and retry_policy apply as for kHttp).
  std::shared_ptr<DeliveryHandler> handler;

  RetryPolicy retry_policy;
  // The key of the endpoint each dead letter of this one is also sent to, as a JSON document
  // (DeadLetterConfig naming an API destination; dead_letter.h); "" = none.
  std::string dead_letter_target;

  // Shared by every endpoint of one config; null applies the name rules only.
  std::shared_ptr<const Redactor> redactor;
};

using Endpoints = std::map<std::string, Endpoint, std::less<>>;

// `text` through `endpoint`'s redactor; the name rules only when there is none (or no endpoint:
// a target removed by a reload).
inline std::string redacted(const Endpoint* endpoint, std::string_view text) {
  if (endpoint != nullptr && endpoint->redactor != nullptr) {
    return endpoint->redactor->redact(text);
  }
  return redact_url(text);
}

}  // namespace hikyaku::delivery
