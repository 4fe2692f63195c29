#include "transform/internal/form_encoding.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace hikyaku::transform::internal {
namespace {

Result<std::string> encode(std::string_view json) {
  simdjson::ondemand::parser parser;
  simdjson::padded_string padded(json);
  std::string out;
  HK_RETURN_IF_ERROR(form_encode_json(parser, padded, out));
  return out;
}

TEST(FormEncodingTest, PercentEncodesLikeTheWhatwgSerializer) {
  std::string out;
  append_form_encoded(out, "a b&c=d/é*-._~+[]", false);
  EXPECT_EQ(out, "a+b%26c%3Dd%2F%C3%A9*-._%7E%2B%5B%5D");
  out.clear();
  append_form_encoded(out, "categoryId[]", true);
  EXPECT_EQ(out, "categoryId[]");
}

TEST(FormEncodingTest, TopLevelKeysBecomeFieldsAndArraysRepeat) {
  EXPECT_EQ(*encode(R"({"projectId": 123, "summary": "a \"b\"\n", "categoryId[]": [1, 2],
                        "notifiedUserId": [7], "empty": [], "n": null, "t": true, "f": false})"),
            "projectId=123&summary=a+%22b%22%0A&categoryId[]=1&categoryId[]=2"
            "&notifiedUserId[]=7&n=&t=true&f=false");
}

TEST(FormEncodingTest, NestedStructuresAreErrors) {
  Result<std::string> nested = encode(R"({"a": {"b": 1}})");
  ASSERT_FALSE(nested.has_value());
  EXPECT_THAT(nested.error().message(), ::testing::HasSubstr("nested object under key \"a\""));
  Result<std::string> inner = encode(R"({"a": [[1]]})");
  ASSERT_FALSE(inner.has_value());
  EXPECT_THAT(inner.error().message(), ::testing::HasSubstr("inside the array under key \"a\""));
  Result<std::string> not_object = encode(R"([1])");
  ASSERT_FALSE(not_object.has_value());
  EXPECT_THAT(not_object.error().message(), ::testing::HasSubstr("needs a JSON object"));
}

}  // namespace
}  // namespace hikyaku::transform::internal
