// The store's files are its owner's alone, whatever the umask: every file under the store's
// folder is 0600 and every folder it created 0700, including the files SQLite creates itself, and
// files left group- or world-readable by an earlier run are tightened at open.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "store/sqlite/sqlite_store.h"
#include "testing/temp_dir.h"

namespace hikyaku::store {
namespace {

namespace fs = std::filesystem;

// Sets the process umask for one test and restores it.
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : previous_(::umask(mask)) {}
  ~ScopedUmask() { ::umask(previous_); }
  ScopedUmask(const ScopedUmask&) = delete;
  ScopedUmask& operator=(const ScopedUmask&) = delete;

 private:
  mode_t previous_;
};

mode_t mode_of(const fs::path& path) {
  struct stat info {};
  EXPECT_EQ(::lstat(path.c_str(), &info), 0) << path;
  return info.st_mode;
}

// Every entry under `root` (itself excluded) with group or other permission bits, and how many
// regular files there are.
std::vector<std::string> shared_entries(const fs::path& root, int& files) {
  std::vector<std::string> shared;
  files = 0;
  for (const fs::directory_entry& entry : fs::recursive_directory_iterator(root)) {
    const mode_t mode = mode_of(entry.path());
    files += S_ISREG(mode) ? 1 : 0;
    const mode_t wanted = S_ISDIR(mode) ? 0700 : 0600;
    if ((mode & 0777) != wanted) {
      shared.push_back(fmt::format("{} {:04o}", entry.path().string(), mode & 0777));
    }
  }
  return shared;
}

// Writes jobs, dead letters, KV entries and archived events, and settles some: every kind of
// file the store has (database, WAL, shared memory, lock, body segments).
void use(SqliteStore& store) {
  Batch batch;
  for (int i = 0; i < 50; ++i) {
    batch.jobs.push_back(
        {"default/rule/target", fmt::format("e{}", i), std::string(2000, 'b'), "", 1000});
  }
  batch.events.push_back({"e0", "default", R"({"id":"e0"})", 1000});
  batch.dead_letters.push_back(
      {{"default/rule/target", "e1", "body", "", 1000}, {"TRANSFORM_ERROR", "no", ""}});
  ASSERT_TRUE(store.append(batch).ok());
  Result<std::vector<Claim>> claims = store.claim(1000, 10, 30'000);
  ASSERT_TRUE(claims.has_value());
  ASSERT_TRUE(store.complete_all(*claims).has_value());
  Result<std::optional<KvEntry>> current = store.kv_get("k");
  ASSERT_TRUE(current.has_value());
  const int64_t revision = current->has_value() ? (*current)->revision : 0;
  ASSERT_TRUE(store.kv_put_if("k", "v", revision).has_value());
}

class PrivateFilesTest : public ::testing::TestWithParam<mode_t> {
 protected:
  testing::TempDir dir_{"store-mode"};
  // Folders the store creates itself, below the test's own.
  const fs::path root_ = fs::path(dir_.path()) / "var";
  const fs::path database_ = root_ / "lib" / "hikyaku.db";
};

TEST_P(PrivateFilesTest, EveryFileTheStoreWritesIsTheOwnersAloneWhateverTheUmask) {
  const ScopedUmask umask(GetParam());
  {
    Result<std::unique_ptr<SqliteStore>> store = SqliteStore::open({.path = database_.string()});
    ASSERT_TRUE(store.has_value()) << store.error().message();
    use(**store);
    ASSERT_TRUE(fs::exists(database_.string() + "-wal"));
    ASSERT_TRUE(fs::exists(database_.string() + "-shm"));
    int files = 0;
    EXPECT_EQ(shared_entries(root_, files), std::vector<std::string>{});
    EXPECT_GE(files, 5);  // database, -wal, -shm, .lock, a body segment
  }
  // Reopened (a clean close removed the WAL and the shared memory; they are made again).
  {
    Result<std::unique_ptr<SqliteStore>> store = SqliteStore::open({.path = database_.string()});
    ASSERT_TRUE(store.has_value()) << store.error().message();
    use(**store);
    int files = 0;
    EXPECT_EQ(shared_entries(root_, files), std::vector<std::string>{});
  }
  int files = 0;
  EXPECT_EQ(shared_entries(root_, files), std::vector<std::string>{});
  EXPECT_EQ(mode_of(root_) & 0777, 0700u);
}

TEST_P(PrivateFilesTest, FilesAnEarlierRunLeftReadableAreTightenedAtOpen) {
  const ScopedUmask umask(GetParam());
  // An earlier version ran (creating everything readable by all) and was killed: its -wal and
  // -shm files are still there. A child process plays it and exits without closing the store.
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    Result<std::unique_ptr<SqliteStore>> store = SqliteStore::open({.path = database_.string()});
    if (!store.has_value()) {
      _exit(2);
    }
    use(**store);
    for (const fs::directory_entry& entry : fs::recursive_directory_iterator(root_)) {
      fs::permissions(entry.path(), entry.is_directory() ? fs::perms(0755) : fs::perms(0644),
                      fs::perm_options::replace);
    }
    _exit(::testing::Test::HasFailure() ? 3 : 0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  ASSERT_EQ(mode_of(database_.string() + "-wal") & 0777, 0644u);
  ASSERT_EQ(mode_of(database_.string() + "-shm") & 0777, 0644u);

  Result<std::unique_ptr<SqliteStore>> store = SqliteStore::open({.path = database_.string()});
  ASSERT_TRUE(store.has_value()) << store.error().message();
  use(**store);
  std::vector<std::string> still_shared;
  for (const fs::directory_entry& entry : fs::recursive_directory_iterator(root_)) {
    if ((mode_of(entry.path()) & 077) != 0 && entry.path() != root_ / "lib") {
      still_shared.push_back(entry.path().string());
    }
  }
  // The folder holding the database may be shared on purpose (it is not the store's own); all
  // the rest is tightened.
  EXPECT_EQ(still_shared, std::vector<std::string>{});
  EXPECT_EQ(mode_of(database_) & 0777, 0600u);
  EXPECT_EQ(mode_of(database_.string() + "-wal") & 0777, 0600u);
  EXPECT_EQ(mode_of(database_.string() + "-shm") & 0777, 0600u);
  EXPECT_EQ(mode_of(database_.string() + "-bodies") & 0777, 0700u);
  EXPECT_EQ(mode_of(root_ / "lib") & 0777, 0755u);  // left as it was
}

INSTANTIATE_TEST_SUITE_P(Umasks, PrivateFilesTest, ::testing::Values(022, 002, 0),
                         [](const ::testing::TestParamInfo<mode_t>& mask) {
                           return fmt::format("umask{:03o}", mask.param);
                         });

}  // namespace
}  // namespace hikyaku::store
