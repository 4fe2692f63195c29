#include "core/time.h"

#include <gtest/gtest.h>

namespace hikyaku {
namespace {

TEST(TimeTest, FormatsTimesAsEventBridgeDoes) {
  const auto time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1640995200123));
  EXPECT_EQ(format_rfc3339_seconds(time), "2022-01-01T00:00:00Z");
  EXPECT_EQ(format_rfc3339_millis(time), "2022-01-01T00:00:00.123Z");
}

// Seconds counts PutEvents accepts (years 0001..9999) that a nanosecond time point cannot hold
// (found by fuzz/put_events_fuzzer.cc: year 4052 overflowed).
TEST(TimeTest, FormatsEverySecondOfYearsOneToNineThousandNineHundredNinetyNine) {
  EXPECT_EQ(format_rfc3339_seconds(int64_t{65706801302}), "4052-03-01T09:15:02Z");
  EXPECT_EQ(format_rfc3339_seconds(int64_t{253402300799}), "9999-12-31T23:59:59Z");
  EXPECT_EQ(format_rfc3339_seconds(int64_t{-62135596800}), "0001-01-01T00:00:00Z");
}

TEST(TimeTest, ChecksTimestampShape) {
  EXPECT_TRUE(is_rfc3339_timestamp("2026-03-01T09:15:02Z"));
  EXPECT_TRUE(is_rfc3339_timestamp("2026-03-01t09:15:02.118z"));
  EXPECT_TRUE(is_rfc3339_timestamp("2026-03-01T09:15:02-05:30"));
  EXPECT_FALSE(is_rfc3339_timestamp("2026-03-01T24:00:00Z"));
  EXPECT_FALSE(is_rfc3339_timestamp("2026-03-01T09:15:02+0900"));
  EXPECT_FALSE(is_rfc3339_timestamp("2026-03-01T09:15:02+24:00"));
  EXPECT_FALSE(is_rfc3339_timestamp("2026-3-01T09:15:02Z"));
  EXPECT_FALSE(is_rfc3339_timestamp(""));
}

TEST(TimeTest, ParsesToEpochSecondsWithOffsets) {
  EXPECT_EQ(parse_rfc3339("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_rfc3339("2022-01-01T00:00:00.999Z"), 1640995200);  // fraction dropped
  EXPECT_EQ(parse_rfc3339("2022-01-01T09:00:00+09:00"), 1640995200);
  EXPECT_EQ(parse_rfc3339("2021-12-31T19:00:00-05:00"), 1640995200);
  EXPECT_EQ(parse_rfc3339("2024-02-29T00:00:00Z"), 1709164800);    // leap day
  EXPECT_EQ(parse_rfc3339("2026-02-30T00:00:00Z"), std::nullopt);  // no such day
  EXPECT_EQ(parse_rfc3339("2026-03-01 09:15:02Z"), std::nullopt);
}

TEST(TimeTest, FormatAndParseRoundTrip) {
  for (int64_t seconds :
       {int64_t{0}, int64_t{951782400}, int64_t{1772356502}, int64_t{4102444799}}) {
    const auto time = std::chrono::system_clock::time_point(std::chrono::seconds(seconds));
    EXPECT_EQ(parse_rfc3339(format_rfc3339_seconds(time)), seconds);
    EXPECT_EQ(parse_rfc3339(format_rfc3339_millis(time)), seconds);
  }
}

}  // namespace
}  // namespace hikyaku
