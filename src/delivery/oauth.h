#pragma once
// OAuth client credentials (RFC 6749 §4.4) for connections of type OAUTH_CLIENT_CREDENTIALS:
// building the token request, reading the token endpoint's answer, and the per-connection token
// cache. The HTTP exchange itself is the delivery engine's (it sends TokenRequest on its own
// event loop); everything here is pure or a small locked map, driven by the caller's time.
//
//   auto request = build_token_request(settings);      // once per connection and config
//   ... engine: for each delivery through the connection ...
//   if (auto token = cache.current(name, now_ms)) -> send with token->authorization
//   else switch (cache.begin_refresh(name, now_ms)):   // single-flight per connection
//     kUse: send with it; kFetch: send *request, then
//       cache.complete_refresh(name, ticket, token_from_response(attempt, body, now, redactor),
//                              now)
//     kWait: park the delivery until that fetch completes; kFail: a retryable failure
//   destination answered 401/407 with token T -> cache.invalidate(name, T.serial); retry later
//
// ## OAuth client credentials (the choices where AWS documents nothing)
//
// - The request: `AuthorizationEndpoint` with `HttpMethod`; the connection's OAuthHttpParameters
//   header parameters as headers, query-string parameters appended to the URL (percent-encoded,
//   before any `#fragment`), body parameters form-encoded (application/x-www-form-urlencoded)
//   as the body for POST and PUT, appended to the query for GET (a GET has no body).
// - The client credentials travel as HTTP Basic (RFC 6749 §2.3.1, the method every server must
//   support): `Authorization: Basic base64(form(ClientID) ":" form(ClientSecret))`, each part
//   form-urlencoded first as that section requires (letters, digits and `-._*` are unchanged, so
//   for most credentials the encoding changes nothing). ClientAuthentication::kFormFields sends
//   them as `client_id` / `client_secret` form fields instead (client_secret_post), for servers
//   that do not take Basic; a header parameter named Authorization replaces the Basic header.
// - `grant_type=client_credentials` is added (to the body, or the query for GET) unless a body or
//   query parameter already names grant_type: the grant is the only one a connection can use,
//   and many servers refuse a request without it, so users need not configure it.
// - `Accept: application/json` is sent unless a header parameter sets Accept; the body's
//   content type is TokenRequest::content_type unless a header parameter sets Content-Type.
// - The answer (RFC 6749 §5.1): 2xx with a JSON object whose `access_token` is a non-empty
//   string of visible ASCII (it becomes a header value); `token_type`, when present, must be
//   `Bearer` in any case (RFC 6750; other types cannot be sent as a bearer header);
//   `expires_in` is a number or a numeric string of seconds. Absent, null or 0 (0: "no expiry",
//   as Go's oauth2 reads it) gives the default lifetime of one hour, so a token without an
//   expiry is still renewed hourly; more than 24 hours is capped at 24 hours; less than a
//   second counts as a second; negative or non-numeric is refused as malformed.
// - Refresh: a token is used until `min(60 s, 10% of its lifetime)` before it expires; from then
//   on the next delivery starts a new fetch, and the old token is used meanwhile as long as it
//   is valid. A 401 or 407 from the destination invalidates the token that got it, once: later
//   401s for the same (already replaced) token do not drop its successor, so many requests in
//   flight with one old token cause one fetch.
// - Failures: a failed fetch (any error answer, an unusable answer, a timeout, a refused
//   connection) makes the deliveries waiting for it fail retryably with the error, and no new
//   fetch starts for a back-off of 1 s, doubling with each consecutive failure up to 30 s, so a
//   down or misconfigured token endpoint gets at most one request per connection per back-off
//   however many deliveries are queued. Fetches start at least 1 s apart in any case (a
//   destination that refuses every token does not turn each delivery into a token request).
//   Error messages name the connection, the endpoint (through the Redactor), the status and the
//   server's `error` / `error_description` (RFC 6749 §5.2), or a short excerpt of a non-OAuth
//   error body: "connection "auth0": token endpoint https://id.example.com/oauth/token answered
//   401: invalid_client (Client authentication failed)". They never hold the client secret, the
//   request body or any part of a 2xx answer (which holds the token), and pass the Redactor.
//
// Time: every `now_ms` is the caller's monotonic milliseconds (Clock::steady_now()); nothing
// here reads a clock.
//
// Thread safety: the free functions are pure; TokenCache is thread-safe.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/mutex.h"
#include "core/redact.h"
#include "core/secret.h"
#include "core/status.h"
#include "delivery/retry_policy.h"

