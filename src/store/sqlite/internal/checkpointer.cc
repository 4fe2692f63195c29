#include "store/sqlite/internal/checkpointer.h"

#include <sqlite3.h>

#include <utility>

#include "core/thread.h"
#include "store/sqlite/internal/statement.h"
#include "store/sqlite/wal_write_buffer.h"

namespace hikyaku::store {
namespace {

// WAL size (frames) that wakes the checkpointer, and the size at which a commit checkpoints by
// itself after all (the checkpointer fell behind or failed to open: the WAL stays bounded).
// ~16 MB between checkpoints: job pages are written and freed again within seconds, so a longer
// WAL lets one checkpoint copy a page once instead of once per version (measured: 4,000 frames
// ~11% more entries/s than 1,000; 16,000 no better than 4,000).
constexpr int kWakeFrames = 4000;
constexpr int kInlineFrames = 50'000;

}  // namespace

std::unique_ptr<SqliteStore::Checkpointer> SqliteStore::Checkpointer::start(
    const std::string& path, bool synchronous_full, int busy_timeout_ms, const Clock& clock,
    std::function<void()> maintenance) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                      wal_write_buffer_vfs()) != SQLITE_OK ||
      !internal::exec(db,
                      synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
                      "setting synchronous")
           .ok()) {
    sqlite3_close_v2(db);
    return nullptr;
  }
  sqlite3_busy_timeout(db, busy_timeout_ms);
  return std::unique_ptr<Checkpointer>(new Checkpointer(db, clock, std::move(maintenance)));
}

SqliteStore::Checkpointer::Checkpointer(sqlite3* db, const Clock& clock,
                                        std::function<void()> maintenance)
    : db_(db), clock_(clock), maintenance_(std::move(maintenance)), thread_([this] { run(); }) {}

SqliteStore::Checkpointer::~Checkpointer() {
  {
    MutexLock lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
  sqlite3_close_v2(db_);
}

void SqliteStore::Checkpointer::install_wal_hook(sqlite3* db, Checkpointer* checkpointer) {
  sqlite3_wal_hook(
      db,
      [](void* self, sqlite3* connection, const char*, int frames) -> int {
        auto* hooked = static_cast<Checkpointer*>(self);
        if (hooked != nullptr) {
          hooked->committed(frames);
        }
        if (frames >= (hooked == nullptr ? kWakeFrames : kInlineFrames)) {
          (void)sqlite3_wal_checkpoint_v2(connection, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr,
                                          nullptr);
        }
        return SQLITE_OK;
      },
      checkpointer);
}

void SqliteStore::Checkpointer::remove_wal_hook(sqlite3* db) {
  sqlite3_wal_hook(db, nullptr, nullptr);
}

void SqliteStore::Checkpointer::request_maintenance() {
  {
    MutexLock lock(mutex_);
    maintenance_requested_ = true;
  }
  wake_.notify_one();
}

void SqliteStore::Checkpointer::committed(int frames) {
  if (frames < kWakeFrames) {
    return;
  }
  {
    MutexLock lock(mutex_);
    due_ = true;
  }
  wake_.notify_one();
}

void SqliteStore::Checkpointer::run() {
  name_this_thread("hk-checkpoint");
  lower_this_thread_priority(kCheckpointNice);
  auto next_maintenance = clock_.steady_now() + kMaintenanceInterval;
  MutexLock lock(mutex_);
  for (;;) {
    // The time left as the clock counts it, waited for in real time (a test's clock may stand
    // still: then each round waits a whole interval).
    wake_.wait_for(lock, next_maintenance - clock_.steady_now(), [this]() HK_REQUIRES(mutex_) {
      return stopping_ || due_ || maintenance_requested_;
    });
    if (stopping_) {
      return;
    }
    const bool checkpoint = std::exchange(due_, false);
    const bool maintenance_now = std::exchange(maintenance_requested_, false);
    lock.unlock();
    if (checkpoint) {
      // Errors (SQLITE_BUSY when another checkpoint runs) leave the frames for the next round.
      (void)sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    }
    if (maintenance_now || clock_.steady_now() >= next_maintenance) {
      maintenance_();
      next_maintenance = clock_.steady_now() + kMaintenanceInterval;
    }
    lock.lock();
  }
}

}  // namespace hikyaku::store
