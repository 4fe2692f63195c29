#pragma once
// The Backlog target: one Backlog issue per Security Hub finding, commented on, closed and
// reopened with it (docs/backlog.md is the user's view). A delivery handler (delivery/handler.h):
// the dispatcher queues and paces its jobs like an API destination's and settles their outcomes
// by the same rules; deliver() does one finding's ticket work.
//
//   Result<TicketSettings> settings = resolve_settings(client, names);   // at start, online
//   auto target = std::make_shared<TicketTarget>(store, clock, std::move(settings).value());
//   endpoint.kind = delivery::Endpoint::Kind::kHandler; endpoint.handler = target;
//
// A job's body is one single-finding event (ingest splits every event by $.detail.findings). Per
// finding: read its ledger entry (store KV, key ledger_key()), decide with securityhub's decision
// table (ticket_decision.h), act on Backlog, write the entry back with compare-and-set. Two
// deliveries of one finding never both act on a stale entry: the second one's compare-and-set
// fails, and it decides again from what the first one wrote.
//
// Creation is crash-safe. Before the create request the entry is marked as creating (job id,
// claim token, until when: the request's timeout plus kCreateGraceMs from now) with
// compare-and-set; the created issue's key replaces the mark. No request starts after the
// attempt's deadline, so an attempt never outlives its lease. A delivery that finds a mark:
//   - of another claim of its own job: that attempt is over (the lease moved on: a crash, a
//     timeout), so it takes over;
//   - of another job, still within `until_ms`: waits (retryable, not before `until_ms`);
//   - of another job, expired: takes over.
// Taking over first looks for the finding's marker (ticket_text.h's finding_marker, which every
// ticket's description carries) with Backlog's keyword search, then among the project's 100
// newest issues (a search index may lag behind a create): a ticket created before the crash is
// recorded instead of filing a second one.
//
// What it sends: Add Issue (summary, description, issueTypeId, priorityId by severity, and the
// InputTransformer's members over them), Add Comment for an update, Update Issue with statusId,
// resolutionId and comment to resolve or reopen. Failures: Backlog's retryable answers (429, 5xx,
// timeouts) are retried by the target's RetryPolicy, the rate-limit headers of the answer pause
// the destination; the rest are permanent and dead-lettered with Backlog's message. An event that
// holds no readable finding is permanent (ERROR_CODE INVALID_FINDING).
//
// DryRun: nothing is sent. Each action is logged and appended as one JSON line to
// `dry_run_file`, and the ledger (its own keys, under "backlog-dry-run/") is kept as if the
// actions had been taken, so a dry run shows the real sequence of actions.
//
// Thread safety: deliver() may run on several threads at once.

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/mutex.h"
#include "core/status.h"
#include "delivery/handler.h"
#include "integrations/backlog/client.h"
#include "integrations/backlog/ticket_text.h"
#include "integrations/securityhub/finding.h"
#include "integrations/securityhub/ticket_decision.h"
#include "store/store.h"

