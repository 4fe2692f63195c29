// Deliveries per second from the store to local HTTP sinks that answer 200 at once over
// keep-alive, with every outcome settled durably (completions committed through the group
// committer), for 1 and for many API destinations; CPU per 1,000 deliveries.
//
//   delivery_bench [--jobs N] [--destinations D] [--runs R] [--in-flight K] [--claim-batch B]
//                  [--sink-threads T] [--ingest-rate J] [--seconds S] [--delivery-log E]
//
// The sinks run in this process on their own threads (Boost.Beast, one io_context run by
// --sink-threads threads, 1 by default), one listening port per destination. The jobs are appended
// to a fresh store first; the clock runs from Dispatcher::start() until the store holds no pending
// or leased job. The CPU figure covers the whole process; the sinks' share is shown apart
// (sink_ms_per_1000), and so are the connections the sinks accepted (reuse: few).
//
// --ingest-rate J adds ingest alongside: a thread submits new jobs (batches of 10, as a PutEvents
// request of 10 entries that each match one rule) through the GroupCommitter at J jobs/s, as ingest
// does after matching, so that the commits carry new jobs and completions together and new jobs are
// handed to the dispatcher by their commit. It runs until the sinks have answered --jobs requests
// (or for --seconds when --jobs is 0); the figures then count the ingested jobs too, and the
// achieved ingest rate is shown. (putevents_load_bench measures HTTP ingest and matching, with
// deliveries to Log targets; this isolates the delivery engine under a steady commit load.)
//
// --delivery-log E is how many attempts the delivery log keeps (10,000, the server's default);
// 0 turns it off, to measure what recording every attempt costs.
#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
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
  double cpu_ms_per_1000 = 0;   // the whole process, sinks included
  double sink_ms_per_1000 = 0;  // the sinks' threads alone
  int64_t connections = 0;      // accepted by the sinks
  double ingested_per_second = 0;
  int64_t ingest_refused = 0;
};

struct Settings {
  int jobs = 100'000;
  int destinations = 1;
  int in_flight = 16;
  int claim_batch = 256;
  int sink_threads = 1;
  int ingest_rate = 0;        // jobs/s; 0: no ingest
  int seconds = 5;            // how long ingest runs when there are no jobs appended up front
  int delivery_log = 10'000;  // attempts the delivery log keeps (the server's default); 0: none
};

std::string target_key(int64_t n, int destinations) {
  return fmt::format("b/r/t{}", n % destinations);
}

// Submits batches of 10 jobs through the committer at `rate` jobs/s until told to stop.
class Ingest {
 public:
  Ingest(store::GroupCommitter& committer, int rate, int destinations)
      : committer_(committer), rate_(rate), destinations_(destinations) {
    if (rate_ > 0) {
      thread_ = std::thread([this] { run(); });
    }
  }
  ~Ingest() { stop(); }
  Ingest(const Ingest&) = delete;
  Ingest& operator=(const Ingest&) = delete;

  void stop() {
    stopping_ = true;
    if (thread_.joinable()) {
      thread_.join();
    }
  }
  int64_t submitted() const { return submitted_; }  // after stop()
  int64_t stored() const { return stored_.load(); }
  int64_t refused() const { return refused_.load(); }
  double seconds() const { return seconds_; }  // after stop()

 private:
  static constexpr int kBatchJobs = 10;

