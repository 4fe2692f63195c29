// The admin API's cost on a large dead-letter queue (docs/operations.md §6): paging through
// 100,000 letters (each with its ~3 KB Security Hub event), unfiltered and filtered, and
// redriving 10,000 of them, rendered again and as recorded. Each call goes through
// admin::AdminApi::handle() exactly as a server's admin thread runs it (JSON, redaction
// included), over a real SQLite store.
//
//   admin_bench [--letters 100000] [--page 100] [--redrive 10000]
//
// Redrive's effect on live ingest is measured by putevents_load_bench --redrive-letters N.

#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "admin/admin_api.h"
#include "bus/pipeline.h"
#include "config/config.h"
#include "store/group_commit.h"
#include "store/sqlite/sqlite_store.h"
#include "testing/temp_dir.h"

namespace {

using namespace hikyaku;  // NOLINT(google-build-using-namespace): a bench program
using Clock = std::chrono::steady_clock;

constexpr std::string_view kConfig = R"(Rules:
  - Name: r1
    EventPattern: { source: [aws.securityhub] }
    Targets:
      - Id: file
        Log: { Path: out1.jsonl }
        InputTransformer:
          InputPathsMap: { title: "$.detail.findings[0].Title" }
          InputTemplate: '{"title": <title>}'
  - Name: r2
    EventPattern: { source: [aws.securityhub] }
    Targets: [{ Id: file, Log: { Path: out2.jsonl } }]
)";

std::string read_file(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// `count` dead letters, alternately of r1 and r2, each keeping the sample event.
void fill(store::Store& store, int count, const std::string& event) {
  auto shared = std::make_shared<const std::string>(event);
  for (int done = 0; done < count;) {
    store::Batch batch;
    for (int i = 0; i < 1000 && done < count; ++i, ++done) {
      batch.dead_letters.push_back(
          {{done % 2 == 0 ? "default/r1/file" : "default/r2/file", "event-" + std::to_string(done),
            R"({"title": "old"})", "", 1'700'000'000'000, shared},
           {"HTTP_500", R"(HTTP_500: {"errors":[{"message":"unavailable"}]})",
            "MaximumRetryAttempts"}});
    }
    if (Status appended = store.append(batch); !appended.ok()) {
      fmt::print(stderr, "fill: {}\n", appended.message());
      std::exit(1);
    }
  }
}

struct PageTimes {
  int pages = 0;
  int letters = 0;
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
};

PageTimes page_through(admin::AdminApi& api, const std::string& filter, int page) {
  std::vector<double> times;
  PageTimes result;
  std::string token;
  simdjson::dom::parser parser;
  for (;;) {
    std::string query = fmt::format("limit={}", page);
    if (!filter.empty()) {
      query += "&" + filter;
    }
    if (!token.empty()) {
      query += "&next_token=" + token;
    }
    const auto start = Clock::now();
    const admin::Response response = api.handle({"GET", "/dead-letters", query, ""});
    times.push_back(ms_since(start));
    simdjson::dom::element root = parser.parse(response.body);
    result.letters += static_cast<int>(root["DeadLetters"].get_array().size());
    std::string_view next;
    if (root["NextToken"].get(next) != simdjson::SUCCESS) {
      break;
    }
    token = std::string(next);
  }
  std::sort(times.begin(), times.end());
  result.pages = static_cast<int>(times.size());
  result.p50_ms = times[times.size() / 2];
  result.p99_ms = times[std::min(times.size() - 1, times.size() * 99 / 100)];
  result.max_ms = times.back();
  return result;
}

int run(int argc, char** argv) {
#ifndef NDEBUG
  fmt::print(stderr, "WARNING: admin_bench built without optimisation; figures mean nothing\n");
#endif
  int letters = 100'000;
  int page = 100;
  int redrive = 10'000;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const int value = std::stoi(argv[i + 1]);
    (flag == "--letters" ? letters : flag == "--page" ? page : redrive) = value;
  }
  const std::string event = read_file(std::string(HIKYAKU_TEST_DATA_DIR) +
                                      "/data/securityhub/02-fsbp-s3-8-high-failed.json");
  config::LoadResult loaded = config::load_config_text(kConfig, "bench.yaml");
  if (!loaded.ok()) {
    fmt::print(stderr, "config: {}\n", loaded.errors[0].to_string());
    return 1;
  }
  auto config = std::make_shared<const config::Config>(std::move(*loaded.config));
  MetricsRegistry metrics;
  std::shared_ptr<const bus::Snapshot> snapshot = bus::Snapshot::build(config, metrics).value();

  const auto api_for = [&](store::Store& store, store::GroupCommitter* committer = nullptr) {
    return std::make_unique<admin::AdminApi>(admin::Sources{
        .store = &store,
        .clock = &SystemClock::instance(),
        .snapshot = [&] { return snapshot; },
        .redactor = {},
        .metrics = nullptr,
        .endpoints = {},
        .committer = committer,
    });
  };

  {
    const testing::TempDir dir("admin-bench");
    auto store = store::SqliteStore::open({.path = dir.file("hikyaku.db")}).value();
    auto start = Clock::now();
    fill(*store, letters, event);
    fmt::print("filled {} dead letters ({} B event each) in {:.0f} ms\n", letters, event.size(),
               ms_since(start));
    auto api = api_for(*store);
    for (const std::string filter :
         {"", "rule=r1", "error_code=HTTP_500&target=default%2Fr2%2Ffile"}) {
      const PageTimes times = page_through(*api, filter, page);
      fmt::print(
          "list filter=\"{}\" page={} pages={} letters={} page_ms_p50={:.2f} "
          "page_ms_p99={:.2f} page_ms_max={:.2f}\n",
          filter, page, times.pages, times.letters, times.p50_ms, times.p99_ms, times.max_ms);
    }
  }
  // On a stopped server's store (the CLI's --config), and through an idle server's committer
  // (no ingest beside it, so unpaced; with ingest see putevents_load_bench --redrive-letters).
  for (const bool through_committer : {false, true}) {
    for (const bool as_recorded : {false, true}) {
      const testing::TempDir dir("admin-bench");
      auto store = store::SqliteStore::open({.path = dir.file("hikyaku.db")}).value();
      fill(*store, redrive, event);
      std::optional<store::GroupCommitter> committer;
      if (through_committer) {
        committer.emplace(*store);
      }
      auto api = api_for(*store, committer ? &*committer : nullptr);
      const auto start = Clock::now();
      const admin::Response response =
          api->handle({"POST", "/dead-letters/redrive", "",
                       as_recorded ? R"({"All": true, "AsRecorded": true})" : R"({"All": true})"});
      const double ms = ms_since(start);
      fmt::print("redrive {} letters {} {}: {:.0f} ms ({:.0f} letters/s) answer={}\n", redrive,
                 as_recorded ? "as recorded" : "rendered again",
                 through_committer ? "through an idle server's committer" : "on a stopped store",
                 ms, redrive / ms * 1000.0, response.body.substr(0, 80));
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& error) {  // a malformed number in the arguments, for one
    std::fprintf(stderr, "admin_bench: %s\n", error.what());
    return 2;
  }
}
