#include "config/internal/validate_hooks.h"

#include <simdjson.h>

namespace hikyaku::config::internal {

Status validate_event_pattern(const std::string& pattern_json) {
  simdjson::dom::parser parser;
  simdjson::dom::element element;
  if (parser.parse(pattern_json).get(element) != simdjson::SUCCESS) {
    return invalid_argument("is not valid JSON");
  }
  if (element.type() != simdjson::dom::element_type::OBJECT) {
    return invalid_argument("an event pattern must be a JSON object");
  }
  return ok_status();
}

Status validate_target_input(const Target& /*target*/) { return ok_status(); }

}  // namespace hikyaku::config::internal
