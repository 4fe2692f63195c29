// Form and percent encoding (x-www-form-urlencoded bodies, query strings, Backlog requests):
// decoding what was encoded gives the text back, and decoding hostile text never fails badly.

#include <cstdio>
#include <cstdlib>

#include "core/url_encoding.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hikyaku;  // NOLINT(google-build-using-namespace): a fuzzer's entry point
  const std::string_view text = fuzz::as_text(data, size);
  if (form_decode(form_encode(text)) != text || percent_decode(percent_encode(text)) != text) {
    std::fprintf(stderr, "encoding did not round-trip\n");
    std::abort();
  }
  (void)form_decode(text);
  (void)percent_decode(text);
  (void)base64_encode(text);
  return 0;
}
