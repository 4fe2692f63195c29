#include "core/status.h"

#include <gtest/gtest.h>

#include <memory>

namespace hikyaku {
namespace {

Result<int> parse_digit(char c) {
  if (c < '0' || c > '9') {
    return invalid_argument(std::string("not a digit: ") + c);
  }
  return c - '0';
}

Result<int> sum_digits(char a, char b) {
  HK_ASSIGN_OR_RETURN(int x, parse_digit(a));
  HK_ASSIGN_OR_RETURN(int y, parse_digit(b));
  return x + y;
}

Status check_digit(char c) {
  HK_RETURN_IF_ERROR(parse_digit(c).status());
  return ok_status();
}

TEST(StatusTest, DefaultIsOk) {
  Status status;
  EXPECT_TRUE(status.ok());
  EXPECT_EQ(status.to_string(), "ok");
}

TEST(StatusTest, CarriesCodeAndMessage) {
  Status status = not_found("rule \"x\" does not exist");
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(status.code(), StatusCode::kNotFound);
  EXPECT_EQ(status.to_string(), "not_found: rule \"x\" does not exist");
}

TEST(StatusTest, WithContextPrefixesMessageAndKeepsCode) {
  Status status = invalid_argument("bad").with_context("Rules[0]");
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "Rules[0]: bad");
  EXPECT_TRUE(ok_status().with_context("x").ok());
}

TEST(ResultTest, ValueAndErrorPropagation) {
  Result<int> good = sum_digits('3', '4');
  ASSERT_TRUE(good.has_value());
  EXPECT_EQ(*good, 7);

  Result<int> bad = sum_digits('3', 'x');
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().message(), "not a digit: x");
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);

  EXPECT_TRUE(check_digit('1').ok());
  EXPECT_FALSE(check_digit('z').ok());
}

TEST(ResultTest, HoldsMoveOnlyValues) {
  Result<std::unique_ptr<int>> result = std::make_unique<int>(5);
  ASSERT_TRUE(result);
  std::unique_ptr<int> owned = std::move(result).value();
  EXPECT_EQ(*owned, 5);
}

}  // namespace
}  // namespace hikyaku
