#pragma once
// A small strict JSON reader for patterns (and for explain / full event validation).
//
// Why not simdjson here: patterns need the literal text of every number (the literal fallback of
// docs/event-patterns.md §2 and numbers such as 1e309 that simdjson rejects), every duplicate key
// in order (last one wins), precise error offsets, and a hard depth limit. Patterns are small, so a
// tree is fine. The hot event path scans events lazily instead (internal/event_scan.h).
//
// Accepts exactly RFC 8259 JSON: UTF-8 validated, no trailing content (only whitespace), lone
// surrogate escapes rejected. Iterative depth is bounded by `max_depth` (recursion is limited by
// it too). Thread safety: stateless.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace hikyaku::pattern::internal {

struct JsonNode {
  enum class Kind : uint8_t { kNull, kTrue, kFalse, kNumber, kString, kArray, kObject };
  Kind kind = Kind::kNull;
  std::string text;               // kString: unescaped bytes; kNumber: the literal token
  std::vector<JsonNode> items;    // kArray elements, kObject member values
  std::vector<std::string> keys;  // kObject member keys (unescaped), parallel to items

  bool is_scalar() const { return kind != Kind::kArray && kind != Kind::kObject; }
};

// Parses `text` as one JSON document. Errors (kInvalidArgument): "invalid JSON at offset N: ...",
// or "JSON nesting deeper than N levels".
Result<JsonNode> parse_json(std::string_view text, size_t max_depth);

// Appends `node` as JSON text, with ", " between elements and ": " after keys (readable in
// error messages). Numbers keep their literal text.
void append_json(std::string& out, const JsonNode& node);
std::string to_json(const JsonNode& node);

}  // namespace hikyaku::pattern::internal
