// Matching cost against the length of an event array, when one rule names several fields inside
// the elements of that array (docs/event-patterns.md §3: they must match within one element).
// Each event is built so that every field matches in some elements but never all of them in the
// same element: the most work an array-consistency check can be asked to do. A linear matcher's
// time per element stays flat as the array grows (1k, 4k, 16k, 26k elements). Run from a Release
// build (make bench); compare the "per_element_ns" counter across lengths.
//
//   array_consistency_bench --benchmark_filter=Sibling
//
// Shapes: sibling fields under one array (2 and 3 fields, each operator), exists:false next to a
// positive field, fields at different depths of nested arrays, arrays of arrays, 20 rules over
// the same array at once, arrays 900 deep; and the worst event the search budget allows
// (BM_BudgetExhausted).

#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "pattern/pattern.h"

namespace {

using hikyaku::pattern::Matcher;
using hikyaku::pattern::RuleSpec;

// One operator: its pattern leaf, and a value that satisfies it and one that does not.
struct Operator {
  const char* name;
  const char* leaf;
  const char* yes;
  const char* no;
};

constexpr Operator kOperators[] = {
    {"exact", R"(["v"])", R"("v")", R"("u")"},
    {"prefix", R"([{"prefix": "va"}])", R"("val")", R"("vol")"},
    {"suffix", R"([{"suffix": "al"}])", R"("val")", R"("vol")"},
    {"wildcard", R"([{"wildcard": "v*l"}])", R"("val")", R"("vok")"},
    {"equals_ignore_case", R"([{"equals-ignore-case": "VaL"}])", R"("vAl")", R"("vol")"},
    {"anything_but", R"([{"anything-but": ["u", "w"]}])", R"("v")", R"("u")"},
    {"numeric", R"([{"numeric": [">", 10, "<=", 20]}])", "15", "25"},
    {"exists_true", R"([{"exists": true}])", "1", "[]"},
    {"cidr", R"([{"cidr": "10.0.0.0/8"}])", R"("10.1.2.3")", R"("11.1.2.3")"},
};

constexpr const char* kFieldNames[] = {"x", "y", "z"};

std::unique_ptr<const Matcher> compile_or_die(const std::vector<std::string>& patterns) {
  std::vector<RuleSpec> specs;
  for (size_t i = 0; i < patterns.size(); ++i) {
    specs.push_back({static_cast<uint32_t>(i), patterns[i]});
  }
  auto m = Matcher::compile(specs);
  if (!m.has_value()) {
    std::fprintf(stderr, "compile: %s\n", m.error().message().c_str());
    std::abort();
  }
  return std::move(*m);
}

void run(benchmark::State& state, const Matcher& matcher, const std::string& event,
         int64_t elements, bool want_match) {
  std::vector<uint32_t> ids;
  for (auto _ : state) {
    if (!matcher.match(event, ids).ok() || ids.empty() == want_match) {
      state.SkipWithError("unexpected match result");
      return;
    }
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * event.size()));
  // Elements per second, inverted and scaled: nanoseconds per element.
  state.counters["per_element_ns"] = benchmark::Counter(
      static_cast<double>(elements) * static_cast<double>(state.iterations()) * 1e-9,
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// {"detail":{"a":[{x,y[,z]} x N]}}: element i satisfies field (i mod fields) only.
// NOLINTNEXTLINE(readability-identifier-naming): Google Benchmark's BM_ names, as reports show
void BM_SiblingFields(benchmark::State& state) {
  const int64_t n = state.range(0);
  const auto fields = static_cast<size_t>(state.range(1));
  const Operator& op = kOperators[state.range(2)];
  state.SetLabel(op.name);
  std::string pattern = R"({"detail":{"a":{)";
  for (size_t f = 0; f < fields; ++f) {
    pattern += std::string(f == 0 ? "" : ",") + "\"" + kFieldNames[f] + "\":" + op.leaf;
  }
  pattern += "}}}";
  std::string event = R"({"detail":{"a":[)";
  for (int64_t i = 0; i < n; ++i) {
    event += i == 0 ? "{" : ",{";
    for (size_t f = 0; f < fields; ++f) {
      const bool yes = static_cast<size_t>(i) % fields == f;
      event +=
          std::string(f == 0 ? "" : ",") + "\"" + kFieldNames[f] + "\":" + (yes ? op.yes : op.no);
    }
    event += "}";
  }
  event += "]}}";
  run(state, *compile_or_die({pattern}), event, n, false);
}

// A positive field and an exists:false field in every element: no element lacks y.
// NOLINTNEXTLINE(readability-identifier-naming): Google Benchmark's BM_ names, as reports show
void BM_ExistsFalseSibling(benchmark::State& state) {
  const int64_t n = state.range(0);
  const std::string pattern = R"({"detail":{"a":{"x":["v"],"y":[{"exists":false}]}}})";
  std::string event = R"({"detail":{"a":[)";
  for (int64_t i = 0; i < n; ++i) {
    event += std::string(i == 0 ? "" : ",") + R"({"x":"v","y":1})";
  }
  event += "]}}";
  run(state, *compile_or_die({pattern}), event, n, false);
}

// Three fields at different depths of one array: a[].z, a[].b[].x, a[].c[].y; element i of a
// holds 4 b's and 4 c's, and z matches only where x and y do not.
// NOLINTNEXTLINE(readability-identifier-naming): Google Benchmark's BM_ names, as reports show
void BM_NestedArrays(benchmark::State& state) {
  const int64_t n = state.range(0);
  const std::string pattern = R"({"a":{"z":["v"],"b":{"x":["v"]},"c":{"y":["v"]}}})";
  std::string event = R"({"a":[)";
  for (int64_t i = 0; i < n; ++i) {
    const bool even = i % 2 == 0;
    event += std::string(i == 0 ? "" : ",") + R"({"z":")" + (even ? "u" : "v") + R"(","b":[)";
    for (int j = 0; j < 4; ++j) {
      event += std::string(j == 0 ? "" : ",") + R"({"x":")" + (even ? "v" : "u") + "\"}";
    }
    event += R"(],"c":[)";
    for (int j = 0; j < 4; ++j) {
      event += std::string(j == 0 ? "" : ",") + R"({"y":")" + (even ? "v" : "u") + "\"}";
    }
    event += "]}";
  }
  event += "]}";
  run(state, *compile_or_die({pattern}), event, n, false);
}

