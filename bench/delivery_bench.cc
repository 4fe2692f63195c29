// Deliveries per second from the store to local HTTP sinks that answer 200 at once over
// keep-alive, with every outcome settled durably (completions committed through the group
// committer), for 1 and for many API destinations; CPU per 1,000 deliveries.
//
//   delivery_bench [--jobs N] [--destinations D] [--runs R] [--in-flight K]
//
// The sinks (http_sink.h) run in this process on their own thread, one listening port per
// destination. The jobs are appended to a fresh store first; the clock runs from
// Dispatcher::start() until the store holds no pending or leased job.
#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "core/metrics.h"
#include "delivery/dispatcher.h"
#include "http_sink.h"
#include "store/group_commit.h"
#include "store/sqlite/sqlite_store.h"
#include "testing/temp_dir.h"

namespace {

namespace delivery = hikyaku::delivery;
namespace store = hikyaku::store;
using hikyaku::MetricsRegistry;
using hikyaku::SystemClock;
using hikyaku::bench::Sinks;

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

struct RunResult {
  double deliveries_per_second = 0;
  double cpu_ms_per_1000 = 0;  // the whole process, sinks included
};

RunResult run(int jobs, int destinations, int in_flight) {
  const hikyaku::testing::TempDir directory("delivery-bench");
  auto store = std::move(store::SqliteStore::open(
                             {.path = (std::filesystem::path(directory.path()) / "db").string(),
                              .synchronous_full = false}))
                   .value();
  Sinks sinks(destinations);
  auto endpoints = std::make_shared<delivery::Endpoints>();
  for (int d = 0; d < destinations; ++d) {
    delivery::Endpoint endpoint;
    endpoint.kind = delivery::Endpoint::Kind::kHttp;
    endpoint.rule = "r";
    endpoint.target_id = fmt::format("t{}", d);
    endpoint.destination = fmt::format("sink{}", d);
    endpoint.url = fmt::format("http://127.0.0.1:{}/hook", sinks.port(d));
    endpoint.rate_limit_per_second = 1'000'000;
    endpoints->emplace(fmt::format("b/r/t{}", d), std::move(endpoint));
  }
  const std::string body(512, 'x');
  for (int appended = 0; appended < jobs;) {
    store::Batch batch;
    for (int i = 0; i < 10'000 && appended < jobs; ++i, ++appended) {
      batch.jobs.push_back({fmt::format("b/r/t{}", appended % destinations), "e", body, "", 0});
    }
    if (!store->append(batch).ok()) {
      fmt::print(stderr, "append failed\n");
      std::exit(1);
    }
  }
  MetricsRegistry metrics;
  store::GroupCommitter committer(*store);
  delivery::Dispatcher::Options options;
  options.max_in_flight_per_destination = in_flight;
  options.claim_batch = 256;
  delivery::Dispatcher dispatcher(*store, metrics, SystemClock::instance(), endpoints, options);
  dispatcher.attach(committer);
  const double cpu_before = cpu_seconds();
  const auto started = std::chrono::steady_clock::now();
  dispatcher.start();
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const auto counts = store->counts(0).value();
    if (counts.pending == 0 && counts.leased == 0) {
      break;
    }
  }
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const double cpu = cpu_seconds() - cpu_before;
  committer.stop();
  dispatcher.stop();
  if (const auto counts = store->counts(0).value(); counts.dead_letters != 0) {
    fmt::print(stderr, "{} dead letters: the sinks did not answer 200\n", counts.dead_letters);
    std::exit(1);
  }
  return {static_cast<double>(jobs) / elapsed, cpu * 1e6 / static_cast<double>(jobs)};
}

int flag(int argc, char** argv, const char* name, int fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) {
      return std::stoi(argv[i + 1]);
    }
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
#ifndef NDEBUG
  fmt::print(stderr,
             "WARNING: a debug build; build with `make bench` for figures that mean something\n");
#endif
  const int jobs = flag(argc, argv, "--jobs", 100'000);
  const int runs = flag(argc, argv, "--runs", 3);
  const int in_flight = flag(argc, argv, "--in-flight", 16);
  std::vector<int> destination_counts = {1, 100};
  if (const int d = flag(argc, argv, "--destinations", 0); d > 0) {
    destination_counts = {d};
  }
  for (int destinations : destination_counts) {
    std::vector<RunResult> results;
    for (int r = 0; r < runs; ++r) {
      results.push_back(run(jobs, destinations, in_flight));
      fmt::print("destinations={} run={} deliveries/s={:.0f} cpu_ms_per_1000={:.1f}\n",
                 destinations, r + 1, results.back().deliveries_per_second,
                 results.back().cpu_ms_per_1000);
    }
    std::sort(results.begin(), results.end(), [](const RunResult& a, const RunResult& b) {
      return a.deliveries_per_second < b.deliveries_per_second;
    });
    const RunResult& median = results[results.size() / 2];
    fmt::print("destinations={} median deliveries/s={:.0f} cpu_ms_per_1000={:.1f}\n", destinations,
               median.deliveries_per_second, median.cpu_ms_per_1000);
  }
  return 0;
}
