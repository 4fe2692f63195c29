#pragma once
// naive_matches: a slow, simple reference implementation of EventBridge event patterns.
//
// This is the oracle for hikyaku's pattern engine (re2's habit: a second, obviously-correct
// implementation that the automaton is differentially tested against). It is written straight
// from docs/event-patterns.md ("the spec"), section by section, and follows
// hikyaku's rules where its §13 deliberately differs from event-ruler. It favours clarity
// over speed: it parses both texts into trees, expands `$or` into sub-rules, flattens the event
// into leaf values that remember which array element they sit in, and searches for an
// array-consistent choice of one value per field by backtracking.
//
//   Result<bool> r = naive_matches(R"({"detail":{"state":["running"]}})",
//                                  R"({"detail":{"state":"running"}})");
//   // r.has_value() && *r == true
//
// Errors: kInvalidArgument when the pattern is invalid (message starts with "pattern: " and
// names the offending path) or, for a valid pattern, when the event is not a JSON object or not
// strict JSON (message starts with "event: "). The pattern is always checked first. Messages
// are our own, not event-ruler's.
//
// Semantics decided where the spec leaves room:
// - Duplicate pattern paths: the last writer in document order wins, also across `$or`
//   branches (`{"a":["x"],"$or":[{"a":["y"]},{"b":["z"]}]}` = `{a:y} OR {a:x,b:z}`). Duplicate
//   object keys merge their members path by path.
// - Duplicate event keys act like one array holding every value (array consistency applies).
// - An exact string that parses as an IPv4/IPv6 literal also matches other spellings of the
//   same address of the same family (§8 / §13); other operators compare bytes.
// - equals-ignore-case: per pattern character c (BMP), the event must spell one of
//   {c, lower(c), upper(c)} (Java's String case mappings of that character); characters outside
//   the BMP match only themselves.
// - Numbers are "comparable" when their decimal value equals the value of Java's
//   Double.toString of the parsed double (§2); otherwise only the literal token matches.
//
// Limits (hostile input must not exhaust the stack or memory): JSON nesting depth 256 for the
// pattern and 1024 for the event (kInvalidArgument beyond), at most 256 fields per sub-rule
// after `$or` expansion, at most 1024 sub-rules after `$or` expansion.
//
// Thread safety: a pure function; safe to call concurrently. Complexity: exponential in the
// number of pattern fields in the worst case (backtracking); fine for tests, never use it to
// serve traffic.

#include <string_view>

#include "core/status.h"

namespace hikyaku::testing {

inline constexpr int kNaiveMaxPatternDepth = 256;
inline constexpr int kNaiveMaxEventDepth = 1024;
inline constexpr int kNaiveMaxFieldsPerSubRule = 256;
inline constexpr int kNaiveMaxSubRules = 1024;

// Whether the event matches the pattern. Both are JSON texts (exactly as received; nothing is
// trimmed, so trailing garbage is an error). See the file comment for errors.
Result<bool> naive_matches(std::string_view pattern_json, std::string_view event_json);

// Only validates the pattern (the same checks naive_matches makes first).
Status naive_validate_pattern(std::string_view pattern_json);

}  // namespace hikyaku::testing
