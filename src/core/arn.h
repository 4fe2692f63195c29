#pragma once
// EventBridge ARNs: the ones hikyaku writes (rules, buses, API destinations) and reading the
// resource name back out of one a user pasted from AWS.
//
// Thread safety: pure functions.

#include <optional>
#include <string>
#include <string_view>

namespace hikyaku {

// arn:aws:events:REGION:ACCOUNT:rule/NAME on the default bus (bus "" counts as "default"),
// arn:aws:events:REGION:ACCOUNT:rule/BUS/NAME on any other, as AWS writes them.
std::string rule_arn(std::string_view region, std::string_view account, std::string_view bus_name,
                     std::string_view rule_name);

// arn:aws:events:REGION:ACCOUNT:event-bus/NAME
std::string event_bus_arn(std::string_view region, std::string_view account,
                          std::string_view bus_name);

// arn:aws:events:REGION:ACCOUNT:api-destination/NAME
std::string api_destination_arn(std::string_view region, std::string_view account,
                                std::string_view name);

// The NAME of "arn:...:KIND/NAME" or "arn:...:KIND/NAME/ID" (a connection's or API destination's
// ARN carries a trailing id); nullopt when `arn` does not start with "arn:" or names no `kind`
// resource ("event-bus", "connection", "api-destination", ...).
std::optional<std::string_view> arn_resource_name(std::string_view arn, std::string_view kind);

}  // namespace hikyaku
