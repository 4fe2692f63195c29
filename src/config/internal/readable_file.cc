#include "config/internal/readable_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace hikyaku::config::internal {

std::string readable_file_problem(const std::string& path) {
  if (path.empty()) {
    return "must not be empty";
  }
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    return fmt::format(R"("{}": {})", path, std::strerror(errno));
  }
  if (!S_ISREG(info.st_mode)) {
    return fmt::format(R"("{}" is not a regular file)", path);
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    return fmt::format(R"("{}": {})", path, std::strerror(errno));
  }
  ::close(fd);
  return "";
}

}  // namespace hikyaku::config::internal
