#include "store/sqlite/sqlite_store.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <utility>

#include "core/thread.h"
#include "store/sqlite/wal_write_buffer.h"

namespace hikyaku::store {
namespace {

// 2: job bodies in the body log (jobs.body_segment, body_offset, body_length).
constexpr int kSchemaVersion = 2;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS jobs (
  id INTEGER PRIMARY KEY,
  target TEXT NOT NULL,
  event_id TEXT NOT NULL,
  body BLOB NOT NULL,                -- empty when the body is in the body log
  headers TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  ingested_at_ms INTEGER NOT NULL,
  due_at_ms INTEGER NOT NULL,        -- next attempt
  lease_token TEXT,                  -- a lease taken by append_and_lease (due_at_ms = its expiry)
  last_error TEXT NOT NULL DEFAULT '',
  body_segment INTEGER,              -- where the body is in the body log; NULL = in `body`
  body_offset INTEGER,
  body_length INTEGER
);
CREATE INDEX IF NOT EXISTS jobs_due ON jobs(due_at_ms);
-- A claimed job's lease. Kept apart from jobs so that claiming writes a small row instead of
-- rewriting the job with its body; a lease is live while expires_at_ms > now. Jobs leased by
-- append_and_lease instead carry the token in jobs.lease_token and the expiry as their due time:
-- written with the row, gone with it, so the hot path touches no second table; claim() clears it
-- when such a lease has expired (the job was new when leased: its due time becomes its ingestion).
CREATE TABLE IF NOT EXISTS leases (
  job_id INTEGER PRIMARY KEY,
  token TEXT NOT NULL,
  expires_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letters (
  id INTEGER PRIMARY KEY,
  job_id INTEGER NOT NULL,
  target TEXT NOT NULL,
  event_id TEXT NOT NULL,
  body BLOB NOT NULL,
  headers TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  ingested_at_ms INTEGER NOT NULL,
  last_error TEXT NOT NULL,
  error_code TEXT NOT NULL,
  error_message TEXT NOT NULL,
  exhausted_retry_condition TEXT NOT NULL,
  dead_lettered_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS archive (
  id INTEGER PRIMARY KEY,
  event_id TEXT NOT NULL,
  bus TEXT NOT NULL,
  envelope BLOB NOT NULL,
  ingested_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS kv (
  key TEXT PRIMARY KEY,
  value BLOB NOT NULL,
  revision INTEGER NOT NULL
);
)sql";

// Schema version 1 kept every body in jobs.body.
constexpr const char* kMigrateFrom1 = R"sql(
ALTER TABLE jobs ADD COLUMN body_segment INTEGER;
ALTER TABLE jobs ADD COLUMN body_offset INTEGER;
ALTER TABLE jobs ADD COLUMN body_length INTEGER;
)sql";

// After any migration: which jobs still need a segment of the body log.
constexpr const char* kBodySegmentIndex =
    "CREATE INDEX IF NOT EXISTS jobs_body_segment ON jobs(body_segment) "
    "WHERE body_segment IS NOT NULL";

// The dead-letter error code of a job whose body is gone from the body log.
constexpr const char* kBodyUnreadable = "BODY_UNREADABLE";

// One prepared statement, reset after each use.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) {
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &statement_, nullptr) !=
        SQLITE_OK) {
      error_ = sqlite3_errmsg(db);
      statement_ = nullptr;
    }
  }
  ~Statement() { sqlite3_finalize(statement_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  bool valid() const { return statement_ != nullptr; }
  const std::string& error() const { return error_; }

  Statement& bind(int index, int64_t value) {
    sqlite3_bind_int64(statement_, index, value);
    return *this;
  }
  // Text and blobs are bound without a copy (SQLITE_STATIC): the caller's string must outlive
  // the statement's use, which every call here guarantees (bind, step, reset in one scope; no
  // temporaries are bound).
  Statement& bind(int index, std::string_view text) {
    sqlite3_bind_text(statement_, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
    return *this;
  }
  Statement& bind_blob(int index, std::string_view bytes) {
    sqlite3_bind_blob(statement_, index, bytes.data(), static_cast<int>(bytes.size()),
                      SQLITE_STATIC);
    return *this;
  }

  // SQLITE_ROW, SQLITE_DONE or an error code.
  int step() { return sqlite3_step(statement_); }
  void reset() {
    sqlite3_reset(statement_);
    sqlite3_clear_bindings(statement_);
  }

  int64_t int64(int column) const { return sqlite3_column_int64(statement_, column); }
  bool is_null(int column) const { return sqlite3_column_type(statement_, column) == SQLITE_NULL; }
  std::string text(int column) const {
    const auto* data = static_cast<const char*>(sqlite3_column_blob(statement_, column));
    const int size = sqlite3_column_bytes(statement_, column);
    return data == nullptr ? std::string() : std::string(data, static_cast<size_t>(size));
  }

 private:
  sqlite3_stmt* statement_ = nullptr;
  std::string error_;
};

// Resets a statement when leaving scope, whatever path is taken.
class Use {
 public:
  explicit Use(Statement& statement) : statement_(statement) {}
  ~Use() { statement_.reset(); }
  Use(const Use&) = delete;
  Use& operator=(const Use&) = delete;
  Statement* operator->() { return &statement_; }

 private:
  Statement& statement_;
};

Status sqlite_error(sqlite3* db, std::string_view doing) {
  return unavailable(fmt::format("sqlite: {}: {}", doing, sqlite3_errmsg(db)));
}

Status exec(sqlite3* db, const char* sql, std::string_view doing) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    std::string text = message != nullptr ? message : "unknown error";
    sqlite3_free(message);
    return unavailable(fmt::format("sqlite: {}: {}", doing, text));
  }
  return ok_status();
}

