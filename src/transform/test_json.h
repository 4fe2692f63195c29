#pragma once
// Test-only JSON helpers for the transform tests (not part of the component).

#include <simdjson.h>

#include <string>
#include <string_view>

namespace hikyaku::transform::testing {

// Reads a whole file; aborts the test binary if it cannot (missing test data is a setup bug).
std::string read_file(const std::string& path);

// True when `text` is one valid JSON value (whatever the top-level type).
bool is_valid_json(std::string_view text);

// Compares two JSON texts as values: same types, same numbers, same strings, arrays element by
// element, objects member by member in order (the recordings keep key order). On a difference
// returns false and, when `why` is set, describes the first one.
bool json_equal(std::string_view a, std::string_view b, std::string* why = nullptr);

// Compact JSON text of a DOM element.
std::string to_json(simdjson::dom::element element);

}  // namespace hikyaku::transform::testing
