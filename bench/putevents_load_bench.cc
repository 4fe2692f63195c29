// PutEvents load: keep-alive clients send batches of 10 Security Hub-sized events to a real
// hikyaku server (HTTP over loopback, SQLite store with group commit, delivery to a Log target)
// and measure durable ingest throughput and latency.
//
//   putevents_load_bench [--connections 8] [--seconds 5] [--rules 1,100,1000] [--sync FULL|NORMAL]
//
// The server runs in this process (same code as `hikyaku serve`, assembled the same way), so the
// CPU figure covers client and server together. Each rule set is a fresh store; the 1-rule run is
// the baseline the others are compared with.

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <simdjson.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "bus/pipeline.h"
#include "config/config.h"
#include "core/json_writer.h"
#include "delivery/dispatcher.h"
#include "server/server.h"
#include "store/group_commit.h"
#include "store/sqlite/sqlite_store.h"

namespace {

using namespace hikyaku;  // NOLINT(google-build-using-namespace): a bench program

std::string read_file(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// 100 rules on distinct controls, one of which matches the sample; every rule has a Log target.
std::string config_text(int rules, const std::string& directory, bool full_sync) {
  std::string text = fmt::format(
      "Server: {{ Listen: 127.0.0.1:0, Limits: {{ MaxConnections: 4096 }} }}\n"
      "Store: {{ Sqlite: {{ Path: {}/hikyaku.db, Synchronous: {} }} }}\nRules:\n",
      directory, full_sync ? "FULL" : "NORMAL");
  for (int i = 0; i < rules; ++i) {
    const std::string control = i == 0 ? "S3.8" : fmt::format("X.{}", i);
    text += fmt::format(
        "  - Name: rule-{}\n"
        "    EventPattern: {{ source: [aws.securityhub], detail: {{ findings: {{ Compliance: "
        "{{ SecurityControlId: [\"{}\"] }}, Severity: {{ Label: [HIGH, CRITICAL] }} }} }} }}\n"
        "    Targets: [{{ Id: log, Log: {{ Path: {}/deliveries.jsonl }} }}]\n",
        i, control, directory);
  }
  return text;
}

std::string request_for(const std::string& event_path, const std::string& host) {
  const std::string event = read_file(event_path);
  simdjson::dom::parser parser;
  simdjson::dom::element parsed = parser.parse(event);
  JsonWriter entry;
  entry.begin_object();
  entry.key("Source");
  entry.string(std::string_view(parsed["source"]));
  entry.key("DetailType");
  entry.string(std::string_view(parsed["detail-type"]));
  entry.key("Detail");
  entry.string(simdjson::minify(parsed["detail"]));
  entry.end_object();
  std::string body = "{\"Entries\":[";
  for (int i = 0; i < 10; ++i) {
    body += (i == 0 ? "" : ",") + entry.str();
  }
  body += "]}";
  return fmt::format(
      "POST / HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-amz-json-1.1\r\n"
      "X-Amz-Target: AWSEvents.PutEvents\r\nContent-Length: {}\r\n\r\n{}",
      host, body.size(), body);
}

// One keep-alive connection sending the same request until `stop`; records latencies (us).
void client(uint16_t port, const std::string& request, const std::atomic<bool>& stop,
            std::vector<int64_t>& latencies_us, int64_t& accepted, int64_t& failed) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ++failed;
    close(fd);
    return;
  }
  std::string response;
  char buffer[16384];
  while (!stop) {
    const auto started = std::chrono::steady_clock::now();
    if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
      ++failed;
      break;
    }
    response.clear();
    size_t needed = std::string::npos;
    while (needed == std::string::npos || response.size() < needed) {
      const ssize_t n = read(fd, buffer, sizeof buffer);
      if (n <= 0) {
        close(fd);
        ++failed;
        return;
      }
      response.append(buffer, static_cast<size_t>(n));
      const size_t header_end = response.find("\r\n\r\n");
      if (needed == std::string::npos && header_end != std::string::npos) {
        std::string head = response.substr(0, header_end);
        std::transform(head.begin(), head.end(), head.begin(), ::tolower);
        const size_t length = head.find("content-length:");
        needed = header_end + 4 + std::strtoul(head.c_str() + length + 15, nullptr, 10);
      }
    }
    latencies_us.push_back(std::chrono::duration_cast<std::chrono::microseconds>(
                               std::chrono::steady_clock::now() - started)
                               .count());
    if (response.find("\"FailedEntryCount\":0") != std::string::npos) {
      accepted += 10;
    } else {
      ++failed;
    }
  }
  close(fd);
}

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

struct RunResult {
  double entries_per_second = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double cpu_ms_per_1000 = 0;
  int64_t failed = 0;
  int64_t delivered_lines = 0;
  double entries_per_commit = 0;  // all of them: ingest commits and completions alone
};