// Arrays of arrays: {"a":[[{x},{y}], ...]}: x and y never share an inner element.
// NOLINTNEXTLINE(readability-identifier-naming): Google Benchmark's BM_ names, as reports show
void BM_ArraysOfArrays(benchmark::State& state) {
  const int64_t n = state.range(0);
  const std::string pattern = R"({"a":{"x":["v"],"y":["v"]}})";
  std::string event = R"({"a":[)";
  for (int64_t i = 0; i < n; i += 2) {
    event += std::string(i == 0 ? "" : ",") + R"([{"x":"v","y":"u"},{"x":"u","y":"v"}])";
  }
  event += "]}";
  run(state, *compile_or_die({pattern}), event, n, false);
}

// 20 rules, each naming two of the fields f0..f9 of the same array; element i sets f(i mod 10).
// NOLINTNEXTLINE(readability-identifier-naming): Google Benchmark's BM_ names, as reports show
void BM_ManyRules(benchmark::State& state) {
  const int64_t n = state.range(0);
  std::vector<std::string> patterns;
  for (int r = 0; r < 20; ++r) {
    const int a = r % 10;
    const int b = (r + 1 + r / 10) % 10;
    patterns.push_back(R"({"d":{"f)" + std::to_string(a) + R"(":["v"],"f)" + std::to_string(b) +
                       R"(":["v"]}})");
  }
  std::string event = R"({"d":[)";
  for (int64_t i = 0; i < n; ++i) {
    event += std::string(i == 0 ? "" : ",") + R"({"f)" + std::to_string(i % 10) + R"(":"v"})";
  }
  event += "]}";
  run(state, *compile_or_die(patterns), event, n, false);
}

