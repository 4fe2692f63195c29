#include "config/internal/validate_hooks.h"

#include "pattern/pattern.h"
#include "transform/event_splitter.h"
#include "transform/transformer.h"

namespace hikyaku::config::internal {

Status validate_event_pattern(const std::string& pattern_json) {
  return pattern::validate_pattern(pattern_json);
}

std::vector<std::string> lint_event_pattern(const std::string& pattern_json) {
  return pattern::lint_pattern(pattern_json);
}

Status validate_target_input(const Target& target) {
  return transform::Transformer::compile(target_input(target)).status();
}

Status validate_split_by(const std::string& path) {
  return transform::EventSplitter::compile(path).status();
}

}  // namespace hikyaku::config::internal
