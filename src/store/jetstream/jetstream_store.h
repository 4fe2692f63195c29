#pragma once
// The shared store: NATS JetStream, so that several hikyaku nodes work off one cluster.
//
//   HK_ASSIGN_OR_RETURN(auto store, JetStreamStore::open({.servers = {"nats://nats-1:4222"}}));
//
// Where everything lives (docs/jetstream.md has the whole design and its limits):
//
//   <prefix>_JOBS        work-queue stream, subjects <prefix>.jobs.<target>; one shared durable
//                        pull consumer <prefix>_WORKERS that every node claims from
//   <prefix>_DLQ         dead letters; a letter's id is its stream sequence
//   <prefix>_ARCHIVE     archived events, subjects <prefix>.archive.<archive name>
//   <prefix>_DELIVERIES  the delivery log; a record's id is its stream sequence
//   <prefix>_KV          key-value bucket (compare-and-set on the bucket's revisions)
//
// (<target>, <archive name> and KV keys are escaped into subject tokens: internal/naming.h.)
//
// Durability: append() returns once JetStream acknowledged every message of the batch, which it
// does only after a quorum of the stream's replicas stored it; sync() has nothing left to do.
// A batch is not one transaction: what a failed append() managed to publish stays (delivered at
// least once, like a redelivery).
//
// Leases are the consumer's AckWait (`lease_ms`, fixed when the consumer is created): a claim
// holds the fetched message; complete() acknowledges it, release() and retry() hand it back, and
// a node that dies loses its messages to the others after AckWait. The `lease_ms` a caller passes
// to claim() is not honoured (JetStream has one AckWait per consumer); a claim's
// lease_expires_at_ms says until when this node settles it (AckWait less a margin, from the
// fetch). A settle of a claim this node does not hold, or whose AckWait ran out, is
// kFailedPrecondition. Due times (retries, releases with a time) travel in the message and are
// compared with the caller's `now_ms`; a message fetched early is handed back with a delay.
//
// Errors: kUnavailable when the cluster does not answer in `request_timeout_ms` (also when a
// stream lost its quorum), kFailedPrecondition for stale claims and lost compare-and-set races,
// kInvalidArgument for keys JetStream cannot hold (the empty key).
//
// Thread safety: thread-safe. Appends are serialized (one batch's publishes in flight at a time,
// which is how the group committer calls them), as are claims; settles run concurrently.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "store/store.h"

namespace hikyaku::store {

struct JetStreamOptions {
  // Server URLs ("nats://host:4222", "tls://host:4222"); an entry may list several,
  // comma-separated.
  std::vector<std::string> servers;
  int replicas = 3;  // of every stream, the consumer and the KV bucket (1 for a lone server)
  std::string stream_prefix = "HIKYAKU";  // names streams, subjects, the consumer and the bucket

  // Authentication, at most one of them (none: an open server).
  std::string credentials_file{};  // a .creds file (user JWT and NKey seed)
  std::string token{};
  std::string user{};
  std::string password{};
  struct Tls {
    std::string ca_file{};    // trusted CAs for the servers' certificates ("" = system default)
    std::string cert_file{};  // client certificate and key, for servers that require one
    std::string key_file{};
  };
  std::optional<Tls> tls{};  // set: TLS required

  int64_t lease_ms = 60'000;  // the consumer's AckWait, for consumers this store creates
  // A job fetched before it is due goes back for the time left until then, but at most this
  // long (-1: no bound). Callers whose now_ms is not the real time (tests) bound it.
  int64_t recheck_not_due_ms = -1;
  // How long a claim's fetch waits for the first message when the consumer has none (JetStream
  // answers at once when it has some). An answer that comes later than this is not lost: the
  // subscription keeps it and the node's next fetch takes it.
  int64_t claim_wait_ms = 100;
  // How much longer than that a claim's fetch waits for the server's answer. What comes later is
  // not lost: the node's next fetch takes it.
  int64_t fetch_grace_ms = 250;
  // The wait, and the grace, of the fetch that leases a group commit's own jobs: short, because
  // ingest waits on it. When another node took them first, or the answer is slow, they are not
  // leased but claimed.
  int64_t lease_wait_ms = 10;
  int64_t connect_timeout_ms = 2000;
  int64_t request_timeout_ms = 5000;  // JetStream API calls and publish acknowledgements
};

class JetStreamStore final : public Store {
 public:
  // Connects, checks JetStream answers, and creates the streams, the consumer and the bucket
  // that are missing (existing ones are used as they are). kUnavailable, saying why, when no
  // server can be reached, JetStream is not enabled, or the streams cannot be made.
  static Result<std::unique_ptr<JetStreamStore>> open(const JetStreamOptions& options);
  // Hands every message this node still holds back for immediate redelivery.
  ~JetStreamStore() override;

  Status append(const Batch& batch) override;
  Result<std::vector<Claim>> append_and_lease(Batch& batch, int limit, int64_t lease_expires_at_ms,
                                              bool defer_sync) override;
  Status sync() override;
  Result<std::vector<Claim>> claim(int64_t now_ms, int limit, int64_t lease_ms) override;
  Status complete(const Claim& claim) override;
  Result<int64_t> complete_all(const std::vector<Claim>& claims) override;
  Status retry(const Claim& claim, int64_t next_attempt_at_ms, const std::string& error) override;
  Status dead_letter(const Claim& claim, const DeadLetterReason& reason, int64_t now_ms,
                     const NewJob* forward) override;
  Result<std::optional<std::string>> job_event(const Claim& claim) override;
  Status release(const Claim& claim, int64_t due_at_ms) override;

  Result<std::optional<KvEntry>> kv_get(const std::string& key) override;
  Result<int64_t> kv_put_if(const std::string& key, const std::string& value,
                            int64_t expected_revision) override;
  Result<std::vector<std::pair<std::string, KvEntry>>> kv_list(const std::string& prefix,
                                                               const std::string& after_key,
                                                               int limit) override;

  Result<std::vector<StoredArchivedEvent>> archive_read(const std::string& archive, int64_t to_ms,
                                                        ArchiveCursor after, int limit) override;
  Result<ArchiveStats> archive_stats(const std::string& archive) override;
  Result<int64_t> archive_expire(const std::string& archive, int64_t before_ms, int limit) override;

  Result<std::vector<DeadLetter>> dlq_find(const DeadLetterFilter& filter, int limit,
                                           int64_t after_id, bool summaries) override;
  Result<std::vector<DeadLetter>> dlq_get_many(const std::vector<int64_t>& ids) override;
  Result<int64_t> dlq_purge(const std::vector<int64_t>& ids) override;

  Status log_deliveries(const std::vector<DeliveryRecord>& records, int64_t keep) override;
  Result<std::vector<DeliveryRecord>> recent_deliveries(int limit, int64_t before_id) override;

  Result<Counts> counts(int64_t now_ms) override;
  Result<std::vector<TargetQueue>> queues() override;
  Status ping() override;

  struct Impl;

 private:
  explicit JetStreamStore(std::unique_ptr<Impl> impl);
  // append(), returning the stream sequences of the batch's jobs.
  Result<std::vector<uint64_t>> append_jobs(const Batch& batch);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hikyaku::store
