#include "store/sqlite/body_log.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <utility>

#include "store/sqlite/internal/private_files.h"

namespace hikyaku::store {
namespace {

struct RecordHeader {
  uint32_t magic = 0;
  uint32_t length = 0;
  uint64_t hash = 0;
};
static_assert(sizeof(RecordHeader) == 16);
constexpr uint32_t kMagic = 0x31424B48;  // "HKB1" on disk (little-endian)
constexpr int64_t kHeaderBytes = sizeof(RecordHeader);

uint64_t record_hash(int64_t segment, int64_t offset, std::string_view body) {
  const int64_t place[2] = {segment, offset};
  return XXH3_64bits_withSeed(body.data(), body.size(), XXH3_64bits(place, sizeof place));
}

Status io_error(std::string_view doing, const std::string& path) {
  return unavailable(fmt::format("body log: {} {}: {}", doing, path, std::strerror(errno)));
}

// pwritev until every byte of `iov` is written (it may write less than asked).
bool write_all(int fd, std::vector<iovec>& iov, int64_t offset) {
  size_t first = 0;
  while (first < iov.size()) {
    const int count = static_cast<int>(std::min<size_t>(iov.size() - first, IOV_MAX));
    const ssize_t written = ::pwritev(fd, iov.data() + first, count, offset);
    if (written < 0 && errno == EINTR) {
      continue;
    }
    if (written <= 0) {
      if (written == 0) {
        errno = EIO;
      }
      return false;
    }
    offset += written;
    auto left = static_cast<size_t>(written);
    while (left > 0) {
      if (left >= iov[first].iov_len) {
        left -= iov[first].iov_len;
        ++first;
      } else {
        iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + left;
        iov[first].iov_len -= left;
        left = 0;
      }
    }
  }
  return true;
}

}  // namespace

struct BodyLog::Segment {
  int64_t id = 0;
  int fd = -1;
  int64_t size = 0;           // bytes handed out to appends; guarded by BodyLog::mutex_
  int64_t created_at_ms = 0;  // since when it is (or was) the active segment; ditto
  int64_t sealed_at_ms = 0;   // 0 while active; ditto

  Segment(int64_t segment_id, int file, int64_t bytes, int64_t created_ms)
      : id(segment_id), fd(file), size(bytes), created_at_ms(created_ms) {}
  ~Segment() { ::close(fd); }
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;
};

BodyLog::BodyLog(Options options, int folder_fd, const Clock& clock)
    : options_(std::move(options)), folder_fd_(folder_fd), clock_(clock) {}

// A prepared segment's file, empty or a renamed spare, is collected at the next open.
BodyLog::~BodyLog() { ::close(folder_fd_); }

std::string BodyLog::path_of(int64_t id) const {
  return fmt::format("{}/{:010}.seg", options_.folder, id);
}

std::string BodyLog::spare_path(int64_t n) const {
  return fmt::format("{}/spare-{}.seg", options_.folder, n);
}

int64_t BodyLog::now_ms() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             clock_.steady_now().time_since_epoch())
      .count();
}

Result<std::unique_ptr<BodyLog>> BodyLog::open(const Options& options, const Clock& clock) {
  if (options.folder.empty() || options.segment_bytes <= 0) {
    return invalid_argument("body log: needs a folder and a positive segment size");
  }
  HK_ASSIGN_OR_RETURN(const bool created, internal::create_private_folders(options.folder));
  if (created) {
    // The folder's own entry must outlast a power cut too, or every segment goes with it.
    const std::string parent = std::filesystem::path(options.folder).parent_path().string();
    const int parent_fd = ::open(parent.empty() ? "." : parent.c_str(), O_RDONLY | O_CLOEXEC);
    const bool synced = parent_fd >= 0 && ::fsync(parent_fd) == 0;
    if (parent_fd >= 0) {
      ::close(parent_fd);
    }
    if (!synced) {
      return io_error("cannot sync the folder holding", options.folder);
    }
  } else {
    HK_RETURN_IF_ERROR(internal::make_private(options.folder));
  }
  const int folder_fd = ::open(options.folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (folder_fd < 0) {
    return io_error("cannot open folder", options.folder);
  }
  std::unique_ptr<BodyLog> log(new BodyLog(options, folder_fd, clock));
  // Nobody else has the log yet; the lock is for the analysis' sake.
  MutexLock lock(log->mutex_);
  int64_t last = 0;
  HK_RETURN_IF_ERROR(log->load_folder(last));
  // Never an id that rows may still name: its records could verify for them.
  log->next_id_ = std::max(last + 1, options.first_free_id);
  HK_RETURN_IF_ERROR(log->roll_over());
  return log;
}

Status BodyLog::load_folder(int64_t& last) {
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(options_.folder, error)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with("spare-") && name.ends_with(".seg")) {
      HK_RETURN_IF_ERROR(internal::make_private(entry.path().string()));
      spares_.push_back(entry.path().string());
      next_spare_ = std::max<int64_t>(next_spare_, std::atoll(name.c_str() + 6) + 1);
      continue;
    }
    if (name.size() != 14 || !name.ends_with(".seg") ||
        !std::all_of(name.begin(), name.begin() + 10,
                     [](char c) { return c >= '0' && c <= '9'; })) {
      continue;  // not ours
    }
    const int64_t id = std::stoll(name.substr(0, 10));
    const int fd = ::open(entry.path().c_str(), O_RDONLY | O_CLOEXEC);
    struct stat info {};
    if (fd < 0 || ::fstat(fd, &info) != 0) {
      if (fd >= 0) {
        ::close(fd);
      }
      return io_error("cannot open", entry.path().string());
    }
    if (Status tightened = internal::make_private(entry.path().string()); !tightened.ok()) {
      ::close(fd);
      return tightened;
    }
    auto segment = std::make_shared<Segment>(id, fd, info.st_size, now_ms());
    segment->sealed_at_ms = segment->created_at_ms;
    segments_.emplace(id, std::move(segment));
    last = std::max(last, id);
  }
  if (error) {
    return unavailable(
        fmt::format("body log: cannot list folder {}: {}", options_.folder, error.message()));
  }
  return ok_status();
}

