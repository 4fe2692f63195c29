// The event envelope parser (webhook bodies, PutEvents entries once assembled): hostile bytes
// must give an error or an envelope, and a parsed envelope must survive serializing and parsing
// again unchanged.

#include <cstdio>
#include <cstdlib>

#include "core/envelope.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hikyaku;  // NOLINT(google-build-using-namespace): a fuzzer's entry point
  (void)json_nests_deeper_than(fuzz::as_text(data, size), kMaxEventNestingDepth);
  Result<Envelope> parsed = parse_envelope(fuzz::as_text(data, size));
  if (!parsed.has_value()) {
    return 0;
  }
  const std::string serialized = serialize_envelope(*parsed);
  Result<Envelope> again = parse_envelope(serialized);
  if (!again.has_value()) {
    std::fprintf(stderr, "a serialized envelope does not parse: %s\n%s\n",
                 again.error().message().c_str(), serialized.c_str());
    std::abort();
  }
  if (again->id != parsed->id || again->source != parsed->source ||
      again->detail_type != parsed->detail_type || again->detail_json != parsed->detail_json ||
      again->resources != parsed->resources || again->time != parsed->time ||
      again->replay_name != parsed->replay_name) {
    std::fprintf(stderr, "an envelope changed through serialize and parse:\n%s\n",
                 serialized.c_str());
    std::abort();
  }
  return 0;
}