// Columns of jobs, in the order read_job() and then body_ref_at(statement, 8) expect.
#define HK_JOB_COLUMNS                                                                        \
  "id, target, event_id, body, headers, attempts, ingested_at_ms, last_error, body_segment, " \
  "body_offset, body_length"

Job read_job(const Statement& statement, int first = 0) {
  Job job;
  job.id = statement.int64(first);
  job.target = statement.text(first + 1);
  job.event_id = statement.text(first + 2);
  job.body = statement.text(first + 3);
  job.headers = statement.text(first + 4);
  job.attempts = static_cast<int>(statement.int64(first + 5));
  job.ingested_at_ms = statement.int64(first + 6);
  job.last_error = statement.text(first + 7);
  return job;
}

// segment, offset, length from `first` on; nullopt when the body is in the row.
std::optional<BodyRef> body_ref_at(const Statement& statement, int first) {
  if (statement.is_null(first)) {
    return std::nullopt;
  }
  return BodyRef{statement.int64(first), statement.int64(first + 1), statement.int64(first + 2)};
}

// Runs `body` inside BEGIN IMMEDIATE ... COMMIT, rolling back on error. The three statements are
// prepared once (`statements` has begin, commit and rollback): sqlite3_exec would parse them again
// for every transaction.
template <typename Statements, typename Body>
Status in_transaction(sqlite3* db, Statements& statements, Body&& body) {
  auto run = [db](Statement& statement, std::string_view doing) {
    Use use(statement);
    return use->step() == SQLITE_DONE ? ok_status() : sqlite_error(db, doing);
  };
  HK_RETURN_IF_ERROR(run(statements.begin, "begin"));
  Status status = body();
  if (!status.ok()) {
    (void)run(statements.rollback, "rollback");
    return status;
  }
  status = run(statements.commit, "commit");
  if (!status.ok()) {
    (void)run(statements.rollback, "rollback");
  }
  return status;
}

std::string id_list(const std::vector<int64_t>& ids) {
  std::string list;
  for (int64_t id : ids) {
    list += list.empty() ? "" : ",";
    list += std::to_string(id);
  }
  return list;
}

}  // namespace

// Copies the WAL into the database file on its own connection and thread, so that commits
// (PutEvents answers wait for them) only append to the WAL and fsync it. SQLite's automatic
// checkpoint would run inside whichever commit crosses the threshold, holding the store's
// lock while it copies and syncs megabytes. A PASSIVE checkpoint runs concurrently with the
// writer; once everything is copied, the next commit starts the WAL over.
//
// The same thread runs `maintenance` (collecting the body log) about once a second.
class SqliteStore::Checkpointer {
 public:
  // WAL size (frames) that wakes the checkpointer, and the size at which a commit checkpoints
  // by itself after all (the checkpointer fell behind or failed to open: the WAL stays bounded).
  // ~16 MB between checkpoints: job pages are written and freed again within seconds, so a
  // longer WAL lets one checkpoint copy a page once instead of once per version (measured: 4,000
  // frames ~11% more entries/s than 1,000; 16,000 no better than 4,000).
  static constexpr int kWakeFrames = 4000;
  static constexpr int kInlineFrames = 50'000;

  static constexpr std::chrono::milliseconds kMaintenanceInterval{1000};

  static std::unique_ptr<Checkpointer> start(const std::string& path, bool synchronous_full,
                                             int busy_timeout_ms,
                                             std::function<void()> maintenance) {
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                        wal_write_buffer_vfs()) != SQLITE_OK ||
        !exec(db, synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
              "setting synchronous")
             .ok()) {
      sqlite3_close_v2(db);
      return nullptr;
    }
    sqlite3_busy_timeout(db, busy_timeout_ms);
    return std::unique_ptr<Checkpointer>(new Checkpointer(db, std::move(maintenance)));
  }

  ~Checkpointer() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
    sqlite3_close_v2(db_);
  }

  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  // Runs the maintenance now instead of at the next interval.
  void request_maintenance() {
    {
      std::lock_guard lock(mutex_);
      maintenance_requested_ = true;
    }
    wake_.notify_one();
  }

  // Called after a commit with the WAL's size in frames.
  void committed(int frames) {
    if (frames < kWakeFrames) {
      return;
    }
    {
      std::lock_guard lock(mutex_);
      due_ = true;
    }
    wake_.notify_one();
  }

 private:
  Checkpointer(sqlite3* db, std::function<void()> maintenance)
      : db_(db), maintenance_(std::move(maintenance)), thread_([this] { run(); }) {}

  void run() {
    name_this_thread("hk-checkpoint");
    lower_this_thread_priority(kCheckpointNice);
    auto next_maintenance = std::chrono::steady_clock::now() + kMaintenanceInterval;
    std::unique_lock lock(mutex_);
    for (;;) {
      wake_.wait_until(lock, next_maintenance,
                       [this] { return stopping_ || due_ || maintenance_requested_; });
      if (stopping_) {
        return;
      }
      const bool checkpoint = std::exchange(due_, false);
      const bool maintenance_now = std::exchange(maintenance_requested_, false);
      lock.unlock();
      if (checkpoint) {
        // Errors (SQLITE_BUSY when another checkpoint runs) leave the frames for the next round.
        (void)sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
      }
      if (maintenance_now || std::chrono::steady_clock::now() >= next_maintenance) {
        maintenance_();
        next_maintenance = std::chrono::steady_clock::now() + kMaintenanceInterval;
      }
      lock.lock();
    }
  }

  sqlite3* db_;  // used only by thread_ (and closed after it ends)
  std::function<void()> maintenance_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool due_ = false;                    // guarded by mutex_
  bool maintenance_requested_ = false;  // guarded by mutex_
  bool stopping_ = false;               // guarded by mutex_
  std::thread thread_;
};

