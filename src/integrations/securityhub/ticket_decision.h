#pragma once
// What to do with a ticket when a version of a Security Hub finding arrives: the per-finding
// decision table, independent of the ticket system.
//
//   std::optional<LedgerEntry> entry = ...;           // read from the store by finding.key
//   const Decision decision = decide(entry, finding, matches_create_when);
//   ... carry out decision.action (create / comment / resolve / reopen) ...
//   LedgerEntry next = next_entry(entry, finding, decision);
//   next.issue_key = ...;                              // after kCreate
//   ... store to_json(next) with compare-and-set against what was read ...
//
// The ledger entry remembers, per finding, the ticket (if any), its state, the latest version of
// the finding seen and that version's compared fields (lifecycle.h). An entry is worth keeping
// even when no ticket was made: it is what lets a late-arriving older version be recognised.
//
// The table (after the staleness check below; "active", "undetermined" and "resolved" as in
// lifecycle.h; CreateWhen is the caller's verdict on the target's creation filter, e.g. severity
// at least HIGH or a custom action):
//
//   finding        no ticket                      ticket open              ticket resolved
//   active         create if CreateWhen,          comment if something     reopen, with a comment
//                  else nothing                   changed, else nothing    (a regression)
//   undetermined   nothing                        comment if something     nothing
//                                                 changed, else nothing
//   resolved       nothing                        resolve: a comment       nothing
//                                                 saying why, then status
//
// Staleness: a version earlier than the entry's (compare_versions in lifecycle.h) is ignored.
// A version that cannot be told apart from the entry's (same UpdatedAt, and same or no
// ProcessedAt) is ignored when a ticket exists and the compared fields are the same: it is a
// duplicate delivery, a custom action on an unchanged finding, or the echo of a ticketing
// integration's own write-back. When such a version differs it is acted on: customer updates
// such as a suppression keep UpdatedAt, so refusing equal UpdatedAt would miss them. Without a
// ticket only an earlier version is ignored, so that an explicit request (a custom action on a
// finding that did not qualify before) can still create the ticket.
//
// Out of order: when the resolved version of a finding arrives before the active one (09 before
// 01), the resolved version finds no ticket and does nothing, but its entry (ticket kNone,
// its UpdatedAt) makes the active version that follows stale: no ticket is created for a finding
// whose latest known state is resolved.
//
// A ticket once resolved stays resolved through further resolved or undetermined versions; it is
// reopened by the next active version whether or not that version matches CreateWhen, because a
// person already judged it worth a ticket.
//
// Thread safety: pure functions; the structs are plain values. Serializing decisions per finding
// is the caller's job (compare-and-set on the entry).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "integrations/securityhub/finding.h"
#include "integrations/securityhub/lifecycle.h"

namespace hikyaku::integrations::securityhub {

enum class TicketState { kNone, kOpen, kResolved };
// "none", "open", "resolved"
std::string_view ticket_state_name(TicketState state);

// A ticket being created: written to the entry (compare-and-set) before the create request, and
// cleared when the created ticket is recorded. An entry found with one is either a creation in
// progress elsewhere (wait for it until `until_ms`) or one that died between the ticket system's
// answer and the ledger update: whoever takes it over first looks for the ticket by its marker.
struct PendingCreate {
  int64_t job_id = 0;    // the delivery job creating it
  std::string claim;     // that job's claim (lease) token: another claim of the same job
                         // means the creating attempt is over
  int64_t until_ms = 0;  // wall-clock ms after which the attempt is over in any case
  friend bool operator==(const PendingCreate&, const PendingCreate&) = default;
};

struct LedgerEntry {
  FindingKey key = FindingKey::of("", "");
  std::string product_arn;
  std::string finding_id;
  std::string issue_key;            // e.g. "SEC-101"; empty while there is no ticket
  std::optional<int64_t> issue_id;  // the ticket system's numeric id, when it has one
  TicketState ticket = TicketState::kNone;
  std::string last_updated_at;                   // UpdatedAt of the latest version seen
  std::optional<std::string> last_processed_at;  // its ProcessedAt, when it had one
  FindingSnapshot snapshot;                      // its compared fields
  std::optional<PendingCreate> creating;         // a ticket being created (see PendingCreate)
  friend bool operator==(const LedgerEntry&, const LedgerEntry&) = default;
};

// Compact JSON, one line, stable member order, e.g.
//   {"v":1,"key":"securityhub/...","product_arn":"...","finding_id":"...","issue_key":"SEC-101",
//    "issue_id":123,"ticket":"open","updated_at":"2026-03-02T01:15:40.118Z",
//    "processed_at":"...","snapshot":{"severity":"CRITICAL","compliance":"FAILED",
//    "workflow":"NEW","record_state":"ACTIVE","resources":["arn:..."]},
//    "creating":{"job":42,"claim":"...","until_ms":1772500000000}}
// "v" is the format's version. issue_id, processed_at and snapshot.compliance are null when absent;
// "creating" is omitted when there is none.
std::string to_json(const LedgerEntry& entry);
// The inverse of to_json. kInvalidArgument naming the member when something is missing or
// malformed, or when "key" is not the key of product_arn and finding_id.
Result<LedgerEntry> ledger_entry_from_json(std::string_view json);

enum class Action { kNone, kCreate, kComment, kResolve, kReopen };
std::string_view action_name(Action action);  // "none", "create", ...

enum class NoActionReason {
  kNotApplicable,              // the action is not kNone
  kStale,                      // an earlier version than the ledger's
  kUnchanged,                  // the same version or nothing worth telling
  kResolvedWithoutTicket,      // resolved, and there was never a ticket
  kNotMatchingCreateWhen,      // active, no ticket, and the target does not want one
  kUndeterminedWithoutTicket,  // WARNING or NOT_AVAILABLE, and no ticket
  kTicketAlreadyResolved,      // resolved or undetermined while the ticket is resolved
};
std::string_view no_action_reason_name(NoActionReason reason);  // "stale", "unchanged", ...

struct Decision {
  Action action = Action::kNone;
  NoActionReason reason = NoActionReason::kNotApplicable;
  // kComment: what changed; kReopen and kResolve: what changed since the ledger's version
  // (possibly empty), for the comment.
  std::vector<FieldChange> changes;
  LifecycleState lifecycle;  // of the new version; kResolve's comment uses its explanation()
};

Decision decide(const std::optional<LedgerEntry>& entry, const Finding& finding,
                bool matches_create_when);

// The entry to store once `decision` has been carried out: the finding's latest version and
// fields, the ticket state the action leads to. A stale decision leaves `entry` as it was. The
// issue key and id are kept from `entry`; after kCreate the caller fills them in.
LedgerEntry next_entry(const std::optional<LedgerEntry>& entry, const Finding& finding,
                       const Decision& decision);

}  // namespace hikyaku::integrations::securityhub
