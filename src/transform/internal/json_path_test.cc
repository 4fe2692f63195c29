#include "transform/internal/json_path.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace hikyaku::transform::internal {
namespace {

using ::testing::HasSubstr;

TEST(JsonPathTest, ParsesTheSupportedSubset) {
  Result<JsonPath> p = parse_json_path("$.detail.findings[0].ProductFields.aws/securityhub/Id");
  ASSERT_TRUE(p.has_value()) << p.error().to_string();
  ASSERT_EQ(p->steps.size(), 5u);
  EXPECT_EQ(p->steps[0].name, "detail");
  EXPECT_EQ(p->steps[1].name, "findings");
  EXPECT_EQ(p->steps[2].kind, PathStep::Kind::kIndex);
  EXPECT_EQ(p->steps[2].index, 0u);
  EXPECT_EQ(p->steps[4].name, "aws/securityhub/Id");
  EXPECT_FALSE(p->has_wildcard);

  Result<JsonPath> root = parse_json_path("$");
  ASSERT_TRUE(root.has_value());
  EXPECT_TRUE(root->steps.empty());

  Result<JsonPath> dashed = parse_json_path("$.detail-type");
  ASSERT_TRUE(dashed.has_value());
  EXPECT_EQ(dashed->steps[0].name, "detail-type");

  Result<JsonPath> wild = parse_json_path("$.detail.findings[*].Resources.*");
  ASSERT_TRUE(wild.has_value());
  EXPECT_TRUE(wild->has_wildcard);
  EXPECT_EQ(wild->steps[2].kind, PathStep::Kind::kWildcard);
  EXPECT_EQ(wild->steps[4].kind, PathStep::Kind::kWildcard);

  Result<JsonPath> nested = parse_json_path("$.a[1][2]");
  ASSERT_TRUE(nested.has_value());
  EXPECT_EQ(nested->steps[2].index, 2u);
}

TEST(JsonPathTest, RejectsWhatAwsDoesNotSupportWithAPreciseMessage) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "path is empty"},
      {"detail.x", "must start with $"},
      {"$..x", "recursive descent (..) is not supported at offset 1"},
      {"$.a['b c']", "bracket notation for names is not supported"},
      {"$.a[?(@.x)]", "filter expressions are not supported"},
      {"$.a[1:2]", "slices and unions are not supported"},
      {"$.a[-1]", "negative array indexes are not supported"},
      {"$.a.", "a member name is missing after the final '.'"},
      {"$.ProductFields.Resources:0/Id", "':' is not allowed in a member name"},
      {"$.a b", "a space is not allowed in a member name"},
      {"$.a[", "expected an array index"},
      {"$.a[x]", "expected an array index"},
      {"$.a[99999999999]", "array index is too large"},
      {"$x", "unexpected 'x'"},
      {"$.a[*", "expected [*]"},
  };
  for (const auto& [path, message] : cases) {
    Result<JsonPath> p = parse_json_path(path);
    ASSERT_FALSE(p.has_value()) << path;
    EXPECT_EQ(p.error().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(p.error().message(), HasSubstr(message)) << path;
  }
}

}  // namespace
}  // namespace hikyaku::transform::internal
