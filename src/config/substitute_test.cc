#include "config/internal/substitute.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>

#include "config/config.h"
#include "testing/temp_dir.h"

namespace hikyaku::config::internal {
namespace {

EnvironmentLookup fake_environment(std::map<std::string, std::string> variables) {
  return [variables = std::move(variables)](const std::string& name) -> std::optional<std::string> {
    auto found = variables.find(name);
    if (found == variables.end()) {
      return std::nullopt;
    }
    return found->second;
  };
}

std::string resolve(std::string_view text, std::map<std::string, std::string> variables = {}) {
  Result<Substitution> result = substitute(text, fake_environment(std::move(variables)), {});
  EXPECT_TRUE(result.has_value()) << text << ": " << result.error().message();
  return result.has_value() ? result->value : "";
}

std::string error_of(std::string_view text, std::map<std::string, std::string> variables = {}) {
  Result<Substitution> result = substitute(text, fake_environment(std::move(variables)), {});
  EXPECT_FALSE(result.has_value()) << text;
  return result.has_value() ? "" : result.error().message();
}

TEST(SubstituteTest, PlainTextAndJsonPathsAreUntouched) {
  EXPECT_EQ(resolve("$.detail.findings[0].Title"), "$.detail.findings[0].Title");
  EXPECT_EQ(resolve("cost $5"), "cost $5");
  EXPECT_EQ(resolve("no references"), "no references");
}

TEST(SubstituteTest, ReplacesVariablesAndDefaults) {
  EXPECT_EQ(resolve("https://${HOST}/x?apiKey=${KEY}", {{"HOST", "h"}, {"KEY", "k"}}),
            "https://h/x?apiKey=k");
  EXPECT_EQ(resolve("${HOST:-example.backlog.com}"), "example.backlog.com");
  EXPECT_EQ(resolve("${HOST:-example.backlog.com}", {{"HOST", ""}}), "example.backlog.com");
  EXPECT_EQ(resolve("${HOST:-x}", {{"HOST", "set"}}), "set");
  EXPECT_EQ(resolve("[${EMPTY:-}]"), "[]");
  EXPECT_EQ(resolve("literal $${NAME}"), "literal ${NAME}");
}

TEST(SubstituteTest, MissingVariableIsAnErrorNamingIt) {
  const std::string message = error_of("key=${BACKLOG_API_KEY}");
  EXPECT_NE(message.find("environment variable BACKLOG_API_KEY is not set"), std::string::npos)
      << message;
}

TEST(SubstituteTest, MalformedReferences) {
  EXPECT_NE(error_of("${UNTERMINATED").find("unterminated"), std::string::npos);
  EXPECT_NE(error_of("${not valid}").find("not a valid reference"), std::string::npos);
  EXPECT_NE(error_of("${1ABC}").find("not a valid reference"), std::string::npos);
}

TEST(SubstituteTest, ReadsFilesAndDropsOneTrailingNewline) {
  const testing::TempDir directory("substitute");
  const std::string key_file = directory.write("key.txt", "s3cr3t\n");
  Result<Substitution> relative =
      substitute("${file:key.txt}", fake_environment({}), {directory.path()});
  ASSERT_TRUE(relative.has_value()) << relative.error().message();
  EXPECT_EQ(relative->value, "s3cr3t");
  EXPECT_TRUE(relative->used_reference);

  Result<Substitution> absolute =
      substitute("k=${file:" + key_file + "}", fake_environment({}), {"", true});
  ASSERT_TRUE(absolute.has_value());
  EXPECT_EQ(absolute->value, "k=s3cr3t");
  ASSERT_EQ(absolute->references.size(), 1u);
  EXPECT_EQ(absolute->references[0].reference, "${file:" + key_file + "}");
  EXPECT_EQ(absolute->references[0].value, "s3cr3t");

  Result<Substitution> missing =
      substitute("${file:nope.txt}", fake_environment({}), {directory.path()});
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().message().find("cannot read"), std::string::npos);
}

TEST(SubstituteTest, AFileOverTheCapIsAnErrorNamingTheReferenceAndTheLimit) {
  const testing::TempDir directory("substitute");
  directory.write("exact.txt", std::string(kMaxReferenceFileBytes, 'k'));
  directory.write("big.txt", std::string(kMaxReferenceFileBytes + 1, 'k'));

  Result<Substitution> exact =
      substitute("${file:exact.txt}", fake_environment({}), {directory.path()});
  ASSERT_TRUE(exact.has_value()) << exact.error().message();
  EXPECT_EQ(exact->value.size(), kMaxReferenceFileBytes);

  Result<Substitution> big =
      substitute("${file:big.txt}", fake_environment({}), {directory.path()});
  ASSERT_FALSE(big.has_value());
  EXPECT_EQ(big.error().message(), "${file:big.txt}: cannot read " + directory.file("big.txt") +
                                       ": larger than the limit of " +
                                       std::to_string(kMaxReferenceFileBytes) + " bytes");
}

TEST(SubstituteTest, FilesOutsideTheConfigFolderNeedTheOptIn) {
  const testing::TempDir root("substitute");
  const std::string folder = root.path() + "/config";
  std::filesystem::create_directories(folder + "/secrets");
  root.write("config/secrets/key.txt", "inside\n");
  root.write("outside.txt", "outside-secret\n");
  std::filesystem::create_symlink(root.file("outside.txt"), folder + "/link.txt");
  std::filesystem::create_symlink(folder + "/secrets/key.txt", folder + "/inner-link.txt");
  std::filesystem::create_symlink(root.path(), folder + "/up");

  const FileReferencePolicy strict{folder};
  for (const char* inside : {"${file:secrets/key.txt}", "${file:./secrets/../secrets/key.txt}",
                             "${file:secrets//key.txt}", "${file:inner-link.txt}"}) {
    Result<Substitution> read = substitute(inside, fake_environment({}), strict);
    ASSERT_TRUE(read.has_value()) << inside << ": " << read.error().message();
    EXPECT_EQ(read->value, "inside");
  }
  const std::string outside_paths[] = {"../outside.txt", "secrets/../../outside.txt", "link.txt",
                                       "up/outside.txt", root.file("outside.txt"),    "/etc/passwd",
                                       "/dev/zero"};
  for (const std::string& path : outside_paths) {
    const std::string reference = "${file:" + path + "}";
    Result<Substitution> refused = substitute("k=" + reference, fake_environment({}), strict);
    ASSERT_FALSE(refused.has_value()) << path;
    const std::string& message = refused.error().message();
    EXPECT_TRUE(message.starts_with(reference + ": ")) << message;
    EXPECT_NE(message.find("--allow-file-references-outside-config-dir"), std::string::npos)
        << message;
    EXPECT_EQ(message.find("outside-secret"), std::string::npos) << message;
    EXPECT_EQ(message.find("root:"), std::string::npos) << message;
  }
  const FileReferencePolicy open{folder, true};
  Result<Substitution> allowed = substitute("${file:../outside.txt}", fake_environment({}), open);
  ASSERT_TRUE(allowed.has_value()) << allowed.error().message();
  EXPECT_EQ(allowed->value, "outside-secret");
  Result<Substitution> endless = substitute("${file:/dev/zero}", fake_environment({}), open);
  ASSERT_FALSE(endless.has_value());
  EXPECT_NE(endless.error().message().find("larger than the limit of 65536 bytes"),
            std::string::npos)
      << endless.error().message();
}

}  // namespace
}  // namespace hikyaku::config::internal
