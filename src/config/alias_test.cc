// YAML aliases cannot make a config bigger than the largest file the loader reads: aliases of
// aliases, in every section and shape, are refused at the key where they pass the bound, before
// any reader walks the tree.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "config/config.h"

namespace hikyaku::config {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

LoadOptions no_environment() {
  LoadOptions options;
  options.environment = [](const std::string&) -> std::optional<std::string> {
    return std::nullopt;
  };
  return options;
}

// `levels` anchors l0..l<levels-1>, each a list (or mapping) of `fan_out` references to the
// previous one, indented by `indent` spaces: fan_out^levels leaves when expanded.
std::string laughs(int levels, int fan_out, bool maps, const std::string& indent) {
  std::string text = indent + "l0: &l0 " + (maps ? "{ k: lol }" : "[lol]") + "\n";
  for (int level = 1; level < levels; ++level) {
    text += indent + "l" + std::to_string(level) + ": &l" + std::to_string(level) + " " +
            (maps ? "{" : "[");
    for (int i = 0; i < fan_out; ++i) {
      text += (i == 0 ? " " : ", ");
      if (maps) {
        text += "k" + std::to_string(i) + ": ";
      }
      text += "*l" + std::to_string(level - 1);
    }
    text += maps ? " }\n" : " ]\n";
  }
  return text;
}

LoadResult load(const std::string& text) {
  return load_config_text(text, "a.yaml", no_environment());
}

// Exactly one error, about aliases, at a key under `key_prefix`.
void expect_alias_error(const std::string& text, const std::string& key_prefix) {
  LoadResult result = load(text);
  ASSERT_EQ(result.errors.size(), 1u) << result.errors.front().to_string();
  EXPECT_THAT(result.errors[0].key_path, StartsWith(key_prefix));
  EXPECT_THAT(result.errors[0].message, HasSubstr("through YAML aliases"));
  EXPECT_GT(result.errors[0].location.line, 0);
}

constexpr std::string_view kTargets = "    Targets: [{ Id: t, Log: { Path: out.jsonl } }]\n";

TEST(AliasTest, NestedSequencesInAnEventPattern) {
  const std::string text = "Rules:\n  - Name: r\n    EventPattern:\n" +
                           laughs(9, 10, false, "      ") + std::string(kTargets);
  expect_alias_error(text, "Rules[0].EventPattern.l");
}

TEST(AliasTest, NestedMappingsInAnEventPattern) {
  const std::string text = "Rules:\n  - Name: r\n    EventPattern:\n" +
                           laughs(8, 12, true, "      ") + std::string(kTargets);
  expect_alias_error(text, "Rules[0].EventPattern.l");
}

TEST(AliasTest, FewWideLevelsOfLongScalars) {
  // Two levels only: one 64 KB scalar referenced 100 times.
  const std::string big(64 * 1024, 'x');
  std::string text =
      "Rules:\n  - Name: r\n    EventPattern:\n      s: &s " + big + "\n      source: [";
  for (int i = 0; i < 100; ++i) {
    text += (i == 0 ? "*s" : ", *s");
  }
  text += "]\n" + std::string(kTargets);
  expect_alias_error(text, "Rules[0].EventPattern.source[");
}

TEST(AliasTest, MergeKeys) {
  std::string text = "Rules:\n  - Name: r\n    EventPattern:\n" + laughs(7, 10, true, "      ");
  text += "      m: { <<: *l6, x: 1 }\n      n: { <<: [*l6, *l6] }\n" + std::string(kTargets);
  expect_alias_error(text, "Rules[0].EventPattern.");
}

TEST(AliasTest, InputTransformerAndHeaders) {
  std::string text = "Rules:\n  - Name: r\n    EventPattern: { source: [x] }\n    Targets:\n";
  text += "      - Id: t\n        Log: { Path: out.jsonl }\n        InputTransformer:\n";
  text += "          InputPathsMap:\n" + laughs(9, 10, true, "            ");
  text += "          InputTemplate: x\n";
  expect_alias_error(text, "Rules[0].Targets[0].InputTransformer.InputPathsMap.l");

  std::string headers = "Connections:\n  - Name: c\n    AuthorizationType: API_KEY\n";
  headers += "    AuthParameters:\n      ApiKeyAuthParameters: { ApiKeyName: k, ApiKeyValue: v }\n";
  headers += "      InvocationHttpParameters:\n        HeaderParameters:\n";
  headers += "          - Key: h\n            Value:\n" + laughs(9, 10, false, "              ");
  expect_alias_error(headers, "Connections[0].AuthParameters.InvocationHttpParameters");
}

TEST(AliasTest, AnywhereAtAll) {
  // Anchors under a key the loader does not even know, aliases in the Rules list itself.
  std::string text = "X-Anchors:\n" + laughs(6, 10, false, "  ");
  text += "Rules: [*l5, *l5, *l5, *l5, *l5, *l5, *l5, *l5, *l5, *l5, *l5, *l5]\n";
  expect_alias_error(text, "Rules[");
  expect_alias_error("Store:\n" + laughs(9, 10, false, "  ") + "Rules: []\n", "Store.l");
}

TEST(AliasTest, TooManyAliasesEvenWhenSmall) {
  std::string text = "Rules:\n  - Name: r\n    EventPattern:\n      a: &a x\n      b: [";
  for (int i = 0; i < 10'001; ++i) {
    text += (i == 0 ? "*a" : ",*a");
  }
  text += "]\n" + std::string(kTargets);
  LoadResult result = load(text);
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].key_path, "Rules[0].EventPattern.b[10000]");
  EXPECT_THAT(result.errors[0].message, HasSubstr("more than 10000 YAML aliases"));
}

