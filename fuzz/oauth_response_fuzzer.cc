// The OAuth token endpoint's answer (an HTTP status, then the body) read into a token: hostile
// answers give a token or an error, and no error ever shows the client secret, even when the
// answer echoes it back.

#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/redact.h"
#include "delivery/oauth.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hikyaku;  // NOLINT(google-build-using-namespace): a fuzzer's entry point
  constexpr std::string_view kClientSecret = "fuzz-client-secret-7c1d";
  const auto [status_line, body] = fuzz::split_first_line(fuzz::as_text(data, size));
  delivery::OAuthSettings settings;
  settings.connection = "auth";
  settings.client_id = "client";
  settings.client_secret = Secret(std::string(kClientSecret));
  settings.authorization_endpoint = "https://auth.example.com/token";
  delivery::AttemptResult attempt;
  for (const char c : status_line.substr(0, 3)) {
    if (c >= '0' && c <= '9') {
      attempt.http_status = attempt.http_status * 10 + (c - '0');
    }
  }
  const Redactor redactor(std::vector<std::string>{std::string(kClientSecret)});
  // The secret may appear in the answer (an echoing server): replace a marker with it.
  std::string answer(body);
  for (size_t at = answer.find("@S@"); at != std::string::npos; at = answer.find("@S@", at)) {
    answer.replace(at, 3, kClientSecret);
  }
  Result<delivery::Token> token =
      delivery::token_from_response(settings, attempt, answer, 1'772'356'502'000, redactor);
  if (!token.has_value() && token.error().message().find(kClientSecret) != std::string::npos) {
    std::fprintf(stderr, "a token error shows the client secret: %s\n",
                 token.error().message().c_str());
    std::abort();
  }
  return 0;
}
