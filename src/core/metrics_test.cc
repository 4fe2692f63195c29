#include "core/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

namespace hikyaku {
namespace {

using ::testing::HasSubstr;

TEST(MetricsTest, CountersRenderWithLabelsAndAreShared) {
  MetricsRegistry registry;
  Counter& a =
      registry.counter("hikyaku_matched_events_total", "Events matched", {{"rule", "r\"1"}});
  Counter& again =
      registry.counter("hikyaku_matched_events_total", "Events matched", {{"rule", "r\"1"}});
  EXPECT_EQ(&a, &again);
  a.add();
  again.add(2);
  registry.gauge("hikyaku_queue_depth", "Pending jobs").set(7);
  const std::string text = registry.render();
  EXPECT_THAT(text, HasSubstr("# TYPE hikyaku_matched_events_total counter\n"));
  EXPECT_THAT(text, HasSubstr("hikyaku_matched_events_total{rule=\"r\\\"1\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("hikyaku_queue_depth 7\n"));
}

TEST(MetricsTest, GaugesMoveBothWays) {
  MetricsRegistry registry;
  Gauge& open = registry.gauge("hikyaku_open_things", "Things open now");
  open.add(3);
  open.add(-1);
  EXPECT_EQ(open.value(), 2);
  EXPECT_THAT(registry.render(),
              HasSubstr("# TYPE hikyaku_open_things gauge\nhikyaku_open_things 2\n"));
}

TEST(MetricsTest, HistogramBucketsAreCumulative) {
  MetricsRegistry registry;
  Histogram& latency =
      registry.histogram("hikyaku_delivery_latency_seconds", "Latency", {{"target", "t"}});
  latency.observe(0.0005);
  latency.observe(0.02);
  latency.observe(5000);
  const std::string text = registry.render();
  EXPECT_THAT(text,
              HasSubstr("hikyaku_delivery_latency_seconds_bucket{target=\"t\",le=\"0.001\"} 1\n"));
  EXPECT_THAT(text,
              HasSubstr("hikyaku_delivery_latency_seconds_bucket{target=\"t\",le=\"0.025\"} 2\n"));
  EXPECT_THAT(text,
              HasSubstr("hikyaku_delivery_latency_seconds_bucket{target=\"t\",le=\"+Inf\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("hikyaku_delivery_latency_seconds_count{target=\"t\"} 3\n"));
}

TEST(MetricsTest, ConcurrentIncrementsAreNotLost) {
  MetricsRegistry registry;
  Counter& counter = registry.counter("c", "c");
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        counter.add();
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(counter.value(), 40000);
}

TEST(MetricsTest, ValuesAreReadBackByNameAndLabels) {
  MetricsRegistry registry;
  registry.counter("hikyaku_things_total", "Things", {{"rule", "r1"}}).add(3);
  registry.gauge("hikyaku_depth", "Depth", {{"destination", "d"}}).set(7);
  EXPECT_EQ(registry.value("hikyaku_things_total", {{"rule", "r1"}}), 3);
  EXPECT_EQ(registry.value("hikyaku_depth", {{"destination", "d"}}), 7);
  EXPECT_EQ(registry.value("hikyaku_things_total", {{"rule", "r2"}}), std::nullopt);
  EXPECT_EQ(registry.value("hikyaku_unknown"), std::nullopt);
}

}  // namespace
}  // namespace hikyaku
