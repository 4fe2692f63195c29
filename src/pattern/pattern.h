#pragma once
// hikyaku::pattern — EventBridge event patterns: validate, compile, match, explain.
//
// The language is AWS EventBridge's (docs/event-patterns.md is the specification;
// its §13 lists where hikyaku deliberately differs from event-ruler). In short:
//
//   {"source": ["aws.securityhub"],                       exact string / number / bool / null
//    "detail": {"findings": {
//      "Severity": {"Label": ["HIGH", "CRITICAL"]},        elements of a list are OR-ed
//      "Workflow": {"Status": [{"anything-but": "SUPPRESSED"}]},
//      "Resources": {"Id": [{"prefix": "arn:aws:s3"}]}}}, fields are AND-ed, nesting = dotted path
//    "$or": [{"region": ["us-east-1"]}, {"account": [{"exists": false}]}]}
//
// Operators: prefix, suffix (both also with {"equals-ignore-case": s}), equals-ignore-case,
// wildcard, exactly, anything-but (value, list, prefix, suffix, equals-ignore-case, wildcard),
// numeric, exists, cidr, $or. Arrays in events are transparent and array-consistent (fields taken
// from different elements of one array never combine).
//
// Example:
//
//   HK_ASSIGN_OR_RETURN(auto matcher, Matcher::compile({{1, R"({"source":["a"]})"},
//                                                       {2,
//                                                       R"({"detail":{"n":[{"numeric":[">",5]}]}})"}}));
//   std::vector<uint32_t> ids;
//   HK_RETURN_IF_ERROR(matcher->match(event_json, ids));   // ids = matching rule ids, sorted
//
// Limits (all enforced with kInvalidArgument naming the limit): a pattern is at most 256 KiB of
// JSON and 64 levels deep; $or expands to at most 1024 combinations per pattern; each
// combination names at most 256 fields; a wildcard has at most 5 '*' (AWS rejects complex
// wildcards too). Events nest at most kMaxEventNestingDepth (core/envelope.h: 1000) levels of
// objects and arrays on the paths that rules name. Array consistency is checked in time linear
// in the values of the rules' fields; only events with arrays under duplicate or dotted keys can
// need a search, bounded per event (docs/event-patterns.md §10; past it match() fails).
//
// Errors name the offending place: `<path>[<index>]: <what is wrong>, got <fragment>`, e.g.
//   detail.findings.Severity.Label[1]: "numeric" needs [op, number] pairs: ..., got {"numeric":
//   ["<", "5"]}

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace hikyaku::pattern {

// Checks a pattern. Ok, or kInvalidArgument with the path and fragment at fault (the first one
// found). Never crashes on any input. Thread-safe.
Status validate_pattern(std::string_view pattern_json);

// Warnings about a pattern that validate_pattern accepts but that probably does not say what its
// author meant, one line each in the form of validate_pattern's errors (`<path>: <what>`); empty
// when there is nothing to say, and for an invalid pattern. Today: a field name that is an
// operator name ("prefix", "numeric", "exists", ... as in {"detail": {"prefix": ["a"]}}), which
// matches an event field of that name (deeper inside a $or branch the warning adds that AWS
// EventBridge rejects it there); and a "$or" whose branches use operator names as keys, which
// EventBridge and hikyaku read as a field called "$or" (docs/event-patterns.md §9). Thread-safe.
std::vector<std::string> lint_pattern(std::string_view pattern_json);

// Checks that `event_json` is strict JSON (RFC 8259, no trailing content) whose top level is an
// object. Matcher::match does not do this full check (see there). Thread-safe.
Status validate_event(std::string_view event_json);

struct Explanation {
  bool matched = false;
  // Empty when matched. Otherwise one line per failed $or combination (one line without $or),
  // naming the field and the condition, e.g.
  //   detail.findings.Workflow.Status: "NOTIFIED" is not one of ["NEW"]
  //   detail.x: the field is missing; the pattern needs [{"prefix": "a"}]
  std::string reason;
};

// One rule to compile: caller's id and the pattern text (only read during compile()).
struct RuleSpec {
  uint32_t id = 0;
  std::string_view pattern_json;
};

// All rules of a bus compiled into one immutable matcher: an index over the field paths the rules
// name (the event's bytes are scanned once, lazily: only those fields are extracted, the rest is
// skipped, and the scan stops as soon as the rest of the event cannot name them) and,
// per field, flat hash tables over the values (exact, ignore-case) and over the literal prefixes
// and suffixes (prefix, suffix, wildcard literal ends: one probe per distinct literal length). A
// value looks up the conditions it satisfies; each rule is anchored at its most selective condition
// and checked only when that condition was hit, so the cost follows the event, not the rule count
// (rules made only of exists:false are checked on every event). Operators that exclude
// (anything-but), ranges (numeric, cidr), exists:true and wildcards with no literal prefix or
// suffix are evaluated per value of their field: their cost grows with the number of such matchers
// on that one field.
//
// Thread safety: immutable after compile(); match() may be called from any number of threads at
// once. Each thread keeps its own scratch state (buffers), reused across calls
// and matchers: after warm-up, match() does not allocate.
class Matcher {
 public:
  // Compiles `rules`. Ids need not be unique or dense (equal ids are reported once). Errors:
  // kInvalidArgument "rule <id>: <validate_pattern message>" for the first invalid pattern.
  // Cost: about linear in total pattern size (100,000 simple rules compile in well under a second).
  static Result<std::unique_ptr<const Matcher>> compile(std::span<const RuleSpec> rules);
  static Result<std::unique_ptr<const Matcher>> compile(std::initializer_list<RuleSpec> rules) {
    return compile(std::span<const RuleSpec>(rules.begin(), rules.size()));
  }

  ~Matcher();
  Matcher(const Matcher&) = delete;
  Matcher& operator=(const Matcher&) = delete;

  // Replaces `rule_ids` with the ids of the rules matching `event_json`, ascending, no duplicates.
  // Errors: kInvalidArgument when the event is not a JSON object, when malformed JSON is met
  // on the way, when it nests too deep on a named path, or when it exceeds the array-consistency
  // budget (docs/event-patterns.md §10). All are properties of the event: retrying does not help.
  // Parts of the event that no rule names are skipped structurally, not validated, and the text
  // after the point where the scan may stop is not read at all (call validate_event first where
  // strictness matters). Nothing refers to the event text after the call.
  Status match(std::string_view event_json, std::vector<uint32_t>& rule_ids) const;

  size_t rule_count() const;
  // Approximate heap bytes held by the compiled structures.
  size_t memory_bytes() const;

  struct Impl;

 private:
  friend Result<Explanation> explain(std::string_view pattern_json, std::string_view event_json);
  explicit Matcher(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Convenience: does one pattern match one event? Validates both fully first. Errors:
// kInvalidArgument with "pattern: ..." or "event: ..." prefixes telling which input is at fault.
Result<bool> matches(std::string_view pattern_json, std::string_view event_json);

// Explains why a pattern does not match an event (same errors as matches()). Meant for humans
// debugging rules (CLI --explain, admin API), not for the hot path.
Result<Explanation> explain(std::string_view pattern_json, std::string_view event_json);

}  // namespace hikyaku::pattern
