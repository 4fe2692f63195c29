#pragma once
// A Clock that moves only when the test says so. Wall and monotonic time advance together.
//
// Thread safety: all methods are thread-safe.

#include <atomic>
#include <chrono>
#include <cstdint>

#include "core/clock.h"
#include "core/random.h"

namespace hikyaku::testing {

class FakeClock final : public Clock {
 public:
  // Starts at 2026-03-01T09:15:02Z unless told otherwise.
  explicit FakeClock(std::chrono::system_clock::time_point start =
                         std::chrono::system_clock::time_point(std::chrono::seconds(1772356502)))
      : wall_start_(start) {}

  std::chrono::system_clock::time_point now() const override {
    return wall_start_ + std::chrono::nanoseconds(elapsed_ns_.load());
  }
  std::chrono::steady_clock::time_point steady_now() const override {
    return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(elapsed_ns_.load()));
  }
  void advance(std::chrono::nanoseconds by) { elapsed_ns_ += by.count(); }

 private:
  const std::chrono::system_clock::time_point wall_start_;
  std::atomic<int64_t> elapsed_ns_{0};
};

// A Random that returns the value the test set, so jitter and ids are predictable.
class FakeRandom final : public Random {
 public:
  explicit FakeRandom(uint64_t value = 0) : value_(value) {}
  uint64_t next_u64() override { return value_.load(); }
  void set(uint64_t value) { value_ = value; }

 private:
  std::atomic<uint64_t> value_;
};

}  // namespace hikyaku::testing
