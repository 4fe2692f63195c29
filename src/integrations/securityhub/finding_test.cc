#include "integrations/securityhub/finding.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "integrations/securityhub/test_samples.h"

namespace hikyaku::integrations::securityhub {
namespace {

using ::testing::HasSubstr;
using testing::sample_finding;

// A small valid finding; `extra` is spliced in as further members.
std::string finding_json(std::string_view extra = "") {
  std::string text = R"({"ProductArn":"arn:aws:securityhub:us-east-1::product/aws/securityhub",)"
                     R"("Id":"finding-1","UpdatedAt":"2026-03-02T01:15:40.118Z")";
  if (!extra.empty()) {
    text.append(",").append(extra);
  }
  return text + "}";
}

Status error_of(std::string_view json) {
  Result<Finding> finding = parse_finding(json);
  EXPECT_FALSE(finding.has_value()) << json;
  return finding.has_value() ? Status() : finding.error();
}

TEST(FindingTest, ReadsEveryFieldOfAControlFinding) {
  const Finding finding = sample_finding("01-fsbp-ec2-19-critical-failed.json");
  EXPECT_EQ(finding.product_arn, "arn:aws:securityhub:ap-northeast-1::product/aws/securityhub");
  EXPECT_EQ(finding.id,
            "arn:aws:securityhub:ap-northeast-1:123456789012:security-control/EC2.19/finding/"
            "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9");
  EXPECT_EQ(finding.key.str(), "securityhub/3e1354a9ad1609ee595ba2c32b502126");
  EXPECT_EQ(finding.generator_id, "security-control/EC2.19");
  EXPECT_EQ(finding.aws_account_id, "123456789012");
  EXPECT_EQ(finding.region, "ap-northeast-1");
  EXPECT_EQ(finding.title,
            "Security groups should not allow unrestricted access to ports with high risk");
  EXPECT_THAT(finding.description, HasSubstr("to 0.0.0.0/0 or ::/0."));
  EXPECT_EQ(finding.severity_label, "CRITICAL");
  EXPECT_EQ(finding.severity_normalized, 90);
  EXPECT_EQ(finding.severity_original, "CRITICAL");
  EXPECT_EQ(finding.compliance_status, "FAILED");
  EXPECT_EQ(finding.security_control_id, "EC2.19");
  EXPECT_EQ(finding.workflow_status, "NEW");
  EXPECT_EQ(finding.record_state, "ACTIVE");
  EXPECT_EQ(finding.created_at, "2026-03-02T01:15:40.118Z");
  EXPECT_EQ(finding.updated_at, "2026-03-02T01:15:40.118Z");
  EXPECT_EQ(finding.first_observed_at, "2026-03-02T01:15:40.118Z");
  EXPECT_EQ(finding.last_observed_at, "2026-03-02T01:15:40.118Z");
  EXPECT_EQ(finding.processed_at, "2026-03-02T01:15:40.118Z");
  EXPECT_EQ(finding.updated_at_instant, (Instant{.seconds = 1772414140, .nanos = 118000000}));
  EXPECT_EQ(finding.product_name, "Security Hub");
  EXPECT_EQ(finding.company_name, "AWS");
  EXPECT_EQ(finding.types,
            std::vector<std::string>{
                "Software and Configuration Checks/Industry and Regulatory Standards"});
  ASSERT_EQ(finding.resources.size(), 1u);
  EXPECT_EQ(finding.resources[0],
            (Resource{.type = "AwsEc2SecurityGroup",
                      .id = "arn:aws:ec2:ap-northeast-1:123456789012:security-group/"
                            "sg-0a1b2c3d4e5f60718",
                      .region = "ap-northeast-1",
                      .partition = "aws"}));
  EXPECT_EQ(finding.remediation_text,
            "Remediation steps for this control are described in the Security Hub controls "
            "reference.");
  EXPECT_EQ(finding.remediation_url,
            "https://docs.aws.amazon.com/console/securityhub/EC2.19/remediation");
  EXPECT_FALSE(finding.note.has_value());
}

TEST(FindingTest, ReadsTheNoteAnIntegrationWroteBack) {
  const Finding finding = sample_finding("09-fsbp-ec2-19-passed-update-same-id.json");
  ASSERT_TRUE(finding.note.has_value());
  EXPECT_EQ(finding.note->updated_by, "shub-backlog-router");
  EXPECT_THAT(finding.note->text, HasSubstr("SEC-101"));
}

TEST(FindingTest, KeyIsBoundedStableAndDependsOnBothHalvesOfTheIdentity) {
  const std::string long_id(512, 'x');
  const FindingKey key =
      FindingKey::of("arn:aws:securityhub:us-east-1::product/aws/guardduty", long_id);
  EXPECT_EQ(key.str().size(), FindingKey::kLength);
  EXPECT_TRUE(key.str().starts_with("securityhub/"));
  EXPECT_EQ(key, FindingKey::of("arn:aws:securityhub:us-east-1::product/aws/guardduty", long_id));
  EXPECT_NE(key, FindingKey::of("arn:aws:securityhub:us-east-1::product/aws/inspector", long_id));
  // Moving text from one half to the other names another finding.
  EXPECT_NE(FindingKey::of("ab", "c"), FindingKey::of("a", "bc"));
}

TEST(FindingTest, KeyParsesBackAndRejectsAnythingElse) {
  const FindingKey key = FindingKey::of("p", "i");
  Result<FindingKey> parsed = FindingKey::parse(key.str());
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(*parsed, key);
  EXPECT_FALSE(FindingKey::parse("securityhub/xyz").has_value());
  EXPECT_FALSE(FindingKey::parse("other/3e1354a9ad1609ee595ba2c32b502126").has_value());
  EXPECT_FALSE(FindingKey::parse("securityhub/3E1354A9AD1609EE595BA2C32B502126").has_value());
}

TEST(FindingTest, SeverityLabelComesFromNormalizedWhenOnlyThatExists) {
  const auto label = [](std::string_view severity) {
    Result<Finding> finding = parse_finding(finding_json(severity));
    EXPECT_TRUE(finding.has_value()) << finding.status().to_string();
    return finding.has_value() ? finding->severity_label : "";
  };
  EXPECT_EQ(label(R"("Severity":{"Normalized":0})"), "INFORMATIONAL");
  EXPECT_EQ(label(R"("Severity":{"Normalized":1})"), "LOW");
  EXPECT_EQ(label(R"("Severity":{"Normalized":39})"), "LOW");
  EXPECT_EQ(label(R"("Severity":{"Normalized":"40"})"), "MEDIUM");
  EXPECT_EQ(label(R"("Severity":{"Normalized":69.4})"), "MEDIUM");
  EXPECT_EQ(label(R"("Severity":{"Normalized":70})"), "HIGH");
  EXPECT_EQ(label(R"("Severity":{"Normalized":90})"), "CRITICAL");
  EXPECT_EQ(label(R"("Severity":{"Normalized":100})"), "CRITICAL");
  EXPECT_EQ(label(R"("Severity":{"Label":"LOW","Normalized":90})"), "LOW");
  EXPECT_EQ(label(R"("Severity":{"Original":"8"})"), "");
}

TEST(FindingTest, AbsentWorkflowAndRecordStateMeanNewAndActive) {
  Result<Finding> finding = parse_finding(finding_json(R"("Workflow":{},"RecordState":null)"));
  ASSERT_TRUE(finding.has_value()) << finding.status().to_string();
  EXPECT_EQ(finding->workflow_status, "NEW");
  EXPECT_EQ(finding->record_state, "ACTIVE");
  EXPECT_FALSE(finding->compliance_status.has_value());
  EXPECT_FALSE(finding->processed_at.has_value());
}

TEST(FindingTest, ProductNameFallsBackToProductFields) {
  Result<Finding> finding =
      parse_finding(finding_json(R"("ProductFields":{"aws/securityhub/ProductName":"GuardDuty",)"
                                 R"("aws/securityhub/CompanyName":"Amazon","other":"x"})"));
  ASSERT_TRUE(finding.has_value()) << finding.status().to_string();
  EXPECT_EQ(finding->product_name, "GuardDuty");
  EXPECT_EQ(finding->company_name, "Amazon");
  // The provider's own top-level names win (13: a custom integration's ProductFields say
  // "Default"/"Personal").
  const Finding custom = sample_finding("13-custom-unicode-japanese-quotes-newlines.json");
  EXPECT_EQ(custom.product_name, "config-auditor");
}

TEST(FindingTest, IdentityErrorsNameTheField) {
  EXPECT_EQ(
      error_of(R"({"Id":"x","UpdatedAt":"2026-03-02T01:15:40Z"})"),
      invalid_argument("ProductArn is missing (a finding is identified by ProductArn and Id)"));
  EXPECT_EQ(error_of(R"({"ProductArn":"p","UpdatedAt":"2026-03-02T01:15:40Z"})"),
            invalid_argument("Id is missing (a finding is identified by ProductArn and Id)"));
  EXPECT_EQ(error_of(R"({"ProductArn":"","Id":"x","UpdatedAt":"2026-03-02T01:15:40Z"})"),
            invalid_argument("ProductArn is empty (a finding is identified by ProductArn and Id)"));
  EXPECT_EQ(error_of(R"({"ProductArn":"p","Id":"","UpdatedAt":"2026-03-02T01:15:40Z"})"),
            invalid_argument("Id is empty (a finding is identified by ProductArn and Id)"));
  EXPECT_EQ(error_of(R"({"ProductArn":"p","Id":17,"UpdatedAt":"2026-03-02T01:15:40Z"})"),
            invalid_argument("Id must be a string"));
  const std::string long_id(513, 'i');
  EXPECT_THAT(
      error_of(R"({"ProductArn":"p","Id":")" + long_id + R"(","UpdatedAt":"2026-03-02T01:15:40Z"})")
          .message(),
      HasSubstr("Id is longer than 512 characters: \"iiii"));
  // 512 characters of three bytes each are within the limit.
  std::string japanese_id;
  for (int i = 0; i < 512; ++i) {
    japanese_id += "検";
  }
  EXPECT_TRUE(parse_finding(R"({"ProductArn":"p","Id":")" + japanese_id +
                            R"(","UpdatedAt":"2026-03-02T01:15:40Z"})")
                  .has_value());
}

