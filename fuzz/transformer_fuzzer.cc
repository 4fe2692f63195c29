// The input transformer on a template and an event from one input (first line: the
// InputTemplate; the rest: the event), with a fixed InputPathsMap that reaches into every kind of
// value. Whatever renders from a JSON template for an event ingest would take (one document
// simdjson parses) must parse as JSON; nothing may crash or hang, whatever the event.

#include <simdjson.h>

#include <cstdio>
#include <cstdlib>

#include "fuzz_input.h"
#include "transform/transformer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hikyaku;  // NOLINT(google-build-using-namespace): a fuzzer's entry point
  const auto [input_template, event] = fuzz::split_first_line(fuzz::as_text(data, size));
  transform::TargetInput spec;
  spec.input_transformer = transform::InputTransformerSpec{{{"a", "$.detail.a"},
                                                            {"b", "$.detail"},
                                                            {"c", "$.detail.list[0]"},
                                                            {"d", "$.source"},
                                                            {"e", "$"},
                                                            {"f", "$.detail.findings[0].Title"}},
                                                           std::string(input_template)};
  Result<transform::Transformer> compiled = transform::Transformer::compile(spec);
  if (!compiled.has_value()) {
    return 0;
  }
  const transform::RenderContext context{"rule", "arn:aws:events:us-east-1:123456789012:rule/rule",
                                         "2026-03-01T09:15:02Z"};
  Result<std::string> rendered = compiled->render(event, context);
  if (!rendered.has_value() || !compiled->is_json_template()) {
    return 0;
  }
  simdjson::dom::parser parser;
  simdjson::dom::element parsed;
  // Ingest refuses what simdjson does not take (a number beyond a double, trailing text), so
  // only such events reach a transformer: the output is checked for those alone.
  if (event.empty() ||  // simdjson copies from data(), which may then be null
      parser.parse(event.data(), event.size()).get(parsed) != simdjson::SUCCESS) {
    return 0;
  }
  if (parser.parse(*rendered).get(parsed) != simdjson::SUCCESS) {
    std::fprintf(stderr, "a JSON template rendered text that is not JSON:\n%s\n",
                 rendered->c_str());
    std::abort();
  }
  return 0;
}
