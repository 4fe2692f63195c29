#include "integrations/securityhub/lifecycle.h"

#include <gtest/gtest.h>

#include "integrations/securityhub/test_samples.h"

namespace hikyaku::integrations::securityhub {
namespace {

using testing::sample_finding;

Instant instant(std::string_view text) {
  const std::optional<Instant> parsed = parse_instant(text);
  EXPECT_TRUE(parsed.has_value()) << text;
  return parsed.value_or(Instant{});
}

Finding finding_updated_at(std::string_view updated_at) {
  Finding finding;
  finding.updated_at = updated_at;
  finding.updated_at_instant = instant(updated_at);
  return finding;
}

FindingSnapshot snapshot(std::optional<std::string> compliance, std::string workflow,
                         std::string record_state = "ACTIVE") {
  return FindingSnapshot{.severity_label = "HIGH",
                         .compliance_status = std::move(compliance),
                         .workflow_status = std::move(workflow),
                         .record_state = std::move(record_state),
                         .resource_ids = {"arn:aws:s3:::bucket"}};
}

TEST(InstantTest, FractionsAndOffsets) {
  EXPECT_EQ(instant("2026-03-02T01:15:40.118Z"),
            (Instant{.seconds = 1772414140, .nanos = 118000000}));
  EXPECT_EQ(instant("2026-03-02T10:15:40.118+09:00"), instant("2026-03-02T01:15:40.118Z"));
  EXPECT_EQ(instant("2026-03-01T20:15:40.118-05:00"), instant("2026-03-02T01:15:40.118Z"));
  EXPECT_EQ(instant("2026-03-02T01:15:40.1Z"), instant("2026-03-02T01:15:40.100000Z"));
  EXPECT_EQ(instant("2026-03-02T01:15:40Z"), instant("2026-03-02T01:15:40.000Z"));
  EXPECT_EQ(instant("2026-03-02T01:15:40.123456789Z").nanos, 123456789);
  EXPECT_EQ(instant("2026-03-02T01:15:40.1234567891Z").nanos, 123456789);
  EXPECT_LT(instant("2026-03-02T01:15:40.118Z"), instant("2026-03-02T01:15:40.1185Z"));
  EXPECT_FALSE(parse_instant("2026-03-02T01:15:40.Z").has_value());
  EXPECT_FALSE(parse_instant("2026-03-02").has_value());
}

TEST(IsNewerTest, ComparesInstantsNotText) {
  const Finding earlier = finding_updated_at("2026-03-02T01:15:40.118Z");
  const Finding later_by_a_millisecond = finding_updated_at("2026-03-02T01:15:40.119Z");
  EXPECT_TRUE(is_newer(later_by_a_millisecond, earlier));
  EXPECT_FALSE(is_newer(earlier, later_by_a_millisecond));

  const Finding same_in_tokyo = finding_updated_at("2026-03-02T10:15:40.118+09:00");
  EXPECT_FALSE(is_newer(same_in_tokyo, earlier));
  EXPECT_FALSE(is_newer(earlier, same_in_tokyo));
  EXPECT_FALSE(is_newer(earlier, earlier));

  // As text "09:15:39+09:00" sorts after "01:15:40Z"; as instants it is an hour earlier.
  const Finding text_later_instant_earlier = finding_updated_at("2026-03-02T09:15:39+09:00");
  EXPECT_TRUE(is_newer(earlier, text_later_instant_earlier));
  EXPECT_TRUE(is_newer(finding_updated_at("2026-03-02T01:15:40.1181Z"), earlier));
}

TEST(CompareVersionsTest, ProcessedAtBreaksTiesOfUpdatedAt) {
  const Instant t = instant("2026-03-01T09:00:05.772Z");
  const FindingVersion provider{.updated_at = t, .processed_at = t};
  const FindingVersion customer_update{.updated_at = t,
                                       .processed_at = instant("2026-03-01T11:35:03.100Z")};
  EXPECT_EQ(compare_versions(customer_update, provider), std::weak_ordering::greater);
  EXPECT_EQ(compare_versions(provider, customer_update), std::weak_ordering::less);
  EXPECT_EQ(compare_versions({.updated_at = t, .processed_at = std::nullopt}, customer_update),
            std::weak_ordering::equivalent);
  // UpdatedAt decides before ProcessedAt does.
  const FindingVersion later{.updated_at = instant("2026-03-01T09:00:06Z"), .processed_at = t};
  EXPECT_EQ(compare_versions(later, customer_update), std::weak_ordering::greater);

  // Sample 11 is 03 suppressed by a person: same UpdatedAt, later ProcessedAt.
  const Finding created = sample_finding("03-fsbp-iam-3-medium-failed.json");
  const Finding suppressed = sample_finding("11-fsbp-iam-3-suppressed-same-id.json");
  EXPECT_FALSE(is_newer(suppressed, created));
  EXPECT_EQ(compare_versions(version_of(suppressed), version_of(created)),
            std::weak_ordering::greater);
}

TEST(LifecycleTest, DecisionTable) {
  const auto active =
      LifecycleState{.stage = Stage::kActive, .because = ResolvedBecause::kNotResolved};
  const auto undetermined =
      LifecycleState{.stage = Stage::kUndetermined, .because = ResolvedBecause::kNotResolved};
  const auto resolved = [](ResolvedBecause because) {
    return LifecycleState{.stage = Stage::kResolved, .because = because};
  };
  EXPECT_EQ(lifecycle_of(snapshot("FAILED", "NEW")), active);
  EXPECT_EQ(lifecycle_of(snapshot("FAILED", "NOTIFIED")), active);
  EXPECT_EQ(lifecycle_of(snapshot(std::nullopt, "NEW")), active);
  EXPECT_EQ(lifecycle_of(snapshot("FAILED", "SOMETHING_NEW")), active);
  EXPECT_EQ(lifecycle_of(snapshot("WARNING", "NEW")), undetermined);
  EXPECT_EQ(lifecycle_of(snapshot("NOT_AVAILABLE", "NOTIFIED")), undetermined);

  EXPECT_EQ(lifecycle_of(snapshot("PASSED", "RESOLVED")),
            resolved(ResolvedBecause::kCompliancePassed));
  EXPECT_EQ(lifecycle_of(snapshot("PASSED", "NEW")), resolved(ResolvedBecause::kCompliancePassed));
  EXPECT_EQ(lifecycle_of(snapshot("PASSED", "SUPPRESSED", "ARCHIVED")),
            resolved(ResolvedBecause::kCompliancePassed));
  EXPECT_EQ(lifecycle_of(snapshot("FAILED", "SUPPRESSED")), resolved(ResolvedBecause::kSuppressed));
  EXPECT_EQ(lifecycle_of(snapshot("FAILED", "SUPPRESSED", "ARCHIVED")),
            resolved(ResolvedBecause::kSuppressed));
  EXPECT_EQ(lifecycle_of(snapshot("FAILED", "NOTIFIED", "ARCHIVED")),
            resolved(ResolvedBecause::kArchived));
  EXPECT_EQ(lifecycle_of(snapshot(std::nullopt, "NEW", "ARCHIVED")),
            resolved(ResolvedBecause::kArchived));
  EXPECT_EQ(lifecycle_of(snapshot("WARNING", "NEW", "ARCHIVED")),
            resolved(ResolvedBecause::kArchived));
  EXPECT_EQ(lifecycle_of(snapshot("FAILED", "RESOLVED", "ARCHIVED")),
            resolved(ResolvedBecause::kArchived));
  EXPECT_EQ(lifecycle_of(snapshot("FAILED", "RESOLVED")),
            resolved(ResolvedBecause::kWorkflowResolved));
  EXPECT_EQ(lifecycle_of(snapshot("WARNING", "RESOLVED")),
            resolved(ResolvedBecause::kWorkflowResolved));
}

TEST(LifecycleTest, ExplanationsSayWhy) {
  EXPECT_EQ(lifecycle_of(snapshot("PASSED", "RESOLVED")).explanation(),
            "Compliance.Status is PASSED: the check passes now.");
  EXPECT_EQ(lifecycle_of(snapshot("FAILED", "SUPPRESSED")).explanation(),
            "Workflow.Status is SUPPRESSED: someone decided not to act on this finding.");
  EXPECT_EQ(lifecycle_of(snapshot("FAILED", "NEW")).explanation(), "The finding is active.");
}

TEST(LifecycleTest, ProductsWithoutComplianceAreActive) {
  for (const char* name :
       {"05-guardduty-ec2-cryptomining-high.json", "06-inspector-cve-2024-3094-critical.json",
        "07-macie-s3-personal-data-high.json", "08-access-analyzer-s3-external-access-high.json",
        "13-custom-unicode-japanese-quotes-newlines.json"}) {
    const Finding finding = sample_finding(name);
    EXPECT_FALSE(finding.compliance_status.has_value()) << name;
    EXPECT_EQ(lifecycle_of(finding).stage, Stage::kActive) << name;
  }
}

TEST(ChangesTest, PeriodicReimportIsNoChange) {
  Finding before = sample_finding("01-fsbp-ec2-19-critical-failed.json");
  Finding after = before;
  after.updated_at = "2026-03-03T01:15:40.118Z";
  after.updated_at_instant = instant(after.updated_at);
  after.last_observed_at = after.updated_at;
  after.processed_at = after.updated_at;
  after.description += " (refreshed)";
  after.note = Note{.text = "seen", .updated_by = "someone", .updated_at = after.updated_at};
  EXPECT_TRUE(changes(before, after).empty());
}

TEST(ChangesTest, NewAndNotifiedAreTheSameForPeople) {
  EXPECT_TRUE(changes(snapshot("FAILED", "NEW"), snapshot("FAILED", "NOTIFIED")).empty());
  EXPECT_TRUE(changes(snapshot("FAILED", "NOTIFIED"), snapshot("FAILED", "NEW")).empty());
  EXPECT_EQ(changes(snapshot("FAILED", "NOTIFIED"), snapshot("FAILED", "SUPPRESSED")),
            (std::vector<FieldChange>{{"Workflow.Status", "NOTIFIED", "SUPPRESSED"}}));
}

TEST(ChangesTest, ListsEveryComparedField) {
  FindingSnapshot before = snapshot("FAILED", "NEW");
  FindingSnapshot after = snapshot(std::nullopt, "RESOLVED", "ARCHIVED");
  after.severity_label = "CRITICAL";
  after.resource_ids = {"arn:aws:s3:::bucket", "arn:aws:s3:::other"};
  EXPECT_EQ(changes(before, after),
            (std::vector<FieldChange>{
                {"Severity.Label", "HIGH", "CRITICAL"},
                {"Compliance.Status", "FAILED", "(none)"},
                {"Workflow.Status", "NEW", "RESOLVED"},
                {"RecordState", "ACTIVE", "ARCHIVED"},
                {"Resources", "arn:aws:s3:::bucket", "arn:aws:s3:::bucket, arn:aws:s3:::other"},
            }));
  after.resource_ids.clear();
  EXPECT_EQ(changes(before, after).back(),
            (FieldChange{"Resources", "arn:aws:s3:::bucket", "(none)"}));
}

TEST(ChangesTest, ResourcesAreASet) {
  Finding before = sample_finding("07-macie-s3-personal-data-high.json");
  ASSERT_EQ(before.resources.size(), 2u);
  Finding after = before;
  std::swap(after.resources[0], after.resources[1]);
  after.resources.push_back(after.resources[0]);
  EXPECT_TRUE(changes(before, after).empty());
}

TEST(ChangesTest, SampleChains) {
  EXPECT_EQ(changes(sample_finding("01-fsbp-ec2-19-critical-failed.json"),
                    sample_finding("09-fsbp-ec2-19-passed-update-same-id.json")),
            (std::vector<FieldChange>{{"Severity.Label", "CRITICAL", "INFORMATIONAL"},
                                      {"Compliance.Status", "FAILED", "PASSED"},
                                      {"Workflow.Status", "NEW", "RESOLVED"}}));
  EXPECT_EQ(changes(sample_finding("02-fsbp-s3-8-high-failed.json"),
                    sample_finding("10-fsbp-s3-8-archived-same-id.json")),
            (std::vector<FieldChange>{{"RecordState", "ACTIVE", "ARCHIVED"}}));
  EXPECT_TRUE(changes(sample_finding("01-fsbp-ec2-19-critical-failed.json"),
                      sample_finding("16-custom-action-send-to-backlog.json"))
                  .empty());
}

}  // namespace
}  // namespace hikyaku::integrations::securityhub
