// Array consistency (docs/event-patterns.md §3) at scale: the work of stage 3 (Scratch::work,
// internal/matcher_impl.h) grows linearly with the array, for every operator and every event
// shape we could think of; the linear pass gives the backtracking search's answer (and the naive
// matcher's) on random array-heavy events; shapes outside the pass's scope are bounded by the
// per-event budget and fail alone; and the event depth limit is exactly core/envelope.h's.
// No timing here: the figures are in bench/array_consistency_bench.cc.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/envelope.h"
#include "pattern/internal/matcher_impl.h"
#include "pattern/pattern.h"
#include "testing/naive_matcher.h"

namespace hikyaku::pattern {
namespace {

using ::testing::HasSubstr;

struct Outcome {
  bool ok = false;
  bool matched = false;
  uint64_t work = 0;
  std::string error;
};

Outcome run_match(const Matcher& m, const std::string& event) {
  std::vector<uint32_t> ids;
  Status st = m.match(event, ids);
  return {st.ok(), !ids.empty(), internal::thread_scratch().work, st.ok() ? "" : st.message()};
}

std::unique_ptr<const Matcher> compile(const std::vector<std::string>& patterns) {
  std::vector<RuleSpec> specs;
  for (size_t i = 0; i < patterns.size(); ++i) {
    specs.push_back({static_cast<uint32_t>(i), patterns[i]});
  }
  auto m = Matcher::compile(specs);
  EXPECT_TRUE(m.has_value()) << m.status().to_string();
  return m.has_value() ? std::move(*m) : nullptr;
}

// Sets the quick search's step allowance for the scope of the object (this thread's scratch).
class QuickSteps {
 public:
  explicit QuickSteps(uint64_t steps) { internal::thread_scratch().quick_steps = steps; }
  ~QuickSteps() { internal::thread_scratch().quick_steps = internal::kQuickSearchSteps; }
  QuickSteps(const QuickSteps&) = delete;
  QuickSteps& operator=(const QuickSteps&) = delete;
};

// A hostile shape: the pattern, and an event of n array elements in which no single element
// satisfies the pattern (or, with `good_at` < n, only that one element does).
struct Shape {
  std::string name;
  std::vector<std::string> patterns;
  std::function<std::string(int n, int good_at)> event;
};

struct Op {
  const char* name;
  const char* leaf;
  const char* yes;
  const char* no;
};

const Op kOps[] = {
    {"exact", R"(["v"])", R"("v")", R"("u")"},
    {"exact_number", R"([15])", "15", "16"},
    {"exact_true", R"([true])", "true", "false"},
    {"exact_null", R"([null])", "null", "0"},
    {"prefix", R"([{"prefix":"va"}])", R"("val")", R"("vol")"},
    {"suffix", R"([{"suffix":"al"}])", R"("val")", R"("vol")"},
    {"wildcard", R"([{"wildcard":"v*l"}])", R"("val")", R"("vok")"},
    {"equals_ignore_case", R"([{"equals-ignore-case":"VaL"}])", R"("vAl")", R"("vol")"},
    {"prefix_ignore_case", R"([{"prefix":{"equals-ignore-case":"VA"}}])", R"("vAl")", R"("vol")"},
    {"anything_but", R"([{"anything-but":["u","w"]}])", R"("v")", R"("u")"},
    {"anything_but_prefix", R"([{"anything-but":{"prefix":"u"}}])", R"("v")", R"("uu")"},
    {"anything_but_number", R"([{"anything-but":[1,2]}])", "3", "1"},
    {"numeric", R"([{"numeric":[">",10,"<=",20]}])", "15", "25"},
    {"exists_true", R"([{"exists":true}])", "1", "[]"},
    {"cidr", R"([{"cidr":"10.0.0.0/8"}])", R"("10.1.2.3")", R"("11.1.2.3")"},
    {"cidr_v6", R"([{"cidr":"2001:db8::/32"}])", R"("2001:db8::1")", R"("2001:db9::1")"},
    {"exact_ip", R"(["10.0.0.1"])", R"("10.000.0.1")", R"("10.0.0.2")"},
    {"list", R"(["a","b",{"prefix":"c"}])", R"("cc")", R"("d")"},
};

// {"d":{"a":[{x,y[,z]}...]}}: element i satisfies field (i mod fields) only (all of them at
// good_at).
Shape sibling_shape(const Op& op, int fields) {
  static const char* const names[] = {"x", "y", "z", "w"};
  std::string pattern = R"({"d":{"a":{)";
  for (int f = 0; f < fields; ++f) {
    pattern += std::string(f == 0 ? "" : ",") + "\"" + names[f] + "\":" + op.leaf;
  }
  pattern += "}}}";
  return {std::string("sibling_") + std::to_string(fields) + "_" + op.name,
          {pattern},
          [op, fields](int n, int good_at) {
            std::string e = R"({"d":{"a":[)";
            for (int i = 0; i < n; ++i) {
              e += i == 0 ? "{" : ",{";
              for (int f = 0; f < fields; ++f) {
                const bool yes = i == good_at || i % fields == f;
                e += std::string(f == 0 ? "" : ",") + "\"" + names[f] +
                     "\":" + (yes ? op.yes : op.no);
              }
              e += "}";
            }
            return e + "]}}";
          }};
}

std::vector<Shape> hostile_shapes() {
  std::vector<Shape> shapes;
  for (const Op& op : kOps) {
    shapes.push_back(sibling_shape(op, 2));
    shapes.push_back(sibling_shape(op, 3));
  }
  shapes.push_back(sibling_shape(kOps[0], 4));
  // exists:false beside a positive field: y is present everywhere but at good_at.
  shapes.push_back(
      {"exists_false", {R"({"a":{"x":["v"],"y":[{"exists":false}]}})"}, [](int n, int good_at) {
         std::string e = R"({"a":[)";
         for (int i = 0; i < n; ++i) {
           e += std::string(i == 0 ? "" : ",") +
                (i == good_at ? R"({"x":"v"})" : R"({"x":"v","y":1})");
         }
         return e + "]}";
       }});
  // exists:false OR-ed with a value, two negatives, and a positive: only good_at has neither
  // y nor z, or the OR-ed value.
  shapes.push_back({"two_negatives",
                    {R"({"a":{"x":["v"],"y":[{"exists":false},"ok"],"z":[{"exists":false}]}})"},
                    [](int n, int good_at) {
                      std::string e = R"({"a":[)";
                      for (int i = 0; i < n; ++i) {
                        e += std::string(i == 0 ? "" : ",") +
                             (i == good_at ? R"({"x":"v","y":"ok"})"
                              : i % 2 == 0 ? R"({"x":"v","y":1})"
                                           : R"({"x":"v","y":"ok","z":2})");
                      }
                      return e + "]}";
                    }});
  // Fields at different depths: a[].z, a[].b[].x, a[].c[].y.
  shapes.push_back({"nested_depths",
                    {R"({"a":{"z":["v"],"b":{"x":["v"]},"c":{"y":["v"]}}})"},
                    [](int n, int good_at) {
                      std::string e = R"({"a":[)";
                      for (int i = 0; i < n; i += 4) {
                        const bool good = good_at >= i && good_at < i + 4;
                        const bool even = (i / 4) % 2 == 0;
                        e += std::string(i == 0 ? "" : ",") + R"({"z":")" +
                             (good || !even ? "v" : "u") + R"(","b":[{"x":")" +
                             (good || even ? "v" : "u") + R"("},{"x":"u"}],"c":[{"y":")" +
                             (good || even ? "v" : "u") + R"("},{"y":"u"}]})";
                      }
                      return e + "]}";
                    }});
  // Arrays of arrays: x and y never share an inner element.
  shapes.push_back({"arrays_of_arrays", {R"({"a":{"x":["v"],"y":["v"]}})"}, [](int n, int good_at) {
                      std::string e = R"({"a":[)";
                      for (int i = 0; i < n; i += 2) {
                        e += std::string(i == 0 ? "" : ",") +
                             (good_at >= i && good_at < i + 2
                                  ? R"([{"x":"v","y":"v"}])"
                                  : R"([{"x":"v","y":"u"},[{"x":"u","y":"v"}]])");
                      }
                      return e + "]}";
                    }});
  // The same, 900 arrays deep: a value's cost must not grow with its depth.
  shapes.push_back({"deep_arrays", {R"({"a":{"x":["v"],"y":["v"]}})"}, [](int n, int good_at) {
                      std::string e = R"({"a":)" + std::string(900, '[');
                      for (int i = 0; i < n; ++i) {
                        e += std::string(i == 0 ? "" : ",") + (i == good_at ? R"({"x":"v","y":"v"})"
                                                               : i % 2 == 0
                                                                   ? R"({"x":"v","y":"u"})"
                                                                   : R"({"x":"u","y":"v"})");
                      }
                      return e + std::string(900, ']') + "}";
                    }});
  // Two nested levels of arrays, each field of the inner objects in its own outer element.
  shapes.push_back(
      {"array_in_array_objects", {R"({"a":{"b":{"x":["v"],"y":["v"]}}})"}, [](int n, int good_at) {
         std::string e = R"({"a":[)";
         for (int i = 0; i < n; i += 2) {
           const bool good = good_at >= i && good_at < i + 2;
           e += std::string(i == 0 ? "" : ",") + R"({"b":[{"x":"v","y":")" + (good ? "v" : "u") +
                R"("},{"x":"u","y":"v"}]})";
         }
         return e + "]}";
       }});
  // Scalar arrays inside the elements: x: ["v","u"], y: ["u","v"] never in one element.
  shapes.push_back(
      {"scalar_arrays_in_elements", {R"({"a":{"x":["v"],"y":["v"]}})"}, [](int n, int good_at) {
         std::string e = R"({"a":[)";
         for (int i = 0; i < n; ++i) {
           e += std::string(i == 0 ? "" : ",") + (i == good_at   ? R"({"x":["u","v"],"y":["v"]})"
                                                  : (i % 2 == 0) ? R"({"x":["u","v"],"y":["u"]})"
                                                                 : R"({"x":["u"],"y":["v","u"]})");
         }
         return e + "]}";
       }});
  // $or: both branches name two fields of the array.
  shapes.push_back({"or_branches",
                    {R"({"a":{"$or":[{"x":["v"],"y":["v"]},{"x":["w"],"z":[{"prefix":"v"}]}]}})"},
                    [](int n, int good_at) {
                      std::string e = R"({"a":[)";
                      for (int i = 0; i < n; ++i) {
                        e += std::string(i == 0 ? "" : ",") +
                             (i == good_at ? R"({"x":"w","z":"vv"})"
                              : i % 3 == 0 ? R"({"x":"v","y":"u","z":"vv"})"
                              : i % 3 == 1 ? R"({"x":"w","y":"v","z":"uu"})"
                                           : R"({"x":"u","y":"v","z":"vv"})");
                      }
                      return e + "]}";
                    }});
  // Several rules at once over the same array.
  std::vector<std::string> many;
  for (int r = 0; r < 20; ++r) {
    many.push_back(R"({"d":{"f)" + std::to_string(r % 10) + R"(":["v"],"f)" +
                   std::to_string((r + 1 + r / 10) % 10) + R"(":["v"]}})");
  }
  shapes.push_back({"many_rules", many, [](int n, int good_at) {
                      std::string e = R"({"d":[)";
                      for (int i = 0; i < n; ++i) {
                        e += std::string(i == 0 ? "" : ",") +
                             (i == good_at ? R"({"f0":"v","f1":"v"})"
                                           : R"({"f)" + std::to_string(i % 10) + R"(":"v"})");
                      }
                      return e + "]}";
                    }});
  // A field outside the array next to two inside it.
  shapes.push_back(
      {"outside_and_inside", {R"({"s":["v"],"a":{"x":["v"],"y":["v"]}})"}, [](int n, int good_at) {
         std::string e = R"({"s":"v","a":[)";
         for (int i = 0; i < n; ++i) {
           e += std::string(i == 0 ? "" : ",") + (i == good_at ? R"({"x":"v","y":"v"})"
                                                  : i % 2 == 0 ? R"({"x":"v","y":"u"})"
                                                               : R"({"x":"u","y":"v"})");
         }
         return e + "]}";
       }});
  return shapes;
}

