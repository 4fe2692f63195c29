#pragma once
// The store seam: everything durable goes through this interface, so nothing above it knows which
// backend runs: SqliteStore (sqlite/sqlite_store.h), one process owning one file, or
// JetStreamStore (jetstream/jetstream_store.h), several nodes sharing a NATS JetStream cluster.
// docs/store.md describes the durability model: what is durable when, and what a crash or a power
// cut can cost; docs/jetstream.md how the JetStream backend differs.
//
// Delivery jobs move through three states:
//
//   append() ──► pending ──claim()──► leased ──complete()──► gone
//                   ▲                   │  └──dead_letter()──► DLQ ──append()──► pending
//                   └──── retry() ──────┘
//                   └──── lease expiry (the worker died) ──┘
//
// (A redrive appends a dead letter's job again and removes the letter: Batch::redriven.)
//
// A claim is a lease: the job is invisible to other claimers until the lease expires, and then
// due again. That (not a recovery scan) makes delivery at-least-once across crashes. Settling a
// claim whose lease was lost (expired and re-claimed) is refused with kFailedPrecondition, so a
// slow worker can never delete a job another worker now owns.
//
// Errors: kUnavailable for I/O failures (disk full, database locked beyond the busy timeout),
// kFailedPrecondition for stale claims and failed compare-and-set, kInvalidArgument for bad
// arguments. Nothing here throws.
//
// Thread safety: implementations are thread-safe.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace hikyaku::store {

// A delivery job as appended at ingest. Secrets are added at send time, never stored.
struct NewJob {
  std::string target;    // the target's key, "<bus>/<rule>/<target id>"
  std::string event_id;  // the original event's id, for tracing and DLQ records
  std::string body;      // the rendered body
  std::string headers;   // rendered non-secret headers as JSON text ("" = none)
  int64_t ingested_at_ms = 0;
  // The original event, kept with the job for its dead letter (null: not kept). The jobs one
  // event produced share it, and a store keeps it once per batch for them; one whose body is the
  // event itself costs nothing more.
  std::shared_ptr<const std::string> event{};
};

// A raw event kept for replay: one row per archive whose pattern the event matched.
struct ArchivedEvent {
  std::string event_id;
  std::string bus;
  std::string envelope;  // the event as JSON text
  int64_t ingested_at_ms = 0;
  std::string archive{};  // the archive's name
};

// Where a reading of an archive stopped: events are read in (ingested_at_ms, id) order.
struct ArchiveCursor {
  int64_t ingested_at_ms = 0;
  int64_t id = 0;
};

// An event read back from an archive.
struct StoredArchivedEvent {
  int64_t id = 0;
  int64_t ingested_at_ms = 0;
  std::string envelope;
};

struct ArchiveStats {
  int64_t event_count = 0;
  int64_t size_bytes = 0;  // the envelopes' bytes
};

// Why a job was dead-lettered; stored with it (EventBridge's DLQ message attributes).
struct DeadLetterReason {
  std::string error_code;     // e.g. "HTTP_400", "TRANSFORM_ERROR", "CONNECTION_ERROR"
  std::string error_message;  // never holds a secret (callers redact)
  std::string
      exhausted_retry_condition;  // "MaximumRetryAttempts" | "MaximumEventAgeInSeconds" | ""
  // The last attempt, as far as there was one; never holds a secret (callers mask them):
  // (Initialized, so that the older three-field initializers stay warning-free.)
  std::string request{};  // the request as JSON text (method, URL, headers, body); "" = none
  int http_status = 0;    // its answer's status; 0 = no answer
  std::string response_excerpt{};  // the start of the answer's body
};

// A delivery that can never be attempted (its body could not be rendered), recorded straight in
// the dead-letter queue so that it is visible instead of silently dropped.
struct NewDeadLetter {
  NewJob job;
  DeadLetterReason reason;
};

struct Job {
  int64_t id = 0;
  std::string target;
  std::string event_id;
  std::string body;
  std::string headers;
  int attempts = 0;  // completed attempts so far (0 on the first claim)
  int64_t ingested_at_ms = 0;
  std::string last_error;
};

// A leased job. `token` identifies this lease; settle with the same Claim.
struct Claim {
  Job job;
  std::string token;
  int64_t lease_expires_at_ms = 0;
};

// What one append() makes durable, all or nothing.
struct Batch {
  std::vector<NewJob> jobs;
  std::vector<ArchivedEvent> events;
  std::vector<NewDeadLetter> dead_letters;
  // Delivered claims completed in the same transaction (as complete_all(): claims whose lease
  // was lost are skipped), so that settling deliveries costs no transaction of its own.
  std::vector<Claim> completed;
  // Dead letters that `jobs` send again (a redrive), removed in the same transaction: a letter
  // is either still dead or pending again, never both. The caller read them first and is the
  // only one removing dead letters meanwhile (the admin API's single worker).
  std::vector<int64_t> redriven{};
  bool empty() const {
    return jobs.empty() && events.empty() && dead_letters.empty() && completed.empty() &&
           redriven.empty();
  }
};

