#include "integrations/securityhub/lifecycle.h"

#include <algorithm>

namespace hikyaku::integrations::securityhub {
namespace {

constexpr std::string_view kAbsent = "(none)";

bool is_new_or_notified(std::string_view workflow_status) {
  return workflow_status == "NEW" || workflow_status == "NOTIFIED";
}

bool same_workflow(std::string_view before, std::string_view after) {
  return before == after || (is_new_or_notified(before) && is_new_or_notified(after));
}

std::string joined(const std::vector<std::string>& ids) {
  if (ids.empty()) {
    return std::string(kAbsent);
  }
  std::string text = ids.front();
  for (size_t i = 1; i < ids.size(); ++i) {
    text.append(", ").append(ids[i]);
  }
  return text;
}

}  // namespace

FindingSnapshot snapshot_of(const Finding& finding) {
  FindingSnapshot snapshot{.severity_label = finding.severity_label,
                           .compliance_status = finding.compliance_status,
                           .workflow_status = finding.workflow_status,
                           .record_state = finding.record_state,
                           .resource_ids = {}};
  snapshot.resource_ids.reserve(finding.resources.size());
  for (const Resource& resource : finding.resources) {
    snapshot.resource_ids.push_back(resource.id);
  }
  std::sort(snapshot.resource_ids.begin(), snapshot.resource_ids.end());
  snapshot.resource_ids.erase(
      std::unique(snapshot.resource_ids.begin(), snapshot.resource_ids.end()),
      snapshot.resource_ids.end());
  return snapshot;
}

std::string LifecycleState::explanation() const {
  switch (because) {
    case ResolvedBecause::kCompliancePassed:
      return "Compliance.Status is PASSED: the check passes now.";
    case ResolvedBecause::kSuppressed:
      return "Workflow.Status is SUPPRESSED: someone decided not to act on this finding.";
    case ResolvedBecause::kArchived:
      return "RecordState is ARCHIVED: the provider no longer reports this finding (the resource "
             "is gone, the check was disabled, or the provider closed it).";
    case ResolvedBecause::kWorkflowResolved:
      return "Workflow.Status is RESOLVED: the finding was marked resolved.";
    case ResolvedBecause::kNotResolved:
      break;
  }
  return stage == Stage::kUndetermined
             ? "Compliance.Status says the check could not decide (WARNING or NOT_AVAILABLE)."
             : "The finding is active.";
}

LifecycleState lifecycle_of(const FindingSnapshot& snapshot) {
  const auto resolved = [](ResolvedBecause because) {
    return LifecycleState{.stage = Stage::kResolved, .because = because};
  };
  const std::string compliance = snapshot.compliance_status.value_or("");
  if (compliance == "PASSED") {
    return resolved(ResolvedBecause::kCompliancePassed);
  }
  if (snapshot.workflow_status == "SUPPRESSED") {
    return resolved(ResolvedBecause::kSuppressed);
  }
  if (snapshot.record_state == "ARCHIVED") {
    return resolved(ResolvedBecause::kArchived);
  }
  if (snapshot.workflow_status == "RESOLVED") {
    return resolved(ResolvedBecause::kWorkflowResolved);
  }
  if (compliance == "WARNING" || compliance == "NOT_AVAILABLE") {
    return LifecycleState{.stage = Stage::kUndetermined, .because = ResolvedBecause::kNotResolved};
  }
  return LifecycleState{};
}

LifecycleState lifecycle_of(const Finding& finding) { return lifecycle_of(snapshot_of(finding)); }

FindingVersion version_of(const Finding& finding) {
  return FindingVersion{.updated_at = finding.updated_at_instant,
                        .processed_at = finding.processed_at_instant};
}

std::weak_ordering compare_versions(const FindingVersion& a, const FindingVersion& b) {
  if (a.updated_at != b.updated_at) {
    return a.updated_at <=> b.updated_at;
  }
  if (a.processed_at && b.processed_at) {
    return *a.processed_at <=> *b.processed_at;
  }
  return std::weak_ordering::equivalent;
}

bool is_newer(const Finding& a, const Finding& b) {
  return a.updated_at_instant > b.updated_at_instant;
}

std::vector<FieldChange> changes(const FindingSnapshot& before, const FindingSnapshot& after) {
  std::vector<FieldChange> found;
  if (before.severity_label != after.severity_label) {
    found.push_back({"Severity.Label", before.severity_label, after.severity_label});
  }
  if (before.compliance_status != after.compliance_status) {
    found.push_back({"Compliance.Status", before.compliance_status.value_or(std::string(kAbsent)),
                     after.compliance_status.value_or(std::string(kAbsent))});
  }
  if (!same_workflow(before.workflow_status, after.workflow_status)) {
    found.push_back({"Workflow.Status", before.workflow_status, after.workflow_status});
  }
  if (before.record_state != after.record_state) {
    found.push_back({"RecordState", before.record_state, after.record_state});
  }
  if (before.resource_ids != after.resource_ids) {
    found.push_back({"Resources", joined(before.resource_ids), joined(after.resource_ids)});
  }
  return found;
}

std::vector<FieldChange> changes(const Finding& before, const Finding& after) {
  return changes(snapshot_of(before), snapshot_of(after));
}

}  // namespace hikyaku::integrations::securityhub
