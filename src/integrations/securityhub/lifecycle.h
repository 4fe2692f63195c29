#pragma once
// Where a Security Hub finding stands in its life, how its versions are ordered, and what changed
// between two versions that a person reading the ticket would care about.
//
//   const LifecycleState state = lifecycle_of(finding);
//   if (state.stage == Stage::kResolved) { ... state.explanation() ... }
//   for (const FieldChange& change : changes(before, after)) { ... }
//
// Active or resolved: a finding is resolved when any of these holds, and the first that holds
// gives the reason (an explicit result beats a human's decision, which beats the provider
// forgetting the finding, which beats a bare workflow flag):
//   1. Compliance.Status PASSED      the control check passes now (Security Hub also sets
//                                    Workflow RESOLVED itself and drops the severity to
//                                    INFORMATIONAL);
//   2. Workflow.Status SUPPRESSED    someone decided not to act on it;
//   3. RecordState ARCHIVED          the provider no longer reports it: the resource is gone, the
//                                    control or standard was disabled, or (for GuardDuty,
//                                    Inspector, Macie, Access Analyzer) the provider closed it;
//   4. Workflow.Status RESOLVED      marked resolved by a person or a tool.
// Otherwise a finding whose Compliance.Status is WARNING or NOT_AVAILABLE is undetermined: the
// check could not say pass or fail, which is reason enough to tell an open ticket but not to open
// one. Everything else is active: Compliance FAILED or absent (products other than Security Hub
// controls have none), Workflow NEW or NOTIFIED (NOTIFIED only says a ticketing integration has
// seen it) or a value this code does not know, RecordState ACTIVE. Unknown values count as
// active so that a new AWS enum value errs toward a ticket rather than silence.
//
// Order of versions: Security Hub gives every provider update a later UpdatedAt; customer updates
// (BatchUpdateFindings: workflow, note, severity override) keep UpdatedAt and move only
// ProcessedAt. So versions are ordered by UpdatedAt as an instant (offsets and fractional seconds
// honoured), then by ProcessedAt when both versions carry one.
//
// Changes: Severity.Label, Compliance.Status, Workflow.Status, RecordState and the set of
// resource Ids. Everything else (UpdatedAt, LastObservedAt, ProcessedAt, notes, descriptions) is
// what a periodic re-check refreshes and is not a change. A workflow step between NEW and
// NOTIFIED is not one either: it is what ticketing integrations (this one included) write back
// after creating a ticket, and Security Hub's own resets go the other way only together with a
// compliance or record-state change that is reported anyway.
//
// Thread safety: pure functions; the structs are plain values.

#include <compare>
#include <optional>
#include <string>
#include <vector>

#include "integrations/securityhub/finding.h"

namespace hikyaku::integrations::securityhub {

// The fields `changes` compares, as a ledger keeps them between events.
struct FindingSnapshot {
  std::string severity_label;
  std::optional<std::string> compliance_status;
  std::string workflow_status;
  std::string record_state;
  std::vector<std::string> resource_ids;  // sorted, without duplicates
  friend bool operator==(const FindingSnapshot&, const FindingSnapshot&) = default;
};

FindingSnapshot snapshot_of(const Finding& finding);

enum class Stage { kActive, kUndetermined, kResolved };

enum class ResolvedBecause {
  kNotResolved,
  kCompliancePassed,
  kSuppressed,
  kArchived,
  kWorkflowResolved,
};

struct LifecycleState {
  Stage stage = Stage::kActive;
  ResolvedBecause because = ResolvedBecause::kNotResolved;
  // One sentence for a ticket comment, e.g. "Compliance.Status is PASSED: the check passes now."
  std::string explanation() const;
  friend bool operator==(const LifecycleState&, const LifecycleState&) = default;
};

LifecycleState lifecycle_of(const FindingSnapshot& snapshot);
LifecycleState lifecycle_of(const Finding& finding);

// Which version of a finding is later; see "Order of versions" above.
struct FindingVersion {
  Instant updated_at;
  std::optional<Instant> processed_at;
};
FindingVersion version_of(const Finding& finding);
// kGreater: `a` is the later version; kEquivalent: the two cannot be told apart.
std::weak_ordering compare_versions(const FindingVersion& a, const FindingVersion& b);

// True when `a`'s UpdatedAt is a later instant than `b`'s (equal instants are not newer).
bool is_newer(const Finding& a, const Finding& b);

struct FieldChange {
  std::string field;   // "Severity.Label", "Compliance.Status", "Workflow.Status", "RecordState",
                       // "Resources"
  std::string before;  // "(none)" for an absent Compliance.Status; resource Ids joined by ", "
  std::string after;
  friend bool operator==(const FieldChange&, const FieldChange&) = default;
};

// The changes from `before` to `after`, in the order of the list above; empty when nothing a
// person would care about changed.
std::vector<FieldChange> changes(const FindingSnapshot& before, const FindingSnapshot& after);
std::vector<FieldChange> changes(const Finding& before, const Finding& after);

}  // namespace hikyaku::integrations::securityhub
