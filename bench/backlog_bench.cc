// Security Hub findings into Backlog issues, through the whole path: PutEvents over HTTP to a
// hikyaku server in this process (same assembly as `hikyaku serve`), the SQLite store with group
// commit, the delivery engine, and the Backlog target against the Backlog stand-in over loopback.
//
//   backlog_bench [--scenario throughput|burst|all] [--findings N] [--window S]
//
// throughput: N distinct findings (default 1,000; sample 02 with its Id varied) published in
//   PutEvents batches of 10 as fast as the server takes them, to a stand-in without rate limits.
//   Measured: findings/s from the first request to the N-th issue filed. Baseline, same run: the
//   scenario's EventBridge setup (an API destination posting Add Issue for every event, no
//   ledger, no lookup), to the same stand-in. The Backlog target does more per finding (the
//   ledger read, the creation mark and the record, both fsynced), and Backlog's own limit (150
//   updates a minute) is what bounds either in practice.
// burst: N distinct findings (default 500) at once against Backlog's paid-plan budget of 150
//   updates per window, the window scaled from a minute to S seconds (default 10), windows
//   aligned to multiples of S (a per-minute limiter). The engine learns the budget only from the
//   X-RateLimit-* headers. The ideal files 150 per window and the last one right after reset
//   number ceil(N / 150) - 1 (30 s for 500 with S = 10); N / 150 windows (33.3 s) is the
//   average-rate figure. Target: within 5% of the ideal, at most one 429.
//
// Time runs from the first PutEvents request to the arrival at the stand-in of the request that
// filed the last issue.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bus/pipeline.h"
#include "config/config.h"
#include "core/clock.h"
#include "core/json_writer.h"
#include "core/metrics.h"
#include "delivery/dispatcher.h"
#include "integrations/backlog/ticket_target.h"
#include "server/server.h"
#include "store/group_commit.h"
#include "store/sqlite/sqlite_store.h"
#include "testing/backlog_standin.h"
#include "testing/http_client.h"
#include "testing/securityhub_samples.h"
#include "testing/temp_dir.h"

