#include "transform/internal/input_template.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace hikyaku::transform::internal {
namespace {

using ::testing::HasSubstr;

const std::vector<std::string_view> defined_names = {"aws.events.rule-name", "Summary", "Id",
                                                     "list"};

std::string describe(std::string_view text, const ParsedTemplate& parsed) {
  std::string out;
  for (const TemplateSegment& s : parsed.segments) {
    if (s.name_index < 0) {
      out += "[" + std::string(text.substr(s.offset, s.length)) + "]";
    } else {
      const char* where = s.position == Position::kJsonValue      ? "value"
                          : s.position == Position::kJsonInString ? "instring"
                                                                  : "text";
      out +=
          "<" + std::string(defined_names[static_cast<size_t>(s.name_index)]) + ":" + where + ">";
    }
  }
  return out;
}

std::string parse_ok(std::string_view text) {
  Result<ParsedTemplate> parsed = parse_input_template(text, defined_names, false);
  EXPECT_TRUE(parsed.has_value()) << text << ": " << parsed.status().to_string();
  return parsed ? describe(text, *parsed) : "";
}

TEST(InputTemplateTest, SplitsIntoSegmentsAndKnowsEachPlaceholdersPosition) {
  EXPECT_EQ(
      parse_ok(R"({"s": <Summary>, "d": "x <Id> y", "r": [<aws.events.rule-name>]})"),
      R"([{"s": ]<Summary:value>[, "d": "x ]<Id:instring>[ y", "r": []<aws.events.rule-name:value>[]}])");
  EXPECT_EQ(parse_ok(R"("<Summary> and <Id>")"), R"(["]<Summary:text>[ and ]<Id:text>["])");
  EXPECT_EQ(parse_ok("plain text"), "[plain text]");
}

TEST(InputTemplateTest, JsonModeIsChosenByTheFirstNonSpaceCharacter) {
  EXPECT_TRUE(parse_input_template("  \n{\"a\": 1}", defined_names, false)->json_mode);
  EXPECT_FALSE(parse_input_template("[1, 2]", defined_names, false)->json_mode);
  EXPECT_FALSE(parse_input_template("\"{\"", defined_names, false)->json_mode);
}

TEST(InputTemplateTest, EscapedQuotesDoNotEndAString) {
  EXPECT_EQ(parse_ok(R"({"a": "say \"<Id>\" now", "b": <Id>})"),
            R"([{"a": "say \"]<Id:instring>[\" now", "b": ]<Id:value>[}])");
  EXPECT_EQ(parse_ok(R"({"a": "back\\", "b": <Id>})"), R"([{"a": "back\\", "b": ]<Id:value>[}])");
}

TEST(InputTemplateTest, TextThatIsNotAVariableNameStaysLiteral) {
  EXPECT_EQ(parse_ok(R"("a <br /> b < c > d <user@example.com> <...> <<Id>>")"),
            R"(["a <br /> b < c > d <user@example.com> <...> <]<Id:text>[>"])");
}

TEST(InputTemplateTest, UndefinedNamesAreErrorsWithAHint) {
  auto error = [](std::string_view text) {
    Result<ParsedTemplate> parsed = parse_input_template(text, defined_names, false);
    EXPECT_FALSE(parsed.has_value()) << text;
    return parsed ? std::string() : parsed.error().message();
  };
  EXPECT_THAT(error(R"("<Sumary>")"), HasSubstr("invalid placeholder <Sumary>"));
  EXPECT_THAT(error(R"("<Sumary>")"), HasSubstr("did you mean <Summary>?"));
  EXPECT_THAT(error(R"("<summary>")"), HasSubstr("did you mean <Summary>?"));
  EXPECT_THAT(error(R"("<aws.events.rulename>")"),
              HasSubstr("did you mean <aws.events.rule-name>?"));
  EXPECT_THAT(error("\"line<br>break\""), HasSubstr("write markup such as <br />"));
  EXPECT_THAT(error("\"<finding.id>\""), HasSubstr("invalid placeholder <finding.id>"));
}

TEST(InputTemplateTest, JsonTemplatesMustBeValidJsonWithPlaceholdersAsValues) {
  auto error = [](std::string_view text) {
    Result<ParsedTemplate> parsed = parse_input_template(text, defined_names, false);
    EXPECT_FALSE(parsed.has_value()) << text;
    return parsed ? std::string() : parsed.error().message();
  };
  EXPECT_THAT(error(R"({<Id>: 1})"), HasSubstr("placeholder <Id> is used as an object key"));
  EXPECT_THAT(error(R"({"a": <Id> <Id>})"), HasSubstr("not valid JSON"));
  EXPECT_THAT(error(R"({"a": 1<Id>})"), HasSubstr("not valid JSON"));
  EXPECT_THAT(error("{\"a\": \"line\nbreak\"}"), HasSubstr("not valid JSON"));
  EXPECT_THAT(error(R"({"a": 1} trailing)"), HasSubstr("not valid JSON"));
  EXPECT_THAT(error(R"({"a": <Id>)"), HasSubstr("not valid JSON"));
}

TEST(InputTemplateTest, FormNeedsAFlatJsonTemplate) {
  EXPECT_TRUE(
      parse_input_template(R"({"a": <Id>, "b[]": [1, <Id>]})", defined_names, true).has_value());
  Result<ParsedTemplate> nested = parse_input_template(R"({"a": {"b": 1}})", defined_names, true);
  ASSERT_FALSE(nested.has_value());
  EXPECT_THAT(nested.error().message(), HasSubstr("nested object under key \"a\""));
  Result<ParsedTemplate> text = parse_input_template(R"("a=<Id>")", defined_names, true);
  ASSERT_FALSE(text.has_value());
  EXPECT_THAT(text.error().message(), HasSubstr("needs a JSON template"));
}

TEST(InputTemplateTest, Utf16Length) {
  EXPECT_EQ(utf16_length("abc"), 3u);
  EXPECT_EQ(utf16_length("日本"), 2u);
  EXPECT_EQ(utf16_length("🚨"), 2u);
  EXPECT_EQ(utf16_length(""), 0u);
}

TEST(InputTemplateTest, ClosestName) {
  EXPECT_EQ(closest_name("Sumary", {"Summary", "Id"}), "Summary");
  EXPECT_EQ(closest_name("br", {"Summary", "Id"}), "");
  EXPECT_EQ(closest_name("ID", {"Summary", "Id"}), "Id");
}

}  // namespace
}  // namespace hikyaku::transform::internal
