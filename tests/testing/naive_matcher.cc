#include "testing/naive_matcher.h"

// Everything here is deliberately naive: trees, copies, std::function, backtracking. Each part
// cites the spec section (docs/event-patterns.md) it implements.

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace hikyaku::testing {
namespace {

// ---------------------------------------------------------------------------------------------
// Strict JSON into a tree. Our own parser (simdjson only validates UTF-8) because the matcher
// needs what a DOM throws away: the literal text of every number token (docs/event-patterns.md §2's
// literal fallback, and numbers such as 1e309 or 123456789012345678901234 that simdjson's DOM
// rejects), and duplicate object keys in order.

struct Json {
  enum class Kind { kNull, kFalse, kTrue, kNumber, kString, kArray, kObject };
  Kind kind = Kind::kNull;
  std::string text;                        // number token as written, or the string
  std::vector<Json> items;                 // array elements
  std::vector<struct JsonMember> members;  // object members, in order, duplicates kept
};

// A struct, not std::pair<std::string, Json>: a pair needs Json complete where Json declares it.
struct JsonMember {
  std::string first;  // the key
  Json second;
};

class JsonParser {
 public:
  JsonParser(std::string_view in, int max_depth) : in_(in), max_depth_(max_depth) {}

  Result<Json> parse_document() {
    if (!simdjson::validate_utf8(in_.data(), in_.size())) {
      return invalid_argument("not valid UTF-8");
    }
    Json value;
    HK_RETURN_IF_ERROR(parse_value(value, 0));
    skip_ws();
    if (pos_ != in_.size()) {
      return error("trailing content after the JSON value");
    }
    return value;
  }

 private:
  Status error(const std::string& what) const {
    return invalid_argument(what + " at offset " + std::to_string(pos_));
  }

  void skip_ws() {
    while (pos_ < in_.size() &&
           (in_[pos_] == ' ' || in_[pos_] == '\t' || in_[pos_] == '\n' || in_[pos_] == '\r')) {
      ++pos_;
    }
  }

  bool at(char c) const { return pos_ < in_.size() && in_[pos_] == c; }

  static bool is_digit(char c) { return c >= '0' && c <= '9'; }

  Status parse_value(Json& out, int depth) {
    skip_ws();
    if (pos_ >= in_.size()) {
      return error("unexpected end of input");
    }
    const char c = in_[pos_];
    if ((c == '{' || c == '[') && depth >= max_depth_) {
      return error("nesting deeper than " + std::to_string(max_depth_) + " levels");
    }
    switch (c) {
      case '{':
        return parse_object(out, depth + 1);
      case '[':
        return parse_array(out, depth + 1);
      case '"':
        out.kind = Json::Kind::kString;
        return parse_string(out.text);
      case 't':
        out.kind = Json::Kind::kTrue;
        return parse_literal("true");
      case 'f':
        out.kind = Json::Kind::kFalse;
        return parse_literal("false");
      case 'n':
        out.kind = Json::Kind::kNull;
        return parse_literal("null");
      default:
        if (c == '-' || is_digit(c)) {
          out.kind = Json::Kind::kNumber;
          return parse_number(out.text);
        }
        return error(std::string("unexpected character '") + c + "'");
    }
  }

  Status parse_literal(std::string_view word) {
    if (in_.substr(pos_, word.size()) != word) {
      return error("invalid literal");
    }
    pos_ += word.size();
    return ok_status();
  }

  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  Status parse_number(std::string& out) {
    const size_t start = pos_;
    if (at('-')) {
      ++pos_;
    }
    if (at('0')) {
      ++pos_;
    } else if (pos_ < in_.size() && is_digit(in_[pos_])) {
      while (pos_ < in_.size() && is_digit(in_[pos_])) {
        ++pos_;
      }
    } else {
      return error("invalid number");
    }
    if (at('.')) {
      ++pos_;
      if (pos_ >= in_.size() || !is_digit(in_[pos_])) {
        return error("invalid number");
      }
      while (pos_ < in_.size() && is_digit(in_[pos_])) {
        ++pos_;
      }
    }
    if (at('e') || at('E')) {
      ++pos_;
      if (at('+') || at('-')) {
        ++pos_;
      }
      if (pos_ >= in_.size() || !is_digit(in_[pos_])) {
        return error("invalid number");
      }
      while (pos_ < in_.size() && is_digit(in_[pos_])) {
        ++pos_;
      }
    }
    out.assign(in_.substr(start, pos_ - start));
    return ok_status();
  }

  Status read_hex4(uint32_t& out) {
    if (pos_ + 4 > in_.size()) {
      return error("truncated \\u escape");
    }
    out = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = in_[pos_++];
      out <<= 4;
      if (h >= '0' && h <= '9') {
        out |= static_cast<uint32_t>(h - '0');
      } else if (h >= 'a' && h <= 'f') {
        out |= static_cast<uint32_t>(h - 'a' + 10);
      } else if (h >= 'A' && h <= 'F') {
        out |= static_cast<uint32_t>(h - 'A' + 10);
      } else {
        return error("invalid \\u escape");
      }
    }
    return ok_status();
  }

  static void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  Status parse_string(std::string& out) {
    ++pos_;  // opening quote
    out.clear();
    while (true) {
      if (pos_ >= in_.size()) {
        return error("unterminated string");
      }
      const char c = in_[pos_];
      if (c == '"') {
        ++pos_;
        return ok_status();
      }
      if (static_cast<unsigned char>(c) < 0x20) {
        return error("control character in string");
      }
      if (c != '\\') {
        out += c;
        ++pos_;
        continue;
      }
      ++pos_;
      if (pos_ >= in_.size()) {
        return error("unterminated string");
      }
      const char e = in_[pos_++];
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          uint32_t cp = 0;
          HK_RETURN_IF_ERROR(read_hex4(cp));
          if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return error("lone low surrogate in \\u escape");
          }
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (in_.substr(pos_, 2) != "\\u") {
              return error("lone high surrogate in \\u escape");
            }
            pos_ += 2;
            uint32_t low = 0;
            HK_RETURN_IF_ERROR(read_hex4(low));
            if (low < 0xDC00 || low > 0xDFFF) {
              return error("high surrogate not followed by a low surrogate");
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          append_utf8(out, cp);
          break;
        }
        default:
          return error("invalid escape");
      }
    }
  }

  Status parse_array(Json& out, int depth) {
    out.kind = Json::Kind::kArray;
    ++pos_;
    skip_ws();
    if (at(']')) {
      ++pos_;
      return ok_status();
    }
    while (true) {
      Json item;
      HK_RETURN_IF_ERROR(parse_value(item, depth));
      out.items.push_back(std::move(item));
      skip_ws();
      if (at(',')) {
        ++pos_;
        continue;
      }
      if (at(']')) {
        ++pos_;
        return ok_status();
      }
      return error("expected ',' or ']'");
    }
  }

  Status parse_object(Json& out, int depth) {
    out.kind = Json::Kind::kObject;
    ++pos_;
    skip_ws();
    if (at('}')) {
      ++pos_;
      return ok_status();
    }
    while (true) {
      skip_ws();
      if (!at('"')) {
        return error("expected a string key");
      }
      std::string key;
      HK_RETURN_IF_ERROR(parse_string(key));
      skip_ws();
      if (!at(':')) {
        return error("expected ':'");
      }
      ++pos_;
      Json value;
      HK_RETURN_IF_ERROR(parse_value(value, depth));
      out.members.push_back(JsonMember{std::move(key), std::move(value)});
      skip_ws();
      if (at(',')) {
        ++pos_;
        continue;
      }
      if (at('}')) {
        ++pos_;
        return ok_status();
      }
      return error("expected ',' or '}'");
    }
  }

  std::string_view in_;
  int max_depth_;
  size_t pos_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Numbers (docs/event-patterns.md §2). A number keeps its token text; it also has a value when it
