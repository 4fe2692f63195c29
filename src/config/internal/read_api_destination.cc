// The ApiDestinations section: CreateApiDestination's fields.

#include <fmt/format.h>

#include "config/internal/sections.h"

namespace hikyaku::config::internal {
namespace {

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
  if (!reader.check_map(node, path,
                        {"Name", "Description", "ConnectionName", "ConnectionArn",
                         "InvocationEndpoint", "HttpMethod", "InvocationRateLimitPerSecond"})) {
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
  return destination;
}

}  // namespace hikyaku::config::internal
