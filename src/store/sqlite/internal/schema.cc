#include "store/sqlite/internal/schema.h"

#include <fmt/format.h>

#include "store/sqlite/internal/statement.h"

namespace hikyaku::store::internal {
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
  lease_token TEXT,                  -- the job's lease, if any (due_at_ms = its expiry)
  last_error TEXT NOT NULL DEFAULT '',
  body_segment INTEGER,              -- where the body is in the body log; NULL = in `body`
  body_offset INTEGER,
  body_length INTEGER
);
CREATE INDEX IF NOT EXISTS jobs_due ON jobs(due_at_ms);
-- Leases of older versions (live while expires_at_ms > now), cleared at open. A job's lease is
-- carried in its row: the token in jobs.lease_token and the expiry as its due time, written by
-- append_and_lease with the row and by claim() as an update; gone with the row. A leased job's due
-- time is past the claim's range until the lease expires, so a claim never steps over leased jobs
-- (with thousands in flight, that scan was most of a claim's cost); claim() overwrites an expired
-- lease. (The rows are small: bodies are in the body log, but for the few moved back in.)
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

}  // namespace

Status configure_connection(sqlite3* db, bool synchronous_full) {
  Status status = exec(db, "PRAGMA journal_mode=WAL", "enabling WAL");
  if (status.ok()) {
    status = exec(db, synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
                  "setting synchronous");
  }
  if (status.ok()) {
    // 64 MiB of page cache (SQLite's default is 2 MiB): the job table's hot pages (recent
    // inserts, the due index, leases) stay in memory between a commit and the claim that follows.
    status = exec(db, "PRAGMA cache_size=-65536", "setting the cache size");
  }
  return status;
}

Status create_or_upgrade_schema(sqlite3* db) {
  HK_RETURN_IF_ERROR(exec(db, kSchema, "creating the schema"));
  int64_t found_version = 0;
  {
    Statement version(db, "PRAGMA user_version");
    if (!version.valid() || version.step() != SQLITE_ROW) {
      return sqlite_error(db, "reading the schema version");
    }
    found_version = version.int64(0);
  }
  if (found_version != 0 && found_version != 1 && found_version != kSchemaVersion) {
    return unavailable(
        fmt::format("store schema version {} is not supported by this hikyaku (expects {})",
                    found_version, kSchemaVersion));
  }
  // All or nothing: a crash halfway must not leave version 1 with columns already added.
  Status status =
      exec(db,
           fmt::format("BEGIN IMMEDIATE; {} {}; PRAGMA user_version={}; COMMIT",
                       found_version == 1 ? kMigrateFrom1 : "", kBodySegmentIndex, kSchemaVersion)
               .c_str(),
           "upgrading the schema");
  if (!status.ok()) {
    (void)exec(db, "ROLLBACK", "upgrading the schema");
  }
  return status;
}

Result<int64_t> first_free_body_segment(sqlite3* db) {
  Statement highest(db, "SELECT MAX(body_segment) FROM jobs");
  if (!highest.valid() || highest.step() != SQLITE_ROW) {
    return sqlite_error(db, "reading the body log's segments");
  }
  return highest.int64(0) + 1;
}

}  // namespace hikyaku::store::internal
