#include "server/internal/auth.h"

#include <openssl/crypto.h>

#include "server/sigv4.h"

namespace hikyaku::server {

Authenticated<Caller> authenticate_aws(const HttpRequest& request,
                                       const config::ServerConfig& config,
                                       std::chrono::system_clock::time_point now) {
  Authenticated<Caller> result;
  if (!config.auth.configured()) {
    return result;
  }
  sigv4::SigV4Request signed_request;
  signed_request.method = request.method;
  const std::string_view target = request.target;
  const size_t question = target.find('?');
  signed_request.path = target.substr(0, question);
  signed_request.query =
      question == std::string_view::npos ? std::string_view() : target.substr(question + 1);
  signed_request.headers = request.headers;
  signed_request.body = request.body;
  sigv4::VerifyOptions options;
  options.credentials = &config.auth.sigv4_credentials;
  if (config.region) {
    options.required_region = *config.region;
  }
  options.now = now;
  sigv4::VerifyOutcome outcome = sigv4::verify(signed_request, options);
  if (!outcome.ok()) {
    result.refusal = Refusal{403, outcome.error.type(), std::move(outcome.error.message)};
    return result;
  }
  result.who.credential = outcome.verified.credential;
  result.who.region = std::move(outcome.verified.region);
  return result;
}

namespace {

// The key of `keys` the request presents; null when it presents none (`presented` false) or
// none that matches.
const config::ApiKeyCredential* presented_key(const HttpRequest& request,
                                              const std::vector<config::ApiKeyCredential>& keys,
                                              bool& presented) {
  presented = false;
  for (const config::ApiKeyCredential& key : keys) {
    const std::string* value = request.header(key.header_name);
    if (value == nullptr) {
      continue;
    }
    presented = true;
    // Comparing digests keeps the comparison constant-time whatever the lengths.
    const std::string given = sigv4::sha256(*value);
    const std::string expected = sigv4::sha256(key.value.reveal());
    if (CRYPTO_memcmp(given.data(), expected.data(), given.size()) == 0) {
      return &key;
    }
  }
  return nullptr;
}

}  // namespace

Authenticated<const config::ApiKeyCredential*> authenticate_api_key(
    const HttpRequest& request, const config::ServerAuthConfig& auth) {
  Authenticated<const config::ApiKeyCredential*> result;
  if (!auth.configured()) {
    return result;
  }
  bool presented = false;
  result.who = presented_key(request, auth.api_keys, presented);
  if (result.who != nullptr) {
    return result;
  }
  result.refusal = presented ? Refusal{403, "AccessDeniedException", "The API key is not valid."}
                             : Refusal{401, "MissingAuthenticationTokenException",
                                       "Missing API key header (see Server.Auth.ApiKeys)."};
  return result;
}

std::optional<Refusal> authenticate_admin(const HttpRequest& request,
                                          const config::ServerAuthConfig& auth,
                                          bool loopback_listener) {
  if (auth.admin_api_keys.empty()) {
    if (loopback_listener) {
      return std::nullopt;
    }
    return Refusal{403, "AccessDeniedException",
                   "The admin API answers on a loopback listener only, unless "
                   "Server.Auth.AdminApiKeys is configured."};
  }
  bool presented = false;
  if (presented_key(request, auth.admin_api_keys, presented) != nullptr) {
    return std::nullopt;
  }
  return presented ? Refusal{403, "AccessDeniedException", "The admin API key is not valid."}
                   : Refusal{401, "MissingAuthenticationTokenException",
                             "Missing admin API key header (see Server.Auth.AdminApiKeys)."};
}

bool source_allowed(const std::vector<std::string>& allowed, std::string_view source) {
  if (allowed.empty()) {
    return true;
  }
  for (const std::string& pattern : allowed) {
    if (!pattern.empty() && pattern.back() == '*') {
      const std::string_view prefix(pattern.data(), pattern.size() - 1);
      if (source.substr(0, prefix.size()) == prefix) {
        return true;
      }
    } else if (pattern == source) {
      return true;
    }
  }
  return false;
}

}  // namespace hikyaku::server
