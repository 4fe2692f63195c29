#pragma once
// ${...} reference resolution for config string values (see config.h for the syntax).

#include <string>
#include <string_view>

#include "config/config.h"
#include "core/status.h"

namespace hikyaku::config::internal {

struct Substitution {
  std::string value;
  bool used_reference = false;  // any ${...} was resolved (the value may hold a secret)
};

// Resolves every reference in `text`. Errors name the reference, never a resolved value:
//   environment variable BACKLOG_API_KEY is not set (use ${BACKLOG_API_KEY:-default} ...)
Result<Substitution> substitute(std::string_view text, const EnvironmentLookup& environment,
                                const std::string& base_directory);

}  // namespace hikyaku::config::internal
