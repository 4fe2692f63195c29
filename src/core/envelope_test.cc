#include "core/envelope.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace hikyaku {
namespace {

constexpr std::string_view kValid = R"({
  "version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
  "detail-type": "Security Hub Findings - Imported", "source": "aws.securityhub",
  "account": "123456789012", "time": "2026-03-01T09:15:02Z", "region": "ap-northeast-1",
  "resources": ["arn:aws:securityhub:ap-northeast-1::product/aws/securityhub/f1"],
  "detail": { "findings": [ { "Severity": { "Label": "CRITICAL", "Normalized": 90.50 } } ] }
})";

std::string replace(std::string_view text, std::string_view from, std::string_view to) {
  std::string out(text);
  const size_t position = out.find(from);
  EXPECT_NE(position, std::string::npos) << from;
  out.replace(position, from.size(), to);
  return out;
}

std::string error_of(std::string_view json) {
  Result<Envelope> result = parse_envelope(json);
  EXPECT_FALSE(result.has_value()) << json;
  return result.has_value() ? "" : result.error().message();
}

TEST(EnvelopeTest, ParsesEveryField) {
  Result<Envelope> result = parse_envelope(kValid);
  ASSERT_TRUE(result.has_value()) << result.error().message();
  const Envelope& envelope = *result;
  EXPECT_EQ(envelope.version, "0");
  EXPECT_EQ(envelope.detail_type, "Security Hub Findings - Imported");
  EXPECT_EQ(envelope.source, "aws.securityhub");
  EXPECT_EQ(envelope.account, "123456789012");
  EXPECT_EQ(envelope.region, "ap-northeast-1");
  ASSERT_EQ(envelope.resources.size(), 1u);
  // Compact, with the number token exactly as sent.
  EXPECT_EQ(envelope.detail_json,
            R"({"findings":[{"Severity":{"Label":"CRITICAL","Normalized":90.50}}]})");
  EXPECT_FALSE(envelope.replay_name.has_value());
}

TEST(EnvelopeTest, SerializesInAwsFieldOrderAndRoundTrips) {
  Result<Envelope> result = parse_envelope(kValid);
  ASSERT_TRUE(result.has_value());
  const std::string text = serialize_envelope(*result);
  EXPECT_EQ(
      text.rfind(R"({"version":"0","id":"6a7e8feb-b491-4cf7-a9f1-bf3703467718","detail-type":)", 0),
      0u);
  Result<Envelope> again = parse_envelope(text);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->detail_json, result->detail_json);
  EXPECT_EQ(serialize_envelope(*again), text);
}

TEST(EnvelopeTest, RejectsMalformedJson) {
  EXPECT_NE(error_of(R"({"version": "0",)").find("not valid JSON"), std::string::npos);
  EXPECT_NE(error_of("").find("not valid JSON"), std::string::npos);
}

TEST(EnvelopeTest, RejectsNonObjectRoot) {
  EXPECT_EQ(error_of("[1,2]"), "event must be a JSON object, got array");
}

TEST(EnvelopeTest, NamesMissingFields) {
  for (std::string_view field :
       {"version", "id", "detail-type", "source", "account", "time", "region"}) {
    std::string json = replace(kValid, fmt::format("\"{}\":", field), "\"unrelated\":");
    EXPECT_EQ(error_of(json), fmt::format("missing required field \"{}\"", field));
  }
  EXPECT_EQ(error_of(replace(kValid, "\"resources\":", "\"x\":")),
            "missing required field \"resources\"");
  EXPECT_EQ(error_of(replace(kValid, "\"detail\":", "\"x\":")),
            "missing required field \"detail\"");
}

TEST(EnvelopeTest, NamesMistypedFields) {
  EXPECT_EQ(error_of(replace(kValid, R"("source": "aws.securityhub")", R"("source": 5)")),
            "\"source\" must be a JSON string, got number");
  EXPECT_EQ(error_of(replace(kValid, R"("resources": [)", R"("resources": [7,)")),
            "\"resources[0]\" must be a JSON string, got number");
  EXPECT_EQ(error_of(replace(replace(kValid, R"("resources": [)", R"("resources": "x", "y": [)"),
                             "", "")),
            "\"resources\" must be a JSON array of strings, got string");
}

TEST(EnvelopeTest, RejectsNonObjectDetail) {
  std::string with_string =
      std::string(kValid.substr(0, kValid.find("\"detail\":"))) + "\"detail\": \"{\\\"a\\\":1}\"}";
  EXPECT_EQ(error_of(with_string), "\"detail\" must be a JSON object, got string");
  std::string with_array =
      std::string(kValid.substr(0, kValid.find("\"detail\":"))) + "\"detail\": []}";
  EXPECT_EQ(error_of(with_array), "\"detail\" must be a JSON object, got array");
  std::string with_null =
      std::string(kValid.substr(0, kValid.find("\"detail\":"))) + "\"detail\": null}";
  EXPECT_EQ(error_of(with_null), "\"detail\" must be a JSON object, got null");
}

