// SqliteStore's archives: events appended with Batch::events read back by archive and time
// window a page at a time, their counts and sizes, retention, and a schema 3 database upgraded.
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

TEST_F(SqliteStoreArchiveTest, ReadsAWindowOfOneArchiveInTimeOrderAPageAtATime) {
  archive("a", "e3", 3000);
  archive("a", "e1", 1000);
  archive("b", "other", 2000);
  archive("a", "e2a", 2000);
  archive("a", "e2b", 2000);
  archive("a", "e4", 4000);
  EXPECT_EQ(read_all("a", 1000, 4000, 1), (std::vector<std::string>{"e1", "e2a", "e2b", "e3"}));
  EXPECT_EQ(read_all("a", 1500, 3000, 2), (std::vector<std::string>{"e2a", "e2b"}));
  EXPECT_EQ(read_all("b", 0, 10000, 10), (std::vector<std::string>{"other"}));
  EXPECT_TRUE(read_all("c", 0, 10000, 10).empty());
}

TEST_F(SqliteStoreArchiveTest, CountsAndSizesPerArchive) {
  archive("a", "e1", 1000);
  archive("a", "e2", 1000);
  archive("b", "e3", 1000);
  Result<ArchiveStats> stats = store_->archive_stats("a");
  ASSERT_TRUE(stats.has_value());
  EXPECT_EQ(stats->event_count, 2);
  EXPECT_EQ(stats->size_bytes, 2 * static_cast<int64_t>(std::string(R"({"id":"e1"})").size()));
  Result<ArchiveStats> none = store_->archive_stats("none");
  ASSERT_TRUE(none.has_value());
  EXPECT_EQ(none->event_count, 0);
  EXPECT_EQ(none->size_bytes, 0);
}

TEST_F(SqliteStoreArchiveTest, ExpiresOnlyOldEventsOfTheArchiveInChunks) {
  for (int i = 0; i < 5; ++i) {
    archive("a", "old" + std::to_string(i), 1000 + i);
  }
  archive("a", "new", 9000);
  archive("b", "other-old", 1000);
  Result<int64_t> first = store_->archive_expire("a", 5000, 3);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(*first, 3);
  EXPECT_EQ(*store_->archive_expire("a", 5000, 3), 2);
  EXPECT_EQ(*store_->archive_expire("a", 5000, 3), 0);
  EXPECT_EQ(read_all("a", 0, 100000, 10), (std::vector<std::string>{"new"}));
  EXPECT_EQ(read_all("b", 0, 100000, 10), (std::vector<std::string>{"other-old"}));
  // The totals follow.
  EXPECT_EQ(store_->archive_stats("a")->event_count, 1);
  EXPECT_EQ(store_->archive_stats("a")->size_bytes,
            static_cast<int64_t>(std::string(R"({"id":"new"})").size()));
  EXPECT_EQ(store_->archive_stats("b")->event_count, 1);
}

TEST_F(SqliteStoreArchiveTest, ArchivedEventsSurviveAReopen) {
  archive("a", "e1", 1000);
  reopen();
  EXPECT_EQ(read_all("a", 0, 2000, 10), (std::vector<std::string>{"e1"}));
}

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
