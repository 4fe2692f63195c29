#include "store/sqlite/wal_write_buffer.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "store/sqlite/sqlite_store.h"
#include "testing/temp_dir.h"

namespace hikyaku::store {
namespace {

// Run at FULL (SQLite syncs the WAL, which flushes too) and at NORMAL (no sync: only the commit
// frame flushes), the level lease bookkeeping always uses.
class WalWriteBufferTest : public ::testing::TestWithParam<bool> {
 protected:
  // `jobs` jobs of `body_bytes` each, bodies numbered from `first`.
  static Batch batch(int first, int jobs, size_t body_bytes) {
    Batch batch;
    for (int i = first; i < first + jobs; ++i) {
      std::string body = std::to_string(i) + ":";
      body.resize(body_bytes, static_cast<char>('a' + i % 26));
      batch.jobs.push_back({"default/rule/target", "event-" + std::to_string(i), body, "", 1000});
    }
    return batch;
  }

  // Reads the job count with a plain connection on SQLite's default VFS: what another reader
  // (the checkpointer, a backup tool) sees.
  int64_t jobs_seen_by_another_connection() {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    sqlite3_stmt* statement = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, "SELECT COUNT(*), SUM(LENGTH(body)) FROM jobs", -1, &statement,
                                 nullptr),
              SQLITE_OK);
    EXPECT_EQ(sqlite3_step(statement), SQLITE_ROW);
    const int64_t count = sqlite3_column_int64(statement, 0);
    sqlite3_finalize(statement);
    sqlite3_close(db);
    return count;
  }

  testing::TempDir dir_{"walbuf"};
  const std::string path_{dir_.file("hikyaku.db")};
};

TEST_P(WalWriteBufferTest, IsRegistered) { ASSERT_NE(wal_write_buffer_vfs(), nullptr); }

TEST_P(WalWriteBufferTest, EveryCommitIsVisibleToOtherConnectionsWhenAppendReturns) {
  auto store = SqliteStore::open({.path = path_, .synchronous_full = GetParam()}).value();
  int64_t appended = 0;
  // Small commits, ones above the VFS's 124 KiB write size, and one above its 4 MiB flush size.
  for (auto [jobs, bytes] : {std::pair{1, size_t{100}},
                             {40, size_t{3000}},
                             {37, size_t{4096}},
                             {1, size_t{200'000}},
                             {1500, size_t{3300}},
                             {3, size_t{10}}}) {
    ASSERT_TRUE(store->append(batch(static_cast<int>(appended), jobs, bytes)).ok());
    appended += jobs;
    ASSERT_EQ(jobs_seen_by_another_connection(), appended);
  }
}

TEST_P(WalWriteBufferTest, CommittedBatchesSurviveAProcessThatDiesWithoutClosing) {
  constexpr int kBatches = 30;
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto store = SqliteStore::open({.path = path_, .synchronous_full = GetParam()}).value();
    for (int b = 0; b < kBatches; ++b) {
      if (!store->append(batch(b * 50, 50, 3300)).ok()) {
        _exit(1);
      }
    }
    _exit(0);  // no destructors: the store is not closed, the WAL is not checkpointed
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  auto store = SqliteStore::open({.path = path_, .synchronous_full = GetParam()}).value();
  std::vector<Claim> claims = store->claim(2000, 10'000, 60'000).value();
  ASSERT_EQ(claims.size(), static_cast<size_t>(kBatches * 50));
  for (size_t i = 0; i < claims.size(); ++i) {
    const std::string& body = claims[i].job.body;
    ASSERT_EQ(body.size(), 3300u);
    ASSERT_EQ(body.substr(0, body.find(':')), std::to_string(i));
    ASSERT_EQ(body.back(), static_cast<char>('a' + i % 26));
  }
}

TEST_P(WalWriteBufferTest, DeletesAndReinsertsAcrossCheckpointsKeepTheDatabaseIntact) {
  {
    auto store = SqliteStore::open({.path = path_, .synchronous_full = GetParam()}).value();
    for (int round = 0; round < 60; ++round) {
      ASSERT_TRUE(store->append(batch(round * 100, 100, 3300)).ok());
      std::vector<Claim> claims = store->claim(2000, 100, 60'000).value();
      ASSERT_EQ(claims.size(), 100u);
      ASSERT_EQ(store->complete_all(claims).value(), 100);
    }
    ASSERT_TRUE(store->append(batch(9000, 5, 3300)).ok());
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* check = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &check, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(check), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(check, 0)), "ok");
  sqlite3_finalize(check);
  sqlite3_close(db);
  EXPECT_EQ(jobs_seen_by_another_connection(), 5);
}

// A transaction bigger than the page cache spills frames into the WAL before it commits; pages
// changed again are then overwritten in place and SQLite rewrites the checksums of every frame
// from there on, the commit frame's header last. None of that may wait in the buffer: a process
// that dies right after such a commit must leave it recoverable.
TEST_P(WalWriteBufferTest, ACommitThatRewritesSpilledFramesSurvivesAProcessThatDies) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                        wal_write_buffer_vfs()) != SQLITE_OK) {
      _exit(1);
    }
    const std::string setup =
        std::string("PRAGMA journal_mode=WAL; PRAGMA synchronous=") +
        (GetParam() ? "FULL" : "NORMAL") +
        "; PRAGMA wal_autocheckpoint=0; PRAGMA cache_size=20; CREATE TABLE t (id INTEGER PRIMARY "
        "KEY, body BLOB);"
        "BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) "
        "INSERT INTO t SELECT i, randomblob(3000) FROM n; UPDATE t SET body = zeroblob(10) "
        "WHERE id % 7 = 0; COMMIT;";
    if (sqlite3_exec(db, setup.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
      _exit(2);
    }
    _exit(0);  // no close, no checkpoint
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  sqlite3_stmt* count = nullptr;
  ASSERT_EQ(
      sqlite3_prepare_v2(db, "SELECT COUNT(*), SUM(LENGTH(body) = 10) FROM t", -1, &count, nullptr),
      SQLITE_OK);
  ASSERT_EQ(sqlite3_step(count), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int64(count, 0), 2000);
  EXPECT_EQ(sqlite3_column_int64(count, 1), 2000 / 7);
  sqlite3_finalize(count);
  sqlite3_close(db);
}

INSTANTIATE_TEST_SUITE_P(SyncLevels, WalWriteBufferTest, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& level) {
                           return level.param ? "Full" : "Normal";
                         });

}  // namespace
}  // namespace hikyaku::store
