// Stage 3 of a match (internal/matcher_impl.h): does one array-consistent choice of values exist
// for a candidate sub-rule (docs/event-patterns.md §3, §7)?
//
// A backtracking search over the conditions' hits answers the usual case (a few values per field)
// in a few steps, but a rule naming two fields of one array of n objects makes it compare every
// hit of one with every hit of the other: n² steps, seconds for n = 26,000. So the search gets
// kQuickSearchSteps; a candidate it has not decided by then goes to the linear pass (decide()).
//
// The linear pass reads the conditions' values once, merged in event order, as a walk over the
// tree of array elements they sit in. For each element it keeps the set of conditions with a
// value inside it; an element is feasible when each of its nested arrays has a feasible element
// holding every positive condition found anywhere in that array (and each exists:false condition
// with a value directly in it has a satisfying value there). The event satisfies the sub-rule
// when its top level is feasible. That reasoning relies on the shape every well-formed event has:
// under one element, a field's values are either directly in it or all in one nested array. A
// field can break that only through duplicate or dotted keys ({"a":[..],"a":[..]}); the pass
// then gives up, and the backtracking search decides within kArraySearchBudget steps per event
// (past it the event fails with an error: such events can encode a satisfiability problem, so no
// exact method is fast on all of them).
//
// Cost of the pass: O(v·log c + e) for v values of the sub-rule's fields from c conditions, in e
// array elements.
#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "pattern/internal/matcher_impl.h"
#include "pattern/pattern.h"

