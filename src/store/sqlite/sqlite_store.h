#pragma once
// The default store: one SQLite file in WAL mode.
//
//   HK_ASSIGN_OR_RETURN(auto store, SqliteStore::open({.path = "var/hikyaku.db"}));
//
// Durability: append() returns after the transaction commits. With Synchronous FULL (default) a
// committed batch survives power loss; with NORMAL it survives a crash of the process (kill -9)
// but not of the machine. Lease bookkeeping (claim, complete, complete_all, release, retry) always
// commits without fsync: losing it to a power cut only makes a job due again (a duplicate
// delivery, which at-least-once allows), and the next FULL commit syncs the WAL it was written
// to anyway. Dead letters, the KV table and DLQ changes keep the configured level.
//
// Deferred sync (append_and_lease with defer_sync): the transaction commits at NORMAL, which
// writes the WAL without fsync, and sync() then fdatasyncs the WAL file through a descriptor of
// our own, outside the connection's lock, so the next transaction runs meanwhile. That is as
// durable as FULL for everything sync() has covered: frames are only ever appended to the WAL
// until a checkpoint has copied them into the database file and synced it (SQLite syncs both at
// every checkpoint, also at NORMAL), and only then does a writer start the WAL over.
//
// One process owns the store: open() takes an exclusive lock on "<path>.lock" (the body log,
// its collection and lease recovery assume a single owner), and jobs leased by a previous,
// crashed process are due again at once.
//
// Job bodies are not stored in the database but in a BodyLog beside it ("<path>-bodies/"; see
// body_log.h): a job's row says where its body is. sync() and every commit that syncs also sync
// the bodies written before it. A body that cannot be read back (it never reached the disk before
// a power cut, or the file was damaged) dead-letters its job with error code BODY_UNREADABLE
// when the job is claimed. Bodies still needed `inline_bodies_after_ms` after their segment was
// sealed (a target that is down, a backlog) are moved into their rows, so that a few slow jobs
// never keep whole segments on disk. Backups must copy the folder with the database.
//
// Every file the store writes (database, -wal, -shm, -journal, lock file, body segments) is its
// owner's alone (0600; folders it creates 0700) whatever the umask, and an earlier run's files
// that group or others could read are tightened at open (sqlite/internal/private_files.h).
//
// Checkpoints (copying the WAL into the database file) run on a second connection and thread,
// off the commit path; that thread also runs collect_bodies() (on the store's connection).
//
// Time (the body log's sealing, the checkpoint thread's maintenance interval) is read from the
// Clock given to open(); lease and due times come from the callers' arguments.
//
// The durability model as a whole (group commit, deferred sync, body log, leases) is described in
// docs/store.md. Private parts live in sqlite/internal/ (schema, statements, the checkpointer).
//
// Thread safety: thread-safe; calls are serialized on one connection (SQLite serializes writers
// anyway; every call is short).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/mutex.h"
#include "store/sqlite/body_log.h"
#include "store/store.h"

struct sqlite3;

namespace hikyaku::store {

class SqliteStore final : public Store {
 public:
  struct Options {
    std::string path;  // created with its parent folder when missing
    bool synchronous_full = true;
    int busy_timeout_ms = 5000;  // waiting for another process holding the write lock
    // Body log: a segment is sealed when it would outgrow `body_segment_bytes` or has been
    // appended to for `seal_bodies_after_ms`.
    int64_t body_segment_bytes = int64_t{64} << 20;
    int64_t seal_bodies_after_ms = 10'000;
    int64_t inline_bodies_after_ms = 60'000;
  };

