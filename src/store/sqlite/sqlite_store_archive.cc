// SqliteStore: reading archives back for replays, their sizes, and retention. The events are
// written by append() (Batch::events) into the `archive` table, indexed by (archive,
// ingested_at_ms); these statements run rarely (a page of a replay, a describe, a sweep a
// minute), so they are prepared per call rather than kept in Statements.
#include <sqlite3.h>

#include <string>

#include "store/sqlite/internal/schema.h"
#include "store/sqlite/internal/statements.h"
#include "store/sqlite/sqlite_store.h"

namespace hikyaku::store {

using internal::sqlite_error;
using internal::Statement;

Result<std::vector<StoredArchivedEvent>> SqliteStore::archive_read(const std::string& archive,
                                                                   int64_t to_ms,
                                                                   ArchiveCursor after, int limit) {
  if (limit <= 0) {
    return invalid_argument("limit must be > 0");
  }
  MutexLock lock(mutex_);
  Statement read(db_,
                 "SELECT id, ingested_at_ms, envelope FROM archive WHERE archive = ?1 AND "
                 "(ingested_at_ms, id) > (?2, ?3) AND ingested_at_ms < ?4 "
                 "ORDER BY ingested_at_ms, id LIMIT ?5");
  if (!read.valid()) {
    return sqlite_error(db_, "reading an archive");
  }
  read.bind(1, archive)
      .bind(2, after.ingested_at_ms)
      .bind(3, after.id)
      .bind(4, to_ms)
      .bind(5, int64_t{limit});
  std::vector<StoredArchivedEvent> events;
  int step = SQLITE_ROW;
  while ((step = read.step()) == SQLITE_ROW) {
    events.push_back({read.int64(0), read.int64(1), read.text(2)});
  }
  if (step != SQLITE_DONE) {
    return sqlite_error(db_, "reading an archive");
  }
  return events;
}

Result<ArchiveStats> SqliteStore::archive_stats(const std::string& archive) {
  MutexLock lock(mutex_);
  Statement count(db_,
                  "SELECT COUNT(*), COALESCE(SUM(LENGTH(envelope)), 0) FROM archive "
                  "WHERE archive = ?1");
  if (!count.valid()) {
    return sqlite_error(db_, "counting an archive");
  }
  count.bind(1, archive);
  if (count.step() != SQLITE_ROW) {
    return sqlite_error(db_, "counting an archive");
  }
  return ArchiveStats{count.int64(0), count.int64(1)};
}

Result<int64_t> SqliteStore::archive_expire(const std::string& archive, int64_t before_ms,
                                            int limit) {
  if (limit <= 0) {
    return invalid_argument("limit must be > 0");
  }
  MutexLock lock(mutex_);
  // Losing a removal to a power cut only keeps an expired event until the next sweep.
  HK_RETURN_IF_ERROR(use_sync(false));
  Statement expire(db_,
                   "DELETE FROM archive WHERE id IN (SELECT id FROM archive WHERE archive = ?1 "
                   "AND ingested_at_ms < ?2 ORDER BY ingested_at_ms LIMIT ?3)");
  if (!expire.valid()) {
    return sqlite_error(db_, "expiring archived events");
  }
  expire.bind(1, archive).bind(2, before_ms).bind(3, int64_t{limit});
  if (expire.step() != SQLITE_DONE) {
    return sqlite_error(db_, "expiring archived events");
  }
  return static_cast<int64_t>(sqlite3_changes(db_));
}

}  // namespace hikyaku::store
