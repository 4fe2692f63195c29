#include "integrations/securityhub/finding.h"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <simdjson.h>

#include <charconv>
#include <cmath>

#include "core/time.h"

namespace hikyaku::integrations::securityhub {
namespace {

namespace od = simdjson::ondemand;

constexpr size_t kMaxIdCharacters = 512;  // ASFF's limit on Id
constexpr size_t kQuotedValueBytes = 64;  // of an offending value in a message

std::string quoted_excerpt(std::string_view text) {
  if (text.size() <= kQuotedValueBytes) {
    return fmt::format("\"{}\"", text);
  }
  size_t end = kQuotedValueBytes;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) {
    --end;  // do not cut a UTF-8 sequence
  }
  return fmt::format("\"{}...\"", text.substr(0, end));
}

size_t utf8_characters(std::string_view text) {
  size_t count = 0;
  for (char c : text) {
    count += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
  }
  return count;
}

Status not_json(std::string_view what) {
  return invalid_argument(fmt::format("{} is not valid JSON", what));
}

Status wrong_type(std::string_view path, std::string_view expected) {
  return invalid_argument(fmt::format("{} must be {}", path, expected));
}

bool is_null(od::value& value) {
  od::json_type type;
  return value.type().get(type) == simdjson::SUCCESS && type == od::json_type::null;
}

Status read_string(od::value value, std::string_view path, std::string& out) {
  std::string_view text;
  if (value.get_string().get(text) != simdjson::SUCCESS) {
    return wrong_type(path, "a string");
  }
  out.assign(text);
  return ok_status();
}

// Calls on_field(key, value) for every member of the object `value`, in document order.
template <typename OnField>
Status for_each_field(od::object object, std::string_view path, OnField&& on_field) {
  for (auto member : object) {
    od::field field;
    std::string_view key;
    if (std::move(member).get(field) != simdjson::SUCCESS ||
        field.unescaped_key().get(key) != simdjson::SUCCESS) {
      return not_json(path);
    }
    HK_RETURN_IF_ERROR(on_field(key, field.value()));
  }
  return ok_status();
}

template <typename OnField>
Status for_each_field(od::value value, std::string_view path, OnField&& on_field) {
  od::object object;
  if (value.get_object().get(object) != simdjson::SUCCESS) {
    return wrong_type(path, "an object");
  }
  return for_each_field(object, path, std::forward<OnField>(on_field));
}

template <typename OnElement>
Status for_each_element(od::value value, std::string_view path, OnElement&& on_element) {
  od::array array;
  if (value.get_array().get(array) != simdjson::SUCCESS) {
    return wrong_type(path, "an array");
  }
  size_t index = 0;
  for (auto element : array) {
    od::value item;
    if (element.get(item) != simdjson::SUCCESS) {
      return not_json(path);
    }
    HK_RETURN_IF_ERROR(on_element(index, item));
    ++index;
  }
  return ok_status();
}

std::string severity_label_of(int normalized) {
  if (normalized == 0) {
    return "INFORMATIONAL";
  }
  if (normalized < 40) {
    return "LOW";
  }
  if (normalized < 70) {
    return "MEDIUM";
  }
  if (normalized < 90) {
    return "HIGH";
  }
  return "CRITICAL";
}

// Severity.Normalized is a number, or in findings from before its deprecation sometimes a numeric
// string ("40").
Result<int> read_normalized(od::value value) {
  constexpr std::string_view kPath = "Severity.Normalized";
  constexpr std::string_view kExpected = "a number from 0 to 100";
  od::json_type type;
  if (value.type().get(type) != simdjson::SUCCESS) {
    return not_json(kPath);
  }
  double number = -1;
  if (type == od::json_type::number) {
    if (value.get_double().get(number) != simdjson::SUCCESS) {
      return wrong_type(kPath, kExpected);
    }
  } else if (type == od::json_type::string) {
    std::string_view text;
    if (value.get_string().get(text) != simdjson::SUCCESS) {
      return wrong_type(kPath, kExpected);
    }
    int parsed = -1;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), parsed);
    if (error != std::errc() || end != text.data() + text.size()) {
      return wrong_type(kPath, kExpected);
    }
    number = parsed;
  } else {
    return wrong_type(kPath, kExpected);
  }
  if (!(number >= 0 && number <= 100)) {
    return wrong_type(kPath, kExpected);
  }
  return static_cast<int>(std::lround(number));
}

