#pragma once
// The compiled matcher's data structures (Matcher::Impl) and the per-event state of one match
// (Scratch, Run), shared by the three halves of the matcher:
//   matcher_compile.cc — pattern text -> Impl (intern fields, matchers, conditions; anchors);
//   matcher_match.cc   — Run: the values the walk reports (internal/event_scan.h) are looked up
//                        in their field's tables (stage "lookup"), then candidates are verified;
//   matcher_explain.cc — one pattern against one event, and why it does not match.
//
// The stages of a match (simdjson's habit of naming them):
//   1. walk   — a lazy scan of the event bytes along the path index (internal/event_scan.h); only
//               fields some rule names are extracted, each with its array context (which element
//               of which array); the rest is skipped, and the scan stops once nothing later can
//               matter.
//   2. lookup — each extracted value is looked up in its field's value index; every matcher it
//               satisfies "hits" that matcher's conditions; the first hit of a condition makes the
//               sub-rules anchored there (each sub-rule is anchored at its most selective positive
//               condition) candidates.
//   3. verify — after the walk, a candidate is confirmed when all its positive conditions were
//               hit and one array-consistent choice of values exists (docs/event-patterns.md §3)
//               that also satisfies its exists:false conditions. Sub-rules with no positive
//               condition are always verified. (matcher_verify.cc: a short backtracking search
//               settles the usual few-values case; otherwise one pass over the values in event
//               order decides it in linear time; the backtracking search, under a per-event step
//               budget, remains only for events whose arrays sit under duplicate or dotted keys.)
//
// Thread safety: an Impl is immutable after Matcher::compile(); a Scratch (and the Run using it)
// belongs to one thread.

#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "pattern/internal/event_scan.h"
#include "pattern/internal/parse.h"
#include "pattern/internal/value_table.h"
#include "pattern/internal/values.h"
#include "pattern/pattern.h"

namespace hikyaku::pattern {
namespace internal {

using MKind = MatcherSpec::Kind;

// Everything a matcher needs beyond its kind (kept out of line to keep simple rules small).
struct MatcherExtra {
  Wildcard wildcard;
  CaseAlternatives alts;
  std::vector<std::string> list;  // anything-but strings, number keys, prefixes, suffixes
  std::vector<Wildcard> wildcards;
  std::vector<CaseAlternatives> alt_list;
  double lo = 0, hi = 0;
  bool has_lo = false, has_hi = false, lo_inclusive = false, hi_inclusive = false;
  CidrRange cidr;
};

// One distinct element of a leaf array (per field): interned, so rules that repeat it share it.
struct CompiledMatcher {
  MKind kind;
  uint32_t field;
  std::vector<uint32_t> conds;  // the conditions it is an alternative of
  std::unique_ptr<MatcherExtra> extra;
  std::string json;  // as written, for explain
};

// Per field path: the tables its values are looked up in.
struct FieldIndex {
  std::string path;
  bool ip_sensitive = false;  // some exact string looks like an IP, or a cidr: parse IPs
  ValueTable exact;           // kind tag + value -> mids (see Run::lookup())
  ValueTable ignore_case;     // ASCII-lowered -> mids
  AffixTable prefix{AffixTable::Side::kPrefix};
  AffixTable suffix{AffixTable::Side::kSuffix};
  AffixTable prefix_ic{AffixTable::Side::kPrefix};  // ASCII-lowered
  AffixTable suffix_ic{AffixTable::Side::kSuffix};
  std::vector<uint32_t> scan;  // evaluated for every value of the field

  // After the last matcher is indexed: lays the tables out for matching.
  void freeze() {
    for (ValueTable* t : {&exact, &ignore_case}) {
      t->freeze();
    }
    for (AffixTable* t : {&prefix, &suffix, &prefix_ic, &suffix_ic}) {
      t->freeze();
    }
  }
};

// One field of a sub-rule: the OR of its leaf array's matchers. Interned across rules.
struct Condition {
  uint32_t field;
  std::vector<uint32_t> mids;  // OR-ed (exists:false included)
  bool negative = false;       // contains exists:false: may hold with no value at all
  // Sub-rules anchored here: each sub-rule is listed under exactly one of its positive
  // conditions, the one shared by the fewest sub-rules, so a condition common to many rules
  // (source = "aws.ec2") does not make every event touch all of them.
  std::vector<uint32_t> sub_rules;
};

// One $or combination of a rule: the AND of its conditions.
struct SubRuleC {
  uint32_t rule;                // index into rule_ids
  uint32_t need;                // number of positive conditions
  std::vector<uint32_t> conds;  // positive first, then negative
};

}  // namespace internal

struct Matcher::Impl {
  std::vector<uint32_t> rule_ids;
  internal::PathIndex paths;  // the walk's index; each field's node carries the field id
  std::vector<internal::FieldIndex> fields;
  std::vector<internal::CompiledMatcher> matchers;
  std::vector<internal::Condition> conds;
  std::vector<internal::SubRuleC> sub_rules;
  std::vector<uint32_t> always_check;  // sub-rules with no positive condition

