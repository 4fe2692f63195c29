#pragma once
// Checks across sections, run once every section read cleanly: unique names, and every name one
// section uses (ConnectionName, a target's ApiDestination) defined by another, with a "did you
// mean" hint when it is not (a target's ApiDestination and DeadLetterConfig too). When all of
// that holds, it adds the warnings of config_warnings.h and not_yet_applied.h.
//
// Thread safety: as YamlReader (one load, one thread).

#include "config/config.h"
#include "config/internal/yaml_reader.h"

namespace hikyaku::config::internal {

void cross_check(YamlReader& reader, const Config& config);

}  // namespace hikyaku::config::internal
