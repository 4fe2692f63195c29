#pragma once
// Internal to the SQLite store: the store's files are its owner's alone. Every file the store
// writes (the database, its -wal, -shm and -journal files, the lock file, body segments) is
// created 0600 and every folder it creates 0700, whatever the process's umask (a umask can only
// remove bits from those). SQLite creates the -wal, -shm and -journal files with the database
// file's permissions, so creating the database 0600 before SQLite opens it covers them.
//
// Files and folders of an earlier run (or an earlier version of hikyaku, which created them 0644)
// that group or others may access are tightened at open, with a log line: the store may hold
// event data and dead letters.
//
// Errors: kUnavailable naming the path and the system's reason.
//
// Thread safety: functions on paths; call them before the files are shared.

#include <string>

#include "core/status.h"

namespace hikyaku::store::internal {

inline constexpr unsigned kPrivateFileMode = 0600;
inline constexpr unsigned kPrivateFolderMode = 0700;

// Creates `folder` and its missing parents 0700 (existing ones are left as they are: a parent
// folder of the store may be shared). True when `folder` itself was created.
Result<bool> create_private_folders(const std::string& folder);

// Creates `path` empty 0600 when missing; tightens it when it exists (make_private).
Status create_private_file(const std::string& path);

// Removes group and other permissions from an existing `path` (a file or a folder), logging a
// warning when it had some. A missing path is fine.
Status make_private(const std::string& path);

}  // namespace hikyaku::store::internal
