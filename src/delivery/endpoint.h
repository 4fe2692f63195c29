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
// Connection secrets (auth headers, IsValueSecret parameters) live only here and are applied at
// send time; they are never part of a job's stored body.
//
// Immutable once published; thread-safe to read.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/redact.h"
#include "core/secret.h"

namespace hikyaku::delivery {

struct RetryPolicy {
  int maximum_retry_attempts = 185;  // 0 = exactly one attempt
  int64_t maximum_event_age_seconds = 86400;
};

struct Endpoint {
  enum class Kind { kHttp, kLog };
  Kind kind = Kind::kHttp;
  std::string rule;  // for log lines and messages
  std::string target_id;

  // kHttp: an API destination. `url` may embed a secret (Backlog's apiKey, an IsValueSecret
  // query parameter): show it only through `redactor`.
  std::string destination;  // the API destination's name
  std::string method = "POST";
  std::string url;
  std::string content_type = "application/json; charset=utf-8";
  std::vector<std::pair<std::string, Secret>> headers;  // connection auth and parameters
  int rate_limit_per_second = 300;

  // kLog
  std::string log_path;

  RetryPolicy retry_policy;

  // Shared by every endpoint of one config; null applies the name rules only.
  std::shared_ptr<const Redactor> redactor;
};

using Endpoints = std::map<std::string, Endpoint, std::less<>>;

}  // namespace hikyaku::delivery
