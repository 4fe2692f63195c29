// Backlog's answers read by the API client (integrations/backlog/client.h): the first line is the
// HTTP status, the rest the body every request of the client gets back. Hostile answers give a
// value or an error, never a crash, and no error, nor the recorded last response, ever shows the
// API key (raw or percent-encoded), even when the answer echoes it ("@K@" stands for it).

#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/secret.h"
#include "fuzz_input.h"
#include "integrations/backlog/client.h"

namespace {

constexpr std::string_view kApiKey = "fuzz-api-key/+7c=";
constexpr std::string_view kEncodedApiKey = "fuzz-api-key%2F%2B7c%3D";

void expect_no_key(std::string_view what, std::string_view text) {
  if (text.find(kApiKey) != std::string_view::npos ||
      text.find(kEncodedApiKey) != std::string_view::npos) {
    std::fprintf(stderr, "%.*s shows the API key: %.*s\n", static_cast<int>(what.size()),
                 what.data(), static_cast<int>(text.size()), text.data());
    std::abort();
  }
}

template <typename T>
void check(const hikyaku::Result<T>& result, const hikyaku::integrations::backlog::Client& client) {
  if (!result.has_value()) {
    expect_no_key("an error", result.error().message());
  }
  expect_no_key("the last response", client.last_response().body);
  expect_no_key("the last transport error", client.last_response().result.error);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hikyaku;  // NOLINT(google-build-using-namespace): a fuzzer's entry point
  namespace backlog = integrations::backlog;
  const auto [status_line, body] = fuzz::split_first_line(fuzz::as_text(data, size));
  backlog::Response answer;
  for (const char c : status_line.substr(0, 3)) {
    if (c >= '0' && c <= '9') {
      answer.result.http_status = answer.result.http_status * 10 + (c - '0');
    }
  }
  answer.body = std::string(body);
  for (size_t at = answer.body.find("@K@"); at != std::string::npos;
       at = answer.body.find("@K@", at)) {
    answer.body.replace(at, 3, kApiKey);
  }
  backlog::Client client(
      {.base_url = "https://fuzz.backlog.com", .api_key = Secret(std::string(kApiKey))},
      [&answer](const delivery::HttpRequest&) { return answer; });
  check(client.project("SEC"), client);
  check(client.get_issue("SEC-1"), client);
  check(client.search_issues(1, "finding"), client);
  check(client.create_issue({{"projectId", "1"}, {"summary", "s"}}), client);
  check(client.update_issue("SEC-1", {{"statusId", "4"}}), client);
  check(client.add_comment("SEC-1", "resolved"), client);
  return 0;
}
