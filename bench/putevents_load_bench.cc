// PutEvents load: keep-alive connections send batches of 10 Security Hub-sized events to a real
// hikyaku server (HTTP over loopback, SQLite store with group commit, delivery to a Log target)
// and measure durable ingest throughput and latency.
//
//   putevents_load_bench [--connections 8,32] [--seconds 5] [--rules 1,100,1000]
//                        [--sync FULL|NORMAL] [--targets 1] [--match-all] [--entry-kb 0]
//                        [--max-queued-mib 256] [--input-transformer]
//                        [--redrive-letters 10000] [--pairs 3]
//
// Fan-out: `--rules 20 --targets 5 --match-all --entry-kb 25 --connections 100` makes every event
// match all 20 rules (5 Log targets each: 100 deliveries per event) with ~250 KB requests. The
// peak resident memory (VmHWM) and the requests refused with ThrottlingException are reported;
// `--max-queued-mib` sets the ingest's queued-bytes bound. `--input-transformer` gives each Log
// target an InputTransformer (a Backlog-style body of the finding's title, severity and id), so
// each delivery's body differs from its event, which the store then keeps beside it.
//
// With few connections a run measures the latency of each commit (every connection waits for
// its answer before it sends again); with more, requests share commits and the CPU is the limit.
//
// `--redrive-letters N` measures an operator's redrive against live ingest: each run's store
// starts with N dead letters (of the first rule's target, each with its event), and runs
// alternate (`--pairs` times) between leaving them and redriving them all through the admin API
// (rendered again, as an operator's `hikyaku dlq redrive --all` does) as the load starts; the
// redriven letters are then delivered beside the live events. A run with a redrive lasts until
// the redrive is answered (the admin API paces it on a busy server), at least `--seconds`.
// Reported: entries/s of each kind of run and their ratio, and how long the redrive took.
//
// The server runs in this process (same code as `hikyaku serve`, assembled the same way), so the
// CPU figure covers client and server together. Each rule set is a fresh store; the 1-rule run is
// the baseline the others are compared with.

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <simdjson.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>
#include <vector>

#include "admin/admin_api.h"
#include "bus/pipeline.h"
#include "config/config.h"
#include "core/json_writer.h"
#include "delivery/dispatcher.h"
#include "server/server.h"
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

struct Shape {
  int targets = 1;             // Log targets per rule
  bool match_all = false;      // every rule matches every event (fan-out) instead of one rule
  int entry_kb = 0;            // pads each entry's Detail to about this size (0: the sample as is)
  int64_t max_queued_mib = 0;  // 0: the default bound
  bool input_transformer = false;
  int redrive_letters = 0;  // dead letters in the store at the start of each run
  int pairs = 3;            // with --redrive-letters: runs without and with a redrive
};

// `count` dead letters of `target`, each keeping `event`.
void fill_dead_letters(store::Store& store, const std::string& target, int count,
                       const std::string& event) {
  auto shared = std::make_shared<const std::string>(event);
  for (int done = 0; done < count;) {
    store::Batch batch;
    for (int i = 0; i < 1000 && done < count; ++i, ++done) {
      batch.dead_letters.push_back({{target, "letter-" + std::to_string(done), "{}", "",
                                     SystemClock::instance().now_ms(), shared},
                                    {"HTTP_500", "HTTP_500: unavailable", "MaximumRetryAttempts"}});
    }
    if (Status appended = store.append(batch); !appended.ok()) {
      fmt::print(stderr, "dead letters: {}\n", appended.message());
      std::exit(1);
    }
  }
}

