#pragma once
// The Server-section checks of check_server_config() (config.h), one problem per key, so that the
// loader can report each at its line with its key path.
//
// Thread safety: pure functions (they stat the TLS files).

#include <string>
#include <vector>

#include "config/config.h"

namespace hikyaku::config::internal {

struct ServerProblem {
  std::string key;  // "Server.Listen", "Server.Tls.CertFile", ...
  std::string message;
};

std::vector<ServerProblem> server_config_problems(const ServerConfig& server);

}  // namespace hikyaku::config::internal
