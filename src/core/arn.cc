#include "core/arn.h"

#include <fmt/format.h>

namespace hikyaku {

std::string rule_arn(std::string_view region, std::string_view account, std::string_view bus_name,
                     std::string_view rule_name) {
  if (bus_name.empty() || bus_name == "default") {
    return fmt::format("arn:aws:events:{}:{}:rule/{}", region, account, rule_name);
  }
  return fmt::format("arn:aws:events:{}:{}:rule/{}/{}", region, account, bus_name, rule_name);
}

std::string event_bus_arn(std::string_view region, std::string_view account,
                          std::string_view bus_name) {
  return fmt::format("arn:aws:events:{}:{}:event-bus/{}", region, account, bus_name);
}

std::string api_destination_arn(std::string_view region, std::string_view account,
                                std::string_view name) {
  return fmt::format("arn:aws:events:{}:{}:api-destination/{}", region, account, name);
}

std::optional<std::string_view> arn_resource_name(std::string_view arn, std::string_view kind) {
  if (arn.substr(0, 4) != "arn:") {
    return std::nullopt;
  }
  const std::string marker = fmt::format(":{}/", kind);
  const size_t start = arn.find(marker);
  if (start == std::string_view::npos) {
    return std::nullopt;
  }
  const std::string_view rest = arn.substr(start + marker.size());
  return rest.substr(0, rest.find('/'));
}

}  // namespace hikyaku
