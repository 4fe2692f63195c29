#include "core/file.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace hikyaku {

Result<std::string> read_file(const std::string& path, size_t max_bytes) {
  struct FileCloser {
    void operator()(std::FILE* file) const { std::fclose(file); }
  };
  const std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  if (!file) {
    return invalid_argument(fmt::format("cannot read {}: {}", path, std::strerror(errno)));
  }
  struct stat info {};
  if (fstat(fileno(file.get()), &info) == 0 && S_ISDIR(info.st_mode)) {
    return invalid_argument(fmt::format("cannot read {}: it is a directory", path));
  }
  std::string content;
  if (S_ISREG(info.st_mode) && static_cast<size_t>(info.st_size) <= max_bytes) {
    content.reserve(static_cast<size_t>(info.st_size));
  }
  char buffer[64 * 1024];
  while (true) {
    const size_t got = std::fread(buffer, 1, sizeof buffer, file.get());
    if (got == 0) {
      break;
    }
    if (content.size() + got > max_bytes) {
      return invalid_argument(
          fmt::format("cannot read {}: larger than the limit of {} bytes", path, max_bytes));
    }
    content.append(buffer, got);
  }
  if (std::ferror(file.get()) != 0) {
    return invalid_argument(fmt::format("cannot read {}: {}", path, std::strerror(errno)));
  }
  return content;
}

Result<std::string> text_or_file(std::string_view value, size_t max_bytes) {
  if (value.empty() || value[0] != '@') {
    return std::string(value);
  }
  if (value.size() == 1) {
    return invalid_argument("\"@\" must be followed by a file name (@FILE)");
  }
  return read_file(std::string(value.substr(1)), max_bytes);
}

}  // namespace hikyaku
