#pragma once
// BodyEncoding FORM: JSON object text -> application/x-www-form-urlencoded (hikyaku extension,
// docs/input-transformer.md §8 example D). Top-level keys become fields in order; an array
// becomes one `key[]=v` field per element (a key already ending in `[]` is kept as is); strings
// are sent unquoted, numbers as written, booleans as true/false, null as an empty value. Nested
// objects, and objects or arrays inside arrays, are errors. Percent-encoding follows the WHATWG
// urlencoded serializer (space -> '+', [A-Za-z0-9*-._] kept, other bytes %XX), except that '['
// and ']' are kept literally in keys, as Backlog documents `categoryId[]=1`.
//
// Internal to transform/. Thread safety: functions; the parser is the caller's.

#include <simdjson.h>

#include <string>
#include <string_view>

#include "core/status.h"

namespace hikyaku::transform::internal {

// Appends `text` percent-encoded for a form value (or, with `key`, a form key).
void append_form_encoded(std::string& out, std::string_view text, bool key);

// Encodes the JSON object in `json` (padded as simdjson requires) into `out` (cleared first).
// Errors: kInvalidArgument when `json` is not a JSON object of encodable values.
Status form_encode_json(simdjson::ondemand::parser& parser, simdjson::padded_string_view json,
                        std::string& out);

}  // namespace hikyaku::transform::internal
