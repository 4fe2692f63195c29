// The engine against the data-driven suite and the naive reference matcher:
//   (a) every case of tests/conformance/patterns/*.json gives its "expect" outcome (deliberate
//       section-13 divergences are marked in the files and expected as written);
//   (b) differential (re2's habit): random patterns and events from a fixed seed give the same
//       answer from the compiled matcher and from tests/testing/naive_matcher (one pattern at a
//       time, and many patterns compiled into one matcher).
#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "pattern/pattern.h"
#include "testing/naive_matcher.h"
#include "testing/pattern_generator.h"

namespace hikyaku::pattern {
namespace {

namespace fs = std::filesystem;

struct Case {
  std::string name, pattern, event, expect, error_contains, load_error;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

std::string trim(std::string_view s) {
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return std::string(s);
}

// A string's contents, or the raw JSON text of any other value (number spellings survive).
simdjson::error_code raw_or_string(simdjson::ondemand::value v, std::string& out) {
  simdjson::ondemand::json_type type;
  if (auto err = v.type().get(type)) {
    return err;
  }
  std::string_view text;
  if (type == simdjson::ondemand::json_type::string) {
    if (auto err = v.get_string().get(text)) {
      return err;
    }
    out = std::string(text);
    return simdjson::SUCCESS;
  }
  if (type == simdjson::ondemand::json_type::object) {
    simdjson::ondemand::object obj;
    if (auto err = v.get_object().get(obj); err || (err = obj.raw_json().get(text))) {
      return err;
    }
  } else if (type == simdjson::ondemand::json_type::array) {
    simdjson::ondemand::array arr;
    if (auto err = v.get_array().get(arr); err || (err = arr.raw_json().get(text))) {
      return err;
    }
  } else {
    text = v.raw_json_token();
  }
  out = trim(text);
  return simdjson::SUCCESS;
}

std::vector<Case> load_file(const fs::path& path) {
  std::vector<Case> cases;
  auto fail = [&](const std::string& why) {
    Case c;
    c.name = path.stem().string() + ".load_error";
    c.load_error = path.string() + ": " + why;
    cases.push_back(c);
    return cases;
  };
  simdjson::padded_string json;
  if (auto err = simdjson::padded_string::load(path.string()).get(json)) {
    return fail(simdjson::error_message(err));
  }
  simdjson::ondemand::parser parser;
  simdjson::ondemand::document doc;
  simdjson::ondemand::array items;
  if (auto err = parser.iterate(json).get(doc); err || (err = doc.get_array().get(items))) {
    return fail(simdjson::error_message(err));
  }
  for (auto item : items) {
    simdjson::ondemand::object obj;
    if (auto err = item.get_object().get(obj)) {
      return fail(simdjson::error_message(err));
    }
    Case c;
    for (auto field : obj) {
      std::string_view key;
      simdjson::ondemand::value value;
      if (auto err = field.unescaped_key().get(key); err || (err = field.value().get(value))) {
        return fail(simdjson::error_message(err));
      }
      std::string text;
      if (auto err = raw_or_string(value, text)) {
        return fail(simdjson::error_message(err));
      }
      if (key == "name") {
        c.name = text;
      } else if (key == "pattern") {
        c.pattern = text;
      } else if (key == "event") {
        c.event = text;
      } else if (key == "expect") {
        c.expect = text;
      } else if (key == "error_contains") {
        c.error_contains = text;
      }
    }
    cases.push_back(c);
  }
  return cases;
}

const std::vector<Case>& all_cases() {
  static const std::vector<Case> kCases = [] {
    std::vector<fs::path> files;
    std::error_code ec;
    for (const auto& entry :
         fs::directory_iterator(fs::path(HIKYAKU_TEST_DATA_DIR) / "conformance" / "patterns", ec)) {
      if (entry.path().extension() == ".json") {
        files.push_back(entry.path());
      }
    }
    std::sort(files.begin(), files.end());
    std::vector<Case> all;
    for (const fs::path& f : files) {
      std::vector<Case> cases = load_file(f);
      all.insert(all.end(), cases.begin(), cases.end());
    }
    return all;
  }();
  return kCases;
}

std::string outcome_of(const Result<bool>& r) {
  if (r.has_value()) {
    return *r ? "match" : "nomatch";
  }
  return r.error().message().starts_with("event: ") ? "invalid-event" : "invalid";
}

class EngineConformanceTest : public ::testing::TestWithParam<Case> {};

TEST_P(EngineConformanceTest, GivesExpectedOutcome) {
  const Case& c = GetParam();
  ASSERT_EQ(c.load_error, "");
  Result<bool> r = matches(c.pattern, c.event);
  EXPECT_EQ(outcome_of(r), c.expect) << "pattern: " << c.pattern << "\nevent: " << c.event
                                     << "\nerror: " << r.status().to_string();
  // The multi-rule matcher agrees with the convenience function.
  if (r.has_value()) {
    auto m = Matcher::compile({{1, c.pattern}});
    ASSERT_TRUE(m.has_value());
    std::vector<uint32_t> ids;
    ASSERT_TRUE((*m)->match(c.event, ids).ok());
    EXPECT_EQ(!ids.empty(), *r);
  }
}

std::string param_name(const ::testing::TestParamInfo<Case>& info) {
  std::string name = info.param.name;
  for (char& ch : name) {
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))) {
      ch = '_';
    }
  }
  return name + "_" + std::to_string(info.index);
}

