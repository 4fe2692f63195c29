#include "pattern/internal/values.h"

#include <algorithm>
#include <charconv>
#include <clocale>  // newlocale (POSIX)
#include <cstring>
#include <cwctype>  // towlower_l (POSIX)
#include <system_error>

#include "core/hex.h"
#include "pattern/internal/event_scan.h"

namespace hikyaku::pattern::internal {
namespace {

// A decimal value as (negative, significant digits without leading/trailing zeros, exponent)
// with value = 0.DIGITS x 10^exp. Zero has no digits. Fixed-size: no allocation on the hot path;
// more than kMaxDigits significant digits can never round-trip through a double.
struct Decimal {
  static constexpr int kMaxDigits = 24;
  bool negative = false;
  bool too_long = false;
  int n = 0;
  char digits[kMaxDigits];
  int64_t exp = 0;
  bool operator==(const Decimal& o) const {
    if (too_long || o.too_long) {
      return false;
    }
    if (n == 0 && o.n == 0) {
      return true;  // 0 == -0
    }
    return negative == o.negative && n == o.n && exp == o.exp &&
           std::memcmp(digits, o.digits, static_cast<size_t>(n)) == 0;
  }
};

void to_decimal(std::string_view t, Decimal& d) {
  size_t i = 0;
  if (i < t.size() && t[i] == '-') {
    d.negative = true;
    ++i;
  }
  int64_t int_digits = 0;
  int64_t lead = 0;
  int64_t pending_zeros = 0;
  bool in_fraction = false;
  for (; i < t.size(); ++i) {
    char c = t[i];
    if (c == '.') {
      in_fraction = true;
      continue;
    }
    if (c == 'e' || c == 'E') {
      break;
    }
    if (!in_fraction) {
      ++int_digits;
    }
    if (c == '0') {
      if (d.n == 0) {
        ++lead;
      } else {
        ++pending_zeros;
      }
      continue;
    }
    for (; pending_zeros > 0; --pending_zeros) {
      if (d.n < Decimal::kMaxDigits) {
        d.digits[d.n++] = '0';
      } else {
        d.too_long = true;
      }
    }
    if (d.n < Decimal::kMaxDigits) {
      d.digits[d.n++] = c;
    } else {
      d.too_long = true;
    }
  }
  int64_t e = 0;
  if (i < t.size()) {
    ++i;
    bool neg = false;
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) {
      neg = t[i] == '-';
      ++i;
    }
    for (; i < t.size(); ++i) {
      if (e < 1'000'000'000) {
        e = e * 10 + (t[i] - '0');
      }
    }
    if (neg) {
      e = -e;
    }
  }
  d.exp = d.n == 0 ? 0 : int_digits - lead + e;
}

}  // namespace

bool is_comparable(std::string_view text, double v) {
  // Java's Double.toString: the shortest digits that round-trip, but at least two significant
  // digits (d.dE..), the second chosen as the closest; so 4.9E-324 rather than 5E-324. Only
  // subnormal numbers make that second digit differ from 0.
  const double mag = v < 0 ? -v : v;
  const bool normal = mag == 0 || mag >= 2.2250738585072014e-308;
  char buf[64];
  if (normal) {
    // At most 15 significant digits (surely so in at most 15 characters) always round-trip
    // (DBL_DIG).
    if (text.size() <= 15) {
      return true;
    }
    // Most producers (JavaScript, Python, Go, Java) write exactly the shortest form: when the
    // text is byte for byte what to_chars writes, the digits are the same.
    auto r = std::to_chars(buf, buf + sizeof(buf), v);
    if (std::string_view(buf, static_cast<size_t>(r.ptr - buf)) == text) {
      return true;
    }
  }
  Decimal want;
  to_decimal(text, want);
  if (want.too_long) {
    return false;
  }
  if (want.n <= 15 && normal) {
    return true;
  }
  auto r = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
  Decimal java;
  to_decimal(std::string_view(buf, static_cast<size_t>(r.ptr - buf)), java);
  if (java.n == 1) {
    r = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific, 1);
    java = Decimal();
    to_decimal(std::string_view(buf, static_cast<size_t>(r.ptr - buf)), java);
  }
  return java == want;
}

