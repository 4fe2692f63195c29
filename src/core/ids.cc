#include "core/ids.h"

#include <fmt/format.h>

#include "core/random.h"

namespace hikyaku {

std::string new_uuid_v4() {
  Random& random = SystemRandom::instance();
  uint64_t high = random.next_u64();
  uint64_t low = random.next_u64();
  high = (high & 0xFFFFFFFFFFFF0FFFULL) | 0x0000000000004000ULL;  // version 4
  low = (low & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;    // variant 10
  return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", high >> 32, (high >> 16) & 0xFFFF,
                     high & 0xFFFF, low >> 48, low & 0xFFFFFFFFFFFFULL);
}

}  // namespace hikyaku