namespace hikyaku {
namespace {

using Clock = std::chrono::steady_clock;

// PutEvents bodies of 10 entries each: sample 02's detail with the finding Id made distinct.
std::vector<std::string> put_events_bodies(int findings) {
  const std::string sample =
      testing::read_file(testing::sample_path("02-fsbp-s3-8-high-failed.json"));
  const std::string detail_start = "\"detail\": ";
  const size_t from = sample.find(detail_start) + detail_start.size();
  const size_t to = sample.rfind('}');
  std::string detail = sample.substr(from, to - from);
  // PutEvents takes the detail as a JSON string.
  const std::string id = "70ad2ccd-03bb-405b-a04f-14a7b6d801b2";
  std::vector<std::string> bodies;
  std::string body;
  for (int i = 0; i < findings; ++i) {
    std::string one = detail;
    for (size_t at = one.find(id); at != std::string::npos; at = one.find(id, at + 1)) {
      one.replace(at, id.size(), fmt::format("{}-{}", id, i));
    }
    if (body.empty()) {
      body = "{\"Entries\":[";
    } else {
      body += ",";
    }
    body +=
        R"({"Source":"aws.securityhub","DetailType":"Security Hub Findings - Imported","Detail":)" +
        json_quote(one) + "}";
    if (i % 10 == 9 || i == findings - 1) {
      bodies.push_back(body + "]}");
      body.clear();
    }
  }
  return bodies;
}

enum class Path { kBacklogTarget, kApiDestination };

struct RunResult {
  double seconds = 0;  // first request to the last issue's request
  int issues = 0;
  int throttled = 0;
  bool complete = false;
};

RunResult run(Path path, int findings, const testing::BacklogStandInOptions& standin_options,
              std::optional<int64_t> start_at_epoch_s) {
  const testing::TempDir temp_dir("backlog-bench");
  const std::filesystem::path directory = temp_dir.path();
  testing::BacklogStandIn backlog(standin_options);

  std::string text = fmt::format(R"(Server: {{ Listen: 127.0.0.1:0 }}
Store: {{ Sqlite: {{ Path: {}/hikyaku.db }} }}
)",
                                 directory.string());
  if (path == Path::kApiDestination) {
    text += fmt::format(R"(Connections:
  - Name: backlog
    AuthorizationType: API_KEY
    AuthParameters:
      ApiKeyAuthParameters: {{ ApiKeyName: dummy-key, ApiKeyValue: dummy-value }}
ApiDestinations:
  - Name: add-issue
    ConnectionName: backlog
    InvocationEndpoint: "{}"
    HttpMethod: POST
    InvocationRateLimitPerSecond: 10000
Rules:
  - Name: findings
    EventPattern: {{ source: [aws.securityhub] }}
    Targets:
      - Id: backlog
        ApiDestination: add-issue
        InputTransformer:
          InputPathsMap: {{ Summary: "$.detail.findings[0].Title", Label: "$.detail.findings[0].Severity.Label" }}
          InputTemplate: '{{"projectId": "{}", "summary": <Summary>, "issueTypeId": "1073742002", "priorityId": "2", "description": "Severity: <Label>"}}'
)",
                        backlog.url("/api/v2/issues?apiKey=") + backlog.api_key(),
                        backlog.project_id());
  } else {
    text += R"(Rules:
  - Name: findings
    EventPattern: { source: [aws.securityhub] }
    Targets:
      - Id: backlog
        Backlog: { Endpoint: "http://127.0.0.1", ApiKey: unused, Project: SEC }
)";
  }
  config::LoadResult loaded = config::load_config_text(text, "bench.yaml");
  if (!loaded.ok()) {
    fmt::print(stderr, "config: {}\n", loaded.errors[0].to_string());
    std::exit(1);
  }
  auto config = std::make_shared<const config::Config>(std::move(*loaded.config));
  MetricsRegistry metrics;
  auto store = std::move(store::SqliteStore::open({.path = config->store.sqlite.path})).value();
  store::GroupCommitter committer(*store, {});
  auto snapshot = bus::Snapshot::build(config, metrics).value();
  bus::Pipeline pipeline(committer, metrics, SystemClock::instance(), snapshot);

  auto endpoints = std::make_shared<delivery::Endpoints>();
  delivery::Endpoint endpoint;
  endpoint.rule = "findings";
  endpoint.target_id = "backlog";
  if (path == Path::kApiDestination) {
    const config::ApiDestination& destination = config->api_destinations[0];
    endpoint.kind = delivery::Endpoint::Kind::kHttp;
    endpoint.destination = destination.name;
    endpoint.url = destination.invocation_endpoint;
    endpoint.rate_limit_per_second = destination.invocation_rate_limit_per_second;
  } else {
    // As cli/wiring.cc assembles a Backlog target.
    namespace backlog_target = integrations::backlog;
    backlog_target::TicketSettings base;
    base.target = "default/findings/backlog";
    base.space.base_url = backlog.url("");
    base.space.api_key = Secret(backlog.api_key());
    base.create_when = [](std::string_view) { return true; };
    backlog_target::Client client(base.space, backlog_target::http_transport());
    Result<backlog_target::TicketSettings> settings = backlog_target::resolve_settings(
        client, {"SEC", "Task", {{"HIGH", "High"}, {"MEDIUM", "Normal"}}, "Closed", "Open"},
        std::move(base));
    if (!settings.has_value()) {
      fmt::print(stderr, "backlog: {}\n", settings.error().message());
      std::exit(1);
    }
    endpoint.kind = delivery::Endpoint::Kind::kHandler;
    endpoint.destination = "backlog:" + backlog.url("");
    endpoint.url = backlog.url("");
    endpoint.rate_limit_per_second = 1000;
    endpoint.max_in_flight = 1;
    endpoint.timeout_ms = 10'000;
    endpoint.handler = std::make_shared<backlog_target::TicketTarget>(
        *store, SystemClock::instance(), std::move(settings).value());
  }
  endpoints->emplace("default/findings/backlog", std::move(endpoint));
  delivery::Dispatcher dispatcher(*store, metrics, SystemClock::instance(), endpoints);
  dispatcher.attach(committer);
  dispatcher.start();
  server::Server server(config->server, pipeline);
  const uint16_t port = server.start().value();

  const std::vector<std::string> bodies = put_events_bodies(findings);
  if (start_at_epoch_s) {
    std::this_thread::sleep_until(
        std::chrono::system_clock::time_point(std::chrono::seconds(*start_at_epoch_s)));
  }
  const auto started = Clock::now();
  testing::HttpClient http("127.0.0.1", port, {.timeout = std::chrono::seconds(30)});
  for (const std::string& body : bodies) {
    const testing::Response answer = http.request(
        "POST", "/",
        {{"Content-Type", "application/x-amz-json-1.1"}, {"X-Amz-Target", "AWSEvents.PutEvents"}},
        body);
    if (answer.status != 200 || answer.body.find("\"FailedEntryCount\":0") == std::string::npos) {
      fmt::print(stderr, "PutEvents failed: {} {}\n", answer.status, answer.body.substr(0, 300));
      std::exit(1);
    }
  }
  RunResult result;
  result.complete = backlog.wait_for_issues(static_cast<size_t>(findings), std::chrono::minutes(5));
  // The moment the last issue's request arrived: its creation time has only seconds, so the
  // clock is read here, right after the wait saw it (wait_for_issues wakes on every change).
  result.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  result.issues = static_cast<int>(backlog.issues().size());
  result.throttled = backlog.throttled_count();
  server.stop(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  committer.stop();
  dispatcher.stop();
  return result;
}

