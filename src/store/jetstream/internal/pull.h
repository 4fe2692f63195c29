#pragma once
// Pulls from a JetStream consumer over a plain NATS subscription, and settles what it pulled by
// JetStream's acknowledgement protocol (docs/jetstream.md, "Fetching").
//
// cnats has this built in (natsSubscription_FetchRequest), but the Debian 12 build (3.4.1)
// overruns its result array when a fetch begins with more than half its batch already received
// (answers to an earlier fetch that gave up waiting): heap corruption under load. Here a pull
// asks the server for at most what its caller can take, reads until the server's closing status,
// and keeps whatever comes after it gave up for the next pull.
//
// Thread safety: one pull at a time per Puller (callers serialize); the acknowledgement
// functions are thread-safe.

#include <nats/nats.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace hikyaku::store::internal {

class Puller {
 public:
  // What one pull took: messages in the order received, each the caller's to settle and destroy.
  struct Pulled {
    std::vector<natsMsg*> messages;
    // No later than the server delivered any of them: the consumer's AckWait began after it.
    std::chrono::steady_clock::time_point requested_at;
  };

  // Subscribes to a fresh inbox for the answers of `consumer` of `stream`.
  static Result<std::unique_ptr<Puller>> open(natsConnection* connection, std::string_view stream,
                                              std::string_view consumer);
  // Hands back (NAK) what arrived and was never pulled, then unsubscribes.
  ~Puller();
  Puller(const Puller&) = delete;
  Puller& operator=(const Puller&) = delete;

  // Up to `batch` messages: first those already received (late answers to an earlier pull), then
  // what the consumer has now; when it has nothing, the first that arrive within `expires_ms`
  // (JetStream's no-wait pull with an expiry). Gives up on the server's answer `grace_ms` after
  // the expiry; what arrives later waits for the next pull. kUnavailable when no server answers
  // for JetStream.
  Result<Pulled> pull(int batch, int64_t expires_ms, int64_t grace_ms);

 private:
  Puller(natsConnection* connection, std::string next_subject, std::string inbox,
         natsSubscription* answers);

  // One received message: kept (a delivery), dropped (a status of another pull), or it ends
  // this pull (its status: no more messages, expired, or an error).
  enum class Received { kDelivery, kIgnored, kEnd, kNoResponders };
  Received classify(natsMsg* message, std::string_view current_reply) const;

  natsConnection* connection_;
  std::string next_subject_;  // $JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>
  std::string inbox_;         // the answers come to <inbox>.<pull number>
  natsSubscription* answers_;
  uint64_t pulls_ = 0;
  std::chrono::steady_clock::time_point last_requested_at_;
};

// The settlements of a pulled message, by the acknowledgement protocol on its reply subject.
// The message stays the caller's to destroy.
Status ack_sync(natsConnection* connection, natsMsg* message, int64_t timeout_ms);
Status nak(natsConnection* connection, natsMsg* message, int64_t delay_ms = 0);
Status terminate(natsConnection* connection, natsMsg* message);

}  // namespace hikyaku::store::internal