TEST(ArrayConsistencyTest, WorkGrowsLinearlyWithTheArrayForEveryShape) {
  constexpr int kSmall = 500;
  constexpr int kLarge = 4 * kSmall;
  for (const Shape& shape : hostile_shapes()) {
    SCOPED_TRACE(shape.name);
    auto m = compile(shape.patterns);
    ASSERT_NE(m, nullptr);
    const Outcome small = run_match(*m, shape.event(kSmall, -1));
    const Outcome large = run_match(*m, shape.event(kLarge, -1));
    ASSERT_TRUE(small.ok && large.ok) << small.error << large.error;
    EXPECT_FALSE(small.matched);
    EXPECT_FALSE(large.matched);
    // Linear: 4x the elements costs about 4x (the old search: 16x). Quadratic work would also
    // exceed the absolute bound, a small constant per element and rule.
    EXPECT_LE(large.work, 5 * small.work + 1000) << small.work << " -> " << large.work;
    EXPECT_LE(large.work, uint64_t{200} * kLarge * shape.patterns.size()) << large.work;
    // The one good element is found wherever it is.
    for (int good_at : {0, kLarge / 2 + 1, kLarge - 1}) {
      const Outcome found = run_match(*m, shape.event(kLarge, good_at));
      ASSERT_TRUE(found.ok) << found.error;
      EXPECT_TRUE(found.matched) << "good element at " << good_at;
      EXPECT_LE(found.work, 5 * small.work + 1000) << found.work;
    }
  }
}

