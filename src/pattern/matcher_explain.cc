// One pattern against one event: validate_pattern, lint_pattern, validate_event, matches() and
// explain(). Not
// on the hot path: both inputs are validated fully, and explain walks the event with a scratch of
// its own, then asks each $or combination why it failed.
#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/json_writer.h"
#include "pattern/internal/json_tree.h"
#include "pattern/internal/matcher_impl.h"
#include "pattern/pattern.h"

namespace hikyaku::pattern {

using internal::Condition;
using internal::EventValue;
using internal::kNone;
using internal::MKind;
using internal::Run;
using internal::Scratch;
using internal::SubRuleC;
using internal::ValueType;

Status validate_pattern(std::string_view pattern_json) {
  return internal::parse_pattern(pattern_json).status();
}

Status validate_event(std::string_view event_json) {
  Result<internal::JsonNode> root = internal::parse_json(event_json, internal::kMaxEventDepth);
  if (!root) {
    return root.error();  // "invalid JSON at offset N: ..."
  }
  if (root->kind != internal::JsonNode::Kind::kObject) {
    return invalid_argument("event must be a JSON object");
  }
  return Status();
}

std::vector<std::string> lint_pattern(std::string_view pattern_json) {
  return internal::lint_pattern(pattern_json);
}

namespace {

// The preamble of matches() and explain(): both inputs valid, or an error that says which is not.
Status validate_both(std::string_view pattern_json, std::string_view event_json) {
  Status st = validate_pattern(pattern_json);
  if (!st.ok()) {
    return st.with_context("pattern");
  }
  st = validate_event(event_json);
  if (!st.ok()) {
    return st.with_context("event");
  }
  return Status();
}

Result<std::unique_ptr<const Matcher>> compile_one(std::string_view pattern_json) {
  const RuleSpec rule{0, pattern_json};
  return Matcher::compile(std::span<const RuleSpec>(&rule, 1));
}

}  // namespace

Result<bool> matches(std::string_view pattern_json, std::string_view event_json) {
  HK_RETURN_IF_ERROR(validate_both(pattern_json, event_json));
  HK_ASSIGN_OR_RETURN(auto matcher, compile_one(pattern_json));
  std::vector<uint32_t> ids;
  Status st = matcher->match(event_json, ids);
  if (!st.ok()) {
    return st.with_context("event");
  }
  return !ids.empty();
}

namespace {

bool is_exact_kind(MKind k) {
  return k == MKind::kExactString || k == MKind::kExactNumber || k == MKind::kExactTrue ||
         k == MKind::kExactFalse || k == MKind::kExactNull;
}

void append_value_json(std::string& out, const EventValue& ev) {
  switch (ev.type) {
    case ValueType::kString:
      append_json_string(out, ev.text);
      break;
    case ValueType::kNumber:
      out.append(ev.text);
      break;
    case ValueType::kTrue:
      out += "true";
      break;
    case ValueType::kFalse:
      out += "false";
      break;
    case ValueType::kNull:
      out += "null";
      break;
  }
}

// Why one sub-rule ($or combination) does not match a walked event.
class Explainer {
 public:
  Explainer(const Matcher::Impl& m, Scratch& s, Run& run) : m_(m), s_(s), run_(run) {}

