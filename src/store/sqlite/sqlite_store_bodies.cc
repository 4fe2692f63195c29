// SqliteStore: collecting the body log (collect_bodies(), run by the checkpoint thread): removing
// segments no job needs, and moving bodies out of segments that are kept too long.
#include <sqlite3.h>

#include <optional>
#include <vector>

#include "store/sqlite/internal/statements.h"
#include "store/sqlite/sqlite_store.h"

namespace hikyaku::store {

using internal::sqlite_error;
using internal::Use;

Status SqliteStore::collect_bodies() {
  // One collection at a time (the checkpoint thread's and any caller's): when this returns, what
  // an earlier collection began, such as removing a file, is done.
  MutexLock collecting(collect_mutex_);
  std::vector<int64_t> unreferenced;
  std::vector<int64_t> long_sealed;  // still referenced a while after they were sealed
  HK_RETURN_IF_ERROR(sort_sealed_segments(unreferenced, long_sealed));
  if (!unreferenced.empty()) {
    // The deletes that freed these segments must outlast a power cut before the bodies go: lease
    // bookkeeping commits without a sync, and so does everything at NORMAL.
    HK_RETURN_IF_ERROR(sync_wal());
    for (int64_t segment : unreferenced) {
      HK_RETURN_IF_ERROR(bodies_->remove(segment));
    }
  }
  for (int64_t segment : long_sealed) {
    HK_RETURN_IF_ERROR(inline_bodies(segment));
  }
  return bodies_->prepare_next();
}

Status SqliteStore::sort_sealed_segments(std::vector<int64_t>& unreferenced,
                                         std::vector<int64_t>& long_sealed) {
  MutexLock lock(mutex_);
  HK_RETURN_IF_ERROR(bodies_->seal_if_older(seal_bodies_after_ms_));
  for (const BodyLog::Sealed& sealed : bodies_->sealed()) {
    Use referenced(statements_->segment_referenced);
    referenced->bind(1, sealed.segment);
    if (referenced->step() != SQLITE_ROW) {
      return sqlite_error(db_, "looking for jobs in the body log");
    }
    if (referenced->int64(0) == 0) {
      unreferenced.push_back(sealed.segment);
    } else if (sealed.sealed_for_ms >= inline_bodies_after_ms_) {
      long_sealed.push_back(sealed.segment);
    }
  }
  return ok_status();
}

Status SqliteStore::inline_bodies(int64_t segment) {
  // In chunks, so that commits wait for one chunk at most.
  int64_t after_id = 0;
  for (;;) {
    MutexLock lock(mutex_);
    (void)use_sync(false);  // collect_bodies() syncs before it removes the segment
    bool done = false;
    HK_RETURN_IF_ERROR(in_transaction(
        [&]() HK_REQUIRES(mutex_) { return inline_chunk(segment, after_id, done); }));
    if (done) {
      return ok_status();
    }
  }
}

Status SqliteStore::inline_chunk(int64_t segment, int64_t& after_id, bool& done) {
  constexpr int kChunk = 64;  // read under the store's lock by a low-priority thread
  struct Kept {
    int64_t id = 0;
    BodyRef body;
    std::optional<BodyRef> event;  // an original event beside the body
  };
  std::vector<Kept> jobs;
  {
    Use select(statements_->jobs_in_segment);
    select->bind(1, segment).bind(2, after_id).bind(3, kChunk);
    int step = SQLITE_ROW;
    while ((step = select->step()) == SQLITE_ROW) {
      Kept kept{select->int64(0), *internal::body_ref_at(*select, 1), std::nullopt};
      if (select->int64(4) == EventPlace::kRecord) {
        kept.event = BodyRef{segment, select->int64(5), select->int64(6)};
      }
      jobs.push_back(kept);
    }
    if (step != SQLITE_DONE) {
      return sqlite_error(db_, "listing the jobs of a body segment");
    }
  }
  done = jobs.size() < static_cast<size_t>(kChunk);
  for (const Kept& kept : jobs) {
    after_id = kept.id;
    Result<std::string> body = bodies_->read(kept.body);
    if (!body) {
      continue;  // left for claim() to dead-letter
    }
    // An event that cannot be read is not kept: the job itself is still delivered.
    Result<std::string> event = kept.event ? bodies_->read(*kept.event) : std::string();
    Use update(statements_->inline_body);
    update->bind(1, kept.id).bind_blob(2, *body).bind(3, segment);
    if (kept.event && event.has_value()) {
      update->bind_blob(4, *event);
    }
    if (update->step() != SQLITE_DONE) {
      return sqlite_error(db_, "moving a body into its job");
    }
  }
  return ok_status();
}

}  // namespace hikyaku::store
