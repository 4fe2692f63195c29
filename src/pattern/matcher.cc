// Compiler and matcher. Stages (simdjson's habit of naming them):
//   1. walk   — a lazy scan of the event bytes along the path index (internal/event_scan.h); only
//               fields some rule names are extracted, each with its array context (which element
//               of which array); the rest is skipped, and the scan stops once nothing later can
//               matter.
//   2. lookup — each extracted value is looked up in its field's value index; every matcher it
//               satisfies "hits" that matcher's conditions; the first hit of a condition makes the
//               sub-rules anchored there (each sub-rule is anchored at its most selective positive
//               condition) candidates.
//   3. verify — after the walk, a candidate is confirmed when all its positive conditions were
//               hit and one array-consistent choice of values exists (§3) that also satisfies its
//               exists:false conditions. Sub-rules with no positive condition are always verified.
#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "core/check.h"
#include "core/json_writer.h"
#include "pattern/internal/event_scan.h"
#include "pattern/internal/json_tree.h"
#include "pattern/internal/parse.h"
#include "pattern/internal/value_table.h"
#include "pattern/internal/values.h"
#include "pattern/pattern.h"

namespace hikyaku::pattern {

using internal::CaseAlternatives;
using internal::CaseMode;
using internal::CidrRange;
using internal::IpAddress;
using internal::MatcherSpec;
using internal::NumberInfo;
using internal::Wildcard;
using MKind = MatcherSpec::Kind;

namespace {

constexpr uint32_t kNone = 0xFFFFFFFFu;
// Nesting allowed on the paths rules name (the walk recurses along them; elsewhere it skips
// iteratively, at any depth).
constexpr uint32_t kMaxEventDepth = 1000;

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <typename V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

}  // namespace

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

struct CompiledMatcher {
  MKind kind;
  uint32_t field;
  std::vector<uint32_t> conds;
  std::unique_ptr<MatcherExtra> extra;
  std::string json;  // as written, for explain
};

struct FieldIndex {
  std::string path;
  bool ip_sensitive = false;   // some exact string looks like an IP, or a cidr: parse event IPs
  internal::ValueTable exact;  // kind tag + value -> mids (see lookup())
  internal::ValueTable ignore_case;  // ASCII-lowered -> mids
  internal::AffixTable prefix{internal::AffixTable::Side::kPrefix};
  internal::AffixTable suffix{internal::AffixTable::Side::kSuffix};
  internal::AffixTable prefix_ic{internal::AffixTable::Side::kPrefix};  // ASCII-lowered
  internal::AffixTable suffix_ic{internal::AffixTable::Side::kSuffix};
  std::vector<uint32_t> scan;  // evaluated for every value of the field

  // After the last matcher is indexed: lays the tables out for matching.
  void freeze() {
    for (internal::ValueTable* t : {&exact, &ignore_case}) {
      t->freeze();
    }
    for (internal::AffixTable* t : {&prefix, &suffix, &prefix_ic, &suffix_ic}) {
      t->freeze();
    }
  }
};

struct PathNode {
  uint32_t field = kNone;
  StringMap<uint32_t> children;
  // For the early stop: this node's bit among its parent's children (64: none), and the bits of
  // all children (0 when there are more than 64: such an object is always read to its end).
  uint8_t bit = 64;
  uint64_t child_bits = 0;
  // The same children as a flat list while there are few: a linear scan beats hashing.
  static constexpr size_t kSmall = 8;
  std::vector<std::pair<std::string, uint32_t>> small;

  uint32_t find(std::string_view key) const {
    if (children.size() <= kSmall) {
      for (const auto& [k, child] : small) {
        // Most keys differ in length or first byte: decided before calling memcmp.
        if (k.size() == key.size() &&
            (key.empty() ||
             (k[0] == key[0] && std::memcmp(k.data(), key.data(), key.size()) == 0))) {
          return child;
        }
      }
      return kNone;
    }
    auto it = children.find(key);
    return it == children.end() ? kNone : it->second;
  }
};

struct Condition {
  uint32_t field;
  std::vector<uint32_t> mids;  // OR-ed (exists:false included)
  bool negative = false;       // contains exists:false: may hold with no value at all
  // Sub-rules anchored here: each sub-rule is listed under exactly one of its positive
  // conditions, the one shared by the fewest sub-rules, so a condition common to many rules
  // (source = "aws.ec2") does not make every event touch all of them.
  std::vector<uint32_t> sub_rules;
};

struct SubRuleC {
  uint32_t rule;                // index into rule_ids
  uint32_t need;                // number of positive conditions
  std::vector<uint32_t> conds;  // positive first, then negative
};

struct Matcher::Impl {
  std::vector<uint32_t> rule_ids;
  std::vector<PathNode> nodes{1};
  std::vector<FieldIndex> fields;
  std::vector<CompiledMatcher> matchers;
  std::vector<Condition> conds;
  std::vector<SubRuleC> sub_rules;
  std::vector<uint32_t> always_check;  // sub-rules with no positive condition
  internal::KeyNeedles key_needles;    // every path segment: when the walk may stop early

  // compile-time interning
  StringMap<uint32_t> matcher_ids;
  StringMap<uint32_t> cond_ids;