NumberInfo analyze_number(std::string_view text) {
  NumberInfo info;
  double v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size()) {
    return info;  // out of range (1e309, 1e-400) or not a number
  }
  if (is_comparable(text, v)) {
    info.comparable = true;
    info.value = v == 0 ? 0.0 : v;
  }
  return info;
}

void append_number_key(std::string& out, std::string_view text, const NumberInfo& info) {
  if (info.comparable) {
    out.push_back('n');
    char bytes[sizeof(double)];
    std::memcpy(bytes, &info.value, sizeof(double));
    out.append(bytes, sizeof(double));
  } else {
    out.push_back('l');
    out.append(text);
  }
}

// ---- IP ----

namespace {

std::optional<IpAddress> parse_ipv4(std::string_view t) {
  IpAddress ip;
  ip.family = 4;
  size_t part = 0;
  size_t i = 0;
  while (part < 4) {
    size_t start = i;
    uint32_t value = 0;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9') {
      value = value * 10 + static_cast<uint32_t>(t[i] - '0');
      if (value > 255) {
        return std::nullopt;
      }
      ++i;
    }
    if (i == start) {
      return std::nullopt;
    }
    ip.bytes[part++] = static_cast<uint8_t>(value);
    if (part < 4) {
      if (i >= t.size() || t[i] != '.') {
        return std::nullopt;
      }
      ++i;
    }
  }
  if (i != t.size()) {
    return std::nullopt;
  }
  return ip;
}

std::optional<IpAddress> parse_ipv6(std::string_view t) {
  if (t.size() < 2 || t.size() > 39) {
    return std::nullopt;
  }
  uint16_t groups[8];
  int n = 0;
  int gap = -1;  // index in groups where "::" sits
  size_t i = 0;
  if (t.substr(0, 2) == "::") {
    gap = 0;
    i = 2;
    if (i == t.size()) {
      IpAddress ip;
      ip.family = 6;
      return ip;
    }
  } else if (t[0] == ':') {
    return std::nullopt;
  }
  while (i < t.size()) {
    if (n >= 8) {
      return std::nullopt;
    }
    uint32_t value = 0;
    size_t start = i;
    while (i < t.size() && hex_digit_value(t[i]) >= 0) {
      if (i - start >= 4) {
        return std::nullopt;
      }
      value = value * 16 + static_cast<uint32_t>(hex_digit_value(t[i]));
      ++i;
    }
    if (i == start) {
      return std::nullopt;
    }
    groups[n++] = static_cast<uint16_t>(value);
    if (i == t.size()) {
      break;
    }
    if (t[i] != ':') {
      return std::nullopt;  // '.', '%', anything else
    }
    ++i;
    if (i < t.size() && t[i] == ':') {
      if (gap >= 0) {
        return std::nullopt;
      }
      gap = n;
      ++i;
      if (i == t.size()) {
        break;
      }
    } else if (i == t.size()) {
      return std::nullopt;  // trailing single ':'
    }
  }
  if (gap < 0 && n != 8) {
    return std::nullopt;
  }
  if (gap >= 0 && n > 7) {
    return std::nullopt;
  }
  IpAddress ip;
  ip.family = 6;
  uint16_t full[8] = {};
  if (gap < 0) {
    std::memcpy(full, groups, sizeof(full));
  } else {
    int tail = n - gap;
    for (int k = 0; k < gap; ++k) {
      full[k] = groups[k];
    }
    for (int k = 0; k < tail; ++k) {
      full[8 - tail + k] = groups[gap + k];
    }
  }
  for (size_t k = 0; k < 8; ++k) {
    ip.bytes[2 * k] = static_cast<uint8_t>(full[k] >> 8);
    ip.bytes[2 * k + 1] = static_cast<uint8_t>(full[k] & 0xFF);
  }
  return ip;
}

}  // namespace

