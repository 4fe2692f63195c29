#pragma once
// Composition helpers for `hikyaku serve`: turning a validated Config into what the delivery
// component needs (it knows nothing of the config file).

#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "delivery/endpoint.h"

namespace hikyaku::cli {

// One Endpoint per enabled rule target, keyed "<bus>/<rule>/<target id>". `warnings` receives
// what the config asks for that this build cannot do yet (never a secret).
std::shared_ptr<const delivery::Endpoints> build_endpoints(const config::Config& config,
                                                           std::vector<std::string>& warnings);

}  // namespace hikyaku::cli
