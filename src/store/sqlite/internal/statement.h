#pragma once
// Internal to the SQLite store: a prepared statement that is reset after each use, and the
// helpers every file of the store shares (error statuses, one-off SQL, reading a job's row).
//
// Thread safety: none of its own; the store uses all of this on one connection, under its mutex.

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"
#include "store/sqlite/body_log.h"
#include "store/store.h"

namespace hikyaku::store::internal {

// One prepared statement, reset after each use (see Use).
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
  const Statement& operator*() const { return statement_; }

 private:
  Statement& statement_;
};

// kUnavailable with SQLite's message for the connection's last error.
Status sqlite_error(sqlite3* db, std::string_view doing);

// Runs `sql` (one or more statements, parsed on every call: not for the hot path).
Status exec(sqlite3* db, const char* sql, std::string_view doing);

// Columns of jobs, in the order read_job() and then body_ref_at(statement, 8) expect.
#define HK_JOB_COLUMNS                                                                        \
  "id, target, event_id, body, headers, attempts, ingested_at_ms, last_error, body_segment, " \
  "body_offset, body_length"

inline Job read_job(const Statement& statement, int first = 0) {
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
inline std::optional<BodyRef> body_ref_at(const Statement& statement, int first) {
  if (statement.is_null(first)) {
    return std::nullopt;
  }
  return BodyRef{statement.int64(first), statement.int64(first + 1), statement.int64(first + 2)};
}

}  // namespace hikyaku::store::internal
