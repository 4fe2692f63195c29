#include "pattern/internal/event_scan.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <string>

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

// The grammar here must stay exactly hikyaku::scan_json_number's (core/json_number.h); the test
// EventScanTest.NumberGrammarIsCores holds the two together. It is a second implementation on
// purpose: converting while scanning, instead of core's scan followed by a conversion pass,
// measured about a third fewer instructions for number tokens (CityLots2's COMPLEX_ARRAYS set,
// which reads every coordinate of the geometry, spends a sixth of its instructions here).
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

// ---- the path index ----

uint32_t PathIndex::add_path(std::string_view path) {
  uint32_t node = 0;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string_view seg =
        path.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    uint32_t child = nodes_[node].find(seg);
    if (child == kNone) {
      child = static_cast<uint32_t>(nodes_.size());
      PathNode& parent = nodes_[node];
      parent.children.emplace(std::string(seg), child);
      const size_t index = parent.children.size() - 1;
      if (parent.children.size() <= PathNode::kSmall) {
        parent.small.emplace_back(std::string(seg), child);
      } else {
        parent.small = {};
      }
      parent.child_bits = index < 64 ? parent.child_bits | (uint64_t{1} << index) : 0;
      nodes_.emplace_back();  // `parent` may dangle from here on
      nodes_.back().bit = index < 64 ? static_cast<uint8_t>(index) : 64;
      needles_.add(seg);
    }
    node = child;
    if (dot == std::string_view::npos) {
      return node;
    }
    start = dot + 1;
  }
}

size_t PathIndex::memory_bytes() const {
  size_t total = nodes_.capacity() * sizeof(PathNode);
  for (const PathNode& n : nodes_) {
    total += n.children.size() * (sizeof(std::string) + 32) + n.children.bucket_count() * 8;
    for (const auto& [k, v] : n.children) {
      total += k.capacity() > 15 ? k.capacity() : 0;
    }
  }
  return total;
}

// ---- the walk ----

namespace {

// A recursive descent over the event bytes along the path index. Every function returns false
// on malformed JSON (failure_ says where) or at the early stop (stopped_ set); walk() tells the
// two apart. Each open object remembers, in its Frame, which of the children rules name it has
// read, for may_stop_here().
class EventWalk {
 public:
  EventWalk(const PathIndex& index, WalkScratch& scratch, ValueSink& sink)
      : index_(index), s_(scratch), sink_(sink) {}

  Status walk(std::string_view event_json) {
    // Decoded strings live here while the event is matched; nothing decodes to more bytes than
    // its escaped form, so reserving the event's size keeps every view into it stable.
    s_.decoded.clear();
    s_.decoded.reserve(event_json.size());
    s_.frames.clear();
    s_.elements.clear();
    begin_ = event_json.data();
    end_ = begin_ + event_json.size();
    p_ = begin_;
    skip_ws();
    if (p_ == end_) {
      return invalid_argument("event is not valid JSON: the input is empty");
    }
    if (*p_ != '{') {
      if (skip_value(p_, end_) != nullptr) {
        return invalid_argument("event must be a JSON object");
      }
      return syntax_error("unexpected character");
    }
    if (!walk_object(0, 1) && !stopped_) {
      return failure_;
    }
    return Status();
  }

