// The sample events of tests/data/securityhub/ through parsing and the decision table, in the
// orders the samples' README describes (and some it warns about).

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "integrations/securityhub/finding.h"
#include "integrations/securityhub/lifecycle.h"
#include "integrations/securityhub/test_samples.h"
#include "integrations/securityhub/ticket_decision.h"

namespace hikyaku::integrations::securityhub {
namespace {

using ::testing::HasSubstr;
using testing::sample_event;
using testing::sample_finding;

// One finding's ledger, driven the way the ticketing side will drive it: decide, pretend the
// action succeeded, store the next entry (through its JSON form, as the store will hold it).
class Ledger {
 public:
  Decision receive(const std::string& sample, bool matches_create_when) {
    const Finding finding = sample_finding(sample);
    const Decision decision = decide(entry_, finding, matches_create_when);
    LedgerEntry next = next_entry(entry_, finding, decision);
    if (decision.action == Action::kCreate) {
      next.issue_key = "SEC-" + std::to_string(++issues_created_ + 100);
      next.issue_id = issues_created_;
    }
    Result<LedgerEntry> stored = ledger_entry_from_json(to_json(next));
    EXPECT_TRUE(stored.has_value()) << stored.status().to_string();
    entry_ = stored.has_value() ? std::move(stored).value() : next;
    return decision;
  }

  const std::optional<LedgerEntry>& entry() const { return entry_; }
  int issues_created() const { return issues_created_; }

