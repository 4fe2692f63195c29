#include "store/jetstream/internal/naming.h"

namespace hikyaku::store::internal {
namespace {

bool kept(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '/';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

}  // namespace

std::string escape_name(std::string_view name) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  if (name.empty()) {
    return "=";  // a token may not be empty
  }
  std::string escaped;
  escaped.reserve(name.size());
  for (char c : name) {
    if (kept(c)) {
      escaped += c;
    } else {
      const auto byte = static_cast<unsigned char>(c);
      escaped += '=';
      escaped += kHex[byte >> 4];
      escaped += kHex[byte & 0xF];
    }
  }
  return escaped;
}

std::optional<std::string> unescape_name(std::string_view token) {
  if (token == "=") {
    return std::string();
  }
  std::string name;
  name.reserve(token.size());
  for (size_t i = 0; i < token.size(); ++i) {
    if (token[i] != '=') {
      if (!kept(token[i])) {
        return std::nullopt;
      }
      name += token[i];
      continue;
    }
    if (i + 2 >= token.size()) {
      return std::nullopt;
    }
    const int high = hex_value(token[i + 1]);
    const int low = hex_value(token[i + 2]);
    if (high < 0 || low < 0) {
      return std::nullopt;
    }
    name += static_cast<char>((high << 4) | low);
    i += 2;
  }
  return name;
}

}  // namespace hikyaku::store::internal