namespace hikyaku::delivery {

// One {Key, Value, IsValueSecret} of OAuthHttpParameters.
struct OAuthParameter {
  std::string key;
  Secret value;  // always a Secret; is_value_secret only decides what displays show
  bool is_value_secret = false;
};

enum class ClientAuthentication {
  kBasicHeader,  // Authorization: Basic (RFC 6749 §2.3.1; the default)
  kFormFields,   // client_id and client_secret as form fields (query fields for GET)
};

// What an OAUTH_CLIENT_CREDENTIALS connection says about its token endpoint.
struct OAuthSettings {
  std::string connection;  // the connection's name: the cache key, and named in every message
  std::string client_id;
  Secret client_secret;
  std::string authorization_endpoint;  // http:// or https:// URL
  std::string http_method = "POST";    // GET, POST or PUT
  std::vector<OAuthParameter> header_parameters;
  std::vector<OAuthParameter> query_string_parameters;
  std::vector<OAuthParameter> body_parameters;
  ClientAuthentication client_authentication = ClientAuthentication::kBasicHeader;
};

// The token request, in clear text: `url`, `headers` and `body` hold the client credentials and
// every secret parameter. Send it; show nothing of it but `redactor.redact(url)`.
struct TokenRequest {
  std::string method;
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;  // Content-Type not among them
  std::string body;                                          // empty for GET
  std::string content_type;                                  // send as Content-Type when not empty
};

// Errors (kInvalidArgument): an HttpMethod other than GET, POST or PUT, an endpoint that is not
// an http:// or https:// URL. The config rejects both already; this is the component's own check.
Result<TokenRequest> build_token_request(const OAuthSettings& settings);

// The texts, besides the configured secret values, that carry a connection's secrets in the
// token request: the form-encoded client secret and the Basic credentials before base64. Add them
// to the Redactor of the config so a base64 or encoded echo of them is masked too.
std::vector<std::string> oauth_redaction_values(const OAuthSettings& settings);

// An access token, as obtained.
struct Token {
  Secret access_token;
  Secret authorization;  // "Bearer <access_token>": the Authorization header's value
  int64_t obtained_at_ms = 0;
  int64_t expires_at_ms = 0;
  uint64_t serial = 0;  // set by TokenCache; identifies this token in invalidate()
  // Masks the token (in any encoding Redactor knows): apply it to what a destination answers
  // before recording it, since the token is not among the configured secrets.
  std::shared_ptr<const Redactor> redactor;
};

// Lifetimes (see the section at the top).
inline constexpr int64_t kDefaultTokenLifetimeMs = 3'600'000;
inline constexpr int64_t kMaxTokenLifetimeMs = 86'400'000;
inline constexpr int64_t kMaxRefreshMarginMs = 60'000;

// The token in the token endpoint's answer to one exchange: `attempt` (status, or the transport
// error when http_status is 0) and the response `body`. Errors, already passed through
// `redactor`:
//   kUnavailable: 5xx, 429 or 408, or no answer (connection refused, reset, TLS failure);
//   kDeadlineExceeded: the exchange timed out;
//   kFailedPrecondition: any other status (400 invalid_client, 401, 403, 404, 3xx), or a 2xx
//     answer without a usable token (not JSON, no access_token, a token_type other than Bearer,
//     a bad expires_in): the configuration (credentials, endpoint, parameters) looks wrong.
// A delivery that waits for a token is retryable whatever the error (a config reload may fix
// the credentials); the code only tells the operator which kind of failure it was.
Result<Token> token_from_response(const OAuthSettings& settings, const AttemptResult& attempt,
                                  std::string_view body, int64_t now_ms, const Redactor& redactor);

// True for the failures that are expected to pass by themselves (kUnavailable,
// kDeadlineExceeded), false for those that need the configuration or the server fixed.
bool token_error_is_transient(const Status& error);

// The current token of every OAuth connection, one per engine.
class TokenCache {
 public:
  struct Options {
    int64_t backoff_base_ms = 1000;  // after the first consecutive failed fetch
    int64_t backoff_cap_ms = 30'000;
    int64_t min_fetch_interval_ms = 1000;  // between the starts of two fetches
    // A fetch not completed this long after it started is taken as lost: the next caller
    // fetches again. More than the engine's timeout for the token exchange.
    int64_t fetch_timeout_ms = 30'000;
  };

