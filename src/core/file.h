#pragma once
// Reading whole files, always with a size cap: a path given by a user may name /dev/zero, a FIFO
// or a multi-gigabyte log, and hikyaku must answer with an error rather than grow without bound.
//
// Thread safety: pure functions (they only read the file system).

#include <cstddef>
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

// The cap for "@FILE" arguments of the command line (patterns, events, templates).
inline constexpr size_t kMaxArgumentFileBytes = size_t{16} * 1024 * 1024;

}  // namespace hikyaku