// is "comparable": its decimal value equals the decimal value of Java's Double.toString(double).

// Canonical form of a decimal text's exact value: "[-]DIGITS e EXP" with no leading or trailing
// zeros in DIGITS, or "0". Accepts JSON numbers and std::to_chars output ("1e+22").
std::string decimal_key(std::string_view text) {
  size_t i = 0;
  bool negative = false;
  if (i < text.size() && text[i] == '-') {
    negative = true;
    ++i;
  }
  std::string digits;
  int64_t int_digits = 0;  // digits before the decimal point
  bool after_point = false;
  for (; i < text.size() && text[i] != 'e' && text[i] != 'E'; ++i) {
    if (text[i] == '.') {
      after_point = true;
      continue;
    }
    digits += text[i];
    if (!after_point) {
      ++int_digits;
    }
  }
  int64_t exponent = 0;
  if (i < text.size()) {
    ++i;
    bool exp_negative = false;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
      exp_negative = text[i] == '-';
      ++i;
    }
    for (; i < text.size(); ++i) {
      exponent = std::min<int64_t>(exponent * 10 + (text[i] - '0'), 1'000'000'000);
    }
    if (exp_negative) {
      exponent = -exponent;
    }
  }
  // value = 0.DIGITS * 10^(int_digits + exponent)
  int64_t scale = int_digits + exponent;
  size_t lead = 0;
  while (lead < digits.size() && digits[lead] == '0') {
    ++lead;
  }
  digits.erase(0, lead);
  scale -= static_cast<int64_t>(lead);
  while (!digits.empty() && digits.back() == '0') {
    digits.pop_back();
  }
  if (digits.empty()) {
    return "0";
  }
  return (negative ? "-" : "") + digits + "e" + std::to_string(scale);
}

// The double a JSON number token denotes, when it is comparable (see above).
std::optional<double> comparable_value(std::string_view text) {
  double d = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, d);
  if (ec != std::errc() || ptr != end || !std::isfinite(d)) {
    return std::nullopt;
  }
  // Java prints at least two significant digits in scientific notation, choosing the two-digit
  // value nearest the double: Double.toString(4.9e-324) is "4.9E-324", so "5e-324" is not
  // comparable although it is the shortest round-trip text.
  std::array<char, 64> buf{};
  auto shortest = std::to_chars(buf.data(), buf.data() + buf.size(), d);
  std::string java(buf.data(), shortest.ptr);
  const std::string key = decimal_key(java);
  const size_t significant = key == "0" ? 1 : key.find('e') - (key[0] == '-' ? 1 : 0);
  if (significant == 1) {
    auto two =
        std::to_chars(buf.data(), buf.data() + buf.size(), d, std::chars_format::scientific, 1);
    java.assign(buf.data(), two.ptr);
  }
  if (decimal_key(text) != decimal_key(java)) {
    return std::nullopt;
  }
  return d;
}

struct Number {
  std::string text;
  std::optional<double> value;
};

Number make_number(const std::string& text) { return Number{text, comparable_value(text)}; }

// By value when both are comparable; otherwise by literal text (docs/event-patterns.md §2).
bool number_equal(const Number& a, const Number& b) {
  if (a.text == b.text) {
    return true;
  }
  return a.value && b.value && *a.value == *b.value;
}

// ---------------------------------------------------------------------------------------------
// IP addresses (docs/event-patterns.md §8, with hikyaku's family-strict rule from §13).

