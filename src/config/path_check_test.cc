// The rule for files hikyaku writes (internal/path_check.h): every class of path a config could
// aim at something that is not hikyaku's to write, in several spellings.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "config/config.h"
#include "testing/temp_dir.h"

namespace hikyaku::config {
namespace {

using ::testing::HasSubstr;

std::string config_text(const std::string& store, const std::string& log) {
  return "Store: { Sqlite: { Path: \"" + store + "\" } }\nRules:\n  - Name: r\n" +
         "    EventPattern: { source: [x] }\n    Targets: [{ Id: t, Log: { Path: \"" + log +
         "\" } }]\n";
}

// The one error of a load, or "" when it loads.
std::string error_of(const std::string& store, const std::string& log) {
  LoadResult result = load_config_text(config_text(store, log), "p.yaml");
  if (result.ok()) {
    return "";
  }
  EXPECT_EQ(result.errors.size(), 1u) << result.errors[1].to_string();
  return result.errors[0].to_string();
}

class PathCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir_.file("var"));
    db_ = dir_.file("var/hikyaku.db");
  }
  testing::TempDir dir_{"path-check"};
  std::string db_;
};

TEST_F(PathCheckTest, OrdinaryPathsAreAccepted) {
  EXPECT_EQ(error_of(db_, dir_.file("var/events.jsonl")), "");
  EXPECT_EQ(error_of(db_, dir_.file("new-folder/events.jsonl")), "");  // created by serve
  EXPECT_EQ(error_of(db_, db_ + ".log"), "");
  EXPECT_EQ(error_of(db_, db_ + "-walrus"), "");
  EXPECT_EQ(error_of(dir_.file("var/x/../hikyaku.db"), dir_.file("var/out")), "");
  EXPECT_EQ(error_of(db_, "/usr/local/var/hikyaku/out.jsonl"), "");
  // An existing regular file is appended to, and a link to one is followed.
  const std::string existing = dir_.write("existing.jsonl", "{}\n");
  EXPECT_EQ(error_of(db_, existing), "");
  std::filesystem::create_symlink(existing, dir_.file("link.jsonl"));
  EXPECT_EQ(error_of(db_, dir_.file("link.jsonl")), "");
}

TEST_F(PathCheckTest, EmptyPathsAndFolders) {
  EXPECT_THAT(error_of(db_, ""), HasSubstr("Rules[0].Targets[0].Log.Path: must not be empty"));
  EXPECT_THAT(error_of("", dir_.file("out")), HasSubstr("Store.Sqlite.Path: must not be empty"));
  EXPECT_THAT(error_of(db_, dir_.file("var/")), HasSubstr("names a folder"));
  EXPECT_THAT(error_of(dir_.file("var") + "/", dir_.file("out")), HasSubstr("names a folder"));
  EXPECT_THAT(error_of(db_, dir_.file("var")), HasSubstr("is a folder"));
  EXPECT_THAT(error_of(dir_.path(), dir_.file("out")), HasSubstr("Store.Sqlite.Path: \""));
  EXPECT_THAT(error_of(db_, "."), HasSubstr("is a folder"));
}

TEST_F(PathCheckTest, SystemAndKernelFiles) {
  for (const std::string& path :
       {std::string("/etc/passwd"), std::string("/etc/hikyaku-new-file"),
        std::string("//etc//passwd"), dir_.path() + "/../../../../../../etc/passwd",
        std::string("/usr/bin/env"), std::string("/boot/x"), std::string("/lib/x")}) {
    SCOPED_TRACE(path);
    EXPECT_THAT(error_of(db_, path), HasSubstr("a system folder"));
    EXPECT_THAT(error_of(path, dir_.file("out")), HasSubstr("Store.Sqlite.Path: "));
  }
  for (const char* path : {"/proc/self/mem", "/proc/1/environ", "/sys/kernel/notes", "/dev/null",
                           "/dev/sda", "/dev/shm/x"}) {
    SCOPED_TRACE(path);
    EXPECT_THAT(error_of(db_, path), HasSubstr("system folder"));
  }
  // A link from an ordinary folder into a system one is followed.
  std::filesystem::create_symlink("/etc/passwd", dir_.file("innocent.jsonl"));
  std::filesystem::create_symlink("/proc/self", dir_.file("self"));
  EXPECT_THAT(error_of(db_, dir_.file("innocent.jsonl")), HasSubstr("system folder"));
  EXPECT_THAT(error_of(db_, dir_.file("self/mem")), HasSubstr("system folder"));
  EXPECT_THAT(error_of(dir_.file("self/mem"), dir_.file("out")), HasSubstr("Store.Sqlite.Path"));
}

