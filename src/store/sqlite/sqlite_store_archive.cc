// SqliteStore: archived events written with a batch, read back for replays, their totals, and
// retention. The events are rows of the `archive` table, indexed by (archive, ingested_at_ms);
// `archive_totals` keeps each archive's count and bytes, changed in the same transactions, so a
// describe never scans an archive. Only the insert runs on the commit path; the other statements
// run rarely (a page of a replay, a describe, a sweep a minute) and are prepared per call.
#include <sqlite3.h>

#include <map>
#include <string>
#include <utility>

#include "store/sqlite/internal/schema.h"
#include "store/sqlite/internal/statements.h"
#include "store/sqlite/sqlite_store.h"

namespace hikyaku::store {

using internal::sqlite_error;
using internal::Statement;
using internal::Use;

namespace {

constexpr const char* kAddToTotals =
    "INSERT INTO archive_totals (archive, event_count, size_bytes) VALUES (?1, ?2, ?3) "
    "ON CONFLICT(archive) DO UPDATE SET event_count = event_count + excluded.event_count, "
    "size_bytes = size_bytes + excluded.size_bytes";

}  // namespace

Status SqliteStore::archive_events(const std::vector<ArchivedEvent>& events) {
  if (events.empty()) {
    return ok_status();
  }
  std::map<std::string_view, std::pair<int64_t, int64_t>> totals;  // archive -> count, bytes
  for (const ArchivedEvent& event : events) {
    Use insert(statements_->insert_event);
    insert->bind(1, event.event_id)
        .bind(2, event.bus)
        .bind_blob(3, event.envelope)
        .bind(4, event.ingested_at_ms)
        .bind(5, event.archive);
    if (insert->step() != SQLITE_DONE) {
      return sqlite_error(db_, "archiving an event");
    }
    auto& [count, bytes] = totals[event.archive];
    ++count;
    bytes += static_cast<int64_t>(event.envelope.size());
  }
  Statement add(db_, kAddToTotals);
  for (const auto& [archive, total] : totals) {
    add.bind(1, archive).bind(2, total.first).bind(3, total.second);
    const int step = add.step();
    add.reset();
    if (step != SQLITE_DONE) {
      return sqlite_error(db_, "counting archived events");
    }
  }
  return ok_status();
}

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
  Statement totals(db_, "SELECT event_count, size_bytes FROM archive_totals WHERE archive = ?1");
  if (!totals.valid()) {
    return sqlite_error(db_, "reading an archive's totals");
  }
  totals.bind(1, archive);
  const int step = totals.step();
  if (step == SQLITE_DONE) {
    return ArchiveStats{};
  }
  if (step != SQLITE_ROW) {
    return sqlite_error(db_, "reading an archive's totals");
  }
  return ArchiveStats{totals.int64(0), totals.int64(1)};
}

Result<int64_t> SqliteStore::archive_expire(const std::string& archive, int64_t before_ms,
                                            int limit) {
  if (limit <= 0) {
    return invalid_argument("limit must be > 0");
  }
  MutexLock lock(mutex_);
  // Losing a removal to a power cut only keeps an expired event until the next sweep.
  HK_RETURN_IF_ERROR(use_sync(false));
  int64_t removed = 0;
  HK_RETURN_IF_ERROR(in_transaction([&]() HK_REQUIRES(mutex_) -> Status {
    // The oldest `limit` rows, counted, then removed, then taken off the totals.
    constexpr const char* kOldest =
        "SELECT id FROM archive WHERE archive = ?1 AND ingested_at_ms < ?2 "
        "ORDER BY ingested_at_ms LIMIT ?3";
    Statement count(db_, (std::string("SELECT COUNT(*), COALESCE(SUM(LENGTH(envelope)), 0) FROM "
                                      "archive WHERE id IN (") +
                          kOldest + ")")
                             .c_str());
    Statement expire(db_,
                     (std::string("DELETE FROM archive WHERE id IN (") + kOldest + ")").c_str());
    Statement subtract(db_,
                       "UPDATE archive_totals SET event_count = event_count - ?2, "
                       "size_bytes = size_bytes - ?3 WHERE archive = ?1");
    if (!count.valid() || !expire.valid() || !subtract.valid()) {
      return sqlite_error(db_, "expiring archived events");
    }
    count.bind(1, archive).bind(2, before_ms).bind(3, int64_t{limit});
    if (count.step() != SQLITE_ROW) {
      return sqlite_error(db_, "expiring archived events");
    }
    removed = count.int64(0);
    const int64_t bytes = count.int64(1);
    if (removed == 0) {
      return ok_status();
    }
    expire.bind(1, archive).bind(2, before_ms).bind(3, int64_t{limit});
    subtract.bind(1, archive).bind(2, removed).bind(3, bytes);
    if (expire.step() != SQLITE_DONE || subtract.step() != SQLITE_DONE) {
      return sqlite_error(db_, "expiring archived events");
    }
    return ok_status();
  }));
  return removed;
}

}  // namespace hikyaku::store
