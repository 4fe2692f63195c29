#pragma once
// Values AWS takes as JSON strings (EventPattern, a target's Input): written in the config either
// as a JSON string or as a YAML mapping/list, which is converted to compact JSON text.
//
// Thread safety: as YamlReader (one load, one thread).

#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>

#include "config/internal/yaml_reader.h"

namespace hikyaku::config::internal {

// Deepest nesting converted from YAML; deeper values are reported, not recursed into.
inline constexpr int kMaxPatternDepth = 64;

// The JSON text of `node`: a quoted scalar is taken as JSON text as it stands; anything else is
// converted (plain scalars that read as null, true, false or a JSON number keep that type, every
// other scalar becomes a string; ${...} references are resolved in every scalar). The result is
// checked to be well-formed JSON. nullopt when something was reported.
std::optional<std::string> read_json_text(YamlReader& reader, const YAML::Node& node,
                                          const std::string& path);

}  // namespace hikyaku::config::internal