struct IpAddress {
  int family = 4;                   // 4 or 6
  std::array<uint8_t, 16> bytes{};  // IPv4 uses the first 4
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

// Java's lenient dotted quad: four decimal parts, any number of leading zeros, each <= 255.
std::optional<IpAddress> parse_ipv4(std::string_view s) {
  IpAddress ip;
  ip.family = 4;
  int part = 0;
  size_t i = 0;
  while (true) {
    if (i >= s.size() || s[i] < '0' || s[i] > '9') {
      return std::nullopt;
    }
    int value = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      value = value * 10 + (s[i] - '0');
      if (value > 255) {
        return std::nullopt;
      }
      ++i;
    }
    ip.bytes[static_cast<size_t>(part)] = static_cast<uint8_t>(value);
    ++part;
    if (part == 4) {
      return i == s.size() ? std::optional<IpAddress>(ip) : std::nullopt;
    }
    if (i >= s.size() || s[i] != '.') {
      return std::nullopt;
    }
    ++i;
  }
}

// Colon-separated groups of 1-4 hex digits; nullopt on any malformed group. "" gives no groups.
std::optional<std::vector<uint16_t>> parse_hex_groups(std::string_view s) {
  std::vector<uint16_t> groups;
  if (s.empty()) {
    return groups;
  }
  size_t start = 0;
  while (true) {
    const size_t colon = s.find(':', start);
    const std::string_view g =
        s.substr(start, colon == std::string_view::npos ? s.npos : colon - start);
    if (g.empty() || g.size() > 4) {
      return std::nullopt;
    }
    uint16_t value = 0;
    for (char c : g) {
      int digit = 0;
      if (c >= '0' && c <= '9') {
        digit = c - '0';
      } else if (c >= 'a' && c <= 'f') {
        digit = c - 'a' + 10;
      } else if (c >= 'A' && c <= 'F') {
        digit = c - 'A' + 10;
      } else {
        return std::nullopt;
      }
      value = static_cast<uint16_t>(value * 16 + digit);
    }
    groups.push_back(value);
    if (colon == std::string_view::npos) {
      return groups;
    }
    start = colon + 1;
  }
}

// Eight hex groups, or fewer with one "::". No embedded dotted IPv4, no zone id.
std::optional<IpAddress> parse_ipv6(std::string_view s) {
  IpAddress ip;
  ip.family = 6;
  const size_t gap = s.find("::");
  std::vector<uint16_t> groups;
  if (gap == std::string_view::npos) {
    auto all = parse_hex_groups(s);
    if (!all || all->size() != 8) {
      return std::nullopt;
    }
    groups = *all;
  } else {
    auto left = parse_hex_groups(s.substr(0, gap));
    auto right = parse_hex_groups(s.substr(gap + 2));
    if (!left || !right || left->size() + right->size() > 7) {
      return std::nullopt;
    }
    groups = *left;
    groups.resize(8 - right->size(), 0);
    groups.insert(groups.end(), right->begin(), right->end());
  }
  for (size_t i = 0; i < 8; ++i) {
    ip.bytes[2 * i] = static_cast<uint8_t>(groups[i] >> 8);
    ip.bytes[2 * i + 1] = static_cast<uint8_t>(groups[i] & 0xFF);
  }
  return ip;
}

std::optional<IpAddress> parse_ip(std::string_view s) {
  if (auto v4 = parse_ipv4(s)) {
    return v4;
  }
  return parse_ipv6(s);
}

struct Cidr {
  IpAddress network;
  int bits = 0;
};

// "address/bits"; hikyaku accepts /32 and /128 (docs/event-patterns.md §13), event-ruler does not.
std::optional<Cidr> parse_cidr(std::string_view s) {
  const size_t slash = s.find('/');
  if (slash == std::string_view::npos || s.find('/', slash + 1) != std::string_view::npos) {
    return std::nullopt;
  }
  auto ip = parse_ip(s.substr(0, slash));
  const std::string_view bits_text = s.substr(slash + 1);
  if (!ip || bits_text.empty() || bits_text.size() > 3) {
    return std::nullopt;
  }
  int bits = 0;
  for (char c : bits_text) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    bits = bits * 10 + (c - '0');
  }
  if (bits > (ip->family == 4 ? 32 : 128)) {
    return std::nullopt;
  }
  return Cidr{*ip, bits};
}

bool cidr_contains(const Cidr& cidr, const IpAddress& ip) {
  if (ip.family != cidr.network.family) {
    return false;
  }
  for (int bit = 0; bit < cidr.bits; ++bit) {
    const auto byte = static_cast<size_t>(bit / 8);
    const int mask = 0x80 >> (bit % 8);
    if ((ip.bytes[byte] & mask) != (cidr.network.bytes[byte] & mask)) {
      return false;
    }
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// wildcard (docs/event-patterns.md §4): '*' is any run of bytes, "\*" a literal '*', "\\" a literal
// '\'.

struct WildcardItem {
  bool star = false;
  char byte = 0;
};
using Wildcard = std::vector<WildcardItem>;

Result<Wildcard> parse_wildcard(std::string_view s) {
  Wildcard out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\') {
      if (i + 1 >= s.size() || (s[i + 1] != '*' && s[i + 1] != '\\')) {
        return invalid_argument("invalid escape in wildcard at position " + std::to_string(i) +
                                R"( (only \* and \\ are allowed))");
      }
      out.push_back({false, s[i + 1]});
      ++i;
    } else if (s[i] == '*') {
      if (!out.empty() && out.back().star) {
        return invalid_argument("consecutive wildcard characters at position " + std::to_string(i));
      }
      out.push_back({true, 0});
    } else {
      out.push_back({false, s[i]});
    }
  }
  return out;
}