TEST(EnvelopeTest, RejectsBadTimeAndEmptyFields) {
  EXPECT_NE(error_of(replace(kValid, "2026-03-01T09:15:02Z", "yesterday")).find("RFC 3339"),
            std::string::npos);
  EXPECT_EQ(error_of(replace(kValid, R"("source": "aws.securityhub")", R"("source": "")")),
            "\"source\" must not be empty");
  EXPECT_NE(error_of(replace(kValid, "Security Hub Findings - Imported", std::string(129, 'x')))
                .find("limit is 128"),
            std::string::npos);
}

TEST(EnvelopeTest, Rfc3339Validation) {
  EXPECT_TRUE(is_rfc3339_timestamp("2026-03-01T09:15:02Z"));
  EXPECT_TRUE(is_rfc3339_timestamp("2026-03-01T09:15:02.118Z"));
  EXPECT_TRUE(is_rfc3339_timestamp("2026-03-01T09:15:02+09:00"));
  EXPECT_FALSE(is_rfc3339_timestamp("2026-13-01T09:15:02Z"));
  EXPECT_FALSE(is_rfc3339_timestamp("2026-03-01 09:15:02Z"));
  EXPECT_FALSE(is_rfc3339_timestamp("2026-03-01T09:15:02"));
  EXPECT_FALSE(is_rfc3339_timestamp("2026-03-01T09:15:02.Z"));
}

TEST(EnvelopeTest, ParsesEverySampleSecurityHubEvent) {
  for (const char* name :
       {"01-fsbp-ec2-19-critical-failed.json", "13-custom-unicode-japanese-quotes-newlines.json",
        "14-inspector-large-near-240kb-finding.json"}) {
    std::ifstream file(std::string(HIKYAKU_TEST_DATA_DIR) + "/data/securityhub/" + name);
    ASSERT_TRUE(file) << name;
    std::stringstream text;
    text << file.rdbuf();
    Result<Envelope> result = parse_envelope(text.str());
    ASSERT_TRUE(result.has_value()) << name << ": " << result.error().message();
    EXPECT_EQ(result->source.rfind("aws.securityhub", 0), 0u);
  }
}

}  // namespace
TEST(JsonNestsDeeperThanTest, CountsOnlyBracketsOutsideStrings) {
  EXPECT_FALSE(json_nests_deeper_than("{}", 1));
  EXPECT_TRUE(json_nests_deeper_than("{}", 0));
  EXPECT_FALSE(json_nests_deeper_than(R"({"a":"[[[[[[","b":"\"{{{{"})", 1));
  EXPECT_TRUE(json_nests_deeper_than(R"({"a":"\\",  "b":[{}]})", 2));  // an escaped backslash ends
  EXPECT_FALSE(json_nests_deeper_than(R"([[],[],[[]]])", 3));
  EXPECT_TRUE(json_nests_deeper_than(R"([[],[],[[[]]]])", 3));
  EXPECT_FALSE(json_nests_deeper_than("", 0));
  EXPECT_FALSE(json_nests_deeper_than("]]]]{", 1));  // garbage does not underflow
}

TEST(EnvelopeTest, RefusesAnEventNestedDeeperThanTheLimit) {
  // kValid with a detail of `levels` nested objects: the event nests levels + 1 deep.
  const auto with_detail_levels = [](size_t levels) {
    std::string detail;
    for (size_t i = 0; i < levels; ++i) {
      detail += i + 1 < levels ? R"({"a":)" : "{}";
    }
    detail.append(levels - 1, '}');
    return replace(
        kValid,
        R"({ "findings": [ { "Severity": { "Label": "CRITICAL", "Normalized": 90.50 } } ] })",
        detail);
  };
  const std::string at_limit = with_detail_levels(kMaxEventNestingDepth - 1);
  ASSERT_FALSE(json_nests_deeper_than(at_limit, kMaxEventNestingDepth));
  EXPECT_TRUE(parse_envelope(at_limit).has_value());

  const std::string too_deep = with_detail_levels(kMaxEventNestingDepth);
  ASSERT_TRUE(json_nests_deeper_than(too_deep, kMaxEventNestingDepth));
  Result<Envelope> refused = parse_envelope(too_deep);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.error().message().find("deeper than 1000 levels"), std::string::npos)
      << refused.error().message();
}

}  // namespace hikyaku
