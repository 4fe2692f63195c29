// Matching one event (stages 2 and 3 of internal/matcher_impl.h): Run receives each value the walk
// finds (internal/event_scan.h), looks it up in its field's tables and records the conditions it
// hits; afterwards each candidate sub-rule is verified by a search for one array-consistent
// choice of values.
#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "pattern/internal/matcher_impl.h"
#include "pattern/pattern.h"

namespace hikyaku::pattern {
namespace internal {
namespace {

template <typename T>
void grow(std::vector<T>& v, size_t n) {
  if (v.size() < n) {
    v.resize(n, T{});
  }
}

// Values `a` and `b` may be combined: they are not in different elements of one array.
bool consistent(const Scratch& s, const EventValue& a, const EventValue& b) {
  const uint32_t n = std::min(a.ctx_len, b.ctx_len);
  for (uint32_t k = 0; k < n; ++k) {
    const ArrayPos& x = s.ctx_buf[a.ctx_off + k];
    const ArrayPos& y = s.ctx_buf[b.ctx_off + k];
    if (x.array != y.array) {
      return true;  // different arrays from here down: nothing shared
    }
    if (x.index != y.index) {
      return false;
    }
  }
  return true;
}

// Only comparable numbers match by value and satisfy a range (docs/event-patterns.md §2, §6).
// Costly for long literals, so computed on first need.
bool comparable(EventValue& ev) {
  if (ev.comparable < 0) {
    ev.comparable = ev.number_ok && is_comparable(ev.text, ev.number) ? 1 : 0;
  }
  return ev.comparable == 1;
}

bool in_numeric_range(const MatcherExtra& x, EventValue& ev) {
  if (ev.type != ValueType::kNumber || !ev.number_ok) {
    return false;
  }
  const double d = ev.number;
  if (x.has_lo && (x.lo_inclusive ? d < x.lo : d <= x.lo)) {
    return false;
  }
  if (x.has_hi && (x.hi_inclusive ? d > x.hi : d >= x.hi)) {
    return false;
  }
  return comparable(ev);
}

CaseMode case_mode(MKind kind) {
  return kind == MKind::kEqualsIgnoreCase   ? CaseMode::kExact
         : kind == MKind::kPrefixIgnoreCase ? CaseMode::kPrefix
                                            : CaseMode::kSuffix;
}

// For the anything-but kinds on a string value: one of the excluded strings matches it.
bool string_excluded(const CompiledMatcher& cm, std::string_view text) {
  const MatcherExtra& x = *cm.extra;
  switch (cm.kind) {
    case MKind::kAnythingButStrings:
      return std::find(x.list.begin(), x.list.end(), text) != x.list.end();
    case MKind::kAnythingButPrefix:
      return std::any_of(x.list.begin(), x.list.end(),
                         [text](const std::string& p) { return text.starts_with(p); });
    case MKind::kAnythingButSuffix:
      return std::any_of(x.list.begin(), x.list.end(),
                         [text](const std::string& p) { return text.ends_with(p); });
    case MKind::kAnythingButIgnoreCase:
      return std::any_of(x.alt_list.begin(), x.alt_list.end(), [text](const CaseAlternatives& a) {
        return case_insensitive_match(a, text, CaseMode::kExact);
      });
    case MKind::kAnythingButWildcard:
      return std::any_of(x.wildcards.begin(), x.wildcards.end(),
                         [text](const Wildcard& w) { return w.matches(text); });
    default:
      return false;
  }
}

Scratch& thread_scratch() {
  static thread_local Scratch scratch;
  return scratch;
}

}  // namespace

void Scratch::begin(const Matcher::Impl& m) {
  grow(cond_epoch, m.conds.size());
  grow(cond_head, m.conds.size());
  grow(field_epoch, m.fields.size());
  grow(field_head, m.fields.size());
  grow(rule_epoch, m.rule_ids.size());
  if (++epoch == 0) {  // wrapped: forget every stamp
    std::fill(cond_epoch.begin(), cond_epoch.end(), 0);
    std::fill(field_epoch.begin(), field_epoch.end(), 0);
    std::fill(rule_epoch.begin(), rule_epoch.end(), 0);
    epoch = 1;
  }
  values.clear();
  ips.clear();
  ctx_buf.clear();
  hits.clear();
  candidates.clear();
}

Status Run::walk(std::string_view event_json) {
  s_.begin(m_);
  return walk_event(event_json, m_.paths, s_.walk, *this);
}

void Run::on_value(const WalkedValue& value) {
  const auto v = static_cast<uint32_t>(s_.values.size());
  // Filled in place: building it on the stack and copying it stalled on store forwarding.
  EventValue& ev = s_.values.emplace_back();
  ev.text = value.text;
  ev.number = value.number == 0 ? 0.0 : value.number;  // -0 == 0
  ev.field = value.field;
  ev.ctx_off = static_cast<uint32_t>(s_.ctx_buf.size());
  ev.ctx_len = static_cast<uint32_t>(value.arrays.size());
  ev.next_in_field = field_values(value.field);
  ev.ip = EventValue::kIpUnknown;
  ev.type = value.type;
  ev.number_ok = value.number_ok;
  ev.comparable = -1;
  s_.ctx_buf.insert(s_.ctx_buf.end(), value.arrays.begin(), value.arrays.end());
  s_.field_epoch[value.field] = s_.epoch;
  s_.field_head[value.field] = v;
  lookup(v);
}

// ---- stage 2: lookup ----
// The functions of this stage run for every value the walk reports (and the scan list for every
// matcher of the field). They are declared inline, and lookup() forced inline into on_value(), so
// that the compiler folds them into one function as before the split: called separately they
// cost about 3% more instructions on CityLots2's COMPLEX_ARRAYS set, which reports every
// coordinate of the geometry.

[[gnu::always_inline]] inline void Run::lookup(uint32_t v) {
  EventValue& ev = s_.values[v];
  const FieldIndex& f = m_.fields[ev.field];
  switch (ev.type) {
    case ValueType::kString:
      lookup_string(f, v);
      break;
    case ValueType::kNumber:
      lookup_number(f, v);
      break;
    case ValueType::kTrue:
      fire_all(f.exact.find("t"), v);
      break;
    case ValueType::kFalse:
      fire_all(f.exact.find("f"), v);
      break;
    case ValueType::kNull:
      fire_all(f.exact.find("z"), v);
      break;
  }
  for (uint32_t mid : f.scan) {
    if (scan_matches(m_.matchers[mid], s_.values[v])) {
      fire(mid, v);
    }
  }
}

inline void Run::lookup_string(const FieldIndex& f, uint32_t v) {
  EventValue& ev = s_.values[v];
  std::string& key = s_.key;
  if (!f.exact.empty()) {
    key.clear();
    key.push_back('s');
    key.append(ev.text);
    fire_all(f.exact.find(key), v);
    if (f.ip_sensitive) {
      if (const IpAddress* ip = ip_of(ev)) {
        key.clear();
        append_ip_key(key, *ip);
        fire_all(f.exact.find(key), v);
      }
    }
  }
  if (!f.ignore_case.empty() || !f.prefix_ic.empty() || !f.suffix_ic.empty()) {
    key.clear();
    append_ascii_lower(key, ev.text);
    fire_all(f.ignore_case.find(key), v);
    fire_affixes(f.prefix_ic, key, v);
    fire_affixes(f.suffix_ic, key, v);
  }
  fire_affixes(f.prefix, ev.text, v);
  fire_affixes(f.suffix, ev.text, v);
}

inline void Run::lookup_number(const FieldIndex& f, uint32_t v) {
  if (f.exact.empty()) {
    return;
  }
  std::string& key = s_.key;
  key.clear();
  // By value ('n' + double) when comparable, else by literal ('l' + text). The value key is
  // looked up first and comparability (costly for long literals) checked only on a hit.
  if (s_.values[v].number_ok) {
    append_number_key(key, s_.values[v].text, NumberInfo{true, s_.values[v].number});
    std::span<const uint32_t> hits = f.exact.find(key);
    if (!hits.empty() && comparable(s_.values[v])) {
      fire_all(hits, v);
    }
    key.clear();
  }
  key.push_back('l');
  key.append(s_.values[v].text);
  fire_all(f.exact.find(key), v);
}

inline void Run::fire(uint32_t mid, uint32_t v) {
  for (uint32_t c : m_.matchers[mid].conds) {
    const bool first = s_.cond_epoch[c] != s_.epoch;
    const auto h = static_cast<uint32_t>(s_.hits.size());
    s_.hits.push_back(Hit{v, first ? kNone : s_.cond_head[c]});
    s_.cond_epoch[c] = s_.epoch;
    s_.cond_head[c] = h;
    if (!first) {
      continue;
    }
    // Each sub-rule is anchored at one condition: it becomes a candidate once, when that
    // condition is first hit; verify() checks the others after the walk.
    s_.candidates.insert(s_.candidates.end(), m_.conds[c].sub_rules.begin(),
                         m_.conds[c].sub_rules.end());
  }
}

// Fires every matcher whose literal is a prefix (suffix) of `bytes`. Wildcards indexed by
// their literal start (end) are verified against the whole value first.
inline void Run::fire_affixes(const AffixTable& t, std::string_view bytes, uint32_t v) {
  if (t.empty()) {
    return;
  }
  t.for_each_match(bytes, [&](uint32_t mid) {
    const CompiledMatcher& cm = m_.matchers[mid];
    if (cm.kind != MKind::kWildcard || cm.extra->wildcard.matches(s_.values[v].text)) {
      fire(mid, v);
    }
  });
}

inline const IpAddress* Run::ip_of(EventValue& ev) {
  if (ev.ip == EventValue::kIpUnknown) {
    std::optional<IpAddress> ip = parse_ip(ev.text);
    ev.ip = ip ? static_cast<uint32_t>(s_.ips.size()) : EventValue::kNotIp;
    if (ip) {
      s_.ips.push_back(*ip);
    }
  }
  return ev.ip == EventValue::kNotIp ? nullptr : &s_.ips[ev.ip];
}

// The matchers that no table can index, evaluated per value of their field.
inline bool Run::scan_matches(const CompiledMatcher& cm, EventValue& ev) {
  const bool is_string = ev.type == ValueType::kString;
  switch (cm.kind) {
    case MKind::kExistsTrue:
      return true;
    case MKind::kNumeric:
      return in_numeric_range(*cm.extra, ev);
    case MKind::kCidr: {
      const IpAddress* ip = is_string ? ip_of(ev) : nullptr;
      return ip != nullptr && cm.extra->cidr.contains(*ip);
    }
    case MKind::kEqualsIgnoreCase:
    case MKind::kPrefixIgnoreCase:
    case MKind::kSuffixIgnoreCase:
      return is_string && case_insensitive_match(cm.extra->alts, ev.text, case_mode(cm.kind));
    case MKind::kWildcard:
      return is_string && cm.extra->wildcard.matches(ev.text);
    case MKind::kAnythingButNumbers: {
      if (ev.type != ValueType::kNumber) {
        return true;
      }
      s_.key.clear();
      append_number_key(s_.key, ev.text, NumberInfo{ev.number_ok && comparable(ev), ev.number});
      const std::vector<std::string>& keys = cm.extra->list;
      return std::find(keys.begin(), keys.end(), s_.key) == keys.end();
    }
    case MKind::kAnythingButStrings:
    case MKind::kAnythingButPrefix:
    case MKind::kAnythingButSuffix:
    case MKind::kAnythingButIgnoreCase:
    case MKind::kAnythingButWildcard:
      return !is_string || !string_excluded(cm, ev.text);
    default:
      return false;  // indexed kinds never sit in the scan list
  }
}

// ---- stage 3: verify ----

void Run::collect(std::vector<uint32_t>& out) {
  out.clear();
  auto consider = [&](uint32_t sr) {
    const uint32_t rule = m_.sub_rules[sr].rule;
    if (s_.rule_epoch[rule] == s_.epoch) {
      return;
    }
    if (verify(sr)) {
      s_.rule_epoch[rule] = s_.epoch;
      out.push_back(m_.rule_ids[rule]);
    }
  };
  for (uint32_t sr : s_.candidates) {
    consider(sr);
  }
  for (uint32_t sr : m_.always_check) {
    consider(sr);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
}

bool Run::verify(uint32_t sr_index) {
  const SubRuleC& sr = m_.sub_rules[sr_index];
  if (sr.conds.size() == 1 && sr.need == 1) {
    return true;  // its only condition is its anchor, which was hit
  }
  for (uint32_t k = 0; k < sr.need; ++k) {
    if (cond_hits(sr.conds[k]) == kNone) {
      return false;  // cheap rejection before the search
    }
  }
  s_.chosen.clear();
  if (s_.absent.size() < sr.conds.size()) {
    s_.absent.resize(sr.conds.size(), 0);
  }
  return search(sr, 0);
}

bool Run::consistent_with_chosen(uint32_t v) const {
  const EventValue& ev = s_.values[v];
  if (ev.ctx_len == 0) {
    return true;
  }
  return std::all_of(s_.chosen.begin(), s_.chosen.end(),
                     [&](uint32_t c) { return consistent(s_, ev, s_.values[c]); });
}

// Depth <= 256 fields per sub-rule. Positive conditions pick one of their hits. Conditions that
// contain exists:false pick a consistent hit of their other alternatives (which anchors its array
// element like any value) or "absent", checked once the whole choice is known: no value of the
// field may be consistent with the chosen values.
bool Run::search(const SubRuleC& sr, uint32_t k) {
  if (k == sr.conds.size()) {
    return absents_hold(sr);
  }
  const uint32_t c = sr.conds[k];
  const bool negative = k >= sr.need;
  for (uint32_t h = cond_hits(c); h != kNone; h = s_.hits[h].next) {
    if (s_.values[s_.hits[h].value].ctx_len == 0) {
      // A value outside every array combines with anything and constrains nothing: it
      // dominates every other option of this condition.
      s_.chosen.push_back(s_.hits[h].value);
      const bool ok = search(sr, k + 1);
      s_.chosen.pop_back();
      return ok;
    }
  }
  for (uint32_t h = cond_hits(c); h != kNone; h = s_.hits[h].next) {
    const uint32_t v = s_.hits[h].value;
    if (!consistent_with_chosen(v)) {
      continue;
    }
    s_.chosen.push_back(v);
    const bool ok = search(sr, k + 1);
    s_.chosen.pop_back();
    if (ok) {
      return true;
    }
  }
  if (negative) {
    s_.absent[k] = 1;
    const bool ok = search(sr, k + 1);
    s_.absent[k] = 0;
    return ok;
  }
  return false;
}

bool Run::absents_hold(const SubRuleC& sr) const {
  for (size_t k = sr.need; k < sr.conds.size(); ++k) {
    if (s_.absent[k] != 0 && !absent_here(m_.conds[sr.conds[k]].field)) {
      return false;
    }
  }
  return true;
}

// No value of `field` is consistent with the chosen values.
bool Run::absent_here(uint32_t field) const {
  for (uint32_t v = field_values(field); v != kNone; v = s_.values[v].next_in_field) {
    if (consistent_with_chosen(v)) {
      return false;
    }
  }
  return true;
}

bool Run::negative_holds(uint32_t c) const {
  for (uint32_t h = cond_hits(c); h != kNone; h = s_.hits[h].next) {
    if (consistent_with_chosen(s_.hits[h].value)) {
      return true;
    }
  }
  return absent_here(m_.conds[c].field);
}

}  // namespace internal

Status Matcher::match(std::string_view event_json, std::vector<uint32_t>& rule_ids) const {
  internal::Run run(*impl_, internal::thread_scratch());
  Status st = run.walk(event_json);
  if (!st.ok()) {
    rule_ids.clear();
    return st;
  }
  run.collect(rule_ids);
  return Status();
}

}  // namespace hikyaku::pattern
