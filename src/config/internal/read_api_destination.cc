// The ApiDestinations section: CreateApiDestination's fields.

#include <fmt/format.h>

#include "config/internal/readable_file.h"
#include "config/internal/sections.h"

namespace hikyaku::config::internal {
namespace {

// The longest TimeoutSeconds. An attempt must end within the store lease (60 s) that guards its
// job, or a second attempt could start while it still runs; the delivery engine starts an
// attempt no later than two timeouts before the lease ends, so 20 s leaves a third of the lease
// for the job to wait its turn (pacing, Retry-After) before it is given back.
constexpr int64_t kMaxTimeoutSeconds = 20;

// Tls: {CaFile}, hikyaku's key for trusting a private CA.
void read_tls(YamlReader& reader, const YAML::Node& tls, const std::string& tls_path,
              ApiDestination& destination) {
  if (!reader.check_map(tls, tls_path, {"CaFile"})) {
    return;
  }
  if (reader.require(tls, tls_path, "CaFile") &&
      reader.read_string_into(tls, tls_path, "CaFile", destination.ca_file)) {
    if (std::string problem = readable_file_problem(destination.ca_file); !problem.empty()) {
      reader.add_error(tls["CaFile"], join(tls_path, "CaFile"), std::move(problem));
    }
  }
}

// ConnectionName, or ConnectionArn reduced to the name; not both.
void read_connection_reference(YamlReader& reader, const YAML::Node& node, const std::string& path,
                               ApiDestination& destination) {
  if (node["ConnectionName"] && node["ConnectionArn"]) {
    reader.add_error(node["ConnectionArn"], join(path, "ConnectionArn"),
                     "give ConnectionName or ConnectionArn, not both");
  } else if (node["ConnectionArn"]) {
    std::string arn;
    reader.read_string_into(node, path, "ConnectionArn", arn);
    destination.connection_name = name_from_arn(reader, node["ConnectionArn"],
                                                join(path, "ConnectionArn"), arn, "connection");
  } else if (reader.require(node, path, "ConnectionName")) {
    reader.read_string_into(node, path, "ConnectionName", destination.connection_name);
  }
  destination.connection_location =
      location_of(node["ConnectionName"] ? node["ConnectionName"] : node["ConnectionArn"]);
}

}  // namespace

ApiDestination read_api_destination(YamlReader& reader, const YAML::Node& node,
                                    const std::string& path) {
  ApiDestination destination;
  destination.location = location_of(node);
  if (!reader.check_map(
          node, path,
          {"Name", "Description", "ConnectionName", "ConnectionArn", "InvocationEndpoint",
           "HttpMethod", "InvocationRateLimitPerSecond", "TimeoutSeconds", "Tls"})) {
    return destination;
  }
  read_name(reader, node, path, destination.name);
  reader.read_string_into(node, path, "Description", destination.description);
  read_connection_reference(reader, node, path, destination);
  if (reader.require(node, path, "InvocationEndpoint") &&
      reader.read_string_into(node, path, "InvocationEndpoint", destination.invocation_endpoint)) {
    check_url(reader, node["InvocationEndpoint"], join(path, "InvocationEndpoint"),
              destination.invocation_endpoint);
  }
  if (reader.require(node, path, "HttpMethod")) {
    destination.http_method =
        reader
            .read_enum(node["HttpMethod"], join(path, "HttpMethod"),
                       {"POST", "GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})
            .value_or("");
  }
  if (const YAML::Node rate = node["InvocationRateLimitPerSecond"]) {
    destination.invocation_rate_limit_per_second = static_cast<int>(
        reader.read_integer(rate, join(path, "InvocationRateLimitPerSecond"), 1, 1'000'000)
            .value_or(destination.invocation_rate_limit_per_second));
  }
  if (const YAML::Node timeout = node["TimeoutSeconds"]) {
    destination.timeout_seconds = static_cast<int>(
        reader.read_integer(timeout, join(path, "TimeoutSeconds"), 1, kMaxTimeoutSeconds)
            .value_or(destination.timeout_seconds));
  }
  if (const YAML::Node tls = node["Tls"]) {
    read_tls(reader, tls, join(path, "Tls"), destination);
  }
  return destination;
}

}  // namespace hikyaku::config::internal
