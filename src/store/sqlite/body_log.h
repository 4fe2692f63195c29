#pragma once
// Job bodies kept out of SQLite's pages: append-only segment files in one folder
// ("<database>-bodies/", files "<segment id>.seg").
//
// A job's row holds only where its body is (segment, offset, length). A group commit writes the
// bodies of all its jobs with one write, so only small rows go through the WAL, the checkpoint
// and the deletes of delivered jobs; bodies in B-tree pages were written to the WAL, copied by
// the checkpoint, and their pages rewritten again when the job was deleted.
//
// A record is a 16-byte header (magic, body length, a 64-bit XXH3 hash) and then the body. The
// hash is seeded with the record's segment and offset, and segment ids are never reused, so a
// record that never reached the disk (the machine stopped before sync()) or bytes left from
// anything else read as an error, never as another body.
//
// Segments: appends go to the active segment until it holds `segment_bytes`, then a new one is
// started and the old one is sealed; seal_if_older() seals an idle one. The store removes a sealed
// segment no job refers to any more (SqliteStore::collect_bodies()); a sealed segment never gains
// a reference, because only the active one is appended to. Up to kMaxSpares removed full segments
// are kept as "spare-<n>.seg" and renamed into new segments: the file system then has nothing to
// allocate, so each sync is a plain data write.
//
// Durability: append() only writes. sync() makes every append that returned before it durable:
// fdatasync of each segment written since the last sync(), and of the folder after a segment was
// created.
//
// Segment ages (seal_if_older(), sealed()) are measured with the Clock given to open().
//
// Thread safety: append() and seal_if_older() from one thread at a time (the store's writer);
// everything else from any thread, concurrently with them.

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/mutex.h"
#include "core/status.h"

namespace hikyaku::store {

struct BodyRef {
  int64_t segment = 0;
  int64_t offset = 0;  // of the record's header
  int64_t length = 0;  // of the body
};

class BodyLog {
 public:
  struct Options {
    std::string folder;
    int64_t segment_bytes = int64_t{64} << 20;
    // No segment gets an id below this: ids that rows still name, even if their file is gone
    // (restored from a backup taken in the wrong order), are never given to new records.
    int64_t first_free_id = 1;
  };

  // Creates the folder when missing, opens the segments found there (all sealed) and starts a new
  // active segment after them. kUnavailable when the folder or a file cannot be opened. `clock`
  // must outlive the log.
  static Result<std::unique_ptr<BodyLog>> open(const Options& options,
                                               const Clock& clock = SystemClock::instance());
  ~BodyLog();
  BodyLog(const BodyLog&) = delete;
  BodyLog& operator=(const BodyLog&) = delete;

  // Writes `bodies` into the active segment, in order, and sets `refs` to where they are.
  // kUnavailable when the write fails (disk full...): nothing refers to what was written.
  Status append(std::span<const std::string_view> bodies, std::vector<BodyRef>& refs)
      HK_EXCLUDES(mutex_);
  // A failure sticks: every later call fails too (after a failed fdatasync the kernel may have
  // marked the unwritten pages clean, so a later success would prove nothing).
  Status sync() HK_EXCLUDES(sync_mutex_, mutex_);

  // The body at `ref`. kNotFound with the reason when it is not there or does not verify (it
  // never will); kUnavailable when reading failed (it may work later).
  Result<std::string> read(const BodyRef& ref) const HK_EXCLUDES(mutex_);

  struct Sealed {
    int64_t segment = 0;
    int64_t sealed_for_ms = 0;  // how long ago it was sealed
  };
  // The sealed segments, by id.
  std::vector<Sealed> sealed() const HK_EXCLUDES(mutex_);
  // Seals the active segment when it holds something and was created at least `age_ms` ago.
  Status seal_if_older(int64_t age_ms) HK_EXCLUDES(mutex_);
  // Readies the segment the next roll-over will use (a spare renamed, or a new file) with its
  // folder entry synced, so that rolling over on the append path costs no file-system call:
  // creating it there would delay the next sync() by a journal commit. No-op when one is ready.
  Status prepare_next() HK_EXCLUDES(mutex_);
  bool next_prepared() const HK_EXCLUDES(mutex_);
  // Deletes a sealed segment's file (the caller knows nothing refers to it), or keeps it as a
  // spare. Unknown ids are ignored.
  Status remove(int64_t segment) HK_EXCLUDES(mutex_);

  static constexpr int kMaxSpares = 4;

 private:
  struct Segment;
  BodyLog(Options options, int folder_fd, const Clock& clock);
  // open(): the segments and spares an earlier run left in the folder; sets `last` to the
  // highest segment id found.
  Status load_folder(int64_t& last) HK_REQUIRES(mutex_);
  // Seals the active segment and starts the next (the prepared one, or a new one).
  Status roll_over() HK_REQUIRES(mutex_);
  Result<std::shared_ptr<Segment>> create_segment(int64_t id, const std::string& spare) const;
  std::string take_spare() HK_REQUIRES(mutex_);  // "" when none
  std::string path_of(int64_t id) const;
  std::string spare_path(int64_t n) const;
  int64_t now_ms() const;  // the clock's monotonic time

  const Options options_;
  const int folder_fd_;
  const Clock& clock_;
  mutable Mutex mutex_;
  // Also guards each Segment's `size`, `created_at_ms` and `sealed_at_ms` (the analysis cannot
  // name another object's mutex there).
  std::map<int64_t, std::shared_ptr<Segment>> segments_ HK_GUARDED_BY(mutex_);
  std::shared_ptr<Segment> active_ HK_GUARDED_BY(mutex_);
  std::shared_ptr<Segment> next_ HK_GUARDED_BY(mutex_);  // prepared
  bool preparing_ HK_GUARDED_BY(mutex_) = false;
  int64_t next_id_ HK_GUARDED_BY(mutex_) = 1;  // ids are never reused
  std::vector<std::shared_ptr<Segment>> unsynced_ HK_GUARDED_BY(mutex_);
  bool folder_unsynced_ HK_GUARDED_BY(mutex_) = false;
  std::vector<std::string> spares_ HK_GUARDED_BY(mutex_);
  int64_t next_spare_ HK_GUARDED_BY(mutex_) = 0;
  int spares_pending_ HK_GUARDED_BY(mutex_) = 0;  // being renamed
  Mutex sync_mutex_ HK_ACQUIRED_BEFORE(mutex_);
  Status sync_failure_ HK_GUARDED_BY(sync_mutex_);
};

}  // namespace hikyaku::store