RunResult run(int rules, int connections, int seconds, bool full_sync) {
  const std::filesystem::path directory =
      std::filesystem::temp_directory_path() / fmt::format("hikyaku-load-{}-{}", getpid(), rules);
  std::filesystem::remove_all(directory);
  std::filesystem::create_directories(directory);

  config::LoadResult loaded =
      config::load_config_text(config_text(rules, directory.string(), full_sync), "bench.yaml");
  if (!loaded.ok()) {
    fmt::print(stderr, "config: {}\n", loaded.errors[0].to_string());
    std::exit(1);
  }
  auto config = std::make_shared<const config::Config>(std::move(*loaded.config));
  MetricsRegistry metrics;
  auto store = std::move(store::SqliteStore::open(
                             {.path = config->store.sqlite.path, .synchronous_full = full_sync}))
                   .value();
  store::GroupCommitter committer(*store);
  auto snapshot = bus::Snapshot::build(config, metrics).value();
  bus::Pipeline pipeline(committer, metrics, SystemClock::instance(), snapshot);
  auto endpoints = std::make_shared<delivery::Endpoints>();
  for (const config::Rule& rule : config->rules) {
    delivery::Endpoint endpoint;
    endpoint.kind = delivery::Endpoint::Kind::kLog;
    endpoint.rule = rule.name;
    endpoint.target_id = "log";
    endpoint.log_path = rule.targets[0].log->path;
    endpoints->emplace(bus::target_key("default", rule.name, "log"), endpoint);
  }
  delivery::Dispatcher dispatcher(*store, metrics, SystemClock::instance(), endpoints);
  dispatcher.attach(committer);
  dispatcher.start();
  server::Server server(config->server, pipeline);
  const uint16_t port = server.start().value();

  const std::string request = request_for(
      std::string(HIKYAKU_TEST_DATA_DIR) + "/data/securityhub/02-fsbp-s3-8-high-failed.json",
      fmt::format("127.0.0.1:{}", port));
  std::atomic<bool> stop{false};
  std::vector<std::vector<int64_t>> latencies(static_cast<size_t>(connections));
  std::vector<int64_t> accepted(static_cast<size_t>(connections), 0);
  std::vector<int64_t> failed(static_cast<size_t>(connections), 0);
  std::vector<std::thread> clients;
  const double cpu_before = cpu_seconds();
  const int64_t commits_before = committer.commits();
  const auto started = std::chrono::steady_clock::now();
  for (size_t i = 0; i < static_cast<size_t>(connections); ++i) {
    clients.emplace_back([&, i] {
      pthread_setname_np(pthread_self(), "bench-client");
      client(port, request, stop, latencies[i], accepted[i], failed[i]);
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  stop = true;
  for (std::thread& thread : clients) {
    thread.join();
  }
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const double cpu = cpu_seconds() - cpu_before;
  const int64_t commits = committer.commits() - commits_before;

  server.stop(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  committer.stop();
  dispatcher.stop();

  RunResult result;
  std::vector<int64_t> all;
  int64_t total = 0;
  for (size_t i = 0; i < static_cast<size_t>(connections); ++i) {
    all.insert(all.end(), latencies[i].begin(), latencies[i].end());
    total += accepted[i];
    result.failed += failed[i];
  }
  std::sort(all.begin(), all.end());
  if (!all.empty()) {
    result.p50_ms = static_cast<double>(all[all.size() / 2]) / 1000.0;
    result.p99_ms =
        static_cast<double>(all[std::min(all.size() - 1, all.size() * 99 / 100)]) / 1000.0;
  }
  result.entries_per_second = static_cast<double>(total) / elapsed;
  result.entries_per_commit =
      commits > 0 ? static_cast<double>(total) / static_cast<double>(commits) : 0;
  result.cpu_ms_per_1000 = total > 0 ? cpu * 1000.0 / static_cast<double>(total) * 1000.0 : 0;
  std::ifstream deliveries(directory / "deliveries.jsonl");
  result.delivered_lines = std::count(std::istreambuf_iterator<char>(deliveries),
                                      std::istreambuf_iterator<char>(), '\n');
  std::filesystem::remove_all(directory);
  return result;
}

}  // namespace

int main(int argc, char** argv) {
#ifndef NDEBUG
  fmt::print(stderr,
             "WARNING: putevents_load_bench built without optimisation; figures mean nothing\n");
#endif
  int connections = 8;
  int seconds = 5;
  bool full_sync = true;
  std::vector<int> rule_counts = {1, 100, 1000};
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--connections") {
      connections = std::stoi(value);
    } else if (flag == "--seconds") {
      seconds = std::stoi(value);
    } else if (flag == "--sync") {
      full_sync = value != "NORMAL";
    } else if (flag == "--rules") {
      rule_counts.clear();
      std::stringstream list(value);
      std::string item;
      while (std::getline(list, item, ',')) {
        rule_counts.push_back(std::stoi(item));
      }
    }
  }
  fmt::print(
      "PutEvents load: {} keep-alive connections, batches of 10 x ~3 KB Security Hub "
      "events, {} s per run, SQLite synchronous={}, Log target\n",
      connections, seconds, full_sync ? "FULL" : "NORMAL");
  double baseline = 0;
  for (int rules : rule_counts) {
    const RunResult result = run(rules, connections, seconds, full_sync);
    if (baseline == 0) {
      baseline = result.entries_per_second;
    }
    fmt::print(
        "rules={} entries_per_s={:.0f} ratio_to_{}_rule={:.2f} p50_ms={:.2f} p99_ms={:.2f} "
        "cpu_ms_per_1000_entries={:.1f} entries_per_commit={:.1f} failed_requests={} "
        "delivered_so_far={}\n",
        rules, result.entries_per_second, rule_counts[0], result.entries_per_second / baseline,
        result.p50_ms, result.p99_ms, result.cpu_ms_per_1000, result.entries_per_commit,
        result.failed, result.delivered_lines);
  }
  return 0;
}
