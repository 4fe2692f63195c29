#pragma once
// Checks of targets' HttpParameters against the API destination they use, so that `validate`
// refuses what could never be sent (delivery/request.h would fail every delivery with
// INVALID_PARAMETERS) or what `serve` could not compile:
//   - the number of PathParameterValues (none without HttpParameters) equals the number of `*`
//     in the destination's InvocationEndpoint path (its query and fragment do not count);
//   - a value that starts with `$.` is a JSONPath of the InputPathsMap subset (transform);
//   - a literal path value is not empty, `.` or `..`;
//   - a HeaderParameters name is an HTTP token; a literal header value has no control character
//     other than tab;
//   - a DeadLetterConfig destination has no `*` in its path (dead letters carry no parameters).
// Run after cross_check() found every target's destination. Never quotes a value (one may be a
// secret).
//
// Thread safety: as YamlReader (one load, one thread).

#include "config/config.h"
#include "config/internal/yaml_reader.h"

namespace hikyaku::config::internal {

void check_http_parameters(YamlReader& reader, const Config& config);

}  // namespace hikyaku::config::internal
