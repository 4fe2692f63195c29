#pragma once
// The HTTP request of one delivery attempt to an API destination, built from the endpoint (the
// destination, its connection and the target's settings), the stored job and, for an OAuth
// connection, the current bearer token. Every parameter of the config acts here, in one place
// (docs/api-destinations.md §4 is the user's view of this contract):
//
//   Result<HttpRequest> request = build_request(endpoint, claim.job, token);  // token may be null
//
// URL: `endpoint.url` with each `*` of its PATH (not of its query or fragment) replaced, in
// order, by the target's PathParameterValues, each percent-encoded as one path segment (every
// byte but A-Z a-z 0-9 - . _ ~ becomes %XX, so `/` and `?` in a value cannot change the path);
// then the query parameters appended (before any `#fragment`), key and value percent-encoded the
// same way: first the target's QueryStringParameters, then the connection's
// InvocationHttpParameters.QueryStringParameters. Parameters already written in the endpoint's
// own query string are kept as written.
//
// Headers, highest precedence first; a later header whose name (compared case-insensitively)
// is already present is dropped, so for the same key the connection wins over the target, as
// AWS documents, and a parameter wins over a default:
//   1. `Authorization: Bearer <token>` when `bearer_token` is given (OAuth connections);
//   2. the connection's headers (`endpoint.headers`: API key or Basic authorization, then its
//      InvocationHttpParameters.HeaderParameters);
//   3. the target's HeaderParameters;
//   4. the defaults: `Content-Type: application/json; charset=utf-8` (BodyEncoding JSON) or
//      `application/x-www-form-urlencoded` (FORM), and `User-Agent: hikyaku/<version>`. A
//      Content-Type header parameter replaces the default; the body is not converted (AWS allows
//      a custom Content-Type since 2024).
// Accept-Encoding, Host and Content-Length are the transport's business.
//
// Body: the job's body, none for GET and HEAD. The connection's BodyParameters are merged in
// (never into the stored job): with BodyEncoding FORM each is appended as a form field
// (`key=value`, form-encoded: space as `+`, A-Z a-z 0-9 * - . _ kept, every other byte %XX),
// after removing the body's fields of the same name; with JSON the body must be a JSON object and
// each parameter becomes a top-level string member, replacing a member of the same key (the
// connection wins), the other members kept byte for byte. For GET and HEAD no body is sent, so
// BodyParameters are not sent either.
//
// Target values that are JSONPaths were resolved against the original event at ingest (the
// engine no longer has the event) and travel in the job's `headers` field as one flat JSON
// object of strings, holding only the values that resolved:
//   {"path:0": "ABC-1", "header:X-Finding": "f-1", "query:finding": "f-1"}
// ("path:<index into PathParameterValues>", "header:<name>", "query:<name>"; "" = no dynamic
// values). bus::Pipeline writes it (the two sides are tested against this literal shape). Literal
// values never go there: they stay in the endpoint (a literal may be a secret, and the store holds
// no configured secret). A value is its text: a string without quotes, anything else as compact
// JSON (a number as the event writes it, true, false, null, an object or array). A dynamic header
// or query value that did not resolve is omitted.
//
// Errors, all kInvalidArgument, for a request that can never be built for this job (the engine
// settles it as a permanent failure, ERROR_CODE INVALID_PARAMETERS). Messages name the parameter
// and never quote a value:
//   - the number of PathParameterValues differs from the number of `*` in the path;
//   - a path value that did not resolve, is empty, or is `.` or `..` (it would change the path);
//   - a header name that is not an HTTP token, or a header value with a control character other
//     than tab (CR and LF would inject headers);
//   - BodyParameters with a JSON body that is not a JSON object (a string template's output, an
//     array, a string): merging cannot place them, and a silently missing parameter is often a
//     missing credential;
//   - job headers that are not the JSON object above (a damaged row).
//
// Cost: the URL, headers and body are built once per attempt; the body is copied once (twice
// when BodyParameters are merged); the job's headers are parsed only when the target has
// dynamic values.
//
// Thread safety: a pure function of its arguments.

#include <string>
#include <utility>
#include <vector>

#include "core/secret.h"
#include "core/status.h"
#include "delivery/endpoint.h"
#include "store/store.h"

namespace hikyaku::delivery {

struct HttpRequest {
  std::string method = "POST";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;  // clear text: built at send time
  std::string body;                                          // not sent for GET and HEAD
  long timeout_ms = 5000;
  std::string ca_file;  // PEM CA bundle to trust instead of the system store; "" = system
};

// What a response says about pacing (header values as received; absent headers empty): read by
// the destination's Pacer (internal/pacer.h).
struct ResponseHints {
  int http_status = 0;  // 0: no response (timeout, connection failure)
  std::string retry_after;
  std::string rate_limit_remaining;
  std::string rate_limit_reset;
};

// Reads one response header line ("Name: value\r\n") into `hints` when it is one of theirs; a
// status line ("HTTP/...") starts a new header block and clears them.
void read_hint_header(std::string_view line, ResponseHints& hints);

// The User-Agent hikyaku sends: "hikyaku/<version>".
std::string_view user_agent();

// Builds the request of one attempt; `bearer_token` null = no bearer token.
Result<HttpRequest> build_request(const Endpoint& endpoint, const store::Job& job,
                                  const Secret* bearer_token);

}  // namespace hikyaku::delivery
