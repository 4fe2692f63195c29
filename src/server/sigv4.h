#pragma once
// AWS Signature Version 4 verification for the AWS JSON API (PutEvents, TestEventPattern, ...).
//
// Pure functions over an HTTP request already read into memory; nothing here knows Beast. The
// algorithm is AWS's (docs/putevents.md §6):
//
//   Authorization: AWS4-HMAC-SHA256 Credential=AKID/20260102/us-east-1/events/aws4_request,
//                  SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=<64 hex>
//
//   canonical request -> string to sign -> HMAC chain over the secret -> signature, compared in
//   constant time with the one sent.
//
//   SigV4Request request{.method = "POST", .path = "/", .query = "", .headers = ..., .body = body};
//   VerifyOptions options{.credentials = &config.auth.sigv4_credentials, .now = clock.now()};
//   VerifyOutcome outcome = verify(request, options);
//   if (!outcome.ok()) -> answer HTTP 403 {"__type": outcome.error.type(),
//                                          "message": outcome.error.message}
//   else outcome.verified.credential (its AllowedSources), outcome.verified.region
//
// authorization_header() is the signing side (tests, `hikyaku send`).
//
// Secrets (the secret access key, the signature) never appear in any returned message.
//
// Thread safety: stateless functions; safe from any thread.

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"
#include "core/status.h"

namespace hikyaku::server::sigv4 {

inline constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
inline constexpr std::string_view kService = "events";
inline constexpr std::chrono::seconds kMaxClockSkew{300};  // as AWS: over 5 minutes is refused

// One request as received. Header names in any case, in arrival order; repeated names allowed.
struct SigV4Request {
  std::string_view method;
  std::string_view path;   // raw (still percent-encoded) path, without the query
  std::string_view query;  // raw query string without '?', "" when none
  std::vector<std::pair<std::string, std::string>> headers;
  std::string_view body;
};

// The parsed Authorization header.
struct Authorization {
  std::string access_key_id;
  std::string date;  // yyyymmdd from the credential scope
  std::string region;
  std::string service;
  std::string terminator;                   // "aws4_request"
  std::vector<std::string> signed_headers;  // lower-case, as listed
  std::string signature;                    // lower-case hex
  std::string scope() const;                // date/region/service/terminator
};

// --- primitives (exposed for tests and for signing in test code) ---

std::string hex_encode(std::string_view bytes);
std::string sha256(std::string_view data);                             // 32 raw bytes
std::string hmac_sha256(std::string_view key, std::string_view data);  // 32 raw bytes
std::string sha256_hex(std::string_view data);

// AWS's URI encoding: everything but A-Z a-z 0-9 - _ . ~ becomes %XX (upper-case hex); '/' is
// kept when `keep_slash`.
std::string uri_encode(std::string_view text, bool keep_slash);

// The canonical request (docs/putevents.md §6.2) over `signed_headers` (lower-case names, any
// order; the output sorts them). `payload_hash` is the lower-case hex SHA-256 of the body.
std::string canonical_request(const SigV4Request& request,
                              const std::vector<std::string>& signed_headers,
                              std::string_view payload_hash);

// "AWS4-HMAC-SHA256\n<amz_date>\n<scope>\n<hex sha256(canonical_request)>".
std::string string_to_sign(std::string_view amz_date, std::string_view scope,
                           std::string_view canonical_request_text);

// kSigning (32 raw bytes) for (secret, yyyymmdd, region, service).
std::string signing_key(std::string_view secret_access_key, std::string_view date,
                        std::string_view region, std::string_view service);

// Lower-case hex HMAC-SHA256(signing_key, string_to_sign).
std::string signature(std::string_view signing_key_bytes, std::string_view string_to_sign_text);

// Parses "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...". Errors:
// kInvalidArgument with an IncompleteSignature-style message naming what is missing or garbled.
Result<Authorization> parse_authorization(std::string_view header);

// Parses "yyyymmddTHHMMSSZ". Errors: kInvalidArgument.
Result<std::chrono::system_clock::time_point> parse_amz_date(std::string_view text);

// Formats a time as "yyyymmddTHHMMSSZ".
std::string format_amz_date(std::chrono::system_clock::time_point time);

// --- verification ---

// Why a request was refused; each maps onto one of AWS's error shapes (all HTTP 403 here).
enum class Failure {
  kMissingAuthentication,  // no Authorization header: MissingAuthenticationTokenException
  kIncompleteSignature,    // garbled header, missing X-Amz-Date: IncompleteSignatureException
  kUnrecognizedClient,     // unknown access key id: UnrecognizedClientException
  kInvalidSignature,       // wrong scope, clock skew, signature mismatch: InvalidSignatureException
};

struct VerifyError {
  Failure failure = Failure::kInvalidSignature;
  std::string message;  // AWS's wording where known; never contains a secret
  // The AWS JSON `__type` for this failure.
  std::string_view type() const;
};

struct VerifyOptions {
  const std::vector<config::SigV4Credential>* credentials = nullptr;  // borrowed, not null
  // When set, the only accepted signing region (Server.Region); otherwise any region.
  std::string_view required_region;
  std::chrono::system_clock::time_point now;
};

struct Verified {
  const config::SigV4Credential* credential = nullptr;  // points into *options.credentials
  std::string region;                                   // the signing region
};

// Verifies `request`. On success, the matching credential and the signing region; otherwise the
// failure to answer with. Checks, in order: Authorization present and well formed, X-Amz-Date
// present and parseable, access key known, scope (date equals X-Amz-Date's date, region,
// service "events", terminator), host, x-amz-date, x-amz-target (and content-type when the request
// has one) among the signed headers, every signed header present, clock skew at most
// kMaxClockSkew, X-Amz-Content-Sha256 (when sent and not UNSIGNED-PAYLOAD) equal to the body's
// hash, and finally the signature (constant-time comparison).
struct VerifyOutcome {
  bool ok() const { return error.message.empty(); }
  Verified verified;
  VerifyError error;
};
VerifyOutcome verify(const SigV4Request& request, const VerifyOptions& options);

// Signs `request` (for tests and clients): returns the Authorization header value over
// `signed_headers`, which must all be present in request.headers.
std::string authorization_header(const SigV4Request& request,
                                 const std::vector<std::string>& signed_headers,
                                 std::string_view access_key_id, std::string_view secret_access_key,
                                 std::string_view amz_date, std::string_view region,
                                 std::string_view service = kService);

}  // namespace hikyaku::server::sigv4
