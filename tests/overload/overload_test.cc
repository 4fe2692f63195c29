// Overload degrades gracefully: the real `hikyaku serve` under ten times the load it can sustain,
// from 10,000 concurrent connections, keeps its memory bounded, answers every request (throttling
// answers, never a hang), loses no entry it accepted, and serves at full speed again once the load
// drops.
//
// What "sustainable" means here: the one destination takes at most kDeliveriesPerSecond
// (InvocationRateLimitPerSecond), so that is the rate at which accepted work can leave; anything
// accepted faster only grows the delivery backlog. Store.MaxPendingDeliveries bounds that backlog
// and Server.Limits.MaxConcurrentRequests / Store.MaxQueuedBytes bound what requests hold in
// memory: past them PutEvents answers ThrottlingException. The load offers ten times
// kDeliveriesPerSecond, each of the 10,000 connections sending one PutEvents every two seconds
// (many producers, each modest: how Security Hub fan-in looks), and keeps its pace whatever the
// answer, as a fleet of producers would.
//
// The figures are printed ("overload figures: ...") for the record; the assertions are about
// correctness (no loss, no hang, a memory bound, recovery), not speed.

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "testing/http_client.h"
#include "testing/process.h"
#include "testing/scriptable_destination.h"
#include "testing/temp_dir.h"
#include "testing/wait.h"

namespace hikyaku {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr int kDeliveriesPerSecond = 500;
constexpr int kConnections = 10'000;
constexpr double kOverloadFactor = 10;
constexpr auto kOverloadDuration = 20s;
constexpr int kMaxPendingDeliveries = 2'000;
constexpr int kMaxConcurrentRequests = 64;
constexpr int64_t kMaxQueuedBytes = int64_t{8} * 1024 * 1024;
// No answer within this long counts as a hang (the server's request timeout is 10 s, and every
// request here is sent whole at once).
constexpr auto kAnswerTimeout = 15s;
// The server's resident memory must stay under this. What it may hold by construction: the
// committer's queue (kMaxQueuedBytes), kMaxConcurrentRequests requests of a few hundred bytes,
// 10,000 idle connections (a 4 KiB read buffer and a session each, ~60 MiB), the delivery
// workers' jobs, SQLite's page cache and the code: ~150 MiB. The bound leaves room for the
// allocator's fragmentation but not for growth with the load.
constexpr int64_t kMemoryBoundBytes = int64_t{384} * 1024 * 1024;

// Resident and peak resident bytes of process `pid` (VmRSS, VmHWM), 0 when unreadable.
std::pair<int64_t, int64_t> resident_bytes(int pid) {
  std::ifstream status(fmt::format("/proc/{}/status", pid));
  std::string line;
  int64_t rss = 0;
  int64_t hwm = 0;
  while (std::getline(status, line)) {
    int64_t kib = 0;
    if (std::sscanf(line.c_str(), "VmRSS: %ld kB", &kib) == 1) {
      rss = kib * 1024;
    } else if (std::sscanf(line.c_str(), "VmHWM: %ld kB", &kib) == 1) {
      hwm = kib * 1024;
    }
  }
  return {rss, hwm};
}

// The `seq` of the event in a delivered body ({"...","detail":{"seq":N}}), or -1.
int64_t seq_of(const std::string& body) {
  const size_t at = body.find("\"seq\":");
  return at == std::string::npos ? -1 : std::strtoll(body.c_str() + at + 6, nullptr, 10);
}

// Many keep-alive connections, each sending one single-entry PutEvents every `period` at a
// phase of its own (so that together they offer connections / period requests a second), on one
// Asio thread. A connection whose previous request is still unanswered at its next tick skips
// it; one unanswered for kAnswerTimeout counts a hang and reconnects. Accepted sequence numbers
// and the answers' outcomes are kept; read them after stop().
class LoadGenerator {
 public:
  struct Figures {
    int64_t sent = 0;
    int64_t accepted = 0;
    int64_t throttled = 0;
    int64_t other_errors = 0;
    int64_t hangs = 0;
    int64_t connect_failures = 0;
    int64_t skipped_ticks = 0;
    std::string first_error;
    std::vector<int64_t> accepted_seqs;
    std::vector<double> latencies_ms;
  };

