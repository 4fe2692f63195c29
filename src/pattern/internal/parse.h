#pragma once
// Pattern text -> validated sub-rules (the cross product of every $or),
// docs/event-patterns.md §1-§11 with the choices of its §13. Used by the compiler and by
// validate_pattern. Thread-safe (pure).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "pattern/internal/values.h"

namespace hikyaku::pattern::internal {

struct MatcherSpec {
  enum class Kind : uint8_t {
    kExactString,  // text; IP-looking strings also match equivalent IP spellings (§8)
    kExactNumber,  // text = literal, number = analysis
    kExactTrue,
    kExactFalse,
    kExactNull,
    kExactly,  // byte-exact string, no IP canonicalisation
    kPrefix,
    kSuffix,
    kEqualsIgnoreCase,
    kPrefixIgnoreCase,
    kSuffixIgnoreCase,
    kWildcard,
    kAnythingButStrings,     // list
    kAnythingButNumbers,     // list (literal texts)
    kAnythingButPrefix,      // list
    kAnythingButSuffix,      // list
    kAnythingButIgnoreCase,  // list
    kAnythingButWildcard,    // list
    kNumeric,
    kExistsTrue,
    kExistsFalse,
    kCidr,
  };
  Kind kind = Kind::kExactNull;
  std::string text;
  std::vector<std::string> list;
  NumberInfo number;
  // kNumeric: lower/upper bounds (absent = unbounded).
  std::optional<double> lo, hi;
  bool lo_inclusive = false, hi_inclusive = false;
  CidrRange cidr;
  std::string json;  // the pattern element as written (re-serialised), for messages and keys
};

struct FieldSpec {
  std::string path;                   // dotted
  std::vector<MatcherSpec> matchers;  // OR-ed
};

struct SubRule {
  std::vector<FieldSpec> fields;  // AND-ed; distinct paths
};

struct ParseLimits {
  size_t max_pattern_bytes = size_t{256} * 1024;
  size_t max_depth = 64;
  size_t max_fields_per_sub_rule = 256;
  size_t max_sub_rules = 1024;  // $or expansion per pattern
  size_t max_wildcard_stars =
      5;  // AWS: "Rule is too complex - try using fewer wildcard characters"
};

Result<std::vector<SubRule>> parse_pattern(std::string_view pattern_json,
                                           const ParseLimits& limits = {});

// Warnings about a valid pattern (see pattern::lint_pattern); empty for an invalid one.
std::vector<std::string> lint_pattern(std::string_view pattern_json,
                                      const ParseLimits& limits = {});

}  // namespace hikyaku::pattern::internal
