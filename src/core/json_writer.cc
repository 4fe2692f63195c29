#include "core/json_writer.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace hikyaku {

namespace {

// Copies `text` (without a terminator: the output is a JSON buffer) and returns the end.
char* copy_to(char* out, std::string_view text) { return std::copy(text.begin(), text.end(), out); }

// Bytes that may need an escape: '"', '\\', controls, and 0xE2 (the lead byte of U+2028/U+2029).
bool may_need_escape(unsigned char byte) {
  return byte == '"' || byte == '\\' || byte < 0x20 || byte == 0xE2;
}

// Bit i set when text[i] may need an escape, for 16 bytes at `text`.
#if defined(__SSE2__)
unsigned escape_mask16(const char* text) {
  const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(text));
  const __m128i quote = _mm_cmpeq_epi8(bytes, _mm_set1_epi8('"'));
  const __m128i backslash = _mm_cmpeq_epi8(bytes, _mm_set1_epi8('\\'));
  const __m128i lead = _mm_cmpeq_epi8(bytes, _mm_set1_epi8(static_cast<char>(0xE2)));
  // byte < 0x20 (unsigned) exactly when min(byte, 0x1F) == byte.
  const __m128i control = _mm_cmpeq_epi8(_mm_min_epu8(bytes, _mm_set1_epi8(0x1F)), bytes);
  return static_cast<unsigned>(
      _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), _mm_or_si128(lead, control))));
}
constexpr size_t kBlock = 16;
#else
unsigned escape_mask16(const char* text) {
  unsigned mask = 0;
  for (unsigned i = 0; i < 16; ++i) {
    mask |= may_need_escape(static_cast<unsigned char>(text[i])) ? 1U << i : 0U;
  }
  return mask;
}
constexpr size_t kBlock = 16;
#endif

// Calls visit(i) for every i with may_need_escape(text[i]), in order.
template <typename Visit>
void for_each_candidate(std::string_view text, Visit&& visit) {
  size_t block = 0;
  for (; block + kBlock <= text.size(); block += kBlock) {
    for (unsigned mask = escape_mask16(text.data() + block); mask != 0; mask &= mask - 1) {
      visit(block + static_cast<size_t>(__builtin_ctz(mask)));
    }
  }
  for (size_t i = block; i < text.size(); ++i) {
    if (may_need_escape(static_cast<unsigned char>(text[i]))) {
      visit(i);
    }
  }
}

// for_each_candidate's loop again, counting a block at a time with popcount: sharing one block
// visitor between the two measured ~10-20% slower (envelope_bench BM_AppendJsonString).
size_t count_candidates(std::string_view text) {
  size_t count = 0;
  size_t block = 0;
  for (; block + kBlock <= text.size(); block += kBlock) {
    count += static_cast<size_t>(__builtin_popcount(escape_mask16(text.data() + block)));
  }
  for (size_t i = block; i < text.size(); ++i) {
    count += may_need_escape(static_cast<unsigned char>(text[i])) ? 1 : 0;
  }
  return count;
}

bool is_line_separator_at(std::string_view text, size_t i) {
  return i + 2 < text.size() && static_cast<unsigned char>(text[i + 1]) == 0x80 &&
         (static_cast<unsigned char>(text[i + 2]) & 0xFE) == 0xA8;
}

}  // namespace

// Two passes over `text` with a vector search for the bytes that may need escaping: the first
// counts them to size `out` once, the second copies the runs between them and writes the escapes.
// (Escaping whole event bodies into Log lines was ~10% of a delivery's CPU byte by byte.)
void append_json_escaped(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  const size_t candidates = count_candidates(text);
  const size_t start = out.size();
  if (candidates == 0) {
    out.append(text);
    return;
  }
  // Each candidate grows by at most 5 bytes (a control byte becomes \u00XX); 16 bytes of slack
  // let short runs be copied with one fixed-size move.
  out.resize(start + text.size() + 5 * candidates + 16);
  char* write = out.data() + start;
  size_t run_start = 0;
  for_each_candidate(text, [&](size_t i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte == 0xE2 && !is_line_separator_at(text, i)) {
      return;  // other characters starting with 0xE2 are copied as they are
    }
    const size_t run = i - run_start;
    if (run <= 16 && run_start + 16 <= text.size()) {
      std::memcpy(write, text.data() + run_start, 16);  // the bytes past `run` are overwritten
    } else {
      std::memcpy(write, text.data() + run_start, run);
    }
    write += run;
    run_start = i + 1;
    *write++ = '\\';
    switch (byte) {
      case '"':
      case '\\':
        *write++ = static_cast<char>(byte);
        return;
      case '\b':
        *write++ = 'b';
        return;
      case '\f':
        *write++ = 'f';
        return;
      case '\n':
        *write++ = 'n';
        return;
      case '\r':
        *write++ = 'r';
        return;
      case '\t':
        *write++ = 't';
        return;
      case 0xE2:
        // U+2028 and U+2029 are valid in JSON but break JavaScript consumers that eval or embed
        // it. Their last byte (0xA8/0xA9) is never a candidate, so skipping it here is safe.
        write = copy_to(write, static_cast<unsigned char>(text[i + 2]) == 0xA8 ? "u2028" : "u2029");
        run_start = i + 3;
        return;
      default:
        write = copy_to(write, "u00");
        *write++ = kHex[byte >> 4];
        *write++ = kHex[byte & 0xF];
        return;
    }
  });
  std::memcpy(write, text.data() + run_start, text.size() - run_start);
  write += text.size() - run_start;
  out.resize(static_cast<size_t>(write - out.data()));
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
