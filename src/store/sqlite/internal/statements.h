#pragma once
// Internal to the SQLite store: every statement the store runs more than once, prepared once per
// connection, and the transaction wrapper built on three of them.
//
// Thread safety: used only under SqliteStore::mutex_.

#include <utility>

#include "store/sqlite/internal/statement.h"
#include "store/sqlite/sqlite_store.h"

namespace hikyaku::store {

class SqliteStore::Statements {
 public:
  explicit Statements(sqlite3* db);
  Statements(const Statements&) = delete;
  Statements& operator=(const Statements&) = delete;

  // kUnavailable naming the first statement that failed to prepare.
  Status check() const;

  internal::Statement insert_job;
  internal::Statement insert_leased_job;
  internal::Statement insert_forward_job;
  internal::Statement job_event;
  internal::Statement complete_leased;
  internal::Statement unlease_row;
  internal::Statement insert_event;
  internal::Statement claim;
  internal::Statement lease;
  internal::Statement unlease;
  internal::Statement complete;
  internal::Statement release;
  internal::Statement insert_dead_letter;
  internal::Statement retry;
  internal::Statement move_to_dlq;
  internal::Statement segment_referenced;
  internal::Statement jobs_in_segment;
  internal::Statement inline_body;
  internal::Statement kv_get;
  internal::Statement kv_list;
  internal::Statement kv_insert;
  internal::Statement kv_update;
  internal::Statement remove_dead_letter;
  internal::Statement insert_delivery;
  internal::Statement trim_deliveries;
  internal::Statement recent_deliveries;
  internal::Statement queues;
  internal::Statement count_jobs;
  internal::Statement count_dead;
  internal::Statement count_archive;
  internal::Statement ping;
  internal::Statement begin;
  internal::Statement commit;
  internal::Statement rollback;
  internal::Statement sync_full;
  internal::Statement sync_normal;
};

// BEGIN, COMMIT and ROLLBACK are prepared once: sqlite3_exec would parse them again for every
// transaction.
template <typename Body>
Status SqliteStore::in_transaction(Body&& body) {
  auto run = [this](internal::Statement& statement, std::string_view doing) HK_REQUIRES(mutex_) {
    internal::Use use(statement);
    return use->step() == SQLITE_DONE ? ok_status() : internal::sqlite_error(db_, doing);
  };
  HK_RETURN_IF_ERROR(run(statements_->begin, "begin"));
  Status status = std::forward<Body>(body)();
  if (!status.ok()) {
    (void)run(statements_->rollback, "rollback");
    return status;
  }
  status = run(statements_->commit, "commit");
  if (!status.ok()) {
    (void)run(statements_->rollback, "rollback");
  }
  return status;
}

}  // namespace hikyaku::store
