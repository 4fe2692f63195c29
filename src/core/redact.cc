#include "core/redact.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <deque>
#include <iterator>
#include <set>

#include "core/hex.h"
#include "core/url_encoding.h"

namespace hikyaku {
namespace {

// ---- shared text helpers -------------------------------------------------------------------

bool is_space_or_control(unsigned char c) { return c <= 0x20 || c == 0x7f; }

// Where a `name=value` value ends (the value is masked up to here).
bool ends_value(unsigned char c) {
  return is_space_or_control(c) || std::strchr("&;#\"'<>\\`", c) != nullptr;
}

// What cannot be part of a parameter name: the name is the run before `=` up to one of these.
bool ends_name(unsigned char c) {
  return is_space_or_control(c) || std::strchr("?&;#/:,(){}[]<>\"'\\=`", c) != nullptr;
}

// Where a URL's authority ends.
bool ends_authority(unsigned char c) { return ends_value(c) || c == '/' || c == '?'; }

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// Appends the UTF-8 encoding of `code_point` to `out` (at most 4 bytes); returns the count.
size_t utf8_encode(uint32_t code_point, std::array<unsigned char, 4>& out) {
  if (code_point < 0x80) {
    out[0] = static_cast<unsigned char>(code_point);
    return 1;
  }
  if (code_point < 0x800) {
    out[0] = static_cast<unsigned char>(0xC0 | (code_point >> 6));
    out[1] = static_cast<unsigned char>(0x80 | (code_point & 0x3F));
    return 2;
  }
  if (code_point < 0x10000) {
    out[0] = static_cast<unsigned char>(0xE0 | (code_point >> 12));
    out[1] = static_cast<unsigned char>(0x80 | ((code_point >> 6) & 0x3F));
    out[2] = static_cast<unsigned char>(0x80 | (code_point & 0x3F));
    return 3;
  }
  out[0] = static_cast<unsigned char>(0xF0 | (code_point >> 18));
  out[1] = static_cast<unsigned char>(0x80 | ((code_point >> 12) & 0x3F));
  out[2] = static_cast<unsigned char>(0x80 | ((code_point >> 6) & 0x3F));
  out[3] = static_cast<unsigned char>(0x80 | (code_point & 0x3F));
  return 4;
}

// Four hex digits at text[at..at+4) as a number, or -1.
int32_t hex4(std::string_view text, size_t at) {
  if (at + 4 > text.size()) {
    return -1;
  }
  int32_t value = 0;
  for (size_t i = at; i < at + 4; ++i) {
    const int digit = hex_digit_value(text[i]);
    if (digit < 0) {
      return -1;
    }
    value = value * 16 + digit;
  }
  return value;
}

// Decodes the escape (percent or JSON) starting at text[at], if any: writes its bytes to
// `bytes` and returns the escape's length in `text`; returns 0 when text[at] is a plain byte.
// Which escapes a decoding pass reads (a text may hold a literal `%` or `\\` right before an
// escaped secret, which one reading would take as the start of an escape).
enum class Escapes { kBoth, kPercentOnly, kJsonOnly };

size_t decode_escape(std::string_view text, size_t at, std::array<unsigned char, 4>& bytes,
                     size_t& count, Escapes escapes = Escapes::kBoth) {
  const char c = text[at];
  if (c == '%' && escapes != Escapes::kJsonOnly) {
    if (at + 2 < text.size()) {
      const int high = hex_digit_value(text[at + 1]);
      const int low = hex_digit_value(text[at + 2]);
      if (high >= 0 && low >= 0) {
        bytes[0] = static_cast<unsigned char>(high * 16 + low);
        count = 1;
        return 3;
      }
    }
    return 0;
  }
  if (c != '\\' || at + 1 >= text.size() || escapes == Escapes::kPercentOnly) {
    return 0;
  }
  static constexpr std::string_view kFrom = "\"\\/bfnrt";
  static constexpr std::string_view kTo = "\"\\/\b\f\n\r\t";
  if (const size_t simple = kFrom.find(text[at + 1]); simple != std::string_view::npos) {
    bytes[0] = static_cast<unsigned char>(kTo[simple]);
    count = 1;
    return 2;
  }
  if (text[at + 1] != 'u') {
    return 0;
  }
  const int32_t unit = hex4(text, at + 2);
  if (unit < 0) {
    return 0;
  }
  auto code_point = static_cast<uint32_t>(unit);
  size_t length = 6;
  if (unit >= 0xD800 && unit <= 0xDBFF && at + 7 < text.size() && text[at + 6] == '\\' &&
      text[at + 7] == 'u') {
    const int32_t low = hex4(text, at + 8);
    if (low >= 0xDC00 && low <= 0xDFFF) {
      code_point = 0x10000 + ((static_cast<uint32_t>(unit) - 0xD800) << 10) +
                   (static_cast<uint32_t>(low) - 0xDC00);
      length = 12;
    }
  }
  count = utf8_encode(code_point, bytes);
  return length;
}

// Calls emit(byte, escape_begin, escape_end) for every byte of `text` with one layer of percent
// and JSON escapes decoded.
template <typename Emit>
void for_each_decoded(std::string_view text, Emit&& emit, Escapes escapes = Escapes::kBoth) {
  std::array<unsigned char, 4> bytes{};
  size_t at = 0;
  while (at < text.size()) {
    size_t count = 0;
    const size_t length = decode_escape(text, at, bytes, count, escapes);
    if (length == 0) {
      emit(static_cast<unsigned char>(text[at]), at, at + 1);
      ++at;
      continue;
    }
    for (size_t i = 0; i < count; ++i) {
      emit(bytes[i], at, at + length);
    }
    at += length;
  }
}

std::string decode_once(std::string_view text) {
  std::string out;
  for_each_decoded(text,
                   [&out](unsigned char byte, size_t, size_t) { out += static_cast<char>(byte); });
  return out;
}

// Form encoding writes a space as `+`: both are folded onto one byte in patterns and texts.
unsigned char fold(unsigned char c) { return c == '+' ? ' ' : c; }

constexpr std::string_view kBase64 =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kBase64Url =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
// A base64 fragment shorter than this is too likely to occur by chance to be masked.
constexpr size_t kMinBase64Chars = Redactor::kMinSecretBytes;

// The base64 characters of `value` preceded by `offset` (0-2) other bytes that depend only on
// `value`: what any base64 text holding `value` at that offset contains.
std::string base64_core(std::string_view value, size_t offset, std::string_view alphabet) {
  const size_t bits = 8 * (offset + value.size());
  std::string out;
  const size_t first = (8 * offset + 5) / 6;
  for (size_t k = first; 6 * k + 6 <= bits; ++k) {
    uint32_t sextet = 0;
    for (size_t bit = 6 * k; bit < 6 * k + 6; ++bit) {
      const size_t byte_index = bit / 8;
      const unsigned char byte =
          byte_index < offset ? 0 : static_cast<unsigned char>(value[byte_index - offset]);
      sextet = (sextet << 1) | ((byte >> (7 - bit % 8)) & 1U);
    }
    out += alphabet[sextet];
  }
  return out;
}

std::string base64_padded(std::string_view value) {
  std::string out = base64_core(value, 0, kBase64);
  const size_t remainder = value.size() % 3;
  if (remainder != 0) {
    // The last character mixes the final bits with zero padding.
    const auto last = static_cast<unsigned char>(value.back());
    const uint32_t sextet = remainder == 1 ? (last & 0x03U) << 4 : (last & 0x0FU) << 2;
    out += kBase64[sextet];
    out.append(remainder == 1 ? "==" : "=");
  }
  return out;
}

// ---- name rules --------------------------------------------------------------------------

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// The words of a parameter name: split at non-alphanumerics and lower-to-upper case changes.
bool has_short_secret_word(std::string_view name) {
  static constexpr std::array<std::string_view, 5> kWords = {"pw", "pwd", "pass", "pswd", "sig"};
  std::string word;
  auto flush = [&word]() {
    const bool hit = std::find(kWords.begin(), kWords.end(), word) != kWords.end();
    word.clear();
    return hit;
  };
  for (size_t i = 0; i < name.size(); ++i) {
    const auto c = static_cast<unsigned char>(name[i]);
    const bool alnum = std::isalnum(c) != 0;
    const bool boundary = !alnum || (i > 0 && std::isupper(c) != 0 &&
                                     std::islower(static_cast<unsigned char>(name[i - 1])) != 0);
    if (boundary && flush()) {
      return true;
    }
    if (alnum) {
      word += ascii_lower(static_cast<char>(c));
    }
  }
  return flush();
}

// Appends `sorted` (ordered by begin) to `spans`, merging the spans that overlap or touch.
template <typename SpanT>
void append_coalesced(std::vector<SpanT>& spans, const std::vector<SpanT>& sorted) {
  for (const SpanT& span : sorted) {
    if (!spans.empty() && span.begin <= spans.back().end) {
      spans.back().end = std::max(spans.back().end, span.end);
    } else {
      spans.push_back(span);
    }
  }
}

struct NameSpan {
  size_t begin;
  size_t end;
};

// Appends the spans the name rules mask in `text`, in order and merged.
void find_name_spans(std::string_view text, std::vector<NameSpan>& spans) {
  std::vector<NameSpan> found;
  // Userinfo of every scheme://userinfo@host.
  for (size_t scheme = text.find("://"); scheme != std::string_view::npos;
       scheme = text.find("://", scheme + 3)) {
    const size_t begin = scheme + 3;
    size_t end = begin;
    while (end < text.size() && !ends_authority(static_cast<unsigned char>(text[end]))) {
      ++end;
    }
    const size_t at = text.substr(begin, end - begin).rfind('@');
    if (at != std::string_view::npos && at > 0) {
      found.push_back({begin, begin + at});
    }
  }
  // Values of credential-named parameters.
  for (size_t equals = text.find('='); equals != std::string_view::npos;
       equals = text.find('=', equals + 1)) {
    size_t name_begin = equals;
    while (name_begin > 0 && !ends_name(static_cast<unsigned char>(text[name_begin - 1]))) {
      --name_begin;
    }
    if (name_begin == equals ||
        !is_secret_parameter_name(text.substr(name_begin, equals - name_begin))) {
      continue;
    }
    size_t value_end = equals + 1;
    while (value_end < text.size() && !ends_value(static_cast<unsigned char>(text[value_end]))) {
      ++value_end;
    }
    if (value_end > equals + 1) {
      found.push_back({equals + 1, value_end});
      equals = value_end - 1;
    }
  }
  std::sort(found.begin(), found.end(),
            [](const NameSpan& a, const NameSpan& b) { return a.begin < b.begin; });
  append_coalesced(spans, found);
}

template <typename SpanT>
std::string mask_spans(std::string_view text, const std::vector<SpanT>& spans) {
  std::string out;
  out.reserve(text.size());
  size_t at = 0;
  for (const SpanT& span : spans) {
    out.append(text.substr(at, span.begin - at));
    out.append(Redactor::kMask);
    at = span.end;
  }
  out.append(text.substr(at));
  return out;
}

bool redact_names_into(std::string_view text, std::string& out) {
  if (text.find('=') == std::string_view::npos && text.find("://") == std::string_view::npos) {
    return false;
  }
  std::vector<NameSpan> spans;
  find_name_spans(text, spans);
  if (spans.empty()) {
    return false;
  }
  out = mask_spans(text, spans);
  return true;
}

}  // namespace

bool is_secret_parameter_name(std::string_view name) {
  static constexpr std::array<std::string_view, 12> kMarkers = {
      "key",  "token",   "secret", "passw",  "passphrase", "signature",
      "auth", "session", "cookie", "bearer", "jwt",        "credential"};
  // Percent-decoded (and `+` as a space), then compared without case.
  std::string decoded;
  decoded.reserve(name.size());
  for_each_decoded(name, [&decoded](unsigned char byte, size_t, size_t) {
    decoded += byte == '+' ? ' ' : static_cast<char>(byte);
  });
  if (has_short_secret_word(decoded)) {
    return true;
  }
  std::transform(decoded.begin(), decoded.end(), decoded.begin(), ascii_lower);
  return std::any_of(kMarkers.begin(), kMarkers.end(),
                     [&decoded](std::string_view marker) { return contains(decoded, marker); });
}

std::string redact_url(std::string_view text) {
  std::string out;
  if (!redact_names_into(text, out)) {
    return std::string(text);
  }
  return out;
}

// ---- Redactor ------------------------------------------------------------------------------

Redactor::Redactor(const std::vector<std::string>& secrets) {
  std::set<std::string> patterns;
  auto add = [&patterns](std::string pattern, size_t minimum) {
    if (pattern.size() >= minimum) {
      std::transform(pattern.begin(), pattern.end(), pattern.begin(),
                     [](char c) { return static_cast<char>(fold(static_cast<unsigned char>(c))); });
      patterns.insert(std::move(pattern));
    }
  };
  for (const std::string& secret : secrets) {
    if (secret.size() < kMinSecretBytes) {
      continue;
    }
    // The value itself (found raw, or decoded from an escaped form by the second pass), and its
    // decoded form (a value that itself contains escapes appears decoded in some texts).
    add(secret, kMinSecretBytes);
    add(decode_once(secret), kMinSecretBytes);
    // Percent-encoded whole, in either hex case, found raw: the decoding pass alone misses an
    // encoded value whose first byte also ends an escape (`%2` then `fuzz%2F...`, found by
    // fuzz/backlog_response_fuzzer.cc).
    const std::string encoded = percent_encode(secret);
    add(encoded, kMinSecretBytes);
    std::string lower = encoded;
    for (size_t at = lower.find('%'); at != std::string::npos && at + 2 < lower.size();
         at = lower.find('%', at + 3)) {
      lower[at + 1] = static_cast<char>(std::tolower(static_cast<unsigned char>(lower[at + 1])));
      lower[at + 2] = static_cast<char>(std::tolower(static_cast<unsigned char>(lower[at + 2])));
    }
    add(lower, kMinSecretBytes);
    add(base64_padded(secret), kMinBase64Chars);
    for (size_t offset = 0; offset < 3; ++offset) {
      add(base64_core(secret, offset, kBase64), kMinBase64Chars);
      add(base64_core(secret, offset, kBase64Url), kMinBase64Chars);
    }
  }
  for (const std::string& pattern : patterns) {
    add_pattern(pattern);
  }
  pattern_count_ = patterns.size();
  if (pattern_count_ > 0) {
    build_automaton();
  }
}

void Redactor::add_pattern(std::string_view pattern) {
  if (trie_.empty()) {
    trie_.emplace_back();
    trie_match_.push_back(0);
  }
  int32_t node = 0;
  for (char c : pattern) {
    const auto byte = static_cast<uint8_t>(c);
    auto& children = trie_[static_cast<size_t>(node)];
    auto child = std::find_if(children.begin(), children.end(),
                              [byte](const auto& edge) { return edge.first == byte; });
    if (child != children.end()) {
      node = child->second;
      continue;
    }
    const auto created = static_cast<int32_t>(trie_.size());
    children.emplace_back(byte, created);
    trie_.emplace_back();
    trie_match_.push_back(0);
    node = created;
  }
  trie_match_[static_cast<size_t>(node)] = static_cast<uint32_t>(pattern.size());
  max_pattern_ = std::max(max_pattern_, pattern.size());
}

void Redactor::build_automaton() {
  // Bytes that occur in no pattern share class 0, which keeps the table narrow.
  for (const auto& children : trie_) {
    for (const auto& [byte, child] : children) {
      if (class_of_[byte] == 0) {
        class_of_[byte] = static_cast<uint16_t>(classes_++);
      }
    }
  }
  const size_t states = trie_.size();
  next_.assign(states * classes_, -1);
  match_ = trie_match_;
  for (size_t state = 0; state < states; ++state) {
    for (const auto& [byte, child] : trie_[state]) {
      next_[state * classes_ + class_of_[byte]] = child;
    }
  }
  std::vector<int32_t> fail(states, 0);
  std::deque<int32_t> queue;
  for (size_t c = 0; c < classes_; ++c) {
    int32_t& to = next_[c];
    if (to < 0) {
      to = 0;
    } else {
      queue.push_back(to);
    }
  }
  while (!queue.empty()) {
    const auto state = static_cast<size_t>(queue.front());
    queue.pop_front();
    const auto state_fail = static_cast<size_t>(fail[state]);
    match_[state] = std::max(match_[state], match_[state_fail]);
    for (size_t c = 0; c < classes_; ++c) {
      int32_t& to = next_[state * classes_ + c];
      const int32_t through_fail = next_[state_fail * classes_ + c];
      if (to < 0) {
        to = through_fail;
      } else {
        fail[static_cast<size_t>(to)] = through_fail;
        queue.push_back(to);
      }
    }
  }
  trie_.clear();
  trie_.shrink_to_fit();
  trie_match_.clear();
  trie_match_.shrink_to_fit();
}

namespace {

// Records [begin, end) into `spans`, merging with the spans it overlaps or touches (matches are
// reported by increasing end).
template <typename SpanT>
void add_span(std::vector<SpanT>& spans, size_t begin, size_t end) {
  while (!spans.empty() && spans.back().end >= begin) {
    begin = std::min(begin, spans.back().begin);
    end = std::max(end, spans.back().end);
    spans.pop_back();
  }
  spans.push_back({begin, end});
}

}  // namespace

void Redactor::scan_raw(std::string_view text, std::vector<Span>& spans) const {
  int32_t state = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char byte = fold(static_cast<unsigned char>(text[i]));
    state = next_[static_cast<size_t>(state) * classes_ + class_of_[byte]];
    if (const uint32_t length = match_[static_cast<size_t>(state)]; length != 0) {
      add_span(spans, i + 1 - length, i + 1);
    }
  }
}