TEST(ArrayConsistencyTest, TheIssueExampleIsLinear) {
  auto m = compile({R"({"detail":{"a":{"x":["v"],"y":["v"]}}})"});
  ASSERT_NE(m, nullptr);
  std::string event = R"({"detail":{"a":[)";
  for (int i = 0; i < 26000; ++i) {
    event += i == 0 ? "" : ",";
    event += i % 2 == 0 ? R"({"x":"v","y":"u"})" : R"({"x":"u","y":"v"})";
  }
  event += "]}}";
  const Outcome o = run_match(*m, event);
  ASSERT_TRUE(o.ok) << o.error;
  EXPECT_FALSE(o.matched);
  EXPECT_LE(o.work, uint64_t{10} * 26000);  // the old search: 169 million steps
}

// ---- the linear pass against the backtracking search and the naive matcher ----

// Random events over a small vocabulary, array-heavy: a.x, a.y, a.b.z, a.c.w, a.b.c.v, t, with
// arrays of objects, arrays of arrays and scalar arrays at every level. With `dup_keys`, keys
// repeat (which the linear pass leaves to the search).
class EventMaker {
 public:
  EventMaker(uint64_t seed, bool dup_keys) : rng_(seed), dup_keys_(dup_keys) {}

  std::string event() {
    std::string e = "{";
    bool first = true;
    member(e, first, "t", [&] { scalar(e); });
    member(e, first, "a", [&] { many(e, 3, [&] { object_a(e); }); });
    return e + "}";
  }

