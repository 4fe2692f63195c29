#pragma once
// One AWS Security Hub finding (ASFF, the format of the "Security Hub Findings - Imported" and
// "- Custom Action" events' `detail.findings[i]`), reduced to what ticketing needs.
//
//   HK_ASSIGN_OR_RETURN(Finding finding, parse_finding(finding_json));
//   store_key = finding.key.str();   // "securityhub/3f0c...": one ledger row per finding
//
// Identity: Security Hub names a finding by the pair (ProductArn, Id) (BatchUpdateFindings takes
// exactly that pair); Id alone is unique only per product. FindingKey condenses the pair into a
// fixed-length store key: "securityhub/" + the first 32 hex digits (128 bits) of
// SHA-256(ProductArn + "\n" + Id). Both parts can be long (Id up to 512 characters, ProductArn up
// to 2048) and hold any character, so neither escaping nor concatenation gives a bounded key; 128
// bits make a collision between findings of one installation practically impossible. The key
// cannot be turned back into the pair, which is why ledger entries keep ProductArn and Id too.
//
// What is required: ProductArn and Id (non-empty strings, Id at most 512 characters) for the
// identity, and UpdatedAt (an RFC 3339 timestamp) because every decision about a finding orders
// its versions by it. Everything else ASFF calls required (Title, Resources, ...) is read when
// present and left empty when not, so an unusual provider's finding still gets a ticket. A field
// that is present with the wrong JSON type is an error naming it ("Severity.Label must be a
// string"). Unknown fields are ignored.
//
// The text is expected to be JSON that ingest has already accepted: members this parser does not
// read are skipped, not validated.
//
// Values are kept as Security Hub writes them (upper-case enum strings such as "FAILED",
// "ARCHIVED"); text (Title, Description, ...) is unescaped UTF-8, unchanged otherwise.
//
// Thread safety: pure functions; Finding is a plain value.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace hikyaku::integrations::securityhub {

class FindingKey {
 public:
  static constexpr std::string_view kPrefix = "securityhub/";
  static constexpr size_t kLength = kPrefix.size() + 32;

  static FindingKey of(std::string_view product_arn, std::string_view id);
  // A key read back from storage: "securityhub/" followed by 32 lower-case hex digits.
  static Result<FindingKey> parse(std::string_view text);

  const std::string& str() const { return text_; }
  friend bool operator==(const FindingKey&, const FindingKey&) = default;

 private:
  explicit FindingKey(std::string text) : text_(std::move(text)) {}
  std::string text_;
};

// A point in time as RFC 3339 gives it, to the nanosecond (digits past the ninth are dropped).
struct Instant {
  int64_t seconds = 0;  // since the Unix epoch, UTC
  int32_t nanos = 0;
  // NOLINTNEXTLINE(modernize-use-nullptr): a defaulted <=> compares with a literal 0
  friend auto operator<=>(const Instant&, const Instant&) = default;
};

// "2026-03-02T01:15:40.118Z", "2026-03-02T10:15:40.118123+09:00", ...; nullopt when `text` is
// not an RFC 3339 timestamp.
std::optional<Instant> parse_instant(std::string_view text);

struct Resource {
  std::string type;  // AwsEc2SecurityGroup, AwsS3Bucket, Other, ...
  std::string id;    // usually an ARN
  std::string region;
  std::string partition;
  friend bool operator==(const Resource&, const Resource&) = default;
};

struct Note {
  std::string text;
  std::string updated_by;
  std::string updated_at;
  friend bool operator==(const Note&, const Note&) = default;
};

struct Finding {
  FindingKey key = FindingKey::of("", "");
  std::string product_arn;
  std::string id;
  std::string generator_id;
  std::string aws_account_id;
  std::string region;
  std::string title;
  std::string description;

  // Severity.Label; when a (typically older) finding has only Severity.Normalized, the label that
  // number maps to (0 INFORMATIONAL, 1-39 LOW, 40-69 MEDIUM, 70-89 HIGH, 90-100 CRITICAL). Empty
  // when the finding has neither.
  std::string severity_label;
  std::optional<int> severity_normalized;  // a number or, in older findings, a numeric string
  std::string severity_original;           // the provider's own wording

  // Compliance.Status (PASSED, WARNING, FAILED, NOT_AVAILABLE): only control findings have one;
  // GuardDuty, Inspector, Macie and custom findings do not.
  std::optional<std::string> compliance_status;
  std::string security_control_id;  // Compliance.SecurityControlId, e.g. "EC2.19"

  // Workflow.Status (NEW, NOTIFIED, RESOLVED, SUPPRESSED); "NEW" when the finding has no Workflow.
  std::string workflow_status = "NEW";
  // RecordState (ACTIVE, ARCHIVED); "ACTIVE" when absent.
  std::string record_state = "ACTIVE";

  std::string created_at;
  std::string updated_at;  // always a valid RFC 3339 timestamp (parse_finding checks it)
  Instant updated_at_instant;
  // ProcessedAt: when Security Hub last processed the finding. Customer updates
  // (BatchUpdateFindings) move it without moving UpdatedAt.
  std::optional<std::string> processed_at;
  std::optional<Instant> processed_at_instant;
  std::string first_observed_at;
  std::string last_observed_at;

  // The top-level ProductName/CompanyName, which the provider sets; the ProductFields entries
  // "aws/securityhub/ProductName"/"CompanyName" when the top-level ones are absent (for custom
  // integrations those say only "Default"/"Personal").
  std::string product_name;
  std::string company_name;

  std::vector<std::string> types;
  std::vector<Resource> resources;
  std::string remediation_text;  // Remediation.Recommendation.Text
  std::string remediation_url;   // Remediation.Recommendation.Url
  std::string source_url;
  std::optional<Note> note;
};

// Parses one finding: the JSON text of an object. Errors are kInvalidArgument and name the field.
Result<Finding> parse_finding(std::string_view finding_json);

// Every finding of a whole Security Hub event (an EventBridge envelope whose `detail.findings` is
// an array; AWS puts one finding in an Imported event, up to 20 can come from a Custom Action, and
// nothing promises one). The outer Result fails when the event is not JSON or has no
// `detail.findings` array (an Insight Results event, for instance); each finding succeeds or fails
// on its own, its errors prefixed with "detail.findings[<i>]", so one malformed finding does not
// hide the others.
Result<std::vector<Result<Finding>>> parse_event_findings(std::string_view event_json);

}  // namespace hikyaku::integrations::securityhub
