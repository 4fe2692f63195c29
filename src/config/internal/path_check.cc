#include "config/internal/path_check.h"

#include <fmt/format.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace hikyaku::config::internal {
namespace {

namespace fs = std::filesystem;

constexpr std::array<std::string_view, 12> kSystemFolders = {"/proc",  "/sys",   "/dev",    "/etc",
                                                             "/boot",  "/bin",   "/sbin",   "/lib",
                                                             "/lib32", "/lib64", "/libx32", "/usr"};

bool is_under(const fs::path& path, std::string_view folder) {
  const fs::path base(folder);
  const auto [base_end, unused] = std::mismatch(base.begin(), base.end(), path.begin(), path.end());
  return base_end == base.end();
}

std::optional<std::string_view> system_folder_of(const fs::path& path) {
  if (is_under(path, "/usr/local")) {
    return std::nullopt;
  }
  for (std::string_view folder : kSystemFolders) {
    if (is_under(path, folder)) {
      return folder;
    }
  }
  return std::nullopt;
}

// The path with `..`, `.`, repeated slashes and the symbolic links of its existing part resolved.
fs::path resolved(const std::string& path) {
  std::error_code error;
  fs::path result = fs::weakly_canonical(fs::absolute(path, error), error);
  if (error) {
    result = fs::absolute(path, error).lexically_normal();
  }
  return result;
}

// True when the nearest existing folder of `path` is on a kernel file system.
bool on_kernel_file_system(const fs::path& path) {
  fs::path existing = path;
  std::error_code error;
  while (!existing.empty() && !fs::exists(existing, error) && existing != existing.parent_path()) {
    existing = existing.parent_path();
  }
  struct statfs info {};
  if (existing.empty() || ::statfs(existing.c_str(), &info) != 0) {
    return false;
  }
  return info.f_type == PROC_SUPER_MAGIC || info.f_type == SYSFS_MAGIC ||
         info.f_type == DEVPTS_SUPER_MAGIC || info.f_type == CGROUP_SUPER_MAGIC ||
         info.f_type == CGROUP2_SUPER_MAGIC || info.f_type == DEBUGFS_MAGIC ||
         info.f_type == SECURITYFS_MAGIC;
}

struct FileIdentity {
  fs::path path;                                 // resolved
  std::optional<std::pair<dev_t, ino_t>> inode;  // when it exists
};

FileIdentity identity_of(const std::string& path) {
  FileIdentity identity{resolved(path), std::nullopt};
  struct stat info {};
  if (::stat(path.c_str(), &info) == 0) {
    identity.inode = std::make_pair(info.st_dev, info.st_ino);
  }
  return identity;
}

bool same_file(const FileIdentity& a, const FileIdentity& b) {
  return a.path == b.path || (a.inode && b.inode && *a.inode == *b.inode);
}

}  // namespace

std::string writable_file_problem(const std::string& path) {
  if (path.empty()) {
    return "must not be empty";
  }
  if (path.back() == '/') {
    return fmt::format(R"("{}" names a folder (it ends with "/"); give a file path)", path);
  }
  const fs::path real = resolved(path);
  for (const fs::path& spelling : {fs::absolute(path).lexically_normal(), real}) {
    if (std::optional<std::string_view> folder = system_folder_of(spelling)) {
      return fmt::format(R"("{}" is in {}, a system folder: hikyaku writes only files of its own)",
                         path, *folder);
    }
  }
  if (on_kernel_file_system(real)) {
    return fmt::format(R"("{}" is on a kernel file system (proc, sysfs, ...), not a file)", path);
  }
  struct stat info {};
  if (::stat(path.c_str(), &info) == 0) {
    if (S_ISDIR(info.st_mode)) {
      return fmt::format(R"("{}" is a folder; give a file path)", path);
    }
    if (!S_ISREG(info.st_mode)) {
      return fmt::format(R"("{}" is not a regular file (a device, FIFO or socket))", path);
    }
  } else if (struct stat link{}; ::lstat(path.c_str(), &link) == 0 && S_ISLNK(link.st_mode)) {
    return fmt::format(
        R"("{}" is a symbolic link to nothing; give the file itself or a link to an existing one)",
        path);
  }
  return "";
}

void check_log_paths(YamlReader& reader, const Config& config) {
  // With Jetstream there is no database file: Store.Sqlite.Path is unused.
  const std::string database = config.store.jetstream ? "" : config.store.sqlite.path;
  struct Protected {
    FileIdentity identity;
    std::string what;
  };
  std::vector<Protected> protected_files;
  auto protect = [&](const std::string& path, std::string what) {
    if (!path.empty()) {
      protected_files.push_back({identity_of(path), std::move(what)});
    }
  };
  if (!database.empty()) {
    protect(database, "the store's database");
    for (std::string_view suffix : {"-wal", "-shm", "-journal", ".lock"}) {
      protect(database + std::string(suffix), fmt::format("the store's {} file", suffix));
    }
  }
  const size_t store_files = protected_files.size();
  protect(config.file, "the config file");
  if (config.server.tls) {
    protect(config.server.tls->cert_file, "Server.Tls.CertFile");
    protect(config.server.tls->key_file, "Server.Tls.KeyFile");
  }
  if (const std::optional<JetstreamStoreConfig>& jetstream = config.store.jetstream) {
    protect(jetstream->credentials_file, "Store.Jetstream.Credentials");
    if (jetstream->tls) {
      protect(jetstream->tls->ca_file, "Store.Jetstream.Tls.CaFile");
      protect(jetstream->tls->cert_file, "Store.Jetstream.Tls.CertFile");
      protect(jetstream->tls->key_file, "Store.Jetstream.Tls.KeyFile");
    }
  }
  const fs::path bodies = database.empty() ? fs::path() : resolved(database + "-bodies");
  if (!database.empty()) {
    const FileIdentity store = identity_of(database);
    for (size_t k = store_files; k < protected_files.size(); ++k) {
      if (same_file(store, protected_files[k].identity)) {
        reader.add_error(SourceLocation{}, "Store.Sqlite.Path",
                         fmt::format(R"("{}" is {})", database, protected_files[k].what));
      }
    }
  }

  for (size_t i = 0; i < config.rules.size(); ++i) {
    for (size_t j = 0; j < config.rules[i].targets.size(); ++j) {
      const Target& target = config.rules[i].targets[j];
      if (!target.log) {
        continue;
      }
      const std::string key = fmt::format("Rules[{}].Targets[{}].Log.Path", i, j);
      if (std::string problem = writable_file_problem(target.log->path); !problem.empty()) {
        reader.add_error(target.location, key, std::move(problem));
        continue;
      }
      const FileIdentity log = identity_of(target.log->path);
      if (!bodies.empty() && is_under(log.path, bodies.string())) {
        reader.add_error(target.location, key,
                         fmt::format(R"("{}" is in the store's bodies folder {})", target.log->path,
                                     bodies.string()));
        continue;
      }
      for (const Protected& file : protected_files) {
        if (same_file(log, file.identity)) {
          reader.add_error(target.location, key,
                           fmt::format(R"("{}" is {} ({}): a Log target appends to its own file)",
                                       target.log->path, file.what, file.identity.path.string()));
          break;
        }
      }
    }
  }
}

}  // namespace hikyaku::config::internal