// The error code of a dead letter whose body was lost from the store (a damaged body file):
// nothing is left to resend as recorded.
inline constexpr const char* kBodyUnreadableError = "BODY_UNREADABLE";

struct DeadLetter {
  int64_t id = 0;
  Job job;
  DeadLetterReason reason;
  int64_t dead_lettered_at_ms = 0;
  std::optional<std::string> event;  // the original event; none when it was not kept
};

// Which dead letters a listing concerns; an empty field does not filter.
struct DeadLetterFilter {
  std::string rule{};        // a rule's name: the middle part of the target key
  std::string target{};      // a target key "<bus>/<rule>/<target id>", or a target's Id alone
  std::string error_code{};  // exactly, e.g. "HTTP_400"
  int64_t since_ms = 0;      // dead-lettered at or after (0: no bound)
  int64_t until_ms = 0;      // dead-lettered before (0: no bound)
};

// One delivery attempt, for the delivery log operators read (what was tried, how it went).
struct DeliveryRecord {
  int64_t id = 0;             // assigned by the store, increasing
  int64_t at_ms = 0;          // when the attempt finished
  std::string target{};       // the target key
  std::string destination{};  // the API destination, "backlog:<space>", "log:<path>"; "" = none
  std::string event_id{};
  int64_t job_id = 0;
  int attempt = 0;         // 1 = the first
  int http_status = 0;     // 0 = no answer
  int64_t latency_ms = 0;  // of the attempt itself; -1 = not measured
  std::string outcome{};   // "delivered", "retrying", "dead-lettered"
  std::string error{};     // the error code and message; never holds a secret (callers redact)
};

// The jobs waiting for one target (pending or leased), for queue depths.
struct TargetQueue {
  std::string target;
  int64_t jobs = 0;
  int64_t oldest_ingested_at_ms = 0;
};

struct KvEntry {
  std::string value;
  int64_t revision = 0;  // > 0; increases with every successful put
};

struct Counts {
  int64_t pending = 0;  // due now or later, not leased
  int64_t leased = 0;   // claimed, lease not yet expired
  int64_t dead_letters = 0;
  int64_t archived_events = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  // Makes the whole batch durable (one transaction) before returning. Called once per group
  // commit, never per entry.
  virtual Status append(const Batch& batch) = 0;

  // append() that also leases the batch's first `limit` jobs to the caller until
  // `lease_expires_at_ms`, in the same transaction: a consumer that already holds the jobs in
  // memory takes them from the commit instead of claiming them back. On success the leased jobs'
  // fields are moved out of `batch.jobs` into the returned claims (in batch order); on failure
  // nothing is written and the batch is untouched.
  //
  // With `defer_sync` the transaction commits without waiting for the disk and is durable only
  // once a later sync() returns OK: a group committer overlaps one group's sync with the next
  // group's transaction. Nobody may be told a deferred batch is accepted before that.
  virtual Result<std::vector<Claim>> append_and_lease(Batch& batch, int limit,
                                                      int64_t lease_expires_at_ms,
                                                      bool defer_sync) = 0;
  // Makes every transaction committed so far durable (see append_and_lease). Thread-safe, and
  // does not hold up other calls while it waits for the disk.
  virtual Status sync() = 0;

  // Leases up to `limit` jobs due at `now_ms` (oldest due first) until now_ms + lease_ms.
  virtual Result<std::vector<Claim>> claim(int64_t now_ms, int limit, int64_t lease_ms) = 0;

  // Settles a claim: delivered (the job is removed), to be retried at `next_attempt_at_ms`
  // (attempts + 1, error kept), or dead-lettered. kFailedPrecondition when the lease was lost.
  virtual Status complete(const Claim& claim) = 0;
  // Completes many claims in one transaction (one durable write for a whole batch of
  // deliveries). Claims whose lease was lost are skipped; returns how many were completed.
  virtual Result<int64_t> complete_all(const std::vector<Claim>& claims) = 0;
  virtual Status retry(const Claim& claim, int64_t next_attempt_at_ms,
                       const std::string& error) = 0;
  // Moves the job, its original event and `reason` to the dead-letter queue; with `forward`,
  // appends that job (due at once) in the same transaction: the letter sent on somewhere
  // (null: none).
  virtual Status dead_letter(const Claim& claim, const DeadLetterReason& reason, int64_t now_ms,
                             const NewJob* forward) = 0;
  // The original event of a claimed job (NewJob::event); none when it was not kept.
  virtual Result<std::optional<std::string>> job_event(const Claim& claim) = 0;
  // Gives a claimed job back unattempted (shutdown, or a send slot beyond the lease): due again
  // at `due_at_ms` (0 = at once), attempts unchanged.
  virtual Status release(const Claim& claim, int64_t due_at_ms = 0) = 0;

