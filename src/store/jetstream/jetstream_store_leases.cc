// Claims and their settling: the shared consumer's messages held by this node.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "store/jetstream/internal/codec.h"
#include "store/jetstream/internal/impl.h"
#include "store/jetstream/jetstream_store.h"

namespace hikyaku::store {
namespace {

using internal::decode_job;
using internal::encode_job;
using internal::JobRecord;

// A job fetched less than this before it is due is kept by the node until then rather than
// handed back with a delay: a job just published by a node whose clock is a little ahead, one
// published while the fetch waited, a retry's last moments. Handing those back would only churn,
// and nats-server 2.9 has been seen to redeliver a message handed back with a short delay in
// place of another one (the other then waits for AckWait).
constexpr int64_t kKeepNotDueMs = 2000;
constexpr size_t kMaxKeptNotDue = 10'000;

std::string_view data_of(natsMsg* message) {
  return {natsMsg_GetData(message), static_cast<size_t>(natsMsg_GetDataLength(message))};
}

}  // namespace

Result<std::vector<Claim>> JetStreamStore::claim(int64_t now_ms, int limit, int64_t /*lease_ms*/) {
  std::vector<Claim> claims;
  if (limit <= 0) {
    return claims;
  }
  MutexLock serial(impl_->claim_mutex);
  // Kept ones first: those due now, and those whose lease would run out before they are due
  // (handed back: JetStream redelivers them).
  const auto now = std::chrono::steady_clock::now();
  std::vector<Impl::Fetched> kept;
  kept.swap(impl_->not_yet_due);
  for (Impl::Fetched& message : kept) {
    const auto lease_ends = message.fetched_at + local_lease(impl_->options.lease_ms);
    if (message.record->due_at_ms <= now_ms && static_cast<int>(claims.size()) < limit &&
        now < lease_ends) {
      claims.push_back(impl_->hold(std::move(message), now_ms));
    } else if (now + std::chrono::milliseconds(message.record->due_at_ms - now_ms) >= lease_ends) {
      (void)internal::nak(impl_->connection, message.message);
      natsMsg_Destroy(message.message);
    } else {
      impl_->not_yet_due.push_back(std::move(message));
    }
  }
  const int wanted = limit - static_cast<int>(claims.size());
  if (wanted <= 0) {
    return claims;
  }
  HK_ASSIGN_OR_RETURN(
      std::vector<Impl::Fetched> fetched,
      impl_->fetch(wanted, impl_->options.claim_wait_ms, impl_->options.fetch_grace_ms));
  for (Impl::Fetched& message : fetched) {
    if (!message.record.has_value()) {
      // Nothing hikyaku wrote: redelivering it forever would help nobody.
      spdlog::error("JetStream: message {} of {} is not a job; terminated", message.sequence,
                    impl_->jobs_stream);
      (void)internal::terminate(impl_->connection, message.message);
      natsMsg_Destroy(message.message);
      continue;
    }
    if (impl_->already_held(message) || impl_->already_kept(message)) {
      continue;  // a second copy of a message this node holds: the held one settles it
    }
    const int64_t delay = message.record->due_at_ms - now_ms;
    if (delay <= 0) {
      claims.push_back(impl_->hold(std::move(message), now_ms));
    } else if (delay <= kKeepNotDueMs && impl_->not_yet_due.size() < kMaxKeptNotDue) {
      impl_->not_yet_due.push_back(std::move(message));
    } else {
      // Due later (a retry, a release with a time): back until then.
      (void)internal::nak(impl_->connection, message.message,
                          impl_->options.recheck_not_due_ms >= 0
                              ? std::min(delay, impl_->options.recheck_not_due_ms)
                              : delay);
      natsMsg_Destroy(message.message);
    }
  }
  return claims;
}

Status JetStreamStore::complete(const Claim& claim) {
  HK_ASSIGN_OR_RETURN(const JetStreamStore::Impl::Held held, impl_->take(claim));
  natsMsg* message = held.message;
  if (Status acked =
          internal::ack_sync(impl_->connection, message, impl_->options.request_timeout_ms);
      !acked.ok()) {
    impl_->put_back(claim, held);
    return unavailable(fmt::format("completing job {}: {}", claim.job.id, acked.message()));
  }
  natsMsg_Destroy(message);
  return ok_status();
}

Result<int64_t> JetStreamStore::complete_all(const std::vector<Claim>& claims) {
  return impl_->ack_all(claims);
}

// Publishes the held job again as `record` (due later), then acknowledges the held message.
// Publishing first means a failure in between delivers the job twice, never loses it.
static Status republish(JetStreamStore::Impl& impl, const Claim& claim,
                        const JetStreamStore::Impl::Held& held, JobRecord record) {
  natsMsg* message = held.message;
  record.job_id = claim.job.id;
  Result<std::vector<uint64_t>> published =
      impl.publish_each({{natsMsg_GetSubject(message), encode_job(record)}});
  if (!published.has_value()) {
    impl.put_back(claim, held);
    return published.status();
  }
  Status acked = internal::ack_sync(impl.connection, message, impl.options.request_timeout_ms);
  natsMsg_Destroy(message);
  if (!acked.ok()) {
    return unavailable(
        fmt::format("job {} is pending again, but its old message may come back once more: {}",
                    claim.job.id, acked.message()));
  }
  return ok_status();
}

Status JetStreamStore::retry(const Claim& claim, int64_t next_attempt_at_ms,
                             const std::string& error) {
  HK_ASSIGN_OR_RETURN(const JetStreamStore::Impl::Held held, impl_->take(claim));
  natsMsg* message = held.message;
  std::optional<JobRecord> record = decode_job(data_of(message));
  if (!record.has_value()) {
    impl_->put_back(claim, held);
    return internal_error(fmt::format("job {}: its message does not decode", claim.job.id));
  }
  record->attempts += 1;
  record->last_error = error;
  record->due_at_ms = next_attempt_at_ms;
  return republish(*impl_, claim, held, std::move(*record));
}

Status JetStreamStore::release(const Claim& claim, int64_t due_at_ms) {
  HK_ASSIGN_OR_RETURN(const JetStreamStore::Impl::Held held, impl_->take(claim));
  natsMsg* message = held.message;
  if (due_at_ms == 0) {
    if (Status handed_back = internal::nak(impl_->connection, message); !handed_back.ok()) {
      impl_->put_back(claim, held);
      return unavailable(fmt::format("releasing job {}: {}", claim.job.id, handed_back.message()));
    }
    natsMsg_Destroy(message);
    return ok_status();
  }
  std::optional<JobRecord> record = decode_job(data_of(message));
  if (!record.has_value()) {
    impl_->put_back(claim, held);
    return internal_error(fmt::format("job {}: its message does not decode", claim.job.id));
  }
  record->due_at_ms = due_at_ms;
  return republish(*impl_, claim, held, std::move(*record));
}

Status JetStreamStore::dead_letter(const Claim& claim, const DeadLetterReason& reason,
                                   int64_t now_ms, const NewJob* forward) {
  HK_ASSIGN_OR_RETURN(const JetStreamStore::Impl::Held held, impl_->take(claim));
  natsMsg* message = held.message;
  std::optional<JobRecord> record = decode_job(data_of(message));
  if (!record.has_value()) {
    impl_->put_back(claim, held);
    return internal_error(fmt::format("job {}: its message does not decode", claim.job.id));
  }
  record->job_id = claim.job.id;
  record->attempts += 1;  // the attempt that failed for good counts, as a retry's does
  std::vector<Impl::Outgoing> outgoing = {
      {impl_->dlq_subject, internal::encode_dead_letter(*record, reason, now_ms)}};
  if (forward != nullptr) {
    JobRecord forwarded{
        0,
        forward->target,
        forward->event_id,
        forward->body,
        forward->headers,
        forward->ingested_at_ms,
        0,
        "",
        0,
        forward->event ? std::optional<std::string>(*forward->event) : std::nullopt};
    outgoing.push_back({impl_->job_subject(forward->target), encode_job(forwarded)});
  }
  Result<std::vector<uint64_t>> published = impl_->publish_each(outgoing);
  if (!published.has_value()) {
    impl_->put_back(claim, held);
    return published.status();
  }
  Status acked = internal::ack_sync(impl_->connection, message, impl_->options.request_timeout_ms);
  natsMsg_Destroy(message);
  if (!acked.ok()) {
    return unavailable(
        fmt::format("job {} is dead-lettered, but its message may come back once more: {}",
                    claim.job.id, acked.message()));
  }
  return ok_status();
}

Result<std::optional<std::string>> JetStreamStore::job_event(const Claim& claim) {
  MutexLock lock(impl_->held_mutex);
  const auto found = impl_->held.find(claim.token);
  if (found == impl_->held.end()) {
    return failed_precondition(fmt::format("job {} is not leased by this claim", claim.job.id));
  }
  std::optional<JobRecord> record = decode_job(data_of(found->second.message));
  if (!record.has_value()) {
    return internal_error(fmt::format("job {}: its message does not decode", claim.job.id));
  }
  return std::move(record->event);
}

}  // namespace hikyaku::store
