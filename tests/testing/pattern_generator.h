#pragma once
// PatternGenerator: deterministic random event patterns and events for differential tests.
//
// Patterns and events share one small vocabulary of field paths and values, so a pattern
// matches an event often (about 28% of random pairs; pattern_oracle_test checks the rate
// against the naive matcher). Every generated pattern is valid, and every event is a valid JSON
// object.
//
//   PatternGenerator gen(42);
//   for (int i = 0; i < 10000; ++i) {
//     std::string pattern = gen.pattern();
//     std::string event = gen.event();
//     // compare engine(pattern, event) with naive_matches(pattern, event)
//   }
//
// Vocabulary (paths; "x.y" is written as a dotted key or as nested objects at random):
//   source, detail-type, a, b, n, ip, x.y,
//   d.e, d.f, d.g[].h, d.g[].i, d.g[].j.k      (d.g is an array of objects)
// Values: strings (case variants, prefixes of each other, IP literals in several spellings, "",
//   non-ASCII, a literal '*'), numbers (equal values in different spellings, -0, values that are
//   not exactly representable as a double), true, false, null; scalars, arrays of scalars,
//   nested arrays and empty arrays.
// Operators: exact string/number/true/false/null, prefix, suffix, equals-ignore-case (plain,
//   prefix and suffix forms), wildcard (with escapes), exactly, anything-but (every form),
//   numeric (one and two sided), exists true/false, cidr (v4 and v6), and $or at the top level
//   and inside "d". $or branches never name a path that a sibling names, so the result does not
//   depend on how duplicate paths are resolved.
//
// Determinism: the same seed gives the same sequence of calls' results on every platform and
// standard library: only std::mt19937_64's raw output is used (no std::*_distribution).
// Thread safety: confined to one thread (it owns its RNG).

#include <cstddef>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hikyaku::testing {

class PatternGenerator {
 public:
  explicit PatternGenerator(std::uint64_t seed) : rng_(seed) {}

  // JSON text of a random valid pattern.
  std::string pattern() {
    std::vector<std::string> paths = pick_paths(chance(75) ? 1 : 2 + uniform(2));
    // Fields as (path, leaf text); $or branches as lists of such fields.
    std::vector<std::pair<std::string, std::string>> fields;
    fields.reserve(paths.size());
    for (const std::string& p : paths) {
      fields.emplace_back(p, leaf());
    }
    std::string out;
    if (chance(25)) {
      // Top-level $or over paths disjoint from the siblings.
      std::vector<std::vector<std::pair<std::string, std::string>>> branches;
      const std::size_t n = 2 + uniform(2);
      for (std::size_t b = 0; b < n; ++b) {
        std::vector<std::pair<std::string, std::string>> branch;
        for (const std::string& p : pick_paths(chance(70) ? 1 : 2, paths)) {
          branch.emplace_back(p, leaf());
        }
        branches.push_back(std::move(branch));
      }
      std::string ors = "[";
      for (std::size_t b = 0; b < branches.size(); ++b) {
        ors += (b ? "," : "") + object_text(branches[b]);
      }
      ors += "]";
      if (chance(60)) {
        fields.clear();  // $or alone
      }
      fields.emplace_back("$or", ors);
    } else if (chance(15)) {
      // $or nested inside "d", alongside the other fields.
      std::vector<std::pair<std::string, std::string>> kept;
      for (auto& f : fields) {
        if (!f.first.starts_with("d.")) {
          kept.push_back(std::move(f));
        }
      }
      fields = std::move(kept);
      std::string ors = "[";
      static constexpr const char* kInner[] = {"e", "f", "g.h", "g.i"};
      const std::size_t first = uniform(4);
      std::size_t second = uniform(3);
      if (second >= first) {
        ++second;
      }
      ors += object_text({{kInner[first], leaf()}}) + "," +
             object_text({{kInner[second], leaf()}}) + "]";
      fields.emplace_back("d.$or", ors);
    }
    out = object_text(fields);
    return out;
  }

