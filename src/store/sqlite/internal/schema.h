#pragma once
// Internal to the SQLite store: the database's settings, its schema, and the upgrade from
// earlier schema versions, applied when the store opens.
//
// Thread safety: called by SqliteStore::open() before the connection is shared.

#include <sqlite3.h>

#include <cstdint>

#include "core/status.h"

namespace hikyaku::store::internal {

// The schema this build writes (PRAGMA user_version); it opens every older one.
// 2: job bodies in the body log (jobs.body_segment, body_offset, body_length).
// 3: the original event kept with each job and dead letter (jobs.event_*, dead_letters.event),
//    and the last attempt in each dead letter (request, http_status, response_excerpt).
// 4: the delivery log (deliveries) and the dead-letter indexes operators' filters use.
// 5: archives by name (archive.archive), read in (archive, ingested_at_ms, id) order, and their
//    totals (archive_totals).
inline constexpr int kSchemaVersion = 5;

// WAL mode, the configured synchronous level, and the page cache.
Status configure_connection(sqlite3* db, bool synchronous_full);

// Creates the tables when missing and upgrades an older schema to the current version, all or
// nothing. kUnavailable for a version this build does not know.
Status create_or_upgrade_schema(sqlite3* db);

// The lowest body-log segment id that no job row names.
Result<int64_t> first_free_body_segment(sqlite3* db);

}  // namespace hikyaku::store::internal