void Redactor::scan_decoded(std::string_view text, std::vector<Span>& spans) const {
  // Both kinds of escape read; and when the text holds both `%` and `\\`, each kind alone too, so
  // that a literal one of them right before an escaped secret cannot hide it (`\\` then
  // `fuzz%2F...` read as the escape `\\f`, found by the backlog_response fuzzer).
  const bool mixed =
      text.find('%') != std::string_view::npos && text.find('\\') != std::string_view::npos;
  std::vector<Span> found;
  for (const Escapes escapes : {Escapes::kBoth, Escapes::kPercentOnly, Escapes::kJsonOnly}) {
    if (escapes != Escapes::kBoth && !mixed) {
      break;
    }
    std::vector<Span> pass;
    // Where each of the last max_pattern_ decoded bytes began in `text`.
    std::vector<size_t> begins(max_pattern_);
    size_t decoded = 0;
    int32_t state = 0;
    for_each_decoded(
        text,
        [&](unsigned char byte, size_t escape_begin, size_t escape_end) {
          begins[decoded % max_pattern_] = escape_begin;
          ++decoded;
          state = next_[static_cast<size_t>(state) * classes_ + class_of_[fold(byte)]];
          if (const uint32_t length = match_[static_cast<size_t>(state)]; length != 0) {
            add_span(pass, begins[(decoded - length) % max_pattern_], escape_end);
          }
        },
        escapes);
    found.insert(found.end(), pass.begin(), pass.end());
  }
  scan_nested(text, found);
  // Each pass's spans are ordered; together they are merged into ordered, disjoint spans.
  std::sort(found.begin(), found.end(),
            [](const Span& a, const Span& b) { return a.begin < b.begin; });
  append_coalesced(spans, found);
}

