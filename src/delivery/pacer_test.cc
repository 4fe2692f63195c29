#include "delivery/internal/pacer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

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

const auto reset_in = [](int s) { return std::to_string(1772356502 + s); };

TEST(PacerTest, RateLimitHeadersSpendTheWindowsBudgetThenWaitForTheReset) {
  Pacer pacer(1000, 4);
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
  // Their answers arrive; the budget was spent.
  const milliseconds until_reset = seconds(10) + Pacer::kResetMargin;
  EXPECT_EQ(pacer.finish(answer(200, "", "2", reset_in(10)), now, kWall), until_reset);
  EXPECT_EQ(pacer.finish(answer(200, "", "1", reset_in(10)), now, kWall), until_reset);
  EXPECT_EQ(pacer.finish(answer(200, "", "0", reset_in(10)), now, kWall), until_reset);
  // Not a pause: the budget holds the destination back until just after the reset, which the
  // first answer placed 10 s after kStart.
  EXPECT_EQ(pacer.paused_until(), SteadyTime{});
  EXPECT_EQ(pacer.next_start(now), kStart + until_reset);
  EXPECT_FALSE(pacer.try_start(now + seconds(10)));  // not before the margin
  EXPECT_TRUE(pacer.try_start(now + until_reset));   // a new window, its budget not known yet
  EXPECT_EQ(pacer.budget(), std::nullopt);
}

TEST(PacerTest, AnswersInFlightCountAgainstTheBudget) {
  Pacer pacer(1000, 10);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(pacer.try_start(kStart));
  }
  // The first request's answer says 2 are left; the two started after it may spend them.
  pacer.finish(answer(200, "", "2", reset_in(60)), kStart, kWall);
  EXPECT_EQ(pacer.budget(), 0);
  EXPECT_FALSE(pacer.try_start(kStart));
}

// Answers are read in whatever order the transfers finish; the budget must not depend on it.
TEST(PacerTest, TheBudgetDoesNotDependOnTheOrderAnswersAreRead) {
  for (const bool oldest_last : {true, false}) {
    Pacer pacer(1000, 16);
    for (int i = 0; i < 16; ++i) {
      ASSERT_TRUE(pacer.try_start(kStart));
    }
    // The server took them in order: request n left 150 - n of the window.
    std::vector<uint64_t> order;
    for (uint64_t n = 1; n <= 16; ++n) {
      order.push_back(n);
    }
    if (oldest_last) {
      std::reverse(order.begin(), order.end());
    }
    for (uint64_t n : order) {
      pacer.finish(answer(200, "", std::to_string(150 - n), reset_in(60)), kStart, kWall);
      // Never more than is really left: 150 - 16 once all have been taken.
      EXPECT_LE(*pacer.budget(), 150 - 16) << oldest_last << " after " << n;
    }
    EXPECT_EQ(pacer.budget(), 150 - 16) << oldest_last;
    EXPECT_EQ(pacer.paused_until(), SteadyTime{}) << oldest_last;  // nothing paused
  }
}

TEST(PacerTest, ANewWindowReplacesTheBudgetAndStaleAnswersAreIgnored) {
  Pacer pacer(1000, 10);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(pacer.try_start(kStart));
  }
  pacer.finish(answer(200, "", "0", reset_in(1)), kStart, kWall);
  EXPECT_EQ(pacer.budget(), -2);  // two more in flight
  const SteadyTime later = kStart + seconds(2);
  // The second request was taken in the next window (its Reset is later): that window's budget.
  pacer.finish(answer(200, "", "149", reset_in(11)), later, kWall + seconds(2));
  EXPECT_EQ(pacer.budget(), 148);  // one still in flight
  // The third had been taken in the first window; its late answer changes nothing but the count
  // in flight.
  pacer.finish(answer(200, "", "0", reset_in(1)), later, kWall + seconds(2));
  EXPECT_EQ(pacer.budget(), 149);
}

// A 429 that carries the rate-limit headers is the budget's: it waits for the reset, with no
// back-off, and not at all once the window is over.
TEST(PacerTest, ABudget429WaitsForTheResetWithoutBackingOff) {
  Pacer pacer(1000, 10);
  ASSERT_TRUE(pacer.try_start(kStart));
  EXPECT_EQ(pacer.finish(answer(429, "", "0", reset_in(5)), kStart, kWall),
            seconds(5) + Pacer::kResetMargin);
  EXPECT_EQ(pacer.paused_until(), SteadyTime{});
  EXPECT_EQ(pacer.next_start(kStart), kStart + seconds(5) + Pacer::kResetMargin);
  // Sent a hair before the reset: the 429 names the window that has just ended.
  const SteadyTime at_reset = kStart + seconds(5);
  ASSERT_TRUE(pacer.try_start(at_reset + Pacer::kResetMargin));
  EXPECT_LE(pacer.finish(answer(429, "", "0", reset_in(5)), at_reset + Pacer::kResetMargin,
                         kWall + seconds(5) + Pacer::kResetMargin),
            Pacer::kResetMargin);
  EXPECT_EQ(pacer.paused_until(), SteadyTime{});
  EXPECT_EQ(pacer.next_start(at_reset + Pacer::kResetMargin), at_reset + Pacer::kResetMargin);
  // A plain 429 still backs off.
  ASSERT_TRUE(pacer.try_start(at_reset + Pacer::kResetMargin));
  EXPECT_EQ(pacer.finish(answer(429), at_reset, kWall), Pacer::kFirst429Pause);
}

// Reset is whole epoch seconds read against the wall clock: the wait is rounded up, never down.
TEST(PacerTest, TheResetIsNeverWaitedForTooShortly) {
  Pacer pacer(1000, 10);
  ASSERT_TRUE(pacer.try_start(kStart));
  // 0.3 ms into a second: 9.9997 s are left until the reset.
  const WallTime wall = kWall + std::chrono::microseconds(300);
  EXPECT_EQ(pacer.finish(answer(200, "", "0", reset_in(10)), kStart, wall),
            milliseconds(10'000) + Pacer::kResetMargin);
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
