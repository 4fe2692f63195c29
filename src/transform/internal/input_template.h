#pragma once
// InputTemplate parsing (docs/input-transformer.md §3, §5.1 steps 1, 3, 4): splits a template
// once into literal and placeholder segments, decides JSON mode vs string mode, and records for
// each placeholder whether it stands for a JSON value or sits inside a JSON string literal.
//
// Internal to transform/. Thread safety: plain values.

#include <simdjson.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace hikyaku::transform::internal {

enum class Position : uint8_t {
  kJsonValue,     // JSON template, where a JSON value is expected: `"k": <v>`, `[<v>]`
  kJsonInString,  // JSON template, inside a string literal: `"k": "x <v> y"`
  kText,          // string template
};

struct TemplateSegment {
  uint32_t offset = 0;  // literal: byte range in the template
  uint32_t length = 0;
  int name_index = -1;  // placeholder: index into the `names` given to parse; -1 = literal
  Position position = Position::kText;
};

struct ParsedTemplate {
  bool json_mode = false;
  std::vector<TemplateSegment> segments;
};

// Number of characters as AWS counts them (UTF-16 code units) in UTF-8 `text`.
size_t utf16_length(std::string_view text);

// Parses `text` given the defined variable names (InputPathsMap keys and predefined names).
// Errors: kInvalidArgument for an undefined placeholder (with a "did you mean" hint), a
// placeholder used as an object key, or a JSON template that is not valid JSON with its
// placeholders standing for values; with `form` also a JSON template whose top-level values
// include an object literal or an array holding objects or arrays. Messages carry no key-path
// prefix. Length limits are the caller's.
Result<ParsedTemplate> parse_input_template(std::string_view text,
                                            const std::vector<std::string_view>& names, bool form);

// Checks that a parsed JSON value can be form-encoded (see form_encoding.h).
Status check_form_shape(simdjson::dom::element root);

// The closest of `candidates` to `name` (case-insensitive edit distance), or "" if none is
// close enough to suggest.
std::string_view closest_name(std::string_view name,
                              const std::vector<std::string_view>& candidates);

}  // namespace hikyaku::transform::internal
