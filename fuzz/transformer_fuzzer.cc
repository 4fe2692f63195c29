// The input transformer on a template and an event from one input (first line: the
// InputTemplate; the rest: the event), with a fixed InputPathsMap that reaches into every kind of
// value. Whatever renders from a JSON template must parse as JSON; nothing may crash or hang.

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
  if (parser.parse(*rendered).get(parsed) != simdjson::SUCCESS) {
    std::fprintf(stderr, "a JSON template rendered text that is not JSON:\n%s\n",
                 rendered->c_str());
    std::abort();
  }
  return 0;
}