 private:
  std::optional<LedgerEntry> entry_;
  int issues_created_ = 0;
};

TEST(SamplesTest, EveryFindingParses) {
  size_t events_with_findings = 0;
  for (const auto& file : std::filesystem::directory_iterator(std::string(HIKYAKU_TEST_DATA_DIR) +
                                                              "/data/securityhub")) {
    const std::string name = file.path().filename().string();
    if (file.path().extension() != ".json" || name.starts_with("17-") || name.starts_with("18-")) {
      continue;
    }
    Result<std::vector<Result<Finding>>> findings = parse_event_findings(sample_event(name));
    ASSERT_TRUE(findings.has_value()) << name << ": " << findings.error().to_string();
    ASSERT_FALSE(findings->empty()) << name;
    for (const Result<Finding>& finding : *findings) {
      ASSERT_TRUE(finding.has_value()) << name << ": " << finding.error().to_string();
      EXPECT_FALSE(finding->title.empty()) << name;
      EXPECT_FALSE(finding->severity_label.empty()) << name;
      EXPECT_FALSE(finding->resources.empty()) << name;
      EXPECT_EQ(finding->aws_account_id.size(), 12u) << name;
    }
    ++events_with_findings;
  }
  EXPECT_EQ(events_with_findings, 16u);
}

TEST(SamplesTest, InsightResultsAndOcsfFindingsAreNotAsff) {
  EXPECT_FALSE(parse_event_findings(sample_event("17-insight-results.json")).has_value());
  Result<std::vector<Result<Finding>>> ocsf =
      parse_event_findings(sample_event("18-v2-ocsf-findings-imported-illustrative.json"));
  ASSERT_TRUE(ocsf.has_value());
  ASSERT_EQ(ocsf->size(), 1u);
  ASSERT_FALSE((*ocsf)[0].has_value());
  EXPECT_THAT((*ocsf)[0].error().message(), HasSubstr("detail.findings[0]: ProductArn is missing"));
}

TEST(SamplesTest, ThreeFindingsInOneEventAreThreeTickets) {
  std::set<std::string> keys;
  for (size_t i = 0; i < 3; ++i) {
    const Finding finding = sample_finding("12-synthetic-three-findings-one-event.json", i);
    keys.insert(finding.key.str());
    EXPECT_EQ(decide(std::nullopt, finding, true).action, Action::kCreate);
  }
  EXPECT_EQ(keys.size(), 3u);
}

TEST(SamplesTest, JapaneseQuotesAndNewlinesSurviveIntact) {
  const Finding finding = sample_finding("13-custom-unicode-japanese-quotes-newlines.json");
  EXPECT_EQ(
      finding.title,
      "RDS スナップショット \"prod-db-2026-03-01\" が公開状態 ⚠️ (要対応)");
  EXPECT_TRUE(
      finding.description.starts_with("本番 RDS スナップショット \"prod-db-2026-03-01\" が「全員 "
                                      "(all)」に公開されています。\n影響: "));
  EXPECT_THAT(finding.description,
              HasSubstr("\n\t- 検出パス: C:\\audit\\rules\\rds\\public.yml\n"));
  EXPECT_THAT(finding.description, HasSubstr(": ''太字'' %%取消%% {code}"));
  EXPECT_THAT(finding.description,
              HasSubstr("<script>alert('x')</script> / JSON風: {\"key\": [1, 2]}"));
  EXPECT_THAT(finding.description, HasSubstr("絵文字: 🚨🔒 半角カナ: ｾｷｭﾘﾃｨ 囲み文字: ①②"));
  EXPECT_TRUE(finding.description.ends_with("\u2028終わり"));
  EXPECT_EQ(finding.severity_original, "重大度: 高");
  EXPECT_EQ(finding.product_arn,
            "arn:aws:securityhub:ap-northeast-1:123456789012:product/123456789012/default");
  EXPECT_EQ(finding.company_name, "Example Corp 情報セキュリティ部");
}

TEST(SamplesTest, LargeInspectorFindingParses) {
  const std::string event = sample_event("14-inspector-large-near-240kb-finding.json");
  EXPECT_GT(event.size(), 240'000u);
  const Finding finding = sample_finding("14-inspector-large-near-240kb-finding.json");
  EXPECT_EQ(finding.id,
            "arn:aws:inspector2:ap-northeast-1:123456789012:finding/"
            "0a1b2c3d4e5f60718293a4b5c6d7e8f9");
  EXPECT_EQ(finding.product_name, "Inspector");
  EXPECT_EQ(finding.severity_label, "HIGH");
  EXPECT_EQ(lifecycle_of(finding).stage, Stage::kActive);
}

TEST(SamplesTest, ControlFailsThenCustomActionThenPasses) {
  Ledger ledger;
  EXPECT_EQ(ledger.receive("01-fsbp-ec2-19-critical-failed.json", true).action, Action::kCreate);
  // The custom action carries the same finding, same version: no second ticket.
  EXPECT_EQ(sample_finding("16-custom-action-send-to-backlog.json").key, ledger.entry()->key);
  const Decision custom_action = ledger.receive("16-custom-action-send-to-backlog.json", true);
  EXPECT_EQ(custom_action.action, Action::kNone);
  EXPECT_EQ(custom_action.reason, NoActionReason::kUnchanged);
  const Decision passed = ledger.receive("09-fsbp-ec2-19-passed-update-same-id.json", true);
  EXPECT_EQ(passed.action, Action::kResolve);
  EXPECT_EQ(passed.lifecycle.because, ResolvedBecause::kCompliancePassed);
  EXPECT_EQ(ledger.entry()->ticket, TicketState::kResolved);
  EXPECT_EQ(ledger.entry()->issue_key, "SEC-101");
  EXPECT_EQ(ledger.issues_created(), 1);
}

TEST(SamplesTest, BucketFindingIsArchived) {
  Ledger ledger;
  EXPECT_EQ(ledger.receive("02-fsbp-s3-8-high-failed.json", true).action, Action::kCreate);
  const Decision archived = ledger.receive("10-fsbp-s3-8-archived-same-id.json", true);
  EXPECT_EQ(archived.action, Action::kResolve);
  EXPECT_EQ(archived.lifecycle.because, ResolvedBecause::kArchived);
  EXPECT_EQ(archived.changes, (std::vector<FieldChange>{{"RecordState", "ACTIVE", "ARCHIVED"}}));
}

TEST(SamplesTest, MediumFindingSuppressedWithTicket) {
  Ledger ledger;
  EXPECT_EQ(ledger.receive("03-fsbp-iam-3-medium-failed.json", true).action, Action::kCreate);
  // 11 keeps 03's UpdatedAt: a person's BatchUpdateFindings, told apart by ProcessedAt.
  const Decision suppressed = ledger.receive("11-fsbp-iam-3-suppressed-same-id.json", true);
  EXPECT_EQ(suppressed.action, Action::kResolve);
  EXPECT_EQ(suppressed.lifecycle.because, ResolvedBecause::kSuppressed);
}

TEST(SamplesTest, MediumFindingSuppressedWithoutTicket) {
  Ledger ledger;
  const Decision medium = ledger.receive("03-fsbp-iam-3-medium-failed.json", false);
  EXPECT_EQ(medium.action, Action::kNone);
  EXPECT_EQ(medium.reason, NoActionReason::kNotMatchingCreateWhen);
  const Decision suppressed = ledger.receive("11-fsbp-iam-3-suppressed-same-id.json", false);
  EXPECT_EQ(suppressed.action, Action::kNone);
  EXPECT_EQ(suppressed.reason, NoActionReason::kResolvedWithoutTicket);
  EXPECT_EQ(ledger.issues_created(), 0);
}

TEST(SamplesTest, PassedBeforeFailedCreatesNothing) {
  Ledger ledger;
  const Decision passed = ledger.receive("09-fsbp-ec2-19-passed-update-same-id.json", true);
  EXPECT_EQ(passed.action, Action::kNone);
  EXPECT_EQ(passed.reason, NoActionReason::kResolvedWithoutTicket);
  // The failing version is older than the passing one already seen: the finding is resolved.
  const Decision failed = ledger.receive("01-fsbp-ec2-19-critical-failed.json", true);
  EXPECT_EQ(failed.action, Action::kNone);
  EXPECT_EQ(failed.reason, NoActionReason::kStale);
  EXPECT_EQ(ledger.issues_created(), 0);
  EXPECT_EQ(ledger.entry()->last_updated_at, "2026-03-05T14:02:26.551Z");
}

TEST(SamplesTest, ArchivedBeforeCreatedWithTicketOpenLater) {
  Ledger ledger;
  EXPECT_EQ(ledger.receive("10-fsbp-s3-8-archived-same-id.json", true).reason,
            NoActionReason::kResolvedWithoutTicket);
  EXPECT_EQ(ledger.receive("02-fsbp-s3-8-high-failed.json", true).reason, NoActionReason::kStale);
}

TEST(SamplesTest, DuplicateDeliveryIsUnchanged) {
  Ledger ledger;
  EXPECT_EQ(ledger.receive("01-fsbp-ec2-19-critical-failed.json", true).action, Action::kCreate);
  const Decision again = ledger.receive("01-fsbp-ec2-19-critical-failed.json", true);
  EXPECT_EQ(again.action, Action::kNone);
  EXPECT_EQ(again.reason, NoActionReason::kUnchanged);
  // The resolving version delivered twice resolves once.
  EXPECT_EQ(ledger.receive("09-fsbp-ec2-19-passed-update-same-id.json", true).action,
            Action::kResolve);
  const Decision resolved_again = ledger.receive("09-fsbp-ec2-19-passed-update-same-id.json", true);
  EXPECT_EQ(resolved_again.action, Action::kNone);
  EXPECT_EQ(resolved_again.reason, NoActionReason::kUnchanged);
  EXPECT_EQ(ledger.issues_created(), 1);
}

TEST(SamplesTest, ProductsWithoutComplianceGetTickets) {
  for (const char* name :
       {"05-guardduty-ec2-cryptomining-high.json", "06-inspector-cve-2024-3094-critical.json",
        "07-macie-s3-personal-data-high.json"}) {
    Ledger ledger;
    EXPECT_EQ(ledger.receive(name, true).action, Action::kCreate) << name;
    EXPECT_EQ(ledger.entry()->snapshot.compliance_status, std::nullopt) << name;
  }
}

}  // namespace
}  // namespace hikyaku::integrations::securityhub
