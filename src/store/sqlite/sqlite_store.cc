// SqliteStore: opening and closing, durability levels and sync(), and the append path. Leases
// are in sqlite_store_leases.cc, the DLQ/KV/counts in sqlite_store_admin.cc, the body log's
// collection in sqlite_store_bodies.cc; the schema, statements and checkpoint thread in internal/.
#include "store/sqlite/sqlite_store.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "core/random.h"
#include "store/sqlite/internal/checkpointer.h"
#include "store/sqlite/internal/private_files.h"
#include "store/sqlite/internal/schema.h"
#include "store/sqlite/internal/statements.h"
#include "store/sqlite/wal_write_buffer.h"

namespace hikyaku::store {

using internal::sqlite_error;
using internal::Use;

namespace {

Status create_parent_folder(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    HK_RETURN_IF_ERROR(internal::create_private_folders(parent.string()).status());
  }
  return ok_status();
}

// The database is created 0600 before SQLite opens it: SQLite gives the -wal, -shm and -journal
// files it creates the database file's permissions. Files of an earlier run are tightened.
Status prepare_private_files(const std::string& path) {
  HK_RETURN_IF_ERROR(internal::create_private_file(path));
  for (const char* suffix : {"-wal", "-shm", "-journal"}) {
    HK_RETURN_IF_ERROR(internal::make_private(path + suffix));
  }
  return ok_status();
}

// The exclusive lock on "<path>.lock" that makes this process the store's only owner; returns
// its descriptor.
Result<int> take_owner_lock(const std::string& path) {
  const std::string lock_path = path + ".lock";
  const int lock_fd =
      ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, internal::kPrivateFileMode);
  if (lock_fd < 0) {
    return unavailable(fmt::format("sqlite: cannot open {}: {}", lock_path, std::strerror(errno)));
  }
  if (Status tightened = internal::make_private(lock_path); !tightened.ok()) {
    ::close(lock_fd);
    return tightened;
  }
  if (flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(lock_fd);
    return failed_precondition(fmt::format(
        "sqlite: {} is in use by another hikyaku process (lock {} is held)", path, lock_path));
  }
  return lock_fd;
}

Result<sqlite3*> open_connection(const SqliteStore::Options& options) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(options.path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      wal_write_buffer_vfs()) != SQLITE_OK) {
    Status status = unavailable(fmt::format("sqlite: cannot open {}: {}", options.path,
                                            db ? sqlite3_errmsg(db) : "out of memory"));
    sqlite3_close_v2(db);
    return status;
  }
  sqlite3_busy_timeout(db, options.busy_timeout_ms);
  return db;
}

// Leases held by a previous process of ours died with it: their jobs are due again at once,
// oldest first (a lease in the job's row moved its due time to the lease's expiry; the leases
// table holds only an older version's leases, so it is empty from here on).
Status recover_leases(sqlite3* db) {
  return internal::exec(db,
                        "DELETE FROM leases; UPDATE jobs SET due_at_ms = ingested_at_ms, "
                        "lease_token = NULL WHERE lease_token IS NOT NULL",
                        "recovering leases");
}

