#include "store/jetstream/internal/pull.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace hikyaku::store::internal {
namespace {

constexpr int64_t kNanosPerMs = 1'000'000;
constexpr std::string_view kAckPrefix = "$JS.ACK.";
// How long a pull that has deliveries waits for the next one before it ends.
constexpr int64_t kBurstPauseMs = 5;

Status failure(std::string_view what, natsStatus status) {
  return unavailable(fmt::format("JetStream: {}: {}", what, natsStatus_GetText(status)));
}

// The status a server-generated message carries ("404", "408", "409", "503"), or empty for a
// message with data (a delivery).
std::string_view status_of(natsMsg* message) {
  if (natsMsg_GetDataLength(message) > 0) {
    return {};
  }
  const char* status = nullptr;
  if (natsMsgHeader_Get(message, "Status", &status) != NATS_OK || status == nullptr) {
    return {};
  }
  return status;
}

}  // namespace

Puller::Puller(natsConnection* connection, std::string next_subject, std::string inbox,
               natsSubscription* answers)
    : connection_(connection),
      next_subject_(std::move(next_subject)),
      inbox_(std::move(inbox)),
      answers_(answers),
      last_requested_at_(std::chrono::steady_clock::now()) {}

Result<std::unique_ptr<Puller>> Puller::open(natsConnection* connection, std::string_view stream,
                                             std::string_view consumer) {
  natsInbox* inbox = nullptr;
  natsStatus status = natsInbox_Create(&inbox);
  if (status != NATS_OK) {
    return failure("creating an inbox", status);
  }
  const std::string prefix(inbox);
  natsInbox_Destroy(inbox);
  natsSubscription* answers = nullptr;
  status = natsConnection_SubscribeSync(&answers, connection, (prefix + ".*").c_str());
  if (status == NATS_OK) {
    // A pull's answers may outnumber the default pending limits only by far more than a batch.
    status = natsSubscription_SetPendingLimits(answers, -1, -1);
  }
  if (status != NATS_OK) {
    natsSubscription_Destroy(answers);
    return failure(fmt::format("subscribing for consumer {}", consumer), status);
  }
  return std::unique_ptr<Puller>(
      new Puller(connection, fmt::format("$JS.API.CONSUMER.MSG.NEXT.{}.{}", stream, consumer),
                 prefix, answers));
}

Puller::~Puller() {
  for (;;) {
    natsMsg* message = nullptr;
    if (natsSubscription_NextMsg(&message, answers_, 1) != NATS_OK) {
      break;
    }
    if (classify(message, {}) == Received::kDelivery) {
      (void)nak(connection_, message);  // back to the other nodes now, not after AckWait
    }
    natsMsg_Destroy(message);
  }
  natsSubscription_Unsubscribe(answers_);
  natsSubscription_Destroy(answers_);
}

Puller::Received Puller::classify(natsMsg* message, std::string_view current_reply) const {
  const std::string_view status = status_of(message);
  if (status.empty()) {
    const char* reply = natsMsg_GetReply(message);
    return reply != nullptr && std::string_view(reply).substr(0, kAckPrefix.size()) == kAckPrefix
               ? Received::kDelivery
               : Received::kIgnored;
  }
  if (current_reply.empty() || natsMsg_GetSubject(message) != current_reply) {
    return Received::kIgnored;  // closes a pull given up on earlier
  }
  return status == "503" ? Received::kNoResponders : Received::kEnd;
}

Result<Puller::Pulled> Puller::pull(int batch, int64_t expires_ms, int64_t grace_ms) {
  Pulled pulled;
  // Late answers first: they were delivered after the previous request went out.
  pulled.requested_at = last_requested_at_;
  for (;;) {
    int queued = 0;
    natsSubscription_GetPending(answers_, &queued, nullptr);
    if (queued <= 0 || static_cast<int>(pulled.messages.size()) >= batch) {
      break;
    }
    natsMsg* message = nullptr;
    if (natsSubscription_NextMsg(&message, answers_, 1) != NATS_OK) {
      break;
    }
    if (classify(message, {}) == Received::kDelivery) {
      pulled.messages.push_back(message);
    } else {
      natsMsg_Destroy(message);
    }
  }
  const int wanted = batch - static_cast<int>(pulled.messages.size());
  if (wanted <= 0) {
    return pulled;
  }

  const std::string reply = fmt::format("{}.{}", inbox_, ++pulls_);
  const std::string request = fmt::format(R"({{"batch":{},"expires":{},"no_wait":true}})", wanted,
                                          std::max<int64_t>(expires_ms, 1) * kNanosPerMs);
  last_requested_at_ = std::chrono::steady_clock::now();
  if (pulled.messages.empty()) {
    pulled.requested_at = last_requested_at_;
  }
  natsStatus status =
      natsConnection_PublishRequest(connection_, next_subject_.c_str(), reply.c_str(),
                                    request.data(), static_cast<int>(request.size()));
  const auto deadline = last_requested_at_ + std::chrono::milliseconds(expires_ms + grace_ms);
  bool no_responders = false;
  while (status == NATS_OK && static_cast<int>(pulled.messages.size()) < batch) {
    const int64_t left = std::chrono::duration_cast<std::chrono::milliseconds>(
                             deadline - std::chrono::steady_clock::now())
                             .count();
    if (left <= 0) {
      break;  // given up: what still comes waits for the next pull
    }
    // Once deliveries came, the rest of the burst follows at once; nats-server 2.9 does not
    // always close a partly answered pull with its status, so a pause ends it.
    natsMsg* message = nullptr;
    status = natsSubscription_NextMsg(
        &message, answers_,
        pulled.messages.empty() ? left : std::min<int64_t>(left, kBurstPauseMs));
    if (status != NATS_OK) {
      break;
    }
    const Received received = classify(message, reply);
    if (received == Received::kDelivery) {
      pulled.messages.push_back(message);
      continue;
    }
    natsMsg_Destroy(message);
    if (received == Received::kEnd) {
      break;
    }
    if (received == Received::kNoResponders) {
      no_responders = true;
      break;
    }
  }
  if (status == NATS_TIMEOUT) {
    status = NATS_OK;
  }
  if (pulled.messages.empty() && (no_responders || status != NATS_OK)) {
    return no_responders ? unavailable(
                               "JetStream: no server answers for the consumer (is a "
                               "quorum of the stream's replicas up?)")
                         : failure("fetching", status);
  }
  return pulled;  // a failure after some messages came: those are handed over, the next pull
                  // reports it
}

Status ack_sync(natsConnection* connection, natsMsg* message, int64_t timeout_ms) {
  natsMsg* answer = nullptr;
  const natsStatus status = natsConnection_RequestString(
      &answer, connection, natsMsg_GetReply(message), "+ACK", timeout_ms);
  natsMsg_Destroy(answer);
  return status == NATS_OK ? ok_status() : failure("acknowledging", status);
}

Status nak(natsConnection* connection, natsMsg* message, int64_t delay_ms) {
  const std::string body =
      delay_ms > 0 ? fmt::format(R"(-NAK {{"delay":{}}})", delay_ms * kNanosPerMs) : "-NAK";
  const natsStatus status =
      natsConnection_PublishString(connection, natsMsg_GetReply(message), body.c_str());
  return status == NATS_OK ? ok_status() : failure("handing a message back", status);
}

Status terminate(natsConnection* connection, natsMsg* message) {
  const natsStatus status =
      natsConnection_PublishString(connection, natsMsg_GetReply(message), "+TERM");
  return status == NATS_OK ? ok_status() : failure("terminating a message", status);
}

}  // namespace hikyaku::store::internal
