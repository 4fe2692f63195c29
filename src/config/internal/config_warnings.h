#pragma once
// Warnings about a config that loads but probably does not do what its author wants. Each says
// what to write instead and never quotes a secret (a parameter's name, never its value; the
// reader masks resolved ${...} values in every warning besides):
//   - a credential-like query parameter (core/redact.h's is_secret_parameter_name, so also
//     `api%4Bey`) or userinfo written into an API destination's InvocationEndpoint: suggests the
//     connection's InvocationHttpParameters.QueryStringParameters with IsValueSecret (or a BASIC
//     connection for userinfo);
//   - an API destination with HttpMethod GET or HEAD whose connection has BodyParameters, which
//     such a request cannot carry;
//   - a pattern that admits Security Hub findings (its source and detail-type, when given,
//     accept aws.securityhub and "Security Hub Findings - ...") and constrains
//     detail.findings.Compliance.Status with a list holding anything-but and no
//     {"exists": false} on every way through its $or alternatives: anything-but never matches a
//     missing field, so findings without Compliance (GuardDuty, Inspector, Macie, custom
//     products) never match;
//   - a DeadLetterConfig naming an SQS queue: hikyaku keeps dead letters in its own store;
//   - a DeadLetterConfig naming the target's own API destination, where its dead letters would
//     most likely fail again.
// Settings accepted but not acted on yet are reported by not_yet_applied.h, not here.
//
// Thread safety: as YamlReader (one load, one thread); security_hub_compliance_warning is pure.

#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"
#include "config/internal/yaml_reader.h"

namespace hikyaku::config::internal {

// The warning for a valid pattern (see above), or nullopt.
std::optional<std::string> security_hub_compliance_warning(std::string_view pattern_json);

// The endpoint and dead-letter warnings above, for a config whose sections read cleanly.
void warn_about_config(YamlReader& reader, const Config& config);

}  // namespace hikyaku::config::internal
