#pragma once
// SigV4 for the CLI's own AWS JSON calls (`send`, `replay`): the request is signed with the
// credentials in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN;
// region from AWS_REGION, AWS_DEFAULT_REGION or us-east-1), as the AWS CLI would sign it; without
// credentials it is left unsigned (a server without Server.Auth takes it).

#include <optional>
#include <string>

#include "delivery/request.h"

namespace hikyaku::cli {

// The environment variable `name`; nullopt when unset or empty.
std::optional<std::string> environment_value(const char* name);

// Adds Host, X-Amz-Date, X-Amz-Security-Token and Authorization to `request` (its url, method,
// body and headers so far are what is signed) when credentials are in the environment.
void sign_from_environment(delivery::HttpRequest& request, const std::string& host);

}  // namespace hikyaku::cli