  // JSON text of a random event (a JSON object).
  std::string event() {
    std::vector<std::pair<std::string, std::string>> members;
    for (const char* key : {"source", "detail-type", "a", "b", "n", "ip"}) {
      if (chance(85)) {
        members.emplace_back(key, value_for(key));
      }
    }
    if (chance(40)) {
      members.emplace_back("x.y", value_for("a"));
    } else if (chance(40)) {
      members.emplace_back("x", "{\"y\":" + value_for("a") + "}");
    }
    if (chance(90)) {
      std::vector<std::pair<std::string, std::string>> d;
      if (chance(80)) {
        d.emplace_back("e", value_for("a"));
      }
      if (chance(80)) {
        d.emplace_back("f", value_for("n"));
      }
      if (chance(80)) {
        std::string g = "[";
        const std::size_t n = uniform(100) < 10 ? 0 : 1 + uniform(3);
        for (std::size_t i = 0; i < n; ++i) {
          std::vector<std::pair<std::string, std::string>> el;
          if (chance(75)) {
            el.emplace_back("h", value_for("a"));
          }
          if (chance(75)) {
            el.emplace_back("i", value_for("n"));
          }
          if (chance(40)) {
            el.emplace_back("j", "{\"k\":" + value_for("b") + "}");
          }
          g += (i ? "," : "") + members_text(el);
        }
        g += "]";
        d.emplace_back("g", chance(10) ? value_for("a") : g);
      }
      members.emplace_back("d", chance(5) ? scalar() : members_text(d));
    }
    return members_text(members);
  }

  // Uniform in [0, n) (n > 0); modulo bias is irrelevant here and keeps it portable.
  std::uint64_t uniform(std::uint64_t n) { return rng_() % n; }
  bool chance(int percent) { return uniform(100) < static_cast<std::uint64_t>(percent); }

 private:
  static constexpr const char* kPaths[] = {"source", "detail-type", "a",     "b",
                                           "n",      "ip",          "x.y",   "d.e",
                                           "d.f",    "d.g.h",       "d.g.i", "d.g.j.k"};
  // String values, JSON-encoded.
  static constexpr const char* kStrings[] = {R"("alpha")",
                                             R"("Alpha")",
                                             R"("ALPHA")",
                                             R"("alphabet")",
                                             R"("beta")",
                                             R"("bet")",
                                             R"("")",
                                             R"("a*b")",
                                             R"("10.0.0.1")",
                                             R"("010.0.0.1")",
                                             R"("10.1.2.3")",
                                             R"("192.168.1.1")",
                                             R"("2001:db8::1")",
                                             R"("2001:DB8:0::1")",
                                             R"("straße")",
                                             R"("STRASSE")",
                                             R"("é")",
                                             R"("É")",
                                             R"("a\\b")"};
  static constexpr const char* kNumbers[] = {"0",
                                             "-0",
                                             "5",
                                             "5.0",
                                             "5e0",
                                             "50e-1",
                                             "1e2",
                                             "100",
                                             "0.1",
                                             "0.10",
                                             "-3.5",
                                             "12345678901234567890",
                                             "0.30000000000000001",
                                             "7"};
  static constexpr const char* kBounds[] = {"-3.5", "0", "0.1", "5", "7", "100"};

  template <std::size_t N>
  const char* pick(const char* const (&arr)[N]) {
    return arr[uniform(N)];
  }

  std::vector<std::string> pick_paths(std::uint64_t n, const std::vector<std::string>& avoid = {}) {
    std::vector<std::string> out;
    for (int attempts = 0; out.size() < n && attempts < 50; ++attempts) {
      std::string p = pick(kPaths);
      bool clash = false;
      for (const auto& q : out) {
        clash = clash || q == p;
      }
      for (const auto& q : avoid) {
        clash = clash || q == p;
      }
      if (!clash) {
        out.push_back(std::move(p));
      }
    }
    return out;
  }

