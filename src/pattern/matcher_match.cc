// Matching one event (stage 2 of internal/matcher_impl.h): Run receives each value the walk finds
// (internal/event_scan.h), looks it up in its field's tables and records the conditions it hits.
// Stage 3, the verification of the candidate sub-rules, is in matcher_verify.cc.
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

}  // namespace

Scratch& thread_scratch() {
  static thread_local Scratch scratch;
  return scratch;
}

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
  hits.clear();
  candidates.clear();
  work = 0;
  budget_used = 0;
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
  ev.element = value.element;
  ev.depth = value.element == kNone ? 0 : s_.walk.elements[value.element].depth;
  ev.next_in_field = field_values(value.field);
  ev.ip = EventValue::kIpUnknown;
  ev.type = value.type;
  ev.number_ok = value.number_ok;
  ev.comparable = -1;
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

}  // namespace internal

Status Matcher::match(std::string_view event_json, std::vector<uint32_t>& rule_ids) const {
  internal::Run run(*impl_, internal::thread_scratch());
  Status st = run.walk(event_json);
  if (!st.ok()) {
    rule_ids.clear();
    return st;
  }
  return run.collect(rule_ids);
}

}  // namespace hikyaku::pattern