// 100 rules on distinct controls, one of which matches the sample (all of them with
// --match-all); every rule has `targets` Log targets.
std::string config_text(int rules, const std::string& directory, bool full_sync,
                        const Shape& shape) {
  std::string text = fmt::format(
      "Server: {{ Listen: 127.0.0.1:0, Limits: {{ MaxConnections: 4096 }} }}\n"
      "Store: {{ Sqlite: {{ Path: {}/hikyaku.db, Synchronous: {} }} }}\nRules:\n",
      directory, full_sync ? "FULL" : "NORMAL");
  for (int i = 0; i < rules; ++i) {
    const std::string control = i == 0 || shape.match_all ? "S3.8" : fmt::format("X.{}", i);
    text += fmt::format(
        "  - Name: rule-{}\n"
        "    EventPattern: {{ source: [aws.securityhub], detail: {{ findings: {{ Compliance: "
        "{{ SecurityControlId: [\"{}\"] }}, Severity: {{ Label: [HIGH, CRITICAL] }} }} }} }}\n"
        "    Targets:\n",
        i, control);
    for (int t = 0; t < shape.targets; ++t) {
      text += fmt::format("      - Id: log{}\n        Log: {{ Path: {}/deliveries.jsonl }}\n", t,
                          directory);
      if (shape.input_transformer) {
        text +=
            "        InputTransformer:\n"
            "          InputPathsMap:\n"
            "            title: $.detail.findings[0].Title\n"
            "            severity: $.detail.findings[0].Severity.Label\n"
            "            id: $.detail.findings[0].Id\n"
            "          InputTemplate: '{\"summary\": \"[<severity>] <title>\", "
            "\"description\": \"Finding <id>\", \"priorityId\": 2}'\n";
      }
    }
  }
  return text;
}

std::string request_for(const std::string& event_path, const std::string& host, int entry_kb) {
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
  std::string detail = simdjson::minify(parsed["detail"]);
  const size_t wanted = static_cast<size_t>(entry_kb) * 1024;
  if (detail.size() + 16 < wanted) {  // {"...", "padding":"xxx"}
    detail.pop_back();
    detail += R"(,"padding":")" + std::string(wanted - detail.size() - 14, 'x') + R"("})";
  }
  entry.string(detail);
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

// One client thread drives every keep-alive connection with epoll, as wrk does: each connection
// sends the request, waits for the whole response, records its latency (us) and sends again,
// until `stop`. A thread per connection would put 8-32 more threads on the 2 CPUs the server
// needs, and their scheduling delays into the latencies.
struct ClientTotals {
  std::vector<int64_t> latencies_us;
  int64_t accepted = 0;
  int64_t failed = 0;
  int64_t throttled = 0;  // requests whose entries were refused with ThrottlingException
};

void drive_connections(uint16_t port, int connections, const std::string& request,
                       const std::atomic<bool>& stop, ClientTotals& totals) {
  struct Connection {
    int fd = -1;
    size_t sent = 0;  // bytes of the request written
    std::string response;
    size_t needed = std::string::npos;  // response bytes expected, once the head is read
    std::chrono::steady_clock::time_point started;
  };
  const int epoll = epoll_create1(EPOLL_CLOEXEC);
  std::vector<Connection> open(static_cast<size_t>(connections));
  auto send_more = [&](Connection& c) {
    while (c.sent < request.size()) {
      const ssize_t n =
          ::send(c.fd, request.data() + c.sent, request.size() - c.sent, MSG_NOSIGNAL);
      if (n <= 0) {
        return n < 0 && errno == EAGAIN;
      }
      c.sent += static_cast<size_t>(n);
    }
    return true;
  };
  auto start_request = [&](Connection& c) {
    c.sent = 0;
    c.response.clear();
    c.needed = std::string::npos;
    c.started = std::chrono::steady_clock::now();
    return send_more(c);
  };
  for (size_t i = 0; i < open.size(); ++i) {
    Connection& c = open[i];
    c.fd = socket(AF_INET, SOCK_STREAM, 0);
    const int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c.fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      ++totals.failed;
      close(c.fd);
      c.fd = -1;
      continue;
    }
    fcntl(c.fd, F_SETFL, fcntl(c.fd, F_GETFL) | O_NONBLOCK);
    epoll_event event{};
    event.events = EPOLLIN | EPOLLOUT | EPOLLET;
    event.data.u64 = i;
    epoll_ctl(epoll, EPOLL_CTL_ADD, c.fd, &event);
    start_request(c);
  }
  char buffer[65536];
  std::vector<epoll_event> events(open.size());
  while (!stop) {
    const int ready = epoll_wait(epoll, events.data(), static_cast<int>(events.size()), 100);
    for (int e = 0; e < ready; ++e) {
      Connection& c = open[events[e].data.u64];
      if (c.fd < 0) {
        continue;
      }
      if (!send_more(c)) {
        ++totals.failed;
        close(c.fd);
        c.fd = -1;
        continue;
      }
      for (;;) {
        const ssize_t n = ::recv(c.fd, buffer, sizeof buffer, 0);
        if (n < 0 && errno == EAGAIN) {
          break;
        }
        if (n <= 0) {
          ++totals.failed;
          close(c.fd);
          c.fd = -1;
          break;
        }
        c.response.append(buffer, static_cast<size_t>(n));
        const size_t head_end = c.response.find("\r\n\r\n");
        if (c.needed == std::string::npos && head_end != std::string::npos) {
          std::string head = c.response.substr(0, head_end);
          std::transform(head.begin(), head.end(), head.begin(), ::tolower);
          const size_t length = head.find("content-length:");
          c.needed = head_end + 4 + std::strtoul(head.c_str() + length + 15, nullptr, 10);
        }
        if (c.needed != std::string::npos && c.response.size() >= c.needed) {
          totals.latencies_us.push_back(std::chrono::duration_cast<std::chrono::microseconds>(
                                            std::chrono::steady_clock::now() - c.started)
                                            .count());
          if (c.response.find("\"FailedEntryCount\":0") != std::string::npos) {
            totals.accepted += 10;
          } else if (c.response.find("ThrottlingException") != std::string::npos) {
            ++totals.throttled;
          } else {
            ++totals.failed;
          }
          if (stop || !start_request(c)) {
            break;
          }
        }
      }
    }
  }
  for (Connection& c : open) {
    if (c.fd >= 0) {
      close(c.fd);
    }
  }
  close(epoll);
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
  int64_t throttled = 0;
  int64_t peak_rss_mib = 0;
  int64_t delivered_lines = 0;
  double entries_per_commit = 0;  // all of them: ingest commits and completions alone
  double redrive_ms = 0;          // with a redrive: how long it took
};

