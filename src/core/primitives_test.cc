// Tests of the small shared primitives: JSON number grammar, ARNs, capped file reads, Random.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <set>
#include <string>

#include "core/arn.h"
#include "core/file.h"
#include "core/json_number.h"
#include "core/random.h"

namespace hikyaku {
namespace {

TEST(JsonNumberTest, AcceptsExactlyRfc8259Numbers) {
  for (const char* text : {"0", "-0", "1", "-1", "10", "1.5", "0.0e-0", "1E5", "1e+5", "-1.25e-300",
                           "12345678901234567890123", "1e309"}) {
    EXPECT_TRUE(is_json_number(text)) << text;
  }
  for (const char* text : {"", "-", "+1", ".5", "1.", "1e", "1e+", "01", "-01", "0x1", "1.5.2",
                           " 1", "1 ", "NaN", "Infinity", "1e5e5", "--1"}) {
    EXPECT_FALSE(is_json_number(text)) << text;
  }
}

TEST(JsonNumberTest, ScanFindsTheLongestNumberPrefix) {
  auto scanned = [](std::string_view text) -> std::string_view {
    const char* end = scan_json_number(text.data(), text.data() + text.size());
    return end == nullptr ? "<none>" : text.substr(0, static_cast<size_t>(end - text.data()));
  };
  EXPECT_EQ(scanned("12,"), "12");
  EXPECT_EQ(scanned("-0.5}"), "-0.5");
  EXPECT_EQ(scanned("012"), "0");  // a leading zero ends the integer part
  EXPECT_EQ(scanned("1e5]"), "1e5");
  EXPECT_EQ(scanned("1.]"), "<none>");
  EXPECT_EQ(scanned("1e]"), "<none>");
  EXPECT_EQ(scanned("-x"), "<none>");
  EXPECT_EQ(scanned(""), "<none>");
}

TEST(ArnTest, WritesRuleBusAndDestinationArnsAsAws) {
  EXPECT_EQ(rule_arn("us-east-1", "123456789012", "default", "r"),
            "arn:aws:events:us-east-1:123456789012:rule/r");
  EXPECT_EQ(rule_arn("us-east-1", "123456789012", "", "r"),
            "arn:aws:events:us-east-1:123456789012:rule/r");
  EXPECT_EQ(rule_arn("us-east-1", "123456789012", "ops", "r"),
            "arn:aws:events:us-east-1:123456789012:rule/ops/r");
  EXPECT_EQ(event_bus_arn("ap-northeast-1", "1", "default"),
            "arn:aws:events:ap-northeast-1:1:event-bus/default");
  EXPECT_EQ(api_destination_arn("eu-west-1", "2", "backlog"),
            "arn:aws:events:eu-west-1:2:api-destination/backlog");
}

TEST(ArnTest, ReadsTheResourceNameBack) {
  EXPECT_EQ(arn_resource_name("arn:aws:events:r:a:connection/backlog/0b1c", "connection"),
            "backlog");
  EXPECT_EQ(arn_resource_name("arn:aws:events:r:a:event-bus/ops", "event-bus"), "ops");
  EXPECT_EQ(arn_resource_name("arn:aws:events:r:a:event-bus/ops", "connection"), std::nullopt);
  EXPECT_EQ(arn_resource_name("backlog", "connection"), std::nullopt);
}

class FileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = ::testing::TempDir() + "hikyaku-file-test-" + std::to_string(getpid());
    std::ofstream(path_, std::ios::binary) << "0123456789";
  }
  void TearDown() override { std::remove(path_.c_str()); }
  std::string path_;
};

TEST_F(FileTest, ReadsWholeFilesUpToTheCap) {
  EXPECT_EQ(read_file(path_, 10).value(), "0123456789");
  const Result<std::string> over = read_file(path_, 9);
  ASSERT_FALSE(over.has_value());
  EXPECT_NE(over.error().message().find("larger than the limit of 9 bytes"), std::string::npos)
      << over.error().message();
  EXPECT_NE(over.error().message().find(path_), std::string::npos);
}

TEST_F(FileTest, RefusesEndlessDevicesDirectoriesAndMissingFiles) {
  EXPECT_FALSE(read_file("/dev/zero", 1 << 20).has_value());  // stops after the cap, not at EOF
  const Result<std::string> folder = read_file("/", 100);
  ASSERT_FALSE(folder.has_value());
  EXPECT_NE(folder.error().message().find("directory"), std::string::npos);
  EXPECT_FALSE(read_file(path_ + ".missing", 100).has_value());
}

TEST_F(FileTest, TextOrFileTakesAtFileArguments) {
  EXPECT_EQ(text_or_file("{\"a\":1}", 10).value(), "{\"a\":1}");
  EXPECT_EQ(text_or_file("@" + path_, 10).value(), "0123456789");
  EXPECT_FALSE(text_or_file("@" + path_, 5).has_value());
  EXPECT_FALSE(text_or_file("@", 5).has_value());
}

class CountingRandom final : public Random {
 public:
  uint64_t next_u64() override { return next_++; }

 private:
  uint64_t next_ = 0;
};

TEST(RandomTest, UniformStaysInRangeAndUnitBelowOne) {
  CountingRandom counting;
  for (int i = 0; i < 100; ++i) {
    EXPECT_LT(counting.uniform(7), 7u);
  }
  EXPECT_EQ(counting.uniform(0), 0u);
  std::set<uint64_t> seen;
  Random& system = SystemRandom::instance();
  for (int i = 0; i < 1000; ++i) {
    const double unit = system.unit();
    EXPECT_GE(unit, 0.0);
    EXPECT_LT(unit, 1.0);
    seen.insert(system.uniform(10));
  }
  EXPECT_EQ(seen.size(), 10u);  // 1000 draws miss one of 10 values with probability ~1e-45
}

}  // namespace
}  // namespace hikyaku
