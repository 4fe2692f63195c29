#pragma once
// What a dead letter records of the delivery that failed, beside the store's fields
// (docs/api-destinations.md §6): the request of the last attempt, secrets masked, and the JSON
// document a letter becomes when the target's DeadLetterConfig names an API destination.
//
//   reason.request = recorded_request(endpoint, claim.job);
//   forward.body = dead_letter_document(facts);
//
// Thread safety: pure functions of their arguments.

#include <optional>
#include <string>

#include "delivery/endpoint.h"
#include "store/store.h"

namespace hikyaku::delivery {

// The request an attempt of `job` sends to `endpoint` (an API destination), as compact JSON:
//   {"Method":"POST","Url":"https://...","Headers":{"Content-Type":"..."},"Body":"..."}
// without secrets: the URL and everything else pass the endpoint's redactor; the value of every
// connection header (its authorization and header parameters) and of every header whose name is
// credential-like is "***"; an OAuth connection's bearer token shows as "Bearer ***". A request
// that cannot be built (INVALID_PARAMETERS) is recorded with its method and URL only.
std::string recorded_request(const Endpoint& endpoint, const store::Job& job);

// A dead letter as the document sent to a dead-letter destination.
struct DeadLetterFacts {
  const Endpoint* endpoint = nullptr;  // the target's; null when it is gone
  const store::Job* job = nullptr;
  const store::DeadLetterReason* reason = nullptr;
  int attempts = 0;                  // attempts made, the last one included
  std::optional<std::string> event;  // the original event (JSON), when kept
  int64_t dead_lettered_at_ms = 0;
};

// {"Rule":..., "Target":..., "TargetKey":..., "Destination":..., "EventId":...,
//  "ErrorCode":..., "ErrorMessage":..., "ExhaustedRetryCondition":..., "RetryAttempts": n,
//  "HttpStatus": n | null, "ResponseExcerpt":..., "DeadLetteredAt":"<RFC 3339>",
//  "Request": {recorded_request} | null, "Body": "<the rendered body>", "Event": {...} | null}
// RetryAttempts counts the attempts after the first, as EventBridge's RETRY_ATTEMPTS does. Every
// text but the event passes the endpoint's redactor (the reason's are redacted already).
std::string dead_letter_document(const DeadLetterFacts& facts);

}  // namespace hikyaku::delivery
