#include "transform/internal/json_path.h"

#include <fmt/format.h>

namespace hikyaku::transform::internal {
namespace {

bool is_member_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '/';
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

Status path_error(std::string_view text, size_t offset, std::string_view what) {
  return invalid_argument(fmt::format("path \"{}\": {} at offset {}", text, what, offset));
}

// Describes a character for an error message: 'x', or a code for control/space characters.
std::string describe_char(char c) {
  const auto byte = static_cast<unsigned char>(c);
  if (c == ' ') {
    return "a space";
  }
  if (byte < 0x20 || byte >= 0x7F) {
    return fmt::format("byte 0x{:02X}", byte);
  }
  return fmt::format("'{}'", c);
}

}  // namespace

Result<JsonPath> parse_json_path(std::string_view text) {
  if (text.empty()) {
    return invalid_argument("path is empty; it must start with $");
  }
  if (text[0] != '$') {
    return path_error(text, 0, "a path must start with $");
  }
  JsonPath path;
  size_t i = 1;
  while (i < text.size()) {
    const char c = text[i];
    if (c == '.') {
      ++i;
      if (i < text.size() && text[i] == '.') {
        return path_error(text, i - 1, "recursive descent (..) is not supported");
      }
      if (i < text.size() && text[i] == '*') {
        path.steps.push_back({PathStep::Kind::kWildcard, {}, 0});
        path.has_wildcard = true;
        ++i;
        continue;
      }
      const size_t start = i;
      while (i < text.size() && is_member_char(text[i])) {
        ++i;
      }
      if (i == start) {
        if (i == text.size()) {
          return path_error(text, start, "a member name is missing after the final '.'");
        }
        return path_error(text, i,
                          fmt::format("{} cannot start a member name (allowed: letters, digits, "
                                      "'-', '_', '/')",
                                      describe_char(text[i])));
      }
      path.steps.push_back(
          {PathStep::Kind::kMember, std::string(text.substr(start, i - start)), 0});
      if (i < text.size() && text[i] != '.' && text[i] != '[') {
        return path_error(text, i,
                          fmt::format("{} is not allowed in a member name (allowed: letters, "
                                      "digits, '-', '_', '/')",
                                      describe_char(text[i])));
      }
    } else if (c == '[') {
      const size_t open = i;
      ++i;
      if (i < text.size() && text[i] == '*') {
        if (i + 1 >= text.size() || text[i + 1] != ']') {
          return path_error(text, open, "expected [*]");
        }
        path.steps.push_back({PathStep::Kind::kWildcard, {}, 0});
        path.has_wildcard = true;
        i += 2;
        continue;
      }
      if (i < text.size() && (text[i] == '\'' || text[i] == '"')) {
        return path_error(text, open,
                          "bracket notation for names is not supported; use dot notation "
                          "(.name)");
      }
      if (i < text.size() && text[i] == '?') {
        return path_error(text, open, "filter expressions are not supported");
      }
      if (i < text.size() && text[i] == '-') {
        return path_error(text, open, "negative array indexes are not supported");
      }
      const size_t start = i;
      uint64_t index = 0;
      while (i < text.size() && is_digit(text[i])) {
        index = index * 10 + static_cast<uint64_t>(text[i] - '0');
        if (index > UINT32_MAX) {
          return path_error(text, open, "array index is too large");
        }
        ++i;
      }
      if (i < text.size() && (text[i] == ':' || text[i] == ',')) {
        return path_error(text, open, "array slices and unions are not supported");
      }
      if (i == start || i >= text.size() || text[i] != ']') {
        return path_error(text, open, "expected an array index such as [0] or [*]");
      }
      ++i;
      path.steps.push_back({PathStep::Kind::kIndex, {}, static_cast<uint32_t>(index)});
    } else {
      return path_error(
          text, i,
          fmt::format("unexpected {}; expected '.name', '[N]' or '[*]'", describe_char(c)));
    }
  }
  return path;
}

}  // namespace hikyaku::transform::internal
