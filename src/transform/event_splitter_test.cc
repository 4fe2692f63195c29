#include "transform/event_splitter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>
#include <vector>

namespace hikyaku::transform {
namespace {

using ::testing::HasSubstr;

std::vector<std::string> split(std::string_view path, std::string_view event) {
  Result<EventSplitter> splitter = EventSplitter::compile(path);
  EXPECT_TRUE(splitter.has_value()) << splitter.error().message();
  std::vector<std::string> pieces;
  const Status status = splitter->split(event, pieces);
  EXPECT_TRUE(status.ok()) << status.message();
  return pieces;
}

TEST(EventSplitterTest, EachElementBecomesTheArraysOnlyElementAndTheRestStaysByteForByte) {
  const std::string event =
      R"({"id":"e-1", "detail": {"findings": [ {"Id":"a","T":"x [1]"} , 2, "三つ目", [3,4] ], )"
      R"("n": 1}, "tail": true})";
  const std::vector<std::string> pieces = split("$.detail.findings", event);
  ASSERT_EQ(pieces.size(), 4u);
  EXPECT_EQ(
      pieces[0],
      R"({"id":"e-1", "detail": {"findings": [{"Id":"a","T":"x [1]"}], "n": 1}, "tail": true})");
  EXPECT_EQ(pieces[1], R"({"id":"e-1", "detail": {"findings": [2], "n": 1}, "tail": true})");
  EXPECT_EQ(pieces[2], R"({"id":"e-1", "detail": {"findings": ["三つ目"], "n": 1}, "tail": true})");
  EXPECT_EQ(pieces[3], R"({"id":"e-1", "detail": {"findings": [[3,4]], "n": 1}, "tail": true})");
  simdjson::dom::parser parser;
  for (const std::string& piece : pieces) {
    simdjson::dom::element parsed;
    ASSERT_EQ(parser.parse(piece).get(parsed), simdjson::SUCCESS) << piece;
    EXPECT_EQ(simdjson::dom::array(parsed["detail"]["findings"]).size(), 1u);
  }
}

TEST(EventSplitterTest, PrettyPrintedEventsSplitToo) {
  const std::string event =
      "{\n  \"detail\": {\n    \"findings\": [\n      {\"Id\": \"a\"},\n"
      "      {\"Id\": \"b\"}\n    ]\n  }\n}\n";
  const std::vector<std::string> pieces = split("$.detail.findings", event);
  ASSERT_EQ(pieces.size(), 2u);
  EXPECT_EQ(pieces[1], "{\n  \"detail\": {\n    \"findings\": [{\"Id\": \"b\"}]\n  }\n}\n");
}

TEST(EventSplitterTest, AnEventWithoutTheArrayIsOnePieceAsItIsAndAnEmptyArrayNone) {
  for (const char* event : {R"({"detail":{}})", R"({"detail":{"findings":{"Id":"a"}}})",
                            R"({"detail":{"findings":"none"}})", R"({"detail":7})"}) {
    EXPECT_EQ(split("$.detail.findings", event), std::vector<std::string>{event});
  }
  EXPECT_TRUE(split("$.detail.findings", R"({"detail":{"findings":[]}})").empty());
}

TEST(EventSplitterTest, OnlyMemberPathsAreAccepted) {
  for (const char* path : {"$", "$.detail.findings[0]", "$.detail.*", "$.a[*]"}) {
    Result<EventSplitter> splitter = EventSplitter::compile(path);
    EXPECT_FALSE(splitter.has_value()) << path;
  }
  EXPECT_THAT(EventSplitter::compile("$.detail.findings[0]").error().message(),
              HasSubstr("only member names"));
  EXPECT_FALSE(EventSplitter::compile("detail.findings").has_value());
  EXPECT_EQ(EventSplitter::compile("$.detail.findings")->path(), "$.detail.findings");
}

TEST(EventSplitterTest, AnEventThatIsNotAnObjectIsAnError) {
  Result<EventSplitter> splitter = EventSplitter::compile("$.a");
  std::vector<std::string> pieces;
  EXPECT_EQ(splitter->split("[1,2]", pieces).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(splitter->split("{not json", pieces).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace hikyaku::transform
