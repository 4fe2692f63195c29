#include "core/metrics.h"

#include <fmt/format.h>

#include "core/check.h"

namespace hikyaku {
namespace {

void append_escaped_label(std::string& out, std::string_view value) {
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

// {a="x",b="y"}; "" for no labels.
std::string render_labels(const MetricLabels& labels) {
  if (labels.empty()) {
    return "";
  }
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    out += i == 0 ? "" : ",";
    out += labels[i].first;
    out += "=\"";
    append_escaped_label(out, labels[i].second);
    out += '"';
  }
  out += '}';
  return out;
}

// Adds one more label to an already rendered label set.
std::string with_label(const std::string& rendered, std::string_view name, std::string_view value) {
  std::string extra = fmt::format("{}=\"{}\"", name, value);
  if (rendered.empty()) {
    return "{" + extra + "}";
  }
  return rendered.substr(0, rendered.size() - 1) + "," + extra + "}";
}

}  // namespace

void Histogram::observe(double seconds) {
  size_t bucket = 0;
  while (bucket < kBounds.size() && seconds > kBounds[bucket]) {
    ++bucket;
  }
  buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_micros_.fetch_add(static_cast<int64_t>(seconds * 1e6), std::memory_order_relaxed);
}

MetricsRegistry::Family& MetricsRegistry::family(const std::string& name, const std::string& help,
                                                 Kind kind) {
  auto [it, inserted] = families_.try_emplace(name);
  if (inserted) {
    it->second.kind = kind;
    it->second.help = help;
  }
  HK_CHECK(it->second.kind == kind);  // one name, one type
  return it->second;
}

Counter& MetricsRegistry::counter(const std::string& name, const std::string& help,
                                  const MetricLabels& labels) {
  MutexLock lock(mutex_);
  auto& slot = family(name, help, Kind::kCounter).counters[render_labels(labels)];
  if (!slot) {
    slot = std::make_unique<Counter>();
  }
  return *slot;
}

std::optional<int64_t> MetricsRegistry::value(const std::string& name,
                                              const MetricLabels& labels) const {
  MutexLock lock(mutex_);
  const auto found = families_.find(name);
  if (found == families_.end()) {
    return std::nullopt;
  }
  const std::string key = render_labels(labels);
  const Family& family = found->second;
  if (const auto counter = family.counters.find(key); counter != family.counters.end()) {
    return counter->second->value();
  }
  if (const auto gauge = family.gauges.find(key); gauge != family.gauges.end()) {
    return gauge->second->value();
  }
  return std::nullopt;
}

Gauge& MetricsRegistry::gauge(const std::string& name, const std::string& help,
                              const MetricLabels& labels) {
  MutexLock lock(mutex_);
  auto& slot = family(name, help, Kind::kGauge).gauges[render_labels(labels)];
  if (!slot) {
    slot = std::make_unique<Gauge>();
  }
  return *slot;
}

Histogram& MetricsRegistry::histogram(const std::string& name, const std::string& help,
                                      const MetricLabels& labels) {
  MutexLock lock(mutex_);
  auto& slot = family(name, help, Kind::kHistogram).histograms[render_labels(labels)];
  if (!slot) {
    slot = std::make_unique<Histogram>();
  }
  return *slot;
}

std::string MetricsRegistry::render() const {
  MutexLock lock(mutex_);
  std::string out;
  for (const auto& [name, family] : families_) {
    const char* type = family.kind == Kind::kCounter ? "counter"
                       : family.kind == Kind::kGauge ? "gauge"
                                                     : "histogram";
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, family.help, name, type);
    for (const auto& [labels, counter] : family.counters) {
      out += fmt::format("{}{} {}\n", name, labels, counter->value());
    }
    for (const auto& [labels, gauge] : family.gauges) {
      out += fmt::format("{}{} {}\n", name, labels, gauge->value());
    }
    for (const auto& [labels, histogram] : family.histograms) {
      int64_t cumulative = 0;
      for (size_t i = 0; i <= Histogram::kBounds.size(); ++i) {
        cumulative += histogram->buckets_[i].load(std::memory_order_relaxed);
        const std::string bound =
            i < Histogram::kBounds.size() ? fmt::format("{}", Histogram::kBounds[i]) : "+Inf";
        out += fmt::format("{}_bucket{} {}\n", name, with_label(labels, "le", bound), cumulative);
      }
      out += fmt::format("{}_sum{} {}\n", name, labels,
                         static_cast<double>(histogram->sum_micros_.load()) / 1e6);
      out += fmt::format("{}_count{} {}\n", name, labels, histogram->count());
    }
  }
  return out;
}

}  // namespace hikyaku
