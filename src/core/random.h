#pragma once
// Injected randomness: retry jitter and generated ids go through a Random so tests can pin them
// (tests/testing/fake_random.h).
//
// Thread safety: SystemRandom keeps one generator per thread; a test double must be safe for the
// threads it is shared with.

#include <cstdint>

namespace hikyaku {

class Random {
 public:
  virtual ~Random() = default;
  // 64 uniformly distributed bits.
  virtual uint64_t next_u64() = 0;
  // Uniform in [0, bound); 0 when bound is 0.
  uint64_t uniform(uint64_t bound);
  // Uniform in [0, 1).
  double unit();
};

// A per-thread mt19937_64 seeded from std::random_device.
class SystemRandom final : public Random {
 public:
  uint64_t next_u64() override;
  static SystemRandom& instance();
};

}  // namespace hikyaku
