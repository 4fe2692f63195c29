#include "store/sqlite/internal/schema.h"

#include <fmt/format.h>

#include "store/sqlite/internal/statement.h"

namespace hikyaku::store::internal {
namespace {

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
  body_length INTEGER,
  -- The original event (for the dead letter): 0 not kept (rows from before schema 3), 1 the body
  -- is the event, 2 a record in the body log beside the body (body_segment, event_offset,
  -- event_length), 3 in `event`.
  event_kind INTEGER NOT NULL DEFAULT 0,
  event_offset INTEGER,
  event_length INTEGER,
  event BLOB
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
  dead_lettered_at_ms INTEGER NOT NULL,
  event BLOB,                        -- the original event; NULL = not kept
  request TEXT NOT NULL DEFAULT '',  -- the last attempt's request, secrets masked (JSON)
  http_status INTEGER NOT NULL DEFAULT 0,
  response_excerpt TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS archive (
  id INTEGER PRIMARY KEY,
  event_id TEXT NOT NULL,
  bus TEXT NOT NULL,
  envelope BLOB NOT NULL,
  ingested_at_ms INTEGER NOT NULL,
  archive TEXT NOT NULL DEFAULT ''   -- the archive's name (Archives[].ArchiveName)
);
-- Each archive's totals, kept by the inserts and retention (DescribeArchive reads them without a
-- scan).
CREATE TABLE IF NOT EXISTS archive_totals (
  archive TEXT PRIMARY KEY,
  event_count INTEGER NOT NULL,
  size_bytes INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
  id INTEGER PRIMARY KEY,
  at_ms INTEGER NOT NULL,
  target TEXT NOT NULL,
  destination TEXT NOT NULL,
  event_id TEXT NOT NULL,
  job_id INTEGER NOT NULL,
  attempt INTEGER NOT NULL,
  http_status INTEGER NOT NULL,
  latency_ms INTEGER NOT NULL,
  outcome TEXT NOT NULL,
  error TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_target ON dead_letters(target, id);
CREATE INDEX IF NOT EXISTS dead_letters_time ON dead_letters(dead_lettered_at_ms);
CREATE TABLE IF NOT EXISTS kv (
  key TEXT PRIMARY KEY,
  value BLOB NOT NULL,
  revision INTEGER NOT NULL
);
)sql";

// Columns added since schema 1, for databases created before them. Added when missing, rather
// than by version: a table kSchema has just created already has them.
struct AddedColumn {
  const char* table;
  const char* column;
  const char* declaration;
};
constexpr AddedColumn kAddedColumns[] = {
    // 2: bodies in the body log.
    {"jobs", "body_segment", "INTEGER"},
    {"jobs", "body_offset", "INTEGER"},
    {"jobs", "body_length", "INTEGER"},
    // 3: the original event and the last attempt.
    {"jobs", "event_kind", "INTEGER NOT NULL DEFAULT 0"},
    {"jobs", "event_offset", "INTEGER"},
    {"jobs", "event_length", "INTEGER"},
    {"jobs", "event", "BLOB"},
    {"dead_letters", "event", "BLOB"},
    {"dead_letters", "request", "TEXT NOT NULL DEFAULT ''"},
    {"dead_letters", "http_status", "INTEGER NOT NULL DEFAULT 0"},
    {"dead_letters", "response_excerpt", "TEXT NOT NULL DEFAULT ''"},
    // 5: archives by name.
    {"archive", "archive", "TEXT NOT NULL DEFAULT ''"},
};

Result<std::string> missing_columns_sql(sqlite3* db) {
  std::string sql;
  Statement has_column(db, "SELECT COUNT(*) FROM pragma_table_info(?1) WHERE name = ?2");
  if (!has_column.valid()) {
    return sqlite_error(db, "reading the schema");
  }
  for (const AddedColumn& added : kAddedColumns) {
    has_column.bind(1, std::string_view(added.table)).bind(2, std::string_view(added.column));
    const int step = has_column.step();
    const bool present = step == SQLITE_ROW && has_column.int64(0) > 0;
    has_column.reset();
    if (step != SQLITE_ROW) {
      return sqlite_error(db, "reading the schema");
    }
    if (!present) {
      sql += fmt::format("ALTER TABLE {} ADD COLUMN {} {};", added.table, added.column,
                         added.declaration);
    }
  }
  return sql;
}

// After any migration: which jobs still need a segment of the body log.
constexpr const char* kBodySegmentIndex =
    "CREATE INDEX IF NOT EXISTS jobs_body_segment ON jobs(body_segment) "
    "WHERE body_segment IS NOT NULL";

// After any migration (the column may just have been added): replays read an archive's window in
// (ingested_at_ms, id) order and retention removes its oldest events.
constexpr const char* kArchiveIndex =
    "CREATE INDEX IF NOT EXISTS archive_by_name ON archive(archive, ingested_at_ms)";

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
  if (found_version < 0 || found_version > kSchemaVersion) {
    return unavailable(
        fmt::format("store schema version {} is not supported by this hikyaku (expects {})",
                    found_version, kSchemaVersion));
  }
  // All or nothing: a crash halfway leaves the old version as it was.
  HK_ASSIGN_OR_RETURN(const std::string added_columns, missing_columns_sql(db));
  Status status = exec(db,
                       fmt::format("BEGIN IMMEDIATE; {} {}; {}; PRAGMA user_version={}; COMMIT",
                                   added_columns, kBodySegmentIndex, kArchiveIndex, kSchemaVersion)
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