Status read_severity(od::value value, Finding& finding) {
  return for_each_field(value, "Severity", [&](std::string_view key, od::value member) -> Status {
    if (is_null(member)) {
      return ok_status();
    }
    if (key == "Label") {
      return read_string(member, "Severity.Label", finding.severity_label);
    }
    if (key == "Normalized") {
      HK_ASSIGN_OR_RETURN(finding.severity_normalized, read_normalized(member));
    } else if (key == "Original") {
      return read_string(member, "Severity.Original", finding.severity_original);
    }
    return ok_status();
  });
}

Status read_compliance(od::value value, Finding& finding) {
  return for_each_field(value, "Compliance", [&](std::string_view key, od::value member) -> Status {
    if (is_null(member)) {
      return ok_status();
    }
    if (key == "Status") {
      std::string status;
      HK_RETURN_IF_ERROR(read_string(member, "Compliance.Status", status));
      finding.compliance_status = std::move(status);
    } else if (key == "SecurityControlId") {
      return read_string(member, "Compliance.SecurityControlId", finding.security_control_id);
    }
    return ok_status();
  });
}

Status read_workflow(od::value value, Finding& finding) {
  return for_each_field(value, "Workflow", [&](std::string_view key, od::value member) -> Status {
    if (key == "Status" && !is_null(member)) {
      return read_string(member, "Workflow.Status", finding.workflow_status);
    }
    return ok_status();
  });
}

Status read_remediation(od::value value, Finding& finding) {
  return for_each_field(
      value, "Remediation", [&](std::string_view key, od::value member) -> Status {
        if (key != "Recommendation" || is_null(member)) {
          return ok_status();
        }
        return for_each_field(member, "Remediation.Recommendation",
                              [&](std::string_view inner, od::value text) -> Status {
                                if (is_null(text)) {
                                  return ok_status();
                                }
                                if (inner == "Text") {
                                  return read_string(text, "Remediation.Recommendation.Text",
                                                     finding.remediation_text);
                                }
                                if (inner == "Url") {
                                  return read_string(text, "Remediation.Recommendation.Url",
                                                     finding.remediation_url);
                                }
                                return ok_status();
                              });
      });
}

Status read_note(od::value value, Finding& finding) {
  Note note;
  HK_RETURN_IF_ERROR(
      for_each_field(value, "Note", [&](std::string_view key, od::value member) -> Status {
        if (is_null(member)) {
          return ok_status();
        }
        if (key == "Text") {
          return read_string(member, "Note.Text", note.text);
        }
        if (key == "UpdatedBy") {
          return read_string(member, "Note.UpdatedBy", note.updated_by);
        }
        if (key == "UpdatedAt") {
          return read_string(member, "Note.UpdatedAt", note.updated_at);
        }
        return ok_status();
      }));
  finding.note = std::move(note);
  return ok_status();
}

Status read_resources(od::value value, Finding& finding) {
  return for_each_element(value, "Resources", [&](size_t index, od::value item) -> Status {
    const std::string path = fmt::format("Resources[{}]", index);
    Resource resource;
    HK_RETURN_IF_ERROR(
        for_each_field(item, path, [&](std::string_view key, od::value member) -> Status {
          if (is_null(member)) {
            return ok_status();
          }
          if (key == "Type") {
            return read_string(member, path + ".Type", resource.type);
          }
          if (key == "Id") {
            return read_string(member, path + ".Id", resource.id);
          }
          if (key == "Region") {
            return read_string(member, path + ".Region", resource.region);
          }
          if (key == "Partition") {
            return read_string(member, path + ".Partition", resource.partition);
          }
          return ok_status();
        }));
    finding.resources.push_back(std::move(resource));
    return ok_status();
  });
}

Status read_types(od::value value, Finding& finding) {
  return for_each_element(value, "Types", [&](size_t index, od::value item) -> Status {
    std::string type;
    HK_RETURN_IF_ERROR(read_string(item, fmt::format("Types[{}]", index), type));
    finding.types.push_back(std::move(type));
    return ok_status();
  });
}

struct ProductFieldNames {
  std::string product_name;
  std::string company_name;
};

Status read_product_fields(od::value value, ProductFieldNames& names) {
  return for_each_field(
      value, "ProductFields", [&](std::string_view key, od::value member) -> Status {
        if (key == "aws/securityhub/ProductName") {
          return read_string(member, "ProductFields[\"aws/securityhub/ProductName\"]",
                             names.product_name);
        }
        if (key == "aws/securityhub/CompanyName") {
          return read_string(member, "ProductFields[\"aws/securityhub/CompanyName\"]",
                             names.company_name);
        }
        return ok_status();
      });
}

