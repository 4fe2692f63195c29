#pragma once
// Internal to the SQLite store: the checkpoint thread ("hk-checkpoint").
//
// Copies the WAL into the database file on its own connection and thread, so that commits
// (PutEvents answers wait for them) only append to the WAL and fsync it. SQLite's automatic
// checkpoint would run inside whichever commit crosses the threshold, holding the store's lock
// while it copies and syncs megabytes. A PASSIVE checkpoint runs concurrently with the writer;
// once everything is copied, the next commit starts the WAL over.
//
// The same thread runs `maintenance` (collecting the body log) about once a second, timed by the
// injected clock, and whenever request_maintenance() asks.
//
// Thread safety: committed() and request_maintenance() are thread-safe.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "core/clock.h"
#include "core/mutex.h"
#include "store/sqlite/sqlite_store.h"

namespace hikyaku::store {

class SqliteStore::Checkpointer {
 public:
  static constexpr std::chrono::milliseconds kMaintenanceInterval{1000};

  // Opens the second connection and starts the thread; nullptr when the connection fails.
  static std::unique_ptr<Checkpointer> start(const std::string& path, bool synchronous_full,
                                             int busy_timeout_ms, const Clock& clock,
                                             std::function<void()> maintenance);
  // Stops the thread (a maintenance in progress finishes first) and closes the connection.
  ~Checkpointer();
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  // Replaces SQLite's automatic checkpoint on the store's connection `db` with this thread
  // (`checkpointer` null: checkpoints stay inline, at a smaller WAL size).
  static void install_wal_hook(sqlite3* db, Checkpointer* checkpointer);
  static void remove_wal_hook(sqlite3* db);

  // Runs the maintenance now instead of at the next interval.
  void request_maintenance() HK_EXCLUDES(mutex_);

  // Called after a commit with the WAL's size in frames.
  void committed(int frames) HK_EXCLUDES(mutex_);

 private:
  Checkpointer(sqlite3* db, const Clock& clock, std::function<void()> maintenance);
  void run() HK_EXCLUDES(mutex_);

  sqlite3* const db_;  // used only by thread_ (and closed after it ends)
  const Clock& clock_;
  const std::function<void()> maintenance_;
  Mutex mutex_;
  CondVar wake_;
  bool due_ HK_GUARDED_BY(mutex_) = false;
  bool maintenance_requested_ HK_GUARDED_BY(mutex_) = false;
  bool stopping_ HK_GUARDED_BY(mutex_) = false;
  std::thread thread_;  // last: starts once everything above is set
};

}  // namespace hikyaku::store