  uint32_t intern_field(const std::string& path);
  uint32_t intern_matcher(uint32_t field, const MatcherSpec& spec);
  void index_matcher(uint32_t mid, const MatcherSpec& spec);
  Status add_rule(uint32_t rule_index, std::string_view pattern_json);
  void choose_anchors();
};

namespace {

// ---- per-thread scratch ----

struct ArrayPos {
  uint32_t array;
  uint32_t index;
};

struct EventValue {
  enum class Type : uint8_t { kString, kNumber, kTrue, kFalse, kNull };
  static constexpr uint32_t kIpUnknown = 0xFFFFFFFFu;  // not parsed yet
  static constexpr uint32_t kNotIp = 0xFFFFFFFEu;
  std::string_view text;  // string bytes / number literal
  double number;          // the correctly rounded double (when number_ok)
  uint32_t field;
  uint32_t ctx_off, ctx_len;
  uint32_t next_in_field;
  uint32_t ip;  // index into Scratch::ips, or kIpUnknown / kNotIp
  Type type;
  bool number_ok;     // false: out of double range (1e309): literal matching only
  int8_t comparable;  // §2 comparability, computed on first need (-1 = not yet)
};

struct Hit {
  uint32_t value;
  uint32_t next;
};

// An object open on the walk's path: which named children it has read.
struct Frame {
  uint64_t need;     // PathNode::child_bits
  uint64_t seen;     // read completely
  uint64_t pending;  // being read now
};

struct Scratch {
  std::string decoded;  // unescaped string values of the current event
  std::vector<Frame> frames;
  std::vector<EventValue> values;
  std::vector<IpAddress> ips;  // parsed IP literals of string values (EventValue::ip)
  std::vector<ArrayPos> ctx_stack;
  std::vector<ArrayPos> ctx_buf;
  std::vector<Hit> hits;
  std::vector<uint32_t> cond_epoch, cond_head;
  std::vector<uint32_t> field_epoch, field_head;
  std::vector<uint32_t> rule_epoch;
  std::vector<uint32_t> candidates;
  std::vector<uint32_t> chosen;
  std::vector<uint8_t> absent;  // per condition of the sub-rule being verified
  std::string key;              // lookup keys (kind tag + value)
  std::string event_key;        // an object key with escapes, decoded
  uint32_t epoch = 0;
  uint32_t next_array = 0;