namespace {

// Whether decoding `text` once can leave an escape: only an escaped backslash or percent sign
// makes one (a doubled backslash, %25, %5C, or a \u escape of either).
bool may_nest_escapes(std::string_view text) {
  for (std::string_view marker : {"\\\\", "%25", "%5C", "%5c", "\\u00"}) {
    if (text.find(marker) != std::string_view::npos) {
      return true;
    }
  }
  return false;
}

}  // namespace

void Redactor::scan_nested(std::string_view text, std::vector<Span>& found) const {
  if (!may_nest_escapes(text)) {
    return;
  }
  // Each layer's bytes with the span of `text` they were decoded from. Layer 1 is scan_decoded's;
  // from layer 2 on each layer is decoded (both escapes) and scanned whole, which costs a copy
  // and 16 bytes per byte, paid only by texts escaped twice.
  std::string layer(text);
  std::vector<Span> origin(text.size());
  for (size_t at = 0; at < text.size(); ++at) {
    origin[at] = {at, at + 1};
  }
  for (int depth = 1; depth <= kMaxEscapeLayers; ++depth) {
    if (layer.find_first_of("%\\") == std::string::npos) {
      break;
    }
    std::string next;
    std::vector<Span> next_origin;
    next.reserve(layer.size());
    next_origin.reserve(layer.size());
    for_each_decoded(layer, [&](unsigned char byte, size_t escape_begin, size_t escape_end) {
      next += static_cast<char>(byte);
      next_origin.push_back({origin[escape_begin].begin, origin[escape_end - 1].end});
    });
    layer = std::move(next);
    origin = std::move(next_origin);
    if (depth == 1) {
      continue;  // scan_decoded's
    }
    std::vector<Span> pass;  // this layer's, ordered by end as add_span merges them
    int32_t state = 0;
    for (size_t at = 0; at < layer.size(); ++at) {
      const unsigned char byte = fold(static_cast<unsigned char>(layer[at]));
      state = next_[static_cast<size_t>(state) * classes_ + class_of_[byte]];
      if (const uint32_t length = match_[static_cast<size_t>(state)]; length != 0) {
        add_span(pass, origin[at + 1 - length].begin, origin[at].end);
      }
    }
    found.insert(found.end(), pass.begin(), pass.end());
  }
}