class SqliteStore::Statements {
 public:
  explicit Statements(sqlite3* db)
      : insert_job(db,
                   "INSERT INTO jobs (target, event_id, body, headers, ingested_at_ms, due_at_ms, "
                   "body_segment, body_offset, body_length) "
                   "VALUES (?1, ?2, x'', ?3, ?4, ?4, ?5, ?6, ?7)"),
        insert_leased_job(db,
                          "INSERT INTO jobs (target, event_id, body, headers, ingested_at_ms, "
                          "due_at_ms, body_segment, body_offset, body_length, lease_token) "
                          "VALUES (?1, ?2, x'', ?3, ?4, ?8, ?5, ?6, ?7, ?9)"),
        complete_leased(db, "DELETE FROM jobs WHERE id = ?1 AND lease_token = ?2"),
        unlease_row(db,
                    "UPDATE jobs SET lease_token = NULL, due_at_ms = ingested_at_ms "
                    "WHERE id = ?1 AND lease_token = ?2"),
        clear_row_lease(db,
                        "UPDATE jobs SET lease_token = NULL, due_at_ms = ingested_at_ms "
                        "WHERE id = ?1 AND lease_token IS NOT NULL"),
        insert_event(db,
                     "INSERT INTO archive (event_id, bus, envelope, ingested_at_ms) "
                     "VALUES (?1, ?2, ?3, ?4)"),
        claim(db, "SELECT " HK_JOB_COLUMNS
                  " FROM jobs WHERE due_at_ms <= ?1 AND NOT EXISTS (SELECT 1 FROM leases WHERE "
                  "job_id = jobs.id AND expires_at_ms > ?1) ORDER BY due_at_ms, id LIMIT ?2"),
        lease(db,
              "INSERT OR REPLACE INTO leases (job_id, token, expires_at_ms) VALUES (?1, ?2, ?3)"),
        unlease(db, "DELETE FROM leases WHERE job_id = ?1 AND token = ?2"),
        complete(db, "DELETE FROM jobs WHERE id = ?1"),
        release(db, "UPDATE jobs SET due_at_ms = ?2 WHERE id = ?1"),
        insert_dead_letter(db,
                           "INSERT INTO dead_letters (job_id, target, event_id, body, headers, "
                           "attempts, ingested_at_ms, last_error, error_code, error_message, "
                           "exhausted_retry_condition, dead_lettered_at_ms) "
                           "VALUES (0, ?1, ?2, ?3, ?4, 0, ?5, '', ?6, ?7, ?8, ?5)"),
        retry(db,
              "UPDATE jobs SET attempts = attempts + 1, due_at_ms = ?2, last_error = ?3 "
              "WHERE id = ?1"),
        move_to_dlq(db,
                    "INSERT INTO dead_letters (job_id, target, event_id, body, headers, attempts, "
                    "ingested_at_ms, last_error, error_code, error_message, "
                    "exhausted_retry_condition, dead_lettered_at_ms) "
                    "SELECT id, target, event_id, ?6, headers, attempts + 1, ingested_at_ms, "
                    "last_error, ?2, ?3, ?4, ?5 FROM jobs WHERE id = ?1"),
        segment_referenced(db, "SELECT EXISTS (SELECT 1 FROM jobs WHERE body_segment = ?1)"),
        jobs_in_segment(db,
                        "SELECT id, body_segment, body_offset, body_length FROM jobs "
                        "WHERE body_segment = ?1 AND id > ?2 ORDER BY id LIMIT ?3"),
        inline_body(db,
                    "UPDATE jobs SET body = ?2, body_segment = NULL, body_offset = NULL, "
                    "body_length = NULL WHERE id = ?1 AND body_segment = ?3"),
        kv_get(db, "SELECT value, revision FROM kv WHERE key = ?1"),
        kv_insert(db, "INSERT OR IGNORE INTO kv (key, value, revision) VALUES (?1, ?2, 1)"),
        kv_update(db,
                  "UPDATE kv SET value = ?2, revision = revision + 1 "
                  "WHERE key = ?1 AND revision = ?3"),
        dlq_list(db,
                 "SELECT id, job_id, target, event_id, body, headers, attempts, ingested_at_ms, "
                 "last_error, error_code, error_message, exhausted_retry_condition, "
                 "dead_lettered_at_ms FROM dead_letters WHERE id > ?1 ORDER BY id LIMIT ?2"),
        count_jobs(db,
                   "SELECT (SELECT COUNT(*) FROM jobs), (SELECT COUNT(*) FROM leases JOIN jobs "
                   "ON jobs.id = leases.job_id WHERE leases.expires_at_ms > ?1) + (SELECT "
                   "COUNT(*) FROM jobs WHERE lease_token IS NOT NULL AND due_at_ms > ?1)"),
        count_dead(db, "SELECT COUNT(*) FROM dead_letters"),
        count_archive(db, "SELECT COUNT(*) FROM archive"),
        ping(db, "SELECT 1"),
        begin(db, "BEGIN IMMEDIATE"),
        commit(db, "COMMIT"),
        rollback(db, "ROLLBACK"),
        sync_full(db, "PRAGMA synchronous=FULL"),
        sync_normal(db, "PRAGMA synchronous=NORMAL") {}

