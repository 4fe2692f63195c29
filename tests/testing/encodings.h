#pragma once
// Encoders for tests that look for a value the way it could have been written down (a secret in
// a log, a file, an error message): written here, independently of the product's own encoders,
// so that a bug there cannot hide the value from the search.
//
// Thread safety: pure functions.

#include <fmt/format.h>

#include <cctype>
#include <cstdint>
#include <string>
#include <string_view>

namespace hikyaku::testing {

// Every byte but A-Z a-z 0-9 - _ . ~ as %XX (`lower_hex`: %xx); with `plus_for_space` a space
// is `+` (forms).
inline std::string percent_encoded(std::string_view text, bool lower_hex = false,
                                   bool plus_for_space = false) {
  std::string out;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out += ch;
    } else if (c == ' ' && plus_for_space) {
      out += '+';
    } else {
      out += lower_hex ? fmt::format("%{:02x}", c) : fmt::format("%{:02X}", c);
    }
  }
  return out;
}

// Base64 of `bytes`, standard or URL alphabet; unpadded output is a prefix of the padded one, so
// searching for it finds both.
inline std::string base64_encoded(std::string_view bytes, bool url_alphabet = false,
                                  bool padded = true) {
  const std::string_view alphabet =
      url_alphabet ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                   : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t n = static_cast<uint32_t>(static_cast<uint8_t>(bytes[i])) << 16;
    if (i + 1 < bytes.size()) {
      n |= static_cast<uint32_t>(static_cast<uint8_t>(bytes[i + 1])) << 8;
    }
    if (i + 2 < bytes.size()) {
      n |= static_cast<uint8_t>(bytes[i + 2]);
    }
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    if (i + 1 < bytes.size()) {
      out += alphabet[(n >> 6) & 63];
    } else if (padded) {
      out += '=';
    }
    if (i + 2 < bytes.size()) {
      out += alphabet[n & 63];
    } else if (padded) {
      out += '=';
    }
  }
  return out;
}

}  // namespace hikyaku::testing
