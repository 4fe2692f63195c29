#pragma once
// Redaction of secrets embedded in text that is about to be displayed.
//
// Backlog's API takes its key as the `apiKey` query parameter, so an API destination's endpoint
// URL is itself a secret-bearing string. Every URL passes redact_url() before it reaches a log,
// an error message, metrics or admin output.
//
// Thread safety: stateless functions.

#include <string>
#include <string_view>

namespace hikyaku {

// True for a query-parameter or header name that conventionally carries a credential:
// case-insensitively it contains "key", "token", "secret", "password", "passwd", "signature",
// "credential" or "auth" (apiKey, api_key, access_token, X-Amz-Signature, Authorization...).
bool is_secret_parameter_name(std::string_view name);

// Returns `url` with the password of any userinfo and the value of every secret-named query
// parameter replaced by "***":
//   https://u:pw@x.backlog.com/api/v2/issues?apiKey=abc&x=1 ->
//   https://u:***@x.backlog.com/api/v2/issues?apiKey=***&x=1
// Text that is not a URL is returned unchanged apart from the same query-parameter masking.
std::string redact_url(std::string_view url);

}  // namespace hikyaku