  LoadGenerator(uint16_t port, int connections, Clock::duration period,
                std::atomic<int64_t>& next_seq)
      : endpoint_(asio::ip::make_address("127.0.0.1"), port), period_(period), next_seq_(next_seq) {
    for (int i = 0; i < connections; ++i) {
      connections_.push_back(std::make_unique<Connection>(ioc_));
    }
  }

  ~LoadGenerator() { stop(); }

  // Connects every connection (waiting up to `timeout` for all), then starts the ticks.
  bool start(std::chrono::seconds timeout = 60s) {
    started_ = Clock::now();
    for (auto& connection : connections_) {
      connect(*connection);
    }
    thread_ = std::thread([this] {
      auto work = asio::make_work_guard(ioc_);  // runs until stop(), idle moments included
      ioc_.run();
    });
    const bool all =
        testing::wait_for([&] { return connected_.load() == connections_.size(); }, timeout);
    started_ = Clock::now();
    asio::post(ioc_, [this] {
      std::mt19937 random(7);
      std::uniform_int_distribution<int64_t> phase(0, period_.count() - 1);
      for (auto& connection : connections_) {
        schedule(*connection, started_ + Clock::duration(phase(random)));
      }
    });
    return all;
  }

  size_t connected() const { return connected_.load(); }
  // Per whole second since the ticks started: requests answered, and of them accepted.
  std::vector<std::pair<int64_t, int64_t>> per_second() const {
    std::lock_guard<std::mutex> lock(per_second_mutex_);
    return per_second_;
  }

  void stop() {
    if (!thread_.joinable()) {
      return;
    }
    asio::post(ioc_, [this] {
      stopping_ = true;
      for (auto& connection : connections_) {
        beast::error_code ignored;
        connection->tick.cancel();
        connection->deadline.cancel();
        connection->socket.close(ignored);
      }
      ioc_.stop();
    });
    thread_.join();
  }

  const Figures& figures() const { return figures_; }

 private:
  struct Connection {
    explicit Connection(asio::io_context& ioc) : socket(ioc), tick(ioc), deadline(ioc) {}
    tcp::socket socket;
    asio::steady_timer tick;
    asio::steady_timer deadline;
    beast::flat_buffer buffer;
    std::optional<http::response_parser<http::string_body>> parser;
    std::string request;
    int64_t seq = 0;
    Clock::time_point sent_at;
    bool open = false;
    bool busy = false;
    bool ever_connected = false;
  };

  void connect(Connection& connection) {
    connection.socket.async_connect(endpoint_, [this, &connection](beast::error_code ec) {
      if (stopping_) {
        return;
      }
      if (ec) {
        ++figures_.connect_failures;
        beast::error_code ignored;
        connection.socket.close(ignored);
        connection.tick.expires_after(100ms);
        connection.tick.async_wait([this, &connection](beast::error_code wait_ec) {
          if (!wait_ec && !stopping_) {
            connect(connection);
          }
        });
        return;
      }
      connection.open = true;
      if (!connection.ever_connected) {
        connection.ever_connected = true;
        ++connected_;
      }
    });
  }

  void schedule(Connection& connection, Clock::time_point at) {
    connection.tick.expires_at(at);
    connection.tick.async_wait([this, &connection, at](beast::error_code ec) {
      if (ec || stopping_) {
        return;
      }
      if (connection.busy || !connection.open) {
        ++figures_.skipped_ticks;
      } else {
        send(connection);
      }
      schedule(connection, at + period_);
    });
  }

