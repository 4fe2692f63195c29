// The compiled matcher against the naive reference matcher (tests/testing/naive_matcher.h), on a
// pattern and an event from one input (first line: the pattern; the rest: the event). Aborts
// when they disagree on whether the pattern is valid or on whether it matches a valid event; on
// the way, the parser, the compiler, the event scanner and the explainer see hostile text.

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "fuzz_input.h"
#include "pattern/pattern.h"
#include "testing/naive_matcher.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hikyaku;  // NOLINT(google-build-using-namespace): a fuzzer's entry point
  const auto [pattern, event] = fuzz::split_first_line(fuzz::as_text(data, size));
  Result<std::unique_ptr<const pattern::Matcher>> compiled =
      pattern::Matcher::compile({{7, pattern}});
  const Status reference_valid = testing::naive_validate_pattern(pattern);
  // The reference follows EventBridge, which takes some wildcards with more than 5 '*'; the
  // matcher refuses them all, a documented limit (docs/event-patterns.md §10).
  if (!compiled.has_value() && reference_valid.ok() &&
      compiled.error().message().find("is too complex") != std::string::npos) {
    return 0;
  }
  if (compiled.has_value() != reference_valid.ok()) {
    std::fprintf(stderr, "validity differs: matcher %s, reference %s\n",
                 compiled.has_value() ? "valid" : compiled.error().message().c_str(),
                 reference_valid.ok() ? "valid" : reference_valid.message().c_str());
    std::abort();
  }
  if (!compiled.has_value()) {
    return 0;
  }
  std::vector<uint32_t> ids;
  const Status matched = (*compiled)->match(event, ids);
  if (!pattern::validate_event(event).ok()) {
    return 0;  // the matcher may skip what no rule names; only strict events are compared
  }
  Result<bool> reference = testing::naive_matches(pattern, event);
  if (!reference.has_value() || !matched.ok()) {
    // The event is strict JSON: both must take it (budget refusals aside).
    if (matched.ok() == reference.has_value()) {
      return 0;
    }
    if (!matched.ok() && matched.message().find("budget") != std::string::npos) {
      return 0;
    }
    std::fprintf(stderr, "event accepted differently: matcher %s, reference %s\n",
                 matched.ok() ? "ok" : matched.message().c_str(),
                 reference.has_value() ? "ok" : reference.error().message().c_str());
    std::abort();
  }
  if (*reference != !ids.empty()) {
    std::fprintf(stderr, "match differs: matcher %d, reference %d\n", !ids.empty(), *reference);
    std::abort();
  }
  (void)pattern::explain(pattern, event);
  return 0;
}