std::optional<IpAddress> parse_ip(std::string_view text) {
  if (text.empty()) {
    return std::nullopt;
  }
  if (text.find(':') != std::string_view::npos) {
    return parse_ipv6(text);
  }
  if (text[0] >= '0' && text[0] <= '9') {
    return parse_ipv4(text);
  }
  return std::nullopt;
}

void append_ip_key(std::string& out, const IpAddress& ip) {
  out.push_back('I');
  out.push_back(static_cast<char>(ip.family));
  size_t n = ip.family == 4 ? 4 : 16;
  for (size_t k = 0; k < n; ++k) {
    out.push_back(static_cast<char>(ip.bytes[k]));
  }
}

bool CidrRange::contains(const IpAddress& ip) const {
  if (ip.family != family) {
    return false;
  }
  size_t n = family == 4 ? 4 : 16;
  for (size_t k = 0; k < n; ++k) {
    if (ip.bytes[k] < lo[k] || ip.bytes[k] > hi[k]) {
      // Byte-wise range on a prefix mask: lo/hi differ only in the trailing masked bits, so a
      // per-byte bound check is exact.
      return false;
    }
  }
  return true;
}

std::optional<CidrRange> parse_cidr(std::string_view text, std::string& error) {
  size_t slash = text.rfind('/');
  if (slash == std::string_view::npos) {
    error = "needs an address and a prefix length (\"10.0.0.0/24\")";
    return std::nullopt;
  }
  std::optional<IpAddress> ip = parse_ip(text.substr(0, slash));
  if (!ip) {
    // Built with append: g++ 12 -O3 warns falsely (-Wrestrict) on "lit" + std::string.
    error.assign(1, '"');
    error.append(text.substr(0, slash));
    error.append("\" is not an IPv4 or IPv6 address");
    return std::nullopt;
  }
  std::string_view bits_text = text.substr(slash + 1);
  if (bits_text.empty() || bits_text.size() > 3) {
    error = "prefix length must be a number";
    return std::nullopt;
  }
  unsigned bits = 0;
  for (char c : bits_text) {
    if (c < '0' || c > '9') {
      error = "prefix length must be a number";
      return std::nullopt;
    }
    bits = bits * 10 + static_cast<unsigned>(c - '0');
  }
  unsigned max_bits = ip->family == 4 ? 32 : 128;
  if (bits > max_bits) {
    error = "prefix length " + std::to_string(bits) + " exceeds " + std::to_string(max_bits);
    return std::nullopt;
  }
  CidrRange range;
  range.family = ip->family;
  size_t n = max_bits / 8;
  for (size_t k = 0; k < n; ++k) {
    unsigned byte_bits =
        bits >= 8 * (k + 1) ? 8 : (bits > 8 * k ? bits - 8 * static_cast<unsigned>(k) : 0);
    auto mask = static_cast<uint8_t>(byte_bits == 0 ? 0 : (0xFF << (8 - byte_bits)) & 0xFF);
    range.lo[k] = ip->bytes[k] & mask;
    range.hi[k] = static_cast<uint8_t>(range.lo[k] | static_cast<uint8_t>(~mask));
  }
  return range;
}

// ---- case ----