 private:
  uint32_t pick(uint32_t n) { return static_cast<uint32_t>(rng_() % n); }

  template <typename F>
  void member(std::string& e, bool& first, const char* key, F&& value) {
    const uint32_t copies = dup_keys_ && pick(6) == 0 ? 2 : pick(5) == 0 ? 0 : 1;
    for (uint32_t i = 0; i < copies; ++i) {
      e += first ? "\"" : ",\"";
      first = false;
      e += key;
      e += "\":";
      value();
    }
  }

  // One value, an array of 0..max_len of them, or (rarely) an array of such arrays.
  template <typename F>
  void many(std::string& e, uint32_t max_len, F&& one) {
    const uint32_t kind = pick(8);
    if (kind < 3) {
      one();
      return;
    }
    e += "[";
    const uint32_t len = pick(max_len + 1);
    for (uint32_t i = 0; i < len; ++i) {
      e += i == 0 ? "" : ",";
      if (kind == 7) {
        many(e, 2, one);
      } else {
        one();
      }
    }
    e += "]";
  }

  void scalar(std::string& e) {
    static const char* const values[] = {R"("v")", R"("u")", "1", "null", R"("vv")"};
    many(e, 3, [&] { e += values[pick(5)]; });
  }

  void object_a(std::string& e) {
    e += "{";
    bool first = true;
    member(e, first, "x", [&] { scalar(e); });
    member(e, first, "y", [&] { scalar(e); });
    member(e, first, "b", [&] {
      many(e, 3, [&] {
        e += "{";
        bool f = true;
        member(e, f, "z", [&] { scalar(e); });
        member(e, f, "c", [&] {
          many(e, 2, [&] {
            e += "{";
            bool g = true;
            member(e, g, "v", [&] { scalar(e); });
            e += "}";
          });
        });
        e += "}";
      });
    });
    member(e, first, "c", [&] {
      many(e, 3, [&] {
        e += "{";
        bool f = true;
        member(e, f, "w", [&] { scalar(e); });
        e += "}";
      });
    });
    e += "}";
  }

