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
// Checkpoints (copying the WAL into the database file) run on a second connection and thread,
// off the commit path; that thread also runs collect_bodies() (on the store's connection).
//
// Thread safety: thread-safe; calls are serialized on one connection (SQLite serializes writers
// anyway; every call is short).

#include <memory>
#include <mutex>
#include <string>

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
  // or is not a hikyaku store.
  static Result<std::unique_ptr<SqliteStore>> open(const Options& options);

  ~SqliteStore() override;

  Status append(const Batch& batch) override;
  Result<std::vector<Claim>> append_and_lease(Batch& batch, int limit, int64_t lease_expires_at_ms,
                                              bool defer_sync) override;
  Status sync() override;
  Result<std::vector<Claim>> claim(int64_t now_ms, int limit, int64_t lease_ms) override;
  Status complete(const Claim& claim) override;
  Result<int64_t> complete_all(const std::vector<Claim>& claims) override;
  Status retry(const Claim& claim, int64_t next_attempt_at_ms, const std::string& error) override;
  Status dead_letter(const Claim& claim, const DeadLetterReason& reason, int64_t now_ms) override;
  Status release(const Claim& claim, int64_t due_at_ms = 0) override;
  Result<std::optional<KvEntry>> kv_get(const std::string& key) override;
  Result<int64_t> kv_put_if(const std::string& key, const std::string& value,
                            int64_t expected_revision) override;
  Result<std::vector<DeadLetter>> dlq_list(int limit, int64_t after_id) override;
  Result<int64_t> dlq_redrive(const std::vector<int64_t>& ids, int64_t now_ms) override;
  Result<int64_t> dlq_purge(const std::vector<int64_t>& ids) override;
  Result<Counts> counts(int64_t now_ms) override;
  Status ping() override;

  // Seals an idle body segment, removes the segments no job needs (after syncing the WAL that
  // says so), moves long-needed bodies into their rows and readies the next segment. Runs about
  // once a second and after each roll-over on the checkpoint thread, and at open; callable from
  // any thread.
  Status collect_bodies();

 private:
  class Statements;
  class Checkpointer;
  SqliteStore(sqlite3* db, const Options& options);
  // Switches the connection to the configured level (durable) or to NORMAL (lease
  // bookkeeping), only when it changes. Call with mutex_ held, outside a transaction.
  Status use_sync(bool durable);
  // The lease append_and_lease writes into its first `jobs` rows.
  struct RowLease {
    size_t jobs = 0;
    std::string token;
    int64_t expires_at_ms = 0;
  };
  // Inserts the batch (inside a transaction); the jobs' ids go to `job_ids` when not null. With
  // `sync_bodies` the bodies are durable before it returns (the transaction's commit will be).
  Status insert_batch(const Batch& batch, std::vector<int64_t>* job_ids, const RowLease& lease,
                      bool sync_bodies);
  std::string new_token();  // call with mutex_ held
  Status open_wal_for_sync();
  Status sync_wal();
  // Moves a claimed job into the dead-letter queue with the claim's body (inside a transaction).
  Status move_to_dead_letters(const Claim& claim, const DeadLetterReason& reason, int64_t now_ms);
  // Copies the bodies still needed from `segment` into their rows.
  Status inline_bodies(int64_t segment);
  // complete_all() inside a transaction; adds the number completed to `completed`.
  Status complete_claims(const std::vector<Claim>& claims, int64_t& completed);
  // Ends `claim`'s lease (inside a transaction): a lease row, or with `in_row_too` also a lease
  // written into the job's row; kFailedPrecondition when it was lost.
  Status take_lease(const Claim& claim, bool in_row_too);
  // Completes one claim (inside a transaction), adding 1 to `completed`; kFailedPrecondition
  // when its lease was lost.
  Status complete_one(const Claim& claim, int64_t& completed);

  std::mutex mutex_;
  std::mutex collect_mutex_;  // held by collect_bodies(), never inside mutex_
  sqlite3* db_;               // guarded by mutex_
  std::string path_;
  int64_t seal_bodies_after_ms_;
  int64_t inline_bodies_after_ms_;
  std::unique_ptr<Statements> statements_;  // guarded by mutex_
  std::unique_ptr<BodyLog> bodies_;
  int64_t last_body_segment_ = 0;  // guarded by mutex_; the segment the last append went to
  std::unique_ptr<Checkpointer> checkpointer_;  // null if its connection failed to open
  uint64_t next_token_ = 0;                     // guarded by mutex_
  uint64_t token_salt_ = 0;
  int lock_fd_ = -1;
  int wal_fd_ = -1;  // the "-wal" file, for sync()
  std::mutex wal_sync_mutex_;
  Status wal_sync_failure_;        // guarded by wal_sync_mutex_
  bool durable_sync_full_ = true;  // Options::synchronous_full
  bool sync_full_now_ = true;      // guarded by mutex_; the connection's current level
};

}  // namespace hikyaku::store
