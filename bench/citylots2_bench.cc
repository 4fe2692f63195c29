// CityLots2 benchmark: each of the 14 rule sets in its own matcher, the COMBO and
// PARTIAL_COMBO sets in one matcher each, every rule's count checked against rules.json
// (synthetic_counts), plus a scaling run with 1 / 1,000 / 100,000 rules.
//
//   citylots2_bench --events citylots2-synth.json[.gz] --rules tests/data/citylots2/rules.json
//                   [--repeat 3] [--scaling-events 50000] [--no-scaling | --only-scaling]
//                   [--only NAME,NAME...]   (just these sets, e.g. to profile one)
//
// Output, one line per set:
//   CATEGORY <NAME> events_per_s=<N> baseline_ratio=<R> counts=<ok|MISMATCH>
// baseline_ratio = matching throughput / throughput of parsing the same events into a simdjson
// DOM in this run. Figures are medians of --repeat passes, single thread.
#include <simdjson.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "pattern/pattern.h"

namespace {

using Clock = std::chrono::steady_clock;
using hikyaku::pattern::Matcher;
using hikyaku::pattern::RuleSpec;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

bool read_lines(const std::string& path, std::vector<std::string>& out) {
  bool gz = path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0;
  FILE* f = gz ? popen(("gzip -dc '" + path + "'").c_str(), "r") : std::fopen(path.c_str(), "r");
  if (f == nullptr) {
    return false;
  }
  std::string line;
  char buf[1 << 16];
  while (std::fgets(buf, sizeof(buf), f) != nullptr) {
    line += buf;
    if (!line.empty() && line.back() == '\n') {
      line.pop_back();
      if (!line.empty()) {
        out.push_back(std::move(line));
      }
      line.clear();
    }
  }
  if (!line.empty()) {
    out.push_back(std::move(line));
  }
  int rc = gz ? pclose(f) : std::fclose(f);
  return rc == 0;
}

long rss_kb() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

struct Set {
  std::string name;
  std::vector<std::string> patterns;
  std::vector<uint64_t> expected;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Events per second of `fn` over all events, median of `repeat` passes.
template <typename Fn>
double throughput(const std::vector<std::string>& events, int repeat, Fn&& fn) {
  std::vector<double> rates;
  for (int r = 0; r < repeat; ++r) {
    auto t0 = Clock::now();
    for (const std::string& e : events) {
      fn(e);
    }
    rates.push_back(static_cast<double>(events.size()) / seconds_since(t0));
  }
  return median(rates);
}

}  // namespace

int main(int argc, char** argv) {
#ifndef NDEBUG
  std::fprintf(stderr,
               "WARNING: citylots2_bench built without NDEBUG (not a Release build); figures are "
               "not meaningful\n");
#endif
  std::string events_path, rules_path;
  int repeat = 3;
  size_t scaling_events = 50000;
  bool scaling = true;
  bool only_scaling = false;
  std::string only;  // comma-separated set names; empty = all
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--events") {
      events_path = next();
    } else if (a == "--rules") {
      rules_path = next();
    } else if (a == "--repeat") {
      repeat = std::max(1, std::atoi(next().c_str()));
    } else if (a == "--scaling-events") {
      scaling_events = static_cast<size_t>(std::atol(next().c_str()));
    } else if (a == "--no-scaling") {
      scaling = false;
    } else if (a == "--only-scaling") {
      only_scaling = true;
    } else if (a == "--only") {
      only = "," + next() + ",";
      scaling = false;
    } else {
      std::fprintf(stderr,
                   "usage: citylots2_bench --events FILE[.gz] --rules RULES.json "
                   "[--repeat N] [--scaling-events N] [--no-scaling | --only-scaling] "
                   "[--only NAME,...]\n");
      return 2;
    }
  }
  if (events_path.empty() || rules_path.empty()) {
    std::fprintf(stderr, "error: --events and --rules are required\n");
    return 2;
  }
  std::vector<std::string> events;
  if (!read_lines(events_path, events) || events.empty()) {
    std::fprintf(stderr, "error: cannot read events from %s\n", events_path.c_str());
    return 2;
  }

  simdjson::dom::parser rules_parser;
  simdjson::dom::element rules;
  if (rules_parser.load(rules_path).get(rules) != simdjson::SUCCESS) {
    std::fprintf(stderr, "error: cannot read %s\n", rules_path.c_str());
    return 2;
  }
  std::vector<Set> sets;
  std::map<std::string, size_t> by_name;
  simdjson::dom::array order;
  if (rules["order"].get(order) != simdjson::SUCCESS) {
    std::fprintf(stderr, "error: %s has no \"order\"\n", rules_path.c_str());
    return 2;
  }
  for (simdjson::dom::element name_el : order) {
    Set s;
    s.name = std::string(name_el.get_string().value_unsafe());
    simdjson::dom::element set = rules["sets"][s.name].value_unsafe();
    simdjson::dom::array rule_list = set["rules"].get_array().value_unsafe();
    for (simdjson::dom::element p : rule_list) {
      s.patterns.emplace_back(p.get_string().value_unsafe());
    }
    simdjson::dom::array count_list = set["synthetic_counts"].get_array().value_unsafe();
    for (simdjson::dom::element c : count_list) {
      s.expected.push_back(c.get_uint64().value_unsafe());
    }
    by_name[s.name] = sets.size();
    sets.push_back(std::move(s));
  }
  simdjson::dom::object combos;
  if (rules["combos"].get(combos) == simdjson::SUCCESS) {
    for (const char* combo : {"COMBO", "PARTIAL_COMBO"}) {
      simdjson::dom::array members;
      if (combos[combo].get(members) != simdjson::SUCCESS) {
        continue;
      }
      Set s;
      s.name = combo;
      for (simdjson::dom::element m : members) {
        const Set& part = sets[by_name.at(std::string(m.get_string().value_unsafe()))];
        s.patterns.insert(s.patterns.end(), part.patterns.begin(), part.patterns.end());
        s.expected.insert(s.expected.end(), part.expected.begin(), part.expected.end());
      }
      sets.push_back(std::move(s));
    }
  }

  // Baseline: parse every event into a simdjson DOM, same process, same events.
  simdjson::dom::parser dom;
  size_t sink = 0;
  double baseline = throughput(events, repeat, [&](const std::string& e) {
    simdjson::dom::element el;
    if (dom.parse(e).get(el) == simdjson::SUCCESS) {
      ++sink;
    }
  });
  std::printf("BASELINE simdjson_dom_parse events_per_s=%.0f events=%zu\n", baseline,
              events.size());

  int exit_code = 0;
  std::vector<uint32_t> ids;
  for (const Set& s : sets) {
    if (only_scaling) {
      break;
    }
    if (!only.empty() && only.find("," + s.name + ",") == std::string::npos) {
      continue;
    }
    std::vector<RuleSpec> specs;
    for (size_t i = 0; i < s.patterns.size(); ++i) {
      specs.push_back({static_cast<uint32_t>(i), s.patterns[i]});
    }
    auto compiled = Matcher::compile(specs);
    if (!compiled.has_value()) {
      std::fprintf(stderr, "error: %s: %s\n", s.name.c_str(), compiled.error().message().c_str());
      return 1;
    }
    const Matcher& m = **compiled;
    // Counting pass (also warms the per-thread scratch).
    std::vector<uint64_t> counts(s.patterns.size(), 0);
    for (const std::string& e : events) {
      if (m.match(e, ids).ok()) {
        for (uint32_t id : ids) {
          ++counts[id];
        }
      }
    }
    bool ok = counts == s.expected;
    double rate = throughput(events, repeat, [&](const std::string& e) {
      if (m.match(e, ids).ok()) {
        sink += ids.size();
      }
    });
    const char* kind = s.name == "COMBO" || s.name == "PARTIAL_COMBO" ? "" : "CATEGORY ";
    std::printf("%s%s events_per_s=%.0f baseline_ratio=%.2f counts=%s\n", kind, s.name.c_str(),
                rate, rate / baseline, ok ? "ok" : "MISMATCH");
    if (!ok) {
      exit_code = 1;
      for (size_t i = 0; i < counts.size(); ++i) {
        if (counts[i] != s.expected[i]) {
          std::fprintf(stderr, "  %s rule %zu: got %llu want %llu: %s\n", s.name.c_str(), i,
                       static_cast<unsigned long long>(counts[i]),
                       static_cast<unsigned long long>(s.expected[i]), s.patterns[i].c_str());
        }
      }
    }
    std::fflush(stdout);
  }

  if (scaling) {
    std::vector<std::string> sample(
        events.begin(),
        events.begin() + static_cast<long>(std::min(scaling_events, events.size())));
    std::mt19937_64 rng(20240611);
    auto mapblklot = [&rng] {
      char buf[16];
      std::snprintf(buf, sizeof(buf), "%04u%03u", static_cast<unsigned>(rng() % 8000),
                    static_cast<unsigned>(rng() % 1000));
      return std::string(buf);
    };
    for (const char* mode : {"exact", "mixed"}) {
      // 6 rules: one of each kind in the mixed set, so the same fields are read as with 100,000
      // (the fair base for "cost does not grow with the rule count").
      for (size_t n : {size_t{1}, size_t{6}, size_t{1000}, size_t{100000}}) {
        std::vector<std::string> patterns;
        patterns.reserve(n);
        for (size_t i = 0; i < n; ++i) {
          std::string v = mapblklot();
          if (std::string(mode) == "exact" || i % 6 == 0) {
            patterns.push_back(R"({"properties":{"MAPBLKLOT":[")" + v + R"("]}})");
          } else if (i % 6 == 1) {
            patterns.push_back(R"({"properties":{"BLKLOT":[{"prefix":")" + v.substr(0, 5) +
                               R"("}]}})");
          } else if (i % 6 == 2) {
            patterns.push_back(R"({"properties":{"LOT_NUM":[{"suffix":")" + v.substr(3) +
                               R"(X"}]}})");
          } else if (i % 6 == 3) {
            patterns.push_back(R"({"properties":{"STREET":[{"equals-ignore-case":"st)" + v +
                               R"("}]}})");
          } else if (i % 6 == 4) {
            patterns.push_back(R"({"properties":{"MAPBLKLOT":[{"wildcard":")" + v.substr(0, 4) +
                               "*" + v.substr(5) + R"("}]}})");
          } else {
            patterns.push_back(R"({"properties":{"FROM_ST":[")" + v.substr(3) +
                               R"("],"ST_TYPE":["ST"]}})");
          }
        }
        std::vector<RuleSpec> specs;
        for (size_t i = 0; i < n; ++i) {
          specs.push_back({static_cast<uint32_t>(i), patterns[i]});
        }
        long rss0 = rss_kb();
        auto t0 = Clock::now();
        auto compiled = Matcher::compile(specs);
        double compile_s = seconds_since(t0);
        long rss1 = rss_kb();
        if (!compiled.has_value()) {
          std::fprintf(stderr, "error: scaling: %s\n", compiled.error().message().c_str());
          return 1;
        }
        const Matcher& m = **compiled;
        for (const std::string& e : sample) {  // warm up
          (void)m.match(e, ids);
        }
        double rate = throughput(sample, repeat, [&](const std::string& e) {
          if (m.match(e, ids).ok()) {
            sink += ids.size();
          }
        });
        std::printf(
            "SCALING %s rules=%zu events_per_s=%.0f compile_s=%.3f matcher_bytes=%zu "
            "bytes_per_rule=%.0f rss_delta_kb=%ld\n",
            mode, n, rate, compile_s, m.memory_bytes(),
            static_cast<double>(m.memory_bytes()) / static_cast<double>(n), rss1 - rss0);
        std::fflush(stdout);
      }
    }
  }
  if (sink == 42) {
    std::printf("\n");  // keep the work observable
  }
  return exit_code;
}