  std::mt19937_64 rng_;
  bool dup_keys_;
};

std::vector<std::string> random_patterns(uint64_t seed, int count) {
  static const char* const paths[][2] = {{"a", "x"},     {"a", "y"},   {"a.b", "z"},
                                         {"a.b.c", "v"}, {"a.c", "w"}, {"", "t"}};
  static const char* const leaves[] = {
      R"(["v"])",
      R"(["u",1])",
      R"([{"exists":false}])",
      R"([{"exists":false},"v"])",
      R"([{"prefix":"v"}])",
      R"([{"anything-but":"v"}])",
      R"([{"exists":true}])",
      R"([{"numeric":[">",0]}])",
      R"([null])",
  };
  std::mt19937_64 rng(seed);
  std::vector<std::string> out;
  for (int i = 0; i < count; ++i) {
    const int fields = 2 + static_cast<int>(rng() % 3);
    std::vector<int> chosen;
    while (static_cast<int>(chosen.size()) < fields) {
      const int p = static_cast<int>(rng() % std::size(paths));
      if (std::find(chosen.begin(), chosen.end(), p) == chosen.end()) {
        chosen.push_back(p);
      }
    }
    // Dotted keys keep the pattern flat: {"a.b.z": [...], "t": [...]}.
    std::string pattern = "{";
    for (size_t k = 0; k < chosen.size(); ++k) {
      const auto& [prefix, name] = paths[chosen[k]];
      pattern += k == 0 ? "\"" : ",\"";
      pattern += std::string(prefix) + (prefix[0] == '\0' ? "" : ".") + name + "\":";
      pattern += leaves[rng() % std::size(leaves)];
    }
    out.push_back(pattern + "}");
  }
  return out;
}

TEST(ArrayConsistencyTest, LinearPassAgreesWithTheSearchAndTheNaiveMatcher) {
  const std::vector<std::string> patterns = random_patterns(7, 60);
  std::vector<std::unique_ptr<const Matcher>> matchers;
  for (const std::string& pattern : patterns) {
    matchers.push_back(compile({pattern}));
    ASSERT_NE(matchers.back(), nullptr);
  }
  int matched = 0;
  int compared = 0;
  for (bool dup_keys : {false, true}) {
    EventMaker maker(dup_keys ? 11 : 13, dup_keys);
    for (int i = 0; i < 400; ++i) {
      const std::string event = maker.event();
      for (size_t p = 0; p < patterns.size(); ++p) {
        const std::string& pattern = patterns[p];
        const Matcher* m = matchers[p].get();
        bool by_search = false;
        {
          QuickSteps unlimited(UINT64_MAX);
          const Outcome o = run_match(*m, event);
          ASSERT_TRUE(o.ok) << o.error;
          by_search = o.matched;
        }
        QuickSteps none(0);  // straight to the linear pass
        const Outcome o = run_match(*m, event);
        ASSERT_TRUE(o.ok) << o.error;
        ASSERT_EQ(o.matched, by_search) << pattern << "\n" << event;
        if (!dup_keys) {
          // Duplicate keys are where hikyaku and the naive matcher model arrays differently.
          Result<bool> naive = testing::naive_matches(pattern, event);
          ASSERT_TRUE(naive.has_value()) << naive.status().to_string();
          ASSERT_EQ(o.matched, *naive) << pattern << "\n" << event;
        }
        matched += o.matched ? 1 : 0;
        ++compared;
      }
    }
  }
  // The vocabulary is small enough that both answers occur often.
  EXPECT_GT(matched, compared / 20);
  EXPECT_LT(matched, compared - compared / 20);
}

// ---- beyond the linear pass: the budget ----

