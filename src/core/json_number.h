#pragma once
// The JSON number grammar (RFC 8259 section 6), the one implementation every reader of JSON text
// in hikyaku uses to decide what is a number token.
//
// Thread safety: pure functions.

#include <string_view>

namespace hikyaku {

// `p` at the first byte of a candidate number. Returns the first byte after the longest prefix
// of [p, end) that is a JSON number token, or nullptr when no prefix is one ("-", "1.", "1e+",
// "+1", ".5"). A leading zero ends the integer part: for "012" the token is "0".
const char* scan_json_number(const char* p, const char* end);

// True when `text` is exactly one JSON number token, nothing before or after.
bool is_json_number(std::string_view text);

}  // namespace hikyaku