  Status check() const {
    for (const Statement* statement : {&insert_job,
                                       &insert_leased_job,
                                       &complete_leased,
                                       &unlease_row,
                                       &clear_row_lease,
                                       &insert_event,
                                       &claim,
                                       &lease,
                                       &unlease,
                                       &complete,
                                       &release,
                                       &insert_dead_letter,
                                       &retry,
                                       &move_to_dlq,
                                       &segment_referenced,
                                       &jobs_in_segment,
                                       &inline_body,
                                       &kv_get,
                                       &kv_insert,
                                       &kv_update,
                                       &dlq_list,
                                       &count_jobs,
                                       &count_dead,
                                       &count_archive,
                                       &ping,
                                       &begin,
                                       &commit,
                                       &rollback,
                                       &sync_full,
                                       &sync_normal}) {
      if (!statement->valid()) {
        return unavailable("sqlite: preparing statements: " + statement->error());
      }
    }
    return ok_status();
  }

  Statement insert_job;
  Statement insert_leased_job;
  Statement complete_leased;
  Statement unlease_row;
  Statement clear_row_lease;
  Statement insert_event;
  Statement claim;
  Statement lease;
  Statement unlease;
  Statement complete;
  Statement release;
  Statement insert_dead_letter;
  Statement retry;
  Statement move_to_dlq;
  Statement segment_referenced;
  Statement jobs_in_segment;
  Statement inline_body;
  Statement kv_get;
  Statement kv_insert;
  Statement kv_update;
  Statement dlq_list;
  Statement count_jobs;
  Statement count_dead;
  Statement count_archive;
  Statement ping;
  Statement begin;
  Statement commit;
  Statement rollback;
  Statement sync_full;
  Statement sync_normal;
};

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const Options& options) {
  if (options.path.empty()) {
    return invalid_argument("sqlite: the store path is empty");
  }
  const std::filesystem::path parent = std::filesystem::path(options.path).parent_path();
  if (!parent.empty()) {
    std::error_code error;
    std::filesystem::create_directories(parent, error);
    if (error) {
      return unavailable(
          fmt::format("sqlite: cannot create folder {}: {}", parent.string(), error.message()));
    }
  }
  const std::string lock_path = options.path + ".lock";
  const int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd < 0) {
    return unavailable(fmt::format("sqlite: cannot open {}: {}", lock_path, std::strerror(errno)));
  }
  if (flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(lock_fd);
    return unavailable(
        fmt::format("sqlite: {} is in use by another hikyaku process (lock {} is held)",
                    options.path, lock_path));
  }
  auto unlock = [&] { ::close(lock_fd); };
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(options.path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      wal_write_buffer_vfs()) != SQLITE_OK) {
    Status status = unavailable(fmt::format("sqlite: cannot open {}: {}", options.path,
                                            db ? sqlite3_errmsg(db) : "out of memory"));
    sqlite3_close_v2(db);
    unlock();
    return status;
  }
  sqlite3_busy_timeout(db, options.busy_timeout_ms);
  auto fail = [&](Status status) {
    sqlite3_close_v2(db);
    unlock();
    return status.with_context(options.path);
  };
  Status status = exec(db, "PRAGMA journal_mode=WAL", "enabling WAL");
  if (status.ok()) {
    status =
        exec(db, options.synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
             "setting synchronous");
  }
  if (status.ok()) {
    // 64 MiB of page cache (SQLite's default is 2 MiB): the job table's hot pages (recent
    // inserts, the due index, leases) stay in memory between a commit and the claim that follows.
    status = exec(db, "PRAGMA cache_size=-65536", "setting the cache size");
  }
  if (status.ok()) {
    status = exec(db, kSchema, "creating the schema");
  }
  if (!status.ok()) {
    return fail(status);
  }
  int64_t found_version = 0;
  {
    Statement version(db, "PRAGMA user_version");
    if (!version.valid() || version.step() != SQLITE_ROW) {
      return fail(sqlite_error(db, "reading the schema version"));
    }
    found_version = version.int64(0);
  }
  if (found_version != 0 && found_version != 1 && found_version != kSchemaVersion) {
    return fail(unavailable(
        fmt::format("store schema version {} is not supported by this hikyaku (expects {})",
                    found_version, kSchemaVersion)));
  }
  // All or nothing: a crash halfway must not leave version 1 with columns already added.
  status =
      exec(db,
           fmt::format("BEGIN IMMEDIATE; {} {}; PRAGMA user_version={}; COMMIT",
                       found_version == 1 ? kMigrateFrom1 : "", kBodySegmentIndex, kSchemaVersion)
               .c_str(),
           "upgrading the schema");
  if (!status.ok()) {
    (void)exec(db, "ROLLBACK", "upgrading the schema");
    return fail(status);
  }
  int64_t first_free_segment = 1;
  {
    Statement highest(db, "SELECT MAX(body_segment) FROM jobs");
    if (!highest.valid() || highest.step() != SQLITE_ROW) {
      return fail(sqlite_error(db, "reading the body log's segments"));
    }
    first_free_segment = highest.int64(0) + 1;
  }
  Result<std::unique_ptr<BodyLog>> bodies =
      BodyLog::open({.folder = options.path + "-bodies",
                     .segment_bytes = options.body_segment_bytes,
                     .first_free_id = first_free_segment});
  if (!bodies) {
    return fail(bodies.status());
  }
  {
    // Leases held by a previous process of ours died with it: their jobs are due again at once,
    // oldest first (a claim does not move a job's due time; a lease in the job's row, from
    // append_and_lease or an older version of hikyaku, does).
    status = exec(db,
                  "DELETE FROM leases; UPDATE jobs SET due_at_ms = ingested_at_ms, lease_token = "
                  "NULL "
                  "WHERE lease_token IS NOT NULL",
                  "recovering leases");
    if (!status.ok()) {
      return fail(status);
    }
  }
  std::unique_ptr<SqliteStore> store(new SqliteStore(db, options));
  store->lock_fd_ = lock_fd;  // from here on the store closes it, whatever fails
  store->bodies_ = std::move(*bodies);
  store->durable_sync_full_ = options.synchronous_full;
  store->sync_full_now_ = options.synchronous_full;
  store->checkpointer_ =
      Checkpointer::start(options.path, options.synchronous_full, options.busy_timeout_ms,
                          [raw = store.get()] { (void)raw->collect_bodies(); });
  if (store->checkpointer_ == nullptr) {
    return unavailable(
        fmt::format("sqlite: {}: cannot open a second connection for checkpoints", options.path));
  }
  // Replaces SQLite's automatic checkpoint (itself a WAL hook).
  sqlite3_wal_hook(
      db,
      [](void* self, sqlite3* connection, const char*, int frames) -> int {
        auto* checkpointer = static_cast<Checkpointer*>(self);
        if (checkpointer != nullptr) {
          checkpointer->committed(frames);
        }
        if (frames >=
            (checkpointer == nullptr ? Checkpointer::kWakeFrames : Checkpointer::kInlineFrames)) {
          (void)sqlite3_wal_checkpoint_v2(connection, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr,
                                          nullptr);
        }
        return SQLITE_OK;
      },
      store->checkpointer_.get());
  HK_RETURN_IF_ERROR(store->statements_->check());
  HK_RETURN_IF_ERROR(store->open_wal_for_sync());
  // Segments left by an earlier run that no job needs any more.
  HK_RETURN_IF_ERROR(store->collect_bodies());
  return store;
}