// The pigeonhole principle for 7 pigeons and 6 holes, spelled with duplicate keys: each "a"
// opens an array of its own, [{true side}, {false side}] for "pigeon p sits in hole h", arrays
// under different keys combine freely, and values in one array must come from one element.
// Field P<p> ("pigeon p sits somewhere") has a value on the true side of each (p, h); field
// C<p>_<q>_<h> ("p and q do not share h") on the false sides of (p, h) and (q, h). No choice
// satisfies all 133 fields, and backtracking needs millions of steps to find that out.
struct Pigeonhole {
  std::string pattern;
  std::string event;
};

Pigeonhole pigeonhole() {
  constexpr int kPigeons = 7;
  constexpr int kHoles = 6;
  Pigeonhole out;
  out.pattern = "{";
  std::vector<std::string> true_side(kPigeons * kHoles);
  std::vector<std::string> false_side(kPigeons * kHoles);
  auto add = [](std::string& side, const std::string& field) {
    side += (side.empty() ? "\"" : ",\"") + field + R"(":"v")";
  };
  for (int p = 0; p < kPigeons; ++p) {
    const std::string field = "P" + std::to_string(p);
    out.pattern += (p == 0 ? "\"a." : ",\"a.") + field + R"(":["v"])";
    for (int h = 0; h < kHoles; ++h) {
      add(true_side[p * kHoles + h], field);
    }
  }
  for (int h = 0; h < kHoles; ++h) {
    for (int p = 0; p < kPigeons; ++p) {
      for (int q = p + 1; q < kPigeons; ++q) {
        const std::string field =
            "C" + std::to_string(p) + "_" + std::to_string(q) + "_" + std::to_string(h);
        out.pattern += ",\"a." + field + R"(":["v"])";
        add(false_side[p * kHoles + h], field);
        add(false_side[q * kHoles + h], field);
      }
    }
  }
  out.pattern += "}";
  out.event = R"({"s":"ok")";
  for (size_t i = 0; i < true_side.size(); ++i) {
    out.event += R"(,"a":[{)" + true_side[i] + "},{" + false_side[i] + "}]";
  }
  out.event += "}";
  return out;
}

