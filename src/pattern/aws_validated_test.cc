// Every case of tests/data/aws-validated/event-patterns.jsonl (recorded against real EventBridge)
// gives AWS's outcome, except the deliberate divergences of docs/event-patterns.md §13 listed below
// with reasons.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "pattern/pattern.h"

namespace hikyaku::pattern {
namespace {

// id -> why hikyaku deliberately answers differently from AWS (docs/event-patterns.md §13).
const std::map<std::string, std::string>& divergences() {
  static const std::map<std::string, std::string> table = {};
  return table;
}

struct Case {
  std::string id, pattern, event, expect;
};

std::vector<Case> load_cases() {
  std::ifstream in(std::string(HIKYAKU_TEST_DATA_DIR) + "/data/aws-validated/event-patterns.jsonl");
  std::vector<Case> cases;
  simdjson::dom::parser parser;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) {
      continue;
    }
    simdjson::dom::element doc;
    if (parser.parse(line).get(doc) != simdjson::SUCCESS) {
      ADD_FAILURE() << "unparsable line: " << line;
      continue;
    }
    Case c;
    std::string_view v;
    if (doc["id"].get(v) == simdjson::SUCCESS) {
      c.id = std::string(v);
    }
    if (doc["pattern"].get(v) == simdjson::SUCCESS) {
      c.pattern = std::string(v);
    }
    if (doc["event"].get(v) == simdjson::SUCCESS) {
      c.event = std::string(v);
    }
    if (doc["expect"].get(v) == simdjson::SUCCESS) {
      c.expect = std::string(v);
    }
    cases.push_back(std::move(c));
  }
  return cases;
}

TEST(AwsValidatedTest, EveryCaseGivesAwsOutcome) {
  std::vector<Case> cases = load_cases();
  ASSERT_EQ(cases.size(), 183u);
  int checked = 0;
  for (const Case& c : cases) {
    std::string got;
    Result<bool> r = matches(c.pattern, c.event);
    if (!r.has_value()) {
      got = "invalid";
    } else {
      got = *r ? "match" : "nomatch";
    }
    auto div = divergences().find(c.id);
    if (div != divergences().end()) {
      EXPECT_NE(got, c.expect) << c.id << " is listed as a divergence but now agrees with AWS";
      continue;
    }
    ++checked;
    EXPECT_EQ(got, c.expect) << c.id << "\npattern: " << c.pattern << "\nevent: " << c.event
                             << (r.has_value() ? "" : "\nerror: " + r.error().message());
  }
  EXPECT_EQ(checked + static_cast<int>(divergences().size()), 183);
}

}  // namespace
}  // namespace hikyaku::pattern