  std::string scalar() {
    const std::uint64_t r = uniform(100);
    if (r < 55) {
      return chance(50) ? kStrings[uniform(6)] : pick(kStrings);  // favour a few hot values
    }
    if (r < 85) {
      return pick(kNumbers);
    }
    static constexpr const char* kLiterals[] = {"true", "false", "null"};
    return pick(kLiterals);
  }

  // A value for a leaf field of the given kind ("a" strings-first, "n" numbers-first, ...).
  std::string value_for(std::string_view key) {
    auto one = [&]() -> std::string {
      if (key == "ip") {
        static constexpr const char* kIps[] = {
            R"("10.0.0.1")",    R"("010.0.0.1")",     R"("10.1.2.3")", R"("192.168.1.1")",
            R"("2001:db8::1")", R"("2001:DB8:0::1")", R"("::1")",      R"("10")"};
        return chance(85) ? pick(kIps) : scalar();
      }
      if (key == "n" && chance(70)) {
        return pick(kNumbers);
      }
      return scalar();
    };
    const std::uint64_t r = uniform(100);
    if (r < 45) {
      return one();
    }
    if (r < 50) {
      return "[]";
    }
    if (r < 95) {
      std::string arr = "[";
      const std::size_t n = 1 + uniform(4);
      for (std::size_t i = 0; i < n; ++i) {
        arr += (i ? "," : "") + one();
      }
      return arr + "]";
    }
    return "[[" + one() + "]," + one() + "]";
  }

  std::string string_list(const char* const* items, std::size_t count) {
    if (chance(50)) {
      return items[uniform(count)];
    }
    std::string out = "[";
    const std::size_t n = 1 + uniform(2);
    for (std::size_t i = 0; i < n; ++i) {
      out += (i ? "," : "") + std::string(items[uniform(count)]);
    }
    return out + "]";
  }

  std::string numeric() {
    static constexpr const char* kOps[] = {"=", "<", "<=", ">", ">="};
    if (chance(50)) {
      return std::string(R"({"numeric":[")") + pick(kOps) + "\"," + pick(kBounds) + "]}";
    }
    std::size_t lo = uniform(std::size(kBounds) - 1);
    std::size_t hi = lo + 1 + uniform(std::size(kBounds) - 1 - lo);
    return std::string(R"({"numeric":[")") + (chance(50) ? ">" : ">=") + "\"," + kBounds[lo] +
           ",\"" + (chance(50) ? "<" : "<=") + "\"," + kBounds[hi] + "]}";
  }