TEST_F(PathCheckTest, NonRegularFilesAndDanglingLinks) {
  const std::string fifo = dir_.file("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_THAT(error_of(db_, fifo), HasSubstr("is not a regular file"));
  EXPECT_THAT(error_of(fifo, dir_.file("out")), HasSubstr("is not a regular file"));
  std::filesystem::create_symlink(dir_.file("nowhere/at/all"), dir_.file("dangling"));
  EXPECT_THAT(error_of(db_, dir_.file("dangling")), HasSubstr("symbolic link to nothing"));
}

TEST_F(PathCheckTest, TheStoresOwnFilesInAnySpelling) {
  // The files exist, as they do while serve runs.
  for (const char* suffix : {"", "-wal", "-shm", "-journal", ".lock"}) {
    dir_.write(std::string("var/hikyaku.db") + suffix, "x");
  }
  std::filesystem::create_directories(db_ + "-bodies");
  const std::string relative_db =
      std::filesystem::relative(db_, std::filesystem::current_path()).string();
  for (const std::string& log :
       {db_, db_ + "-wal", db_ + "-shm", db_ + "-journal", db_ + ".lock", db_ + "-bodies/1.seg",
        db_ + "-bodies/spare-1.seg", dir_.file("var/../var/hikyaku.db"),
        dir_.file("var//hikyaku.db-wal"), dir_.file("var/./hikyaku.db-shm"), relative_db}) {
    SCOPED_TRACE(log);
    const std::string error = error_of(db_, log);
    EXPECT_THAT(error, HasSubstr("Rules[0].Targets[0].Log.Path: "));
    EXPECT_THAT(error, ::testing::AnyOf(HasSubstr("is the store's"), HasSubstr("bodies folder")));
  }
  // A symbolic link and a hard link to the database.
  std::filesystem::create_symlink(db_, dir_.file("sym.db"));
  EXPECT_THAT(error_of(db_, dir_.file("sym.db")), HasSubstr("is the store's database"));
  ASSERT_EQ(::link(db_.c_str(), dir_.file("hard.db").c_str()), 0);
  EXPECT_THAT(error_of(db_, dir_.file("hard.db")), HasSubstr("is the store's database"));
  // The store's files before they exist (a first start).
  const std::string fresh = dir_.file("fresh/h.db");
  EXPECT_THAT(error_of(fresh, fresh + "-wal"), HasSubstr("is the store's -wal file"));
  EXPECT_THAT(error_of(fresh, dir_.file("fresh/../fresh/h.db")), HasSubstr("store's database"));
}

TEST_F(PathCheckTest, TheConfigFileItselfAndTwoLogsOnOneFile) {
  const std::string config_path = dir_.file("c.yaml");
  dir_.write("c.yaml", config_text(db_, dir_.file("c.yaml")));
  LoadResult self = load_config_file(config_path);
  ASSERT_FALSE(self.ok());
  EXPECT_THAT(self.errors[0].message, HasSubstr("is the config file"));

  const std::string shared = dir_.file("shared.jsonl");
  const std::string two = "Store: { Sqlite: { Path: \"" + db_ +
                          "\" } }\nRules:\n  - Name: r\n    EventPattern: { source: [x] }\n"
                          "    Targets: [{ Id: a, Log: { Path: \"" +
                          shared + "\" } }, { Id: b, Log: { Path: \"" +
                          dir_.file("./shared.jsonl") + "\" } }]\n";
  LoadResult result = load_config_text(two, "two.yaml");
  EXPECT_TRUE(result.ok()) << result.errors[0].to_string();
}

}  // namespace
}  // namespace hikyaku::config
