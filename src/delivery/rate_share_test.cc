// RateShare: two nodes (two shares over one store) together take no more than the destination's
// rate, a pause one of them learns stops the other, and a store that fails leaves each node its
// own pace. Time is a FakeClock; the tests wait for the refill thread, never for real time.

#include "delivery/rate_share.h"

#include <gtest/gtest.h>

#include <thread>

#include "store/sqlite/sqlite_store.h"
#include "testing/fake_clock.h"
#include "testing/temp_dir.h"
#include "testing/wait.h"

namespace hikyaku::delivery {
namespace {

using std::chrono::milliseconds;

class RateShareTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<store::SqliteStore>> opened =
        store::SqliteStore::open({.path = dir_.file("db"), .synchronous_full = false});
    ASSERT_TRUE(opened.has_value()) << opened.error().message();
    store_ = std::move(opened).value();
  }

  // Takes every slot `share` can have at the clock's time: until it is told to come back later
  // than a refill in progress would (the cluster's schedule is ahead, or a pause).
  int take_all(RateShare& share, const std::string& destination, int rate,
               int64_t* retry_at = nullptr) {
    int taken = 0;
    for (;;) {
      int64_t retry_at_ms = 0;
      const int64_t now_ms = clock_.now_ms();
      if (share.try_take(destination, rate, now_ms, retry_at_ms)) {
        ++taken;
        continue;
      }
      if (retry_at_ms > now_ms + 2) {
        if (retry_at != nullptr) {
          *retry_at = retry_at_ms;
        }
        return taken;
      }
      std::this_thread::yield();  // the refill thread is asking the store
    }
  }

  testing::TempDir dir_{"rate-share"};
  testing::FakeClock clock_;
  std::unique_ptr<store::SqliteStore> store_;
};

TEST_F(RateShareTest, TwoNodesTogetherTakeTheRateAndNoMore) {
  RateShare a(*store_, clock_);
  RateShare b(*store_, clock_);
  constexpr int kRate = 50;  // chunks of 5, one every 100 ms
  ASSERT_EQ(RateShare::chunk(kRate), 5);
  int total = 0;
  int by_a = 0;
  int by_b = 0;
  for (int step = 0; step < 20; ++step) {  // two seconds
    // Whoever asks first gets the chunk; they take turns at asking first.
    const int from_a = step % 2 == 0 ? take_all(a, "hooks", kRate) : 0;
    const int from_b = take_all(b, "hooks", kRate);
    const int late_a = step % 2 == 0 ? 0 : take_all(a, "hooks", kRate);
    EXPECT_EQ(from_a + from_b + late_a, RateShare::chunk(kRate)) << "step " << step;
    by_a += from_a + late_a;
    by_b += from_b;
    total += from_a + from_b + late_a;
    clock_.advance(milliseconds(100));
  }
  // Two seconds at 50 per second, plus the chunk taken at once: 105 at most; slots that expired
  // unused in a node's hands are the only ones missing.
  EXPECT_LE(total, 2 * kRate + RateShare::chunk(kRate));
  EXPECT_GE(total, 2 * kRate - 2 * RateShare::chunk(kRate));
  EXPECT_GT(by_a, 0);
  EXPECT_GT(by_b, 0);
  // Another destination has a schedule of its own.
  EXPECT_EQ(take_all(a, "other", kRate), RateShare::chunk(kRate));
}

TEST_F(RateShareTest, APauseOneNodeLearnsStopsTheOther) {
  RateShare a(*store_, clock_);
  RateShare b(*store_, clock_);
  ASSERT_EQ(take_all(b, "hooks", 10), 1);  // b's next slot is due in 100 ms
  const int64_t until = clock_.now_ms() + 5000;
  a.pause("hooks", until);
  // a writes the pause into the record in the background.
  ASSERT_TRUE(testing::wait_for([&] {
    Result<std::optional<store::KvEntry>> record = store_->kv_get(RateShare::key("hooks"));
    return record.has_value() && *record && (*record)->value.ends_with(" " + std::to_string(until));
  }));
  clock_.advance(milliseconds(100));
  // b learns it from the record the next time it asks for slots.
  int64_t retry_at = 0;
  EXPECT_EQ(take_all(b, "hooks", 10, &retry_at), 0);
  EXPECT_EQ(retry_at, until);
  clock_.advance(milliseconds(5000));
  EXPECT_EQ(take_all(b, "hooks", 10), 1);
}

TEST_F(RateShareTest, SlotsNotUsedInTimeExpire) {
  RateShare a(*store_, clock_);
  constexpr int kRate = 100;         // chunks of 10 every 100 ms; held for 200 ms at most
  for (int taken = 0; taken < 3;) {  // three of the first chunk's ten
    int64_t retry_at = 0;
    if (a.try_take("hooks", kRate, clock_.now_ms(), retry_at)) {
      ++taken;
    } else {
      std::this_thread::yield();  // the refill thread is asking the store
    }
  }
  clock_.advance(milliseconds(300));
  // What was left of the first chunk is gone; only a new chunk can be had.
  EXPECT_EQ(take_all(a, "hooks", kRate), RateShare::chunk(kRate));
}

}  // namespace
}  // namespace hikyaku::delivery
