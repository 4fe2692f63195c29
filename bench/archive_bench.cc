// What an archive costs ingest: PutEvents-sized calls (10 Security Hub events each) from several
// threads through the pipeline and the SQLite store with group commit, on a bus with one rule,
// with and without an archive (every event archived, or by a pattern that matches them all),
// in alternating runs on fresh stores so that neither side gets the warmer disk or cache.
//
//   archive_bench [--seconds 3] [--rounds 3] [--threads 8] [--sync FULL|NORMAL]
//
// Prints entries/s per run, each side's median and the ratio (with / without). No delivery runs:
// the jobs stay pending, the same for both sides.

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>
#include <vector>

#include "bus/pipeline.h"
#include "config/config.h"
#include "core/clock.h"
#include "store/group_commit.h"
#include "store/sqlite/sqlite_store.h"
#include "testing/temp_dir.h"

namespace {

using namespace hikyaku;  // NOLINT(google-build-using-namespace): a bench program

std::string read_file(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

enum class Side { kNoArchive, kArchiveAll, kArchiveByPattern };

const char* side_name(Side side) {
  switch (side) {
    case Side::kNoArchive:
      return "no archive";
    case Side::kArchiveAll:
      return "archive (all events)";
    case Side::kArchiveByPattern:
      return "archive (by pattern)";
  }
  return "";
}

std::string config_text(Side side, const std::string& directory, bool full_sync) {
  std::string text = fmt::format(
      "Store: {{ Sqlite: {{ Path: {}/hikyaku.db, Synchronous: {} }} }}\n"
      "Rules:\n"
      "  - Name: findings\n"
      "    EventPattern: {{ source: [aws.securityhub] }}\n"
      "    Targets: [{{ Id: log, Log: {{ Path: {}/out.jsonl }} }}]\n",
      directory, full_sync ? "FULL" : "NORMAL", directory);
  if (side == Side::kArchiveAll) {
    text += "Archives: [{ ArchiveName: all, EventBusName: default }]\n";
  } else if (side == Side::kArchiveByPattern) {
    text +=
        "Archives: [{ ArchiveName: findings, EventBusName: default, EventPattern: { source: "
        "[aws.securityhub], detail-type: [Security Hub Findings - Imported] } }]\n";
  }
  return text;
}

// Entries per second through `side` for `seconds`, from `threads` threads.
double run(Side side, int seconds, int threads, bool full_sync, const Envelope& sample) {
  testing::TempDir directory("archive-bench");
  config::LoadResult loaded =
      config::load_config_text(config_text(side, directory.path(), full_sync), "bench");
  if (!loaded.ok()) {
    fmt::print(stderr, "config: {}\n", loaded.errors[0].to_string());
    std::exit(2);
  }
  const auto config = std::make_shared<const config::Config>(std::move(*loaded.config));
  auto store =
      store::SqliteStore::open({.path = config->store.sqlite.path, .synchronous_full = full_sync});
  if (!store.has_value()) {
    fmt::print(stderr, "store: {}\n", store.error().message());
    std::exit(2);
  }
  MetricsRegistry metrics;
  store::GroupCommitter committer(**store);
  auto snapshot = bus::Snapshot::build(config, metrics);
  bus::Pipeline pipeline(committer, metrics, SystemClock::instance(), *snapshot);

  std::atomic<bool> stop{false};
  std::atomic<int64_t> entries{0};
  std::vector<std::thread> workers;
  workers.reserve(static_cast<size_t>(threads));
  const auto start = std::chrono::steady_clock::now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      int64_t n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        std::vector<Envelope> call(10, sample);
        for (size_t i = 0; i < call.size(); ++i) {
          call[i].id = fmt::format("{}-{}-{}", t, n, i);
        }
        std::promise<size_t> answered;
        pipeline.ingest("default", std::move(call), [&](std::vector<Status> statuses) {
          answered.set_value(static_cast<size_t>(std::count_if(
              statuses.begin(), statuses.end(), [](const Status& s) { return s.ok(); })));
        });
        entries += static_cast<int64_t>(answered.get_future().get());
        ++n;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  stop = true;
  for (std::thread& worker : workers) {
    worker.join();
  }
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  committer.stop();
  return static_cast<double>(entries.load()) / elapsed;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
#ifndef NDEBUG
  fmt::print(stderr, "warning: a debug build; measure a Release build (make bench)\n");
#endif
  int seconds = 3;
  int rounds = 3;
  int threads = 8;
  bool full_sync = true;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--seconds") {
      seconds = std::stoi(value);
    } else if (flag == "--rounds") {
      rounds = std::stoi(value);
    } else if (flag == "--threads") {
      threads = std::stoi(value);
    } else if (flag == "--sync") {
      full_sync = value != "NORMAL";
    } else {
      fmt::print(stderr, "unknown flag {}\n", flag);
      return 2;
    }
  }
  Result<Envelope> sample =
      parse_envelope(read_file(std::string(HIKYAKU_TEST_DATA_DIR) +
                               "/data/securityhub/01-fsbp-ec2-19-critical-failed.json"));
  if (!sample.has_value()) {
    fmt::print(stderr, "sample: {}\n", sample.error().message());
    return 2;
  }
  fmt::print(
      "archive_bench: {} threads, calls of 10 events ({} bytes each), {} s runs, {}, "
      "{} rounds\n",
      threads, serialize_envelope(*sample).size(), seconds,
      full_sync ? "Synchronous FULL" : "Synchronous NORMAL", rounds);
  const Side sides[] = {Side::kNoArchive, Side::kArchiveAll, Side::kArchiveByPattern};
  std::vector<double> results[3];
  for (int round = 0; round < rounds; ++round) {
    for (int s = 0; s < 3; ++s) {
      // Alternate the order each round as well.
      const int index = round % 2 == 0 ? s : 2 - s;
      const double rate = run(sides[index], seconds, threads, full_sync, *sample);
      results[index].push_back(rate);
      fmt::print("  round {} {:<22} {:>9.0f} entries/s\n", round + 1, side_name(sides[index]),
                 rate);
    }
  }
  const double baseline = median(results[0]);
  for (int s = 0; s < 3; ++s) {
    fmt::print("median {:<22} {:>9.0f} entries/s  ratio {:.3f}\n", side_name(sides[s]),
               median(results[s]), median(results[s]) / baseline);
  }
  return 0;
}
