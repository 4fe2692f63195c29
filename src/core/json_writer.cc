#include "core/json_writer.h"

#include <charconv>
#include <cmath>

namespace hikyaku {

void append_json_escaped(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  size_t run_start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    const char* short_form = nullptr;
    bool needs_escape = true;
    switch (byte) {
      case '"':
        short_form = "\\\"";
        break;
      case '\\':
        short_form = "\\\\";
        break;
      case '\b':
        short_form = "\\b";
        break;
      case '\f':
        short_form = "\\f";
        break;
      case '\n':
        short_form = "\\n";
        break;
      case '\r':
        short_form = "\\r";
        break;
      case '\t':
        short_form = "\\t";
        break;
      default:
        needs_escape = byte < 0x20;
    }
    // U+2028 and U+2029 are valid in JSON but break JavaScript consumers that eval or embed it.
    const bool line_separator = byte == 0xE2 && i + 2 < text.size() &&
                                static_cast<unsigned char>(text[i + 1]) == 0x80 &&
                                (static_cast<unsigned char>(text[i + 2]) & 0xFE) == 0xA8;
    if (!needs_escape && !line_separator) {
      continue;
    }
    out.append(text.data() + run_start, i - run_start);
    if (short_form != nullptr) {
      out += short_form;
    } else if (line_separator) {
      out += static_cast<unsigned char>(text[i + 2]) == 0xA8 ? "\\u2028" : "\\u2029";
      i += 2;
    } else {
      out += "\\u00";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xF];
    }
    run_start = i + 1;
  }
  out.append(text.data() + run_start, text.size() - run_start);
}

void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  append_json_escaped(out, text);
  out += '"';
}

std::string json_quote(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  append_json_string(out, text);
  return out;
}

void JsonWriter::before_value() {
  if (need_comma_) {
    out_ += ',';
  }
  need_comma_ = true;
}

void JsonWriter::begin_object() {
  before_value();
  out_ += '{';
  need_comma_ = false;
}

void JsonWriter::end_object() {
  out_ += '}';
  need_comma_ = true;
}

void JsonWriter::begin_array() {
  before_value();
  out_ += '[';
  need_comma_ = false;
}

void JsonWriter::end_array() {
  out_ += ']';
  need_comma_ = true;
}

void JsonWriter::key(std::string_view name) {
  before_value();
  append_json_string(out_, name);
  out_ += ':';
  need_comma_ = false;
}

void JsonWriter::string(std::string_view value) {
  before_value();
  append_json_string(out_, value);
}

void JsonWriter::number(int64_t value) {
  before_value();
  out_ += std::to_string(value);
}

void JsonWriter::number(double value) {
  before_value();
  if (!std::isfinite(value)) {
    out_ += "null";  // JSON has no NaN or infinity
    return;
  }
  char buffer[32];
  // Shortest text that reads back as the same double.
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  out_.append(buffer, result.ptr);
}

void JsonWriter::boolean(bool value) {
  before_value();
  out_ += value ? "true" : "false";
}

void JsonWriter::null() {
  before_value();
  out_ += "null";
}

void JsonWriter::raw(std::string_view json) {
  before_value();
  out_ += json;
}

}  // namespace hikyaku
