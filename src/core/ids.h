#pragma once
// Identifiers and time for events.
//
// Thread safety: all functions are thread-safe (per-thread random state).

#include <chrono>
#include <cstdint>
#include <string>

namespace hikyaku {

// A random version-4 UUID, lower-case hex ("6a7e8feb-b491-4cf7-a9f1-bf3703467718"), as
// EventBridge gives every event.
std::string new_uuid_v4();

// Injected time, so tests can drive timeouts, retries and leases without sleeping.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::chrono::system_clock::time_point now() const = 0;
  int64_t now_ms() const;
};

class SystemClock final : public Clock {
 public:
  std::chrono::system_clock::time_point now() const override {
    return std::chrono::system_clock::now();
  }
  static const SystemClock& instance();
};

// "2026-03-01T09:15:02Z": UTC, whole seconds, as EventBridge writes an event's `time`.
std::string format_rfc3339_seconds(std::chrono::system_clock::time_point time);
// "2026-03-01T09:15:02.118Z": with milliseconds, for logs.
std::string format_rfc3339_millis(std::chrono::system_clock::time_point time);

}  // namespace hikyaku