 private:
  void skip_ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) {
      ++p_;
    }
  }

  bool fail(const char* what) {
    failure_ = syntax_error(what);
    return false;
  }
  Status syntax_error(const char* what) const {
    return invalid_argument(std::string("event is not valid JSON: ") + what + " at offset " +
                            std::to_string(p_ - begin_));
  }

  // Reads the string at p_ (its opening quote); the view stays valid until the next event.
  bool read_string(std::string_view& out, std::string* decode_into) {
    bool escaped = false;
    const char* close = find_string_end(p_ + 1, end_, &escaped);
    if (close == nullptr) {
      return fail("unterminated string");
    }
    std::string_view body(p_ + 1, static_cast<size_t>(close - p_ - 1));
    if (!escaped) {
      out = body;
    } else {
      size_t from = decode_into->size();
      if (const char* error = decode_string(body, *decode_into)) {
        return fail(error);
      }
      out = std::string_view(decode_into->data() + from, decode_into->size() - from);
    }
    p_ = close + 1;
    return true;
  }

  bool skip() {
    const char* after = skip_value(p_, end_);
    if (after == nullptr) {
      return fail(p_ == end_ ? "unexpected end" : "unterminated value");
    }
    p_ = after;
    return true;
  }

  // Nothing after p_ can change the outcome: every open object has read all its named children,
  // no array is open (a later element could hold more values), and no later key can spell a
  // named segment.
  bool may_stop_here() const {
    if (open_arrays_ != 0) {
      return false;
    }
    for (const WalkScratch::Frame& f : s_.frames) {
      if (f.need == 0 || (f.seen | f.pending) != f.need) {
        return false;
      }
    }
    return !index_.needles().may_occur(p_, end_);
  }

  // p_ at '{' or '['. Steps inside; true when the container is empty (p_ then after it).
  bool open_is_empty(char closer) {
    ++p_;
    skip_ws();
    if (p_ < end_ && *p_ == closer) {
      ++p_;
      return true;
    }
    return false;
  }

  // After a member or element: `*more` says a ',' followed (p_ at the next item) or the container
  // closed (p_ after it). False on malformed JSON.
  bool next_item(char closer, bool* more) {
    skip_ws();
    if (p_ == end_) {
      return fail("unexpected end");
    }
    if (*p_ == ',' || *p_ == closer) {
      *more = *p_ == ',';
      ++p_;
      skip_ws();
      return true;
    }
    return fail(closer == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
  }

  // p_ at a key's opening quote: reads the key and the ':' after it; p_ at the value.
  bool read_key(std::string_view& key) {
    if (p_ == end_ || *p_ != '"') {
      return fail(p_ == end_ ? "unexpected end" : "expected a key");
    }
    s_.key.clear();
    if (!read_string(key, &s_.key)) {
      return false;
    }
    skip_ws();
    if (p_ == end_ || *p_ != ':') {
      return fail("expected ':'");
    }
    ++p_;
    skip_ws();
    return p_ != end_ || fail("unexpected end");
  }

  // p_ at '{'.
  bool walk_object(uint32_t node, uint32_t depth) {
    if (open_is_empty('}')) {
      return true;
    }
    s_.frames.push_back(WalkScratch::Frame{index_.node(node).child_bits, 0, 0});
    const size_t frame = s_.frames.size() - 1;
    for (bool more = true; more;) {
      std::string_view key;
      if (!read_key(key)) {
        return false;
      }
      bool dotted = false;
      const uint32_t child = index_.child(node, key, &dotted);
      if (child == kNone) {
        if (!skip()) {
          return false;
        }
      } else {
        // Only a plain key marks its child read: "a.b" may leave other children of a unread.
        const uint8_t bit_index = index_.node(child).bit;
        const uint64_t bit = !dotted && bit_index < 64 ? uint64_t{1} << bit_index : 0;
        s_.frames[frame].pending = bit;
        if (!walk_value(child, depth + 1)) {
          return false;
        }
        s_.frames[frame].pending = 0;
        s_.frames[frame].seen |= bit;
        if (bit != 0 && s_.frames[frame].seen == s_.frames[frame].need && may_stop_here()) {
          stopped_ = true;
          return false;
        }
      }
      if (!next_item('}', &more)) {
        return false;
      }
    }
    s_.frames.pop_back();
    return true;
  }

  bool too_deep() {
    failure_ = invalid_argument("event nests deeper than " + std::to_string(kMaxEventDepth) +
                                " levels (objects and arrays, the event itself being level 1)");
    return false;
  }

  // p_ at the first byte of a value; `depth` is its level should it be an object or an array.
  bool walk_value(uint32_t node, uint32_t depth) {
    const PathNode& pn = index_.node(node);
    switch (*p_) {
      case '{':
        if (pn.children.empty()) {
          return skip();  // an object is never a leaf
        }
        return depth > kMaxEventDepth ? too_deep() : walk_object(node, depth);
      case '[':
        return depth > kMaxEventDepth ? too_deep() : walk_array(node, depth);
      case '"': {
        if (pn.field == kNone) {
          return skip();
        }
        std::string_view text;
        if (!read_string(text, &s_.decoded)) {
          return false;
        }
        report(pn.field, ValueType::kString, text);
        return true;
      }
      case 't':
        return read_literal("true", pn.field, ValueType::kTrue);
      case 'f':
        return read_literal("false", pn.field, ValueType::kFalse);
      case 'n':
        return read_literal("null", pn.field, ValueType::kNull);
      default:
        return read_number(pn.field);
    }
  }

  bool walk_array(uint32_t node, uint32_t depth) {
    if (open_is_empty(']')) {
      return true;
    }
    ++open_arrays_;
    const uint32_t array = next_array_++;
    const uint32_t outer = element_;
    const uint32_t arrays_around = outer == kNone ? 1 : s_.elements[outer].depth + 1;
    bool more = true;
    for (uint32_t index = 0; more; ++index) {
      if (p_ == end_) {
        return fail("unexpected end");
      }
      element_ = static_cast<uint32_t>(s_.elements.size());
      s_.elements.push_back(ArrayElement{ArrayPos{array, index}, outer, arrays_around});
      if (!walk_value(node, depth + 1) || !next_item(']', &more)) {
        return false;
      }
    }
    element_ = outer;
    --open_arrays_;
    return true;
  }

  bool read_literal(std::string_view word, uint32_t field, ValueType type) {
    if (static_cast<size_t>(end_ - p_) < word.size() ||
        std::memcmp(p_, word.data(), word.size()) != 0) {
      return fail("invalid literal");
    }
    p_ += word.size();
    if (field != kNone) {
      report(field, type, {});
    }
    return true;
  }

  bool read_number(uint32_t field) {
    const char* start = p_;
    NumberToken token;
    const char* after = scan_number(p_, end_, field == kNone ? nullptr : &token);
    if (after == nullptr) {
      return fail(p_ < end_ && (*p_ == '-' || (*p_ >= '0' && *p_ <= '9')) ? "invalid number"
                                                                          : "unexpected character");
    }
    p_ = after;
    if (field == kNone) {
      return true;
    }
    std::string_view raw(start, static_cast<size_t>(after - start));
    double d = token.value;
    // from_chars fails only out of double range (1e309) or on underflow (1e-400): such numbers
    // match by their literal text only.
    const bool ok =
        token.exact || std::from_chars(raw.data(), raw.data() + raw.size(), d).ec == std::errc();
    report(field, ValueType::kNumber, raw, ok ? d : 0, ok);
    return true;
  }

  void report(uint32_t field, ValueType type, std::string_view text, double number = 0,
              bool number_ok = false) {
    sink_.on_value(WalkedValue{field, type, number_ok, text, number, element_});
  }

  const PathIndex& index_;
  WalkScratch& s_;
  ValueSink& sink_;
  const char* begin_ = nullptr;
  const char* end_ = nullptr;
  const char* p_ = nullptr;
  uint32_t open_arrays_ = 0;
  uint32_t next_array_ = 0;
  uint32_t element_ = kNone;  // the innermost array element open
  bool stopped_ = false;
  Status failure_;
};

}  // namespace

Status walk_event(std::string_view event_json, const PathIndex& index, WalkScratch& scratch,
                  ValueSink& sink) {
  return EventWalk(index, scratch, sink).walk(event_json);
}

}  // namespace hikyaku::pattern::internal
