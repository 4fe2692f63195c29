#pragma once
// "Did you mean" hints for names a user mistyped in the config: unknown keys, enum values,
// connection and API destination names.
//
// Thread safety: pure functions.

#include <fmt/format.h>

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>

namespace hikyaku::config::internal {

// Case-insensitive Levenshtein distance.
size_t edit_distance(std::string_view a, std::string_view b);

// " (did you mean \"NAME\"?)" for the closest of `candidates` (any range of string-likes), or ""
// when none is within max(2, given.size() / 3) edits.
template <typename Names>
std::string did_you_mean(std::string_view given, const Names& candidates) {
  std::string best;
  size_t best_distance = std::max<size_t>(2, given.size() / 3) + 1;
  for (const auto& candidate : candidates) {
    const size_t distance = edit_distance(given, candidate);
    if (distance < best_distance) {
      best_distance = distance;
      best = std::string(candidate);
    }
  }
  return best.empty() ? "" : fmt::format(" (did you mean \"{}\"?)", best);
}

}  // namespace hikyaku::config::internal
