#include "core/random.h"

#include <random>

namespace hikyaku {

uint64_t Random::uniform(uint64_t bound) {
  if (bound == 0) {
    return 0;
  }
  // Lemire's nearly divisionless method would be faster; rejection keeps it exact and simple.
  const uint64_t limit = UINT64_MAX - (UINT64_MAX % bound);
  uint64_t value = next_u64();
  while (value >= limit) {
    value = next_u64();
  }
  return value % bound;
}

double Random::unit() {
  return static_cast<double>(next_u64() >> 11) * 0x1.0p-53;  // 53 random bits: exact doubles
}

uint64_t SystemRandom::next_u64() {
  thread_local std::mt19937_64 generator([] {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device()};
    return std::mt19937_64(seed);
  }());
  return generator();
}

SystemRandom& SystemRandom::instance() {
  static SystemRandom random;
  return random;
}

}  // namespace hikyaku
