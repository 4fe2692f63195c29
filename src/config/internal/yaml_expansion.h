#pragma once
// A bound on what YAML aliases can make of a config before anything reads it.
//
// yaml-cpp keeps an alias as a second reference to the anchored node, so parsing stays as small as
// the text; but every reader that walks the tree (the key checks, the EventPattern and Input
// conversion to JSON) walks an aliased node once per reference. Aliases of aliases multiply: a
// 1 KB file nesting seven levels of ten aliases reads as ten million nodes. This pass follows the
// parser's events (no tree is built, nothing is expanded) and adds up what the document would
// weigh written out without aliases, refusing it at the first place where that passes the limit,
// or where the number of aliases passes its own limit, or where an alias names a node it is inside
// of (a cycle, which no expansion ends).
//
// Thread safety: pure function.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"

namespace hikyaku::config::internal {

// What the expanded document may weigh: as much as the largest config file read at all (one byte
// per character of the text it would be without aliases, and at least two per node).
inline constexpr size_t kMaxExpandedConfigBytes = kMaxConfigFileBytes;
// More aliases than any hand-written config uses; each is cheap, but nothing needs more.
inline constexpr size_t kMaxYamlAliases = 10'000;

struct ExpansionProblem {
  SourceLocation location;
  std::string key_path;  // where the alias that passed a limit is, e.g. Rules[0].EventPattern.a[3]
  std::string message;
};

// nullopt when `text` is within the limits, or when it is not valid YAML (the parse that follows
// reports that).
std::optional<ExpansionProblem> check_yaml_expansion(std::string_view text);

}  // namespace hikyaku::config::internal