  // Opens or creates the database and its schema. kUnavailable when the file cannot be opened
  // or is not a hikyaku store; kFailedPrecondition when another process owns it (a running
  // server). `clock` must outlive the store.
  static Result<std::unique_ptr<SqliteStore>> open(const Options& options,
                                                   const Clock& clock = SystemClock::instance());

  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

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
  Status release(const Claim& claim, int64_t due_at_ms = 0) override;
  Result<std::optional<KvEntry>> kv_get(const std::string& key) override;
  Result<int64_t> kv_put_if(const std::string& key, const std::string& value,
                            int64_t expected_revision) override;
  Result<std::vector<std::pair<std::string, KvEntry>>> kv_list(const std::string& prefix,
                                                               const std::string& after_key,
                                                               int limit) override;
  Result<std::vector<DeadLetter>> dlq_find(const DeadLetterFilter& filter, int limit,
                                           int64_t after_id, bool summaries) override;
  Result<std::vector<DeadLetter>> dlq_get_many(const std::vector<int64_t>& ids) override;
  Status log_deliveries(const std::vector<DeliveryRecord>& records, int64_t keep) override;
  Result<std::vector<DeliveryRecord>> recent_deliveries(int limit, int64_t before_id) override;
  // Archives (sqlite_store_archive.cc).
  Result<std::vector<StoredArchivedEvent>> archive_read(const std::string& archive, int64_t to_ms,
                                                        ArchiveCursor after, int limit) override;
  Result<ArchiveStats> archive_stats(const std::string& archive) override;
  Result<int64_t> archive_expire(const std::string& archive, int64_t before_ms, int limit) override;
  Result<int64_t> dlq_purge(const std::vector<int64_t>& ids) override;
  Result<Counts> counts(int64_t now_ms) override;
  Result<std::vector<TargetQueue>> queues() override;
  Status ping() override;

  // Seals an idle body segment, removes the segments no job needs (after syncing the WAL that
  // says so), moves long-needed bodies into their rows and readies the next segment. Runs about
  // once a second and after each roll-over on the checkpoint thread, and at open; callable from
  // any thread.
  Status collect_bodies() HK_EXCLUDES(collect_mutex_, mutex_, wal_sync_mutex_);

 private:
  class Statements;    // internal/statements.h
  class Checkpointer;  // internal/checkpointer.h
  // The lease append_and_lease writes into its first `jobs` rows.
  struct RowLease {
    size_t jobs = 0;
    std::string token;
    int64_t expires_at_ms = 0;
  };

  SqliteStore(sqlite3* db, const Options& options, int lock_fd, std::unique_ptr<BodyLog> bodies);
  // The rest of open() once the store exists (from then on it closes what it holds, whatever
  // fails): the checkpoint thread, the WAL descriptor, a first body collection.
  Status start(const Options& options, const Clock& clock)
      HK_EXCLUDES(mutex_, collect_mutex_, wal_sync_mutex_);

  // Runs `body` inside BEGIN IMMEDIATE ... COMMIT, rolling back on error (internal/statements.h).
  template <typename Body>
  Status in_transaction(Body&& body) HK_REQUIRES(mutex_);
  // Switches the connection to the configured level (durable) or to NORMAL (lease
  // bookkeeping), only when it changes. Call outside a transaction.
  Status use_sync(bool durable) HK_REQUIRES(mutex_);
  std::string new_token() HK_REQUIRES(mutex_);
  Status open_wal_for_sync();
  Status sync_wal() HK_EXCLUDES(wal_sync_mutex_);

  // Inserts the batch (inside a transaction); the jobs' ids go to `job_ids` when not null. With
  // `sync_bodies` the bodies are durable before it returns (the transaction's commit will be).
  Status insert_batch(const Batch& batch, std::vector<int64_t>* job_ids, const RowLease& lease,
                      bool sync_bodies) HK_REQUIRES(mutex_);
  // Where a new job's original event is kept (jobs.event_kind, internal/schema.cc).
  struct EventPlace {
    enum Kind : int { kNotKept = 0, kBody = 1, kRecord = 2, kInRow = 3 };
    Kind kind = kNotKept;
    size_t record = 0;  // kRecord: its index among the records appended with the bodies
  };

  // insert_batch()'s three kinds of rows, the jobs' bodies already at `refs` (in job order) and
  // their events where `events` says.
  Status insert_jobs(const std::vector<NewJob>& jobs, const std::vector<BodyRef>& refs,
                     const std::vector<EventPlace>& events, std::vector<int64_t>* job_ids,
                     const RowLease& lease) HK_REQUIRES(mutex_);
  Status insert_dead_letters(const std::vector<NewDeadLetter>& letters) HK_REQUIRES(mutex_);
  Status remove_dead_letters(const std::vector<int64_t>& ids) HK_REQUIRES(mutex_);
  // The batch's archived events and their archives' totals (sqlite_store_archive.cc).
  Status archive_events(const std::vector<ArchivedEvent>& events) HK_REQUIRES(mutex_);

