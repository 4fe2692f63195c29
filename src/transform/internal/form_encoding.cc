#include "transform/internal/form_encoding.h"

#include <fmt/format.h>

#include <array>
#include <cstdint>
#include <cstring>

namespace hikyaku::transform::internal {
namespace {

namespace od = simdjson::ondemand;

Status json_error(simdjson::error_code error) {
  return invalid_argument(
      fmt::format("body is not valid JSON: {}", simdjson::error_message(error)));
}

std::string_view trim_token(std::string_view token) {
  while (!token.empty() && (token.back() == ' ' || token.back() == '\t' || token.back() == '\n' ||
                            token.back() == '\r')) {
    token.remove_suffix(1);
  }
  return token;
}

// Reads a scalar as form text into `text`. Returns false (no error) for objects and arrays.
Result<bool> scalar_text(od::value& value, std::string_view& text) {
  od::json_type type;
  if (auto error = value.type().get(type)) {
    return json_error(error);
  }
  switch (type) {
    case od::json_type::string: {
      // Without a backslash, the raw content is the string (no unescaping copy needed).
      const std::string_view token = trim_token(value.raw_json_token());
      if (token.size() >= 2 && token.back() == '"' &&
          std::memchr(token.data() + 1, '\\', token.size() - 2) == nullptr) {
        text = token.substr(1, token.size() - 2);
        return true;
      }
      if (auto error = value.get_string().get(text)) {
        return json_error(error);
      }
      return true;
    }
    case od::json_type::number: {
      text = trim_token(value.raw_json_token());
      return true;
    }
    case od::json_type::boolean: {
      bool b = false;
      if (auto error = value.get_bool().get(b)) {
        return json_error(error);
      }
      text = b ? "true" : "false";
      return true;
    }
    case od::json_type::null: {
      bool is_null = false;
      if (auto error = value.is_null().get(is_null)) {
        return json_error(error);
      }
      if (!is_null) {
        return json_error(simdjson::N_ATOM_ERROR);
      }
      text = "";
      return true;
    }
    default:
      return false;
  }
}

void append_field(std::string& out, std::string_view key, bool brackets, std::string_view value) {
  if (!out.empty()) {
    out += '&';
  }
  append_form_encoded(out, key, /*key=*/true);
  if (brackets) {
    out += "[]";
  }
  out += '=';
  append_form_encoded(out, value, /*key=*/false);
}

}  // namespace

void append_form_encoded(std::string& out, std::string_view text, bool key) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  // 0: percent-encode, 1: keep, 2: keep in keys only ('[' and ']').
  static constexpr auto kKeep = [] {
    std::array<uint8_t, 256> keep{};
    for (int c = '0'; c <= '9'; ++c) {
      keep[static_cast<size_t>(c)] = 1;
    }
    for (int c = 'a'; c <= 'z'; ++c) {
      const int upper = c - 'a' + 'A';
      keep[static_cast<size_t>(c)] = 1;
      keep[static_cast<size_t>(upper)] = 1;
    }
    for (const unsigned char c : {'*', '-', '.', '_'}) {
      keep[c] = 1;
    }
    keep['['] = 2;
    keep[']'] = 2;
    return keep;
  }();
  out.reserve(out.size() + text.size() * 3);
  size_t run = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    const uint8_t keep = kKeep[byte];
    if (keep == 1 || (keep == 2 && key)) {
      continue;
    }
    out.append(text.data() + run, i - run);
    run = i + 1;
    if (byte == ' ') {
      out += '+';
    } else {
      const char encoded[3] = {'%', kHex[byte >> 4], kHex[byte & 0xF]};
      out.append(encoded, 3);
    }
  }
  out.append(text.data() + run, text.size() - run);
}

Status form_encode_json(od::parser& parser, simdjson::padded_string_view json, std::string& out) {
  out.clear();
  od::document doc;
  if (auto error = parser.iterate(json).get(doc)) {
    return json_error(error);
  }
  od::object object;
  if (doc.get_object().get(object) != simdjson::SUCCESS) {
    return invalid_argument("BodyEncoding FORM needs a JSON object, but the body is not one");
  }
  for (auto field_result : object) {
    od::field field;
    if (auto error = std::move(field_result).get(field)) {
      return json_error(error);
    }
    std::string_view key;
    if (auto error = field.unescaped_key().get(key)) {
      return json_error(error);
    }
    // The key view lives in the parser's string buffer, which later strings do not overwrite.
    od::value value = field.value();
    std::string_view text;
    HK_ASSIGN_OR_RETURN(const bool scalar, scalar_text(value, text));
    if (scalar) {
      append_field(out, key, false, text);
      continue;
    }
    od::array array;
    if (value.get_array().get(array) != simdjson::SUCCESS) {
      return invalid_argument(
          fmt::format("BodyEncoding FORM cannot encode the nested object under key \"{}\"", key));
    }
    const bool brackets = !(key.size() >= 2 && key.substr(key.size() - 2) == "[]");
    for (auto element_result : array) {
      od::value element;
      if (auto error = element_result.get(element)) {
        return json_error(error);
      }
      HK_ASSIGN_OR_RETURN(const bool element_scalar, scalar_text(element, text));
      if (!element_scalar) {
        return invalid_argument(fmt::format(
            "BodyEncoding FORM cannot encode an object or array inside the array under key "
            "\"{}\"",
            key));
      }
      append_field(out, key, brackets, text);
    }
  }
  return ok_status();
}

}  // namespace hikyaku::transform::internal
