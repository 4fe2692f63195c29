#include "delivery/retry_policy.h"

#include <gtest/gtest.h>

#include <cstdint>

#include "testing/fake_clock.h"

namespace hikyaku::delivery {
namespace {

TEST(RetryPolicyTest, StatusTableFollowsEventBridge) {
  struct Case {
    int status;
    Outcome outcome;
  };
  for (const Case& c :
       {Case{200, Outcome::kDelivered}, Case{201, Outcome::kDelivered},
        Case{204, Outcome::kDelivered}, Case{100, Outcome::kPermanent},
        Case{301, Outcome::kPermanent}, Case{400, Outcome::kPermanent},
        Case{401, Outcome::kPermanent}, Case{404, Outcome::kPermanent}, Case{429, Outcome::kRetry},
        Case{500, Outcome::kRetry}, Case{503, Outcome::kRetry}, Case{599, Outcome::kRetry}}) {
    EXPECT_EQ(classify({c.status, false, ""}), c.outcome) << c.status;
  }
  EXPECT_EQ(classify({0, true, "timeout"}), Outcome::kRetry);
  EXPECT_EQ(classify({0, false, "connection refused"}), Outcome::kRetry);
}

TEST(RetryPolicyTest, ErrorCodes) {
  EXPECT_EQ(error_code({503, false, ""}), "HTTP_503");
  EXPECT_EQ(error_code({0, true, "x"}), "TIMEOUT");
  EXPECT_EQ(error_code({0, false, "x"}), "CONNECTION_FAILURE");
}

TEST(RetryPolicyTest, FullJitterBackoffIsCapped) {
  Backoff backoff{1000, 60'000};
  EXPECT_EQ(backoff.delay_ms(1, 0.0), 0);
  EXPECT_EQ(backoff.delay_ms(1, 0.999999), 1999);
  EXPECT_EQ(backoff.delay_ms(3, 0.5), 4000);
  EXPECT_EQ(backoff.delay_ms(40, 0.5), 30'000);  // capped, no overflow
}

TEST(RetryPolicyTest, JitterIsDrawnFromTheGivenRandom) {
  Backoff backoff{1000, 60'000};
  testing::FakeRandom random(0);
  EXPECT_EQ(backoff.delay_ms(1, random), 0);
  random.set(uint64_t{1} << 63);  // Random::unit() == 0.5
  EXPECT_EQ(backoff.delay_ms(1, random), 1000);
  EXPECT_EQ(backoff.delay_ms(3, random), 4000);
  EXPECT_EQ(backoff.delay_ms(40, random), 30'000);
  random.set(UINT64_MAX);  // the largest unit(): 1 - 2^-53
  EXPECT_EQ(backoff.delay_ms(1, random), 1999);
  EXPECT_EQ(backoff.delay_ms(40, random), 59'999);
}

TEST(RetryPolicyTest, ExhaustionByAttemptsOrAge) {
  RetryPolicy policy{2, 60};
  EXPECT_EQ(exhausted_condition(policy, 1, 0, 1000), "");
  EXPECT_EQ(exhausted_condition(policy, 2, 0, 1000), "");
  EXPECT_EQ(exhausted_condition(policy, 3, 0, 1000), "MaximumRetryAttempts");
  EXPECT_EQ(exhausted_condition(policy, 1, 0, 60'001), "MaximumEventAgeInSeconds");
  EXPECT_EQ(exhausted_condition({0, 60}, 1, 0, 10), "MaximumRetryAttempts");  // one attempt only
}

}  // namespace
}  // namespace hikyaku::delivery