  std::string matcher() {
    static constexpr const char* kPrefixes[] = {R"("al")",   R"("AL")", R"("b")",  R"("10.")",
                                                R"("2001")", R"("")",   R"("str")"};
    static constexpr const char* kSuffixes[] = {R"("ha")", R"("ET")", R"("bet")",
                                                R"(".1")", R"("")",   R"("SSE")"};
    static constexpr const char* kNonEmpty[] = {R"("al")",  R"("AL")", R"("b")",
                                                R"("10.")", R"("ha")", R"("et")"};
    static constexpr const char* kWildcards[] = {R"("*")",      R"("al*")", R"("*a")",
                                                 R"("a*b*")",   R"("*ta")", R"("a\\*b")",
                                                 R"("10.*.1")", R"("")",    R"("b*t")"};
    static constexpr const char* kCidrs[] = {
        R"("10.0.0.0/8")",    R"("10.0.0.0/24")", R"("192.168.0.0/16")",
        R"("2001:db8::/32")", R"("0.0.0.0/0")",   R"("10.0.0.1/32")",
        R"("::/0")"};
    switch (uniform(16)) {
      case 0:
      case 1:
        return chance(50) ? kStrings[uniform(6)] : pick(kStrings);
      case 2:
        return pick(kNumbers);
      case 3: {
        static constexpr const char* kLiterals[] = {"true", "false", "null"};
        return pick(kLiterals);
      }
      case 4:
        return chance(70)
                   ? std::string(R"({"prefix":)") + pick(kPrefixes) + "}"
                   : std::string(R"({"prefix":{"equals-ignore-case":)") + pick(kPrefixes) + "}}";
      case 5:
        return chance(70)
                   ? std::string(R"({"suffix":)") + pick(kSuffixes) + "}"
                   : std::string(R"({"suffix":{"equals-ignore-case":)") + pick(kSuffixes) + "}}";
      case 6:
        return std::string(R"({"equals-ignore-case":)") + pick(kStrings) + "}";
      case 7:
        return std::string(R"({"wildcard":)") + pick(kWildcards) + "}";
      case 8:
        return std::string(R"({"exactly":)") + pick(kStrings) + "}";
      case 9:
      case 10: {
        switch (uniform(6)) {
          case 0:
            return std::string(R"({"anything-but":)") + string_list(kStrings, std::size(kStrings)) +
                   "}";
          case 1:
            return std::string(R"({"anything-but":)") + string_list(kNumbers, std::size(kNumbers)) +
                   "}";
          case 2:
            return std::string(R"({"anything-but":{"prefix":)") +
                   string_list(kNonEmpty, std::size(kNonEmpty)) + "}}";
          case 3:
            return std::string(R"({"anything-but":{"suffix":)") +
                   string_list(kNonEmpty, std::size(kNonEmpty)) + "}}";
          case 4:
            return std::string(R"({"anything-but":{"equals-ignore-case":)") +
                   string_list(kStrings, std::size(kStrings)) + "}}";
          default:
            return std::string(R"({"anything-but":{"wildcard":)") +
                   string_list(kWildcards, std::size(kWildcards)) + "}}";
        }
      }
      case 11:
      case 12:
        return numeric();
      case 13:
        return chance(50) ? R"({"exists":true})" : R"({"exists":false})";
      default:
        return std::string(R"({"cidr":)") + pick(kCidrs) + "}";
    }
  }

  std::string leaf() {
    std::string out = "[" + matcher();
    const std::uint64_t extra = uniform(100) < 60 ? 1 + uniform(3) : 0;
    for (std::uint64_t i = 0; i < extra; ++i) {
      out += "," + matcher();
    }
    return out + "]";
  }

  static void append_key(std::string& out, std::string_view key) {
    out += '"';
    out += key;  // vocabulary keys need no escaping
    out += '"';
  }

  // An object from (key, JSON text) members, keys used as given.
  static std::string members_text(const std::vector<std::pair<std::string, std::string>>& m) {
    std::string out = "{";
    for (std::size_t i = 0; i < m.size(); ++i) {
      if (i) {
        out += ',';
      }
      append_key(out, m[i].first);
      out += ':';
      out += m[i].second;
    }
    return out + "}";
  }

  // A pattern object from (dotted path, leaf text) fields: each path is written either nested
  // ({"d":{"e":..}}) or, for some prefix, as a dotted key ({"d.e":..}); "$or" keys stay keys.
  std::string object_text(const std::vector<std::pair<std::string, std::string>>& fields) {
    // Group by first segment so nested objects are written once per key.
    std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>> groups;
    std::vector<std::pair<std::string, std::string>> direct;
    for (const auto& [path, text] : fields) {
      const std::size_t dot = path.find('.');
      if (dot == std::string::npos || path == "$or" ||
          (path.find("$or") == std::string::npos && chance(25))) {
        direct.emplace_back(path, text);
        continue;
      }
      const std::string head = path.substr(0, dot);
      bool found = false;
      for (auto& g : groups) {
        if (g.first == head) {
          g.second.emplace_back(path.substr(dot + 1), text);
          found = true;
        }
      }
      if (!found) {
        groups.push_back({head, {{path.substr(dot + 1), text}}});
      }
    }
    for (auto& [head, sub] : groups) {
      direct.emplace_back(head, object_text(sub));
    }
    return members_text(direct);
  }

  std::mt19937_64 rng_;
};

}  // namespace hikyaku::testing
