#pragma once
// Waiting for a condition in tests: checks `condition` until it holds or `timeout` passes.
// Use it instead of sleeping for a guessed duration.

#include <chrono>
#include <functional>
#include <thread>

namespace hikyaku::testing {

inline bool wait_for(const std::function<bool()>& condition,
                     std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

}  // namespace hikyaku::testing