// Settings, schema, lease recovery and the body log of a freshly opened connection.
Result<std::unique_ptr<BodyLog>> prepare_database(sqlite3* db, const SqliteStore::Options& options,
                                                  const Clock& clock) {
  HK_RETURN_IF_ERROR(internal::configure_connection(db, options.synchronous_full));
  HK_RETURN_IF_ERROR(internal::create_or_upgrade_schema(db));
  HK_ASSIGN_OR_RETURN(const int64_t first_free_segment, internal::first_free_body_segment(db));
  HK_ASSIGN_OR_RETURN(std::unique_ptr<BodyLog> bodies,
                      BodyLog::open({.folder = options.path + "-bodies",
                                     .segment_bytes = options.body_segment_bytes,
                                     .first_free_id = first_free_segment},
                                    clock));
  HK_RETURN_IF_ERROR(recover_leases(db));
  return bodies;
}

}  // namespace

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const Options& options, const Clock& clock) {
  if (options.path.empty()) {
    return invalid_argument("sqlite: the store path is empty");
  }
  HK_RETURN_IF_ERROR(create_parent_folder(options.path));
  HK_ASSIGN_OR_RETURN(const int lock_fd, take_owner_lock(options.path));
  if (Status files = prepare_private_files(options.path); !files.ok()) {
    ::close(lock_fd);
    return files;
  }
  Result<sqlite3*> db = open_connection(options);
  if (!db) {
    ::close(lock_fd);
    return db.status();
  }
  Result<std::unique_ptr<BodyLog>> bodies = prepare_database(*db, options, clock);
  if (!bodies) {
    sqlite3_close_v2(*db);
    ::close(lock_fd);
    return bodies.status().with_context(options.path);
  }
  // From here on the store closes the connection and the lock file, whatever fails.
  std::unique_ptr<SqliteStore> store(new SqliteStore(*db, options, lock_fd, std::move(*bodies)));
  HK_RETURN_IF_ERROR(store->start(options, clock));
  return store;
}

SqliteStore::SqliteStore(sqlite3* db, const Options& options, int lock_fd,
                         std::unique_ptr<BodyLog> bodies)
    : db_(db),
      path_(options.path),
      seal_bodies_after_ms_(options.seal_bodies_after_ms),
      inline_bodies_after_ms_(options.inline_bodies_after_ms),
      durable_sync_full_(options.synchronous_full),
      lock_fd_(lock_fd),
      // Tells this run's lease tokens from an earlier run's.
      token_salt_(SystemRandom::instance().next_u64()),
      statements_(std::make_unique<Statements>(db)),
      bodies_(std::move(bodies)),
      sync_full_now_(options.synchronous_full) {}

Status SqliteStore::start(const Options& options, const Clock& clock) {
  checkpointer_ =
      Checkpointer::start(options.path, options.synchronous_full, options.busy_timeout_ms, clock,
                          [this] { (void)collect_bodies(); });
  if (checkpointer_ == nullptr) {
    return unavailable(
        fmt::format("sqlite: {}: cannot open a second connection for checkpoints", options.path));
  }
  {
    MutexLock lock(mutex_);
    Checkpointer::install_wal_hook(db_, checkpointer_.get());
    HK_RETURN_IF_ERROR(statements_->check());
  }
  HK_RETURN_IF_ERROR(open_wal_for_sync());
  // Segments left by an earlier run that no job needs any more.
  return collect_bodies();
}

// The WAL exists once the schema version is written. Its directory entry is synced once, as
// SQLite does when it creates the file at FULL; later syncs only need the file's data.
Status SqliteStore::open_wal_for_sync() {
  const std::string wal = path_ + "-wal";
  const int fd = ::open(wal.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return unavailable(fmt::format("sqlite: cannot open {}: {}", wal, std::strerror(errno)));
  }
  const std::string folder = std::filesystem::path(path_).parent_path().string();
  const int directory = ::open(folder.empty() ? "." : folder.c_str(), O_RDONLY | O_CLOEXEC);
  const bool synced = directory >= 0 && ::fsync(directory) == 0 && ::fdatasync(fd) == 0;
  const int error = errno;
  if (directory >= 0) {
    ::close(directory);
  }
  if (!synced) {
    ::close(fd);
    return unavailable(fmt::format("sqlite: cannot sync {}: {}", wal, std::strerror(error)));
  }
  wal_fd_ = fd;
  return ok_status();
}

SqliteStore::~SqliteStore() {
  Checkpointer::remove_wal_hook(db_);
  checkpointer_.reset();  // first: its maintenance uses everything below
  if (wal_fd_ >= 0) {
    ::close(wal_fd_);
  }
  bodies_.reset();
  statements_.reset();
  // A clean close checkpoints the WAL into the main file.
  sqlite3_close_v2(db_);
  if (lock_fd_ >= 0) {
    ::close(lock_fd_);
  }
}