std::string BodyLog::take_spare() {
  if (spares_.empty()) {
    return "";
  }
  std::string spare = std::move(spares_.back());
  spares_.pop_back();
  return spare;
}

Result<std::shared_ptr<BodyLog::Segment>> BodyLog::create_segment(int64_t id,
                                                                  const std::string& spare) const {
  const std::string path = path_of(id);
  int fd = -1;
  // A spare was written all over once: overwriting it allocates nothing, so each sync() is a
  // plain data write (appending to a new file also commits the file system's journal: measured,
  // fdatasync took 0.42 ms per group instead of 0.21 ms).
  if (!spare.empty() && ::rename(spare.c_str(), path.c_str()) == 0) {
    fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) {
      return io_error("cannot open", path);
    }
  }
  if (fd < 0) {
    fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, internal::kPrivateFileMode);
  }
  if (fd < 0) {
    return io_error("cannot create", path);
  }
  return std::make_shared<Segment>(id, fd, 0, now_ms());
}

Status BodyLog::roll_over() {
  std::shared_ptr<Segment> segment = std::move(next_);
  if (segment == nullptr) {
    HK_ASSIGN_OR_RETURN(segment, create_segment(next_id_++, take_spare()));
    folder_unsynced_ = true;  // synced by the next sync(), before anyone relies on this segment
  }
  segment->created_at_ms = now_ms();
  if (active_ != nullptr) {
    active_->sealed_at_ms = segment->created_at_ms;
  }
  segments_.emplace(segment->id, segment);
  active_ = std::move(segment);
  return ok_status();
}

Status BodyLog::prepare_next() {
  int64_t id = 0;
  std::string spare;
  {
    MutexLock lock(mutex_);
    if (next_ != nullptr || preparing_) {
      return ok_status();
    }
    preparing_ = true;
    id = next_id_++;
    spare = take_spare();
  }
  Result<std::shared_ptr<Segment>> segment = create_segment(id, spare);
  Status status = segment.status();
  if (status.ok() && ::fsync(folder_fd_) != 0) {
    status = io_error("cannot sync folder", options_.folder);
    (void)::unlink(path_of(id).c_str());
  }
  MutexLock lock(mutex_);
  preparing_ = false;
  if (status.ok()) {
    next_ = std::move(*segment);
  }
  return status;
}

bool BodyLog::next_prepared() const {
  MutexLock lock(mutex_);
  return next_ != nullptr;
}

Status BodyLog::append(std::span<const std::string_view> bodies, std::vector<BodyRef>& refs) {
  refs.clear();
  if (bodies.empty()) {
    return ok_status();
  }
  int64_t total = 0;
  for (std::string_view body : bodies) {
    total += kHeaderBytes + static_cast<int64_t>(body.size());
  }
  std::shared_ptr<Segment> segment;
  int64_t offset = 0;
  {
    MutexLock lock(mutex_);
    if (active_->size > 0 && active_->size + total > options_.segment_bytes) {
      HK_RETURN_IF_ERROR(roll_over());
    }
    segment = active_;
    offset = segment->size;
    segment->size += total;
  }
  std::vector<RecordHeader> headers(bodies.size());
  std::vector<iovec> iov;
  iov.reserve(bodies.size() * 2);
  refs.reserve(bodies.size());
  int64_t at = offset;
  for (size_t i = 0; i < bodies.size(); ++i) {
    const std::string_view body = bodies[i];
    headers[i] = {kMagic, static_cast<uint32_t>(body.size()), record_hash(segment->id, at, body)};
    refs.push_back({segment->id, at, static_cast<int64_t>(body.size())});
    iov.push_back({&headers[i], sizeof(RecordHeader)});
    if (!body.empty()) {
      iov.push_back({const_cast<char*>(body.data()), body.size()});
    }
    at += kHeaderBytes + static_cast<int64_t>(body.size());
  }
  if (!write_all(segment->fd, iov, offset)) {
    refs.clear();
    return io_error("cannot write", path_of(segment->id));
  }
  // Marked after the write: a sync() that took the mark before it could miss these bytes.
  MutexLock lock(mutex_);
  if (std::find(unsynced_.begin(), unsynced_.end(), segment) == unsynced_.end()) {
    unsynced_.push_back(std::move(segment));
  }
  return ok_status();
}

