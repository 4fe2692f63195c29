#pragma once
// The JSONPath subset EventBridge accepts in InputPath and InputPathsMap
// (docs/input-transformer.md §2): `$`, then any sequence of `.name`, `.*`, `[N]`, `[*]`; names
// are made of letters, digits, `-`, `_` and `/`. Bracket-quoted names, filters, recursive descent
// and slices are rejected.
//
// Internal to transform/. Thread safety: plain values.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace hikyaku::transform::internal {

struct PathStep {
  enum class Kind : uint8_t { kMember, kIndex, kWildcard };
  Kind kind = Kind::kMember;
  std::string name;    // kMember
  uint32_t index = 0;  // kIndex
};

struct JsonPath {
  std::vector<PathStep> steps;  // empty for `$`
  bool has_wildcard = false;
};

// Parses `text`. Errors: kInvalidArgument whose message quotes the path and says what is wrong
// and at which character offset (no key-path prefix; the caller adds it).
Result<JsonPath> parse_json_path(std::string_view text);

}  // namespace hikyaku::transform::internal
