#pragma once
// Composition helpers for `hikyaku serve`: turning a validated Config into what the delivery
// component needs (it knows nothing of the config file).
//
// Connection secrets (API key and Basic headers, IsValueSecret parameters) and the target's
// literal HttpParameters go into the endpoints, which live in memory only and are applied at
// send time by delivery::build_request(): a stored job never holds them. The target's JSONPath
// values are resolved at ingest (bus/pipeline.h); the endpoint keeps only their paths.

#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/clock.h"
#include "core/redact.h"
#include "core/status.h"
#include "delivery/endpoint.h"
#include "integrations/backlog/client.h"
#include "store/store.h"

namespace hikyaku::cli {

// Every secret value `config` holds: Config::secret_values() and, for each Basic connection,
// the `user:password` its Authorization header encodes, and for each OAuth connection the
// encoded client credentials of its token request (delivery::oauth_redaction_values).
std::vector<std::string> secret_values(const config::Config& config);

// One Endpoint per enabled rule target, keyed "<bus>/<rule>/<target id>", each sharing
// `redactor` (see delivery/endpoint.h); and for a target whose DeadLetterConfig names an API
// destination, one more keyed "<bus>/<rule>/<target id>#dead-letters" that its dead letters are
// sent to (Endpoint::dead_letter_target).
inline constexpr const char* kDeadLetterTargetSuffix = "#dead-letters";

// Backlog targets are not among them: see add_backlog_endpoints.
std::shared_ptr<delivery::Endpoints> build_endpoints(const config::Config& config,
                                                     std::shared_ptr<const Redactor> redactor);

// What the Backlog targets' handlers need beside the config.
struct BacklogWiring {
  store::Store& store;  // the ticket ledger
  const Clock& clock;
  std::string dry_run_file;  // where DryRun targets write their actions
  // Makes each Backlog client's transport (tests may point it elsewhere).
  std::function<integrations::backlog::Transport()> transport =
      integrations::backlog::http_transport;
};

// Adds one handler Endpoint (integrations/backlog/ticket_target.h) per enabled Backlog target,
// keyed like build_endpoints' (and its "#dead-letters" forward when its DeadLetterConfig names
// an API destination). Each target's project, issue type, priorities and statuses are looked up
// on Backlog now (a DryRun target looks nothing up): an unreachable space or a wrong name fails
// with a message naming the rule and target and, for a name, the valid choices.
Status add_backlog_endpoints(const config::Config& config,
                             const std::shared_ptr<const Redactor>& redactor,
                             const BacklogWiring& wiring, delivery::Endpoints& endpoints);

}  // namespace hikyaku::cli
