#include "store/sqlite/wal_write_buffer.h"

#include <sqlite3.h>

#include <algorithm>
#include <cstddef>
#include <deque>
#include <new>
#include <utility>
#include <vector>

#include "core/mutex.h"

namespace hikyaku::store {
namespace {

constexpr size_t kFlushBytes = 4 << 20;
// The unix VFS writes at most 128 KiB - 1 per call (it masks the length to 17 bits: larger
// writes come out short, or fail as "disk full" at exact multiples), so a flush is cut into
// pieces below that.
constexpr size_t kMaxWriteBytes = 124 << 10;
constexpr int kFrameHeaderBytes = 24;

// What a WAL file has written but not yet passed on: bytes that belong at `offset`.
struct Pending {
  std::vector<char> bytes;
  sqlite3_int64 offset = 0;
  // Where the next append goes (the end of what this connection wrote since the WAL last started
  // over); -1 until the first write.
  sqlite3_int64 end = -1;
  bool commit_page_next = false;  // the last write was a commit frame's header
};

// Our sqlite3_file: SQLite allocates vfs.szOsFile bytes for it; the wrapped file follows.
struct File {
  sqlite3_file base;  // first: SQLite reads pMethods from here
  sqlite3_file* real;
  Pending* pending;  // WAL files only
};

constexpr size_t kRealOffset = (sizeof(File) + alignof(std::max_align_t) - 1) /
                               alignof(std::max_align_t) * alignof(std::max_align_t);

sqlite3_vfs* base_vfs = nullptr;

File* file_of(sqlite3_file* file) { return reinterpret_cast<File*>(file); }
sqlite3_file* real_of(sqlite3_file* file) { return file_of(file)->real; }

int write_through(sqlite3_file* file, const void* data, int amount, sqlite3_int64 offset) {
  sqlite3_file* real = real_of(file);
  return real->pMethods->xWrite(real, data, amount, offset);
}

int flush(sqlite3_file* file) {
  Pending* pending = file_of(file)->pending;
  if (pending == nullptr || pending->bytes.empty()) {
    return SQLITE_OK;
  }
  int rc = SQLITE_OK;
  for (size_t done = 0; done < pending->bytes.size() && rc == SQLITE_OK; done += kMaxWriteBytes) {
    const size_t piece = std::min(kMaxWriteBytes, pending->bytes.size() - done);
    rc = write_through(file, pending->bytes.data() + done, static_cast<int>(piece),
                       pending->offset + static_cast<sqlite3_int64>(done));
  }
  pending->bytes.clear();
  return rc;
}

// A frame header names the database size in pages (bytes 4..7) only in a transaction's commit
// frame.
bool is_commit_frame_header(const void* data, int amount) {
  if (amount != kFrameHeaderBytes) {
    return false;
  }
  const auto* bytes = static_cast<const unsigned char*>(data);
  return (bytes[4] | bytes[5] | bytes[6] | bytes[7]) != 0;
}

// Only appends are gathered. Anything else is written at once, after what is pending: a write at
// offset 0 starts the WAL over (its header), and a write below the end changes frames written
// earlier. SQLite does that when a transaction outgrew the page cache: a page written before the
// commit is overwritten in place, and the checksums of every frame from there on are rewritten,
// the commit frame's header last, after the commit frame itself.
int buffered_write(sqlite3_file* file, const void* data, int amount, sqlite3_int64 offset) {
  Pending* pending = file_of(file)->pending;
  if (pending == nullptr) {
    return write_through(file, data, amount, offset);
  }
  const bool commit_page = pending->commit_page_next;
  pending->commit_page_next = is_commit_frame_header(data, amount);
  if (offset == 0 || offset != pending->end) {
    if (const int rc = flush(file); rc != SQLITE_OK) {
      return rc;
    }
    pending->end = offset == 0 ? amount : std::max(pending->end, offset + amount);
    return write_through(file, data, amount, offset);
  }
  if (pending->bytes.empty()) {
    pending->offset = offset;
  }
  const auto* bytes = static_cast<const char*>(data);
  pending->bytes.insert(pending->bytes.end(), bytes, bytes + amount);
  pending->end += amount;
  if (commit_page || pending->bytes.size() >= kFlushBytes) {
    return flush(file);
  }
  return SQLITE_OK;
}

// Every other method passes the call on, after writing what is pending where it could matter.
int close_file(sqlite3_file* file) {
  const int flushed = flush(file);
  sqlite3_file* real = real_of(file);
  const int rc = real->pMethods->xClose(real);
  delete file_of(file)->pending;
  file_of(file)->pending = nullptr;
  return flushed != SQLITE_OK ? flushed : rc;
}

#define HK_FLUSH_THEN(call)                            \
  do {                                                 \
    if (const int rc = flush(file); rc != SQLITE_OK) { \
      return rc;                                       \
    }                                                  \
    sqlite3_file* real = real_of(file);                \
    return real->pMethods->call;                       \
  } while (false)

int read_file(sqlite3_file* file, void* data, int amount, sqlite3_int64 offset) {
  HK_FLUSH_THEN(xRead(real, data, amount, offset));
}
int truncate_file(sqlite3_file* file, sqlite3_int64 size) { HK_FLUSH_THEN(xTruncate(real, size)); }
int sync_file(sqlite3_file* file, int flags) { HK_FLUSH_THEN(xSync(real, flags)); }
int file_size(sqlite3_file* file, sqlite3_int64* size) { HK_FLUSH_THEN(xFileSize(real, size)); }
int lock_file(sqlite3_file* file, int level) { HK_FLUSH_THEN(xLock(real, level)); }
int unlock_file(sqlite3_file* file, int level) { HK_FLUSH_THEN(xUnlock(real, level)); }
int check_reserved_lock(sqlite3_file* file, int* out) {
  HK_FLUSH_THEN(xCheckReservedLock(real, out));
}
int file_control(sqlite3_file* file, int op, void* arg) {
  HK_FLUSH_THEN(xFileControl(real, op, arg));
}
int fetch(sqlite3_file* file, sqlite3_int64 offset, int amount, void** out) {
  HK_FLUSH_THEN(xFetch(real, offset, amount, out));
}

#undef HK_FLUSH_THEN

int sector_size(sqlite3_file* file) {
  sqlite3_file* real = real_of(file);
  return real->pMethods->xSectorSize(real);
}
int device_characteristics(sqlite3_file* file) {
  sqlite3_file* real = real_of(file);
  return real->pMethods->xDeviceCharacteristics(real);
}
int shm_map(sqlite3_file* file, int region, int size, int extend, void volatile** out) {
  sqlite3_file* real = real_of(file);
  return real->pMethods->xShmMap(real, region, size, extend, out);
}
int shm_lock(sqlite3_file* file, int offset, int count, int flags) {
  sqlite3_file* real = real_of(file);
  return real->pMethods->xShmLock(real, offset, count, flags);
}
void shm_barrier(sqlite3_file* file) {
  sqlite3_file* real = real_of(file);
  real->pMethods->xShmBarrier(real);
}
int shm_unmap(sqlite3_file* file, int delete_flag) {
  sqlite3_file* real = real_of(file);
  return real->pMethods->xShmUnmap(real, delete_flag);
}
int unfetch(sqlite3_file* file, sqlite3_int64 offset, void* page) {
  sqlite3_file* real = real_of(file);
  return real->pMethods->xUnfetch(real, offset, page);
}

// Methods matching the wrapped file's version (a method the wrapped file lacks stays null).
sqlite3_io_methods methods_like(const sqlite3_io_methods& real) {
  sqlite3_io_methods methods{};
  methods.iVersion = real.iVersion;
  methods.xClose = close_file;
  methods.xRead = read_file;
  methods.xWrite = buffered_write;
  methods.xTruncate = truncate_file;
  methods.xSync = sync_file;
  methods.xFileSize = file_size;
  methods.xLock = lock_file;
  methods.xUnlock = unlock_file;
  methods.xCheckReservedLock = check_reserved_lock;
  methods.xFileControl = file_control;
  methods.xSectorSize = sector_size;
  methods.xDeviceCharacteristics = device_characteristics;
  if (real.iVersion >= 2) {
    methods.xShmMap = real.xShmMap != nullptr ? shm_map : nullptr;
    methods.xShmLock = real.xShmLock != nullptr ? shm_lock : nullptr;
    methods.xShmBarrier = real.xShmBarrier != nullptr ? shm_barrier : nullptr;
    methods.xShmUnmap = real.xShmUnmap != nullptr ? shm_unmap : nullptr;
  }
  if (real.iVersion >= 3) {
    methods.xFetch = real.xFetch != nullptr ? fetch : nullptr;
    methods.xUnfetch = real.xUnfetch != nullptr ? unfetch : nullptr;
  }
  return methods;
}

// The wrapped VFS hands out a few distinct method tables (by locking style); each gets one
// wrapper table, made on first sight and kept for the life of the process.
struct WrapperTables {
  Mutex mutex;
  // A deque: tables handed out stay where they are as more are added.
  std::deque<std::pair<const sqlite3_io_methods*, sqlite3_io_methods>> tables HK_GUARDED_BY(mutex);
};

const sqlite3_io_methods* wrapper_methods(const sqlite3_io_methods* real) {
  // Never freed: files may be closed during static destruction.
  static auto* wrappers = new WrapperTables;
  MutexLock lock(wrappers->mutex);
  for (const auto& [known, wrapper] : wrappers->tables) {
    if (known == real) {
      return &wrapper;
    }
  }
  return &wrappers->tables.emplace_back(real, methods_like(*real)).second;
}

int open_file(sqlite3_vfs*, const char* name, sqlite3_file* file, int flags, int* out_flags) {
  File* ours = file_of(file);
  ours->base.pMethods = nullptr;
  ours->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(file) + kRealOffset);
  ours->pending = nullptr;
  const int rc = base_vfs->xOpen(base_vfs, name, ours->real, flags, out_flags);
  if (rc != SQLITE_OK || ours->real->pMethods == nullptr) {
    return rc;
  }
  // Without power-safe overwrite SQLite pads a commit to a sector boundary and writes part of
  // the last padding frame after syncing; such files are not buffered at all.
  const bool powersafe_overwrite = (ours->real->pMethods->xDeviceCharacteristics(ours->real) &
                                    SQLITE_IOCAP_POWERSAFE_OVERWRITE) != 0;
  if ((flags & SQLITE_OPEN_WAL) != 0 && powersafe_overwrite) {
    ours->pending = new (std::nothrow) Pending;  // without it, writes just pass through
  }
  ours->base.pMethods = wrapper_methods(ours->real->pMethods);
  return SQLITE_OK;
}

const char* register_vfs() {
  static sqlite3_vfs vfs;
  base_vfs = sqlite3_vfs_find(nullptr);
  if (base_vfs == nullptr) {
    return nullptr;
  }
  // The copy keeps the default VFS's other methods and its pAppData, which they rely on.
  vfs = *base_vfs;
  vfs.pNext = nullptr;
  vfs.zName = "hikyaku-wal-buffer";
  vfs.szOsFile = static_cast<int>(kRealOffset) + base_vfs->szOsFile;
  vfs.xOpen = open_file;
  return sqlite3_vfs_register(&vfs, /*makeDflt=*/0) == SQLITE_OK ? vfs.zName : nullptr;
}

}  // namespace

const char* wal_write_buffer_vfs() {
  static const char* name = register_vfs();
  return name;
}

}  // namespace hikyaku::store
