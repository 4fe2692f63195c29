#include "integrations/securityhub/ticket_decision.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "integrations/securityhub/test_samples.h"

namespace hikyaku::integrations::securityhub {
namespace {

using ::testing::HasSubstr;
using testing::sample_finding;

LedgerEntry open_entry_for(const Finding& finding) {
  Decision create;
  create.action = Action::kCreate;
  LedgerEntry entry = next_entry(std::nullopt, finding, create);
  entry.issue_key = "SEC-101";
  entry.issue_id = 4242;
  return entry;
}

Finding later_version(Finding finding, std::string_view updated_at) {
  finding.updated_at = updated_at;
  finding.updated_at_instant = *parse_instant(updated_at);
  finding.processed_at = finding.updated_at;
  finding.processed_at_instant = finding.updated_at_instant;
  return finding;
}

TEST(LedgerEntryTest, CompactJson) {
  const Finding finding = sample_finding("01-fsbp-ec2-19-critical-failed.json");
  const LedgerEntry entry = open_entry_for(finding);
  EXPECT_EQ(to_json(entry),
            R"({"v":1,"key":"securityhub/3e1354a9ad1609ee595ba2c32b502126",)"
            R"("product_arn":"arn:aws:securityhub:ap-northeast-1::product/aws/securityhub",)"
            R"("finding_id":"arn:aws:securityhub:ap-northeast-1:123456789012:security-control/)"
            R"(EC2.19/finding/0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9","issue_key":"SEC-101",)"
            R"("issue_id":4242,"ticket":"open","updated_at":"2026-03-02T01:15:40.118Z",)"
            R"("processed_at":"2026-03-02T01:15:40.118Z","snapshot":{"severity":"CRITICAL",)"
            R"("compliance":"FAILED","workflow":"NEW","record_state":"ACTIVE","resources":)"
            R"(["arn:aws:ec2:ap-northeast-1:123456789012:security-group/sg-0a1b2c3d4e5f60718"]}})");
}

TEST(LedgerEntryTest, RoundTrip) {
  const LedgerEntry open =
      open_entry_for(sample_finding("12-synthetic-three-findings-one-event.json", 2));
  Result<LedgerEntry> parsed = ledger_entry_from_json(to_json(open));
  ASSERT_TRUE(parsed.has_value()) << parsed.error().to_string();
  EXPECT_EQ(*parsed, open);

  // No ticket, no issue id, no ProcessedAt, no Compliance, text that needs escaping.
  LedgerEntry bare;
  bare.product_arn = "arn:aws:securityhub:ap-northeast-1:123456789012:product/123456789012/default";
  bare.finding_id = "example/\"quoted\"\n改行";
  bare.key = FindingKey::of(bare.product_arn, bare.finding_id);
  bare.last_updated_at = "2026-03-02T10:00:00.000+09:00";
  bare.snapshot = FindingSnapshot{.severity_label = "HIGH",
                                  .compliance_status = std::nullopt,
                                  .workflow_status = "NEW",
                                  .record_state = "ACTIVE",
                                  .resource_ids = {}};
  const std::string json = to_json(bare);
  EXPECT_THAT(json, HasSubstr(R"("issue_id":null,"ticket":"none")"));
  EXPECT_THAT(json, HasSubstr(R"("compliance":null)"));
  parsed = ledger_entry_from_json(json);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().to_string();
  EXPECT_EQ(*parsed, bare);

  LedgerEntry resolved = open;
  resolved.ticket = TicketState::kResolved;
  parsed = ledger_entry_from_json(to_json(resolved));
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->ticket, TicketState::kResolved);

  LedgerEntry creating = bare;
  creating.creating = PendingCreate{.job_id = 42, .claim = "c-1", .until_ms = 1772500000000};
  EXPECT_THAT(to_json(creating),
              HasSubstr(R"("creating":{"job":42,"claim":"c-1","until_ms":1772500000000}})"));
  parsed = ledger_entry_from_json(to_json(creating));
  ASSERT_TRUE(parsed.has_value()) << parsed.error().to_string();
  EXPECT_EQ(*parsed, creating);
}