// The same as the issue's example, 900 arrays deep: the cost of a value does not grow with depth.
// NOLINTNEXTLINE(readability-identifier-naming): Google Benchmark's BM_ names, as reports show
void BM_DeepArrays(benchmark::State& state) {
  const int64_t n = state.range(0);
  const std::string pattern = R"({"a":{"x":["v"],"y":["v"]}})";
  std::string event = R"({"a":)" + std::string(900, '[');
  for (int64_t i = 0; i < n; ++i) {
    event += std::string(i == 0 ? "" : ",") +
             (i % 2 == 0 ? R"({"x":"v","y":"u"})" : R"({"x":"u","y":"v"})");
  }
  event += std::string(900, ']') + "}";
  run(state, *compile_or_die({pattern}), event, n, false);
}

// The worst case the budget allows: the pigeonhole principle for 7 pigeons in 6 holes spelled
// with duplicate keys (see array_consistency_test.cc), which exhausts the per-event search budget
// and fails. Its time is the most one event can cost in array-consistency checks.
// NOLINTNEXTLINE(readability-identifier-naming): Google Benchmark's BM_ names, as reports show
void BM_BudgetExhausted(benchmark::State& state) {
  constexpr size_t kPigeons = 7;
  constexpr size_t kHoles = 6;
  std::string pattern = "{";
  std::vector<std::string> true_side(kPigeons * kHoles);
  std::vector<std::string> false_side(kPigeons * kHoles);
  auto add = [](std::string& side, const std::string& field) {
    side += (side.empty() ? "\"" : ",\"") + field + R"(":"v")";
  };
  for (size_t p = 0; p < kPigeons; ++p) {
    const std::string field = "P" + std::to_string(p);
    pattern += (p == 0 ? "\"a." : ",\"a.") + field + R"(":["v"])";
    for (size_t h = 0; h < kHoles; ++h) {
      add(true_side[p * kHoles + h], field);
    }
  }
  for (size_t h = 0; h < kHoles; ++h) {
    for (size_t p = 0; p < kPigeons; ++p) {
      for (size_t q = p + 1; q < kPigeons; ++q) {
        const std::string field =
            "C" + std::to_string(p) + "_" + std::to_string(q) + "_" + std::to_string(h);
        pattern += ",\"a." + field + R"(":["v"])";
        add(false_side[p * kHoles + h], field);
        add(false_side[q * kHoles + h], field);
      }
    }
  }
  pattern += "}";
  std::string event = "{";
  for (size_t i = 0; i < true_side.size(); ++i) {
    event +=
        std::string(i == 0 ? "" : ",") + R"("a":[{)" + true_side[i] + "},{" + false_side[i] + "}]";
  }
  event += "}";
  auto matcher = compile_or_die({pattern});
  std::vector<uint32_t> ids;
  for (auto _ : state) {
    if (matcher->match(event, ids).ok()) {
      state.SkipWithError("expected the budget to run out");
      return;
    }
  }
}

void lengths(benchmark::internal::Benchmark* b) {
  for (int64_t n : {1000, 4000, 16000, 26000}) {
    b->Arg(n);
  }
}

void sibling_args(benchmark::internal::Benchmark* b) {
  for (int64_t fields : {2, 3}) {
    for (int64_t op = 0; op < static_cast<int64_t>(std::size(kOperators)); ++op) {
      for (int64_t n : {1000, 4000, 16000, 26000}) {
        b->Args({n, fields, op});
      }
    }
  }
}

BENCHMARK(BM_SiblingFields)->Apply(sibling_args)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ExistsFalseSibling)->Apply(lengths)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_NestedArrays)->Apply(lengths)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ArraysOfArrays)->Apply(lengths)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ManyRules)->Apply(lengths)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_DeepArrays)->Apply(lengths)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_BudgetExhausted)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
