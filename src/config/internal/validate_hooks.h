#pragma once
// Validation the config delegates to the components that own the semantics: event patterns to
// `pattern`, target inputs (Input, InputPath, InputTransformer) to `transform`. Each returns
// kInvalidArgument with a message that names the offending part; the loader adds file, line and
// key path.

#include <string>
#include <vector>

#include "config/config.h"
#include "core/status.h"

namespace hikyaku::config::internal {

Status validate_event_pattern(const std::string& pattern_json);
// Lines "<path in the pattern>: <what>" about a valid pattern that probably does not say what its
// author meant (pattern::lint_pattern).
std::vector<std::string> lint_event_pattern(const std::string& pattern_json);
Status validate_target_input(const Target& target);
Status validate_split_by(const std::string& path);

}  // namespace hikyaku::config::internal
