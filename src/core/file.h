#pragma once
// Reading whole files, always with a size cap: a path given by a user may name /dev/zero, a FIFO
// or a multi-gigabyte log, and hikyaku must answer with an error rather than grow without bound.
//
// Thread safety: pure functions (they only read the file system).

#include <cstddef>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace hikyaku {

// The whole content of `path`. Errors (kInvalidArgument) name the path and say why: it cannot be
// opened, it is a directory, or it holds more than `max_bytes` (checked while reading, so a
// device or pipe that never ends is refused after `max_bytes` + 1 bytes).
Result<std::string> read_file(const std::string& path, size_t max_bytes);

// A command-line value that is either literal text or "@FILE", the content of FILE read as
// read_file(FILE, max_bytes) does; "@" alone is an error.
Result<std::string> text_or_file(std::string_view value, size_t max_bytes);

// The cap for "@FILE" arguments of the command line (patterns, events, templates), and for each
// line of a --batch file.
inline constexpr size_t kMaxArgumentFileBytes = size_t{16} * 1024 * 1024;

// A file read line by line, each line capped: a batch file (or stdin) may be as long as it likes,
// since each line is answered and dropped, but a line without end (/dev/zero, a stream that never
// sends "\n") is an error after `max_line_bytes`, not unbounded memory.
//
// Thread safety: one reader, one thread.
class LineReader {
 public:
  // `path` "-" reads stdin. kInvalidArgument naming the path when it cannot be opened or is a
  // directory.
  static Result<LineReader> open(const std::string& path, size_t max_line_bytes);

  // The next line without its "\n" (or "\r\n"); nullopt at the end. The view is valid until the
  // next call. kInvalidArgument naming the file, the line number and the limit for a longer line
  // (the reader is then done), or naming the file when reading fails.
  Result<std::optional<std::string_view>> next();

 private:
  struct Closer {
    void operator()(std::FILE* file) const;
  };
  LineReader(std::string name, std::FILE* file, bool owned, size_t max_line_bytes);

  std::string name_;
  std::unique_ptr<std::FILE, Closer> owned_;
  std::FILE* file_ = nullptr;
  size_t max_line_bytes_ = 0;
  size_t line_number_ = 0;
  bool done_ = false;
  std::string line_;
};

}  // namespace hikyaku