  template <typename T>
  static void grow(std::vector<T>& v, size_t n) {
    if (v.size() < n) {
      v.resize(n, T{});
    }
  }
  void begin(const Matcher::Impl& m) {
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
    frames.clear();
    ctx_stack.clear();
    ctx_buf.clear();
    hits.clear();
    candidates.clear();
    next_array = 0;
  }
};

bool consistent(const Scratch& s, const EventValue& a, const EventValue& b) {
  uint32_t n = std::min(a.ctx_len, b.ctx_len);
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

}  // namespace

// ---- compile ----

uint32_t Matcher::Impl::intern_field(const std::string& path) {
  uint32_t node = 0;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    std::string_view seg = std::string_view(path).substr(
        start, dot == std::string::npos ? std::string::npos : dot - start);
    auto it = nodes[node].children.find(seg);
    uint32_t child;
    if (it == nodes[node].children.end()) {
      child = static_cast<uint32_t>(nodes.size());
      nodes[node].children.emplace(std::string(seg), child);
      const size_t index = nodes[node].children.size() - 1;
      if (nodes[node].children.size() <= PathNode::kSmall) {
        nodes[node].small.emplace_back(std::string(seg), child);
      } else {
        nodes[node].small = {};
      }
      nodes[node].child_bits = index < 64 ? nodes[node].child_bits | (uint64_t{1} << index) : 0;
      nodes.emplace_back();
      nodes.back().bit = index < 64 ? static_cast<uint8_t>(index) : 64;
      key_needles.add(seg);
    } else {
      child = it->second;
    }
    node = child;
    if (dot == std::string::npos) {
      break;
    }
    start = dot + 1;
  }
  if (nodes[node].field == kNone) {
    nodes[node].field = static_cast<uint32_t>(fields.size());
    fields.emplace_back();
    fields.back().path = path;
  }
  return nodes[node].field;
}

namespace {

std::string matcher_key(uint32_t field, const MatcherSpec& spec) {
  std::string key = std::to_string(field);
  key.push_back(':');
  key.push_back(static_cast<char>(spec.kind));
  key += spec.json;
  return key;
}

bool is_exact_kind(MKind k) {
  return k == MKind::kExactString || k == MKind::kExactNumber || k == MKind::kExactTrue ||
         k == MKind::kExactFalse || k == MKind::kExactNull;
}

}  // namespace

uint32_t Matcher::Impl::intern_matcher(uint32_t field, const MatcherSpec& spec) {
  std::string key = matcher_key(field, spec);
  auto it = matcher_ids.find(key);
  if (it != matcher_ids.end()) {
    return it->second;
  }
  auto mid = static_cast<uint32_t>(matchers.size());
  matcher_ids.emplace(std::move(key), mid);
  CompiledMatcher cm{spec.kind, field, {}, nullptr, spec.json};
  matchers.push_back(std::move(cm));
  index_matcher(mid, spec);
  return mid;
}

void Matcher::Impl::index_matcher(uint32_t mid, const MatcherSpec& spec) {
  CompiledMatcher& cm = matchers[mid];
  FieldIndex& f = fields[cm.field];
  auto extra = [&cm]() -> MatcherExtra& {
    if (!cm.extra) {
      cm.extra = std::make_unique<MatcherExtra>();
    }
    return *cm.extra;
  };
  std::string key;
  switch (spec.kind) {
    case MKind::kExactString:
      if (std::optional<IpAddress> ip = internal::parse_ip(spec.text)) {
        internal::append_ip_key(key, *ip);
        f.ip_sensitive = true;
      } else {
        key = "s" + spec.text;
      }
      f.exact.add(key, mid);
      return;
    case MKind::kExactly:
      f.exact.add("s" + spec.text, mid);
      return;
    case MKind::kExactNumber:
      internal::append_number_key(key, spec.text, spec.number);
      f.exact.add(key, mid);
      return;
    case MKind::kExactTrue:
      f.exact.add("t", mid);
      return;
    case MKind::kExactFalse:
      f.exact.add("f", mid);
      return;
    case MKind::kExactNull:
      f.exact.add("z", mid);
      return;
    case MKind::kPrefix:
      f.prefix.add(spec.text, mid);
      return;
    case MKind::kSuffix:
      f.suffix.add(spec.text, mid);
      return;
    case MKind::kEqualsIgnoreCase:
    case MKind::kPrefixIgnoreCase:
    case MKind::kSuffixIgnoreCase:
      if (internal::is_ascii(spec.text)) {
        internal::append_ascii_lower(key, spec.text);
        if (spec.kind == MKind::kEqualsIgnoreCase) {
          f.ignore_case.add(key, mid);
        } else if (spec.kind == MKind::kPrefixIgnoreCase) {
          f.prefix_ic.add(key, mid);
        } else {
          f.suffix_ic.add(key, mid);
        }
      } else {
        extra().alts = internal::case_alternatives(spec.text);
        f.scan.push_back(mid);
      }
      return;
    case MKind::kWildcard: {
      std::string error;
      extra().wildcard = *internal::parse_wildcard(spec.text, error);
      const Wildcard& w = cm.extra->wildcard;
      if (!w.leading_star) {
        f.prefix.add(w.segments.front(), mid);  // verified on hit
      } else if (!w.trailing_star && !w.segments.empty()) {
        f.suffix.add(w.segments.back(), mid);  // verified on hit
      } else {
        f.scan.push_back(mid);
      }
      return;
    }
    case MKind::kAnythingButStrings:
    case MKind::kAnythingButPrefix:
    case MKind::kAnythingButSuffix:
      extra().list = spec.list;
      f.scan.push_back(mid);
      return;
    case MKind::kAnythingButNumbers:
      for (const std::string& t : spec.list) {
        std::string k;
        internal::append_number_key(k, t, internal::analyze_number(t));
        extra().list.push_back(std::move(k));
      }
      f.scan.push_back(mid);
      return;
    case MKind::kAnythingButIgnoreCase:
      for (const std::string& t : spec.list) {
        extra().alt_list.push_back(internal::case_alternatives(t));
      }
      f.scan.push_back(mid);
      return;
    case MKind::kAnythingButWildcard:
      for (const std::string& t : spec.list) {
        std::string error;
        extra().wildcards.push_back(*internal::parse_wildcard(t, error));
      }
      f.scan.push_back(mid);
      return;
    case MKind::kNumeric: {
      MatcherExtra& x = extra();
      x.has_lo = spec.lo.has_value();
      x.has_hi = spec.hi.has_value();
      x.lo = spec.lo.value_or(0);
      x.hi = spec.hi.value_or(0);
      x.lo_inclusive = spec.lo_inclusive;
      x.hi_inclusive = spec.hi_inclusive;
      f.scan.push_back(mid);
      return;
    }
    case MKind::kCidr:
      extra().cidr = spec.cidr;
      f.ip_sensitive = true;
      f.scan.push_back(mid);
      return;
    case MKind::kExistsTrue:
      f.scan.push_back(mid);
      return;
    case MKind::kExistsFalse:
      return;  // never "hit": judged in verify
  }
}

Status Matcher::Impl::add_rule(uint32_t rule_index, std::string_view pattern_json) {
  HK_ASSIGN_OR_RETURN(std::vector<internal::SubRule> subs, internal::parse_pattern(pattern_json));
  std::string ckey;
  for (const internal::SubRule& sub : subs) {
    SubRuleC sr{rule_index, 0, {}};
    auto sr_index = static_cast<uint32_t>(sub_rules.size());
    std::vector<uint32_t> negatives;
    for (const internal::FieldSpec& fs : sub.fields) {
      uint32_t field = intern_field(fs.path);
      std::vector<uint32_t> mids;
      bool negative = false;
      for (const MatcherSpec& spec : fs.matchers) {
        mids.push_back(intern_matcher(field, spec));
        negative = negative || spec.kind == MKind::kExistsFalse;
      }
      std::sort(mids.begin(), mids.end());
      mids.erase(std::unique(mids.begin(), mids.end()), mids.end());
      ckey = std::to_string(field);
      for (uint32_t mid : mids) {
        ckey.push_back(',');
        ckey += std::to_string(mid);
      }
      uint32_t cid;
      auto it = cond_ids.find(ckey);
      if (it != cond_ids.end()) {
        cid = it->second;
      } else {
        cid = static_cast<uint32_t>(conds.size());
        cond_ids.emplace(ckey, cid);
        conds.push_back(Condition{field, mids, negative, {}});
        for (uint32_t mid : mids) {
          matchers[mid].conds.push_back(cid);
        }
      }
      if (negative) {
        negatives.push_back(cid);
      } else {
        sr.conds.push_back(cid);
        conds[cid].sub_rules.push_back(sr_index);
      }
    }
    sr.need = static_cast<uint32_t>(sr.conds.size());
    sr.conds.insert(sr.conds.end(), negatives.begin(), negatives.end());
    if (sr.need == 0) {
      always_check.push_back(sr_index);
    }
    sub_rules.push_back(std::move(sr));
  }
  return Status();
}

void Matcher::Impl::choose_anchors() {
  // add_rule listed every sub-rule under all its positive conditions; keep only the anchor.
  std::vector<uint32_t> anchor(sub_rules.size(), kNone);
  for (uint32_t sr = 0; sr < sub_rules.size(); ++sr) {
    const SubRuleC& s = sub_rules[sr];
    size_t best = SIZE_MAX;
    for (uint32_t k = 0; k < s.need; ++k) {
      size_t n = conds[s.conds[k]].sub_rules.size();
      if (n < best) {
        best = n;
        anchor[sr] = s.conds[k];
      }
    }
  }
  for (Condition& c : conds) {
    c.sub_rules.clear();
  }
  for (uint32_t sr = 0; sr < sub_rules.size(); ++sr) {
    if (anchor[sr] != kNone) {
      conds[anchor[sr]].sub_rules.push_back(sr);
    }
  }
  for (Condition& c : conds) {
    c.sub_rules.shrink_to_fit();
  }
}

Matcher::Matcher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Matcher::~Matcher() = default;

Result<std::unique_ptr<const Matcher>> Matcher::compile(std::span<const RuleSpec> rules) {
  auto impl = std::make_unique<Impl>();
  impl->rule_ids.reserve(rules.size());
  for (const RuleSpec& r : rules) {
    auto index = static_cast<uint32_t>(impl->rule_ids.size());
    impl->rule_ids.push_back(r.id);
    Status st = impl->add_rule(index, r.pattern_json);
    if (!st.ok()) {
      return invalid_argument("rule " + std::to_string(r.id) + ": " + st.message());
    }
  }
  impl->choose_anchors();
  for (FieldIndex& f : impl->fields) {
    f.freeze();
  }
  impl->key_needles.freeze();
  // Compile-time maps are not needed for matching.
  impl->matcher_ids = {};
  impl->cond_ids = {};
  return std::unique_ptr<const Matcher>(new Matcher(std::move(impl)));
}

size_t Matcher::rule_count() const { return impl_->rule_ids.size(); }

size_t Matcher::memory_bytes() const {
  const Impl& m = *impl_;
  size_t total = m.rule_ids.capacity() * sizeof(uint32_t) + m.nodes.capacity() * sizeof(PathNode);
  for (const PathNode& n : m.nodes) {
    total += n.children.size() * (sizeof(std::string) + 32) + n.children.bucket_count() * 8;
    for (const auto& [k, v] : n.children) {
      total += k.capacity() > 15 ? k.capacity() : 0;
    }
  }
  for (const FieldIndex& f : m.fields) {
    total += sizeof(FieldIndex) + f.prefix.memory() + f.suffix.memory() + f.prefix_ic.memory() +
             f.suffix_ic.memory() + f.scan.capacity() * 4;
    total += f.exact.memory() + f.ignore_case.memory();
  }
  for (const CompiledMatcher& cm : m.matchers) {
    total += sizeof(CompiledMatcher) + cm.conds.capacity() * 4 +
             (cm.json.capacity() > 15 ? cm.json.capacity() : 0) +
             (cm.extra ? sizeof(MatcherExtra) : 0);
  }
  for (const Condition& c : m.conds) {
    total += sizeof(Condition) + c.mids.capacity() * 4 + c.sub_rules.capacity() * 4;
  }
  for (const SubRuleC& s : m.sub_rules) {
    total += sizeof(SubRuleC) + s.conds.capacity() * 4;
  }
  return total;
}

// ---- match ----

namespace {

class Run {
 public:
  Run(const Matcher::Impl& m, Scratch& s) : m_(m), s_(s) {}

