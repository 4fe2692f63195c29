#pragma once
// Value-level semantics of the pattern language (docs/event-patterns.md
// §2, §4, §8): number comparability, IP
// literals and cidr ranges, equals-ignore-case alternatives, wildcard globs. Pure functions,
// thread-safe.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hikyaku::pattern::internal {

// ---- numbers (§2) ----
struct NumberInfo {
  bool comparable = false;  // text -> double -> Java Double.toString round-trips exactly
  double value = 0;         // valid when comparable; -0 is normalised to 0
};
// `text` must be a JSON number token.
NumberInfo analyze_number(std::string_view text);
// The comparability half of analyze_number when the caller already has `value`, the correctly
// rounded double of `text` (finite).
bool is_comparable(std::string_view text, double value);

// The exact-match key of a value: two values match exactly iff their keys are equal.
// Numbers: 'n' + the 8 bytes of the double when comparable, else 'l' + the literal text.
void append_number_key(std::string& out, std::string_view text, const NumberInfo& info);

// ---- IP literals and cidr (§8, §13) ----
struct IpAddress {
  uint8_t family = 0;               // 4 or 6
  std::array<uint8_t, 16> bytes{};  // IPv4 uses the first 4
};
// Java-lenient dotted IPv4 (exactly four decimal parts, each <= 255, leading zeros allowed) or
// IPv6 (hex groups, one "::", case-insensitive; no embedded dotted IPv4, no zone).
std::optional<IpAddress> parse_ip(std::string_view text);
// 'I' + family + address bytes: the exact-match key of an IP-looking string.
void append_ip_key(std::string& out, const IpAddress& ip);

struct CidrRange {
  uint8_t family = 0;
  std::array<uint8_t, 16> lo{};
  std::array<uint8_t, 16> hi{};
  bool contains(const IpAddress& ip) const;
};
// "a.b.c.d/n" (0 <= n <= 32) or "v6/n" (0 <= n <= 128). nullopt with `error` set otherwise.
std::optional<CidrRange> parse_cidr(std::string_view text, std::string& error);

// ---- equals-ignore-case (§4, §13) ----
// For each code point of the pattern, the accepted UTF-8 spellings: the character itself, its
// lower case and its upper case (String-level upper case, so "ß" -> "SS").
using CaseAlternatives = std::vector<std::vector<std::string>>;
CaseAlternatives case_alternatives(std::string_view pattern);
bool is_ascii(std::string_view text);
void append_ascii_lower(std::string& out, std::string_view text);
enum class CaseMode { kExact, kPrefix, kSuffix };
bool case_insensitive_match(const CaseAlternatives& alts, std::string_view value, CaseMode mode);

// ---- wildcard (§4) ----
// A parsed wildcard: literal segments separated by '*'. leading_star/trailing_star say whether
// the pattern starts/ends with '*'.
struct Wildcard {
  std::vector<std::string> segments;
  bool leading_star = false;
  bool trailing_star = false;
  size_t star_count = 0;
  bool matches(std::string_view value) const;
  // The literal prefix (before the first '*', or the whole pattern when there is none).
  std::string_view literal_prefix() const;
};
// Errors: "\" followed by anything but "*" or "\", a trailing "\", and "**".
std::optional<Wildcard> parse_wildcard(std::string_view text, std::string& error);

}  // namespace hikyaku::pattern::internal
