// SigV4 verification of hostile requests: the input is an Authorization header (first line),
// an X-Amz-Date (second line) and a body (the rest). Verification must refuse or accept without
// crashing, and must never accept a signature it did not compute.

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "fuzz_input.h"
#include "server/sigv4.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hikyaku;  // NOLINT(google-build-using-namespace): a fuzzer's entry point
  const auto [authorization, rest] = fuzz::split_first_line(fuzz::as_text(data, size));
  const auto [amz_date, body] = fuzz::split_first_line(rest);
  (void)server::sigv4::parse_authorization(authorization);
  (void)server::sigv4::parse_amz_date(amz_date);
  static const std::vector<config::SigV4Credential> credentials = {
      {"AKIDFUZZ", Secret("fuzz-secret-access-key"), {}}};
  server::sigv4::SigV4Request request;
  request.method = "POST";
  request.path = "/";
  request.body = body;
  request.headers = {{"host", "127.0.0.1:4010"},
                     {"x-amz-date", std::string(amz_date)},
                     {"x-amz-target", "AWSEvents.PutEvents"},
                     {"content-type", "application/x-amz-json-1.1"},
                     {"authorization", std::string(authorization)}};
  server::sigv4::VerifyOptions options;
  options.credentials = &credentials;
  Result<std::chrono::system_clock::time_point> when = server::sigv4::parse_amz_date(amz_date);
  options.now = when.has_value() ? *when : std::chrono::system_clock::now();
  const server::sigv4::VerifyOutcome outcome = server::sigv4::verify(request, options);
  if (outcome.ok()) {
    // Only the real signature passes: recompute it over the headers the request named.
    Result<server::sigv4::Authorization> parsed = server::sigv4::parse_authorization(authorization);
    if (!parsed.has_value()) {
      std::fprintf(stderr, "accepted an Authorization header that does not parse\n");
      std::abort();
    }
    server::sigv4::SigV4Request unsigned_request = request;
    unsigned_request.headers.pop_back();
    const std::string expected = server::sigv4::authorization_header(
        unsigned_request, parsed->signed_headers, credentials[0].access_key_id,
        credentials[0].secret_access_key.reveal(), amz_date, parsed->region);
    if (expected.find("Signature=" + parsed->signature) == std::string::npos) {
      std::fprintf(stderr, "accepted a signature it does not compute\n");
      std::abort();
    }
  }
  return 0;
}
