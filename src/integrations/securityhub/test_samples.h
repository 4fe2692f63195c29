#pragma once
// The Security Hub sample events of tests/data/securityhub/, for this folder's tests.

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "integrations/securityhub/finding.h"

namespace hikyaku::integrations::securityhub::testing {

inline std::string sample_event(const std::string& name) {
  std::ifstream file(std::string(HIKYAKU_TEST_DATA_DIR) + "/data/securityhub/" + name);
  EXPECT_TRUE(file.good()) << name;
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// The finding at `index` of sample `name`; fails the test when it does not parse.
inline Finding sample_finding(const std::string& name, size_t index = 0) {
  Result<std::vector<Result<Finding>>> findings = parse_event_findings(sample_event(name));
  if (!findings.has_value()) {
    ADD_FAILURE() << name << ": " << findings.error().to_string();
    return Finding{};
  }
  if (index >= findings->size() || !(*findings)[index].has_value()) {
    ADD_FAILURE() << name << ": no finding " << index;
    return Finding{};
  }
  return (*findings)[index].value();
}

}  // namespace hikyaku::integrations::securityhub::testing