Status SqliteStore::use_sync(bool durable) {
  const bool full = durable && durable_sync_full_;
  if (full == sync_full_now_) {
    return ok_status();
  }
  Use pragma(full ? statements_->sync_full : statements_->sync_normal);
  if (pragma->step() != SQLITE_DONE) {
    return sqlite_error(db_, "setting synchronous");
  }
  sync_full_now_ = full;
  return ok_status();
}

std::string SqliteStore::new_token() {
  return fmt::format("{:016x}-{}", token_salt_, ++next_token_);
}

Status SqliteStore::sync() {
  if (!durable_sync_full_) {
    return ok_status();  // NORMAL by configuration
  }
  // Both before anyone is answered. A row can still reach the disk before its body (the kernel
  // writes the WAL back when it likes), but only in a group nobody was answered for; claim()
  // dead-letters such a job.
  HK_RETURN_IF_ERROR(bodies_->sync());
  return sync_wal();
}

Status SqliteStore::sync_wal() {
  MutexLock lock(wal_sync_mutex_);
  if (wal_sync_failure_.ok() && ::fdatasync(wal_fd_) != 0) {
    // Sticks, as BodyLog::sync() does: a later success would not prove the lost pages written.
    wal_sync_failure_ =
        unavailable(fmt::format("sqlite: syncing {}-wal: {}", path_, std::strerror(errno)));
  }
  return wal_sync_failure_;
}

Status SqliteStore::append(const Batch& batch) {
  MutexLock lock(mutex_);
  // Completions alone are lease bookkeeping (see use_sync()).
  const bool only_completions = batch.jobs.empty() && batch.events.empty() &&
                                batch.dead_letters.empty() && batch.redriven.empty();
  HK_RETURN_IF_ERROR(use_sync(!only_completions));
  return in_transaction(
      [&]() HK_REQUIRES(mutex_) { return insert_batch(batch, nullptr, {}, durable_sync_full_); });
}

Result<std::vector<Claim>> SqliteStore::append_and_lease(Batch& batch, int limit,
                                                         int64_t lease_expires_at_ms,
                                                         bool defer_sync) {
  MutexLock lock(mutex_);
  const bool sync_now = !defer_sync;
  HK_RETURN_IF_ERROR(use_sync(sync_now));
  const std::string token = new_token();
  std::vector<int64_t> ids;
  ids.reserve(batch.jobs.size());
  const size_t leased = std::min(batch.jobs.size(), static_cast<size_t>(std::max(limit, 0)));
  HK_RETURN_IF_ERROR(in_transaction([&]() HK_REQUIRES(mutex_) {
    return insert_batch(batch, &ids, {leased, token, lease_expires_at_ms},
                        sync_now && durable_sync_full_);
  }));
  std::vector<Claim> claims(leased);
  for (size_t i = 0; i < leased; ++i) {
    NewJob& job = batch.jobs[i];
    Claim& claim = claims[i];
    claim.job.id = ids[i];
    claim.job.target = std::move(job.target);
    claim.job.event_id = std::move(job.event_id);
    claim.job.body = std::move(job.body);
    claim.job.headers = std::move(job.headers);
    claim.job.ingested_at_ms = job.ingested_at_ms;
    claim.token = token;
    claim.lease_expires_at_ms = lease_expires_at_ms;
  }
  return claims;
}