bool wildcard_matches(const Wildcard& w, std::string_view s) {
  // reach[j]: the first j bytes of s can be matched by the items consumed so far.
  std::vector<bool> reach(s.size() + 1, false);
  reach[0] = true;
  for (const WildcardItem& item : w) {
    std::vector<bool> next(s.size() + 1, false);
    for (size_t j = 0; j <= s.size(); ++j) {
      if (!reach[j]) {
        continue;
      }
      if (item.star) {
        for (size_t k = j; k <= s.size(); ++k) {
          next[k] = true;
        }
        break;
      }
      if (j < s.size() && s[j] == item.byte) {
        next[j + 1] = true;
      }
    }
    reach = std::move(next);
  }
  return reach[s.size()];
}

// ---------------------------------------------------------------------------------------------
// equals-ignore-case (docs/event-patterns.md §4 and §13).

struct CaseRow {
  uint32_t cp;
  const char* lower;
  const char* upper;
};
constexpr CaseRow kCaseTable[] = {
#include "testing/naive_case_table.inc"
};

// Decodes one code point of valid UTF-8 starting at s[i]; advances i.
uint32_t next_code_point(std::string_view s, size_t& i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  int len = 1;
  uint32_t cp = b0;
  if (b0 >= 0xF0) {
    len = 4;
    cp = b0 & 0x07;
  } else if (b0 >= 0xE0) {
    len = 3;
    cp = b0 & 0x0F;
  } else if (b0 >= 0xC0) {
    len = 2;
    cp = b0 & 0x1F;
  }
  for (int k = 1; k < len; ++k) {
    cp = (cp << 6) | (static_cast<unsigned char>(s[i + static_cast<size_t>(k)]) & 0x3F);
  }
  i += static_cast<size_t>(len);
  return cp;
}

// For each pattern character, the byte strings the event may have in its place:
// {itself, lower-case, upper-case}. Non-BMP characters: only themselves (hikyaku's rule).
std::vector<std::vector<std::string>> case_units(std::string_view pattern) {
  std::vector<std::vector<std::string>> units;
  for (size_t i = 0; i < pattern.size();) {
    const size_t start = i;
    const uint32_t cp = next_code_point(pattern, i);
    std::vector<std::string> alts{std::string(pattern.substr(start, i - start))};
    const auto* row = std::lower_bound(std::begin(kCaseTable), std::end(kCaseTable), cp,
                                       [](const CaseRow& r, uint32_t c) { return r.cp < c; });
    if (row != std::end(kCaseTable) && row->cp == cp) {
      for (const char* variant : {row->lower, row->upper}) {
        if (std::find(alts.begin(), alts.end(), variant) == alts.end()) {
          alts.emplace_back(variant);
        }
      }
    }
    units.push_back(std::move(alts));
  }
  return units;
}

// Positions of s reachable after matching all units starting at `start`.
std::vector<bool> case_reach(const std::vector<std::vector<std::string>>& units, std::string_view s,
                             size_t start) {
  std::vector<bool> reach(s.size() + 1, false);
  reach[start] = true;
  for (const auto& alts : units) {
    std::vector<bool> next(s.size() + 1, false);
    for (size_t j = 0; j <= s.size(); ++j) {
      if (!reach[j]) {
        continue;
      }
      for (const std::string& alt : alts) {
        if (s.substr(j).starts_with(alt)) {
          next[j + alt.size()] = true;
        }
      }
    }
    reach = std::move(next);
  }
  return reach;
}

enum class CaseMode { kEquals, kPrefix, kSuffix };

bool case_matches(const std::vector<std::vector<std::string>>& units, std::string_view s,
                  CaseMode mode) {
  if (mode == CaseMode::kSuffix) {
    for (size_t start = 0; start <= s.size(); ++start) {
      if (case_reach(units, s, start)[s.size()]) {
        return true;
      }
    }
    return false;
  }
  const std::vector<bool> reach = case_reach(units, s, 0);
  if (mode == CaseMode::kEquals) {
    return reach[s.size()];
  }
  return std::find(reach.begin(), reach.end(), true) != reach.end();
}

// ---------------------------------------------------------------------------------------------
// Patterns (docs/event-patterns.md §1, §4-§11).

// One element of a leaf array. `test` says whether one event leaf value satisfies it;
// exists:false has no test (it is about absence, see match_sub_rule).
struct Matcher {
  bool exists_false = false;
  std::function<bool(const Json&)> test;
};

struct Field {
  std::string path;
  std::vector<Matcher> leaf;  // OR-ed
};
using SubRule = std::vector<Field>;  // AND-ed; paths unique

std::string join_path(const std::string* prefix, const std::string& key) {
  return prefix == nullptr ? key : *prefix + "." + key;
}

bool is_string(const Json& v) { return v.kind == Json::Kind::kString; }

// This list, join_path and the last-writer-wins set_field below repeat
// src/pattern/internal/parse.cc on purpose: the oracle is written again from the spec so that a
// mistake in the engine's parser cannot hide by being shared with the code that checks it.
bool is_reserved_in_or(const std::string& key) {
  static constexpr const char* kReserved[] = {"exactly",
                                              "equals-ignore-case",
                                              "prefix",
                                              "suffix",
                                              "anything-but",
                                              "exists",
                                              "wildcard",
                                              "numeric",
                                              "cidr",
                                              "=",
                                              "<",
                                              "<=",
                                              ">",
                                              ">=",
                                              "regex",
                                              "not-wildcard",
                                              "not-equals-ignore-case"};
  for (const char* r : kReserved) {
    if (key == r) {
      return true;
    }
  }
  return key.starts_with("date-") || key.starts_with("ip-address-");
}

// True when some object element of a "$or" array has a match type as a key: EventBridge then
// reads the whole "$or" as a field of that name (docs/event-patterns.md §9).
bool or_uses_operator_keys(const Json& value) {
  if (value.kind != Json::Kind::kArray) {
    return false;
  }
  for (const Json& branch : value.items) {
    if (branch.kind != Json::Kind::kObject) {
      continue;
    }
    for (const auto& member : branch.members) {
      if (is_reserved_in_or(member.first)) {
        return true;
      }
    }
  }
  return false;
}