namespace hikyaku::pattern::internal {
namespace {

// Values `a` and `b` may be combined: they are not in different elements of one array. Each
// element visited counts a step of the search.
bool consistent(Scratch& s, const EventValue& a, const EventValue& b) {
  const std::vector<ArrayElement>& el = s.walk.elements;
  uint32_t x = a.element;
  uint32_t y = b.element;
  if (x == kNone || y == kNone) {
    return true;
  }
  // The shallower path may be a prefix of the deeper: compare at the same depth.
  while (el[x].depth > el[y].depth) {
    x = el[x].parent;
    ++s.steps;
  }
  while (el[y].depth > el[x].depth) {
    y = el[y].parent;
    ++s.steps;
  }
  // Up to the outermost level where they differ: two elements of one array there conflict,
  // elements of different arrays combine (and so does everything inside them).
  while (x != y) {
    ++s.steps;
    const uint32_t px = el[x].parent;
    const uint32_t py = el[y].parent;
    if (px == py) {
      return el[x].pos.array != el[y].pos.array;
    }
    x = px;
    y = py;
  }
  return true;
}

// Counts `n` steps of the search; false (and the search aborted) past its limit.
bool spend(Scratch& s, uint64_t n) {
  s.steps += n;
  if (s.steps > s.step_limit) {
    s.aborted = true;
  }
  return !s.aborted;
}

bool stream_before(const ValueStream& a, const ValueStream& b) { return a.value < b.value; }

// Moves `stream` to its next (older) value; false when it has none left.
bool advance(const Scratch& s, ValueStream& stream) {
  const uint32_t next =
      stream.hits ? s.hits[stream.cursor].next : s.values[stream.cursor].next_in_field;
  if (next == kNone) {
    return false;
  }
  stream.cursor = next;
  stream.value = stream.hits ? s.hits[next].value : next;
  return true;
}

}  // namespace

Status array_budget_error() {
  return invalid_argument(
      "event is too costly to match: its arrays under duplicate or dotted keys need more than " +
      std::to_string(kArraySearchBudget) +
      " steps to decide which values combine (the limit per event)");
}

Status Run::collect(std::vector<uint32_t>& out) {
  out.clear();
  bool over_budget = false;
  auto consider = [&](uint32_t sr) {
    const uint32_t rule = m_.sub_rules[sr].rule;
    if (over_budget || s_.rule_epoch[rule] == s_.epoch) {
      return;
    }
    const Verdict verdict = verify(sr);
    if (verdict == Verdict::kYes) {
      s_.rule_epoch[rule] = s_.epoch;
      out.push_back(m_.rule_ids[rule]);
    }
    over_budget = verdict == Verdict::kOverBudget;
  };
  for (uint32_t sr : s_.candidates) {
    consider(sr);
  }
  for (uint32_t sr : m_.always_check) {
    consider(sr);
  }
  if (over_budget) {
    out.clear();
    return array_budget_error();
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return Status();
}

Run::Verdict Run::verify(uint32_t sr_index) {
  const SubRuleC& sr = m_.sub_rules[sr_index];
  if (sr.conds.size() == 1 && sr.need == 1) {
    return Verdict::kYes;  // its only condition is its anchor, which was hit
  }
  for (uint32_t k = 0; k < sr.need; ++k) {
    if (cond_hits(sr.conds[k]) == kNone) {
      return Verdict::kNo;  // cheap rejection before the search
    }
  }
  return satisfiable(sr.conds, sr.need);
}

Run::Verdict Run::satisfiable(std::span<const uint32_t> conds, uint32_t need) {
  Verdict verdict = search_within(conds, need, s_.quick_steps);
  if (verdict == Verdict::kOverBudget) {
    verdict = decide(conds, need);
  }
  if (verdict == Verdict::kOverBudget) {
    const uint64_t left =
        s_.budget_used < kArraySearchBudget ? kArraySearchBudget - s_.budget_used : 0;
    verdict = search_within(conds, need, left);
    s_.budget_used += s_.steps;
  }
  return verdict;
}

// ---- the backtracking search ----

Run::Verdict Run::search_within(std::span<const uint32_t> conds, uint32_t need, uint64_t limit) {
  s_.chosen.clear();
  if (s_.absent.size() < conds.size()) {
    s_.absent.resize(conds.size(), 0);
  }
  s_.step_limit = limit;
  s_.steps = 0;
  s_.aborted = false;
  const bool found = search(conds, need, 0);
  s_.work += s_.steps;
  return s_.aborted ? Verdict::kOverBudget : found ? Verdict::kYes : Verdict::kNo;
}

bool Run::consistent_with_chosen(uint32_t v) const {
  const EventValue& ev = s_.values[v];
  const bool ok = ev.depth == 0 || std::all_of(s_.chosen.begin(), s_.chosen.end(), [&](uint32_t c) {
                    return consistent(s_, ev, s_.values[c]);
                  });
  spend(s_, 1);
  return ok;
}

// Depth <= 256 fields per sub-rule. Positive conditions pick one of their hits. Conditions that
// contain exists:false pick a consistent hit of their other alternatives (which anchors its array
// element like any value) or "absent", checked once the whole choice is known: no value of the
// field may be consistent with the chosen values.
bool Run::search(std::span<const uint32_t> conds, uint32_t need, uint32_t k) {
  if (k == conds.size()) {
    return absents_hold(conds, need);
  }
  const uint32_t c = conds[k];
  const bool negative = k >= need;
  for (uint32_t h = cond_hits(c); h != kNone; h = s_.hits[h].next) {
    if (!spend(s_, 1)) {
      return false;
    }
    if (s_.values[s_.hits[h].value].depth == 0) {
      // A value outside every array combines with anything and constrains nothing: it
      // dominates every other option of this condition.
      s_.chosen.push_back(s_.hits[h].value);
      const bool ok = search(conds, need, k + 1);
      s_.chosen.pop_back();
      return ok;
    }
  }
  for (uint32_t h = cond_hits(c); h != kNone; h = s_.hits[h].next) {
    const uint32_t v = s_.hits[h].value;
    if (!consistent_with_chosen(v)) {
      if (s_.aborted) {
        return false;
      }
      continue;
    }
    s_.chosen.push_back(v);
    const bool ok = search(conds, need, k + 1);
    s_.chosen.pop_back();
    if (ok || s_.aborted) {
      return ok;
    }
  }
  if (negative) {
    s_.absent[k] = 1;
    const bool ok = search(conds, need, k + 1);
    s_.absent[k] = 0;
    return ok;
  }
  return false;
}

bool Run::absents_hold(std::span<const uint32_t> conds, uint32_t need) const {
  for (size_t k = need; k < conds.size(); ++k) {
    if (s_.absent[k] != 0 && !absent_here(m_.conds[conds[k]].field)) {
      return false;
    }
  }
  return true;
}

// No value of `field` is consistent with the chosen values.
bool Run::absent_here(uint32_t field) const {
  for (uint32_t v = field_values(field); v != kNone; v = s_.values[v].next_in_field) {
    if (consistent_with_chosen(v) || s_.aborted) {
      return false;
    }
  }
  return true;
}

// ---- the linear pass ----

Run::Verdict Run::decide(std::span<const uint32_t> conds, uint32_t need) {
  CondSet positive;
  for (uint32_t i = 0; i < need; ++i) {
    positive.set(i);
  }
  s_.streams.clear();
  for (uint32_t i = 0; i < conds.size(); ++i) {
    if (const uint32_t h = cond_hits(conds[i]); h != kNone) {
      push_stream(ValueStream{s_.hits[h].value, h, i, true});
    }
    if (i >= need) {
      if (const uint32_t v = field_values(m_.conds[conds[i]].field); v != kNone) {
        push_stream(ValueStream{v, v, i, false});
      }
    }
  }
  s_.open.clear();
  s_.open.emplace_back();  // the event's top level
  while (!s_.streams.empty()) {
    std::pop_heap(s_.streams.begin(), s_.streams.end(), stream_before);
    ValueStream& newest = s_.streams.back();
    if (!add_to_tree(newest.value, newest.cond, newest.hits, positive)) {
      return Verdict::kOverBudget;
    }
    if (advance(s_, newest)) {
      std::push_heap(s_.streams.begin(), s_.streams.end(), stream_before);
    } else {
      s_.streams.pop_back();
    }
  }
  while (s_.open.size() > 1) {
    if (!close_top(positive)) {
      return Verdict::kOverBudget;
    }
  }
  const OpenElement& top_level = s_.open[0];
  const bool ok = top_level.feasible && top_level.direct.without(top_level.direct_hit).none() &&
                  (top_level.rel & positive) == positive;
  return ok ? Verdict::kYes : Verdict::kNo;
}

void Run::push_stream(ValueStream stream) {
  s_.streams.push_back(stream);
  std::push_heap(s_.streams.begin(), s_.streams.end(), stream_before);
}

// Value `v` of condition `cond` (`hit`: it satisfies the condition): closes the elements the walk
// has left, opens the ones `v` sits in. Values arrive newest first, which visits the tree of
// array elements depth first like event order does. False when the shape is outside the pass's
// scope.
bool Run::add_to_tree(uint32_t v, uint32_t cond, bool hit, const CondSet& positive) {
  const std::vector<ArrayElement>& el = s_.walk.elements;
  std::vector<OpenElement>& open = s_.open;
  std::vector<uint32_t>& path = s_.path;
  // Up from the value's element to the first one open (open[k] is at depth k): the elements to
  // open, innermost first.
  path.clear();
  uint32_t n = s_.values[v].element;
  while (n != kNone && !(el[n].depth < open.size() && open[el[n].depth].element == n)) {
    path.push_back(n);
    n = el[n].parent;
  }
  const size_t d = n == kNone ? 0 : el[n].depth;
  s_.work += 1 + path.size();
  while (open.size() > d + 2) {
    if (!close_top(positive)) {
      return false;
    }
  }
  if (open.size() == d + 2) {
    if (!path.empty() && el[path.back()].pos.array == el[open[d + 1].element].pos.array) {
      // Another element of the same array: its state carries over, the element's does not.
      OpenElement& e = open[d + 1];
      end_element(e, positive);
      e.element = path.back();
      e.rel = e.direct = e.direct_hit = CondSet{};
      e.feasible = true;
      path.pop_back();
    } else if (!close_top(positive)) {
      return false;
    }
  }
  for (; !path.empty(); path.pop_back()) {
    open.emplace_back().element = path.back();
  }
  OpenElement& here = open.back();
  if (here.rel.has(cond) && !here.direct.has(cond)) {
    return false;  // values directly here and in a nested array
  }
  here.rel.set(cond);
  here.direct.set(cond);
  if (hit) {
    here.direct_hit.set(cond);
  }
  return true;
}

// Element `e` is complete: fold it into what is known of its array.
void Run::end_element(OpenElement& e, const CondSet& positive) {
  const CondSet mine = e.rel & positive;
  const CondSet all = e.array_pos | mine;
  if (!(all == e.array_pos)) {
    e.array_pos = all;
    e.array_ok = false;  // an element found earlier lacks a condition found now
  }
  // Feasible: its nested arrays each had a suitable element, and each exists:false condition
  // with a value directly here has a satisfying one here (others would combine with the choice).
  if (e.feasible && e.direct.without(e.direct_hit).none() && mine == e.array_pos) {
    e.array_ok = true;
  }
  e.array_rel = e.array_rel | e.rel;
}

// The innermost open array is complete: fold it into the element around it.
bool Run::close_top(const CondSet& positive) {
  std::vector<OpenElement>& open = s_.open;
  OpenElement& array = open.back();
  end_element(array, positive);
  OpenElement& parent = open[open.size() - 2];
  if (array.array_rel.intersects(parent.rel)) {
    return false;  // a condition with values in two places under one element
  }
  parent.rel = parent.rel | array.array_rel;
  parent.feasible = parent.feasible && array.array_ok;
  s_.work += 1;
  open.pop_back();
  return true;
}

}  // namespace hikyaku::pattern::internal