Status SqliteStore::insert_batch(const Batch& batch, std::vector<int64_t>* job_ids,
                                 const RowLease& lease, bool sync_bodies) {
  int64_t completed = 0;
  HK_RETURN_IF_ERROR(complete_claims(batch.completed, completed));
  // One record per body, then one per original event kept (once for the jobs that share it, none
  // when a body is its event), all in one append: they land in one segment.
  std::vector<std::string_view> records;
  records.reserve(batch.jobs.size());
  for (const NewJob& job : batch.jobs) {
    records.emplace_back(job.body);
  }
  std::vector<EventPlace> events(batch.jobs.size());
  const std::string* last_event = nullptr;
  for (size_t i = 0; i < batch.jobs.size(); ++i) {
    const NewJob& job = batch.jobs[i];
    if (job.event == nullptr) {
      continue;
    }
    if (*job.event == job.body) {
      events[i].kind = EventPlace::kBody;
      continue;
    }
    if (job.event.get() != last_event) {
      last_event = job.event.get();
      records.emplace_back(*job.event);
    }
    events[i] = {EventPlace::kRecord, records.size() - 1};
  }
  std::vector<BodyRef> refs;
  HK_RETURN_IF_ERROR(bodies_->append(records, refs));
  if (!refs.empty() && refs.front().segment != last_body_segment_) {
    last_body_segment_ = refs.front().segment;
    checkpointer_->request_maintenance();  // readies the segment after this one
  }
  if (sync_bodies) {
    HK_RETURN_IF_ERROR(bodies_->sync());  // before the commit that refers to them
  }
  HK_RETURN_IF_ERROR(insert_jobs(batch.jobs, refs, events, job_ids, lease));
  HK_RETURN_IF_ERROR(insert_dead_letters(batch.dead_letters));
  HK_RETURN_IF_ERROR(remove_dead_letters(batch.redriven));
  return archive_events(batch.events);
}

Status SqliteStore::insert_jobs(const std::vector<NewJob>& jobs, const std::vector<BodyRef>& refs,
                                const std::vector<EventPlace>& events,
                                std::vector<int64_t>* job_ids, const RowLease& lease) {
  for (size_t i = 0; i < jobs.size(); ++i) {
    const NewJob& job = jobs[i];
    const bool leased = i < lease.jobs;
    Use insert(leased ? statements_->insert_leased_job : statements_->insert_job);
    insert->bind(1, job.target)
        .bind(2, job.event_id)
        .bind(3, job.headers)
        .bind(4, job.ingested_at_ms)
        .bind(5, refs[i].segment)
        .bind(6, refs[i].offset)
        .bind(7, refs[i].length)
        .bind(10, int64_t{events[i].kind});
    if (events[i].kind == EventPlace::kRecord) {
      const BodyRef& event = refs[events[i].record];
      insert->bind(11, event.offset).bind(12, event.length);
    }
    if (leased) {
      insert->bind(8, lease.expires_at_ms).bind(9, lease.token);
    }
    if (insert->step() != SQLITE_DONE) {
      return sqlite_error(db_, "appending a delivery job");
    }
    if (job_ids != nullptr) {
      job_ids->push_back(sqlite3_last_insert_rowid(db_));
    }
  }
  return ok_status();
}

Status SqliteStore::insert_dead_letters(const std::vector<NewDeadLetter>& letters) {
  for (const NewDeadLetter& letter : letters) {
    Use insert(statements_->insert_dead_letter);
    insert->bind(1, letter.job.target)
        .bind(2, letter.job.event_id)
        .bind_blob(3, letter.job.body)
        .bind(4, letter.job.headers)
        .bind(5, letter.job.ingested_at_ms)
        .bind(6, letter.reason.error_code)
        .bind(7, letter.reason.error_message)
        .bind(8, letter.reason.exhausted_retry_condition);
    if (letter.job.event != nullptr) {
      insert->bind_blob(9, *letter.job.event);
    }
    if (insert->step() != SQLITE_DONE) {
      return sqlite_error(db_, "recording a dead letter");
    }
  }
  return ok_status();
}

Status SqliteStore::remove_dead_letters(const std::vector<int64_t>& ids) {
  for (const int64_t id : ids) {
    Use remove(statements_->remove_dead_letter);
    remove->bind(1, id);
    if (remove->step() != SQLITE_DONE) {
      return sqlite_error(db_, "removing a redriven dead letter");
    }
  }
  return ok_status();
}

Status SqliteStore::ping() {
  MutexLock lock(mutex_);
  Use ping(statements_->ping);
  if (ping->step() != SQLITE_ROW) {
    return sqlite_error(db_, "ping");
  }
  return ok_status();
}

}  // namespace hikyaku::store