class PatternCompiler {
 public:
  Result<std::vector<SubRule>> compile(const Json& root) {
    if (root.kind != Json::Kind::kObject) {
      return invalid_argument("a pattern must be a JSON object");
    }
    std::vector<SubRule> rules(1);
    HK_RETURN_IF_ERROR(add_object(root, nullptr, rules));
    for (const SubRule& rule : rules) {
      if (rule.size() > static_cast<size_t>(kNaiveMaxFieldsPerSubRule)) {
        return invalid_argument("a sub-rule has " + std::to_string(rule.size()) +
                                " fields (after $or expansion); at most " +
                                std::to_string(kNaiveMaxFieldsPerSubRule) + " are allowed");
      }
    }
    return rules;
  }

 private:
  static void set_field(SubRule& rule, const std::string& path, const std::vector<Matcher>& leaf) {
    for (Field& f : rule) {
      if (f.path == path) {
        f.leaf = leaf;  // the last writer wins (docs/event-patterns.md §1 and §9)
        return;
      }
    }
    rule.push_back(Field{path, leaf});
  }

  Status add_object(const Json& obj, const std::string* prefix, std::vector<SubRule>& rules) {
    const std::string where = prefix == nullptr ? "(top level)" : *prefix;
    if (obj.members.empty()) {
      return invalid_argument(where + ": empty objects are not allowed");
    }
    for (const auto& [key, value] : obj.members) {
      const std::string path = join_path(prefix, key);
      if (key == "$or" && or_uses_operator_keys(value)) {
        // EventBridge's fallback: a field literally named "$or" whose matchers are the elements.
        Result<std::vector<Matcher>> leaf = compile_leaf(value, path);
        if (!leaf.has_value()) {
          return add_or(value, prefix, path, rules);  // the $or error stands
        }
        for (SubRule& rule : rules) {
          set_field(rule, path, *leaf);
        }
      } else if (key == "$or") {
        HK_RETURN_IF_ERROR(add_or(value, prefix, path, rules));
      } else if (value.kind == Json::Kind::kObject) {
        HK_RETURN_IF_ERROR(add_object(value, &path, rules));
      } else if (value.kind == Json::Kind::kArray) {
        HK_ASSIGN_OR_RETURN(std::vector<Matcher> leaf, compile_leaf(value, path));
        for (SubRule& rule : rules) {
          set_field(rule, path, leaf);
        }
      } else {
        return invalid_argument(path + ": must be an object or an array");
      }
    }
    return ok_status();
  }

  Status add_or(const Json& value, const std::string* prefix, const std::string& path,
                std::vector<SubRule>& rules) {
    if (value.kind != Json::Kind::kArray || value.items.size() < 2) {
      return invalid_argument(path + ": \"$or\" must be an array of at least two objects");
    }
    for (const Json& branch : value.items) {
      if (branch.kind != Json::Kind::kObject) {
        return invalid_argument(path + ": every element of \"$or\" must be an object");
      }
      for (const auto& member : branch.members) {
        if (is_reserved_in_or(member.first)) {
          return invalid_argument(path + ": \"" + member.first +
                                  R"(" is a match type and cannot be a field of an "$or" branch)");
        }
      }
    }
    if (rules.size() * value.items.size() > static_cast<size_t>(kNaiveMaxSubRules)) {
      return invalid_argument(path + ": \"$or\" expands to more than " +
                              std::to_string(kNaiveMaxSubRules) + " sub-rules");
    }
    std::vector<SubRule> expanded;
    for (const Json& branch : value.items) {
      std::vector<SubRule> copy = rules;
      HK_RETURN_IF_ERROR(add_object(branch, prefix, copy));
      if (expanded.size() + copy.size() > static_cast<size_t>(kNaiveMaxSubRules)) {
        return invalid_argument(path + ": \"$or\" expands to more than " +
                                std::to_string(kNaiveMaxSubRules) + " sub-rules");
      }
      expanded.insert(expanded.end(), copy.begin(), copy.end());
    }
    rules = std::move(expanded);
    return ok_status();
  }

  Result<std::vector<Matcher>> compile_leaf(const Json& array, const std::string& path) {
    if (array.items.empty()) {
      return invalid_argument(path + ": empty arrays are not allowed");
    }
    std::vector<Matcher> leaf;
    for (size_t i = 0; i < array.items.size(); ++i) {
      const std::string where = path + "[" + std::to_string(i) + "]";
      HK_ASSIGN_OR_RETURN(Matcher m, compile_matcher(array.items[i], where));
      leaf.push_back(std::move(m));
    }
    return leaf;
  }

  static Matcher make(std::function<bool(const Json&)> test) {
    return Matcher{false, std::move(test)};
  }