INSTANTIATE_TEST_SUITE_P(Patterns, EngineConformanceTest, ::testing::ValuesIn(all_cases()),
                         param_name);

TEST(EngineConformanceSuiteTest, SuiteIsPresent) { EXPECT_GE(all_cases().size(), 600u); }

TEST(DifferentialTest, SinglePatternAgreesWithNaiveMatcher) {
  testing::PatternGenerator gen(20260228);
  int matched = 0;
  for (int i = 0; i < 8000; ++i) {
    std::string p = gen.pattern();
    std::string e = gen.event();
    Result<bool> naive = testing::naive_matches(p, e);
    Result<bool> ours = matches(p, e);
    ASSERT_EQ(outcome_of(ours), outcome_of(naive))
        << "case " << i << "\npattern: " << p << "\nevent: " << e
        << "\nours: " << ours.status().to_string() << "\nnaive: " << naive.status().to_string();
    matched += ours.has_value() && *ours ? 1 : 0;
  }
  EXPECT_GT(matched, 800);  // the comparison is not trivially "nomatch"
}

TEST(DifferentialTest, OneMatcherForManyPatternsAgreesWithNaiveMatcher) {
  testing::PatternGenerator gen(7);
  for (int round = 0; round < 4; ++round) {
    std::vector<std::string> patterns;
    for (int i = 0; i < 200; ++i) {
      patterns.push_back(gen.pattern());
    }
    std::vector<RuleSpec> rules;
    for (size_t i = 0; i < patterns.size(); ++i) {
      rules.push_back({static_cast<uint32_t>(i), patterns[i]});
    }
    auto m = Matcher::compile(rules);
    ASSERT_TRUE(m.has_value()) << m.status().to_string();
    std::vector<uint32_t> ids;
    for (int k = 0; k < 60; ++k) {
      std::string e = gen.event();
      ASSERT_TRUE((*m)->match(e, ids).ok()) << e;
      std::vector<uint32_t> want;
      for (size_t i = 0; i < patterns.size(); ++i) {
        Result<bool> r = testing::naive_matches(patterns[i], e);
        ASSERT_TRUE(r.has_value()) << patterns[i] << " / " << e;
        if (*r) {
          want.push_back(static_cast<uint32_t>(i));
        }
      }
      ASSERT_EQ(ids, want) << "round " << round << " event " << e;
    }
  }
}

}  // namespace
}  // namespace hikyaku::pattern
