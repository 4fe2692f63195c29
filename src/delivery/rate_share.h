#pragma once
// Destination rate limits and pauses held across every node that shares one store (the JetStream
// backend: docs/jetstream.md, "Rate limits across nodes").
//
//   RateShare share(store, SystemClock::instance());
//   Dispatcher::Options options;
//   options.rate_share = &share;  // each start also needs one of the cluster's slots
//
// InvocationRateLimitPerSecond is then the cluster's, not each node's. One key-value record per
// destination (`rate/<destination>`) holds the cluster's schedule as a GCRA theoretical arrival
// time: a node takes a chunk of send slots (a tenth of a second's worth, at least one) by moving
// it forward one interval per slot with a revision-checked write, and may do so only once the
// schedule is not ahead of the wall clock. So however many nodes take slots, the cluster is
// handed at most `rate` per second, plus one chunk. Slots are taken ahead
// by a background thread ("hk-rate"), so the sender never waits on the store: a start that finds
// none left is told to come back when the next chunk is due. Slots not used within two chunks'
// time expire (a node cannot save them up for a burst).
//
// Pauses learnt from answers (Retry-After, the 429 back-off, an X-RateLimit reset) are written to
// the same record and stop every node's starts until they end; a node that holds slots when the
// pause is written may still use them (at most a tenth of a second's rate).
//
// When the store cannot be read or written, the node falls back to its own share: a tenth of the
// rate per refill, as if alone, so that a store hiccup slows deliveries rather than stops them.
//
// Thread safety: all public methods are thread-safe.

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <thread>

#include "core/clock.h"
#include "core/mutex.h"
#include "store/store.h"

namespace hikyaku::delivery {

class RateShare {
 public:
  RateShare(store::Store& store, const Clock& clock);
  ~RateShare();
  RateShare(const RateShare&) = delete;
  RateShare& operator=(const RateShare&) = delete;

  // Takes one send slot of `destination` (limited to `rate` per second cluster-wide) at wall time
  // `now_ms`. false when none is left here: `retry_at_ms` says when to ask again (the end of a
  // pause, when the next chunk is due, or soon while one is being taken).
  bool try_take(const std::string& destination, int rate, int64_t now_ms, int64_t& retry_at_ms)
      HK_EXCLUDES(mutex_);
  // A pause until `until_ms` (wall time) that an answer asked for, for every node.
  void pause(const std::string& destination, int64_t until_ms) HK_EXCLUDES(mutex_);

  // The slots one refill takes: a tenth of a second's worth, at least one.
  static int chunk(int rate) { return rate <= 10 ? 1 : (rate + 9) / 10; }
  static int64_t interval_us(int rate) { return 1'000'000 / std::max(rate, 1); }
  // How long taken slots may wait to be used: two chunks' time, at least 50 ms.
  static int64_t hold_ms(int rate);
  // The record's key in the store's key-value space.
  static std::string key(const std::string& destination) { return "rate/" + destination; }

 private:
  struct Grant {
    int rate = 0;
    int slots = 0;
    int64_t slots_expire_ms = 0;
    int64_t paused_until_ms = 0;
    int64_t pause_to_write_ms = 0;  // a pause learnt here and not yet in the record
    int64_t next_refill_ms = 0;     // no refill before (the cluster's schedule is ahead)
    bool wanted = false;
  };
  struct Record {
    int64_t theoretical_arrival_us = 0;  // GCRA: where the cluster's schedule has got to
    int64_t paused_until_ms = 0;
  };

  void run() HK_EXCLUDES(mutex_);
  // One revision-checked update of `destination`'s record: takes slots and writes the pause.
  void refill(const std::string& destination) HK_EXCLUDES(mutex_);
  static std::string encode(const Record& record);
  static Record decode(const std::string& text);

  store::Store& store_;
  const Clock& clock_;
  Mutex mutex_;
  CondVar wake_;
  std::map<std::string, Grant> grants_ HK_GUARDED_BY(mutex_);
  bool stopping_ HK_GUARDED_BY(mutex_) = false;
  bool warned_ HK_GUARDED_BY(mutex_) = false;
  std::thread refiller_;
};

}  // namespace hikyaku::delivery