  static Result<Matcher> compile_matcher(const Json& v, const std::string& where) {
    switch (v.kind) {
      case Json::Kind::kString: {
        // An exact string that is an IP literal also matches other spellings of that address
        // (docs/event-patterns.md §8), within its family only (§13).
        const std::optional<IpAddress> ip = parse_ip(v.text);
        return make([s = v.text, ip](const Json& e) {
          if (!is_string(e)) {
            return false;
          }
          if (e.text == s) {
            return true;
          }
          return ip.has_value() && parse_ip(e.text) == ip;
        });
      }
      case Json::Kind::kNumber:
        return make([n = make_number(v.text)](const Json& e) {
          return e.kind == Json::Kind::kNumber && number_equal(n, make_number(e.text));
        });
      case Json::Kind::kTrue:
      case Json::Kind::kFalse:
      case Json::Kind::kNull:
        return make([kind = v.kind](const Json& e) { return e.kind == kind; });
      case Json::Kind::kArray:
        return invalid_argument(where +
                                ": a match value must be a string, number, true, false, null or "
                                "a one-key object, not an array");
      case Json::Kind::kObject:
        break;
    }
    if (v.members.empty()) {
      return invalid_argument(where + ": match expression name not found ({} is empty)");
    }
    if (v.members.size() > 1) {
      return invalid_argument(where + ": only one key allowed in a match expression");
    }
    const std::string& op = v.members[0].first;
    const Json& arg = v.members[0].second;
    const std::string at = where + "." + op;
    if (op == "exactly") {
      if (!is_string(arg)) {
        return invalid_argument(at + ": must be a string");
      }
      return make([s = arg.text](const Json& e) { return is_string(e) && e.text == s; });
    }
    if (op == "prefix" || op == "suffix") {
      return compile_prefix_suffix(op == "prefix", arg, at);
    }
    if (op == "equals-ignore-case") {
      if (!is_string(arg)) {
        return invalid_argument(at + ": must be a string");
      }
      return make([units = case_units(arg.text)](const Json& e) {
        return is_string(e) && case_matches(units, e.text, CaseMode::kEquals);
      });
    }
    if (op == "wildcard") {
      if (!is_string(arg)) {
        return invalid_argument(at + ": must be a string");
      }
      auto w = parse_wildcard(arg.text);
      if (!w) {
        return invalid_argument(at + ": " + w.error().message());
      }
      return make([w = *w](const Json& e) { return is_string(e) && wildcard_matches(w, e.text); });
    }
    if (op == "anything-but") {
      return compile_anything_but(arg, at);
    }
    if (op == "numeric") {
      return compile_numeric(arg, at);
    }
    if (op == "exists") {
      if (arg.kind == Json::Kind::kTrue) {
        return make([](const Json&) { return true; });
      }
      if (arg.kind == Json::Kind::kFalse) {
        return Matcher{true, nullptr};
      }
      return invalid_argument(at + ": must be true or false");
    }
    if (op == "cidr") {
      if (!is_string(arg)) {
        return invalid_argument(at + ": must be a string");
      }
      const std::optional<Cidr> cidr = parse_cidr(arg.text);
      if (!cidr) {
        return invalid_argument(at + ": \"" + arg.text + "\" is not a valid CIDR block");
      }
      return make([c = *cidr](const Json& e) {
        if (!is_string(e)) {
          return false;
        }
        const std::optional<IpAddress> ip = parse_ip(e.text);
        return ip.has_value() && cidr_contains(c, *ip);
      });
    }
    return invalid_argument(where + ": unrecognized match type \"" + op + "\"");
  }

  static Result<Matcher> compile_prefix_suffix(bool is_prefix, const Json& arg,
                                               const std::string& at) {
    if (is_string(arg)) {
      return make([is_prefix, s = arg.text](const Json& e) {
        return is_string(e) && (is_prefix ? e.text.starts_with(s) : e.text.ends_with(s));
      });
    }
    if (arg.kind == Json::Kind::kObject && arg.members.size() == 1 &&
        arg.members[0].first == "equals-ignore-case" && is_string(arg.members[0].second)) {
      const CaseMode mode = is_prefix ? CaseMode::kPrefix : CaseMode::kSuffix;
      return make([mode, units = case_units(arg.members[0].second.text)](const Json& e) {
        return is_string(e) && case_matches(units, e.text, mode);
      });
    }
    return invalid_argument(at + ": must be a string or {\"equals-ignore-case\": string}");
  }

  // Collects a string or a non-empty array of strings.
  static Result<std::vector<std::string>> string_list(const Json& arg, const std::string& at) {
    std::vector<std::string> out;
    if (is_string(arg)) {
      out.push_back(arg.text);
      return out;
    }
    if (arg.kind != Json::Kind::kArray || arg.items.empty()) {
      return invalid_argument(at + ": must be a string or a non-empty array of strings");
    }
    for (const Json& item : arg.items) {
      if (!is_string(item)) {
        return invalid_argument(at + ": must be a string or a non-empty array of strings");
      }
      out.push_back(item.text);
    }
    return out;
  }

