// SigV4 signing of the CLI's AWS JSON calls from the environment's credentials.
#include "cli/aws_signing.h"

#include <cstdlib>

#include "core/clock.h"
#include "server/sigv4.h"

namespace hikyaku::cli {

std::optional<std::string> environment_value(const char* name) {
  const char* value = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): single-threaded here
  if (value == nullptr || *value == '\0') {
    return std::nullopt;
  }
  return std::string(value);
}

// Adds SigV4 headers when credentials are in the environment.
void sign_from_environment(delivery::HttpRequest& request, const std::string& host) {
  const std::optional<std::string> key_id = environment_value("AWS_ACCESS_KEY_ID");
  const std::optional<std::string> secret = environment_value("AWS_SECRET_ACCESS_KEY");
  if (!key_id || !secret) {
    return;
  }
  const std::string region =
      environment_value("AWS_REGION")
          .value_or(environment_value("AWS_DEFAULT_REGION").value_or("us-east-1"));
  const std::string amz_date = server::sigv4::format_amz_date(SystemClock::instance().now());
  request.headers.emplace_back("Host", host);
  request.headers.emplace_back("X-Amz-Date", amz_date);
  if (const std::optional<std::string> token = environment_value("AWS_SESSION_TOKEN")) {
    request.headers.emplace_back("X-Amz-Security-Token", *token);
  }
  server::sigv4::SigV4Request canonical;
  canonical.method = request.method;
  const size_t path_start = request.url.find('/', request.url.find("://") + 3);
  canonical.path =
      path_start == std::string::npos ? "/" : std::string_view(request.url).substr(path_start);
  canonical.headers = request.headers;
  canonical.body = request.body;
  request.headers.emplace_back(
      "Authorization", server::sigv4::authorization_header(
                           canonical, {"content-type", "host", "x-amz-date", "x-amz-target"},
                           *key_id, *secret, amz_date, region));
}

}  // namespace hikyaku::cli
