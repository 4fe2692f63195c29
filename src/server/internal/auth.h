#pragma once
// Who may call: SigV4 for the AWS JSON API (docs/putevents.md §6), an API key header for the
// webhook, and each credential's AllowedSources. With no Server.Auth section everyone may call
// and publish any source.
//
// Secrets (keys, signatures) never appear in a Refusal.
//
// Thread safety: pure functions.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "server/internal/api.h"

namespace hikyaku::server {

// Why a request is refused: the HTTP status and the AWS JSON error (`__type`, `message`).
struct Refusal {
  unsigned status = 403;
  std::string_view type;
  std::string message;
};

// A signed AWS JSON caller.
struct Caller {
  const config::SigV4Credential* credential = nullptr;  // null: no Auth configured
  std::string region;                                   // the signing region; "" when unsigned
};

// Who made a request, or the refusal to answer with.
template <typename Who>
struct Authenticated {
  Who who{};
  std::optional<Refusal> refusal;
};

// Verifies the request's SigV4 signature when Server.Auth is configured, at time `now`.
Authenticated<Caller> authenticate_aws(const HttpRequest& request,
                                       const config::ServerConfig& config,
                                       std::chrono::system_clock::time_point now);

// The API key presented to the webhook (constant-time comparison); nullptr when Server.Auth is
// not configured. Refusals: 401 when no key header is present, 403 when none matches.
Authenticated<const config::ApiKeyCredential*> authenticate_api_key(
    const HttpRequest& request, const config::ServerAuthConfig& auth);

// Whether the request may call the admin API: with Server.Auth.AdminApiKeys, one of their
// headers (constant-time comparison; 401 none presented, 403 none matches); without them only on
// a loopback listener (403 otherwise). nullopt = allowed.
std::optional<Refusal> authenticate_admin(const HttpRequest& request,
                                          const config::ServerAuthConfig& auth,
                                          bool loopback_listener);

// True when `source` matches one of `allowed` ("exact" or "prefix*"), or `allowed` is empty.
bool source_allowed(const std::vector<std::string>& allowed, std::string_view source);

}  // namespace hikyaku::server
