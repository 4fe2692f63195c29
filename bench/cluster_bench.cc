// Durable ingest on the two store backends, in one run: real `hikyaku serve` processes take
// PutEvents batches of 10 Security Hub events (about 3.5 KB each) over keep-alive loopback
// connections and deliver them to a Log target, on
//
//   sqlite     one node, its SQLite store (Synchronous FULL), the baseline
//   js-1node   one node on a 3-server NATS JetStream cluster, 3 replicas
//   js-2nodes  two nodes on the same cluster, the connections split between them
//
//   cluster_bench [--connections 16] [--seconds 10] [--rounds 2]
//
// Rounds alternate the three setups (the order reversed every other round); each JetStream run
// gets a fresh stream prefix, so it starts on empty streams. Reported per run: accepted entries/s
// (an entry counts once PutEvents answered it accepted, which on JetStream means stored on a
// quorum of replicas), request latency p50/p99, and the CPU used by the hikyaku processes and by
// the nats-server processes per 1,000 entries, from which docs/jetstream.md estimates a real
// three-machine deployment. Everything shares this machine's cores: client, nodes and servers.

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "testing/http_client.h"
#include "testing/nats_cluster.h"
#include "testing/process.h"
#include "testing/securityhub_samples.h"
#include "testing/temp_dir.h"

namespace hikyaku {
namespace {

struct Options {
  int connections = 16;
  int seconds = 10;
  int rounds = 2;
};

// One PutEvents body: 10 entries of the Security Hub sample.
std::string put_events_body() {
  return "{\"Entries\":" +
         testing::put_events_entries(
             std::vector<std::string>(10, "01-fsbp-ec2-19-critical-failed.json")) +
         "}";
}

// CPU seconds (user + system) a process has used; 0 when it is gone.
double cpu_seconds(int pid) {
  std::ifstream stat(fmt::format("/proc/{}/stat", pid));
  std::string text;
  std::getline(stat, text);
  const size_t close = text.rfind(')');
  if (close == std::string::npos) {
    return 0;
  }
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  unsigned long long utime = 0;
  unsigned long long stime = 0;
  for (int i = 3; fields >> field; ++i) {  // field 3 is the state
    if (i == 14) {
      utime = std::stoull(field);
    } else if (i == 15) {
      stime = std::stoull(field);
      break;
    }
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Every nats-server process's CPU seconds, summed (the cluster's three, started by this bench).
double nats_cpu_seconds() {
  double total = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) {
      continue;
    }
    std::ifstream comm(entry.path() / "comm");
    std::string command;
    std::getline(comm, command);
    if (command == "nats-server") {
      total += cpu_seconds(std::stoi(name));
    }
  }
  return total;
}

std::string config_text(const std::string& store, const std::string& log_path) {
  return fmt::format(R"(Server:
  Listen: 127.0.0.1:0
Store:
{}
Rules:
  - Name: findings
    EventPattern: {{ source: [aws.securityhub] }}
    Targets: [{{ Id: log, Log: {{ Path: {} }} }}]
)",
                     store, log_path);
}

struct RunResult {
  double entries_per_second = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double node_cpu_ms_per_1000 = 0;
  double nats_cpu_ms_per_1000 = 0;
  int64_t failed_requests = 0;
};