Status check_identity(const Finding& finding, bool has_product_arn, bool has_id) {
  constexpr std::string_view kWhy = "(a finding is identified by ProductArn and Id)";
  if (!has_product_arn) {
    return invalid_argument(fmt::format("ProductArn is missing {}", kWhy));
  }
  if (finding.product_arn.empty()) {
    return invalid_argument(fmt::format("ProductArn is empty {}", kWhy));
  }
  if (!has_id) {
    return invalid_argument(fmt::format("Id is missing {}", kWhy));
  }
  if (finding.id.empty()) {
    return invalid_argument(fmt::format("Id is empty {}", kWhy));
  }
  if (utf8_characters(finding.id) > kMaxIdCharacters) {
    return invalid_argument(fmt::format("Id is longer than {} characters: {}", kMaxIdCharacters,
                                        quoted_excerpt(finding.id)));
  }
  return ok_status();
}

Result<Finding> parse_finding_object(od::object object) {
  Finding finding;
  bool has_product_arn = false;
  bool has_id = false;
  bool has_updated_at = false;
  std::optional<std::string> processed_at;
  ProductFieldNames product_field_names;
  HK_RETURN_IF_ERROR(
      for_each_field(object, "the finding", [&](std::string_view key, od::value member) -> Status {
        if (key == "ProductArn") {
          has_product_arn = true;
          return read_string(member, key, finding.product_arn);
        }
        if (key == "Id") {
          has_id = true;
          return read_string(member, key, finding.id);
        }
        if (key == "UpdatedAt") {
          has_updated_at = true;
          return read_string(member, key, finding.updated_at);
        }
        if (is_null(member)) {
          return ok_status();
        }
        if (key == "GeneratorId") {
          return read_string(member, key, finding.generator_id);
        }
        if (key == "AwsAccountId") {
          return read_string(member, key, finding.aws_account_id);
        }
        if (key == "Region") {
          return read_string(member, key, finding.region);
        }
        if (key == "Title") {
          return read_string(member, key, finding.title);
        }
        if (key == "Description") {
          return read_string(member, key, finding.description);
        }
        if (key == "Severity") {
          return read_severity(member, finding);
        }
        if (key == "Compliance") {
          return read_compliance(member, finding);
        }
        if (key == "Workflow") {
          return read_workflow(member, finding);
        }
        if (key == "RecordState") {
          return read_string(member, key, finding.record_state);
        }
        if (key == "CreatedAt") {
          return read_string(member, key, finding.created_at);
        }
        if (key == "ProcessedAt") {
          processed_at.emplace();
          return read_string(member, key, *processed_at);
        }
        if (key == "FirstObservedAt") {
          return read_string(member, key, finding.first_observed_at);
        }
        if (key == "LastObservedAt") {
          return read_string(member, key, finding.last_observed_at);
        }
        if (key == "ProductName") {
          return read_string(member, key, finding.product_name);
        }
        if (key == "CompanyName") {
          return read_string(member, key, finding.company_name);
        }
        if (key == "ProductFields") {
          return read_product_fields(member, product_field_names);
        }
        if (key == "Types") {
          return read_types(member, finding);
        }
        if (key == "Resources") {
          return read_resources(member, finding);
        }
        if (key == "Remediation") {
          return read_remediation(member, finding);
        }
        if (key == "SourceUrl") {
          return read_string(member, key, finding.source_url);
        }
        if (key == "Note") {
          return read_note(member, finding);
        }
        return ok_status();
      }));

  HK_RETURN_IF_ERROR(check_identity(finding, has_product_arn, has_id));
  if (!has_updated_at) {
    return invalid_argument("UpdatedAt is missing (it orders the versions of a finding)");
  }
  const std::optional<Instant> updated = parse_instant(finding.updated_at);
  if (!updated) {
    return invalid_argument(fmt::format("UpdatedAt {} is not an RFC 3339 timestamp",
                                        quoted_excerpt(finding.updated_at)));
  }
  finding.updated_at_instant = *updated;
  if (processed_at) {
    finding.processed_at_instant = parse_instant(*processed_at);
    if (!finding.processed_at_instant) {
      return invalid_argument(fmt::format("ProcessedAt {} is not an RFC 3339 timestamp",
                                          quoted_excerpt(*processed_at)));
    }
    finding.processed_at = std::move(processed_at);
  }
  if (finding.severity_label.empty() && finding.severity_normalized) {
    finding.severity_label = severity_label_of(*finding.severity_normalized);
  }
  if (finding.product_name.empty()) {
    finding.product_name = std::move(product_field_names.product_name);
  }
  if (finding.company_name.empty()) {
    finding.company_name = std::move(product_field_names.company_name);
  }
  finding.key = FindingKey::of(finding.product_arn, finding.id);
  return finding;
}

}  // namespace

