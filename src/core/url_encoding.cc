#include "core/url_encoding.h"

#include <openssl/evp.h>

#include <array>
#include <cstdint>

#include "core/hex.h"

namespace hikyaku {
namespace {

constexpr std::string_view kHexDigits = "0123456789ABCDEF";

enum Keep : uint8_t { kPercentKeeps = 1, kFormKeeps = 2 };

constexpr std::array<uint8_t, 256> make_keep_table() {
  std::array<uint8_t, 256> table{};
  for (int c = 0; c < 256; ++c) {
    const bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    uint8_t keep = 0;
    if (alnum || c == '-' || c == '.' || c == '_' || c == '~') {
      keep |= kPercentKeeps;
    }
    if (alnum || c == '-' || c == '.' || c == '_' || c == '*') {
      keep |= kFormKeeps;
    }
    table[static_cast<size_t>(c)] = keep;
  }
  return table;
}

constexpr std::array<uint8_t, 256> kKeep = make_keep_table();

void append_encoded(std::string& out, std::string_view text, Keep keep, bool space_as_plus) {
  out.reserve(out.size() + text.size());
  for (const char ch : text) {
    const auto byte = static_cast<unsigned char>(ch);
    if ((kKeep[byte] & keep) != 0) {
      out += ch;
    } else if (space_as_plus && ch == ' ') {
      out += '+';
    } else {
      out += '%';
      out += kHexDigits[byte >> 4];
      out += kHexDigits[byte & 0x0F];
    }
  }
}

}  // namespace

void append_percent_encoded(std::string& out, std::string_view text) {
  append_encoded(out, text, kPercentKeeps, false);
}

std::string percent_encode(std::string_view text) {
  std::string out;
  append_percent_encoded(out, text);
  return out;
}

void append_form_encoded(std::string& out, std::string_view text) {
  append_encoded(out, text, kFormKeeps, true);
}

std::string form_encode(std::string_view text) {
  std::string out;
  append_form_encoded(out, text);
  return out;
}

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  // EVP_EncodeBlock writes a terminating NUL after the output: the string's own terminator
  // leaves room for it.
  const int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                      reinterpret_cast<const unsigned char*>(bytes.data()),
                                      static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(written));
  return out;
}

namespace {

std::string decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex_digit_value(text[i + 1]) >= 0 &&
        hex_digit_value(text[i + 2]) >= 0) {
      out += static_cast<char>(hex_digit_value(text[i + 1]) * 16 + hex_digit_value(text[i + 2]));
      i += 2;
    } else {
      out += plus_is_space && text[i] == '+' ? ' ' : text[i];
    }
  }
  return out;
}

}  // namespace

std::string percent_decode(std::string_view text) { return decode(text, false); }

std::string form_decode(std::string_view text) { return decode(text, true); }

}  // namespace hikyaku