  static Result<Matcher> compile_anything_but(const Json& arg, const std::string& at) {
    // `excluded` says whether one value is excluded; the matcher accepts every value that is not.
    std::function<bool(const Json&)> excluded;
    if (arg.kind == Json::Kind::kString) {
      excluded = [s = arg.text](const Json& e) { return is_string(e) && e.text == s; };
    } else if (arg.kind == Json::Kind::kNumber) {
      excluded = [n = make_number(arg.text)](const Json& e) {
        return e.kind == Json::Kind::kNumber && number_equal(n, make_number(e.text));
      };
    } else if (arg.kind == Json::Kind::kArray) {
      if (arg.items.empty()) {
        return invalid_argument(at + ": the list must not be empty");
      }
      const Json::Kind kind = arg.items[0].kind;
      if (kind != Json::Kind::kString && kind != Json::Kind::kNumber) {
        return invalid_argument(at + ": the list must hold only strings or only numbers");
      }
      for (const Json& item : arg.items) {
        if (item.kind != kind) {
          return invalid_argument(at + ": the list must hold only strings or only numbers");
        }
      }
      if (kind == Json::Kind::kString) {
        std::vector<std::string> strings;
        for (const Json& item : arg.items) {
          strings.push_back(item.text);
        }
        excluded = [strings](const Json& e) {
          return is_string(e) && std::find(strings.begin(), strings.end(), e.text) != strings.end();
        };
      } else {
        std::vector<Number> numbers;
        for (const Json& item : arg.items) {
          numbers.push_back(make_number(item.text));
        }
        excluded = [numbers](const Json& e) {
          if (e.kind != Json::Kind::kNumber) {
            return false;
          }
          const Number n = make_number(e.text);
          for (const Number& x : numbers) {
            if (number_equal(x, n)) {
              return true;
            }
          }
          return false;
        };
      }
    } else if (arg.kind == Json::Kind::kObject) {
      if (arg.members.size() != 1) {
        return invalid_argument(at +
                                ": needs exactly one of prefix, suffix, "
                                "equals-ignore-case, wildcard");
      }
      const std::string& op = arg.members[0].first;
      const std::string inner_at = at + "." + op;
      HK_ASSIGN_OR_RETURN(std::vector<std::string> values,
                          string_list(arg.members[0].second, inner_at));
      if (op == "prefix" || op == "suffix") {
        for (const std::string& s : values) {
          if (s.empty()) {
            std::string msg = inner_at;
            msg += ": an empty ";
            msg += op;
            msg += " is not allowed";
            return invalid_argument(msg);
          }
        }
        const bool is_prefix = op == "prefix";
        excluded = [is_prefix, values](const Json& e) {
          if (!is_string(e)) {
            return false;
          }
          for (const std::string& s : values) {
            if (is_prefix ? e.text.starts_with(s) : e.text.ends_with(s)) {
              return true;
            }
          }
          return false;
        };
      } else if (op == "equals-ignore-case") {
        std::vector<std::vector<std::vector<std::string>>> all;
        all.reserve(values.size());
        for (const std::string& s : values) {
          all.push_back(case_units(s));
        }
        excluded = [all](const Json& e) {
          if (!is_string(e)) {
            return false;
          }
          for (const auto& units : all) {
            if (case_matches(units, e.text, CaseMode::kEquals)) {
              return true;
            }
          }
          return false;
        };
      } else if (op == "wildcard") {
        std::vector<Wildcard> wildcards;
        for (const std::string& s : values) {
          auto w = parse_wildcard(s);
          if (!w) {
            return invalid_argument(inner_at + ": " + w.error().message());
          }
          wildcards.push_back(*w);
        }
        excluded = [wildcards](const Json& e) {
          if (!is_string(e)) {
            return false;
          }
          for (const Wildcard& w : wildcards) {
            if (wildcard_matches(w, e.text)) {
              return true;
            }
          }
          return false;
        };
      } else {
        return invalid_argument(at + ": \"" + op +
                                "\" is not allowed inside anything-but (only prefix, suffix, "
                                "equals-ignore-case, wildcard)");
      }
    } else {
      return invalid_argument(at +
                              ": must be a string, a number, a list of strings or numbers, "
                              "or an object");
    }
    return make([excluded](const Json& e) { return !excluded(e); });
  }

  static Result<Matcher> compile_numeric(const Json& arg, const std::string& at) {
    const std::string shape_error =
        at + R"(: needs [op, number] or [">"|">=", low, "<"|"<=", high])";
    if (arg.kind != Json::Kind::kArray || (arg.items.size() != 2 && arg.items.size() != 4)) {
      return invalid_argument(shape_error);
    }
    std::vector<std::pair<std::string, double>> conditions;
    for (size_t i = 0; i < arg.items.size(); i += 2) {
      const Json& op = arg.items[i];
      const Json& bound = arg.items[i + 1];
      if (!is_string(op) || bound.kind != Json::Kind::kNumber) {
        return invalid_argument(shape_error);
      }
      const std::optional<double> value = comparable_value(bound.text);
      if (!value) {
        return invalid_argument(at + ": " + bound.text +
                                " cannot be represented exactly as a double");
      }
      conditions.emplace_back(op.text, *value);
    }
    auto is_one_of = [](const std::string& s, std::initializer_list<const char*> ops) {
      for (const char* o : ops) {
        if (s == o) {
          return true;
        }
      }
      return false;
    };
    if (conditions.size() == 2) {
      if (!is_one_of(conditions[0].first, {">", ">="}) ||
          !is_one_of(conditions[1].first, {"<", "<="})) {
        return invalid_argument(shape_error);
      }
      if (!(conditions[0].second < conditions[1].second)) {
        return invalid_argument(at + ": the lower bound must be less than the upper bound");
      }
    } else if (!is_one_of(conditions[0].first, {"=", "<", "<=", ">", ">="})) {
      return invalid_argument(at + ": unknown operator \"" + conditions[0].first + "\"");
    }
    constexpr double kMax = std::numeric_limits<double>::max();
    for (const auto& [op, value] : conditions) {
      // Nothing is above the largest double or below its negation (event-ruler crashes here).
      if ((op == ">" && value == kMax) || (op == "<" && value == -kMax)) {
        std::string msg = at;
        msg += ": no number is ";
        msg += op;
        msg += value > 0 ? " the largest double" : " the smallest double";
        return invalid_argument(msg);
      }
    }
    return make([conditions](const Json& e) {
      if (e.kind != Json::Kind::kNumber) {
        return false;
      }
      const std::optional<double> x = comparable_value(e.text);
      if (!x) {
        return false;
      }
      for (const auto& [op, bound] : conditions) {
        const bool ok = op == "="    ? *x == bound
                        : op == "<"  ? *x < bound
                        : op == "<=" ? *x <= bound
                        : op == ">"  ? *x > bound
                                     : *x >= bound;
        if (!ok) {
          return false;
        }
      }
      return true;
    });
  }
};

// ---------------------------------------------------------------------------------------------
// Events (docs/event-patterns.md §3 and §12): every leaf value with its dotted path and the array
// elements it sits in, so that two leaves from different elements of one array are never combined.

using Trail = std::vector<std::pair<int, size_t>>;  // (array id, element index), outermost first

struct LeafValue {
  const Json* value;
  Trail trail;
};

class Flattener {
 public:
  std::map<std::string, std::vector<LeafValue>> leaves;  // by dotted path