  // compile-time interning, emptied once compiled
  internal::StringMap<uint32_t> matcher_ids;
  internal::StringMap<uint32_t> cond_ids;

  uint32_t intern_field(const std::string& path);
  uint32_t intern_matcher(uint32_t field, const internal::MatcherSpec& spec);
  void index_matcher(uint32_t mid, const internal::MatcherSpec& spec);
  Status add_rule(uint32_t rule_index, std::string_view pattern_json);
  void choose_anchors();
};

namespace internal {

// ---- per-event state ----

// A value the walk reported, as stored for lookup and verification.
struct EventValue {
  static constexpr uint32_t kIpUnknown = 0xFFFFFFFFu;  // not parsed yet
  static constexpr uint32_t kNotIp = 0xFFFFFFFEu;
  std::string_view text;  // string bytes / number literal
  double number;          // the correctly rounded double (when number_ok)
  uint32_t field;
  uint32_t element;        // innermost array element (WalkScratch::elements), or kNone
  uint32_t depth;          // arrays around it (0: outside every array)
  uint32_t next_in_field;  // the previous value of the same field, or kNone
  uint32_t ip;             // index into Scratch::ips, or kIpUnknown / kNotIp
  ValueType type;
  bool number_ok;     // false: out of double range (1e309): literal matching only
  int8_t comparable;  // §2 comparability, computed on first need (-1 = not yet)
};

// A value that satisfied a condition; the hits of one condition form a list through `next`.
struct Hit {
  uint32_t value;
  uint32_t next;
};

// Work limits of stage 3 (docs/event-patterns.md §10).
// The backtracking search is tried first on each candidate with this many steps (a step: one
// value compared with the values chosen so far); if it has not decided by then, the linear pass
// decides.
inline constexpr uint64_t kQuickSearchSteps = 256;
// Steps one event may spend in the backtracking search after the linear pass found the event's
// shape outside its scope (a field with values in two arrays, or directly and in an array, under
// one element: duplicate or dotted keys). Past it, the event fails to match with an error.
inline constexpr uint64_t kArraySearchBudget = 2'000'000;

// A set of conditions of one sub-rule, by position in SubRuleC::conds (at most 256 fields).
struct CondSet {
  static constexpr size_t kWords = 4;
  uint64_t w[kWords] = {};

  void set(uint32_t i) { w[i / 64] |= uint64_t{1} << (i % 64); }
  bool has(uint32_t i) const { return (w[i / 64] >> (i % 64) & 1) != 0; }
  bool none() const { return (w[0] | w[1] | w[2] | w[3]) == 0; }
  bool intersects(const CondSet& o) const {
    return ((w[0] & o.w[0]) | (w[1] & o.w[1]) | (w[2] & o.w[2]) | (w[3] & o.w[3])) != 0;
  }
  CondSet operator&(const CondSet& o) const {
    return {{w[0] & o.w[0], w[1] & o.w[1], w[2] & o.w[2], w[3] & o.w[3]}};
  }
  CondSet operator|(const CondSet& o) const {
    return {{w[0] | o.w[0], w[1] | o.w[1], w[2] | o.w[2], w[3] | o.w[3]}};
  }
  CondSet without(const CondSet& o) const {
    return {{w[0] & ~o.w[0], w[1] & ~o.w[1], w[2] & ~o.w[2], w[3] & ~o.w[3]}};
  }
  bool operator==(const CondSet& o) const = default;
};

// The linear pass (Run::decide): one open array element of the event, with what is known of the
// sub-rule's conditions inside it, and of the array it belongs to.
struct OpenElement {
  uint32_t element = kNone;  // WalkScratch::elements; kNone for the event's top level
  CondSet rel;               // conditions with a value in this element (at any depth)
  CondSet direct;            // ... directly in it, not in a nested array
  CondSet direct_hit;        // ... directly in it, satisfying the condition
  bool feasible = true;      // every nested array closed so far has a suitable element
  // Over the elements of pos.array closed so far:
  CondSet array_rel;      // their conditions
  CondSet array_pos;      // their positive conditions
  bool array_ok = false;  // one of them is feasible and holds every positive in array_pos
};

// One list of values the linear pass merges in event order: a condition's hits, or (for a
// condition with exists:false) every value of its field.
struct ValueStream {
  uint32_t value;   // current value (the lists run newest first)
  uint32_t cursor;  // hit index, or value index for a field's list
  uint32_t cond;    // position in the condition list
  bool hits;        // a hit list (each value satisfies the condition)
};

// Per-thread buffers, reused across events and matchers: after warm-up, a match allocates
// nothing. Per-condition/field/rule lists are stamped with `epoch` instead of being cleared.
struct Scratch {
  WalkScratch walk;
  std::vector<EventValue> values;
  std::vector<IpAddress> ips;  // parsed IP literals of string values (EventValue::ip)
  std::vector<Hit> hits;
  std::vector<uint32_t> cond_epoch, cond_head;
  std::vector<uint32_t> field_epoch, field_head;
  std::vector<uint32_t> rule_epoch;
  std::vector<uint32_t> candidates;
  std::vector<uint32_t> chosen;
  std::vector<uint8_t> absent;  // per condition of the sub-rule being verified
  std::vector<ValueStream> streams;
  std::vector<OpenElement> open;
  std::vector<uint32_t> path;   // elements a value sits in that are not open yet
  std::vector<uint32_t> conds;  // explain: a condition list of its own
  std::string key;              // lookup keys (kind tag + value)
  uint32_t epoch = 0;
  // Stage 3's work for the current event: every step of the search and every value (and array
  // level) of the linear pass counts one. Tests assert on it; only search steps after the quick
  // try count against kArraySearchBudget.
  uint64_t work = 0;
  uint64_t budget_used = 0;
  uint64_t step_limit = 0;  // the current search stops past it
  uint64_t steps = 0;
  bool aborted = false;
  uint64_t quick_steps = kQuickSearchSteps;  // tests lower it to exercise the linear pass

