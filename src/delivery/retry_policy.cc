#include "delivery/retry_policy.h"

#include <algorithm>

namespace hikyaku::delivery {

Outcome classify(const AttemptResult& result) {
  if (result.invalid_request) {
    return Outcome::kPermanent;
  }
  if (result.http_status == 0) {
    return Outcome::kRetry;  // timeout or connection failure
  }
  if (result.http_status >= 200 && result.http_status < 300) {
    return Outcome::kDelivered;
  }
  if (result.http_status == 429 || result.http_status >= 500) {
    return Outcome::kRetry;
  }
  return Outcome::kPermanent;
}

std::string error_code(const AttemptResult& result) {
  if (result.invalid_request) {
    return "INVALID_PARAMETERS";
  }
  if (result.http_status != 0) {
    return "HTTP_" + std::to_string(result.http_status);
  }
  return result.timed_out ? "TIMEOUT" : "CONNECTION_FAILURE";
}

int64_t Backoff::delay_ms(int attempt, double unit) const {
  int64_t ceiling = base_ms;
  for (int i = 0; i < attempt && ceiling < cap_ms; ++i) {
    ceiling *= 2;
  }
  ceiling = std::min(ceiling, cap_ms);
  return static_cast<int64_t>(unit * static_cast<double>(ceiling));
}

std::string exhausted_condition(const RetryPolicy& policy, int attempts_done,
                                int64_t ingested_at_ms, int64_t next_attempt_at_ms) {
  // MaximumRetryAttempts counts retries: N allows N + 1 attempts in all.
  if (attempts_done > policy.maximum_retry_attempts) {
    return "MaximumRetryAttempts";
  }
  if (next_attempt_at_ms - ingested_at_ms > policy.maximum_event_age_seconds * 1000) {
    return "MaximumEventAgeInSeconds";
  }
  return "";
}

}  // namespace hikyaku::delivery
