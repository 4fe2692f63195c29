// The engine against the data-driven suite and the naive reference matcher:
//   (a) every case of tests/conformance/patterns/*.json gives its "expect" outcome (deliberate
//       section-13 divergences are marked in the files and expected as written);
//   (b) differential (re2's habit): random patterns and events from a fixed seed give the same
//       answer from the compiled matcher and from tests/testing/naive_matcher (one pattern at a
//       time, and many patterns compiled into one matcher).
// Each runs twice: as matching runs, and with the array-consistency check forced past its quick
// search into the linear pass (matcher_verify.cc), which must give the same answers.
#include <gtest/gtest.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "pattern/internal/matcher_impl.h"
#include "pattern/pattern.h"
#include "testing/naive_matcher.h"
#include "testing/pattern_cases.h"
#include "testing/pattern_generator.h"

namespace hikyaku::pattern {
namespace {

using testing::outcome_of;
using Case = testing::PatternCase;

const std::vector<Case>& all_cases() {
  static const std::vector<Case> cases = testing::load_pattern_case_dir(
      std::filesystem::path(HIKYAKU_TEST_DATA_DIR) / "conformance" / "patterns");
  return cases;
}

// For its lifetime, this thread's matches skip the quick search and use the linear pass.
class ForceLinearPass {
 public:
  ForceLinearPass() { internal::thread_scratch().quick_steps = 0; }
  ~ForceLinearPass() { internal::thread_scratch().quick_steps = internal::kQuickSearchSteps; }
  ForceLinearPass(const ForceLinearPass&) = delete;
  ForceLinearPass& operator=(const ForceLinearPass&) = delete;
};

class EngineConformanceTest : public ::testing::TestWithParam<Case> {};

TEST_P(EngineConformanceTest, GivesExpectedOutcome) {
  const Case& c = GetParam();
  ASSERT_EQ(c.load_error, "");
  Result<bool> r = matches(c.pattern, c.event);
  EXPECT_EQ(outcome_of(r), c.expect) << "pattern: " << c.pattern << "\nevent: " << c.event
                                     << "\nerror: " << r.status().to_string();
  // The multi-rule matcher agrees with the convenience function, with either check.
  if (r.has_value()) {
    auto m = Matcher::compile({{1, c.pattern}});
    ASSERT_TRUE(m.has_value());
    std::vector<uint32_t> ids;
    ASSERT_TRUE((*m)->match(c.event, ids).ok());
    EXPECT_EQ(!ids.empty(), *r);
    ForceLinearPass linear;
    ASSERT_TRUE((*m)->match(c.event, ids).ok());
    EXPECT_EQ(!ids.empty(), *r) << "linear pass";
  }
}

std::string param_name(const ::testing::TestParamInfo<Case>& info) {
  return testing::pattern_case_test_name(info.param, info.index);
}

INSTANTIATE_TEST_SUITE_P(Patterns, EngineConformanceTest, ::testing::ValuesIn(all_cases()),
                         param_name);

TEST(EngineConformanceSuiteTest, SuiteIsPresent) { EXPECT_GE(all_cases().size(), 600u); }

void single_patterns_agree_with_naive_matcher() {
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

TEST(DifferentialTest, SinglePatternAgreesWithNaiveMatcher) {
  single_patterns_agree_with_naive_matcher();
}

TEST(DifferentialTest, SinglePatternAgreesWithNaiveMatcherInTheLinearPass) {
  ForceLinearPass linear;
  single_patterns_agree_with_naive_matcher();
}

TEST(DifferentialTest, OneMatcherForManyPatternsAgreesWithNaiveMatcher) {
  testing::PatternGenerator gen(7);
  for (int round = 0; round < 6; ++round) {
    // The last rounds check the linear pass.
    std::optional<ForceLinearPass> linear;
    if (round >= 4) {
      linear.emplace();
    }
    std::vector<std::string> patterns;
    patterns.reserve(200);
    for (int i = 0; i < 200; ++i) {
      patterns.push_back(gen.pattern());
    }
    std::vector<RuleSpec> rules;
    rules.reserve(patterns.size());
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