RunResult run(const Options& options, const std::vector<std::string>& configs,
              const testing::TempDir& dir, int run_number) {
  std::vector<std::unique_ptr<testing::ChildProcess>> nodes;
  std::vector<std::string> urls;
  for (size_t i = 0; i < configs.size(); ++i) {
    const std::string folder = fmt::format("{}/run{}-node{}", dir.path(), run_number, i);
    std::filesystem::create_directories(folder);
    std::ofstream(folder + "/hikyaku.yaml") << configs[i];
    nodes.push_back(std::make_unique<testing::ChildProcess>(
        std::vector<std::string>{HIKYAKU_BINARY, "serve", "--config", "hikyaku.yaml"},
        std::vector<std::pair<std::string, std::string>>{}, folder));
    const std::string url = nodes.back()->wait_for_line("listening ", 60'000);
    if (url.empty()) {
      std::fprintf(stderr, "node did not start:\n%s\n", nodes.back()->err().c_str());
      std::exit(1);
    }
    urls.push_back(url);
  }
  const std::string body = put_events_body();
  std::atomic<bool> stop{false};
  std::vector<std::vector<int64_t>> latencies(options.connections);
  std::vector<int64_t> accepted(options.connections, 0);
  std::vector<int64_t> failed(options.connections, 0);
  double node_cpu_before = 0;
  for (const auto& node : nodes) {
    node_cpu_before += cpu_seconds(node->pid());
  }
  const double nats_cpu_before = nats_cpu_seconds();
  const auto started = std::chrono::steady_clock::now();
  std::vector<std::thread> clients;
  clients.reserve(options.connections);
  for (int c = 0; c < options.connections; ++c) {
    clients.emplace_back([&, c] {
      testing::HttpClient http = testing::HttpClient::from_url(urls[c % urls.size()]);
      const testing::Headers headers{{"Content-Type", "application/x-amz-json-1.1"},
                                     {"X-Amz-Target", "AWSEvents.PutEvents"}};
      while (!stop.load(std::memory_order_relaxed)) {
        const auto sent = std::chrono::steady_clock::now();
        const testing::Response response = http.request("POST", "/", headers, body);
        latencies[c].push_back(std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::steady_clock::now() - sent)
                                   .count());
        if (response.status == 200 &&
            response.body.find("\"FailedEntryCount\":0") != std::string::npos) {
          accepted[c] += 10;
        } else {
          ++failed[c];
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(options.seconds));  // the measured run
  stop = true;
  for (std::thread& client : clients) {
    client.join();
  }
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  double node_cpu = -node_cpu_before;
  for (const auto& node : nodes) {
    node_cpu += cpu_seconds(node->pid());
  }
  const double nats_cpu = nats_cpu_seconds() - nats_cpu_before;
  std::vector<int> exit_codes;
  for (auto& node : nodes) {
    node->signal(SIGTERM);
    exit_codes.push_back(node->wait(60'000));
  }
  std::vector<int64_t> all;
  int64_t total_accepted = 0;
  RunResult result;
  for (int c = 0; c < options.connections; ++c) {
    all.insert(all.end(), latencies[c].begin(), latencies[c].end());
    total_accepted += accepted[c];
    result.failed_requests += failed[c];
  }
  std::sort(all.begin(), all.end());
  if (!all.empty()) {
    result.p50_ms = static_cast<double>(all[all.size() / 2]) / 1000.0;
    result.p99_ms = static_cast<double>(all[all.size() * 99 / 100]) / 1000.0;
  }
  if (result.failed_requests > 0) {  // say why, from the nodes' own words
    for (size_t i = 0; i < nodes.size(); ++i) {
      const std::string log = nodes[i]->err();
      std::fprintf(stderr, "node %zu (exit %d), the end of its log:\n%s\n", i, exit_codes[i],
                   log.substr(log.size() > 3000 ? log.size() - 3000 : 0).c_str());
    }
  }
  result.entries_per_second = static_cast<double>(total_accepted) / elapsed;
  if (total_accepted > 0) {
    result.node_cpu_ms_per_1000 = node_cpu * 1e6 / static_cast<double>(total_accepted);
    result.nats_cpu_ms_per_1000 = nats_cpu * 1e6 / static_cast<double>(total_accepted);
  }
  return result;
}

int parse_int(const char* text) {
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || value <= 0) {
    std::fprintf(stderr, "not a positive whole number: %s\n", text);
    std::exit(2);
  }
  return static_cast<int>(value);
}

int bench_main(int argc, char** argv) {
  Options options;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--connections") {
      options.connections = parse_int(argv[i + 1]);
    } else if (flag == "--seconds") {
      options.seconds = parse_int(argv[i + 1]);
    } else if (flag == "--rounds") {
      options.rounds = parse_int(argv[i + 1]);
    } else {
      std::fprintf(stderr, "usage: cluster_bench [--connections N] [--seconds N] [--rounds N]\n");
      return 2;
    }
  }
  testing::NatsCluster cluster(3);
  if (std::string failure = cluster.start(); !failure.empty()) {
    std::fprintf(stderr, "the NATS cluster did not start: %s\n", failure.c_str());
    return 1;
  }
  std::string servers;
  for (int i = 0; i < cluster.size(); ++i) {
    servers += (i == 0 ? "" : ", ") + cluster.url(i);
  }
  const testing::TempDir dir("cluster-bench");
  std::printf("%d connections, %d s per run, PutEvents of 10 entries (~3.5 KB each), Log target\n",
              options.connections, options.seconds);
  std::printf("%-10s %5s %12s %9s %9s %16s %16s %7s\n", "setup", "round", "entries/s", "p50 ms",
              "p99 ms", "node CPU ms/1k", "NATS CPU ms/1k", "failed");
  const char* names[] = {"sqlite", "js-1node", "js-2nodes"};
  std::vector<std::vector<RunResult>> results(3);
  int run_number = 0;
  for (int round = 0; round < options.rounds; ++round) {
    for (int k = 0; k < 3; ++k) {
      const int setup = round % 2 == 0 ? k : 2 - k;
      ++run_number;
      std::vector<std::string> configs;
      if (setup == 0) {
        configs.push_back(
            config_text(fmt::format("  Sqlite: {{ Path: {}/run{}.db }}", dir.path(), run_number),
                        fmt::format("{}/run{}.jsonl", dir.path(), run_number)));
      } else {
        const std::string store =
            fmt::format("  Jetstream: {{ Servers: [{}], Replicas: 3, StreamPrefix: BENCH{} }}",
                        servers, run_number);
        for (int node = 0; node < setup; ++node) {
          configs.push_back(
              config_text(store, fmt::format("{}/run{}-{}.jsonl", dir.path(), run_number, node)));
        }
      }
      const RunResult result = run(options, configs, dir, run_number);
      results[setup].push_back(result);
      std::printf("%-10s %5d %12.0f %9.2f %9.2f %16.1f %16.1f %7lld\n", names[setup], round + 1,
                  result.entries_per_second, result.p50_ms, result.p99_ms,
                  result.node_cpu_ms_per_1000, result.nats_cpu_ms_per_1000,
                  static_cast<long long>(result.failed_requests));
      std::fflush(stdout);
    }
  }
  std::printf("\nratios to sqlite, round by round (entries/s):\n");
  for (int round = 0; round < options.rounds; ++round) {
    std::printf("  round %d: js-1node %.2f, js-2nodes %.2f, js-2nodes / js-1node %.2f\n", round + 1,
                results[1][round].entries_per_second / results[0][round].entries_per_second,
                results[2][round].entries_per_second / results[0][round].entries_per_second,
                results[2][round].entries_per_second / results[1][round].entries_per_second);
  }
  return 0;
}

}  // namespace
}  // namespace hikyaku

int main(int argc, char** argv) { return hikyaku::bench_main(argc, argv); }