namespace {

locale_t utf8_locale() {
  static locale_t loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
  return loc;
}

// Decodes one code point of valid UTF-8 at `i`, advancing it.
uint32_t decode_utf8(std::string_view s, size_t& i) {
  auto c0 = static_cast<uint8_t>(s[i]);
  size_t len = c0 < 0x80 ? 1 : c0 < 0xE0 ? 2 : c0 < 0xF0 ? 3 : 4;
  if (i + len > s.size()) {
    ++i;
    return c0;
  }
  uint32_t cp = len == 1 ? c0 : len == 2 ? (c0 & 0x1Fu) : len == 3 ? (c0 & 0x0Fu) : (c0 & 0x07u);
  for (size_t k = 1; k < len; ++k) {
    cp = (cp << 6) | (static_cast<uint8_t>(s[i + k]) & 0x3Fu);
  }
  i += len;
  return cp;
}

// Java's String.toUpperCase expansions for single characters (the common ones).
const char* special_upper(uint32_t cp) {
  switch (cp) {
    case 0x00DF:
      return "SS";
    case 0x0149:
      return "\xCA\xBCN";
    case 0xFB00:
      return "FF";
    case 0xFB01:
      return "FI";
    case 0xFB02:
      return "FL";
    case 0xFB03:
      return "FFI";
    case 0xFB04:
      return "FFL";
    case 0xFB05:  // long s t
    case 0xFB06:  // s t
      return "ST";
    default:
      return nullptr;
  }
}

}  // namespace

CaseAlternatives case_alternatives(std::string_view pattern) {
  CaseAlternatives alts;
  locale_t loc = utf8_locale();
  size_t i = 0;
  while (i < pattern.size()) {
    size_t start = i;
    uint32_t cp = decode_utf8(pattern, i);
    std::vector<std::string> set;
    set.emplace_back(pattern.substr(start, i - start));
    auto add = [&set](std::string s) {
      for (const std::string& x : set) {
        if (x == s) {
          return;
        }
      }
      set.push_back(std::move(s));
    };
    uint32_t lower = cp;
    uint32_t upper = cp;
    if (cp < 0x80) {
      if (cp >= 'A' && cp <= 'Z') {
        lower = cp + 32;
      }
      if (cp >= 'a' && cp <= 'z') {
        upper = cp - 32;
      }
    } else if (loc != static_cast<locale_t>(nullptr)) {
      lower = static_cast<uint32_t>(towlower_l(static_cast<wint_t>(cp), loc));
      upper = static_cast<uint32_t>(towupper_l(static_cast<wint_t>(cp), loc));
    }
    std::string s;
    if (cp == 0x0130) {
      s = "i\xCC\x87";  // Java: "İ".toLowerCase(ROOT) == "i̇"
    } else {
      append_utf8(s, lower);
    }
    add(std::move(s));
    s.clear();
    if (const char* sp = special_upper(cp)) {
      s = sp;
    } else {
      append_utf8(s, upper);
    }
    add(std::move(s));
    alts.push_back(std::move(set));
  }
  return alts;
}

bool is_ascii(std::string_view text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      return false;
    }
  }
  return true;
}

void append_ascii_lower(std::string& out, std::string_view text) {
  for (char c : text) {
    out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c);
  }
}

namespace {

// When every spelling of each character has the same length (always so for ASCII), at most one
// position is reachable at each step: a plain comparison loop, no allocation.
bool uniform_lengths(const CaseAlternatives& alts) {
  for (const std::vector<std::string>& set : alts) {
    for (const std::string& a : set) {
      if (a.size() != set.front().size()) {
        return false;
      }
    }
  }
  return true;
}

bool uniform_match(const CaseAlternatives& alts, std::string_view value, CaseMode mode) {
  size_t consumed = 0;
  for (size_t k = 0; k < alts.size(); ++k) {
    const std::vector<std::string>& set =
        mode == CaseMode::kSuffix ? alts[alts.size() - 1 - k] : alts[k];
    const size_t len = set.front().size();
    if (value.size() - consumed < len) {
      return false;
    }
    const char* at = mode == CaseMode::kSuffix ? value.data() + value.size() - consumed - len
                                               : value.data() + consumed;
    bool any = false;
    for (const std::string& a : set) {
      if (std::memcmp(at, a.data(), len) == 0) {
        any = true;
        break;
      }
    }
    if (!any) {
      return false;
    }
    consumed += len;
  }
  return mode != CaseMode::kExact || consumed == value.size();
}

}  // namespace