TEST(LedgerEntryTest, MalformedEntriesNameTheMember) {
  const std::string good = to_json(open_entry_for(sample_finding("02-fsbp-s3-8-high-failed.json")));
  const auto error_after = [&](std::string_view from, std::string_view to) {
    std::string json = good;
    const size_t at = json.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    json.replace(at, from.size(), to);
    Result<LedgerEntry> entry = ledger_entry_from_json(json);
    EXPECT_FALSE(entry.has_value()) << json;
    return entry.has_value() ? std::string() : entry.error().message();
  };
  EXPECT_EQ(error_after(R"("v":1)", R"("v":2)"), "ledger entry: v must be 1");
  EXPECT_EQ(error_after(R"("ticket":"open")", R"("ticket":"closed")"),
            R"(ledger entry: ticket must be "none", "open" or "resolved")");
  EXPECT_EQ(error_after(R"("issue_id":4242)", R"("issue_id":"4242")"),
            "ledger entry: issue_id must be an integer or null");
  EXPECT_EQ(error_after(R"("updated_at":"2026-03-03T04:41:57.220Z")", R"("updated_at":"soon")"),
            "ledger entry: updated_at must be an RFC 3339 timestamp");
  EXPECT_EQ(error_after("finding/70ad", "finding/80ad"),
            "ledger entry: key must be the key of product_arn and finding_id");
  EXPECT_THAT(error_after(R"("key":"securityhub/)", R"("key":"shub/)"),
              HasSubstr("is not \"securityhub/\" followed by 32 lower-case hex digits"));
  EXPECT_EQ(error_after(R"("workflow":"NEW")", R"("workflow":7)"),
            "ledger entry: snapshot.workflow must be a string");
  EXPECT_EQ(error_after(R"("compliance":"FAILED",)", ""),
            "ledger entry: snapshot.compliance must be present (a string or null)");
  EXPECT_FALSE(ledger_entry_from_json("[]").has_value());
  EXPECT_FALSE(ledger_entry_from_json("").has_value());
}

TEST(DecideTest, NoTicket) {
  const Finding active = sample_finding("01-fsbp-ec2-19-critical-failed.json");
  EXPECT_EQ(decide(std::nullopt, active, true).action, Action::kCreate);
  const Decision not_wanted = decide(std::nullopt, active, false);
  EXPECT_EQ(not_wanted.action, Action::kNone);
  EXPECT_EQ(not_wanted.reason, NoActionReason::kNotMatchingCreateWhen);

  const Decision resolved =
      decide(std::nullopt, sample_finding("09-fsbp-ec2-19-passed-update-same-id.json"), true);
  EXPECT_EQ(resolved.action, Action::kNone);
  EXPECT_EQ(resolved.reason, NoActionReason::kResolvedWithoutTicket);

  Finding warning = active;
  warning.compliance_status = "WARNING";
  const Decision undetermined = decide(std::nullopt, warning, true);
  EXPECT_EQ(undetermined.action, Action::kNone);
  EXPECT_EQ(undetermined.reason, NoActionReason::kUndeterminedWithoutTicket);
}

TEST(DecideTest, OpenTicket) {
  const Finding first = sample_finding("01-fsbp-ec2-19-critical-failed.json");
  const LedgerEntry entry = open_entry_for(first);

  Finding refreshed = later_version(first, "2026-03-03T01:15:40.118Z");
  refreshed.last_observed_at = refreshed.updated_at;
  Decision decision = decide(entry, refreshed, true);
  EXPECT_EQ(decision.action, Action::kNone);
  EXPECT_EQ(decision.reason, NoActionReason::kUnchanged);

  Finding more_resources = refreshed;
  more_resources.resources.push_back(Resource{
      .type = "AwsEc2SecurityGroup", .id = "sg-2", .region = "ap-northeast-1", .partition = "aws"});
  decision = decide(entry, more_resources, false);
  EXPECT_EQ(decision.action, Action::kComment);
  ASSERT_EQ(decision.changes.size(), 1u);
  EXPECT_EQ(decision.changes[0].field, "Resources");

  Finding warning = refreshed;
  warning.compliance_status = "WARNING";
  decision = decide(entry, warning, true);
  EXPECT_EQ(decision.action, Action::kComment);
  EXPECT_EQ(decision.changes,
            (std::vector<FieldChange>{{"Compliance.Status", "FAILED", "WARNING"}}));

  Finding suppressed = refreshed;
  suppressed.workflow_status = "SUPPRESSED";
  decision = decide(entry, suppressed, true);
  EXPECT_EQ(decision.action, Action::kResolve);
  EXPECT_EQ(decision.lifecycle.because, ResolvedBecause::kSuppressed);
}