TEST(FindingTest, UpdatedAtIsRequiredAndMustBeATimestamp) {
  EXPECT_EQ(error_of(R"({"ProductArn":"p","Id":"x"})"),
            invalid_argument("UpdatedAt is missing (it orders the versions of a finding)"));
  EXPECT_EQ(error_of(R"({"ProductArn":"p","Id":"x","UpdatedAt":"yesterday"})"),
            invalid_argument("UpdatedAt \"yesterday\" is not an RFC 3339 timestamp"));
  EXPECT_EQ(error_of(R"({"ProductArn":"p","Id":"x","UpdatedAt":"2026-02-30T00:00:00Z"})"),
            invalid_argument("UpdatedAt \"2026-02-30T00:00:00Z\" is not an RFC 3339 timestamp"));
  EXPECT_EQ(error_of(finding_json(R"("ProcessedAt":"2026-03-02 01:15:40")")),
            invalid_argument("ProcessedAt \"2026-03-02 01:15:40\" is not an RFC 3339 timestamp"));
}

TEST(FindingTest, WrongTypesNameTheField) {
  EXPECT_EQ(error_of(finding_json(R"("Title":["a"])")), invalid_argument("Title must be a string"));
  EXPECT_EQ(error_of(finding_json(R"("Severity":"HIGH")")),
            invalid_argument("Severity must be an object"));
  EXPECT_EQ(error_of(finding_json(R"("Severity":{"Label":5})")),
            invalid_argument("Severity.Label must be a string"));
  EXPECT_EQ(error_of(finding_json(R"("Severity":{"Normalized":101})")),
            invalid_argument("Severity.Normalized must be a number from 0 to 100"));
  EXPECT_EQ(error_of(finding_json(R"("Severity":{"Normalized":"high"})")),
            invalid_argument("Severity.Normalized must be a number from 0 to 100"));
  EXPECT_EQ(error_of(finding_json(R"("Compliance":{"Status":true})")),
            invalid_argument("Compliance.Status must be a string"));
  EXPECT_EQ(error_of(finding_json(R"("Workflow":{"Status":1})")),
            invalid_argument("Workflow.Status must be a string"));
  EXPECT_EQ(error_of(finding_json(R"("Resources":{})")),
            invalid_argument("Resources must be an array"));
  EXPECT_EQ(error_of(finding_json(R"("Resources":[{"Id":"a"},{"Id":7}])")),
            invalid_argument("Resources[1].Id must be a string"));
  EXPECT_EQ(error_of(finding_json(R"("Types":["a",null])")),
            invalid_argument("Types[1] must be a string"));
  EXPECT_EQ(error_of(finding_json(R"("Remediation":{"Recommendation":{"Url":{}}})")),
            invalid_argument("Remediation.Recommendation.Url must be a string"));
}

