#pragma once
// A fresh, empty directory for one test, removed with everything in it when the object goes.
// Made with mkdtemp under $TMPDIR (or /tmp), so tests running in parallel never share one.
//
//   testing::TempDir dir;                       // or a TempDir member of the test fixture
//   std::string db = dir.file("hikyaku.db");    // <dir>/hikyaku.db (not created)
//
// Thread safety: const methods are thread-safe.

#include <string>
#include <string_view>

namespace hikyaku::testing {

class TempDir {
 public:
  // `prefix` names the directory ("hikyaku-<prefix>-XXXXXX") so a leftover is easy to trace.
  explicit TempDir(std::string_view prefix = "test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // `path()/name`; nothing is created.
  std::string file(std::string_view name) const;
  // Writes `content` to `path()/name` (replacing it) and returns that path.
  std::string write(std::string_view name, std::string_view content) const;

 private:
  std::string path_;
};

}  // namespace hikyaku::testing
