// SqliteStore: the calls operators and the API use beside delivery: the KV table, the dead-letter
// queue, counts.
#include <fmt/format.h>
#include <sqlite3.h>

#include <limits>
#include <string>

#include "store/sqlite/internal/schema.h"
#include "store/sqlite/internal/statements.h"
#include "store/sqlite/sqlite_store.h"

namespace hikyaku::store {

using internal::exec;
using internal::sqlite_error;
using internal::Statement;
using internal::Use;

namespace {

std::string id_list(const std::vector<int64_t>& ids) {
  std::string list;
  for (int64_t id : ids) {
    list += list.empty() ? "" : ",";
    list += std::to_string(id);
  }
  return list;
}

}  // namespace

Result<std::optional<KvEntry>> SqliteStore::kv_get(const std::string& key) {
  MutexLock lock(mutex_);
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
  MutexLock lock(mutex_);
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

Result<std::vector<std::pair<std::string, KvEntry>>> SqliteStore::kv_list(
    const std::string& prefix, const std::string& after_key, int limit) {
  MutexLock lock(mutex_);
  Use list(statements_->kv_list);
  list->bind(1, after_key < prefix ? prefix : after_key).bind(2, prefix).bind(3, limit);
  std::vector<std::pair<std::string, KvEntry>> entries;
  int step = SQLITE_ROW;
  while ((step = list->step()) == SQLITE_ROW) {
    entries.emplace_back(list->text(0), KvEntry{list->text(1), list->int64(2)});
  }
  if (step != SQLITE_DONE) {
    return sqlite_error(db_, "listing keys");
  }
  return entries;
}

namespace {

// The columns of a dead letter, in the order read_dead_letter() expects; a summary reads empty
// strings and NULL in place of the large ones.
constexpr const char* kLetterColumns =
    "id, job_id, target, event_id, body, headers, attempts, ingested_at_ms, last_error, "
    "error_code, error_message, exhausted_retry_condition, dead_lettered_at_ms, event, request, "
    "http_status, response_excerpt";
constexpr const char* kSummaryColumns =
    "id, job_id, target, event_id, '', '', attempts, ingested_at_ms, last_error, error_code, "
    "error_message, exhausted_retry_condition, dead_lettered_at_ms, NULL, '', http_status, "
    "response_excerpt";

DeadLetter read_dead_letter(const internal::Statement& row) {
  DeadLetter letter;
  letter.id = row.int64(0);
  letter.job = internal::read_job(row, 1);
  letter.reason.error_code = row.text(9);
  letter.reason.error_message = row.text(10);
  letter.reason.exhausted_retry_condition = row.text(11);
  letter.dead_lettered_at_ms = row.int64(12);
  if (!row.is_null(13)) {
    letter.event = row.text(13);
  }
  letter.reason.request = row.text(14);
  letter.reason.http_status = static_cast<int>(row.int64(15));
  letter.reason.response_excerpt = row.text(16);
  return letter;
}

}  // namespace

Result<std::vector<DeadLetter>> SqliteStore::dlq_find(const DeadLetterFilter& filter, int limit,
                                                      int64_t after_id, bool summaries) {
  // Names cannot hold '/', so "/<rule>/" can only be the middle of "<bus>/<rule>/<target id>",
  // and a target's Id is what follows the last '/'.
  std::string sql = fmt::format("SELECT {} FROM dead_letters WHERE id > ?1",
                                summaries ? kSummaryColumns : kLetterColumns);
  if (!filter.rule.empty()) {
    sql += " AND instr(target, '/' || ?2 || '/') > 0";
  }
  if (!filter.target.empty()) {
    sql +=
        " AND (target = ?3 OR (length(target) > length(?3) AND "
        "substr(target, length(target) - length(?3)) = '/' || ?3))";
  }
  if (!filter.error_code.empty()) {
    sql += " AND error_code = ?4";
  }
  if (filter.since_ms != 0) {
    sql += " AND dead_lettered_at_ms >= ?5";
  }
  if (filter.until_ms != 0) {
    sql += " AND dead_lettered_at_ms < ?6";
  }
  sql += " ORDER BY id LIMIT ?7";
  MutexLock lock(mutex_);
  Statement find(db_, sql.c_str());
  if (!find.valid()) {
    return sqlite_error(db_, "listing dead letters");
  }
  find.bind(1, after_id).bind(7, static_cast<int64_t>(limit));
  if (!filter.rule.empty()) {
    find.bind(2, filter.rule);
  }
  if (!filter.target.empty()) {
    find.bind(3, filter.target);
  }
  if (!filter.error_code.empty()) {
    find.bind(4, filter.error_code);
  }
  if (filter.since_ms != 0) {
    find.bind(5, filter.since_ms);
  }
  if (filter.until_ms != 0) {
    find.bind(6, filter.until_ms);
  }
  std::vector<DeadLetter> letters;
  int step = SQLITE_ROW;
  while ((step = find.step()) == SQLITE_ROW) {
    letters.push_back(read_dead_letter(find));
  }
  if (step != SQLITE_DONE) {
    return sqlite_error(db_, "listing dead letters");
  }
  return letters;
}

Result<std::vector<DeadLetter>> SqliteStore::dlq_get_many(const std::vector<int64_t>& ids) {
  std::vector<DeadLetter> letters;
  if (ids.empty()) {
    return letters;
  }
  MutexLock lock(mutex_);
  const std::string sql = fmt::format("SELECT {} FROM dead_letters WHERE id IN ({}) ORDER BY id",
                                      kLetterColumns, id_list(ids));
  Statement select(db_, sql.c_str());
  if (!select.valid()) {
    return sqlite_error(db_, "reading dead letters");
  }
  int step = SQLITE_ROW;
  while ((step = select.step()) == SQLITE_ROW) {
    letters.push_back(read_dead_letter(select));
  }
  if (step != SQLITE_DONE) {
    return sqlite_error(db_, "reading dead letters");
  }
  return letters;
}

Status SqliteStore::log_deliveries(const std::vector<DeliveryRecord>& records, int64_t keep) {
  if (records.empty()) {
    return ok_status();
  }
  MutexLock lock(mutex_);
  HK_RETURN_IF_ERROR(use_sync(false));
  return in_transaction([&]() HK_REQUIRES(mutex_) -> Status {
    for (const DeliveryRecord& record : records) {
      Use insert(statements_->insert_delivery);
      insert->bind(1, record.at_ms)
          .bind(2, record.target)
          .bind(3, record.destination)
          .bind(4, record.event_id)
          .bind(5, record.job_id)
          .bind(6, static_cast<int64_t>(record.attempt))
          .bind(7, static_cast<int64_t>(record.http_status))
          .bind(8, record.latency_ms)
          .bind(9, record.outcome)
          .bind(10, record.error);
      if (insert->step() != SQLITE_DONE) {
        return sqlite_error(db_, "recording deliveries");
      }
    }
    // The newest `keep` stay: ids increase, so the rest are those at or below the newest id
    // minus `keep`.
    Use trim(statements_->trim_deliveries);
    trim->bind(1, sqlite3_last_insert_rowid(db_) - keep);
    return trim->step() == SQLITE_DONE ? ok_status()
                                       : sqlite_error(db_, "trimming the delivery log");
  });
}

Result<std::vector<DeliveryRecord>> SqliteStore::recent_deliveries(int limit, int64_t before_id) {
  MutexLock lock(mutex_);
  Use recent(statements_->recent_deliveries);
  recent->bind(1, before_id > 0 ? before_id : std::numeric_limits<int64_t>::max())
      .bind(2, static_cast<int64_t>(limit));
  std::vector<DeliveryRecord> records;
  int step = SQLITE_ROW;
  while ((step = recent->step()) == SQLITE_ROW) {
    DeliveryRecord record;
    record.id = recent->int64(0);
    record.at_ms = recent->int64(1);
    record.target = recent->text(2);
    record.destination = recent->text(3);
    record.event_id = recent->text(4);
    record.job_id = recent->int64(5);
    record.attempt = static_cast<int>(recent->int64(6));
    record.http_status = static_cast<int>(recent->int64(7));
    record.latency_ms = recent->int64(8);
    record.outcome = recent->text(9);
    record.error = recent->text(10);
    records.push_back(std::move(record));
  }
  if (step != SQLITE_DONE) {
    return sqlite_error(db_, "reading the delivery log");
  }
  return records;
}

Result<std::vector<TargetQueue>> SqliteStore::queues() {
  MutexLock lock(mutex_);
  Use queues(statements_->queues);
  std::vector<TargetQueue> result;
  int step = SQLITE_ROW;
  while ((step = queues->step()) == SQLITE_ROW) {
    result.push_back({queues->text(0), queues->int64(1), queues->int64(2)});
  }
  if (step != SQLITE_DONE) {
    return sqlite_error(db_, "counting jobs per target");
  }
  return result;
}

Result<int64_t> SqliteStore::dlq_purge(const std::vector<int64_t>& ids) {
  MutexLock lock(mutex_);
  HK_RETURN_IF_ERROR(use_sync(true));
  const std::string sql =
      "DELETE FROM dead_letters" + (ids.empty() ? "" : " WHERE id IN (" + id_list(ids) + ")");
  HK_RETURN_IF_ERROR(exec(db_, sql.c_str(), "purging dead letters"));
  return static_cast<int64_t>(sqlite3_changes(db_));
}

Result<Counts> SqliteStore::counts(int64_t now_ms) {
  MutexLock lock(mutex_);
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

}  // namespace hikyaku::store
