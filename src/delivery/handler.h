#pragma once
// A target delivered by code rather than by one HTTP request: the Backlog target reads its ticket
// ledger, then creates, comments on, closes or reopens an issue (integrations/backlog/).
//
// The dispatcher treats such a delivery like an API destination's (dispatcher.h): it waits its
// turn in the queue of Endpoint::destination (rate limit, requests in flight, pauses learnt from
// Retry-After and X-RateLimit-* answers), is attempted under the job's lease, and its outcome is
// completed, retried or dead-lettered by the same rules (retry_policy.h), with the same metrics
// and log lines. What differs: the attempt runs on one of the dispatcher's handler threads
// (Dispatcher::Options::handler_threads), where deliver() may block on its HTTP exchanges and on
// the store.
//
// Thread safety: deliver() is called from several handler threads at once.

#include <cstdint>
#include <string>

#include "delivery/request.h"
#include "delivery/retry_policy.h"
#include "store/store.h"

namespace hikyaku::delivery {

struct HandlerOutcome {
  Outcome outcome = Outcome::kDelivered;
  // The attempt's last exchange: its status or transport error gives the ERROR_CODE
  // (error_code()) unless `error_code` is set.
  AttemptResult result;
  std::string error_code;
  std::string detail;            // why it failed; the dispatcher redacts it
  std::string response_excerpt;  // the start of the failing answer, if any
  // What the last answer of the destination's paced kind said about pacing (request.h); a 429's
  // hints pause the destination as an API destination's would.
  ResponseHints hints;
  int64_t not_before_ms = 0;  // kRetry: not before this (wall-clock ms), e.g. another's lease
};

class DeliveryHandler {
 public:
  virtual ~DeliveryHandler() = default;
  // One attempt at `claim`'s job. It must end by `deadline_ms` (wall-clock ms; within the lease).
  virtual HandlerOutcome deliver(const store::Claim& claim, int64_t deadline_ms) = 0;
};

}  // namespace hikyaku::delivery
