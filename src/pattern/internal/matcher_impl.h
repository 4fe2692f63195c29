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
//               condition are always verified.
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
  uint32_t ctx_off, ctx_len;  // its array positions: Scratch::ctx_buf[ctx_off, +ctx_len)
  uint32_t next_in_field;     // the previous value of the same field, or kNone
  uint32_t ip;                // index into Scratch::ips, or kIpUnknown / kNotIp
  ValueType type;
  bool number_ok;     // false: out of double range (1e309): literal matching only
  int8_t comparable;  // §2 comparability, computed on first need (-1 = not yet)
};

// A value that satisfied a condition; the hits of one condition form a list through `next`.
struct Hit {
  uint32_t value;
  uint32_t next;
};

// Per-thread buffers, reused across events and matchers: after warm-up, a match allocates
// nothing. Per-condition/field/rule lists are stamped with `epoch` instead of being cleared.
struct Scratch {
  WalkScratch walk;
  std::vector<EventValue> values;
  std::vector<IpAddress> ips;  // parsed IP literals of string values (EventValue::ip)
  std::vector<ArrayPos> ctx_buf;
  std::vector<Hit> hits;
  std::vector<uint32_t> cond_epoch, cond_head;
  std::vector<uint32_t> field_epoch, field_head;
  std::vector<uint32_t> rule_epoch;
  std::vector<uint32_t> candidates;
  std::vector<uint32_t> chosen;
  std::vector<uint8_t> absent;  // per condition of the sub-rule being verified
  std::string key;              // lookup keys (kind tag + value)
  uint32_t epoch = 0;

  // Sizes the stamped lists for `m` and forgets the previous event.
  void begin(const Matcher::Impl& m);
};

// One match of one event against one compiled matcher: receives the walk's values (stage 2,
// lookup) and verifies the candidates afterwards (stage 3). Explain drives it too.
class Run final : public ValueSink {
 public:
  Run(const Matcher::Impl& m, Scratch& s) : m_(m), s_(s) {}

  // Stages 1 and 2. Errors as walk_event().
  Status walk(std::string_view event_json);
  // Stage 3: the ids of the matching rules into `out` (sorted, unique).
  void collect(std::vector<uint32_t>& out);

  // After walk(): the newest hit of condition `c` (older ones through Hit::next), or kNone.
  uint32_t cond_hits(uint32_t c) const {
    return s_.cond_epoch[c] == s_.epoch ? s_.cond_head[c] : kNone;
  }
  // After walk(): the newest value of field `f` (older ones through next_in_field), or kNone.
  uint32_t field_values(uint32_t f) const {
    return s_.field_epoch[f] == s_.epoch ? s_.field_head[f] : kNone;
  }
  // Value `v` can be combined with every value in Scratch::chosen (docs/event-patterns.md §3).
  bool consistent_with_chosen(uint32_t v) const;
  // Depth-first search for one array-consistent choice of values for conditions k.. of `sr`,
  // extending Scratch::chosen; true when one exists.
  bool search(const SubRuleC& sr, uint32_t k);
  // For explain: negative condition `c` can hold given the chosen values.
  bool negative_holds(uint32_t c) const;

  void on_value(const WalkedValue& value) override;

 private:
  bool verify(uint32_t sr_index);
  bool absents_hold(const SubRuleC& sr) const;
  bool absent_here(uint32_t field) const;
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