  void send(Connection& connection) {
    connection.seq = next_seq_.fetch_add(1);
    const std::string body = fmt::format(
        R"({{"Entries":[{{"Source":"overload.test","DetailType":"t","Detail":"{{\"seq\":{}}}"}}]}})",
        connection.seq);
    connection.request = fmt::format(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: AWSEvents.PutEvents\r\n"
        "Content-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\n\r\n{}",
        body.size(), body);
    connection.busy = true;
    connection.sent_at = Clock::now();
    ++figures_.sent;
    connection.deadline.expires_after(kAnswerTimeout);
    connection.deadline.async_wait([this, &connection](beast::error_code ec) {
      if (!ec && connection.busy && !stopping_) {
        ++figures_.hangs;
        reconnect(connection);
      }
    });
    asio::async_write(connection.socket, asio::buffer(connection.request),
                      [this, &connection](beast::error_code ec, size_t) {
                        if (ec) {
                          failed(connection, "write: " + ec.message());
                          return;
                        }
                        connection.parser.emplace();
                        http::async_read(connection.socket, connection.buffer, *connection.parser,
                                         [this, &connection](beast::error_code read_ec, size_t) {
                                           on_answer(connection, read_ec);
                                         });
                      });
  }

  void on_answer(Connection& connection, beast::error_code ec) {
    if (stopping_) {
      return;
    }
    if (ec) {
      failed(connection, "read: " + ec.message());
      return;
    }
    connection.deadline.cancel();
    connection.busy = false;
    const auto& response = connection.parser->get();
    const std::string& body = response.body();
    figures_.latencies_ms.push_back(
        std::chrono::duration<double, std::milli>(Clock::now() - connection.sent_at).count());
    const bool accepted =
        response.result_int() == 200 && body.find("\"FailedEntryCount\":0") != std::string::npos;
    count_second(accepted);
    if (accepted) {
      ++figures_.accepted;
      figures_.accepted_seqs.push_back(connection.seq);
    } else if (body.find("ThrottlingException") != std::string::npos) {
      ++figures_.throttled;
    } else {
      ++figures_.other_errors;
      if (figures_.first_error.empty()) {
        figures_.first_error = fmt::format("{} {}", response.result_int(), body);
      }
    }
    if (!response.keep_alive()) {
      reconnect(connection);
    }
  }

  void count_second(bool accepted) {
    const auto second = static_cast<size_t>(
        std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - started_).count());
    std::lock_guard<std::mutex> lock(per_second_mutex_);
    if (per_second_.size() <= second) {
      per_second_.resize(second + 1);
    }
    ++per_second_[second].first;
    per_second_[second].second += accepted ? 1 : 0;
  }

  void failed(Connection& connection, const std::string& what) {
    if (stopping_) {
      return;
    }
    if (connection.busy) {
      ++figures_.other_errors;
      count_second(false);
      if (figures_.first_error.empty()) {
        figures_.first_error = what;
      }
    }
    reconnect(connection);
  }

  void reconnect(Connection& connection) {
    connection.deadline.cancel();
    connection.busy = false;
    connection.open = false;
    connection.buffer.clear();
    beast::error_code ignored;
    connection.socket.close(ignored);
    connect(connection);
  }

  asio::io_context ioc_{1};
  tcp::endpoint endpoint_;
  Clock::duration period_;
  std::atomic<int64_t>& next_seq_;
  std::vector<std::unique_ptr<Connection>> connections_;
  std::atomic<size_t> connected_{0};
  mutable std::mutex per_second_mutex_;
  std::vector<std::pair<int64_t, int64_t>> per_second_;
  Clock::time_point started_;
  bool stopping_ = false;  // io thread only
  Figures figures_;        // io thread only until stop()
  std::thread thread_;
};

double percentile(std::vector<double> values, double fraction) {
  if (values.empty()) {
    return 0;
  }
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1, static_cast<size_t>(fraction * values.size()))];
}

// Both processes hold one descriptor per connection: this one raises its own soft limit, serve
// raises its own.
bool enough_descriptors(rlim_t wanted) {
  rlimit files{};
  getrlimit(RLIMIT_NOFILE, &files);
  if (files.rlim_cur < wanted && files.rlim_max >= wanted) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  getrlimit(RLIMIT_NOFILE, &files);
  return files.rlim_cur >= wanted;
}