  Status walk(std::string_view event_json) {
    s_.begin(m_);
    // Decoded strings live here while the event is matched; nothing decodes to more bytes than
    // its escaped form, so reserving the event's size keeps every view into it stable.
    s_.decoded.clear();
    s_.decoded.reserve(event_json.size());
    begin_ = event_json.data();
    end_ = begin_ + event_json.size();
    p_ = begin_;
    skip_ws();
    if (p_ == end_) {
      return invalid_argument("event is not valid JSON: the input is empty");
    }
    if (*p_ != '{') {
      if (internal::skip_value(p_, end_) != nullptr) {
        return invalid_argument("event must be a JSON object");
      }
      return syntax_error("unexpected character");
    }
    if (!walk_object(0, 1) && !stopped_) {
      return failure_;
    }
    return Status();
  }

  // Collects matching rule ids into `out` (sorted, unique).
  void collect(std::vector<uint32_t>& out) {
    out.clear();
    auto consider = [&](uint32_t sr) {
      uint32_t rule = m_.sub_rules[sr].rule;
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

  bool verify(uint32_t sr_index) {
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

  uint32_t cond_hits(uint32_t c) const {
    return s_.cond_epoch[c] == s_.epoch ? s_.cond_head[c] : kNone;
  }
  uint32_t field_values(uint32_t f) const {
    return s_.field_epoch[f] == s_.epoch ? s_.field_head[f] : kNone;
  }

  bool consistent_with_chosen(uint32_t v) const {
    const EventValue& ev = s_.values[v];
    if (ev.ctx_len == 0) {
      return true;
    }
    for (uint32_t c : s_.chosen) {
      if (!consistent(s_, ev, s_.values[c])) {
        return false;
      }
    }
    return true;
  }

  // Depth-first search for one array-consistent choice (depth <= 256 fields per sub-rule).
  // Positive conditions pick one of their hits. Conditions that contain exists:false pick a
  // consistent hit of their other alternatives (which anchors its array element like any value)
  // or "absent", checked once the whole choice is known: no value of the field may be
  // consistent with the chosen values.
  bool search(const SubRuleC& sr, uint32_t k) {
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
        bool ok = search(sr, k + 1);
        s_.chosen.pop_back();
        return ok;
      }
    }
    for (uint32_t h = cond_hits(c); h != kNone; h = s_.hits[h].next) {
      uint32_t v = s_.hits[h].value;
      if (!consistent_with_chosen(v)) {
        continue;
      }
      s_.chosen.push_back(v);
      bool ok = search(sr, k + 1);
      s_.chosen.pop_back();
      if (ok) {
        return true;
      }
    }
    if (negative) {
      s_.absent[k] = 1;
      bool ok = search(sr, k + 1);
      s_.absent[k] = 0;
      return ok;
    }
    return false;
  }

  bool absents_hold(const SubRuleC& sr) const {
    for (size_t k = sr.need; k < sr.conds.size(); ++k) {
      if (s_.absent[k] != 0 && !absent_here(m_.conds[sr.conds[k]].field)) {
        return false;
      }
    }
    return true;
  }

  // No value of `field` is consistent with the chosen values.
  bool absent_here(uint32_t field) const {
    for (uint32_t v = field_values(field); v != kNone; v = s_.values[v].next_in_field) {
      if (consistent_with_chosen(v)) {
        return false;
      }
    }
    return true;
  }

  // For explain: a negative condition that cannot hold given the chosen values.
  bool negative_holds(uint32_t c) const {
    for (uint32_t h = cond_hits(c); h != kNone; h = s_.hits[h].next) {
      if (consistent_with_chosen(s_.hits[h].value)) {
        return true;
      }
    }
    return absent_here(m_.conds[c].field);
  }

 private:
  // `*dotted` tells whether the key had a dot.
  uint32_t child_of(uint32_t node, std::string_view key, bool* dotted) const {
    // Event keys may contain dots: "a.b" is the same path as a -> b.
    size_t dot = 0;
    while (dot < key.size() && key[dot] != '.') {
      ++dot;
    }
    *dotted = dot < key.size();
    size_t start = 0;
    while (true) {
      node = m_.nodes[node].find(key.substr(start, dot - start));
      if (node == kNone || dot == key.size()) {
        return node;
      }
      start = dot + 1;
      dot = key.find('.', start);
      dot = dot == std::string_view::npos ? key.size() : dot;
    }
  }

  // ---- the lazy walk ----
  // A recursive descent over the event bytes along the path index. Values no rule names are
  // skipped structurally. Each open object remembers which of the children rules name it has
  // read; once every open object has read all of them (outside any array) and the rest of the
  // event holds none of the named key segments, nothing later can change the outcome and the
  // walk stops there (for CityLots2's `properties.*` rules: before the 600-byte geometry).
  // The walk returns false on malformed JSON (failure_ says where) or at that early stop with
  // stopped_ set.

  void skip_ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) {
      ++p_;
    }
  }

