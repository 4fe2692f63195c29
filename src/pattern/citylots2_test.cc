// CityLots2 at scale: every rule of the 14 rule sets (and of the COMBO / PARTIAL_COMBO sets
// compiled into one matcher) matches exactly the number of synthetic events that event-ruler
// 2.0.1 matched (tests/data/citylots2/rules.json, synthetic_counts). The 213,068-event stream is
// generated once by tests/data/citylots2/generate.py into the build directory.
#include <gtest/gtest.h>
#include <simdjson.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "pattern/pattern.h"

namespace hikyaku::pattern {
namespace {

constexpr size_t kEvents = 213068;

std::string events_path() {
  std::string path = std::string(HIKYAKU_BINARY_DIR) + "/citylots2-synth.json";
  if (!std::filesystem::exists(path)) {
    std::string tmp = path + ".tmp." + std::to_string(::getpid());
    std::string cmd = "python3 '" + std::string(HIKYAKU_TEST_DATA_DIR) +
                      "/data/citylots2/generate.py' > '" + tmp + "' && mv '" + tmp + "' '" + path +
                      "'";
    if (std::system(cmd.c_str()) != 0) {  // NOLINT(concurrency-mt-unsafe): test setup only
      return {};
    }
  }
  return path;
}

struct RuleSet {
  std::string name;
  std::vector<std::string> patterns;
  std::vector<uint64_t> expected;
  std::vector<uint64_t> counts;
};

TEST(CityLots2Test, EveryRuleMatchesTheRecordedSyntheticCount) {
  std::string path = events_path();
  ASSERT_FALSE(path.empty()) << "could not generate the CityLots2 events";

  simdjson::dom::parser rules_parser;
  simdjson::dom::element rules;
  ASSERT_EQ(rules_parser.load(std::string(HIKYAKU_TEST_DATA_DIR) + "/data/citylots2/rules.json")
                .get(rules),
            simdjson::SUCCESS);
  std::map<std::string, size_t> by_name;
  std::vector<RuleSet> sets;
  simdjson::dom::array order;
  ASSERT_EQ(rules["order"].get(order), simdjson::SUCCESS);
  for (simdjson::dom::element name_el : order) {
    std::string_view name = name_el.get_string().value_unsafe();
    RuleSet rs;
    rs.name = std::string(name);
    simdjson::dom::element set = rules["sets"][name].value_unsafe();
    simdjson::dom::array rule_list = set["rules"].get_array().value_unsafe();
    for (simdjson::dom::element p : rule_list) {
      rs.patterns.emplace_back(p.get_string().value_unsafe());
    }
    simdjson::dom::array count_list = set["synthetic_counts"].get_array().value_unsafe();
    for (simdjson::dom::element c : count_list) {
      rs.expected.push_back(c.get_uint64().value_unsafe());
    }
    ASSERT_EQ(rs.patterns.size(), rs.expected.size());
    by_name[rs.name] = sets.size();
    sets.push_back(std::move(rs));
  }
  // Combined sets: one matcher for the rules of several sets, each rule keeps its own count.
  simdjson::dom::object combos;
  ASSERT_EQ(rules["combos"].get(combos), simdjson::SUCCESS);
  for (auto [combo_name, members] : combos) {
    RuleSet rs;
    rs.name = std::string(combo_name);
    simdjson::dom::array member_list = members.get_array().value_unsafe();
    for (simdjson::dom::element m : member_list) {
      const RuleSet& part = sets[by_name.at(std::string(m.get_string().value_unsafe()))];
      rs.patterns.insert(rs.patterns.end(), part.patterns.begin(), part.patterns.end());
      rs.expected.insert(rs.expected.end(), part.expected.begin(), part.expected.end());
    }
    sets.push_back(std::move(rs));
  }
  ASSERT_EQ(sets.size(), 16u);
  // All 155 rules of the 16 sets in ONE matcher (id = set * 64 + rule): one walk per event, and
  // a check that rules sharing fields and conditions do not disturb each other.
  std::vector<RuleSpec> specs;
  for (size_t k = 0; k < sets.size(); ++k) {
    ASSERT_LT(sets[k].patterns.size(), 64u);
    for (size_t i = 0; i < sets[k].patterns.size(); ++i) {
      specs.push_back({static_cast<uint32_t>(k * 64 + i), sets[k].patterns[i]});
    }
    sets[k].counts.assign(sets[k].patterns.size(), 0);
  }
  auto matcher = Matcher::compile(specs);
  ASSERT_TRUE(matcher.has_value()) << matcher.status().to_string();

  std::ifstream in(path);
  std::string line;
  std::vector<uint32_t> ids;
  size_t events = 0;
  size_t errors = 0;
  while (std::getline(in, line)) {
    ++events;
    if (!(*matcher)->match(line, ids).ok()) {
      ++errors;
      continue;
    }
    for (uint32_t id : ids) {
      ++sets[id / 64].counts[id % 64];
    }
  }
  ASSERT_EQ(events, kEvents);
  EXPECT_EQ(errors, 0u);
  for (const RuleSet& rs : sets) {
    for (size_t i = 0; i < rs.patterns.size(); ++i) {
      EXPECT_EQ(rs.counts[i], rs.expected[i]) << rs.name << " rule " << i << ": " << rs.patterns[i];
    }
  }
}

}  // namespace
}  // namespace hikyaku::pattern