// The fixed-window ideal: `budget` per window from the start, so the last of `findings` goes
// right after reset number ceil(findings / budget) - 1.
double ideal_seconds(int findings, int budget, double window_s) {
  const int resets = (findings + budget - 1) / budget - 1;
  return resets * window_s;
}

int run_scenarios(int argc, char** argv) {
  std::string scenario = "all";
  int findings = 0;
  int window_s = 10;
  for (int i = 1; i < argc; i += 2) {
    if (i + 1 >= argc) {
      fmt::print(stderr,
                 "usage: backlog_bench [--scenario throughput|burst|all] [--findings N] "
                 "[--window S]\n");
      return std::strcmp(argv[i], "--help") == 0 ? 0 : 2;
    }
    if (std::strcmp(argv[i], "--scenario") == 0) {
      scenario = argv[i + 1];
    } else if (std::strcmp(argv[i], "--findings") == 0) {
      findings = std::atoi(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--window") == 0) {
      window_s = std::atoi(argv[i + 1]);
    } else {
      fmt::print(stderr,
                 "usage: backlog_bench [--scenario throughput|burst|all] [--findings N] "
                 "[--window S]\n");
      return 2;
    }
  }
#ifndef NDEBUG
  fmt::print(stderr,
             "WARNING: a debug build; build with `make bench` for figures that mean something\n");
#endif
  bool passed = true;
  if (scenario == "throughput" || scenario == "all") {
    const int n = findings > 0 ? findings : 1000;
    testing::BacklogStandInOptions unlimited;
    unlimited.read_budget = unlimited.update_budget = unlimited.search_budget = 1'000'000'000;
    const RunResult baseline = run(Path::kApiDestination, n, unlimited, std::nullopt);
    const RunResult target = run(Path::kBacklogTarget, n, unlimited, std::nullopt);
    fmt::print(
        "throughput: {} findings  API destination (baseline) {:.0f}/s ({:.2f} s, {} issues)  "
        "Backlog target {:.0f}/s ({:.2f} s, {} issues)  ratio {:.2f}\n",
        n, baseline.issues / baseline.seconds, baseline.seconds, baseline.issues,
        target.issues / target.seconds, target.seconds, target.issues,
        (target.issues / target.seconds) / (baseline.issues / baseline.seconds));
    passed = passed && baseline.complete && target.complete;
  }
  if (scenario == "burst" || scenario == "all") {
    const int n = findings > 0 ? findings : 500;
    constexpr int kBudget = 150;
    testing::BacklogStandInOptions limited;
    limited.window = std::chrono::seconds(window_s);
    limited.aligned_windows = true;
    limited.update_budget = kBudget;
    // Start on a window boundary, a little ahead of it (the setup takes under a second).
    const int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
    const int64_t start_s =
        (now_s / window_s + 1) * window_s + (window_s - now_s % window_s < 3 ? window_s : 0);
    const RunResult burst = run(Path::kBacklogTarget, n, limited, start_s);
    const double ideal = ideal_seconds(n, kBudget, window_s);
    const double over = ideal > 0 ? burst.seconds / ideal - 1 : 0;
    const bool ok = burst.complete && burst.issues == n && over <= 0.05 && burst.throttled <= 1;
    fmt::print(
        "burst: {} findings, {} per {} s window: {:.2f} s, ideal {:.2f} s ({:+.1f}%; average-rate "
        "figure {:.1f} s), issues {}, 429s {}: {}\n",
        n, kBudget, window_s, burst.seconds, ideal, over * 100,
        static_cast<double>(n) / kBudget * window_s, burst.issues, burst.throttled,
        ok ? "PASS" : "FAIL");
    passed = passed && ok;
  }
  return passed ? 0 : 1;
}

}  // namespace
}  // namespace hikyaku

int main(int argc, char** argv) {
  try {
    return hikyaku::run_scenarios(argc, argv);
  } catch (const std::exception& error) {
    fmt::print(stderr, "backlog_bench: {}\n", error.what());
    return 1;
  }
}