void Redactor::find_values(std::string_view text, std::vector<Span>& spans) const {
  if (empty()) {
    return;
  }
  scan_raw(text, spans);
  if (text.find_first_of("%\\") == std::string_view::npos) {
    return;  // the decoded text is the text
  }
  std::vector<Span> decoded;
  scan_decoded(text, decoded);
  if (decoded.empty()) {
    return;
  }
  std::vector<Span> merged;
  merged.reserve(spans.size() + decoded.size());
  std::merge(spans.begin(), spans.end(), decoded.begin(), decoded.end(), std::back_inserter(merged),
             [](const Span& a, const Span& b) { return a.begin < b.begin; });
  spans.clear();
  append_coalesced(spans, merged);
}

bool Redactor::contains_secret(std::string_view text) const {
  std::vector<Span> spans;
  find_values(text, spans);
  return !spans.empty();
}

bool Redactor::redact_into(std::string_view text, std::string& out) const {
  std::vector<Span> spans;
  find_values(text, spans);
  if (spans.empty()) {
    return redact_names_into(text, out);
  }
  std::string by_value = mask_spans(text, spans);
  if (!redact_names_into(by_value, out)) {
    out = std::move(by_value);
  }
  return true;
}

std::string Redactor::redact(std::string_view text) const {
  std::string out;
  if (!redact_into(text, out)) {
    return std::string(text);
  }
  return out;
}

}  // namespace hikyaku