  void run() {
    const std::string body(512, 'x');
    const auto started = std::chrono::steady_clock::now();
    auto elapsed = [&] {
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    };
    while (!stopping_) {
      while (static_cast<double>(submitted_) < elapsed() * rate_) {
        store::Batch batch;
        const int64_t now_ms = SystemClock::instance().now_ms();
        for (int i = 0; i < kBatchJobs; ++i, ++submitted_) {
          batch.jobs.push_back({target_key(submitted_, destinations_), "e", body, "", now_ms});
        }
        committer_.submit(std::move(batch), [this](const hikyaku::Status& status) {
          (status.ok() ? stored_ : refused_).fetch_add(kBatchJobs);
        });
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    seconds_ = elapsed();
  }

  store::GroupCommitter& committer_;
  const int rate_;
  const int destinations_;
  std::atomic<bool> stopping_{false};
  int64_t submitted_ = 0;
  double seconds_ = 0;
  std::atomic<int64_t> stored_{0};
  std::atomic<int64_t> refused_{0};
  std::thread thread_;
};

RunResult run(const Settings& settings) {
  const int destinations = settings.destinations;
  const hikyaku::testing::TempDir directory("delivery-bench");
  auto store = std::move(store::SqliteStore::open(
                             {.path = (std::filesystem::path(directory.path()) / "db").string(),
                              .synchronous_full = false}))
                   .value();
  hikyaku::bench::Sinks sinks(destinations, {}, settings.sink_threads);
  auto endpoints = std::make_shared<delivery::Endpoints>();
  for (int d = 0; d < destinations; ++d) {
    delivery::Endpoint endpoint;
    endpoint.kind = delivery::Endpoint::Kind::kHttp;
    endpoint.rule = "r";
    endpoint.target_id = fmt::format("t{}", d);
    endpoint.destination = fmt::format("sink{}", d);
    endpoint.url = fmt::format("http://127.0.0.1:{}/hook", sinks.port(d));
    endpoint.rate_limit_per_second = 1'000'000;
    endpoints->emplace(target_key(d, destinations), std::move(endpoint));
  }
  const std::string body(512, 'x');
  for (int appended = 0; appended < settings.jobs;) {
    store::Batch batch;
    for (int i = 0; i < 10'000 && appended < settings.jobs; ++i, ++appended) {
      batch.jobs.push_back({target_key(appended, destinations), "e", body, "", 0});
    }
    if (!store->append(batch).ok()) {
      fmt::print(stderr, "append failed\n");
      std::exit(1);
    }
  }
  MetricsRegistry metrics;
  store::GroupCommitter committer(*store);
  delivery::Dispatcher::Options options;
  options.max_in_flight_per_destination = settings.in_flight;
  options.claim_batch = settings.claim_batch;
  options.delivery_log_entries = settings.delivery_log;
  delivery::Dispatcher dispatcher(*store, metrics, SystemClock::instance(), endpoints, options);
  dispatcher.attach(committer);
  const double cpu_before = cpu_seconds();
  const double sink_cpu_before = sinks.cpu_seconds();
  const auto started = std::chrono::steady_clock::now();
  dispatcher.start();
  Ingest ingest(committer, settings.ingest_rate, destinations);
  const auto ingest_until = started + std::chrono::seconds(settings.seconds);
  // Counting the store's jobs reads the whole table: it is asked once the sinks have answered
  // every request expected so far (and now and then in case some were not answered 200).
  auto last_count = started;
  for (bool ingesting = settings.ingest_rate > 0;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    const auto now = std::chrono::steady_clock::now();
    if (ingesting &&
        (settings.jobs > 0 ? sinks.answered() >= settings.jobs : now >= ingest_until)) {
      ingest.stop();
      ingesting = false;
    }
    if (ingesting) {
      continue;
    }
    const int64_t expected = settings.jobs + ingest.submitted();
    if (sinks.answered() < expected && now - last_count < std::chrono::milliseconds(200)) {
      continue;
    }
    last_count = now;
    const auto counts = store->counts(0).value();
    if (counts.pending == 0 && counts.leased == 0 &&
        ingest.stored() + ingest.refused() == ingest.submitted()) {
      break;
    }
  }
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const double cpu = cpu_seconds() - cpu_before;
  const double sink_cpu = sinks.cpu_seconds() - sink_cpu_before;
  committer.stop();
  dispatcher.stop();
  if (const auto counts = store->counts(0).value(); counts.dead_letters != 0) {
    fmt::print(stderr, "{} dead letters: the sinks did not answer 200\n", counts.dead_letters);
    std::exit(1);
  }
  const auto delivered = static_cast<double>(settings.jobs + ingest.stored());
  RunResult result;
  result.deliveries_per_second = delivered / elapsed;
  result.cpu_ms_per_1000 = cpu * 1e6 / delivered;
  result.sink_ms_per_1000 = sink_cpu * 1e6 / delivered;
  result.connections = sinks.accepted();
  if (settings.ingest_rate > 0) {
    result.ingested_per_second = static_cast<double>(ingest.stored()) / ingest.seconds();
    result.ingest_refused = ingest.refused();
  }
  return result;
}

int flag(int argc, char** argv, const char* name, int fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) {
      return std::stoi(argv[i + 1]);
    }
  }
  return fallback;
}

std::string describe(const RunResult& result, int ingest_rate) {
  std::string text = fmt::format(
      "deliveries/s={:.0f} cpu_ms_per_1000={:.1f} sink_ms_per_1000={:.1f} "
      "sink_connections={}",
      result.deliveries_per_second, result.cpu_ms_per_1000, result.sink_ms_per_1000,
      result.connections);
  if (ingest_rate > 0) {
    text += fmt::format(" ingested/s={:.0f} ingest_refused={}", result.ingested_per_second,
                        result.ingest_refused);
  }
  return text;
}

}  // namespace

int main(int argc, char** argv) {
#ifndef NDEBUG
  fmt::print(stderr,
             "WARNING: a debug build; build with `make bench` for figures that mean something\n");
#endif
  Settings settings;
  settings.jobs = flag(argc, argv, "--jobs", settings.jobs);
  settings.in_flight = flag(argc, argv, "--in-flight", settings.in_flight);
  settings.claim_batch = flag(argc, argv, "--claim-batch", settings.claim_batch);
  settings.sink_threads = std::max(1, flag(argc, argv, "--sink-threads", settings.sink_threads));
  settings.ingest_rate = flag(argc, argv, "--ingest-rate", 0);
  settings.seconds = flag(argc, argv, "--seconds", settings.seconds);
  settings.delivery_log = flag(argc, argv, "--delivery-log", settings.delivery_log);
  if (settings.jobs == 0 && settings.ingest_rate == 0) {
    fmt::print(stderr, "nothing to deliver: give --jobs or --ingest-rate\n");
    return 2;
  }
  const int runs = flag(argc, argv, "--runs", 3);
  std::vector<int> destination_counts = {1, 100};
  if (const int d = flag(argc, argv, "--destinations", 0); d > 0) {
    destination_counts = {d};
  }
  for (int destinations : destination_counts) {
    settings.destinations = destinations;
    std::vector<RunResult> results;
    for (int r = 0; r < runs; ++r) {
      results.push_back(run(settings));
      fmt::print("destinations={} run={} {}\n", destinations, r + 1,
                 describe(results.back(), settings.ingest_rate));
      std::fflush(stdout);
    }
    std::sort(results.begin(), results.end(), [](const RunResult& a, const RunResult& b) {
      return a.deliveries_per_second < b.deliveries_per_second;
    });
    fmt::print("destinations={} median {}\n", destinations,
               describe(results[results.size() / 2], settings.ingest_rate));
  }
  return 0;
}
