#pragma once
// A blocking HTTP client over libcurl, one per delivery worker thread.
//
// Redirects are not followed (EventBridge does not); the whole exchange is bounded by the
// timeout (EventBridge's API destinations give an endpoint 5 seconds). At most 1 MiB of the
// response is read, as EventBridge does.
//
// Thread safety: externally synchronized (one instance per thread).

#include <string>
#include <utility>
#include <vector>

#include "delivery/request.h"
#include "delivery/retry_policy.h"

namespace hikyaku::delivery {

class HttpClient {
 public:
  HttpClient();
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends `request`. `hints` receives what the answer says about pacing (request.h).
  // `response_excerpt` receives up to the first 512 bytes of the response body, `response_body` up
  // to 1 MiB of it. Transport errors come back in AttemptResult::error with the name rules applied
  // (redact_url). Neither response text is redacted: a caller that records it redacts the whole
  // text first and cuts it afterwards (a cut through a secret would leave its head unrecognised).
  AttemptResult send(const HttpRequest& request, std::string* response_excerpt = nullptr,
                     std::string* response_body = nullptr, ResponseHints* hints = nullptr);

 private:
  void* curl_;  // CURL*
};

}  // namespace hikyaku::delivery