  // claim() inside its transaction: reads up to `limit` due jobs with their bodies into `claims`
  // (jobs whose body is gone into `unreadable`, with the reason), then leases `claims`.
  Status read_due_jobs(int64_t now_ms, int limit, const std::string& token, int64_t expires,
                       std::vector<Claim>& claims,
                       std::vector<std::pair<Claim, Status>>& unreadable) HK_REQUIRES(mutex_);
  Status lease_claims(const std::vector<Claim>& claims, const std::string& token, int64_t expires)
      HK_REQUIRES(mutex_);
  // Moves a claimed job into the dead-letter queue with the claim's body and the job's original
  // event (inside a transaction).
  Status move_to_dead_letters(const Claim& claim, const DeadLetterReason& reason, int64_t now_ms)
      HK_REQUIRES(mutex_);
  // The original event of job `id`, wherever its row says it is; none when not kept or no longer
  // readable.
  Result<std::optional<std::string>> read_job_event(int64_t id, const std::string& body)
      HK_REQUIRES(mutex_);
  // complete_all() inside a transaction; adds the number completed to `completed`.
  Status complete_claims(const std::vector<Claim>& claims, int64_t& completed) HK_REQUIRES(mutex_);
  // Ends `claim`'s lease (inside a transaction): a lease row, or with `in_row_too` also a lease
  // written into the job's row; kFailedPrecondition when it was lost.
  Status take_lease(const Claim& claim, bool in_row_too) HK_REQUIRES(mutex_);
  // Completes one claim (inside a transaction), adding 1 to `completed`; kFailedPrecondition
  // when its lease was lost.
  Status complete_one(const Claim& claim, int64_t& completed) HK_REQUIRES(mutex_);

  // collect_bodies(): seals an idle segment and sorts the sealed ones into those no job needs
  // and those still needed `inline_bodies_after_ms_` after they were sealed.
  Status sort_sealed_segments(std::vector<int64_t>& unreferenced, std::vector<int64_t>& long_sealed)
      HK_EXCLUDES(mutex_);
  // Copies the bodies still needed from `segment` into their rows.
  Status inline_bodies(int64_t segment) HK_EXCLUDES(mutex_);
  // One chunk of inline_bodies() (inside a transaction): the jobs after `after_id`, which moves
  // on; `done` when there are no more.
  Status inline_chunk(int64_t segment, int64_t& after_id, bool& done) HK_REQUIRES(mutex_);

  Mutex collect_mutex_ HK_ACQUIRED_BEFORE(mutex_);  // held by collect_bodies()
  Mutex mutex_;
  sqlite3* const db_ HK_GUARDED_BY(mutex_);
  const std::string path_;
  const int64_t seal_bodies_after_ms_;
  const int64_t inline_bodies_after_ms_;
  const bool durable_sync_full_;  // Options::synchronous_full
  const int lock_fd_;
  const uint64_t token_salt_;
  std::unique_ptr<Statements> statements_ HK_GUARDED_BY(mutex_);
  // Thread-safe by itself; reset only by the destructor.
  std::unique_ptr<BodyLog> bodies_;
  // Set by start() before the store is shared; null only when start() failed.
  std::unique_ptr<Checkpointer> checkpointer_;
  int64_t last_body_segment_ HK_GUARDED_BY(mutex_) = 0;  // the segment the last append went to
  uint64_t next_token_ HK_GUARDED_BY(mutex_) = 0;
  bool sync_full_now_ HK_GUARDED_BY(mutex_);  // the connection's current level
  int wal_fd_ = -1;                           // the "-wal" file, for sync(); set by start()
  Mutex wal_sync_mutex_;
  Status wal_sync_failure_ HK_GUARDED_BY(wal_sync_mutex_);
};

}  // namespace hikyaku::store
