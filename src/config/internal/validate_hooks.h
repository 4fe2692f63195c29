#pragma once
// Validation the config delegates to the components that own the semantics: event patterns to
// `pattern`, target inputs (Input, InputPath, InputTransformer) to `transform`. Each returns
// kInvalidArgument with a message that names the offending part; the loader adds file, line and
// key path.

#include "config/config.h"
#include "core/status.h"

namespace hikyaku::config::internal {

Status validate_event_pattern(const std::string& pattern_json);
Status validate_target_input(const Target& target);

}  // namespace hikyaku::config::internal
