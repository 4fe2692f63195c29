#include "delivery/internal/pacer.h"

#include <gtest/gtest.h>

namespace hikyaku::delivery::internal {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// 2026-03-01T09:15:02Z, whose HTTP date is "Sun, 01 Mar 2026 09:15:02 GMT".
const WallTime kWall{seconds(1772356502)};
const SteadyTime kStart{seconds(1000)};

ResponseHints answer(int status, std::string retry_after = "", std::string remaining = "",
                     std::string reset = "") {
  return {status, std::move(retry_after), std::move(remaining), std::move(reset)};
}

// Sends as fast as the pacer allows, each answered at once with `hints`; returns the start times.
std::vector<SteadyTime> send_all(Pacer& pacer, int count, SteadyTime from,
                                 const ResponseHints& hints = answer(200)) {
  std::vector<SteadyTime> starts;
  SteadyTime now = from;
  while (static_cast<int>(starts.size()) < count) {
    const std::optional<SteadyTime> next = pacer.next_start(now);
    EXPECT_TRUE(next.has_value());
    now = std::max(now, *next);
    EXPECT_TRUE(pacer.try_start(now));
    starts.push_back(now);
    pacer.finish(hints, now, kWall + (now - from));
  }
  return starts;
}

TEST(RetryAfterTest, ReadsDeltaSecondsAndHttpDates) {
  EXPECT_EQ(parse_retry_after("120", kWall), milliseconds(120'000));
  EXPECT_EQ(parse_retry_after(" 0 ", kWall), milliseconds(0));
  EXPECT_EQ(parse_retry_after("-1", kWall), milliseconds(-1000));
  EXPECT_EQ(parse_retry_after("Sun, 01 Mar 2026 09:15:32 GMT", kWall), milliseconds(30'000));
  EXPECT_EQ(parse_retry_after("Sunday, 01-Mar-26 09:15:12 GMT", kWall), milliseconds(10'000));
  EXPECT_EQ(parse_retry_after("Sun Mar  1 09:15:07 2026", kWall), milliseconds(5'000));
  EXPECT_EQ(parse_retry_after("Sun, 01 Mar 2026 09:00:00 GMT", kWall), milliseconds(0));  // past
  EXPECT_EQ(parse_retry_after("99999999999", kWall), milliseconds(86'400'000));  // a day at most
  EXPECT_EQ(parse_retry_after("", kWall), std::nullopt);
  EXPECT_EQ(parse_retry_after("soon", kWall), std::nullopt);
  EXPECT_EQ(parse_retry_after("1.5", kWall), std::nullopt);
}

TEST(PacerTest, RateLimitAllowsOneSecondsBurstThenTheSteadyRate) {
  Pacer pacer(50, 1000);
  const std::vector<SteadyTime> starts = send_all(pacer, 1000, kStart);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(starts[i], kStart) << i;  // the burst
  }
  EXPECT_EQ(starts[50], kStart + milliseconds(20));
  EXPECT_EQ(starts[51], kStart + milliseconds(40));
  // 950 sends after the burst at 50/s.
  EXPECT_EQ(starts[999], kStart + milliseconds(20 * 950));
}

TEST(PacerTest, AnIdleDestinationDoesNotSaveUpMoreThanOneSecond) {
  Pacer pacer(10, 1000);
  send_all(pacer, 5, kStart);
  const std::vector<SteadyTime> later = send_all(pacer, 11, kStart + seconds(60));
  EXPECT_EQ(later[9], kStart + seconds(60));
  EXPECT_EQ(later[10], kStart + seconds(60) + milliseconds(100));
}

TEST(PacerTest, RequestsInFlightAreCapped) {
  Pacer pacer(1000, 2);
  EXPECT_TRUE(pacer.try_start(kStart));
  EXPECT_TRUE(pacer.try_start(kStart + milliseconds(1)));
  EXPECT_EQ(pacer.next_start(kStart + milliseconds(2)), std::nullopt);
  EXPECT_FALSE(pacer.try_start(kStart + milliseconds(2)));
  pacer.finish(answer(200), kStart + milliseconds(3), kWall);
  EXPECT_EQ(pacer.in_flight(), 1);
  EXPECT_TRUE(pacer.try_start(kStart + milliseconds(3)));
}

TEST(PacerTest, RetryAfterOn429Or503PausesTheDestination) {
  for (int status : {429, 503}) {
    Pacer pacer(100, 10);
    ASSERT_TRUE(pacer.try_start(kStart));
    EXPECT_EQ(pacer.finish(answer(status, "7"), kStart, kWall), milliseconds(7000));
    EXPECT_EQ(pacer.next_start(kStart), kStart + seconds(7)) << status;
    EXPECT_FALSE(pacer.try_start(kStart + milliseconds(6999)));
    EXPECT_TRUE(pacer.try_start(kStart + seconds(7)));
  }
  Pacer dated(100, 10);
  ASSERT_TRUE(dated.try_start(kStart));
  dated.finish(answer(503, "Sun, 01 Mar 2026 09:16:02 GMT"), kStart, kWall);
  EXPECT_EQ(dated.paused_until(), kStart + seconds(60));
  // Other statuses do not carry a pause, whatever they say.
  Pacer other(100, 10);
  ASSERT_TRUE(other.try_start(kStart));
  EXPECT_EQ(other.finish(answer(500, "30"), kStart, kWall), milliseconds(0));
  EXPECT_EQ(other.next_start(kStart), kStart);
}

TEST(PacerTest, A429WithoutRetryAfterBacksOffLongerEachTimeUntilASuccess) {
  Pacer pacer(100, 10);
  SteadyTime now = kStart;
  for (milliseconds expected : {milliseconds(1000), milliseconds(2000), milliseconds(4000)}) {
    now = *pacer.next_start(now);
    ASSERT_TRUE(pacer.try_start(now));
    EXPECT_EQ(pacer.finish(answer(429), now, kWall), expected);
    EXPECT_EQ(pacer.next_start(now), now + expected);
  }
  for (int i = 0; i < 10; ++i) {
    now = *pacer.next_start(now);
    ASSERT_TRUE(pacer.try_start(now));
    pacer.finish(answer(429), now, kWall);
  }
  EXPECT_EQ(pacer.next_start(now), now + Pacer::kMax429Pause);
  now = *pacer.next_start(now);
  ASSERT_TRUE(pacer.try_start(now));
  pacer.finish(answer(200), now, kWall);
  now = *pacer.next_start(now);
  ASSERT_TRUE(pacer.try_start(now));
  EXPECT_EQ(pacer.finish(answer(429), now, kWall), Pacer::kFirst429Pause);
}

TEST(PacerTest, RateLimitHeadersSpendTheWindowsBudgetThenWaitForTheReset) {
  Pacer pacer(1000, 4);
  const auto reset_in = [](int s) { return std::to_string(1772356502 + s); };
  // The first answer says 3 requests are left in a window that resets in 10 s.
  ASSERT_TRUE(pacer.try_start(kStart));
  EXPECT_EQ(pacer.finish(answer(200, "", "3", reset_in(10)), kStart, kWall), milliseconds(0));
  EXPECT_EQ(pacer.budget(), 3);
  int started = 0;
  SteadyTime now = kStart;
  while (pacer.try_start(now)) {
    ++started;
    now += milliseconds(1);
  }
  EXPECT_EQ(started, 3);  // no request beyond the budget, so no 429
  EXPECT_EQ(pacer.budget(), 0);
  // Their answers arrive; the last says the budget is spent.
  pacer.finish(answer(200, "", "2", reset_in(10)), now, kWall);
  pacer.finish(answer(200, "", "1", reset_in(10)), now, kWall);
  EXPECT_EQ(pacer.finish(answer(200, "", "0", reset_in(10)), now, kWall), milliseconds(10'000));
  EXPECT_EQ(pacer.next_start(now), now + seconds(10));  // the reset, 10 s after kWall's answer
  EXPECT_FALSE(pacer.try_start(now + seconds(9)));
  EXPECT_TRUE(pacer.try_start(now + seconds(10)));  // a new window
}

TEST(PacerTest, AnswersInFlightCountAgainstTheBudget) {
  Pacer pacer(1000, 10);
  const std::string reset = std::to_string(1772356502 + 60);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(pacer.try_start(kStart));
  }
  // Two more requests are in flight when the answer says 2 are left: none may start.
  pacer.finish(answer(200, "", "2", reset), kStart, kWall);
  EXPECT_EQ(pacer.budget(), 0);
  EXPECT_FALSE(pacer.try_start(kStart));
}

TEST(PacerTest, ALowerRateAfterAReloadAppliesFromTheNextSend) {
  Pacer pacer(1000, 10);
  send_all(pacer, 1000, kStart);
  pacer.set_limits(1, 10);
  const SteadyTime later = kStart + seconds(5);
  ASSERT_TRUE(pacer.try_start(later));
  pacer.finish(answer(200), later, kWall);
  EXPECT_EQ(pacer.next_start(later), later + seconds(1));
}

}  // namespace
}  // namespace hikyaku::delivery::internal
