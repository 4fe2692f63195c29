#pragma once
// The data-driven pattern conformance cases (tests/conformance/patterns/*.json), read the same way
// by the engine's test (src/pattern) and the naive matcher's (tests/conformance).
//
// Case file format (a JSON array): {"name", "pattern", "event", "expect", "divergence"?,
// "error_contains"?}. A string pattern/event is raw text used as-is; any other JSON value is used
// exactly as written in the file (its raw text, so number spellings survive). A file that cannot
// be read, or a case with an unknown key, yields a case whose load_error says why (tests fail on
// it rather than silently running fewer cases).

#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "core/status.h"

namespace hikyaku::testing {

struct PatternCase {
  std::string file;  // stem, e.g. "numbers"
  std::string name;  // already starts with the stem ("numbers.five.3")
  std::string pattern;
  std::string event;
  std::string expect;  // match | nomatch | invalid | invalid-event
  std::string divergence;
  std::string error_contains;
  std::string load_error;  // non-empty: the case could not be read
};

// gtest prints the parameter of a failing test with this.
// NOLINTNEXTLINE(readability-identifier-naming): the name gtest looks for.
inline void PrintTo(const PatternCase& c, std::ostream* os) { *os << c.name; }

std::vector<PatternCase> load_pattern_cases(const std::filesystem::path& file);
// Every *.json file of `dir`, in file-name order.
std::vector<PatternCase> load_pattern_case_dir(const std::filesystem::path& dir);

// "match", "nomatch", "invalid-event" (the error says "event: ...") or "invalid".
std::string outcome_of(const Result<bool>& r);

// A gtest-safe name: the case name with non-alphanumerics as '_', and its index.
std::string pattern_case_test_name(const PatternCase& c, size_t index);

}  // namespace hikyaku::testing
