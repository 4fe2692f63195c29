#pragma once
// The rule for files hikyaku writes (Store.Sqlite.Path, each Log target's Path), so that a config
// cannot point them at something that is not hikyaku's to write:
//   - not empty, not a folder (an existing one, or a path ending in "/");
//   - an existing file must be a regular file (devices, FIFOs and sockets are refused), and a
//     symbolic link must lead to one (a dangling link could be made to point anywhere later);
//   - not in a system folder (/etc, /usr but /usr/local, /bin, /sbin, /lib*, /boot) or a kernel
//     file system (/proc, /sys, /dev, or anything mounted as proc or sysfs), however it is spelled
//     (`..`, symbolic links, repeated slashes);
//   - a Log target's file is none of the store's own files (the database, its -wal, -shm and
//     -journal files, its .lock file, and anything in its -bodies folder; with Store.Jetstream
//     there are none), nor the config file, the TLS certificate or key, nor a file
//     Store.Jetstream names (Credentials, Tls.*), compared after resolving symbolic links and `..`
//     and by device and inode for files that exist (hard links). Two Log targets may share a file:
//     each line is appended whole and names its rule and target.
// Relative paths are taken from the working directory, as `serve` does.
//
// Thread safety: pure functions (they stat the file system).

#include <string>

#include "config/config.h"
#include "config/internal/yaml_reader.h"

namespace hikyaku::config::internal {

// Empty when hikyaku may create or append to `path`; otherwise why not.
std::string writable_file_problem(const std::string& path);

// Reports each Log target whose file breaks the rule or collides with the store's files or the
// config's own (at the target), and a store database that is the config file or a TLS file.
void check_log_paths(YamlReader& reader, const Config& config);

}  // namespace hikyaku::config::internal
