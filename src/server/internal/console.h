#pragma once
// The web console (docs/console.md): GET /console, /console/ and /console/<file> serve its
// static files (built into the binary, console_assets.h); GET /console/config.json tells the page
// which header carries the admin key. None of it holds data, so none of it needs a key: every
// piece of data the page shows comes from /admin/v1/, called by the page with the key the
// operator signs in with.
//
// Every answer is `Cache-Control: no-store` with a Content-Security-Policy allowing only the
// console's own files (no inline script or style, no framing), `X-Content-Type-Options: nosniff`
// and `Referrer-Policy: no-referrer`.
//
// Thread safety: a pure function.

#include <string_view>

#include "config/config.h"
#include "server/internal/api.h"

namespace hikyaku::server {

inline constexpr std::string_view kConsolePrefix = "/console";

// True for the paths the console answers: /console and everything under /console/.
bool is_console_path(std::string_view path);

// The answer to `method` on console path `path`: 200 with the file, 404 for a file the console
// does not have, 405 for a method other than GET.
HttpResponse console_response(std::string_view method, std::string_view path,
                              const config::ServerAuthConfig& auth);

}  // namespace hikyaku::server
