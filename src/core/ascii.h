#pragma once
// ASCII case-insensitive comparison, for the names protocols compare that way (HTTP header
// names, URL schemes, token types). Bytes outside A-Z compare as they are.
//
// Thread safety: pure functions.

#include <string_view>

namespace hikyaku {

constexpr char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

constexpr bool equals_ignoring_ascii_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) {
      return false;
    }
  }
  return true;
}

}  // namespace hikyaku