TEST(AliasTest, CyclesAreRefused) {
  for (const char* pattern : {"&a [x, *a]", "&a { x: *a }", "&a { x: [1, { y: *a }] }"}) {
    SCOPED_TRACE(pattern);
    LoadResult result = load("Rules:\n  - Name: r\n    EventPattern: " + std::string(pattern) +
                             "\n" + std::string(kTargets));
    ASSERT_FALSE(result.ok());
    EXPECT_THAT(result.errors[0].message, HasSubstr("cycle"));
    EXPECT_THAT(result.errors[0].key_path, StartsWith("Rules[0].EventPattern"));
  }
}

TEST(AliasTest, SmallAliasUseStillWorks) {
  const std::string text = R"(Rules:
  - Name: first
    EventPattern: &pattern
      source: [aws.securityhub]
      detail-type: &types [Security Hub Findings - Imported]
    Targets:
      - &log { Id: t, Log: { Path: out.jsonl }, RetryPolicy: { MaximumRetryAttempts: 3 } }
  - Name: second
    EventPattern: { source: [other], detail-type: *types }
    Targets: [*log]
  - Name: third
    EventPattern: *pattern
    Targets: [*log]
)";
  LoadResult result = load(text);
  ASSERT_TRUE(result.ok()) << result.errors[0].to_string();
  ASSERT_EQ(result.config->rules.size(), 3u);
  EXPECT_EQ(result.config->rules[2].event_pattern, result.config->rules[0].event_pattern);
  EXPECT_EQ(result.config->rules[1].event_pattern,
            R"({"source":["other"],"detail-type":["Security Hub Findings - Imported"]})");
  EXPECT_EQ(result.config->rules[1].targets[0].retry_policy.maximum_retry_attempts, 3);
}

TEST(AliasTest, MergeKeysAreNotSilentlyPatternFields) {
  // yaml-cpp does not merge: a "<<" key would be a field named "<<" of the event.
  LoadResult result = load(
      "Rules:\n  - Name: r\n    EventPattern:\n      base: &b { source: [x] }\n"
      "      detail: { <<: *b }\n" +
      std::string(kTargets));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.errors[0].key_path, "Rules[0].EventPattern.detail.<<");
  EXPECT_THAT(result.errors[0].message, HasSubstr("merge keys"));
}

TEST(AliasTest, DeepNestingIsAnErrorNotACrash) {
  const std::string deep = std::string(100'000, '[') + std::string(100'000, ']');
  LoadResult result =
      load("Rules:\n  - Name: r\n    EventPattern: " + deep + "\n" + std::string(kTargets));
  ASSERT_FALSE(result.ok());
}

}  // namespace
}  // namespace hikyaku::config