TEST(FindingTest, NotAnObject) {
  EXPECT_EQ(error_of("[1]"), invalid_argument("the finding is not a JSON object"));
  EXPECT_EQ(error_of(""), invalid_argument("the finding is not valid JSON"));
  EXPECT_FALSE(parse_finding(R"({"ProductArn":"p","Id":"x",)").has_value());
}

TEST(FindingTest, EventFindingsFailOneByOne) {
  const std::string event =
      R"({"detail-type":"Security Hub Findings - Imported","detail":{"findings":[)" +
      finding_json() + R"(,{"Id":"y","UpdatedAt":"2026-03-02T01:15:40Z"},7]}})";
  Result<std::vector<Result<Finding>>> findings = parse_event_findings(event);
  ASSERT_TRUE(findings.has_value()) << findings.error().to_string();
  ASSERT_EQ(findings->size(), 3u);
  EXPECT_TRUE((*findings)[0].has_value());
  ASSERT_FALSE((*findings)[1].has_value());
  EXPECT_EQ((*findings)[1].error().message(),
            "detail.findings[1]: ProductArn is missing (a finding is identified by ProductArn and "
            "Id)");
  ASSERT_FALSE((*findings)[2].has_value());
  EXPECT_EQ((*findings)[2].error().message(), "detail.findings[2]: must be an object");
}

TEST(FindingTest, EventWithoutFindings) {
  Result<std::vector<Result<Finding>>> insight =
      parse_event_findings(testing::sample_event("17-insight-results.json"));
  ASSERT_FALSE(insight.has_value());
  EXPECT_EQ(insight.error(), invalid_argument("the event has no detail.findings array"));
  EXPECT_EQ(parse_event_findings(R"({"source":"x"})").error(),
            invalid_argument("the event has no detail object"));
  EXPECT_EQ(parse_event_findings("not json").error(),
            invalid_argument("the event is not a JSON object"));
}

}  // namespace
}  // namespace hikyaku::integrations::securityhub
