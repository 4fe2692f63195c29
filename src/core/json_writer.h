#pragma once
// Minimal JSON output helpers. simdjson reads JSON; Boost 1.74 predates Boost.JSON, so writing is
// done here: escaping strings correctly is the one part that must never be wrong, because broken
// escaping turns event text (quotes, newlines, control characters) into invalid JSON downstream.
//
// Input strings are expected to be valid UTF-8 (simdjson validates what it parses); bytes >= 0x80
// are copied as they are, so non-ASCII text (Japanese, emoji) stays readable.
//
// Thread safety: stateless functions; JsonWriter is externally synchronized.

#include <cstdint>
#include <string>
#include <string_view>

namespace hikyaku {

// Appends `text` escaped for use inside a JSON string, without the surrounding quotes:
// `"` and `\` are backslash-escaped, \b \f \n \r \t use their short forms, other control
// characters (< 0x20) and U+2028/U+2029 become \u00XX / \u2028 / \u2029.
void append_json_escaped(std::string& out, std::string_view text);

// Appends `text` as a complete JSON string literal: `"` + escaped text + `"`.
void append_json_string(std::string& out, std::string_view text);

// Returns `text` as a JSON string literal.
std::string json_quote(std::string_view text);

// Builds compact JSON text incrementally; commas between members and elements are automatic.
//
//   JsonWriter w;
//   w.begin_object(); w.key("rule"); w.string("r1"); w.key("n"); w.number(3); w.end_object();
//   w.str() == R"({"rule":"r1","n":3})"
class JsonWriter {
 public:
  void begin_object();
  void end_object();
  void begin_array();
  void end_array();
  void key(std::string_view name);
  void string(std::string_view value);
  void number(int64_t value);
  void number(double value);
  void boolean(bool value);
  void null();
  // Inserts already-serialized JSON text as one value (the caller vouches for its validity).
  void raw(std::string_view json);

  const std::string& str() const { return out_; }
  std::string take() { return std::move(out_); }
  // Room for `bytes` of output without reallocating (a size hint; writing more still works).
  void reserve(size_t bytes) { out_.reserve(bytes); }

 private:
  void before_value();

  std::string out_;
  bool need_comma_ = false;
};

}  // namespace hikyaku
