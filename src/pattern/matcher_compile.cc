// Compiling rules into Matcher::Impl (internal/matcher_impl.h): each rule's pattern is parsed
// into sub-rules (internal/parse.h); their fields, matchers and conditions are interned so rules
// that share them share the index entries; each matcher is filed in its field's tables; finally
// each sub-rule is anchored at its most selective condition.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "pattern/internal/matcher_impl.h"
#include "pattern/pattern.h"

namespace hikyaku::pattern {

using internal::CompiledMatcher;
using internal::Condition;
using internal::FieldIndex;
using internal::IpAddress;
using internal::kNone;
using internal::MatcherExtra;
using internal::MatcherSpec;
using internal::MKind;
using internal::SubRuleC;
using internal::Wildcard;

uint32_t Matcher::Impl::intern_field(const std::string& path) {
  const uint32_t node = paths.add_path(path);
  if (paths.node(node).field == kNone) {
    paths.set_field(node, static_cast<uint32_t>(fields.size()));
    fields.emplace_back();
    fields.back().path = path;
  }
  return paths.node(node).field;
}

namespace {

std::string matcher_key(uint32_t field, const MatcherSpec& spec) {
  std::string key = std::to_string(field);
  key.push_back(':');
  key.push_back(static_cast<char>(spec.kind));
  key += spec.json;
  return key;
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
  impl->paths.freeze();
  // Compile-time maps are not needed for matching.
  impl->matcher_ids = {};
  impl->cond_ids = {};
  return std::unique_ptr<const Matcher>(new Matcher(std::move(impl)));
}

size_t Matcher::rule_count() const { return impl_->rule_ids.size(); }

size_t Matcher::memory_bytes() const {
  const Impl& m = *impl_;
  size_t total = m.rule_ids.capacity() * sizeof(uint32_t) + m.paths.memory_bytes();
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

}  // namespace hikyaku::pattern