  void flatten(const Json& v, const std::string* path, Trail& trail) {
    switch (v.kind) {
      case Json::Kind::kObject: {
        // Duplicate keys act like one array of all their values (docs/event-patterns.md §12).
        std::vector<std::pair<std::string, std::vector<const Json*>>> groups;
        for (const auto& [key, value] : v.members) {
          auto it = std::find_if(groups.begin(), groups.end(),
                                 [&key = key](const auto& g) { return g.first == key; });
          if (it == groups.end()) {
            groups.push_back({key, {&value}});
          } else {
            it->second.push_back(&value);
          }
        }
        for (const auto& [key, values] : groups) {
          const std::string child = join_path(path, key);
          if (values.size() == 1) {
            flatten(*values[0], &child, trail);
            continue;
          }
          const int id = next_array_id_++;
          for (size_t i = 0; i < values.size(); ++i) {
            trail.emplace_back(id, i);
            flatten(*values[i], &child, trail);
            trail.pop_back();
          }
        }
        return;
      }
      case Json::Kind::kArray: {
        const int id = next_array_id_++;
        for (size_t i = 0; i < v.items.size(); ++i) {
          trail.emplace_back(id, i);
          flatten(v.items[i], path, trail);
          trail.pop_back();
        }
        return;
      }
      default:
        // The parser guarantees the top level is an object, so a scalar always has a path.
        leaves[*path].push_back(LeafValue{&v, trail});
        return;
    }
  }

 private:
  int next_array_id_ = 0;
};

bool compatible(const Trail& a, const Trail& b) {
  for (const auto& [id_a, index_a] : a) {
    for (const auto& [id_b, index_b] : b) {
      if (id_a == id_b && index_a != index_b) {
        return false;
      }
    }
  }
  return true;
}

// Searches for one leaf value per field (or, for fields whose leaf holds exists:false, the
// absence of any leaf value consistent with the choice) such that all chosen values are
// pairwise array-consistent (docs/event-patterns.md §3 and §7).
class SubRuleSearch {
 public:
  SubRuleSearch(const SubRule& rule, const std::map<std::string, std::vector<LeafValue>>& leaves)
      : rule_(rule), leaves_(leaves) {
    for (const Field& field : rule_) {
      std::vector<const LeafValue*> cands;
      bool absent_ok = false;
      const std::vector<LeafValue>& at_path = values_at(field.path);
      for (const Matcher& m : field.leaf) {
        absent_ok = absent_ok || m.exists_false;
      }
      for (const LeafValue& lv : at_path) {
        for (const Matcher& m : field.leaf) {
          if (!m.exists_false && m.test(*lv.value)) {
            cands.push_back(&lv);
            break;
          }
        }
      }
      candidates_.push_back(std::move(cands));
      absent_ok_.push_back(absent_ok);
    }
  }

  bool run() { return search(0); }

 private:
  const std::vector<LeafValue>& values_at(const std::string& path) const {
    static const std::vector<LeafValue> none;
    auto it = leaves_.find(path);
    return it == leaves_.end() ? none : it->second;
  }

  bool consistent_with_chosen(const LeafValue& lv) const {
    for (const LeafValue* c : chosen_) {
      if (!compatible(c->trail, lv.trail)) {
        return false;
      }
    }
    return true;
  }

  bool search(size_t k) {
    if (k == rule_.size()) {
      // Each field chosen as absent must have no value consistent with the chosen values.
      for (size_t f : absent_) {
        for (const LeafValue& lv : values_at(rule_[f].path)) {
          if (consistent_with_chosen(lv)) {
            return false;
          }
        }
      }
      return true;
    }
    for (const LeafValue* lv : candidates_[k]) {
      if (!consistent_with_chosen(*lv)) {
        continue;
      }
      chosen_.push_back(lv);
      const bool found = search(k + 1);
      chosen_.pop_back();
      if (found) {
        return true;
      }
    }
    if (absent_ok_[k]) {
      absent_.push_back(k);
      const bool found = search(k + 1);
      absent_.pop_back();
      if (found) {
        return true;
      }
    }
    return false;
  }

  const SubRule& rule_;
  const std::map<std::string, std::vector<LeafValue>>& leaves_;
  std::vector<std::vector<const LeafValue*>> candidates_;
  std::vector<bool> absent_ok_;
  std::vector<const LeafValue*> chosen_;
  std::vector<size_t> absent_;
};

Result<std::vector<SubRule>> compile_pattern(std::string_view pattern_json) {
  JsonParser parser(pattern_json, kNaiveMaxPatternDepth);
  auto root = parser.parse_document();
  if (!root) {
    return invalid_argument("pattern: " + root.error().message());
  }
  auto rules = PatternCompiler().compile(*root);
  if (!rules) {
    return invalid_argument("pattern: " + rules.error().message());
  }
  return rules;
}

}  // namespace

Status naive_validate_pattern(std::string_view pattern_json) {
  return compile_pattern(pattern_json).status();
}

Result<bool> naive_matches(std::string_view pattern_json, std::string_view event_json) {
  HK_ASSIGN_OR_RETURN(std::vector<SubRule> rules, compile_pattern(pattern_json));
  JsonParser parser(event_json, kNaiveMaxEventDepth);
  auto event = parser.parse_document();
  if (!event) {
    return invalid_argument("event: " + event.error().message());
  }
  if (event->kind != Json::Kind::kObject) {
    return invalid_argument("event: must be a JSON object");
  }
  Flattener flattener;
  Trail trail;
  flattener.flatten(*event, nullptr, trail);
  for (const SubRule& rule : rules) {
    if (SubRuleSearch(rule, flattener.leaves).run()) {
      return true;
    }
  }
  return false;
}

}  // namespace hikyaku::testing