TEST(ArrayConsistencyTest, DuplicateKeyArraysAreBoundedByTheBudgetAndFailAlone) {
  const Pigeonhole hard = pigeonhole();
  auto m = compile({hard.pattern, R"({"s":["ok"]})"});
  ASSERT_NE(m, nullptr);
  const Outcome o = run_match(*m, hard.event);
  ASSERT_FALSE(o.ok);
  EXPECT_EQ(o.error, internal::array_budget_error().message());
  EXPECT_THAT(o.error, HasSubstr("event is too costly to match"));
  EXPECT_THAT(o.error, HasSubstr("more than 2000000 steps"));
  // The work stopped at the budget (plus the quick try and the linear pass, which gave up).
  EXPECT_GE(o.work, internal::kArraySearchBudget);
  EXPECT_LE(o.work, internal::kArraySearchBudget + 10'000);
  // Only that event failed: the thread's scratch serves the next one, whose budget is fresh.
  const Outcome next = run_match(*m, R"({"s":"ok","a":[{"P0":"v"}]})");
  ASSERT_TRUE(next.ok) << next.error;
  EXPECT_TRUE(next.matched);
  EXPECT_EQ(run_match(*m, hard.event).error, o.error);  // the same answer every time
  // explain() is bounded the same way and says so.
  Result<Explanation> e = explain(hard.pattern, hard.event);
  ASSERT_FALSE(e.has_value());
  EXPECT_THAT(e.error().message(), HasSubstr("event is too costly to match"));
  // Rules that need no array check still match that event on their own matcher.
  auto simple = compile({R"({"s":["ok"]})"});
  ASSERT_NE(simple, nullptr);
  EXPECT_TRUE(run_match(*simple, hard.event).matched);
}

TEST(ArrayConsistencyTest, DuplicateKeyArraysWithinBudgetAreDecidedExactly) {
  // The search's answer on small duplicate-key shapes (see event_side.json for the rule).
  auto m = compile({R"({"a":{"x":["v"],"y":["v"]}})"});
  ASSERT_NE(m, nullptr);
  QuickSteps none(0);
  EXPECT_TRUE(run_match(*m, R"({"a":[{"x":"v"}],"a":[{"y":"v"}]})").matched);
  EXPECT_FALSE(run_match(*m, R"({"a":[{"x":"v"},{"y":"v"}],"a":[{"z":1}]})").matched);
  EXPECT_TRUE(run_match(*m, R"({"a":{"x":"v"},"a":[{"y":"v"},{"y":"u"}]})").matched);
}

// ---- explain uses the same verification ----

TEST(ArrayConsistencyTest, ExplainIsLinearToo) {
  const std::string pattern = R"({"a":{"x":["v"],"y":[{"exists":false}]}})";
  std::string event = R"({"a":[)";
  for (int i = 0; i < 20000; ++i) {
    event += std::string(i == 0 ? "" : ",") + R"({"x":"v","y":1})";
  }
  event += "]}";
  Result<Explanation> e = explain(pattern, event);
  ASSERT_TRUE(e.has_value()) << e.status().to_string();
  EXPECT_FALSE(e->matched);
  EXPECT_THAT(e->reason, HasSubstr("a.y: "));
  EXPECT_THAT(e->reason, HasSubstr(R"(exists, but the pattern needs [{"exists": false}])"));
  e = explain(R"({"a":{"x":["v"],"y":["v"]}})", R"({"a":[{"x":"v","y":"u"},{"x":"u","y":"v"}]})");
  ASSERT_TRUE(e.has_value());
  EXPECT_THAT(e->reason, HasSubstr("different elements of the same array"));
}

// ---- the event depth limit ----

// {"a":[[[...["v"]...]]]}: `levels` objects and arrays in all, the event itself the first.
std::string nested_event(size_t levels) {
  std::string e = R"({"a":)";
  e += std::string(levels - 1, '[') + R"("v")" + std::string(levels - 1, ']');
  return e + "}";
}

TEST(ArrayConsistencyTest, DepthLimitIsTheEnvelopeLimit) {
  static_assert(internal::kMaxEventDepth == kMaxEventNestingDepth);
  const std::string pattern = R"({"a":["v"]})";
  auto m = compile({pattern});
  ASSERT_NE(m, nullptr);
  const Outcome at_limit = run_match(*m, nested_event(kMaxEventNestingDepth));
  ASSERT_TRUE(at_limit.ok) << at_limit.error;
  EXPECT_TRUE(at_limit.matched);
  Result<Explanation> e = explain(pattern, nested_event(kMaxEventNestingDepth));
  ASSERT_TRUE(e.has_value()) << e.status().to_string();
  EXPECT_TRUE(e->matched);
  EXPECT_TRUE(validate_event(nested_event(kMaxEventNestingDepth)).ok());

  const Outcome over = run_match(*m, nested_event(kMaxEventNestingDepth + 1));
  ASSERT_FALSE(over.ok);
  EXPECT_THAT(over.error, HasSubstr("event nests deeper than 1000 levels"));
  e = explain(pattern, nested_event(kMaxEventNestingDepth + 1));
  ASSERT_FALSE(e.has_value());
  EXPECT_THAT(e.error().message(), HasSubstr("nesting deeper than 1000 levels"));
  EXPECT_FALSE(validate_event(nested_event(kMaxEventNestingDepth + 1)).ok());

  // The innermost level an object: {"a":[[...[{"a":"v"}]...]]}.
  auto mixed = [](size_t levels) {
    return R"({"a":)" + std::string(levels - 2, '[') + R"({"a":"v"})" +
           std::string(levels - 2, ']') + "}";
  };
  auto m2 = compile({R"({"a":{"a":["v"]}})"});
  ASSERT_NE(m2, nullptr);
  const Outcome mixed_at_limit = run_match(*m2, mixed(kMaxEventNestingDepth));
  ASSERT_TRUE(mixed_at_limit.ok) << mixed_at_limit.error;
  EXPECT_TRUE(mixed_at_limit.matched);
  const Outcome mixed_over = run_match(*m2, mixed(kMaxEventNestingDepth + 1));
  ASSERT_FALSE(mixed_over.ok);
  EXPECT_THAT(mixed_over.error, HasSubstr("event nests deeper than 1000 levels"));
}

}  // namespace
}  // namespace hikyaku::pattern
