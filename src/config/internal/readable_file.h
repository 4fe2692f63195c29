#pragma once
// The check for a file hikyaku will read (a TLS certificate, key or CA bundle): it must be a
// regular file that this process can open for reading. A FIFO or device is refused without
// opening it, so the check never blocks. Relative paths are from the working directory, as
// `serve` runs.
//
// Thread safety: a pure function (it stats and opens the file).

#include <string>

namespace hikyaku::config::internal {

// "" when `path` names a readable regular file; otherwise what is wrong, quoting the path
// ("must not be empty", "\"x.pem\": No such file or directory", "\"dir\" is not a regular file").
std::string readable_file_problem(const std::string& path);

}  // namespace hikyaku::config::internal