  bool fail(const char* what) {
    failure_ = syntax_error(what);
    return false;
  }
  Status syntax_error(const char* what) const {
    return invalid_argument(std::string("event is not valid JSON: ") + what + " at offset " +
                            std::to_string(p_ - begin_));
  }

  // Reads the string at p_ (its opening quote); the view stays valid until the next event.
  bool read_string(std::string_view& out, std::string* decode_into) {
    bool escaped = false;
    const char* close = internal::find_string_end(p_ + 1, end_, &escaped);
    if (close == nullptr) {
      return fail("unterminated string");
    }
    std::string_view body(p_ + 1, static_cast<size_t>(close - p_ - 1));
    if (!escaped) {
      out = body;
    } else {
      size_t from = decode_into->size();
      if (const char* error = internal::decode_string(body, *decode_into)) {
        return fail(error);
      }
      out = std::string_view(decode_into->data() + from, decode_into->size() - from);
    }
    p_ = close + 1;
    return true;
  }

  bool skip_value() {
    const char* after = internal::skip_value(p_, end_);
    if (after == nullptr) {
      return fail(p_ == end_ ? "unexpected end" : "unterminated value");
    }
    p_ = after;
    return true;
  }

  bool may_stop_here() const {
    if (open_arrays_ != 0) {
      return false;
    }
    for (const Frame& f : s_.frames) {
      if (f.need == 0 || (f.seen | f.pending) != f.need) {
        return false;
      }
    }
    return !m_.key_needles.may_occur(p_, end_);
  }

  // p_ at '{' or '['. Steps inside; true when the container is empty (p_ then after it).
  bool open_is_empty(char closer) {
    ++p_;
    skip_ws();
    if (p_ < end_ && *p_ == closer) {
      ++p_;
      return true;
    }
    return false;
  }

