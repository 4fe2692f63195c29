#pragma once
// Injected time. Every component reads time through a Clock so tests can drive timeouts, retries,
// leases and pacing without sleeping (tests/testing/fake_clock.h is the test double).
//
// Thread safety: implementations must be safe to call from any thread.

#include <chrono>
#include <cstdint>

namespace hikyaku {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time: event times, lease expiries written to the store, log timestamps.
  virtual std::chrono::system_clock::time_point now() const = 0;
  // Monotonic time: intervals, deadlines and pacing; never goes back when the wall clock is set.
  virtual std::chrono::steady_clock::time_point steady_now() const = 0;
  int64_t now_ms() const;
};

class SystemClock final : public Clock {
 public:
  std::chrono::system_clock::time_point now() const override {
    return std::chrono::system_clock::now();
  }
  std::chrono::steady_clock::time_point steady_now() const override {
    return std::chrono::steady_clock::now();
  }
  static const SystemClock& instance();
};

}  // namespace hikyaku