FindingKey FindingKey::of(std::string_view product_arn, std::string_view id) {
  std::string identity;
  identity.reserve(product_arn.size() + 1 + id.size());
  identity.append(product_arn).push_back('\n');
  identity.append(id);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  EVP_Digest(identity.data(), identity.size(), digest, &digest_size, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string text(kPrefix);
  for (size_t i = 0; i < 16; ++i) {
    text.push_back(kHex[digest[i] >> 4]);
    text.push_back(kHex[digest[i] & 0x0F]);
  }
  return FindingKey(std::move(text));
}

Result<FindingKey> FindingKey::parse(std::string_view text) {
  const bool hex_tail =
      text.size() == kLength && text.starts_with(kPrefix) &&
      text.substr(kPrefix.size()).find_first_not_of("0123456789abcdef") == std::string_view::npos;
  if (!hex_tail) {
    return invalid_argument(
        fmt::format("finding key {} is not \"securityhub/\" followed by 32 lower-case hex digits",
                    quoted_excerpt(text)));
  }
  return FindingKey(std::string(text));
}

std::optional<Instant> parse_instant(std::string_view text) {
  const std::optional<int64_t> seconds = parse_rfc3339(text);
  if (!seconds) {
    return std::nullopt;
  }
  Instant instant{.seconds = *seconds, .nanos = 0};
  // parse_rfc3339 checked the shape: a fraction, when present, starts right after the seconds.
  constexpr size_t kFractionStart = 20;
  if (text[19] == '.') {
    int32_t scale = 100'000'000;
    for (size_t i = kFractionStart; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
      instant.nanos += (text[i] - '0') * scale;
      scale /= 10;
    }
  }
  return instant;
}

Result<Finding> parse_finding(std::string_view finding_json) {
  const simdjson::padded_string padded(finding_json);
  od::parser parser;
  od::document document;
  od::object object;
  if (parser.iterate(padded).get(document) != simdjson::SUCCESS) {
    return not_json("the finding");
  }
  if (document.get_object().get(object) != simdjson::SUCCESS) {
    return invalid_argument("the finding is not a JSON object");
  }
  HK_ASSIGN_OR_RETURN(Finding finding, parse_finding_object(object));
  return finding;
}

Result<std::vector<Result<Finding>>> parse_event_findings(std::string_view event_json) {
  const simdjson::padded_string padded(event_json);
  od::parser parser;
  od::document document;
  od::object event;
  if (parser.iterate(padded).get(document) != simdjson::SUCCESS ||
      document.get_object().get(event) != simdjson::SUCCESS) {
    return invalid_argument("the event is not a JSON object");
  }
  od::object detail;
  od::array findings;
  if (event.find_field_unordered("detail").get_object().get(detail) != simdjson::SUCCESS) {
    return invalid_argument("the event has no detail object");
  }
  if (detail.find_field_unordered("findings").get_array().get(findings) != simdjson::SUCCESS) {
    return invalid_argument("the event has no detail.findings array");
  }
  // Each finding is parsed from its own text so a malformed one cannot derail its neighbours.
  std::vector<std::string_view> texts;
  for (auto element : findings) {
    od::value value;
    od::object object;
    std::string_view text;
    if (element.get(value) != simdjson::SUCCESS) {
      return not_json("detail.findings");
    }
    if (value.get_object().get(object) != simdjson::SUCCESS ||
        object.raw_json().get(text) != simdjson::SUCCESS) {
      text = {};
    }
    texts.push_back(text);
  }
  std::vector<Result<Finding>> parsed;
  parsed.reserve(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::string context = fmt::format("detail.findings[{}]", i);
    if (texts[i].empty()) {
      parsed.emplace_back(invalid_argument(context + ": must be an object"));
      continue;
    }
    Result<Finding> finding = parse_finding(texts[i]);
    if (finding.has_value()) {
      parsed.push_back(std::move(finding));
    } else {
      parsed.emplace_back(finding.error().with_context(context));
    }
  }
  return parsed;
}

}  // namespace hikyaku::integrations::securityhub
