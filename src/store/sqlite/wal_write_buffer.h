#pragma once
// A SQLite VFS that gathers the writes of one WAL commit into a single write.
//
// SQLite appends a transaction to the WAL one frame at a time, and each frame as two writes (its
// 24-byte header, then the page): a group commit makes hundreds of pwrite calls. This VFS wraps
// the platform's default VFS and, for WAL files only, keeps consecutive appends in memory and
// writes them together (in pieces of 124 KiB, the most the unix VFS writes per call) when the
// transaction's commit frame is complete (its header names the database size, which only commit
// frames do: https://www.sqlite.org/fileformat2.html#walformat), before any other operation on
// the file (read, sync, truncate, size, lock, close), and whenever 4 MiB have gathered. Every
// write that is not an append (the WAL starting over, frames rewritten in place when a
// transaction outgrew the page cache, their checksums recomputed) goes to the file at once, after
// what is pending. So by the time SQLite syncs the WAL or publishes the commit to other
// connections in its shared index, every byte is in the file: the file's contents, and what any
// reader sees of it, are exactly what the default VFS would have produced. Files without
// power-safe overwrite (where SQLite pads commits and writes past a sync) are not buffered at all.
//
// Thread safety: wal_write_buffer_vfs() is safe to call from any thread, any number of times.

namespace hikyaku::store {

// The VFS name to pass to sqlite3_open_v2, registered on first use; nullptr when registering
// failed (then open with the default VFS).
const char* wal_write_buffer_vfs();

}  // namespace hikyaku::store