  // Sizes the stamped lists for `m` and forgets the previous event.
  void begin(const Matcher::Impl& m);
};

// kInvalidArgument: the event exceeded kArraySearchBudget.
Status array_budget_error();

// The scratch Matcher::match uses on the calling thread (tests read its work counter).
Scratch& thread_scratch();

// One match of one event against one compiled matcher: receives the walk's values (stage 2,
// lookup) and verifies the candidates afterwards (stage 3). Explain drives it too.
class Run final : public ValueSink {
 public:
  Run(const Matcher::Impl& m, Scratch& s) : m_(m), s_(s) {}

  // Stages 1 and 2. Errors as walk_event().
  Status walk(std::string_view event_json);
  // Stage 3: the ids of the matching rules into `out` (sorted, unique). Errors:
  // kInvalidArgument when the event exceeds kArraySearchBudget (out is then empty).
  Status collect(std::vector<uint32_t>& out);

  enum class Verdict : uint8_t { kNo, kYes, kOverBudget };
  // Whether one array-consistent choice satisfies conditions `conds` (the first `need`
  // positive, the rest containing exists:false), each positive one having a hit.
  Verdict satisfiable(std::span<const uint32_t> conds, uint32_t need);

  // After walk(): the newest hit of condition `c` (older ones through Hit::next), or kNone.
  uint32_t cond_hits(uint32_t c) const {
    return s_.cond_epoch[c] == s_.epoch ? s_.cond_head[c] : kNone;
  }
  // After walk(): the newest value of field `f` (older ones through next_in_field), or kNone.
  uint32_t field_values(uint32_t f) const {
    return s_.field_epoch[f] == s_.epoch ? s_.field_head[f] : kNone;
  }
  void on_value(const WalkedValue& value) override;

 private:
  Verdict verify(uint32_t sr_index);
  // The backtracking search, stopped (Scratch::aborted) past `limit` steps.
  Verdict search_within(std::span<const uint32_t> conds, uint32_t need, uint64_t limit);
  // Depth-first search for one array-consistent choice of values for conditions k.., extending
  // Scratch::chosen; true when one exists.
  bool search(std::span<const uint32_t> conds, uint32_t need, uint32_t k);
  // Value `v` can be combined with every value in Scratch::chosen (docs/event-patterns.md §3).
  bool consistent_with_chosen(uint32_t v) const;
  bool absents_hold(std::span<const uint32_t> conds, uint32_t need) const;
  bool absent_here(uint32_t field) const;
  // The linear pass: kYes/kNo, or kOverBudget when the event's shape is outside its scope.
  Verdict decide(std::span<const uint32_t> conds, uint32_t need);
  void push_stream(ValueStream stream);
  bool add_to_tree(uint32_t v, uint32_t cond, bool hit, const CondSet& positive);
  static void end_element(OpenElement& e, const CondSet& positive);
  bool close_top(const CondSet& positive);
  void lookup(uint32_t v);
  void lookup_string(const FieldIndex& f, uint32_t v);
  void lookup_number(const FieldIndex& f, uint32_t v);
  void fire(uint32_t mid, uint32_t v);
  void fire_all(std::span<const uint32_t> mids, uint32_t v) {
    for (uint32_t mid : mids) {
      fire(mid, v);
    }
  }
  void fire_affixes(const AffixTable& t, std::string_view bytes, uint32_t v);
  bool scan_matches(const CompiledMatcher& cm, EventValue& ev);
  const IpAddress* ip_of(EventValue& ev);

  const Matcher::Impl& m_;
  Scratch& s_;
};

}  // namespace internal
}  // namespace hikyaku::pattern