  // Empty when sub-rule `sr_index` matches; else one line naming the field at fault. Errors:
  // the event exceeds the matcher's work budget (as Matcher::match).
  Result<std::string> why(uint32_t sr_index) {
    const SubRuleC& sr = m_.sub_rules[sr_index];
    for (uint32_t k = 0; k < sr.need; ++k) {
      if (run_.cond_hits(sr.conds[k]) == kNone) {
        return why_not_hit(sr.conds[k]);
      }
    }
    HK_ASSIGN_OR_RETURN(bool all, satisfiable(sr.conds, sr.need));
    if (all) {
      return std::string();  // matches
    }
    // Positive conditions each have a value: either the array rule or a negative failed. When
    // the positives alone combine, blame the first negative that cannot join them.
    const std::span<const uint32_t> positives(sr.conds.data(), sr.need);
    HK_ASSIGN_OR_RETURN(bool positives_combine, satisfiable(positives, sr.need));
    if (positives_combine) {
      for (size_t k = sr.need; k < sr.conds.size(); ++k) {
        std::vector<uint32_t>& conds = s_.conds;
        conds.assign(positives.begin(), positives.end());
        conds.push_back(sr.conds[k]);
        HK_ASSIGN_OR_RETURN(bool with_negative, satisfiable(conds, sr.need));
        if (!with_negative) {
          const uint32_t c = sr.conds[k];
          return path_of(c) + ": " + values_of(m_.conds[c].field) +
                 " exists, but the pattern needs " + condition_json(c);
        }
      }
    }
    std::string joined;
    for (uint32_t k = 0; k < sr.need; ++k) {
      joined += (k == 0 ? "" : ", ") + path_of(sr.conds[k]);
    }
    return "the fields " + joined +
           " each match, but only in different elements of the same array, and values from "
           "different array elements never combine";
  }

 private:
  const std::string& path_of(uint32_t c) const { return m_.fields[m_.conds[c].field].path; }

  std::string why_not_hit(uint32_t c) const {
    const Condition& cond = m_.conds[c];
    if (run_.field_values(cond.field) == kNone) {
      return path_of(c) + ": the field is missing (or has no scalar value); the pattern needs " +
             condition_json(c);
    }
    return path_of(c) + ": " + values_of(cond.field) +
           (all_exact(c) ? " is not one of " : " does not match ") + condition_json(c);
  }

  Result<bool> satisfiable(std::span<const uint32_t> conds, uint32_t need) {
    switch (run_.satisfiable(conds, need)) {
      case Run::Verdict::kYes:
        return true;
      case Run::Verdict::kNo:
        return false;
      case Run::Verdict::kOverBudget:
        break;
    }
    return internal::array_budget_error();
  }

  // The field's values in event order: one as itself, several as a JSON list.
  std::string values_of(uint32_t field) const {
    std::vector<uint32_t> vs;
    for (uint32_t v = run_.field_values(field); v != kNone; v = s_.values[v].next_in_field) {
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
      append_value_json(out, s_.values[vs[i]]);
    }
    if (vs.size() != 1) {
      out.push_back(']');
    }
    return out;
  }

  std::string condition_json(uint32_t c) const {
    std::string out = "[";
    const Condition& cond = m_.conds[c];
    for (size_t i = 0; i < cond.mids.size(); ++i) {
      if (i > 0) {
        out += ", ";
      }
      out += m_.matchers[cond.mids[i]].json;
    }
    out += "]";
    return out;
  }

  bool all_exact(uint32_t c) const {
    const std::vector<uint32_t>& mids = m_.conds[c].mids;
    return std::all_of(mids.begin(), mids.end(),
                       [this](uint32_t mid) { return is_exact_kind(m_.matchers[mid].kind); });
  }

  const Matcher::Impl& m_;
  Scratch& s_;
  Run& run_;
};

}  // namespace

Result<Explanation> explain(std::string_view pattern_json, std::string_view event_json) {
  HK_RETURN_IF_ERROR(validate_both(pattern_json, event_json));
  HK_ASSIGN_OR_RETURN(auto matcher, compile_one(pattern_json));
  Scratch scratch;
  Run run(*matcher->impl_, scratch);
  Status st = run.walk(event_json);
  if (!st.ok()) {
    return st.with_context("event");
  }
  Explainer explainer(*matcher->impl_, scratch, run);
  Explanation out;
  std::vector<std::string> reasons;
  for (uint32_t i = 0; i < matcher->impl_->sub_rules.size(); ++i) {
    Result<std::string> why = explainer.why(i);
    if (!why) {
      return why.error().with_context("event");
    }
    std::string reason = std::move(*why);
    if (reason.empty()) {
      out.matched = true;
      return out;
    }
    reasons.push_back(std::move(reason));
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