TEST(OverloadTest, TenTimesTheSustainableRateFromTenThousandConnections) {
  if (!enough_descriptors(kConnections + 1000)) {
    GTEST_SKIP() << "the open-file hard limit is below " << kConnections + 1000
                 << ": 10,000 connections cannot be opened here (raise ulimit -Hn)";
  }
  testing::TempDir directory("overload");
  testing::ScriptableDestination destination;
  std::ofstream(std::filesystem::path(directory.path()) / "hikyaku.yaml") << fmt::format(
      R"(Server:
  Listen: 127.0.0.1:0
  Limits: {{ MaxConnections: {}, MaxConcurrentRequests: {}, RequestTimeoutSeconds: 10 }}
Store:
  Sqlite: {{ Path: var/hikyaku.db, Synchronous: NORMAL }}
  MaxQueuedBytes: {}
  MaxPendingDeliveries: {}
Connections:
  - Name: sink
    AuthorizationType: API_KEY
    AuthParameters: {{ ApiKeyAuthParameters: {{ ApiKeyName: x-key, ApiKeyValue: k }} }}
ApiDestinations:
  - {{ Name: sink, ConnectionName: sink, HttpMethod: POST, InvocationEndpoint: "{}",
      InvocationRateLimitPerSecond: {} }}
Rules:
  - Name: all
    EventPattern: {{ source: [overload.test] }}
    Targets: [{{ Id: sink, ApiDestination: sink }}]
)",
      kConnections + 100, kMaxConcurrentRequests, kMaxQueuedBytes, kMaxPendingDeliveries,
      destination.url("/sink"), kDeliveriesPerSecond);
  testing::ChildProcess server({HIKYAKU_BINARY, "serve", "--config", "hikyaku.yaml"}, {},
                               directory.path());
  const std::string url = server.wait_for_line("listening ");
  ASSERT_FALSE(url.empty()) << server.err();
  const auto port = static_cast<uint16_t>(std::stoi(url.substr(url.rfind(':') + 1)));

  // The server's memory, sampled throughout.
  std::atomic<bool> sampling{true};
  std::atomic<int64_t> peak_rss{0};
  std::thread sampler([&] {
    while (sampling.load()) {
      peak_rss.store(std::max(peak_rss.load(), resident_bytes(server.pid()).first));
      std::this_thread::sleep_for(100ms);
    }
  });
  const int64_t idle_rss = resident_bytes(server.pid()).first;

  std::atomic<int64_t> next_seq{0};
  const auto overload_period = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(kConnections / (kOverloadFactor * kDeliveriesPerSecond)));
  LoadGenerator overload(port, kConnections, overload_period, next_seq);
  ASSERT_TRUE(overload.start()) << overload.connected() << " of " << kConnections
                                << " connections open; serve:\n"
                                << server.err();
  const int64_t connected_rss = resident_bytes(server.pid()).first;
  const int64_t delivered_before = static_cast<int64_t>(destination.request_count());
  const auto overload_started = Clock::now();
  std::this_thread::sleep_for(kOverloadDuration);  // the load runs for this long (not a wait)
  const int64_t delivered_during =
      static_cast<int64_t>(destination.request_count()) - delivered_before;
  const double overload_seconds =
      std::chrono::duration<double>(Clock::now() - overload_started).count();
  overload.stop();
  const LoadGenerator::Figures loaded = overload.figures();

  // Recovery: a producer at 80% of the sustainable rate, until three whole seconds in a row of
  // its requests are all accepted (the backlog left by the overload must drain below its bound
  // first).
  const auto load_dropped = Clock::now();
  LoadGenerator probe(port, 4,
                      std::chrono::duration_cast<Clock::duration>(
                          std::chrono::duration<double>(4 / (0.8 * kDeliveriesPerSecond))),
                      next_seq);
  ASSERT_TRUE(probe.start());
  const auto probe_started = Clock::now();
  double recovery_seconds = -1;
  testing::wait_for(
      [&] {
        const std::vector<std::pair<int64_t, int64_t>> seconds = probe.per_second();
        const auto now = static_cast<size_t>(
            std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - probe_started).count());
        for (size_t second = 0; second + 3 <= std::min(now, seconds.size()); ++second) {
          if (std::all_of(seconds.begin() + static_cast<std::ptrdiff_t>(second),
                          seconds.begin() + static_cast<std::ptrdiff_t>(second + 3),
                          [](const auto& s) { return s.first > 0 && s.first == s.second; })) {
            recovery_seconds = std::chrono::duration<double>(probe_started - load_dropped).count() +
                               static_cast<double>(second);
            return true;
          }
        }
        return false;
      },
      120s);
  probe.stop();
  const LoadGenerator::Figures probed = probe.figures();

  // Every accepted entry arrives (at least once).
  std::vector<int64_t> accepted = loaded.accepted_seqs;
  accepted.insert(accepted.end(), probed.accepted_seqs.begin(), probed.accepted_seqs.end());
  std::set<int64_t> delivered;
  size_t read_requests = 0;
  const bool all_delivered = testing::wait_for(
      [&] {
        const std::vector<testing::RecordedRequest> requests = destination.requests();
        for (; read_requests < requests.size(); ++read_requests) {
          delivered.insert(seq_of(requests[read_requests].body));
        }
        return std::all_of(accepted.begin(), accepted.end(),
                           [&](int64_t seq) { return delivered.count(seq) == 1; });
      },
      180s);
  sampling = false;
  sampler.join();
  const int64_t peak_hwm = resident_bytes(server.pid()).second;
  const auto lost = std::count_if(accepted.begin(), accepted.end(),
                                  [&](int64_t seq) { return delivered.count(seq) == 0; });

  const std::string metrics = testing::HttpClient::from_url(url).get("/metrics").body;
  std::printf(
      "overload figures: connections=%d offered=%.0f/s (%.0fx the sustainable %d/s) for %.0f s; "
      "sent=%ld accepted=%ld (%.0f/s) throttled=%ld (%.0f/s) other_errors=%ld hangs=%ld "
      "skipped_ticks=%ld answers=%.0f/s latency p50=%.1f ms p99=%.1f ms max=%.1f ms; "
      "delivered during the overload=%.0f/s; server memory idle=%.1f MiB with %d connections=%.1f "
      "MiB peak=%.1f MiB (VmHWM %.1f MiB, bound %.0f MiB); recovery to full speed %.1f s after "
      "the load dropped; accepted in all=%zu delivered=%zu lost=%ld\n",
      kConnections, kConnections / std::chrono::duration<double>(overload_period).count(),
      kOverloadFactor, kDeliveriesPerSecond, overload_seconds, loaded.sent, loaded.accepted,
      static_cast<double>(loaded.accepted) / overload_seconds, loaded.throttled,
      static_cast<double>(loaded.throttled) / overload_seconds, loaded.other_errors, loaded.hangs,
      loaded.skipped_ticks,
      static_cast<double>(loaded.accepted + loaded.throttled + loaded.other_errors) /
          overload_seconds,
      percentile(loaded.latencies_ms, 0.5), percentile(loaded.latencies_ms, 0.99),
      percentile(loaded.latencies_ms, 1.0),
      static_cast<double>(delivered_during) / overload_seconds,
      static_cast<double>(idle_rss) / (1 << 20), kConnections,
      static_cast<double>(connected_rss) / (1 << 20),
      static_cast<double>(peak_rss.load()) / (1 << 20), static_cast<double>(peak_hwm) / (1 << 20),
      static_cast<double>(kMemoryBoundBytes) / (1 << 20), recovery_seconds, accepted.size(),
      delivered.size(), static_cast<long>(lost));
  std::fflush(stdout);

  EXPECT_EQ(loaded.hangs, 0) << "requests the server left unanswered for 15 s";
  EXPECT_EQ(loaded.other_errors, 0) << loaded.first_error;
  EXPECT_GT(loaded.throttled, loaded.accepted) << "the load was not over what the server sustains";
  EXPECT_GT(loaded.accepted, 0);
  EXPECT_LT(peak_hwm, kMemoryBoundBytes);
  EXPECT_GE(recovery_seconds, 0) << "the probe never had three whole seconds accepted";
  EXPECT_EQ(probed.other_errors, 0) << probed.first_error;
  EXPECT_TRUE(all_delivered);
  EXPECT_EQ(lost, 0);
  EXPECT_NE(metrics.find("hikyaku_delivery_backlog_full"), std::string::npos) << metrics;
  server.signal(SIGTERM);
  EXPECT_EQ(server.wait(), 0) << server.err();
}

}  // namespace
}  // namespace hikyaku
