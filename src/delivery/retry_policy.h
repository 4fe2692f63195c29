#pragma once
// The one table that decides what a delivery attempt's result means, following EventBridge's
// API-destination rules (docs/api-destinations.md §5): 2xx delivered; 429, 5xx, timeouts and
// connection failures retried; every other status (1xx, 3xx, 4xx) permanent. Retries use capped
// exponential backoff with full jitter, within MaximumRetryAttempts and MaximumEventAgeInSeconds;
// then the dead-letter queue (§6).
//
// Thread safety: pure functions, except that the jitter is drawn from the Random passed in.

#include <cstdint>
#include <string>

#include "core/random.h"
#include "delivery/endpoint.h"

namespace hikyaku::delivery {

enum class Outcome { kDelivered, kRetry, kPermanent };

// A finished attempt: an HTTP status (0 when no response arrived) and, without a response, the
// transport error.
struct AttemptResult {
  int http_status = 0;
  bool timed_out = false;
  std::string error;  // transport error text, already free of secrets
  // The request could not be built for this job (build_request(), request.h): nothing was sent,
  // and nothing ever will be. Permanent, ERROR_CODE INVALID_PARAMETERS.
  bool invalid_request = false;
};

Outcome classify(const AttemptResult& result);

// The DLQ's ERROR_CODE for a failed attempt: "HTTP_<status>", "TIMEOUT", "CONNECTION_FAILURE" or
// "INVALID_PARAMETERS".
std::string error_code(const AttemptResult& result);

struct Backoff {
  int64_t base_ms = 1000;
  int64_t cap_ms = 600'000;
  // Delay before attempt number `attempt` (1 = the first retry): `unit` (in [0, 1)) of the way
  // into [0, min(cap, base * 2^attempt)].
  int64_t delay_ms(int attempt, double unit) const;
  // The same with the jitter drawn from `random` (Random::unit()).
  int64_t delay_ms(int attempt, Random& random) const { return delay_ms(attempt, random.unit()); }
};

// What to do with a job that failed retryably after `attempts_done` attempts (this one included).
// Returns "" to retry, or the EXHAUSTED_RETRY_CONDITION that ends it.
std::string exhausted_condition(const RetryPolicy& policy, int attempts_done,
                                int64_t ingested_at_ms, int64_t next_attempt_at_ms);

}  // namespace hikyaku::delivery
