#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "transform/transformer.h"

namespace hikyaku::transform {
namespace {

using ::testing::HasSubstr;

constexpr std::string_view kEvent = R"({
  "id": "e-1", "detail-type": "x", "source": "s",
  "detail": {"key": "PRJ-1", "title": "a \"quoted\" \u00e9 title", "count": 1.50e1,
             "ok": true, "none": null, "obj": {"a": [1, "b"]}, "list": ["x", "y"],
             "items": [{"id": "i1"}, {"id": "i2"}]}
})";

std::string render(const std::vector<std::pair<std::string, std::string>>& named) {
  Result<PathValues> values = PathValues::compile(named);
  EXPECT_TRUE(values.has_value()) << values.error().message();
  std::string out = "stale";
  Status status = values->render_to(kEvent, out);
  EXPECT_TRUE(status.ok()) << status.message();
  return out;
}

TEST(PathValuesTest, ValuesAsTextInConfigurationOrderMissingOmitted) {
  EXPECT_EQ(render({{"path:0", "$.detail.key"},
                    {"header:X-Title", "$.detail.title"},
                    {"header:X-Missing", "$.detail.nothing"},
                    {"query:count", "$.detail.count"},
                    {"query:ok", "$.detail.ok"},
                    {"query:none", "$.detail.none"},
                    {"query:obj", "$.detail.obj"},
                    {"query:list", "$.detail.list"},
                    {"query:ids", "$.detail.items[*].id"},
                    {"query:first", "$.detail.items[0].id"}}),
            R"({"path:0":"PRJ-1","header:X-Title":"a \"quoted\" é title","query:count":"1.50e1",)"
            R"("query:ok":"true","query:none":"null","query:obj":"{\"a\":[1,\"b\"]}",)"
            R"("query:list":"[\"x\",\"y\"]","query:ids":"[\"i1\",\"i2\"]","query:first":"i1"})");
}

TEST(PathValuesTest, NothingToResolveWritesNothing) {
  Result<PathValues> values = PathValues::compile({});
  ASSERT_TRUE(values.has_value());
  EXPECT_TRUE(values->empty());
  std::string out = "stale";
  EXPECT_TRUE(values->render_to("not even json", out).ok());
  EXPECT_EQ(out, "");
  EXPECT_EQ(render({{"a", "$.detail.nothing"}}), "{}");
}

TEST(PathValuesTest, InvalidPathNamesTheEntry) {
  Result<PathValues> values = PathValues::compile({{"header:X-A", "$.detail[x"}});
  ASSERT_FALSE(values.has_value());
  EXPECT_EQ(values.error().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(values.error().message(), HasSubstr("header:X-A"));
}

TEST(PathValuesTest, EventThatCannotBeReadIsAnError) {
  Result<PathValues> values = PathValues::compile({{"a", "$.detail.key"}});
  ASSERT_TRUE(values.has_value());
  std::string out;
  EXPECT_EQ(values->render_to(R"({"detail": {"key": })", out).code(), StatusCode::kInvalidArgument);
}

TEST(PathValuesTest, WhichValuesArePaths) {
  EXPECT_TRUE(is_event_path("$.detail.x"));
  EXPECT_FALSE(is_event_path("literal"));
  EXPECT_FALSE(is_event_path("$5"));
  EXPECT_FALSE(is_event_path(" $.detail"));
}

}  // namespace
}  // namespace hikyaku::transform
