#include "pattern/internal/event_scan.h"

#include <algorithm>
#include <cstring>

#include "core/hex.h"

#if defined(__AVX2__) || defined(__SSE2__)
#include <immintrin.h>
#define HK_SCAN_VECTOR 1
#endif

namespace hikyaku::pattern::internal {

namespace {

#if defined(HK_SCAN_VECTOR)
// A block of bytes at a time (32 with AVX2, 16 with SSE2). Events are unpadded, so the vector
// loops stop a block (plus one byte where they look one byte ahead) before `end` and a scalar
// loop finishes the tail.
#if defined(__AVX2__)
using Vec = __m256i;
constexpr ptrdiff_t kBlock = 32;
inline Vec load(const char* p) { return _mm256_loadu_si256(reinterpret_cast<const Vec*>(p)); }
inline Vec eq(Vec v, char c) { return _mm256_cmpeq_epi8(v, _mm256_set1_epi8(c)); }
inline Vec either(Vec a, Vec b) { return _mm256_or_si256(a, b); }
inline Vec both(Vec a, Vec b) { return _mm256_and_si256(a, b); }
inline Vec all_set() { return _mm256_set1_epi8(-1); }
inline uint32_t mask_of(Vec v) { return static_cast<uint32_t>(_mm256_movemask_epi8(v)); }
#else
using Vec = __m128i;
constexpr ptrdiff_t kBlock = 16;
inline Vec load(const char* p) { return _mm_loadu_si128(reinterpret_cast<const Vec*>(p)); }
inline Vec eq(Vec v, char c) { return _mm_cmpeq_epi8(v, _mm_set1_epi8(c)); }
inline Vec either(Vec a, Vec b) { return _mm_or_si128(a, b); }
inline Vec both(Vec a, Vec b) { return _mm_and_si128(a, b); }
inline Vec all_set() { return _mm_set1_epi8(-1); }
inline uint32_t mask_of(Vec v) { return static_cast<uint32_t>(_mm_movemask_epi8(v)); }
#endif
#endif

// First of '"', '{', '}', '[', ']' in [p, end), or end.
const char* find_container_byte(const char* p, const char* end) {
#if defined(HK_SCAN_VECTOR)
  while (end - p >= kBlock) {
    Vec v = load(p);
    uint32_t mask = mask_of(
        either(either(eq(v, '"'), either(eq(v, '{'), eq(v, '}'))), either(eq(v, '['), eq(v, ']'))));
    if (mask != 0) {
      return p + __builtin_ctz(mask);
    }
    p += kBlock;
  }
#endif
  while (p < end && *p != '"' && *p != '{' && *p != '}' && *p != '[' && *p != ']') {
    ++p;
  }
  return p;
}

#if defined(HK_SCAN_VECTOR)
// Bit i of each mask says what byte i of a 64-byte stretch is.
struct Masks64 {
  uint64_t quote, backslash, open, close;
};

Masks64 masks64(const char* p) {
  Masks64 m{0, 0, 0, 0};
  for (ptrdiff_t at = 0; at < 64; at += kBlock) {
    Vec v = load(p + at);
    const auto shift = static_cast<unsigned>(at);
    m.quote |= uint64_t{mask_of(eq(v, '"'))} << shift;
    m.backslash |= uint64_t{mask_of(eq(v, '\\'))} << shift;
    m.open |= uint64_t{mask_of(either(eq(v, '{'), eq(v, '[')))} << shift;
    m.close |= uint64_t{mask_of(either(eq(v, '}'), eq(v, ']')))} << shift;
  }
  return m;
}

// Bit i = XOR of bits 0..i: with quote bits in, 1 from an opening quote up to (not including)
// its closing quote.
uint64_t prefix_xor(uint64_t x) {
  x ^= x << 1;
  x ^= x << 2;
  x ^= x << 4;
  x ^= x << 8;
  x ^= x << 16;
  x ^= x << 32;
  return x;
}
#endif

// `p` at '{' or '['. Brackets are counted outside strings, 64 bytes at a time (simdjson's
// stage-1 idea: quote masks and a prefix XOR tell which bytes are inside strings); a stretch with
// a backslash, and the tail, go byte by byte.
const char* skip_container(const char* p, const char* end) {
  size_t depth = 1;
  ++p;
  bool in_string = false;
#if defined(HK_SCAN_VECTOR)
  while (end - p >= 64) {
    const Masks64 m = masks64(p);
    if (m.backslash != 0) {
      break;
    }
    const uint64_t strings = prefix_xor(m.quote) ^ (in_string ? ~uint64_t{0} : 0);
    const uint64_t opens = m.open & ~strings;
    const uint64_t closes = m.close & ~strings;
    if (static_cast<size_t>(__builtin_popcountll(closes)) >= depth) {
      // The depth may reach zero in this stretch: follow it bracket by bracket.
      for (uint64_t brackets = opens | closes; brackets != 0; brackets &= brackets - 1) {
        const uint64_t bit = brackets & (~brackets + 1);
        if ((opens & bit) != 0) {
          ++depth;
        } else if (--depth == 0) {
          return p + __builtin_ctzll(bit) + 1;
        }
      }
    } else {
      depth = depth + static_cast<size_t>(__builtin_popcountll(opens)) -
              static_cast<size_t>(__builtin_popcountll(closes));
    }
    in_string = (strings >> 63) != 0;
    p += 64;
  }
#endif
  if (in_string) {
    bool escaped = false;
    p = find_string_end(p, end, &escaped);
    if (p == nullptr) {
      return nullptr;
    }
    ++p;
  }
  while (true) {
    p = find_container_byte(p, end);
    if (p == end) {
      return nullptr;
    }
    char c = *p;
    if (c == '"') {
      bool escaped = false;
      p = find_string_end(p + 1, end, &escaped);
      if (p == nullptr) {
        return nullptr;
      }
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (--depth == 0) {
      return p + 1;
    }
    ++p;
  }
}

bool ends_scalar(char c) {
  return c == ',' || c == '}' || c == ']' || c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

bool read_hex4(const char*& p, const char* end, uint32_t& out) {
  if (end - p < 4) {
    return false;
  }
  out = 0;
  for (int i = 0; i < 4; ++i) {
    int h = hex_digit_value(p[i]);
    if (h < 0) {
      return false;
    }
    out = out * 16 + static_cast<uint32_t>(h);
  }
  p += 4;
  return true;
}

}  // namespace

const char* find_quote_or_backslash(const char* p, const char* end) {
#if defined(HK_SCAN_VECTOR)
  while (end - p >= kBlock) {
    Vec v = load(p);
    uint32_t mask = mask_of(either(eq(v, '"'), eq(v, '\\')));
    if (mask != 0) {
      return p + __builtin_ctz(mask);
    }
    p += kBlock;
  }
#endif
  while (p < end && *p != '"' && *p != '\\') {
    ++p;
  }
  return p;
}

const char* find_string_end(const char* p, const char* end, bool* escaped) {
  while (true) {
    p = find_quote_or_backslash(p, end);
    if (p == end) {
      return nullptr;
    }
    if (*p == '"') {
      return p;
    }
    *escaped = true;
    if (end - p < 2) {
      return nullptr;
    }
    p += 2;  // the backslash and the byte it escapes (a \u's hex digits hold no quote)
  }
}

const char* skip_value(const char* p, const char* end) {
  switch (*p) {
    case '"': {
      bool escaped = false;
      const char* close = find_string_end(p + 1, end, &escaped);
      return close == nullptr ? nullptr : close + 1;
    }
    case '{':
    case '[':
      return skip_container(p, end);
    case '-':
    case 't':
    case 'f':
    case 'n':
      break;
    default:
      if (*p < '0' || *p > '9') {
        return nullptr;
      }
  }
  while (p < end && !ends_scalar(*p)) {
    ++p;
  }
  return p;
}

const char* scan_number(const char* p, const char* end, NumberToken* token) {
  // The significand is kept while it fits 19 digits; Clinger's fast path then applies when it is
  // at most 2^53 and the power of ten at most 22: both operands are exact doubles, so the one
  // multiplication or division rounds correctly.
  static constexpr double kPowers[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
  auto digit = [&](const char* q) { return q < end && *q >= '0' && *q <= '9'; };
  uint64_t significand = 0;
  int digits = 0;  // significant digits taken into `significand`
  bool lost = false;
  int64_t exp10 = 0;
  auto take = [&](char c, bool fraction) {
    if (digits == 0 && c == '0') {
      exp10 -= fraction ? 1 : 0;
      return;
    }
    if (digits < 19) {
      significand = significand * 10 + static_cast<uint64_t>(c - '0');
      ++digits;
      exp10 -= fraction ? 1 : 0;
    } else {
      lost = true;
      exp10 += fraction ? 0 : 1;
    }
  };
  const bool negative = p < end && *p == '-';
  if (negative) {
    ++p;
  }
  if (!digit(p)) {
    return nullptr;
  }
  if (*p == '0') {
    ++p;
  } else {
    while (digit(p)) {
      take(*p++, false);
    }
  }
  if (p < end && *p == '.') {
    ++p;
    if (!digit(p)) {
      return nullptr;
    }
    while (digit(p)) {
      take(*p++, true);
    }
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    ++p;
    bool minus = false;
    if (p < end && (*p == '+' || *p == '-')) {
      minus = *p++ == '-';
    }
    if (!digit(p)) {
      return nullptr;
    }
    int64_t e = 0;
    while (digit(p)) {
      e = e < 100000 ? e * 10 + (*p - '0') : e;
      ++p;
    }
    exp10 += minus ? -e : e;
  }
  if (token != nullptr) {
    token->exact = false;
    if (significand == 0 && !lost) {
      token->exact = true;
      token->value = 0;
    } else if (!lost && significand <= (uint64_t{1} << 53) && exp10 >= -22 && exp10 <= 22) {
      const auto m = static_cast<double>(significand);
      token->value = exp10 < 0 ? m / kPowers[-exp10] : m * kPowers[exp10];
      token->value = negative ? -token->value : token->value;
      token->exact = true;
    }
  }
  return p;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

const char* decode_escape(const char*& p, const char* end, std::string& out) {
  if (p == end) {
    return "unterminated escape";
  }
  const char* const at = p;
  switch (*p++) {
    case '"':
      out.push_back('"');
      return nullptr;
    case '\\':
      out.push_back('\\');
      return nullptr;
    case '/':
      out.push_back('/');
      return nullptr;
    case 'b':
      out.push_back('\b');
      return nullptr;
    case 'f':
      out.push_back('\f');
      return nullptr;
    case 'n':
      out.push_back('\n');
      return nullptr;
    case 'r':
      out.push_back('\r');
      return nullptr;
    case 't':
      out.push_back('\t');
      return nullptr;
    case 'u':
      break;
    default:
      p = at;
      return "invalid escape";
  }
  uint32_t cp;
  if (!read_hex4(p, end, cp)) {
    p = at;
    return "invalid \\u escape";
  }
  if (cp >= 0xD800 && cp <= 0xDBFF) {
    uint32_t low;
    if (end - p < 2 || p[0] != '\\' || p[1] != 'u') {
      p = at;
      return "unpaired surrogate in \\u escape";
    }
    p += 2;
    if (!read_hex4(p, end, low) || low < 0xDC00 || low > 0xDFFF) {
      p = at;
      return "unpaired surrogate in \\u escape";
    }
    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
  } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
    p = at;
    return "unpaired surrogate in \\u escape";
  }
  append_utf8(out, cp);
  return nullptr;
}

const char* decode_string(std::string_view body, std::string& out) {
  const char* p = body.data();
  const char* end = p + body.size();
  while (p < end) {
    const auto* backslash =
        static_cast<const char*>(std::memchr(p, '\\', static_cast<size_t>(end - p)));
    if (backslash == nullptr) {
      out.append(p, end);
      return nullptr;
    }
    out.append(p, backslash);
    p = backslash + 1;
    if (const char* error = decode_escape(p, end, out)) {
      return error;
    }
  }
  return nullptr;
}

void KeyNeedles::add(std::string_view segment) {
  if (segment.empty()) {
    has_empty_ = true;
    return;
  }
  segments_.add(segment, 0);
  auto first = static_cast<uint8_t>(segment[0]);
  if (!first_byte_[first]) {
    first_byte_[first] = true;
    first_bytes_.push_back(segment[0]);
  }
}

bool KeyNeedles::matches_at(const char* quote, const char* end) const {
  if (end - quote < 2 || !first_byte_[static_cast<uint8_t>(quote[1])]) {
    return false;
  }
  bool found = false;
  segments_.for_each_match(std::string_view(quote + 1, static_cast<size_t>(end - quote - 1)),
                           [&found](uint32_t) { found = true; });
  return found;
}

bool KeyNeedles::may_occur(const char* p, const char* end) const {
  if (has_empty_) {
    return true;
  }
#if defined(HK_SCAN_VECTOR)
  // Candidates: a quote followed by a byte that starts some segment (up to eight such bytes are
  // compared in the vector; more, and every quote is a candidate), and any backslash.
  const size_t firsts = first_bytes_.size() <= 8 ? first_bytes_.size() : 0;
  while (end - p > kBlock) {
    Vec here = load(p);
    Vec next = load(p + 1);
    Vec lead = all_set();
    if (firsts != 0) {
      lead = eq(next, first_bytes_[0]);
      for (size_t i = 1; i < firsts; ++i) {
        lead = either(lead, eq(next, first_bytes_[i]));
      }
    }
    uint32_t mask = mask_of(either(both(eq(here, '"'), lead), eq(here, '\\')));
    while (mask != 0) {
      const char* at = p + __builtin_ctz(mask);
      if (*at == '\\' || matches_at(at, end)) {
        return true;
      }
      mask &= mask - 1;
    }
    p += kBlock;
  }
#endif
  for (; p < end; ++p) {
    if (*p == '\\' || (*p == '"' && matches_at(p, end))) {
      return true;
    }
  }
  return false;
}

}  // namespace hikyaku::pattern::internal