SqliteStore::SqliteStore(sqlite3* db, const Options& options)
    : db_(db),
      path_(options.path),
      seal_bodies_after_ms_(options.seal_bodies_after_ms),
      inline_bodies_after_ms_(options.inline_bodies_after_ms),
      statements_(std::make_unique<Statements>(db)) {
  std::random_device random;
  token_salt_ = (static_cast<uint64_t>(random()) << 32) ^ random();
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
  sqlite3_wal_hook(db_, nullptr, nullptr);
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

Status SqliteStore::insert_batch(const Batch& batch, std::vector<int64_t>* job_ids,
                                 const RowLease& lease, bool sync_bodies) {
  int64_t completed = 0;
  HK_RETURN_IF_ERROR(complete_claims(batch.completed, completed));
  std::vector<std::string_view> bodies;
  bodies.reserve(batch.jobs.size());
  for (const NewJob& job : batch.jobs) {
    bodies.emplace_back(job.body);
  }
  std::vector<BodyRef> refs;
  HK_RETURN_IF_ERROR(bodies_->append(bodies, refs));
  if (!refs.empty() && refs.front().segment != last_body_segment_) {
    last_body_segment_ = refs.front().segment;
    checkpointer_->request_maintenance();  // readies the segment after this one
  }
  if (sync_bodies) {
    HK_RETURN_IF_ERROR(bodies_->sync());  // before the commit that refers to them
  }
  for (size_t i = 0; i < batch.jobs.size(); ++i) {
    const NewJob& job = batch.jobs[i];
    const bool leased = i < lease.jobs;
    Use insert(leased ? statements_->insert_leased_job : statements_->insert_job);
    insert->bind(1, job.target)
        .bind(2, job.event_id)
        .bind(3, job.headers)
        .bind(4, job.ingested_at_ms)
        .bind(5, refs[i].segment)
        .bind(6, refs[i].offset)
        .bind(7, refs[i].length);
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
  for (const NewDeadLetter& letter : batch.dead_letters) {
    Use insert(statements_->insert_dead_letter);
    insert->bind(1, letter.job.target)
        .bind(2, letter.job.event_id)
        .bind_blob(3, letter.job.body)
        .bind(4, letter.job.headers)
        .bind(5, letter.job.ingested_at_ms)
        .bind(6, letter.reason.error_code)
        .bind(7, letter.reason.error_message)
        .bind(8, letter.reason.exhausted_retry_condition);
    if (insert->step() != SQLITE_DONE) {
      return sqlite_error(db_, "recording a dead letter");
    }
  }
  for (const ArchivedEvent& event : batch.events) {
    Use insert(statements_->insert_event);
    insert->bind(1, event.event_id)
        .bind(2, event.bus)
        .bind_blob(3, event.envelope)
        .bind(4, event.ingested_at_ms);
    if (insert->step() != SQLITE_DONE) {
      return sqlite_error(db_, "archiving an event");
    }
  }
  return ok_status();
}

std::string SqliteStore::new_token() {
  return fmt::format("{:016x}-{}", token_salt_, ++next_token_);
}

Status SqliteStore::append(const Batch& batch) {
  std::lock_guard lock(mutex_);
  // Completions alone are lease bookkeeping (see use_sync()).
  const bool only_completions =
      batch.jobs.empty() && batch.events.empty() && batch.dead_letters.empty();
  HK_RETURN_IF_ERROR(use_sync(!only_completions));
  return in_transaction(db_, *statements_,
                        [&] { return insert_batch(batch, nullptr, {}, durable_sync_full_); });
}

Result<std::vector<Claim>> SqliteStore::append_and_lease(Batch& batch, int limit,
                                                         int64_t lease_expires_at_ms,
                                                         bool defer_sync) {
  std::lock_guard lock(mutex_);
  const bool sync_now = !defer_sync;
  HK_RETURN_IF_ERROR(use_sync(sync_now));
  const std::string token = new_token();
  std::vector<int64_t> ids;
  ids.reserve(batch.jobs.size());
  const size_t leased = std::min(batch.jobs.size(), static_cast<size_t>(std::max(limit, 0)));
  HK_RETURN_IF_ERROR(in_transaction(db_, *statements_, [&] {
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

Status SqliteStore::take_lease(const Claim& claim, bool in_row_too) {
  // Ends the lease `statement` names; true when there was one.
  auto ended = [&](Statement& statement) -> Result<bool> {
    Use unlease(statement);
    unlease->bind(1, claim.job.id).bind(2, claim.token);
    if (unlease->step() != SQLITE_DONE) {
      return sqlite_error(db_, "settling a lease");
    }
    return sqlite3_changes(db_) > 0;
  };
  HK_ASSIGN_OR_RETURN(const bool in_table, ended(statements_->unlease));
  if (in_table) {
    return ok_status();
  }
  if (in_row_too) {
    HK_ASSIGN_OR_RETURN(const bool in_row, ended(statements_->unlease_row));
    if (in_row) {
      return ok_status();
    }
  }
  return failed_precondition(fmt::format("job {} is no longer leased by this claim", claim.job.id));
}

Status SqliteStore::complete_one(const Claim& claim, int64_t& completed) {
  {
    // A lease from append_and_lease: one delete settles it.
    Use complete(statements_->complete_leased);
    complete->bind(1, claim.job.id).bind(2, claim.token);
    if (complete->step() != SQLITE_DONE) {
      return sqlite_error(db_, "completing a job");
    }
    if (sqlite3_changes(db_) > 0) {
      ++completed;
      return ok_status();
    }
  }
  HK_RETURN_IF_ERROR(take_lease(claim, /*in_row_too=*/false));
  Use complete(statements_->complete);
  complete->bind(1, claim.job.id);
  if (complete->step() != SQLITE_DONE) {
    return sqlite_error(db_, "completing a job");
  }
  completed += sqlite3_changes(db_);
  return ok_status();
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
  std::lock_guard lock(wal_sync_mutex_);
  if (wal_sync_failure_.ok() && ::fdatasync(wal_fd_) != 0) {
    // Sticks, as BodyLog::sync() does: a later success would not prove the lost pages written.
    wal_sync_failure_ =
        unavailable(fmt::format("sqlite: syncing {}-wal: {}", path_, std::strerror(errno)));
  }
  return wal_sync_failure_;
}

Result<std::vector<Claim>> SqliteStore::claim(int64_t now_ms, int limit, int64_t lease_ms) {
  if (limit <= 0 || lease_ms <= 0) {
    return invalid_argument("claim needs a positive limit and lease");
  }
  std::lock_guard lock(mutex_);
  (void)use_sync(false);  // failing leaves FULL: slower, never less durable
  const std::string token = new_token();
  const int64_t expires = now_ms + lease_ms;
  std::vector<Claim> claims;
  HK_RETURN_IF_ERROR(in_transaction(db_, *statements_, [&]() -> Status {
    std::vector<std::pair<Claim, Status>> unreadable;
    {
      Use select(statements_->claim);
      select->bind(1, now_ms).bind(2, limit);
      int step = SQLITE_ROW;
      while ((step = select->step()) == SQLITE_ROW) {
        Claim claim{read_job(*select.operator->()), token, expires};
        if (const std::optional<BodyRef> ref = body_ref_at(*select.operator->(), 8)) {
          Result<std::string> body = bodies_->read(*ref);
          if (!body && body.error().code() == StatusCode::kNotFound) {
            unreadable.emplace_back(std::move(claim), body.status());
            continue;
          }
          if (!body) {
            return body.status();  // an I/O error may pass: the job stays for the next claim
          }
          claim.job.body = std::move(*body);
        }
        claims.push_back(std::move(claim));
      }
      if (step != SQLITE_DONE) {
        return sqlite_error(db_, "claiming jobs");
      }
    }
    // Undeliverable: visible in the dead-letter queue instead of failing every claim.
    for (const auto& [claim, error] : unreadable) {
      if (Status moved =
              move_to_dead_letters(claim, {kBodyUnreadable, error.message(), ""}, now_ms);
          !moved.ok()) {
        return moved;
      }
    }
    for (const Claim& claim : claims) {
      Use lease(statements_->lease);
      lease->bind(1, claim.job.id).bind(2, token).bind(3, expires);
      if (lease->step() != SQLITE_DONE) {
        return sqlite_error(db_, "leasing a job");
      }
      // An expired lease from append_and_lease ends here (no write unless there was one).
      Use clear(statements_->clear_row_lease);
      clear->bind(1, claim.job.id);
      if (clear->step() != SQLITE_DONE) {
        return sqlite_error(db_, "leasing a job");
      }
    }
    return ok_status();
  }));
  return claims;
}

Status SqliteStore::complete(const Claim& claim) {
  std::lock_guard lock(mutex_);
  (void)use_sync(false);  // failing leaves FULL: slower, never less durable
  int64_t completed = 0;
  return in_transaction(db_, *statements_, [&] { return complete_one(claim, completed); });
}

Result<int64_t> SqliteStore::complete_all(const std::vector<Claim>& claims) {
  std::lock_guard lock(mutex_);
  (void)use_sync(false);  // failing leaves FULL: slower, never less durable
  int64_t completed = 0;
  HK_RETURN_IF_ERROR(
      in_transaction(db_, *statements_, [&] { return complete_claims(claims, completed); }));
  return completed;
}

Status SqliteStore::complete_claims(const std::vector<Claim>& claims, int64_t& completed) {
  for (const Claim& claim : claims) {
    if (Status status = complete_one(claim, completed);
        !status.ok() && status.code() != StatusCode::kFailedPrecondition) {
      return status;
    }  // a lost lease is skipped: the job is someone else's now
  }
  return ok_status();
}

Status SqliteStore::retry(const Claim& claim, int64_t next_attempt_at_ms,
                          const std::string& error) {
  std::lock_guard lock(mutex_);
  (void)use_sync(false);  // failing leaves FULL: slower, never less durable
  return in_transaction(db_, *statements_, [&]() -> Status {
    HK_RETURN_IF_ERROR(take_lease(claim, /*in_row_too=*/true));
    Use retry(statements_->retry);
    retry->bind(1, claim.job.id).bind(2, next_attempt_at_ms).bind(3, error);
    if (retry->step() != SQLITE_DONE) {
      return sqlite_error(db_, "rescheduling a job");
    }
    return ok_status();
  });
}

Status SqliteStore::dead_letter(const Claim& claim, const DeadLetterReason& reason,
                                int64_t now_ms) {
  std::lock_guard lock(mutex_);
  HK_RETURN_IF_ERROR(use_sync(true));
  return in_transaction(db_, *statements_, [&]() -> Status {
    HK_RETURN_IF_ERROR(take_lease(claim, /*in_row_too=*/true));
    return move_to_dead_letters(claim, reason, now_ms);
  });
}

Status SqliteStore::move_to_dead_letters(const Claim& claim, const DeadLetterReason& reason,
                                         int64_t now_ms) {
  {
    Use move(statements_->move_to_dlq);
    move->bind(1, claim.job.id)
        .bind(2, reason.error_code)
        .bind(3, reason.error_message)
        .bind(4, reason.exhausted_retry_condition)
        .bind(5, now_ms)
        .bind_blob(6, claim.job.body);
    if (move->step() != SQLITE_DONE) {
      return sqlite_error(db_, "dead-lettering a job");
    }
  }
  Use remove(statements_->complete);
  remove->bind(1, claim.job.id);
  if (remove->step() != SQLITE_DONE) {
    return sqlite_error(db_, "removing a dead-lettered job");
  }
  return ok_status();
}

Status SqliteStore::release(const Claim& claim, int64_t due_at_ms) {
  std::lock_guard lock(mutex_);
  (void)use_sync(false);  // failing leaves FULL: slower, never less durable
  return in_transaction(db_, *statements_, [&]() -> Status {
    HK_RETURN_IF_ERROR(take_lease(claim, /*in_row_too=*/true));
    Use release(statements_->release);
    release->bind(1, claim.job.id).bind(2, due_at_ms);
    if (release->step() != SQLITE_DONE) {
      return sqlite_error(db_, "releasing a job");
    }
    return ok_status();
  });
}

Result<std::optional<KvEntry>> SqliteStore::kv_get(const std::string& key) {
  std::lock_guard lock(mutex_);
  Use get(statements_->kv_get);
  get->bind(1, key);
  const int step = get->step();
  if (step == SQLITE_DONE) {
    return std::optional<KvEntry>();
  }
  if (step != SQLITE_ROW) {
    return sqlite_error(db_, "reading a key");
  }
  return std::optional<KvEntry>(KvEntry{get->text(0), get->int64(1)});
}

Result<int64_t> SqliteStore::kv_put_if(const std::string& key, const std::string& value,
                                       int64_t expected_revision) {
  if (expected_revision < 0) {
    return invalid_argument("expected_revision must be >= 0");
  }
  std::lock_guard lock(mutex_);
  HK_RETURN_IF_ERROR(use_sync(true));
  Statement& statement = expected_revision == 0 ? statements_->kv_insert : statements_->kv_update;
  Use put(statement);
  put->bind(1, key).bind_blob(2, value);
  if (expected_revision > 0) {
    put->bind(3, expected_revision);
  }
  if (put->step() != SQLITE_DONE) {
    return sqlite_error(db_, "writing a key");
  }
  if (sqlite3_changes(db_) == 0) {
    return failed_precondition(
        fmt::format("key \"{}\" changed: expected revision {}", key, expected_revision));
  }
  return expected_revision + 1;
}

Result<std::vector<DeadLetter>> SqliteStore::dlq_list(int limit, int64_t after_id) {
  std::lock_guard lock(mutex_);
  Use list(statements_->dlq_list);
  list->bind(1, after_id).bind(2, limit);
  std::vector<DeadLetter> letters;
  int step = SQLITE_ROW;
  while ((step = list->step()) == SQLITE_ROW) {
    DeadLetter letter;
    letter.id = list->int64(0);
    letter.job = read_job(*list.operator->(), 1);
    letter.reason.error_code = list->text(9);
    letter.reason.error_message = list->text(10);
    letter.reason.exhausted_retry_condition = list->text(11);
    letter.dead_lettered_at_ms = list->int64(12);
    letters.push_back(std::move(letter));
  }
  if (step != SQLITE_DONE) {
    return sqlite_error(db_, "listing dead letters");
  }
  return letters;
}

Result<int64_t> SqliteStore::dlq_redrive(const std::vector<int64_t>& ids, int64_t now_ms) {
  std::lock_guard lock(mutex_);
  HK_RETURN_IF_ERROR(use_sync(true));
  // A letter whose body was lost has nothing to deliver: it stays until purged.
  const std::string where = std::string(" WHERE error_code != '") + kBodyUnreadable + "'" +
                            (ids.empty() ? "" : " AND id IN (" + id_list(ids) + ")");
  int64_t moved = 0;
  Status status = in_transaction(db_, *statements_, [&]() -> Status {
    const std::string insert = fmt::format(
        "INSERT INTO jobs (target, event_id, body, headers, attempts, ingested_at_ms, due_at_ms, "
        "last_error) SELECT target, event_id, body, headers, 0, ingested_at_ms, {}, last_error "
        "FROM dead_letters{}",
        now_ms, where);
    HK_RETURN_IF_ERROR(exec(db_, insert.c_str(), "redriving dead letters"));
    moved = sqlite3_changes(db_);
    return exec(db_, ("DELETE FROM dead_letters" + where).c_str(), "removing redriven letters");
  });
  HK_RETURN_IF_ERROR(status);
  return moved;
}

Result<int64_t> SqliteStore::dlq_purge(const std::vector<int64_t>& ids) {
  std::lock_guard lock(mutex_);
  HK_RETURN_IF_ERROR(use_sync(true));
  const std::string sql =
      "DELETE FROM dead_letters" + (ids.empty() ? "" : " WHERE id IN (" + id_list(ids) + ")");
  HK_RETURN_IF_ERROR(exec(db_, sql.c_str(), "purging dead letters"));
  return static_cast<int64_t>(sqlite3_changes(db_));
}

Result<Counts> SqliteStore::counts(int64_t now_ms) {
  std::lock_guard lock(mutex_);
  Counts counts;
  {
    Use jobs(statements_->count_jobs);
    jobs->bind(1, now_ms);
    if (jobs->step() != SQLITE_ROW) {
      return sqlite_error(db_, "counting jobs");
    }
    counts.leased = jobs->int64(1);
    counts.pending = jobs->int64(0) - counts.leased;
  }
  {
    Use dead(statements_->count_dead);
    if (dead->step() != SQLITE_ROW) {
      return sqlite_error(db_, "counting dead letters");
    }
    counts.dead_letters = dead->int64(0);
  }
  {
    Use archive(statements_->count_archive);
    if (archive->step() != SQLITE_ROW) {
      return sqlite_error(db_, "counting archived events");
    }
    counts.archived_events = archive->int64(0);
  }
  return counts;
}

Status SqliteStore::collect_bodies() {
  // One collection at a time (the checkpoint thread's and any caller's): when this returns, what
  // an earlier collection began, such as removing a file, is done.
  std::lock_guard collecting(collect_mutex_);
  std::vector<int64_t> unreferenced;
  std::vector<int64_t> long_sealed;  // still referenced a while after they were sealed
  {
    std::lock_guard lock(mutex_);
    HK_RETURN_IF_ERROR(bodies_->seal_if_older(seal_bodies_after_ms_));
    for (const BodyLog::Sealed& sealed : bodies_->sealed()) {
      Use referenced(statements_->segment_referenced);
      referenced->bind(1, sealed.segment);
      if (referenced->step() != SQLITE_ROW) {
        return sqlite_error(db_, "looking for jobs in the body log");
      }
      if (referenced->int64(0) == 0) {
        unreferenced.push_back(sealed.segment);
      } else if (sealed.sealed_for_ms >= inline_bodies_after_ms_) {
        long_sealed.push_back(sealed.segment);
      }
    }
  }
  if (!unreferenced.empty()) {
    // The deletes that freed these segments must outlast a power cut before the bodies go: lease
    // bookkeeping commits without a sync, and so does everything at NORMAL.
    HK_RETURN_IF_ERROR(sync_wal());
    for (int64_t segment : unreferenced) {
      HK_RETURN_IF_ERROR(bodies_->remove(segment));
    }
  }
  for (int64_t segment : long_sealed) {
    HK_RETURN_IF_ERROR(inline_bodies(segment));
  }
  return bodies_->prepare_next();
}

Status SqliteStore::inline_bodies(int64_t segment) {
  // In chunks, so that commits wait for one chunk at most.
  constexpr int kChunk = 64;  // read under the store's lock by a low-priority thread
  int64_t after_id = 0;
  for (;;) {
    std::lock_guard lock(mutex_);
    (void)use_sync(false);  // collect_bodies() syncs before it removes the segment
    bool done = false;
    HK_RETURN_IF_ERROR(in_transaction(db_, *statements_, [&]() -> Status {
      std::vector<std::pair<int64_t, BodyRef>> jobs;
      {
        Use select(statements_->jobs_in_segment);
        select->bind(1, segment).bind(2, after_id).bind(3, kChunk);
        int step = SQLITE_ROW;
        while ((step = select->step()) == SQLITE_ROW) {
          jobs.emplace_back(select->int64(0), *body_ref_at(*select.operator->(), 1));
        }
        if (step != SQLITE_DONE) {
          return sqlite_error(db_, "listing the jobs of a body segment");
        }
      }
      done = jobs.size() < static_cast<size_t>(kChunk);
      for (const auto& [id, ref] : jobs) {
        after_id = id;
        Result<std::string> body = bodies_->read(ref);
        if (!body) {
          continue;  // left for claim() to dead-letter
        }
        Use update(statements_->inline_body);
        update->bind(1, id).bind_blob(2, *body).bind(3, segment);
        if (update->step() != SQLITE_DONE) {
          return sqlite_error(db_, "moving a body into its job");
        }
      }
      return ok_status();
    }));
    if (done) {
      return ok_status();
    }
  }
}

Status SqliteStore::ping() {
  std::lock_guard lock(mutex_);
  Use ping(statements_->ping);
  if (ping->step() != SQLITE_ROW) {
    return sqlite_error(db_, "ping");
  }
  return ok_status();
}

}  // namespace hikyaku::store
