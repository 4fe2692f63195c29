#pragma once
// JetStreamStore's state, shared by jetstream_store.cc (connection, appends, leases) and
// jetstream_store_admin.cc (DLQ, KV, archives, the delivery log, counts).

#include <nats/nats.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/mutex.h"
#include "core/status.h"
#include "store/jetstream/internal/codec.h"
#include "store/jetstream/internal/pull.h"
#include "store/jetstream/jetstream_store.h"

namespace hikyaku::store {

struct JetStreamStore::Impl {
  ~Impl();

  JetStreamOptions options;
  std::string jobs_stream, dlq_stream, archive_stream, deliveries_stream, kv_bucket, consumer;
  std::string jobs_subjects;  // "<prefix>.jobs.>"
  std::string dlq_subject;    // "<prefix>.dlq"
  std::string deliveries_subject;

  natsConnection* connection = nullptr;
  jsCtx* js = nullptr;         // request/reply calls (thread-safe)
  jsCtx* publisher = nullptr;  // asynchronous publishes, one batch at a time (append_mutex)
  kvStore* kv = nullptr;
  std::unique_ptr<internal::Puller> workers;  // the shared consumer; pulled under claim_mutex

  std::string node_id;  // random, names this store's message ids and lease tokens
  std::atomic<uint64_t> next_id{0};

  // One asynchronous batch: the message ids awaiting an acknowledgement and what came back.
  Mutex append_mutex;
  Mutex batch_mutex;
  std::unordered_map<std::string, size_t> awaiting HK_GUARDED_BY(batch_mutex);
  std::vector<uint64_t> sequences HK_GUARDED_BY(batch_mutex);
  std::string first_error HK_GUARDED_BY(batch_mutex);

  Mutex claim_mutex;

  struct Held {
    natsMsg* message = nullptr;
    std::chrono::steady_clock::time_point expires;
    uint64_t sequence = 0;  // in the jobs stream
  };
  Mutex held_mutex;
  std::unordered_map<std::string, Held> held HK_GUARDED_BY(held_mutex);
  // The stream sequences `held` holds, with how many copies and the latest lease among them.
  struct Copies {
    int count = 0;
    std::chrono::steady_clock::time_point latest_expiry;
  };
  std::unordered_map<uint64_t, Copies> held_sequences HK_GUARDED_BY(held_mutex);

  std::string job_subject(std::string_view target) const;
  std::string archive_subject(std::string_view archive) const;
  std::string next_message_id();

  // Creates the streams, the consumer and the bucket that are missing and binds to them; what
  // is done already is kept, so it may be called again after a failure.
  // last_failure_was_timeout says whether that failure was a timeout or no responders (a
  // cluster in transition, worth another try).
  Status prepare();
  bool last_failure_was_timeout = false;

  // A message to be published: subject and data.
  struct Outgoing {
    std::string subject;
    std::string data;
  };
  // Publishes every message at once and waits for JetStream to acknowledge them all; returns
  // their stream sequences in order. kUnavailable when one is refused or not acknowledged in
  // time.
  Result<std::vector<uint64_t>> publish_all(const std::vector<Outgoing>& messages);
  // The same for a message or two (retries, dead letters), one after the other, outside the
  // batch publisher: a settle does not wait behind a group commit's append.
  Result<std::vector<uint64_t>> publish_each(const std::vector<Outgoing>& messages);

  // A message fetched from the shared consumer, decoded (none: it does not decode).
  struct Fetched {
    natsMsg* message = nullptr;
    uint64_t sequence = 0;
    uint64_t delivered = 0;
    std::optional<internal::JobRecord> record;
    // When the fetch was sent: the server's AckWait started after it.
    std::chrono::steady_clock::time_point fetched_at;
  };
  // Jobs fetched shortly before they are due (a retry's last moments, another node's clock a
  // little ahead): kept here until then rather than handed back with a delay, and taken by the
  // first claim they are due for.
  std::vector<Fetched> not_yet_due HK_GUARDED_BY(claim_mutex);
  // Up to `limit` messages: what this node already received, else what the consumer has now,
  // else the first that come within `wait_ms`; the server's answer is awaited `grace_ms` longer
  // (Puller::pull). Under claim_mutex.
  Result<std::vector<Fetched>> fetch(int limit, int64_t wait_ms, int64_t grace_ms);
  // True when this node already holds the same stream message under a lease still running:
  // nats-server 2.9 can deliver a message it was handed back (NAK) twice in quick succession,
  // and the held copy settles it. The copy is destroyed; nothing is acknowledged.
  bool already_held(const Fetched& fetched) HK_EXCLUDES(held_mutex);
  // The same for a message kept until it is due (not_yet_due). Under claim_mutex.
  bool already_kept(const Fetched& fetched) HK_REQUIRES(claim_mutex);
  // The claim token of a fetched message: node, stream sequence, delivery count.
  std::string token_of(const Fetched& fetched) const;
  // Holds a fetched message under a new lease and returns its claim (body and all).
  Claim hold(Fetched&& fetched, int64_t now_ms);

  // Takes the message `claim` holds out of `held` (the caller settles it, or puts it back);
  // kFailedPrecondition when this node does not hold it or its AckWait ran out.
  Result<Held> take(const Claim& claim);
  // Gives a taken message back as it was (its lease still ends when it ended).
  void put_back(const Claim& claim, Held held);
  // Acknowledges held messages (stale ones skipped) and waits until the server has them.
  Result<int64_t> ack_all(const std::vector<Claim>& claims);

  // Reads the messages of `stream` on `subject` from sequence `from` on, in order, until
  // `visit` returns false or there are no more (an ephemeral consumer, fetched in batches).
  Status scan(const std::string& stream, const std::string& subject, uint64_t from,
              const std::function<bool(uint64_t sequence, natsMsg* message)>& visit);
};

// How long this node may settle a message it fetched: a margin below the consumer's AckWait, so
// that it stops before the server can have handed the message to another node.
std::chrono::milliseconds local_lease(int64_t ack_wait_ms);

// A NATS failure as a Status: kUnavailable with `what`, cnats' text and its last error detail.
Status nats_failure(std::string_view what, natsStatus status);

}  // namespace hikyaku::store
