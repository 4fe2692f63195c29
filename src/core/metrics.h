#pragma once
// Counters and histograms rendered in Prometheus' text format for GET /metrics.
//
//   MetricsRegistry registry;
//   Counter& matched = registry.counter("hikyaku_matched_events_total",
//                                       "Events that matched a rule", {{"rule", "r1"}});
//   matched.add();                       // lock-free; keep the reference, look it up once
//   std::string text = registry.render();
//
// Names follow EventBridge's CloudWatch metrics in snake_case with a hikyaku_ prefix. Label
// values must never hold a secret. Metrics live as long as the registry; asking again for the
// same name and labels returns the same object.
//
// Thread safety: thread-safe. Registration takes a lock; add()/observe() are atomic.

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/mutex.h"
#include "core/thread_annotations.h"

namespace hikyaku {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void add(int64_t delta = 1) { value_.fetch_add(delta, std::memory_order_relaxed); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

// A gauge whose value is read when rendering (queue depth, open connections, ...).
class Gauge {
 public:
  void set(int64_t value) { value_.store(value, std::memory_order_relaxed); }
  void add(int64_t delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

// Latency histogram in seconds with fixed buckets from 1 ms to 1 hour.
class Histogram {
 public:
  static constexpr std::array<double, 14> kBounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                     0.25,  0.5,    1,     2.5,  10,    60,   3600};
  void observe(double seconds);
  int64_t count() const { return count_.load(std::memory_order_relaxed); }

 private:
  friend class MetricsRegistry;
  std::array<std::atomic<int64_t>, kBounds.size() + 1> buckets_{};  // last: +Inf
  std::atomic<int64_t> count_{0};
  std::atomic<int64_t> sum_micros_{0};
};

class MetricsRegistry {
 public:
  Counter& counter(const std::string& name, const std::string& help,
                   const MetricLabels& labels = {}) HK_EXCLUDES(mutex_);
  Gauge& gauge(const std::string& name, const std::string& help, const MetricLabels& labels = {})
      HK_EXCLUDES(mutex_);
  Histogram& histogram(const std::string& name, const std::string& help,
                       const MetricLabels& labels = {}) HK_EXCLUDES(mutex_);

  // The value of the counter or gauge `name` with exactly `labels` (in registration order);
  // nullopt when none was registered. For readers such as the admin API.
  std::optional<int64_t> value(const std::string& name, const MetricLabels& labels = {}) const
      HK_EXCLUDES(mutex_);

  // Prometheus text exposition format (version 0.0.4), families sorted by name, the series of a
  // family sorted by their rendered label sets.
  std::string render() const HK_EXCLUDES(mutex_);

 private:
  enum class Kind { kCounter, kGauge, kHistogram };
  struct Family {
    Kind kind;
    std::string help;
    std::map<std::string, std::unique_ptr<Counter>> counters;  // by rendered label set
    std::map<std::string, std::unique_ptr<Gauge>> gauges;
    std::map<std::string, std::unique_ptr<Histogram>> histograms;
  };
  Family& family(const std::string& name, const std::string& help, Kind kind) HK_REQUIRES(mutex_);

  mutable Mutex mutex_;
  std::map<std::string, Family> families_ HK_GUARDED_BY(mutex_);
};

}  // namespace hikyaku
