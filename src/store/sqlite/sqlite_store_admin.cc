// SqliteStore: the calls operators and the API use beside delivery: the KV table, the dead-letter
// queue, counts.
#include <fmt/format.h>
#include <sqlite3.h>

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

Result<std::vector<DeadLetter>> SqliteStore::dlq_list(int limit, int64_t after_id) {
  MutexLock lock(mutex_);
  Use list(statements_->dlq_list);
  list->bind(1, after_id).bind(2, limit);
  std::vector<DeadLetter> letters;
  int step = SQLITE_ROW;
  while ((step = list->step()) == SQLITE_ROW) {
    DeadLetter letter;
    letter.id = list->int64(0);
    letter.job = internal::read_job(*list, 1);
    letter.reason.error_code = list->text(9);
    letter.reason.error_message = list->text(10);
    letter.reason.exhausted_retry_condition = list->text(11);
    letter.dead_lettered_at_ms = list->int64(12);
    if (!list->is_null(13)) {
      letter.event = list->text(13);
    }
    letter.reason.request = list->text(14);
    letter.reason.http_status = static_cast<int>(list->int64(15));
    letter.reason.response_excerpt = list->text(16);
    letters.push_back(std::move(letter));
  }
  if (step != SQLITE_DONE) {
    return sqlite_error(db_, "listing dead letters");
  }
  return letters;
}

Result<int64_t> SqliteStore::dlq_redrive(const std::vector<int64_t>& ids, int64_t now_ms) {
  MutexLock lock(mutex_);
  HK_RETURN_IF_ERROR(use_sync(true));
  // A letter whose body was lost has nothing to deliver: it stays until purged.
  const std::string where = std::string(" WHERE error_code != '") + internal::kBodyUnreadable +
                            "'" + (ids.empty() ? "" : " AND id IN (" + id_list(ids) + ")");
  int64_t moved = 0;
  Status status = in_transaction([&]() HK_REQUIRES(mutex_) -> Status {
    const std::string insert = fmt::format(
        "INSERT INTO jobs (target, event_id, body, headers, attempts, ingested_at_ms, due_at_ms, "
        "last_error, event_kind, event) SELECT target, event_id, body, headers, 0, "
        "ingested_at_ms, {}, last_error, CASE WHEN event IS NULL THEN 0 ELSE 3 END, event "
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