TEST(DecideTest, EchoOfTheWriteBackChangesNothing) {
  // What a ticketing integration's BatchUpdateFindings (Workflow NOTIFIED + Note) sends back:
  // same UpdatedAt, later ProcessedAt.
  const Finding first = sample_finding("01-fsbp-ec2-19-critical-failed.json");
  const LedgerEntry entry = open_entry_for(first);
  Finding echo = first;
  echo.workflow_status = "NOTIFIED";
  echo.note = Note{.text = "Backlog issue SEC-101", .updated_by = "router", .updated_at = ""};
  echo.processed_at = "2026-03-02T01:15:48.000Z";
  echo.processed_at_instant = parse_instant(*echo.processed_at);
  const Decision decision = decide(entry, echo, true);
  EXPECT_EQ(decision.action, Action::kNone);
  EXPECT_EQ(decision.reason, NoActionReason::kUnchanged);
}

TEST(DecideTest, ResolvedTicket) {
  const Finding first = sample_finding("01-fsbp-ec2-19-critical-failed.json");
  const Finding passed = sample_finding("09-fsbp-ec2-19-passed-update-same-id.json");
  LedgerEntry entry = open_entry_for(first);
  const Decision resolve = decide(entry, passed, true);
  ASSERT_EQ(resolve.action, Action::kResolve);
  entry = next_entry(entry, passed, resolve);
  EXPECT_EQ(entry.ticket, TicketState::kResolved);

  Finding archived = later_version(passed, "2026-03-08T00:00:00Z");
  archived.record_state = "ARCHIVED";
  Decision decision = decide(entry, archived, true);
  EXPECT_EQ(decision.action, Action::kNone);
  EXPECT_EQ(decision.reason, NoActionReason::kTicketAlreadyResolved);

  // Security Hub resets the workflow to NEW when a passing control fails again.
  Finding regressed = later_version(first, "2026-03-10T00:00:00Z");
  decision = decide(entry, regressed, false);
  EXPECT_EQ(decision.action, Action::kReopen);
  EXPECT_EQ(decision.changes,
            (std::vector<FieldChange>{{"Severity.Label", "INFORMATIONAL", "CRITICAL"},
                                      {"Compliance.Status", "PASSED", "FAILED"},
                                      {"Workflow.Status", "RESOLVED", "NEW"}}));
  entry = next_entry(entry, regressed, decision);
  EXPECT_EQ(entry.ticket, TicketState::kOpen);
  EXPECT_EQ(entry.issue_key, "SEC-101");
  EXPECT_EQ(entry.issue_id, 4242);
}

TEST(DecideTest, StaleVersionsAreIgnored) {
  const Finding first = sample_finding("01-fsbp-ec2-19-critical-failed.json");
  const LedgerEntry entry = open_entry_for(later_version(first, "2026-03-04T00:00:00Z"));
  Finding older = later_version(first, "2026-03-04T08:59:59.999+09:00");
  older.workflow_status = "SUPPRESSED";
  const Decision decision = decide(entry, older, true);
  EXPECT_EQ(decision.action, Action::kNone);
  EXPECT_EQ(decision.reason, NoActionReason::kStale);
  EXPECT_EQ(next_entry(entry, older, decision), entry);
}

TEST(DecideTest, WithoutTicketOnlyEarlierVersionsAreStale) {
  // A MEDIUM finding did not qualify; a custom action on the same version asks for a ticket.
  const Finding medium = sample_finding("03-fsbp-iam-3-medium-failed.json");
  const Decision skipped = decide(std::nullopt, medium, false);
  ASSERT_EQ(skipped.reason, NoActionReason::kNotMatchingCreateWhen);
  const LedgerEntry entry = next_entry(std::nullopt, medium, skipped);
  EXPECT_EQ(entry.ticket, TicketState::kNone);
  EXPECT_EQ(decide(entry, medium, true).action, Action::kCreate);
}

TEST(NamesTest, AreStable) {
  EXPECT_EQ(action_name(Action::kReopen), "reopen");
  EXPECT_EQ(no_action_reason_name(NoActionReason::kResolvedWithoutTicket),
            "resolved_without_ticket");
  EXPECT_EQ(ticket_state_name(TicketState::kResolved), "resolved");
}

}  // namespace
}  // namespace hikyaku::integrations::securityhub