// The process's peak resident memory so far (VmHWM), in MiB; reset_peak_rss() restarts it.
int64_t peak_rss_mib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with("VmHWM:")) {
      return std::strtoll(line.c_str() + 6, nullptr, 10) / 1024;
    }
  }
  return 0;
}

void reset_peak_rss() {
  std::ofstream clear_refs("/proc/self/clear_refs");
  clear_refs << "5";
}

RunResult run(int rules, int connections, int seconds, bool full_sync, const Shape& shape,
              bool redrive = false) {
  const hikyaku::testing::TempDir temp_dir("load");  // the store and the Log target's file
  const std::filesystem::path directory = temp_dir.path();

  config::LoadResult loaded = config::load_config_text(
      config_text(rules, directory.string(), full_sync, shape), "bench.yaml");
  if (!loaded.ok()) {
    fmt::print(stderr, "config: {}\n", loaded.errors[0].to_string());
    std::exit(1);
  }
  auto config = std::make_shared<const config::Config>(std::move(*loaded.config));
  MetricsRegistry metrics;
  auto store = std::move(store::SqliteStore::open(
                             {.path = config->store.sqlite.path, .synchronous_full = full_sync}))
                   .value();
  store::GroupCommitter::Options commit_options;
  if (shape.max_queued_mib > 0) {
    commit_options.max_queued_bytes = shape.max_queued_mib * 1024 * 1024;
  }
  store::GroupCommitter committer(*store, commit_options);
  auto snapshot = bus::Snapshot::build(config, metrics).value();
  bus::Pipeline pipeline(committer, metrics, SystemClock::instance(), snapshot);
  auto endpoints = std::make_shared<delivery::Endpoints>();
  for (const config::Rule& rule : config->rules) {
    for (const config::Target& target : rule.targets) {
      delivery::Endpoint endpoint;
      endpoint.kind = delivery::Endpoint::Kind::kLog;
      endpoint.rule = rule.name;
      endpoint.target_id = target.id;
      endpoint.log_path = target.log->path;
      endpoints->emplace(bus::target_key("default", rule.name, target.id), endpoint);
    }
  }
  delivery::Dispatcher dispatcher(*store, metrics, SystemClock::instance(), endpoints);
  dispatcher.attach(committer);
  dispatcher.start();
  server::Server server(config->server, pipeline);
  const uint16_t port = server.start().value();

  const std::string sample_path =
      std::string(HIKYAKU_TEST_DATA_DIR) + "/data/securityhub/02-fsbp-s3-8-high-failed.json";
  const std::string request =
      request_for(sample_path, fmt::format("127.0.0.1:{}", port), shape.entry_kb);
  std::unique_ptr<admin::AdminApi> admin;
  if (shape.redrive_letters > 0) {
    fill_dead_letters(*store, bus::target_key("default", "rule-0", "log0"), shape.redrive_letters,
                      read_file(sample_path));
    admin = std::make_unique<admin::AdminApi>(admin::Sources{
        .store = store.get(),
        .clock = &SystemClock::instance(),
        .snapshot = [&pipeline] { return pipeline.snapshot(); },
        .redactor = {},
        .metrics = &metrics,
        .endpoints = {},
        .committer = &committer,
    });
  }
  reset_peak_rss();
  std::atomic<bool> stop{false};
  ClientTotals totals;
  const double cpu_before = cpu_seconds();
  const int64_t commits_before = committer.commits();
  const auto started = std::chrono::steady_clock::now();
  std::thread client([&] {
    pthread_setname_np(pthread_self(), "bench-client");
    drive_connections(port, connections, request, stop, totals);
  });
  double redrive_ms = 0;
  std::thread redriver;
  if (redrive) {
    // As an operator's call reaches the server: on the admin API's own thread.
    redriver = std::thread([&] {
      std::promise<void> answered;
      const auto redrive_started = std::chrono::steady_clock::now();
      admin->handle_async({"POST", "/dead-letters/redrive", "", R"({"All": true})"},
                          [&](admin::Response response) {
                            if (response.status != 200) {
                              fmt::print(stderr, "redrive: {}\n", response.body);
                            }
                            answered.set_value();
                          });
      answered.get_future().wait();
      redrive_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                             redrive_started)
                       .count();
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  // A paced redrive may outlast the run: the load goes on until it is answered, so that the
  // figure is live ingest while the redrive runs rather than partly after it.
  if (redriver.joinable()) {
    redriver.join();
  }
  stop = true;
  client.join();
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const double cpu = cpu_seconds() - cpu_before;
  const int64_t commits = committer.commits() - commits_before;
  const int64_t peak_mib = peak_rss_mib();

  server.stop(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  admin.reset();
  committer.stop();
  dispatcher.stop();

  RunResult result;
  result.redrive_ms = redrive_ms;
  std::vector<int64_t>& all = totals.latencies_us;
  const int64_t total = totals.accepted;
  result.failed = totals.failed;
  result.throttled = totals.throttled;
  result.peak_rss_mib = peak_mib;
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
  return result;
}

int run_all(int argc, char** argv) {
#ifndef NDEBUG
  fmt::print(stderr,
             "WARNING: putevents_load_bench built without optimisation; figures mean nothing\n");
#endif
  std::vector<int> connection_counts = {8, 32};
  int seconds = 5;
  bool full_sync = true;
  std::vector<int> rule_counts = {1, 100, 1000};
  Shape shape;
  auto parse_list = [](const std::string& value) {
    std::vector<int> numbers;
    std::stringstream list(value);
    std::string item;
    while (std::getline(list, item, ',')) {
      numbers.push_back(std::stoi(item));
    }
    return numbers;
  };
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--match-all" || flag == "--input-transformer") {
      (flag == "--match-all" ? shape.match_all : shape.input_transformer) = true;
      --i;  // takes no value
      continue;
    }
    if (i + 1 >= argc) {
      break;
    }
    const std::string value = argv[i + 1];
    if (flag == "--targets") {
      shape.targets = std::stoi(value);
    } else if (flag == "--entry-kb") {
      shape.entry_kb = std::stoi(value);
    } else if (flag == "--max-queued-mib") {
      shape.max_queued_mib = std::stoll(value);
    } else if (flag == "--connections") {
      connection_counts = parse_list(value);
    } else if (flag == "--seconds") {
      seconds = std::stoi(value);
    } else if (flag == "--sync") {
      full_sync = value != "NORMAL";
    } else if (flag == "--rules") {
      rule_counts = parse_list(value);
    } else if (flag == "--redrive-letters") {
      shape.redrive_letters = std::stoi(value);
    } else if (flag == "--pairs") {
      shape.pairs = std::stoi(value);
    }
  }
  if (shape.redrive_letters > 0) {
    for (int connections : connection_counts) {
      fmt::print(
          "PutEvents load with a redrive alongside: {} connections, {} s per run, {} dead "
          "letters in the store, {} rule(s); runs alternate without and with a redrive of them "
          "all\n",
          connections, seconds, shape.redrive_letters, rule_counts[0]);
      double without_total = 0;
      double with_total = 0;
      for (int pair = 0; pair < shape.pairs; ++pair) {
        const RunResult without = run(rule_counts[0], connections, seconds, full_sync, shape);
        const RunResult with = run(rule_counts[0], connections, seconds, full_sync, shape, true);
        without_total += without.entries_per_second;
        with_total += with.entries_per_second;
        fmt::print(
            "pair={} without_redrive_entries_per_s={:.0f} with_redrive_entries_per_s={:.0f} "
            "ratio={:.3f} redrive_ms={:.0f} p99_ms_without={:.2f} p99_ms_with={:.2f}\n",
            pair + 1, without.entries_per_second, with.entries_per_second,
            with.entries_per_second / without.entries_per_second, with.redrive_ms, without.p99_ms,
            with.p99_ms);
      }
      fmt::print("mean ratio with/without redrive={:.3f}\n", with_total / without_total);
    }
    return 0;
  }
  for (int connections : connection_counts) {
    fmt::print(
        "PutEvents load: {} keep-alive connections, batches of 10 x ~{} KB Security Hub "
        "events, {} s per run, SQLite synchronous={}, {} Log target(s) per rule{}{}\n",
        connections, shape.entry_kb > 0 ? shape.entry_kb : 3, seconds,
        full_sync ? "FULL" : "NORMAL", shape.targets,
        shape.match_all ? ", every rule matching every event" : "",
        shape.input_transformer ? ", each with an InputTransformer" : "");
    double baseline = 0;
    for (int rules : rule_counts) {
      const RunResult result = run(rules, connections, seconds, full_sync, shape);
      if (baseline == 0) {
        baseline = result.entries_per_second;
      }
      fmt::print(
          "rules={} entries_per_s={:.0f} ratio_to_{}_rule={:.2f} p50_ms={:.2f} p99_ms={:.2f} "
          "cpu_ms_per_1000_entries={:.1f} entries_per_commit={:.1f} failed_requests={} "
          "throttled_requests={} peak_rss_mib={} delivered_so_far={}\n",
          rules, result.entries_per_second, rule_counts[0], result.entries_per_second / baseline,
          result.p50_ms, result.p99_ms, result.cpu_ms_per_1000, result.entries_per_commit,
          result.failed, result.throttled, result.peak_rss_mib, result.delivered_lines);
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run_all(argc, argv);
  } catch (const std::exception& error) {  // a malformed number in the arguments, for one
    std::fprintf(stderr, "putevents_load_bench: %s\n", error.what());
    return 2;
  }
}
