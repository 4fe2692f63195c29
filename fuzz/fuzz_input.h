#pragma once
// Splitting one fuzzer input into the parts a target needs, so that a single byte string drives
// two inputs at once (a pattern and an event, a template and an event): the parts are separated
// by a newline, the last part takes the rest. Seeds are written the same way (scripts/run-fuzz).

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>

namespace hikyaku::fuzz {

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// The text before the first newline, and the text after it ("" when there is none).
inline std::pair<std::string_view, std::string_view> split_first_line(std::string_view text) {
  const size_t newline = text.find('\n');
  if (newline == std::string_view::npos) {
    return {text, {}};
  }
  return {text.substr(0, newline), text.substr(newline + 1)};
}

}  // namespace hikyaku::fuzz