  // Small state with compare-and-set (the Backlog ticket ledger).
  virtual Result<std::optional<KvEntry>> kv_get(const std::string& key) = 0;
  // Writes when the current revision equals `expected_revision` (0 = the key must not exist);
  // returns the new revision, or kFailedPrecondition when someone else wrote first.
  virtual Result<int64_t> kv_put_if(const std::string& key, const std::string& value,
                                    int64_t expected_revision) = 0;
  // The keys starting with `prefix` that sort after `after_key` ("" = from the first), in key
  // order, at most `limit` (a page: pass the last key back as `after_key` for the next).
  virtual Result<std::vector<std::pair<std::string, KvEntry>>> kv_list(const std::string& prefix,
                                                                       const std::string& after_key,
                                                                       int limit) = 0;

  // --- Archives (events kept for replay, written by append() from Batch::events) ---------------
  // A store that keeps no archive answers kUnavailable (the defaults below).

  // The events of `archive` ingested in [from_ms, to_ms) that come after `after` in
  // (ingested_at_ms, id) order, in that order, at most `limit`: a page; pass the last event's
  // (ingested_at_ms, id) back for the next. {from_ms, 0} starts at the window's beginning.
  virtual Result<std::vector<StoredArchivedEvent>> archive_read(const std::string& archive,
                                                                int64_t to_ms, ArchiveCursor after,
                                                                int limit) {
    (void)archive, (void)to_ms, (void)after, (void)limit;
    return unavailable("this store keeps no archive");
  }
  // How many events `archive` holds, and their bytes.
  virtual Result<ArchiveStats> archive_stats(const std::string& archive) {
    (void)archive;
    return unavailable("this store keeps no archive");
  }
  // Removes at most `limit` events of `archive` ingested before `before_ms` (retention); returns
  // how many went. Call again while it returns `limit`: each call is one short transaction.
  virtual Result<int64_t> archive_expire(const std::string& archive, int64_t before_ms, int limit) {
    (void)archive, (void)before_ms, (void)limit;
    return unavailable("this store keeps no archive");
  }

  // Dead-letter queue: oldest first, ids greater than `after_id`.
  Result<std::vector<DeadLetter>> dlq_list(int limit, int64_t after_id) {
    return dlq_find({}, limit, after_id, false);
  }
  // The dead letters passing `filter`, oldest first, ids greater than `after_id`, at most
  // `limit`. With `summaries` a letter's body, event and request are left empty (a listing reads
  // none of the large columns).
  virtual Result<std::vector<DeadLetter>> dlq_find(const DeadLetterFilter& filter, int limit,
                                                   int64_t after_id, bool summaries) = 0;
  // The dead letters with these ids, whole, in id order; ids that are not dead letters are left
  // out. A redrive reads a chunk this way and appends it again (Batch::redriven).
  virtual Result<std::vector<DeadLetter>> dlq_get_many(const std::vector<int64_t>& ids) = 0;
  // One dead letter, whole; none when there is no such id.
  Result<std::optional<DeadLetter>> dlq_get(int64_t id) {
    HK_ASSIGN_OR_RETURN(std::vector<DeadLetter> letters, dlq_get_many({id}));
    if (letters.empty()) {
      return std::optional<DeadLetter>();
    }
    return std::optional<DeadLetter>(std::move(letters.front()));
  }
  // Removes dead letters; empty ids = all. Returns how many went.
  virtual Result<int64_t> dlq_purge(const std::vector<int64_t>& ids) = 0;

  // The delivery log: the latest attempts, kept to a bound. Records `records` (ids assigned)
  // and drops all but the newest `keep` records; not synced on its own (a crash may lose the
  // last records: they are diagnostics, not state).
  virtual Status log_deliveries(const std::vector<DeliveryRecord>& records, int64_t keep) = 0;
  // Newest first, ids below `before_id` (0 = from the newest), at most `limit`.
  virtual Result<std::vector<DeliveryRecord>> recent_deliveries(int limit, int64_t before_id) = 0;

  virtual Result<Counts> counts(int64_t now_ms) = 0;
  // Every target with jobs waiting, in key order. Reads every job row: for operators, not a
  // hot path.
  virtual Result<std::vector<TargetQueue>> queues() = 0;

  // A cheap check that the store answers (for /readyz).
  virtual Status ping() = 0;
};

}  // namespace hikyaku::store
