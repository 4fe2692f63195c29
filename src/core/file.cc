#include "core/file.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <utility>

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

void LineReader::Closer::operator()(std::FILE* file) const { std::fclose(file); }

LineReader::LineReader(std::string name, std::FILE* file, bool owned, size_t max_line_bytes)
    : name_(std::move(name)),
      owned_(owned ? file : nullptr),
      file_(file),
      max_line_bytes_(max_line_bytes) {}

Result<LineReader> LineReader::open(const std::string& path, size_t max_line_bytes) {
  if (path == "-") {
    return LineReader("stdin", stdin, false, max_line_bytes);
  }
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    return invalid_argument(fmt::format("cannot read {}: {}", path, std::strerror(errno)));
  }
  LineReader reader(path, file, true, max_line_bytes);
  struct stat info {};
  if (fstat(fileno(file), &info) == 0 && S_ISDIR(info.st_mode)) {
    return invalid_argument(fmt::format("cannot read {}: it is a directory", path));
  }
  return reader;
}

Result<std::optional<std::string_view>> LineReader::next() {
  if (done_) {
    return std::optional<std::string_view>();
  }
  line_.clear();
  ++line_number_;
  while (true) {
    const int c = getc_unlocked(file_);  // one reader per FILE: no lock needed
    if (c == EOF) {
      if (std::ferror(file_) != 0) {
        done_ = true;
        return invalid_argument(fmt::format("cannot read {}: {}", name_, std::strerror(errno)));
      }
      done_ = true;
      if (line_.empty()) {
        return std::optional<std::string_view>();
      }
      break;
    }
    if (c == '\n') {
      break;
    }
    if (line_.size() == max_line_bytes_) {
      done_ = true;
      return invalid_argument(
          fmt::format("cannot read {}: line {} is longer than the limit of {} bytes", name_,
                      line_number_, max_line_bytes_));
    }
    line_.push_back(static_cast<char>(c));
  }
  if (!line_.empty() && line_.back() == '\r') {
    line_.pop_back();
  }
  return std::optional<std::string_view>(line_);
}

}  // namespace hikyaku
