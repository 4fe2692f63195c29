#pragma once
// Byte-level pieces of the matcher's lazy event walk (matcher.cc): find the next quote or bracket,
// skip a value without reading it, decode a string's escapes, and tell whether the rest of an
// event could still name a field some rule wants.
//
// Why not simdjson On-Demand: it indexes the whole document (its stage 1) before the first field
// can be read, so finding `properties.STREET` near the start of a 900-byte CityLots2 event costs
// as much as reading all of it. The walk reads only along the paths rules name, skips everything
// else structurally, and stops as soon as the rest of the event cannot matter (KeyNeedles).
//
// Inputs are plain (unpadded) byte ranges; nothing here reads outside [p, end). Skipping is
// structural, not validating: strings honour escapes and brackets are counted, but skipped
// text is not checked for UTF-8 or grammar. Thread safety: stateless, or const after setup.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pattern/internal/value_table.h"

namespace hikyaku::pattern::internal {

// First '"' or '\\' in [p, end), or end.
const char* find_quote_or_backslash(const char* p, const char* end);

// `p` just past an opening quote. Returns the closing quote, or nullptr when the string is not
// terminated before `end`. `*escaped` is set when the string contains a backslash.
const char* find_string_end(const char* p, const char* end, bool* escaped);

// Skips one JSON value starting at `p` (no leading whitespace). Returns the first byte after it,
// or nullptr when a string or container is not closed before `end`, or `p` starts no value.
const char* skip_value(const char* p, const char* end);

// `p` at the first byte of a number. Returns the first byte after the longest prefix that is a
// JSON number token (RFC 8259 grammar), or nullptr when no such prefix exists. With `token`, also
// converts the common cases on the way: `exact` says `value` is the correctly rounded double
// (with -0 as 0); otherwise the caller converts the text itself.
struct NumberToken {
  double value = 0;
  bool exact = false;
};
const char* scan_number(const char* p, const char* end, NumberToken* token = nullptr);

// Decodes the body of a JSON string (the bytes between its quotes) into `out` (appended; never
// longer than `body`). Returns nullptr, or what is wrong: a bad escape or an unpaired surrogate.
const char* decode_string(std::string_view body, std::string& out);

// Decodes one escape sequence: `p` just past the backslash, moved past the sequence. Returns
// nullptr, or what is wrong (then `p` points at the byte after the backslash).
const char* decode_escape(const char*& p, const char* end, std::string& out);

// Appends the UTF-8 encoding of code point `cp` (<= 0x10FFFF).
void append_utf8(std::string& out, uint32_t cp);

// The key segments rules name, each searched as `"segment`: if the rest of an event contains none
// of them (and no backslash, which could spell one in escapes), no later key can reach a field any
// rule names, so the walk may stop there.
class KeyNeedles {
 public:
  void add(std::string_view segment);
  // Ends building (call once, after the last add()).
  void freeze() { segments_.freeze(); }
  // True when [p, end) may still hold a key that starts with one of the segments.
  bool may_occur(const char* p, const char* end) const;

 private:
  bool matches_at(const char* quote, const char* end) const;

  // The segments, looked up as prefixes of the text after a quote: one probe per distinct
  // segment length, however many segments the rules name.
  AffixTable segments_{AffixTable::Side::kPrefix};
  bool first_byte_[256] = {};  // bytes that start some segment
  std::string first_bytes_;    // the same, as a list (SIMD filter when short)
  bool has_empty_ = false;     // an empty segment: every quote is a candidate
};

}  // namespace hikyaku::pattern::internal