  struct Decision {
    enum class Action {
      kUse,    // send with `token`
      kFetch,  // send the token request, then complete_refresh(ticket); meanwhile `token`, when
               // not null, is still valid and may be used
      kWait,   // a fetch is in flight: wait for its complete_refresh, then ask again
      kFail,   // no valid token and no fetch allowed before `retry_at_ms`: fail retryably with
               // `error`
    };
    Action action = Action::kFail;
    std::shared_ptr<const Token> token;
    uint64_t ticket = 0;
    int64_t retry_at_ms = 0;
    Status error;
  };

  TokenCache() : TokenCache(Options{}) {}
  explicit TokenCache(Options options) : options_(options) {}

  // The token of `connection` if it is valid and not due for refresh; null otherwise.
  std::shared_ptr<const Token> current(std::string_view connection, int64_t now_ms) const
      HK_EXCLUDES(mutex_);

  // What a delivery that has no current token does (see Decision). At most one caller per
  // connection gets kFetch until that fetch completes (or is taken as lost).
  Decision begin_refresh(std::string_view connection, int64_t now_ms) HK_EXCLUDES(mutex_);

  // Ends the fetch of `ticket`: a token becomes current (its serial set) and the failure count is
  // reset; an error starts the back-off. Returns the stored token, or the error. The result of a
  // fetch that was taken as lost (a stale ticket), or of one that began before forget(), is
  // returned to its caller without changing the cache.
  Result<std::shared_ptr<const Token>> complete_refresh(std::string_view connection,
                                                        uint64_t ticket, Result<Token> token,
                                                        int64_t now_ms) HK_EXCLUDES(mutex_);

  // The destination refused the token with `serial` (401 or 407): drops it if it is still the
  // current token of `connection`. Returns whether it did.
  bool invalidate(std::string_view connection, uint64_t serial) HK_EXCLUDES(mutex_);

  // Drops everything known about `connection` (its settings changed in a reload).
  void forget(std::string_view connection) HK_EXCLUDES(mutex_);

 private:
  struct State {
    std::shared_ptr<const Token> token;
    uint64_t fetching_ticket = 0;  // 0: no fetch in flight
    int64_t fetch_started_ms = 0;
    int64_t last_fetch_started_ms = 0;
    bool fetched_before = false;
    int failures = 0;  // consecutive failed fetches
    int64_t next_fetch_ms = 0;
    Status last_error;
  };

  static int64_t refresh_at_ms(const Token& token);

  const Options options_;
  mutable Mutex mutex_;
  std::map<std::string, State, std::less<>> states_ HK_GUARDED_BY(mutex_);
  uint64_t next_ticket_ HK_GUARDED_BY(mutex_) = 1;
  uint64_t next_serial_ HK_GUARDED_BY(mutex_) = 1;
};

}  // namespace hikyaku::delivery
