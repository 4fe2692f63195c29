// SqliteStore's archives: a schema 3 database upgraded. (Reading, counting and expiring archives
// is the Store contract: store_contract_test.cc.)
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>

#include "store/sqlite/sqlite_store.h"
#include "testing/temp_dir.h"

namespace hikyaku::store {
namespace {

class SqliteStoreArchiveTest : public ::testing::Test {
 protected:
  void SetUp() override { reopen(); }
  void reopen() {
    store_.reset();
    Result<std::unique_ptr<SqliteStore>> opened = SqliteStore::open({.path = database()});
    ASSERT_TRUE(opened.has_value()) << opened.error().message();
    store_ = std::move(opened).value();
  }
  std::string database() const { return (directory_ / "hikyaku.db").string(); }
  void archive(const std::string& name, const std::string& id, int64_t at) {
    Batch batch;
    batch.events.push_back({id, "default", R"({"id":")" + id + R"("})", at, name});
    ASSERT_TRUE(store_->append(batch).ok());
  }
  // Every id of `name`'s window [from, to), read `page` at a time.
  std::vector<std::string> read_all(const std::string& name, int64_t from, int64_t to, int page) {
    std::vector<std::string> ids;
    ArchiveCursor cursor{from, 0};
    for (;;) {
      Result<std::vector<StoredArchivedEvent>> events =
          store_->archive_read(name, to, cursor, page);
      EXPECT_TRUE(events.has_value()) << events.error().message();
      if (!events.has_value() || events->empty()) {
        return ids;
      }
      for (const StoredArchivedEvent& event : *events) {
        ids.push_back(event.envelope.substr(7, event.envelope.size() - 9));
      }
      cursor = {events->back().ingested_at_ms, events->back().id};
    }
  }

  testing::TempDir temp_dir_{"store-archive"};
  const std::filesystem::path directory_{temp_dir_.path()};
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(SqliteStoreArchiveTest, ADatabaseOfSchema3GetsTheArchiveColumn) {
  store_.reset();
  std::filesystem::remove_all(directory_);
  std::filesystem::create_directories(directory_);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(database().c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "CREATE TABLE archive (id INTEGER PRIMARY KEY, event_id TEXT NOT NULL, "
                         "bus TEXT NOT NULL, envelope BLOB NOT NULL, ingested_at_ms INTEGER NOT "
                         "NULL); INSERT INTO archive (event_id, bus, envelope, ingested_at_ms) "
                         "VALUES ('old', 'default', '{}', 1); PRAGMA user_version=3;",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  reopen();
  archive("a", "e1", 1000);
  EXPECT_EQ(read_all("a", 0, 2000, 10), (std::vector<std::string>{"e1"}));
  EXPECT_EQ(store_->archive_stats("a")->event_count, 1);  // the old row belongs to no archive
}

}  // namespace
}  // namespace hikyaku::store
