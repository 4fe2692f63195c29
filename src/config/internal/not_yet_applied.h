#pragma once
// Settings hikyaku accepts and validates but does not act on yet. Each is reported as a warning
// (`validate` prints it, `validate --strict` fails on it) so that nobody relies on it unknowingly:
//   - a connection with AuthorizationType OAUTH_CLIENT_CREDENTIALS: no token is fetched yet;
//   - a DeadLetterConfig naming an API destination: dead letters are not delivered there yet
//     (they stay in the store's dead-letter queue).
// This is the one place such warnings live: when a feature lands, delete its entry here (and
// its test); when the list is empty, delete this file.
//
// Thread safety: as YamlReader (one load, one thread).

#include "config/config.h"
#include "config/internal/yaml_reader.h"

namespace hikyaku::config::internal {

// For a config whose sections read cleanly and whose references resolve (after cross_check).
void warn_not_yet_applied(YamlReader& reader, const Config& config);

}  // namespace hikyaku::config::internal
