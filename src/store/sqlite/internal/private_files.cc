#include "store/sqlite/internal/private_files.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace hikyaku::store::internal {
namespace {

Status system_error(std::string_view doing, const std::string& path, int error) {
  return unavailable(fmt::format("store: cannot {} {}: {}", doing, path, std::strerror(error)));
}

constexpr mode_t kGroupAndOthers = S_IRWXG | S_IRWXO;

}  // namespace

Result<bool> create_private_folders(const std::string& folder) {
  // mkdir one component at a time: std::filesystem::create_directories would use 0777 & ~umask.
  const std::filesystem::path target = std::filesystem::path(folder).lexically_normal();
  std::filesystem::path prefix;
  bool created = false;
  for (const std::filesystem::path& part : target) {
    prefix /= part;
    if (part.empty() || part == "/" || part == "." || part == "..") {
      continue;
    }
    if (::mkdir(prefix.c_str(), kPrivateFolderMode) == 0) {
      created = true;
      continue;
    }
    created = false;
    if (errno != EEXIST) {
      return system_error("create folder", prefix.string(), errno);
    }
  }
  struct stat info {};
  if (::stat(target.c_str(), &info) != 0) {
    return system_error("create folder", target.string(), errno);
  }
  if (!S_ISDIR(info.st_mode)) {
    return unavailable(fmt::format("store: {} exists and is not a folder", target.string()));
  }
  return created;
}

Status create_private_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, kPrivateFileMode);
  if (fd < 0) {
    return system_error("create", path, errno);
  }
  ::close(fd);
  return make_private(path);
}

Status make_private(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    return errno == ENOENT ? ok_status() : system_error("inspect", path, errno);
  }
  if ((info.st_mode & kGroupAndOthers) == 0) {
    return ok_status();
  }
  const mode_t tightened = info.st_mode & (S_IRWXU | S_ISVTX);
  if (::chmod(path.c_str(), tightened) != 0) {
    return system_error("restrict the permissions of", path, errno);
  }
  spdlog::warn("store: {} was accessible to group or others (mode {:04o}); now {:04o}", path,
               info.st_mode & 07777, tightened);
  return ok_status();
}

}  // namespace hikyaku::store::internal