Status BodyLog::sync() {
  // One at a time: a second caller finding nothing left to sync must not return before the
  // first caller's fdatasync, which covers its appends too, has.
  MutexLock sync_lock(sync_mutex_);
  if (!sync_failure_.ok()) {
    return sync_failure_;
  }
  std::vector<std::shared_ptr<Segment>> segments;
  bool folder = false;
  {
    MutexLock lock(mutex_);
    segments.swap(unsynced_);
    folder = std::exchange(folder_unsynced_, false);
  }
  if (folder && ::fsync(folder_fd_) != 0) {
    sync_failure_ = io_error("cannot sync folder", options_.folder);
  }
  for (const auto& segment : segments) {
    if (sync_failure_.ok() && ::fdatasync(segment->fd) != 0) {
      sync_failure_ = io_error("cannot sync", path_of(segment->id));
    }
  }
  // A failure sticks: after a failed fdatasync Linux may have marked the unwritten pages clean,
  // so a later success would not prove that they are on disk.
  return sync_failure_;
}

Result<std::string> BodyLog::read(const BodyRef& ref) const {
  std::shared_ptr<Segment> segment;
  {
    MutexLock lock(mutex_);
    if (auto found = segments_.find(ref.segment); found != segments_.end()) {
      segment = found->second;
    }
  }
  const std::string where =
      fmt::format("the body at offset {} of {}", ref.offset, path_of(ref.segment));
  if (segment == nullptr) {
    return not_found(fmt::format("body log: {} is missing: no such segment", where));
  }
  if (ref.length < 0 || ref.length > UINT32_MAX || ref.offset < 0) {
    return not_found(fmt::format("body log: {} has an impossible length {}", where, ref.length));
  }
  RecordHeader header;
  std::string body(static_cast<size_t>(ref.length), '\0');
  iovec iov[2] = {{&header, sizeof header}, {body.data(), body.size()}};
  const ssize_t got = ::preadv(segment->fd, iov, 2, ref.offset);
  if (got < 0) {
    return unavailable(fmt::format("body log: cannot read {}: {}", where, std::strerror(errno)));
  }
  if (got != kHeaderBytes + ref.length) {
    return not_found(fmt::format("body log: {} is cut short ({} of {} bytes)", where, got,
                                 kHeaderBytes + ref.length));
  }
  if (header.magic != kMagic || header.length != static_cast<uint32_t>(ref.length) ||
      header.hash != record_hash(ref.segment, ref.offset, body)) {
    return not_found(
        fmt::format("body log: {} does not verify (never written completely, "
                    "or damaged)",
                    where));
  }
  return body;
}

std::vector<BodyLog::Sealed> BodyLog::sealed() const {
  const int64_t now = now_ms();
  MutexLock lock(mutex_);
  std::vector<Sealed> sealed;
  for (const auto& [id, segment] : segments_) {
    if (segment->sealed_at_ms != 0) {
      sealed.push_back({id, now - segment->sealed_at_ms});
    }
  }
  return sealed;
}

Status BodyLog::seal_if_older(int64_t age_ms) {
  MutexLock lock(mutex_);
  if (active_->size == 0 || now_ms() - active_->created_at_ms < age_ms) {
    return ok_status();
  }
  return roll_over();
}

Status BodyLog::remove(int64_t id) {
  std::string spare;
  {
    MutexLock lock(mutex_);
    auto found = segments_.find(id);
    if (found == segments_.end()) {
      return ok_status();
    }
    if (found->second == active_) {
      return failed_precondition(
          fmt::format("body log: segment {} is being appended to", path_of(id)));
    }
    // Rolled over for its size (not sealed idle): worth keeping. Unlinking a large file also
    // commits the journal, and every sync waits for that (measured: 20 ms stalls).
    if (found->second->size >= options_.segment_bytes / 2 &&
        static_cast<int>(spares_.size()) + spares_pending_ < kMaxSpares) {
      spare = spare_path(next_spare_++);
      ++spares_pending_;
    }
    segments_.erase(found);  // the descriptor closes once no read() or sync() holds it
  }
  // File system calls outside the lock: unlinking a large file can take milliseconds.
  const std::string path = path_of(id);
  if (!spare.empty()) {
    // Its old records cannot pass for new ones: the hash is seeded with the segment id, and ids
    // are never reused.
    const bool renamed = ::rename(path.c_str(), spare.c_str()) == 0;
    MutexLock lock(mutex_);
    --spares_pending_;
    if (renamed) {
      spares_.push_back(std::move(spare));
      return ok_status();
    }
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return io_error("cannot remove", path);
  }
  return ok_status();
}

}  // namespace hikyaku::store
