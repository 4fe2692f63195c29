// The console's static files and its config.json; the data comes from /admin/v1/.
#include "server/internal/console.h"

#include <string>
#include <utility>

#include "core/json_writer.h"
#include "server/internal/console_assets.h"
#include "server/internal/wire.h"

namespace hikyaku::server {
namespace {

// Only the console's own files: no inline script or style, nothing from elsewhere, no framing,
// no form posting anywhere (sign-in is handled by the script).
constexpr std::string_view kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'";

HttpResponse with_console_headers(HttpResponse response) {
  response.headers.emplace_back("Cache-Control", "no-store");
  response.headers.emplace_back("Content-Security-Policy", std::string(kContentSecurityPolicy));
  response.headers.emplace_back("X-Content-Type-Options", "nosniff");
  response.headers.emplace_back("Referrer-Policy", "no-referrer");
  response.headers.emplace_back("X-Frame-Options", "DENY");
  return response;
}

// The header the admin key goes in (a name, not a secret); null when the server has no admin
// keys and the admin API is open on a loopback listener.
std::string config_json(const config::ServerAuthConfig& auth) {
  JsonWriter writer;
  writer.begin_object();
  writer.key("AdminKeyHeader");
  if (auth.admin_api_keys.empty()) {
    writer.null();
  } else {
    writer.string(auth.admin_api_keys.front().header_name);
  }
  writer.end_object();
  return writer.take();
}

}  // namespace

bool is_console_path(std::string_view path) {
  return path == kConsolePrefix ||
         (path.starts_with(kConsolePrefix) && path.substr(kConsolePrefix.size()).starts_with('/'));
}

HttpResponse console_response(std::string_view method, std::string_view path,
                              const config::ServerAuthConfig& auth) {
  if (method != "GET") {
    HttpResponse response = text_response(405, "method not allowed: use GET\n");
    response.headers.emplace_back("Allow", "GET");
    return with_console_headers(std::move(response));
  }
  std::string_view name = path.substr(kConsolePrefix.size());
  if (name.starts_with('/')) {
    name.remove_prefix(1);
  }
  if (name.empty()) {
    name = "index.html";
  }
  HttpResponse response;
  if (name == "config.json") {
    response.content_type = std::string(kJson);
    response.body = config_json(auth);
    return with_console_headers(std::move(response));
  }
  for (const ConsoleAsset& asset : console_assets()) {
    if (asset.name == name) {
      response.content_type = std::string(asset.content_type);
      response.body = std::string(asset.bytes);
      return with_console_headers(std::move(response));
    }
  }
  return with_console_headers(text_response(404, "not found\n"));
}

}  // namespace hikyaku::server