namespace hikyaku::integrations::backlog {

// The target as configured (names or ids), before resolve_settings().
struct TicketNames {
  std::string project;                          // key or numeric id
  std::string issue_type;                       // name or id
  std::map<std::string, std::string> priority;  // severity label -> name or id
  std::string resolved_status;                  // name or id
  std::string reopen_status;                    // name or id
};

struct TicketSettings {
  std::string target;  // "<bus>/<rule>/<id>", for log lines
  Space space;         // unused in a dry run
  bool dry_run = false;
  std::string dry_run_file;  // DryRun: where the actions are written
  std::string project_key;   // resolved (as configured in a dry run)
  int64_t project_id = 0;    // 0 in a dry run
  TextFormat format = TextFormat::kMarkdown;
  int64_t issue_type_id = 0;
  std::map<std::string, int64_t> priority_ids;  // severity label -> id
  int64_t resolved_status_id = 0;
  int64_t reopen_status_id = 0;
  std::optional<int64_t> resolution_fixed_id;     // "Fixed" / 対応済み, when the space has it
  std::optional<int64_t> resolution_wont_fix_id;  // "Won't Fix" / 対応しない
  bool comment_on_update = true;                  // OnUpdate COMMENT (else IGNORE)
  // CreateWhen's verdict on the single-finding event.
  std::function<bool(std::string_view event)> create_when;
  // The InputTransformer's output for the single-finding event: a JSON object whose members
  // override the ticket's fields. Null: no InputTransformer.
  std::function<Result<std::string>(std::string_view event)> render_overrides;
};

// Looks the project up and turns every configured name into its id. Errors name the setting and
// list the valid choices (client.h resolve()).
Result<TicketSettings> resolve_settings(Client& client, const TicketNames& names,
                                        TicketSettings base);
// A dry run resolves nothing: the names stand as written, ids stay 0.
TicketSettings dry_run_settings(const TicketNames& names, TicketSettings base);

// The space a base URL names, as ledger keys and pacing queues name it: its host (lower case,
// with the port if any) and path prefix, without scheme, userinfo, trailing '/' or "/api/v2".
std::string space_name(std::string_view base_url);

// The ledger's key for `finding` under `settings`:
//   "backlog/<space_name>/<project key>/<finding key>" ("backlog-dry-run/<project>/<finding key>"
// in a dry run).
std::string ledger_key(const TicketSettings& settings, const securityhub::FindingKey& key);
inline constexpr std::string_view kLedgerPrefix = "backlog/";
inline constexpr std::string_view kDryRunLedgerPrefix = "backlog-dry-run/";

class TicketTarget final : public delivery::DeliveryHandler {
 public:
  // How long a creation mark holds beyond the create request's timeout.
  static constexpr int64_t kCreateGraceMs = 5'000;
  // How often an unresolved target looks its names up again.
  static constexpr int64_t kResolveRetryMs = 30'000;

  // `store` and `clock` must outlive the target. `transport` makes each Client's transport.
  // With settings already resolved:
  TicketTarget(store::Store& store, const Clock& clock, TicketSettings settings,
               std::function<Transport()> transport = http_transport);
  // With the names still to look up (resolve_now(); a dry run looks nothing up):
  TicketTarget(store::Store& store, const Clock& clock, TicketNames names, TicketSettings base,
               std::function<Transport()> transport = http_transport);
  ~TicketTarget() override;

  // Looks the names up unless that is done. kUnavailable when Backlog could not be reached (or
  // answered 5xx/429): the target works anyway, its deliveries failing retryably with
  // BACKLOG_UNREACHABLE and looking up again at most every kResolveRetryMs. Any other error (a
  // wrong key, project or name) is the configuration's.
  Status resolve_now();

  delivery::HandlerOutcome deliver(const store::Claim& claim, int64_t deadline_ms) override;

  // The settings in force; null while the names are not looked up yet.
  std::shared_ptr<const TicketSettings> settings() const;

 private:
  struct Attempt;
  delivery::HandlerOutcome handle_finding(Attempt& attempt, const securityhub::Finding& finding);
  // After a comment, resolve or reopen: writes `next` over what the ledger holds now.
  delivery::HandlerOutcome record_action(Attempt& attempt, const std::string& key,
                                         const securityhub::LedgerEntry& next, int64_t revision,
                                         std::string_view action);
  std::unique_ptr<Client> take_client();
  void give_back(std::unique_ptr<Client> client);
  Status write_dry_run(const std::string& path, std::string_view line);

  store::Store& store_;
  const Clock& clock_;
  const TicketNames names_;
  const TicketSettings base_;  // before resolution
  const std::function<Transport()> transport_;
  mutable Mutex mutex_;
  std::shared_ptr<const TicketSettings> resolved_ HK_GUARDED_BY(mutex_);
  int64_t next_resolve_ms_ HK_GUARDED_BY(mutex_) = 0;
  Status last_resolve_error_ HK_GUARDED_BY(mutex_);
  std::vector<std::unique_ptr<Client>> idle_clients_ HK_GUARDED_BY(mutex_);
  int dry_run_fd_ HK_GUARDED_BY(mutex_) = -1;
};

}  // namespace hikyaku::integrations::backlog