bool case_insensitive_match(const CaseAlternatives& alts, std::string_view value, CaseMode mode) {
  if (uniform_lengths(alts)) {
    return uniform_match(alts, value, mode);
  }
  // Set of reachable byte positions (forward for exact/prefix, from the end for suffix).
  std::vector<size_t> cur{0};
  std::vector<size_t> next;
  // Positions count bytes consumed from the start, or from the end when `from_end`.
  const bool from_end = mode == CaseMode::kSuffix;
  auto step = [&](const std::vector<std::string>& set) {
    next.clear();
    for (size_t p : cur) {
      for (const std::string& a : set) {
        if (value.size() - p < a.size() ||
            value.compare(from_end ? value.size() - p - a.size() : p, a.size(), a) != 0) {
          continue;
        }
        const size_t q = p + a.size();
        if (std::find(next.begin(), next.end(), q) == next.end()) {
          next.push_back(q);
        }
      }
    }
    cur.swap(next);
  };
  if (mode == CaseMode::kSuffix) {
    for (size_t k = alts.size(); k > 0 && !cur.empty(); --k) {
      step(alts[k - 1]);
    }
    return !cur.empty();
  }
  for (size_t k = 0; k < alts.size() && !cur.empty(); ++k) {
    step(alts[k]);
  }
  if (mode == CaseMode::kPrefix) {
    return !cur.empty();
  }
  for (size_t p : cur) {
    if (p == value.size()) {
      return true;
    }
  }
  return false;
}

// ---- wildcard ----

std::optional<Wildcard> parse_wildcard(std::string_view text, std::string& error) {
  Wildcard w;
  std::string seg;
  bool prev_star = false;
  bool first = true;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\\') {
      if (i + 1 >= text.size() || (text[i + 1] != '*' && text[i + 1] != '\\')) {
        error =
            "invalid escape at position " + std::to_string(i) + R"( (only \* and \\ are allowed))";
        return std::nullopt;
      }
      seg.push_back(text[++i]);
      prev_star = false;
      first = false;
      continue;
    }
    if (c == '*') {
      if (prev_star) {
        error = "consecutive wildcard characters at position " + std::to_string(i);
        return std::nullopt;
      }
      if (first) {
        w.leading_star = true;
      } else {
        w.segments.push_back(std::move(seg));
        seg.clear();
      }
      ++w.star_count;
      prev_star = true;
      first = false;
      continue;
    }
    seg.push_back(c);
    prev_star = false;
    first = false;
  }
  w.trailing_star = prev_star;
  if (!prev_star) {
    w.segments.push_back(std::move(seg));
  }
  return w;
}

std::string_view Wildcard::literal_prefix() const {
  if (leading_star || segments.empty()) {
    return {};
  }
  return segments.front();
}

bool Wildcard::matches(std::string_view v) const {
  if (star_count == 0) {
    return !segments.empty() && v == segments.front();
  }
  // segments: [first-literal?] middles... [last-literal?]; with leading/trailing stars the
  // corresponding end literal is absent.
  size_t lo = 0;
  size_t hi = v.size();
  size_t first = 0;
  size_t last = segments.size();
  if (!leading_star) {
    const std::string& s = segments.front();
    if (v.size() < s.size() || v.compare(0, s.size(), s) != 0) {
      return false;
    }
    lo = s.size();
    first = 1;
  }
  if (!trailing_star) {
    const std::string& s = segments.back();
    if (last <= first) {
      return false;  // cannot happen for valid wildcards with a star
    }
    if (hi - lo < s.size() || v.compare(hi - s.size(), s.size(), s) != 0) {
      return false;
    }
    hi -= s.size();
    --last;
  }
  for (size_t k = first; k < last; ++k) {
    const std::string& s = segments[k];
    if (s.empty()) {
      continue;
    }
    size_t pos = v.substr(0, hi).find(s, lo);
    if (pos == std::string_view::npos) {
      return false;
    }
    lo = pos + s.size();
  }
  return lo <= hi;
}

}  // namespace hikyaku::pattern::internal