  // After a member or element: `*more` says a ',' followed (p_ at the next item) or the container
  // closed (p_ after it). False on malformed JSON.
  bool next_item(char closer, bool* more) {
    skip_ws();
    if (p_ == end_) {
      return fail("unexpected end");
    }
    if (*p_ == ',' || *p_ == closer) {
      *more = *p_ == ',';
      ++p_;
      skip_ws();
      return true;
    }
    return fail(closer == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
  }

  // p_ at '{'.
  bool walk_object(uint32_t node, uint32_t depth) {
    if (open_is_empty('}')) {
      return true;
    }
    s_.frames.push_back(Frame{m_.nodes[node].child_bits, 0, 0});
    const size_t frame = s_.frames.size() - 1;
    for (bool more = true; more;) {
      if (p_ == end_ || *p_ != '"') {
        return fail(p_ == end_ ? "unexpected end" : "expected a key");
      }
      std::string_view key;
      s_.event_key.clear();
      if (!read_string(key, &s_.event_key)) {
        return false;
      }
      skip_ws();
      if (p_ == end_ || *p_ != ':') {
        return fail("expected ':'");
      }
      ++p_;
      skip_ws();
      if (p_ == end_) {
        return fail("unexpected end");
      }
      bool dotted = false;
      const uint32_t child = child_of(node, key, &dotted);
      if (child == kNone) {
        if (!skip_value()) {
          return false;
        }
      } else {
        // Only a plain key marks its child read: "a.b" may leave other children of a unread.
        const bool plain = !dotted && m_.nodes[child].bit < 64;
        const uint64_t bit = plain ? uint64_t{1} << m_.nodes[child].bit : 0;
        s_.frames[frame].pending = bit;
        if (!walk_value(child, depth + 1)) {
          return false;
        }
        s_.frames[frame].pending = 0;
        s_.frames[frame].seen |= bit;
        if (bit != 0 && s_.frames[frame].seen == s_.frames[frame].need && may_stop_here()) {
          stopped_ = true;
          return false;
        }
      }
      if (!next_item('}', &more)) {
        return false;
      }
    }
    s_.frames.pop_back();
    return true;
  }

  // p_ at the first byte of a value.
  bool walk_value(uint32_t node, uint32_t depth) {
    if (depth > kMaxEventDepth) {
      failure_ =
          invalid_argument("event nests deeper than " + std::to_string(kMaxEventDepth) + " levels");
      return false;
    }
    const PathNode& pn = m_.nodes[node];
    switch (*p_) {
      case '{':
        if (pn.children.empty()) {
          return skip_value();  // an object is never a leaf
        }
        return walk_object(node, depth);
      case '[':
        return walk_array(node, depth);
      case '"': {
        if (pn.field == kNone) {
          return skip_value();
        }
        std::string_view text;
        if (!read_string(text, &s_.decoded)) {
          return false;
        }
        record(pn.field, EventValue::Type::kString, text);
        return true;
      }
      case 't':
        return read_literal("true", pn.field, EventValue::Type::kTrue);
      case 'f':
        return read_literal("false", pn.field, EventValue::Type::kFalse);
      case 'n':
        return read_literal("null", pn.field, EventValue::Type::kNull);
      default:
        return read_number(pn.field);
    }
  }

  bool walk_array(uint32_t node, uint32_t depth) {
    if (open_is_empty(']')) {
      return true;
    }
    ++open_arrays_;
    s_.ctx_stack.push_back(ArrayPos{s_.next_array++, 0});
    const size_t slot = s_.ctx_stack.size() - 1;
    bool more = true;
    for (uint32_t index = 0; more; ++index) {
      if (p_ == end_) {
        return fail("unexpected end");
      }
      s_.ctx_stack[slot].index = index;
      if (!walk_value(node, depth + 1) || !next_item(']', &more)) {
        return false;
      }
    }
    s_.ctx_stack.pop_back();
    --open_arrays_;
    return true;
  }

  bool read_literal(std::string_view word, uint32_t field, EventValue::Type type) {
    if (static_cast<size_t>(end_ - p_) < word.size() ||
        std::memcmp(p_, word.data(), word.size()) != 0) {
      return fail("invalid literal");
    }
    p_ += word.size();
    if (field != kNone) {
      record(field, type, {});
    }
    return true;
  }

  bool read_number(uint32_t field) {
    const char* start = p_;
    internal::NumberToken token;
    const char* after = internal::scan_number(p_, end_, &token);
    if (after == nullptr) {
      return fail(p_ < end_ && (*p_ == '-' || (*p_ >= '0' && *p_ <= '9')) ? "invalid number"
                                                                          : "unexpected character");
    }
    p_ = after;
    std::string_view raw(start, static_cast<size_t>(after - start));
    if (field == kNone) {
      return true;
    }
    double d = token.value;
    bool ok =
        token.exact || std::from_chars(raw.data(), raw.data() + raw.size(), d).ec == std::errc();
    if (!ok) {
      // Out of double range (1e309) or underflow: analyze_number tells the two apart.
      internal::NumberInfo info = internal::analyze_number(raw);
      ok = info.comparable;
      d = info.value;
    }
    record(field, EventValue::Type::kNumber, raw, d, ok);
    return true;
  }

  void record(uint32_t field, EventValue::Type type, std::string_view text, double number = 0,
              bool number_ok = false) {
    auto v = static_cast<uint32_t>(s_.values.size());
    // Filled in place: building it on the stack and copying it stalled on store forwarding.
    EventValue& ev = s_.values.emplace_back();
    ev.text = text;
    ev.number = number == 0 ? 0.0 : number;  // -0 == 0
    ev.field = field;
    ev.ctx_off = static_cast<uint32_t>(s_.ctx_buf.size());
    ev.ctx_len = static_cast<uint32_t>(s_.ctx_stack.size());
    ev.next_in_field = field_values(field);
    ev.ip = EventValue::kIpUnknown;
    ev.type = type;
    ev.number_ok = number_ok;
    ev.comparable = -1;
    s_.ctx_buf.insert(s_.ctx_buf.end(), s_.ctx_stack.begin(), s_.ctx_stack.end());
    s_.field_epoch[field] = s_.epoch;
    s_.field_head[field] = v;
    lookup(v);
  }

  void fire(uint32_t mid, uint32_t v) {
    for (uint32_t c : m_.matchers[mid].conds) {
      bool first = s_.cond_epoch[c] != s_.epoch;
      auto h = static_cast<uint32_t>(s_.hits.size());
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

  void fire_all(std::span<const uint32_t> mids, uint32_t v) {
    for (uint32_t mid : mids) {
      fire(mid, v);
    }
  }

  static bool comparable(EventValue& ev) {
    if (ev.comparable < 0) {
      ev.comparable = ev.number_ok && internal::is_comparable(ev.text, ev.number) ? 1 : 0;
    }
    return ev.comparable == 1;
  }

  const IpAddress* ip_of(EventValue& ev) {
    if (ev.ip == EventValue::kIpUnknown) {
      std::optional<IpAddress> ip = internal::parse_ip(ev.text);
      ev.ip = ip ? static_cast<uint32_t>(s_.ips.size()) : EventValue::kNotIp;
      if (ip) {
        s_.ips.push_back(*ip);
      }
    }
    return ev.ip == EventValue::kNotIp ? nullptr : &s_.ips[ev.ip];
  }

  void lookup(uint32_t v) {
    EventValue& ev = s_.values[v];
    const FieldIndex& f = m_.fields[ev.field];
    std::string& key = s_.key;
    key.clear();
    switch (ev.type) {
      case EventValue::Type::kString: {
        if (!f.exact.empty()) {
          key.push_back('s');
          key.append(ev.text);
          fire_all(f.exact.find(key), v);
          if (f.ip_sensitive) {
            if (const IpAddress* ip = ip_of(ev)) {
              key.clear();
              internal::append_ip_key(key, *ip);
              fire_all(f.exact.find(key), v);
            }
          }
        }
        if (!f.ignore_case.empty() || !f.prefix_ic.empty() || !f.suffix_ic.empty()) {
          key.clear();
          internal::append_ascii_lower(key, ev.text);
          fire_all(f.ignore_case.find(key), v);
          fire_affixes(f.prefix_ic, key, v);
          fire_affixes(f.suffix_ic, key, v);
        }
        fire_affixes(f.prefix, ev.text, v);
        fire_affixes(f.suffix, ev.text, v);
        break;
      }
      case EventValue::Type::kNumber: {
        if (f.exact.empty()) {
          break;
        }
        // By value ('n' + double) when comparable, else by literal ('l' + text). The value key is
        // looked up first and comparability (costly for long literals) checked only on a hit.
        if (ev.number_ok) {
          internal::NumberInfo by_value{true, ev.number};
          internal::append_number_key(key, ev.text, by_value);
          std::span<const uint32_t> hits = f.exact.find(key);
          if (!hits.empty() && comparable(s_.values[v])) {
            fire_all(hits, v);
          }
          key.clear();
        }
        key.push_back('l');
        key.append(ev.text);
        fire_all(f.exact.find(key), v);
        break;
      }
      case EventValue::Type::kTrue:
      case EventValue::Type::kFalse:
      case EventValue::Type::kNull: {
        std::string_view k = ev.type == EventValue::Type::kTrue    ? "t"
                             : ev.type == EventValue::Type::kFalse ? "f"
                                                                   : "z";
        fire_all(f.exact.find(k), v);
        break;
      }
    }
    for (uint32_t mid : f.scan) {
      if (scan_matches(m_.matchers[mid], s_.values[v])) {
        fire(mid, v);
      }
    }
  }

  // Fires every matcher whose literal is a prefix (suffix) of `bytes`. Wildcards indexed by
  // their literal start (end) are verified against the whole value first.
  void fire_affixes(const internal::AffixTable& t, std::string_view bytes, uint32_t v) {
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

  bool scan_matches(const CompiledMatcher& cm, EventValue& ev) {
    const bool is_string = ev.type == EventValue::Type::kString;
    switch (cm.kind) {
      case MKind::kExistsTrue:
        return true;
      case MKind::kNumeric: {
        if (ev.type != EventValue::Type::kNumber || !ev.number_ok) {
          return false;
        }
        const MatcherExtra& x = *cm.extra;
        double d = ev.number;
        if (x.has_lo && (x.lo_inclusive ? d < x.lo : d <= x.lo)) {
          return false;
        }
        if (x.has_hi && (x.hi_inclusive ? d > x.hi : d >= x.hi)) {
          return false;
        }
        return comparable(ev);  // only comparable numbers satisfy a range (§6)
      }
      case MKind::kCidr: {
        if (!is_string) {
          return false;
        }
        const IpAddress* ip = ip_of(ev);
        return ip != nullptr && cm.extra->cidr.contains(*ip);
      }
      case MKind::kEqualsIgnoreCase:
      case MKind::kPrefixIgnoreCase:
      case MKind::kSuffixIgnoreCase:
        return is_string && internal::case_insensitive_match(
                                cm.extra->alts, ev.text,
                                cm.kind == MKind::kEqualsIgnoreCase   ? CaseMode::kExact
                                : cm.kind == MKind::kPrefixIgnoreCase ? CaseMode::kPrefix
                                                                      : CaseMode::kSuffix);
      case MKind::kWildcard:
        return is_string && cm.extra->wildcard.matches(ev.text);
      case MKind::kAnythingButStrings:
        if (!is_string) {
          return true;
        }
        for (const std::string& s : cm.extra->list) {
          if (s == ev.text) {
            return false;
          }
        }
        return true;
      case MKind::kAnythingButNumbers: {
        if (ev.type != EventValue::Type::kNumber) {
          return true;
        }
        s_.key.clear();
        internal::append_number_key(
            s_.key, ev.text, internal::NumberInfo{ev.number_ok && comparable(ev), ev.number});
        for (const std::string& k : cm.extra->list) {
          if (k == s_.key) {
            return false;
          }
        }
        return true;
      }
      case MKind::kAnythingButPrefix:
        if (!is_string) {
          return true;
        }
        for (const std::string& p : cm.extra->list) {
          if (ev.text.starts_with(p)) {
            return false;
          }
        }
        return true;
      case MKind::kAnythingButSuffix:
        if (!is_string) {
          return true;
        }
        for (const std::string& p : cm.extra->list) {
          if (ev.text.ends_with(p)) {
            return false;
          }
        }
        return true;
      case MKind::kAnythingButIgnoreCase:
        if (!is_string) {
          return true;
        }
        for (const CaseAlternatives& a : cm.extra->alt_list) {
          if (internal::case_insensitive_match(a, ev.text, CaseMode::kExact)) {
            return false;
          }
        }
        return true;
      case MKind::kAnythingButWildcard:
        if (!is_string) {
          return true;
        }
        for (const Wildcard& w : cm.extra->wildcards) {
          if (w.matches(ev.text)) {
            return false;
          }
        }
        return true;
      default:
        return false;  // indexed kinds never sit in the scan list
    }
  }

  const Matcher::Impl& m_;
  Scratch& s_;
  const char* begin_ = nullptr;
  const char* end_ = nullptr;
  const char* p_ = nullptr;
  uint32_t open_arrays_ = 0;
  bool stopped_ = false;
  Status failure_;

  friend struct Explainer;
};

Scratch& thread_scratch() {
  static thread_local Scratch scratch;
  return scratch;
}

}  // namespace

Status Matcher::match(std::string_view event_json, std::vector<uint32_t>& rule_ids) const {
  Scratch& s = thread_scratch();
  Run run(*impl_, s);
  Status st = run.walk(event_json);
  if (!st.ok()) {
    rule_ids.clear();
    return st;
  }
  run.collect(rule_ids);
  return Status();
}

// ---- convenience, validation, explain ----

Status validate_pattern(std::string_view pattern_json) {
  return internal::parse_pattern(pattern_json).status();
}

Status validate_event(std::string_view event_json) {
  Result<internal::JsonNode> root = internal::parse_json(event_json, kMaxEventDepth);
  if (!root) {
    return root.error();  // "invalid JSON at offset N: ..."
  }
  if (root->kind != internal::JsonNode::Kind::kObject) {
    return invalid_argument("event must be a JSON object");
  }
  return Status();
}

Result<bool> matches(std::string_view pattern_json, std::string_view event_json) {
  Status st = validate_pattern(pattern_json);
  if (!st.ok()) {
    return st.with_context("pattern");
  }
  st = validate_event(event_json);
  if (!st.ok()) {
    return st.with_context("event");
  }
  RuleSpec rule{0, pattern_json};
  HK_ASSIGN_OR_RETURN(auto matcher, Matcher::compile(std::span<const RuleSpec>(&rule, 1)));
  std::vector<uint32_t> ids;
  st = matcher->match(event_json, ids);
  if (!st.ok()) {
    return st.with_context("event");
  }
  return !ids.empty();
}

namespace {

void append_value_json(std::string& out, const EventValue& ev) {
  switch (ev.type) {
    case EventValue::Type::kString:
      append_json_string(out, ev.text);
      break;
    case EventValue::Type::kNumber:
      out.append(ev.text);
      break;
    case EventValue::Type::kTrue:
      out += "true";
      break;
    case EventValue::Type::kFalse:
      out += "false";
      break;
    case EventValue::Type::kNull:
      out += "null";
      break;
  }
}

}  // namespace

struct Explainer {
  const Matcher::Impl& m;
  Scratch& s;
  Run& run;

  std::string values_of(uint32_t field) const {
    std::vector<uint32_t> vs;
    for (uint32_t v = run.field_values(field); v != kNone; v = s.values[v].next_in_field) {
      vs.push_back(v);
    }
    std::reverse(vs.begin(), vs.end());
    std::string out;
    if (vs.size() != 1) {
      out.push_back('[');
    }
    for (size_t i = 0; i < vs.size(); ++i) {
      if (i > 0) {
        out += ", ";
      }
      append_value_json(out, s.values[vs[i]]);
    }
    if (vs.size() != 1) {
      out.push_back(']');
    }
    return out;
  }

  std::string condition_json(uint32_t c) const {
    std::string out = "[";
    const Condition& cond = m.conds[c];
    for (size_t i = 0; i < cond.mids.size(); ++i) {
      if (i > 0) {
        out += ", ";
      }
      out += m.matchers[cond.mids[i]].json;
    }
    out += "]";
    return out;
  }

  bool all_exact(uint32_t c) const {
    for (uint32_t mid : m.conds[c].mids) {
      if (!is_exact_kind(m.matchers[mid].kind)) {
        return false;
      }
    }
    return true;
  }

  std::string why(uint32_t sr_index) {
    const SubRuleC& sr = m.sub_rules[sr_index];
    for (uint32_t k = 0; k < sr.need; ++k) {
      uint32_t c = sr.conds[k];
      if (run.cond_hits(c) != kNone) {
        continue;
      }
      const Condition& cond = m.conds[c];
      const std::string& path = m.fields[cond.field].path;
      if (run.field_values(cond.field) == kNone) {
        return path + ": the field is missing (or has no scalar value); the pattern needs " +
               condition_json(c);
      }
      return path + ": " + values_of(cond.field) +
             (all_exact(c) ? " is not one of " : " does not match ") + condition_json(c);
    }
    s.chosen.clear();
    if (s.absent.size() < sr.conds.size()) {
      s.absent.resize(sr.conds.size(), 0);
    }
    if (run.search(sr, 0)) {
      return {};  // matches
    }
    // Positive conditions each have a value: either the array rule or a negative failed.
    s.chosen.clear();
    std::vector<std::string> paths;
    for (uint32_t k = 0; k < sr.need; ++k) {
      paths.push_back(m.fields[m.conds[sr.conds[k]].field].path);
    }
    // Find a choice of positive values ignoring negatives, to blame the negative.
    struct NoNeg {
      static bool search(Run& r, Scratch& sc, const SubRuleC& sub, uint32_t k) {
        if (k == sub.need) {
          return true;
        }
        for (uint32_t h = r.cond_hits(sub.conds[k]); h != kNone; h = sc.hits[h].next) {
          uint32_t v = sc.hits[h].value;
          if (!r.consistent_with_chosen(v)) {
            continue;
          }
          sc.chosen.push_back(v);
          if (search(r, sc, sub, k + 1)) {
            return true;
          }
          sc.chosen.pop_back();
        }
        return false;
      }
    };
    if (NoNeg::search(run, s, sr, 0)) {
      for (size_t k = sr.need; k < sr.conds.size(); ++k) {
        uint32_t c = sr.conds[k];
        if (!run.negative_holds(c)) {
          const Condition& cond = m.conds[c];
          return m.fields[cond.field].path + ": " + values_of(cond.field) +
                 " exists, but the pattern needs " + condition_json(c);
        }
      }
    }
    std::string joined;
    for (const std::string& p : paths) {
      joined += (joined.empty() ? "" : ", ") + p;
    }
    return "the fields " + joined +
           " each match, but only in different elements of the same array, and values from "
           "different array elements never combine";
  }
};

Result<Explanation> explain(std::string_view pattern_json, std::string_view event_json) {
  Status st = validate_pattern(pattern_json);
  if (!st.ok()) {
    return st.with_context("pattern");
  }
  st = validate_event(event_json);
  if (!st.ok()) {
    return st.with_context("event");
  }
  RuleSpec rule{0, pattern_json};
  HK_ASSIGN_OR_RETURN(auto matcher, Matcher::compile(std::span<const RuleSpec>(&rule, 1)));
  Scratch scratch;
  Run run(*matcher->impl_, scratch);
  st = run.walk(event_json);
  if (!st.ok()) {
    return st.with_context("event");
  }
  Explainer ex{*matcher->impl_, scratch, run};
  Explanation out;
  const auto& subs = matcher->impl_->sub_rules;
  std::vector<std::string> reasons;
  for (uint32_t i = 0; i < subs.size(); ++i) {
    std::string r = ex.why(i);
    if (r.empty()) {
      out.matched = true;
      return out;
    }
    reasons.push_back(std::move(r));
  }
  for (size_t i = 0; i < reasons.size(); ++i) {
    if (i > 0) {
      out.reason += "\n";
    }
    if (reasons.size() > 1) {
      out.reason += "$or combination " + std::to_string(i + 1) + ": ";
    }
    out.reason += reasons[i];
  }
  return out;
}

}  // namespace hikyaku::pattern
