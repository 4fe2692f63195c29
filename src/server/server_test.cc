// The real server on 127.0.0.1:0 between a tiny Beast client and a fake EventBus.
#include "server/server.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <simdjson.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "core/json_writer.h"
#include "server/internal/api.h"
#include "server/sigv4.h"

namespace hikyaku::server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

// ---------------------------------------------------------------------------------------------
// A fake bus: records every ingest, answers with a configurable Status on its own thread, or
// holds the answers until released.

class FakeBus : public bus::EventBus {
 public:
  struct Call {
    std::string bus;
    std::vector<Envelope> envelopes;
  };

  FakeBus() {
    auto config = std::make_shared<config::Config>();
    config::Rule rule;
    rule.name = "findings-to-log";
    rule.description = "critical findings";
    rule.event_pattern = R"({"source":["aws.securityhub"]})";
    config::Target log_target;
    log_target.id = "log";
    log_target.log = config::LogTarget{"/tmp/x.log"};
    rule.targets.push_back(log_target);
    config::Target api_target;
    api_target.id = "backlog";
    api_target.api_destination = "backlog-add-issue";
    api_target.input_transformer = config::InputTransformer{{{"t", "$.detail.title"}}, "\"<t>\""};
    rule.targets.push_back(api_target);
    config->rules.push_back(rule);
    config::Rule custom;
    custom.name = "orders";
    custom.event_bus_name = "orders-bus";
    custom.state = config::RuleState::kDisabled;
    custom.event_pattern = R"({"source":["shop"]})";
    config->rules.push_back(custom);
    config_ = config;
  }

  ~FakeBus() override {
    release();
    for (auto& thread : threads_) {
      thread.join();
    }
  }

  void ingest(std::string_view bus_name, std::vector<Envelope> envelopes,
              IngestDone done) override {
    std::lock_guard lock(mu_);
    size_t count = envelopes.size();
    calls_.push_back(Call{std::string(bus_name), std::move(envelopes)});
    if (hold_) {
      held_.emplace_back(count, std::move(done));
    } else {
      Status status = status_;
      threads_.emplace_back(
          [count, status, done = std::move(done)] { done(std::vector<Status>(count, status)); });
    }
    cv_.notify_all();
  }

  std::shared_ptr<const config::Config> config() const override { return config_; }

  void set_status(Status status) {
    std::lock_guard lock(mu_);
    status_ = std::move(status);
  }
  void hold() {
    std::lock_guard lock(mu_);
    hold_ = true;
  }
  void release() {
    std::vector<std::pair<size_t, IngestDone>> held;
    {
      std::lock_guard lock(mu_);
      hold_ = false;
      held.swap(held_);
    }
    for (auto& [count, done] : held) {
      done(std::vector<Status>(count, Status()));
    }
  }
  bool wait_for_held(size_t count) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 10s, [&] { return held_.size() >= count; });
  }
  std::vector<Call> calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }
  std::vector<Envelope> envelopes() const {
    std::lock_guard lock(mu_);
    std::vector<Envelope> all;
    for (const auto& call : calls_) {
      all.insert(all.end(), call.envelopes.begin(), call.envelopes.end());
    }
    return all;
  }
  void clear() {
    std::lock_guard lock(mu_);
    calls_.clear();
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::shared_ptr<const config::Config> config_;
  std::vector<Call> calls_;
  Status status_;
  bool hold_ = false;
  std::vector<std::pair<size_t, IngestDone>> held_;
  std::vector<std::thread> threads_;
};

// ---------------------------------------------------------------------------------------------
// A tiny synchronous HTTP/1.1 client (keep-alive), plain or TLS. Socket receive timeouts keep a
// misbehaving server from hanging the test.

struct Reply {
  unsigned status = 0;  // 0: no response (connection closed or failed)
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
};

class Client {
 public:
  explicit Client(uint16_t port, bool tls = false)
      : socket_(ioc_), tls_context_(ssl::context::tls_client) {
    beast::error_code ec;
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
    connected_ = !ec;
    timeval timeout{10, 0};
    setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    if (tls && connected_) {
      tls_context_.set_verify_mode(ssl::verify_none);
      tls_stream_ = std::make_unique<ssl::stream<tcp::socket&>>(socket_, tls_context_);
      tls_stream_->handshake(ssl::stream_base::client, ec);
      connected_ = !ec;
    }
  }

  bool connected() const { return connected_; }
  tcp::socket& socket() { return socket_; }

  Reply request(std::string_view method, std::string_view target, std::string body = "",
                std::vector<std::pair<std::string, std::string>> headers = {}) {
    http::request<http::string_body> req;
    req.method_string(beast::string_view(method.data(), method.size()));
    req.target(beast::string_view(target.data(), target.size()));
    req.version(11);
    req.set(http::field::host, "127.0.0.1");
    for (auto& [name, value] : headers) {
      req.set(name, value);
    }
    req.body() = std::move(body);
    req.prepare_payload();
    beast::error_code ec;
    http::response_parser<http::string_body> parser;
    parser.body_limit(16 * 1024 * 1024);
    if (tls_stream_) {
      http::write(*tls_stream_, req, ec);
      if (!ec) {
        http::read(*tls_stream_, buffer_, parser, ec);
      }
    } else {
      http::write(socket_, req, ec);
      if (!ec) {
        http::read(socket_, buffer_, parser, ec);
      }
    }
    Reply reply;
    if (ec) {
      return reply;
    }
    auto& res = parser.get();
    reply.status = res.result_int();
    reply.body = res.body();
    for (const auto& field : res) {
      std::string name(field.name_string());
      for (char& c : name) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      }
      reply.headers[name] = std::string(field.value());
    }
    return reply;
  }

  // True when the server closed the connection (EOF or reset) within `timeout`.
  bool closed_by_server(std::chrono::milliseconds timeout) {
    pollfd fd{socket_.native_handle(), POLLIN, 0};
    if (::poll(&fd, 1, static_cast<int>(timeout.count())) <= 0) {
      return false;
    }
    char byte = 0;
    beast::error_code ec;
    size_t n = socket_.read_some(asio::buffer(&byte, 1), ec);
    return n == 0 && ec;
  }

 private:
  asio::io_context ioc_;
  tcp::socket socket_;
  ssl::context tls_context_;
  std::unique_ptr<ssl::stream<tcp::socket&>> tls_stream_;
  beast::flat_buffer buffer_;
  bool connected_ = false;
};

// Reads a JSON reply; the document lives in the returned parser.
struct Json {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  explicit Json(const std::string& text) {
    if (parser.parse(text).get(root) != simdjson::SUCCESS) {
      ADD_FAILURE() << "not JSON: " << text.substr(0, 300);
      static const std::string kEmpty = "{}";
      if (parser.parse(kEmpty).get(root) != simdjson::SUCCESS) {
        std::abort();
      }
    }
  }
  std::string str(std::string_view key) const {
    std::string_view value;
    if (root[key].get(value) != simdjson::SUCCESS) {
      return "<missing " + std::string(key) + ">";
    }
    return std::string(value);
  }
};

// Waits for a condition with a deadline (polling: some conditions, like a counter bumped after the
// server closed a socket, have nothing to block on).
template <typename Predicate>
bool wait_for(Predicate predicate, std::chrono::milliseconds timeout = 5000ms) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!predicate()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return false;
    }
    std::this_thread::yield();
  }
  return true;
}

std::vector<std::pair<std::string, std::string>> amz_headers(std::string_view operation) {
  return {{"X-Amz-Target", "AWSEvents." + std::string(operation)},
          {"Content-Type", "application/x-amz-json-1.1"}};
}

std::string entry_json(std::string_view source, std::string_view detail_type,
                       std::string_view detail) {
  JsonWriter w;
  w.begin_object();
  w.key("Source");
  w.string(source);
  w.key("DetailType");
  w.string(detail_type);
  w.key("Detail");
  w.string(detail);
  w.end_object();
  return w.take();
}

std::string entries_body(const std::vector<std::string>& entries) {
  std::string body = R"({"Entries":[)";
  for (size_t i = 0; i < entries.size(); ++i) {
    body += (i > 0 ? "," : "") + entries[i];
  }
  return body + "]}";
}

config::ServerConfig loopback_config() {
  config::ServerConfig config;
  config.listen = "127.0.0.1:0";
  config.account = "123456789012";
  config.region = "ap-northeast-1";
  return config;
}

class ServerTest : public ::testing::Test {
 protected:
  void start(config::ServerConfig config, ServerOptions options = {}) {
    config_ = config;
    if (options.io_threads == 0) {
      options.io_threads = 2;
    }
    server_ = std::make_unique<Server>(std::move(config), bus_, std::move(options));
    auto port = server_->start();
    ASSERT_TRUE(port.has_value()) << port.error().message();
    port_ = *port;
  }

  Reply put_events(Client& client, std::string body) {
    return client.request("POST", "/", std::move(body), amz_headers("PutEvents"));
  }

  FakeBus bus_;  // declared first: outlives the server
  config::ServerConfig config_;
  std::unique_ptr<Server> server_;
  uint16_t port_ = 0;
};

// ---------------------------------------------------------------------------------------------
// AWS-validated cases (tests/data/aws-validated/put-events.jsonl).

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) {
      lines.push_back(line);
    }
  }
  return lines;
}

void replace_all(std::string& text, std::string_view from, std::string_view to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

TEST_F(ServerTest, AwsValidatedPutEventsAndTestEventPatternCases) {
  start(loopback_config());
  auto lines =
      read_lines(std::string(HIKYAKU_TEST_DATA_DIR) + "/data/aws-validated/put-events.jsonl");
  ASSERT_EQ(lines.size(), 24U);
  int checked = 0;
  Client client(port_);
  for (const auto& line : lines) {
    simdjson::dom::parser parser;
    simdjson::dom::element c;
    ASSERT_EQ(parser.parse(line).get(c), simdjson::SUCCESS);
    std::string id(c["id"].get_string().value());
    std::string api(c["api"].get_string().value());
    if (api != "PutEvents" && api != "TestEventPattern") {
      continue;
    }
    SCOPED_TRACE(id);
    std::string body = simdjson::to_string(c["request"].value());
    simdjson::dom::object generator;
    if (c["detail_generator"].get(generator) == simdjson::SUCCESS) {
      std::string detail(generator["prefix"].get_string().value());
      detail += std::string(static_cast<size_t>(generator["count"].get_int64().value()), 'p');
      detail += generator["suffix"].get_string().value();
      ASSERT_EQ(static_cast<int64_t>(detail.size()),
                generator["detail_length_bytes"].get_int64().value());
      replace_all(body, "\"<generated, see detail_generator>\"", json_quote(detail));
    }
    auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
    replace_all(body, "\"<now, epoch seconds>\"", std::to_string(now.time_since_epoch().count()));

    bus_.clear();
    Reply reply = client.request("POST", "/", body, amz_headers(api));
    int64_t expected_status = 200;
    if (c["http_status"].get(expected_status) != simdjson::SUCCESS) {
      expected_status = 200;
    }
    ASSERT_EQ(reply.status, static_cast<unsigned>(expected_status)) << reply.body;
    EXPECT_EQ(reply.headers["content-type"], "application/x-amz-json-1.1");
    EXPECT_EQ(reply.headers["x-amzn-requestid"].size(), 36U);
    Json json(reply.body);
    std::string_view aws_error_code;
    if (c["aws_error_code"].get(aws_error_code) == simdjson::SUCCESS) {
      EXPECT_EQ(json.str("__type"), aws_error_code);
      EXPECT_EQ(json.str("message"), c["aws_error"].get_string().value());
      EXPECT_TRUE(bus_.calls().empty());
      ++checked;
      continue;
    }
    int64_t failed = -1;
    ASSERT_EQ(json.root["FailedEntryCount"].get(failed), simdjson::SUCCESS);
    int64_t expected_failed = 0;
    if (c["failed_entry_count"].get(expected_failed) != simdjson::SUCCESS) {
      expected_failed = 0;
    }
    EXPECT_EQ(failed, expected_failed);
    simdjson::dom::array expected_entries;
    if (c["result_entries"].get(expected_entries) == simdjson::SUCCESS) {
      simdjson::dom::array entries = json.root["Entries"].get_array().value();
      ASSERT_EQ(entries.size(), expected_entries.size());
      for (size_t i = 0; i < entries.size(); ++i) {
        simdjson::dom::object want = expected_entries.at(i).get_object().value();
        simdjson::dom::element got = entries.at(i).value();
        std::string_view code;
        if (want["ErrorCode"].get(code) == simdjson::SUCCESS) {
          EXPECT_EQ(got["ErrorCode"].get_string().value(), code);
          EXPECT_EQ(got["ErrorMessage"].get_string().value(),
                    want["ErrorMessage"].get_string().value());
          EXPECT_FALSE(got["EventId"].error() == simdjson::SUCCESS);
        } else {
          std::string_view event_id;
          ASSERT_EQ(got["EventId"].get(event_id), simdjson::SUCCESS);
          EXPECT_EQ(event_id.size(), 36U);
          EXPECT_EQ(event_id[14], '4');  // UUID version 4
        }
      }
    }
    simdjson::dom::array delivered;
    if (c["delivered"].get(delivered) == simdjson::SUCCESS) {
      // The first delivered envelope is the first accepted entry on the default bus.
      auto envelopes = bus_.envelopes();
      ASSERT_FALSE(envelopes.empty());
      simdjson::dom::object want = delivered.at(0).get_object().value();
      const Envelope& got = envelopes[0];
      EXPECT_EQ(got.version, "0");
      EXPECT_EQ(got.source, want["source"].get_string().value());
      EXPECT_EQ(got.detail_type, want["detail-type"].get_string().value());
      EXPECT_EQ(got.account, "123456789012");
      EXPECT_EQ(got.region, "ap-northeast-1");
      EXPECT_TRUE(got.resources.empty());
      EXPECT_EQ(got.detail_json, simdjson::minify(want["detail"].value()));
      if (id.find("test_put_events_time") == 0) {
        EXPECT_EQ(got.time, want["time"].get_string().value());
      } else if (id == "test_put_events_with_time_field") {
        EXPECT_EQ(got.time, format_event_time(now.time_since_epoch().count()).value());
      }
      std::string_view event_id;
      if (json.root["Entries"].at(0)["EventId"].get(event_id) == simdjson::SUCCESS) {
        EXPECT_EQ(got.id, event_id);
      }
    }
    ++checked;
  }
  EXPECT_EQ(checked, 20);
}

TEST_F(ServerTest, PutEventsGroupsByBusAndKeepsEntryOrder) {
  start(loopback_config());
  Client client(port_);
  std::string body = R"({"Entries":[
    {"Source":"a","DetailType":"t","Detail":"{\"n\": 1.50}","Resources":["arn:x","arn:y"],"Time":"2026-03-01T10:15:02+01:00"},
    {"Source":"b","DetailType":"t","Detail":"[]"},
    {"Source":"c","DetailType":"t","Detail":"{}","EventBusName":"arn:aws:events:ap-northeast-1:123456789012:event-bus/orders-bus","Time":1767322800.9},
    {"Source":"d","DetailType":"t","Detail":"{}","EventBusName":"default"}]})";
  Reply reply = put_events(client, body);
  ASSERT_EQ(reply.status, 200U) << reply.body;
  Json json(reply.body);
  EXPECT_EQ(json.root["FailedEntryCount"].get_int64().value(), 1);
  auto entries = json.root["Entries"].get_array().value();
  ASSERT_EQ(entries.size(), 4U);
  EXPECT_EQ(entries.at(1)["ErrorCode"].get_string().value(), "MalformedDetail");
  auto calls = bus_.calls();
  ASSERT_EQ(calls.size(), 2U);
  EXPECT_EQ(calls[0].bus, "default");
  ASSERT_EQ(calls[0].envelopes.size(), 2U);
  EXPECT_EQ(calls[0].envelopes[0].source, "a");
  EXPECT_EQ(calls[0].envelopes[0].time, "2026-03-01T09:15:02Z");
  EXPECT_EQ(calls[0].envelopes[0].detail_json, R"({"n":1.50})");
  EXPECT_EQ(calls[0].envelopes[0].resources, (std::vector<std::string>{"arn:x", "arn:y"}));
  EXPECT_EQ(calls[0].envelopes[0].id, entries.at(0)["EventId"].get_string().value());
  EXPECT_EQ(calls[0].envelopes[1].source, "d");
  EXPECT_EQ(calls[1].bus, "orders-bus");
  EXPECT_EQ(calls[1].envelopes[0].time, "2026-01-02T03:00:00Z");
  EXPECT_EQ(calls[1].envelopes[0].id, entries.at(2)["EventId"].get_string().value());
}

TEST_F(ServerTest, EntrySizeExactlyAtTheLimitIsAcceptedOneByteOverIsNot) {
  config::ServerConfig config = loopback_config();
  config.limits.max_entry_bytes = 1000;
  start(config);
  Client client(port_);
  // size = 1 (Source) + 1 (DetailType) + len(Detail) + 14 (Time)
  std::string detail = R"({"a":")" + std::string(1000 - 16 - 8, 'x') + R"("})";
  ASSERT_EQ(detail.size(), 1000U - 16);
  auto body = [&](const std::string& d) {
    return R"({"Entries":[{"Time":1767322800,"Source":"s","DetailType":"d","Detail":)" +
           json_quote(d) + "}]}";
  };
  Reply at_limit = put_events(client, body(detail));
  EXPECT_EQ(at_limit.status, 200U) << at_limit.body;
  EXPECT_EQ(Json(at_limit.body).root["FailedEntryCount"].get_int64().value(), 0);

  std::string over = detail;
  over.insert(6, "x");
  Reply over_limit = put_events(client, body(over));
  EXPECT_EQ(over_limit.status, 400U);
  Json json(over_limit.body);
  EXPECT_EQ(json.str("__type"), "ValidationException");
  EXPECT_EQ(json.str("message"), "Total size of the entries in the request is over the limit.");

  // The limit is on the request total: two entries of half the size each add up.
  std::string half = R"({"a":")" + std::string(500, 'x') + R"("})";
  Reply two =
      put_events(client, entries_body({entry_json("s", "d", half), entry_json("s", "d", half)}));
  EXPECT_EQ(two.status, 400U) << two.body;
}

TEST_F(ServerTest, DefaultEntryLimitIs256KiB) {
  start(loopback_config());
  Client client(port_);
  auto body = [](size_t total) {
    // size = 1 (Source) + 1 (DetailType) + len(Detail)
    std::string detail = R"({"a":")" + std::string(total - 2 - 8, 'x') + R"("})";
    return entries_body({entry_json("s", "d", detail)});
  };
  Reply at_limit = put_events(client, body(262144));
  EXPECT_EQ(at_limit.status, 200U) << at_limit.body.substr(0, 200);
  Reply over_limit = put_events(client, body(262145));
  EXPECT_EQ(over_limit.status, 400U);
  EXPECT_EQ(Json(over_limit.body).str("__type"), "ValidationException");
  ASSERT_EQ(bus_.envelopes().size(), 1U);
  EXPECT_EQ(bus_.envelopes()[0].detail_json.size(), 262142U);
}

TEST_F(ServerTest, RequestLevelErrors) {
  config::ServerConfig config = loopback_config();
  config.limits.max_body_bytes = 4096;
  start(config);
  Client client(port_);

  Reply malformed = put_events(client, R"({"Entries": [)");
  EXPECT_EQ(malformed.status, 400U);
  EXPECT_EQ(Json(malformed.body).str("__type"), "SerializationException");

  Reply wrong_type = put_events(client, R"({"Entries": [{"Source": 5}]})");
  EXPECT_EQ(wrong_type.status, 400U);
  EXPECT_EQ(Json(wrong_type.body).str("__type"), "SerializationException");
  EXPECT_NE(Json(wrong_type.body).str("message").find("Entries[0].Source"), std::string::npos);

  Reply empty = put_events(client, R"({"Entries": []})");
  EXPECT_EQ(empty.status, 400U);
  EXPECT_EQ(Json(empty.body).str("__type"), "ValidationException");

  Reply missing = put_events(client, R"({})");
  EXPECT_EQ(missing.status, 400U);
  EXPECT_NE(Json(missing.body).str("message").find("'entries'"), std::string::npos);

  Reply endpoint = put_events(client, R"({"EndpointId":"abc.veo","Entries":[]})");
  EXPECT_EQ(Json(endpoint.body).str("__type"), "ValidationException");

  Reply unknown = client.request("POST", "/", "{}", amz_headers("PutRule"));
  EXPECT_EQ(unknown.status, 400U);
  EXPECT_EQ(Json(unknown.body).str("__type"), "UnknownOperationException");
  Reply foreign =
      client.request("POST", "/", "{}", {{"X-Amz-Target", "DynamoDB_20120810.GetItem"}});
  EXPECT_EQ(Json(foreign.body).str("__type"), "UnknownOperationException");
  Reply no_target = client.request("POST", "/", "{}");
  EXPECT_EQ(Json(no_target.body).str("__type"), "UnknownOperationException");

  Reply number_detail = put_events(client, entries_body({entry_json("s", "d", "5")}));
  EXPECT_EQ(number_detail.status, 200U);
  EXPECT_EQ(Json(number_detail.body).root["Entries"].at(0)["ErrorCode"].get_string().value(),
            "MalformedDetail");
  Reply long_type =
      put_events(client, entries_body({entry_json("s", std::string(129, 'x'), "{}")}));
  EXPECT_EQ(Json(long_type.body).root["Entries"].at(0)["ErrorCode"].get_string().value(),
            "InvalidArgument");
  EXPECT_TRUE(bus_.calls().empty());

  // Still served on the same keep-alive connection after all of that.
  EXPECT_EQ(client.request("GET", "/healthz").status, 200U);

  Reply oversize = put_events(client, std::string(5000, ' '));
  EXPECT_EQ(oversize.status, 413U);
  EXPECT_EQ(Json(oversize.body).str("__type"), "RequestEntityTooLargeException");
  EXPECT_TRUE(client.closed_by_server(5s));

  config::ServerConfig small_headers = loopback_config();
  Client fresh(port_);
  Reply big_header = fresh.request("GET", "/healthz", "", {{"X-Big", std::string(20000, 'h')}});
  EXPECT_EQ(big_header.status, 431U);
}

TEST_F(ServerTest, BusFailuresBecomeRetryableEntryErrors) {
  start(loopback_config());
  Client client(port_);
  bus_.set_status(unavailable("store is down"));
  Reply reply =
      put_events(client, entries_body({entry_json("s", "d", "{}"), entry_json("", "d", "{}")}));
  ASSERT_EQ(reply.status, 200U);
  Json json(reply.body);
  EXPECT_EQ(json.root["FailedEntryCount"].get_int64().value(), 2);
  EXPECT_EQ(json.root["Entries"].at(0)["ErrorCode"].get_string().value(), "InternalFailure");
  EXPECT_EQ(json.root["Entries"].at(0)["ErrorMessage"].get_string().value(), "store is down");
  EXPECT_EQ(json.root["Entries"].at(1)["ErrorCode"].get_string().value(), "InvalidArgument");

  bus_.set_status(resource_exhausted("queue full"));
  Reply throttled = put_events(client, entries_body({entry_json("s", "d", "{}")}));
  EXPECT_EQ(Json(throttled.body).root["Entries"].at(0)["ErrorCode"].get_string().value(),
            "ThrottlingException");

  std::string metrics = server_->server_metrics_text();
  EXPECT_NE(metrics.find("hikyaku_ingest_entries_rejected_total{path=\"put_events\",error_code="
                         "\"InternalFailure\"} 1"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("error_code=\"ThrottlingException\"} 1"), std::string::npos);
  EXPECT_NE(metrics.find("error_code=\"InvalidArgument\"} 1"), std::string::npos);
}

TEST_F(ServerTest, TestEventPattern) {
  start(loopback_config());
  Client client(port_);
  std::string event =
      R"({"id":"1","account":"1","source":"aws.securityhub","time":"2026-01-01T00:00:00Z","region":"r","resources":[],"detail-type":"x","detail":{"n":5}})";
  auto request = [&](std::string_view pattern) {
    JsonWriter w;
    w.begin_object();
    w.key("EventPattern");
    w.string(pattern);
    w.key("Event");
    w.string(event);
    w.end_object();
    return client.request("POST", "/", w.take(), amz_headers("TestEventPattern"));
  };
  Reply match = request(R"({"detail":{"n":[{"numeric":[">",4]}]}})");
  EXPECT_EQ(match.status, 200U);
  EXPECT_EQ(match.body, R"({"Result":true})");
  Reply no_match = request(R"({"source":["other"]})");
  EXPECT_EQ(no_match.body, R"({"Result":false})");
  Reply invalid = request(R"({"source":[]})");
  EXPECT_EQ(invalid.status, 400U);
  Json json(invalid.body);
  EXPECT_EQ(json.str("__type"), "InvalidEventPatternException");
  EXPECT_EQ(json.str("message").rfind("Event pattern is not valid. Reason: ", 0), 0U);
}

TEST_F(ServerTest, ReadOnlyRuleOperations) {
  start(loopback_config());
  Client client(port_);
  Reply rules = client.request("POST", "/", "{}", amz_headers("ListRules"));
  ASSERT_EQ(rules.status, 200U) << rules.body;
  Json list(rules.body);
  auto rule = list.root["Rules"].at(0);
  EXPECT_EQ(rule["Name"].get_string().value(), "findings-to-log");
  EXPECT_EQ(rule["Arn"].get_string().value(),
            "arn:aws:events:ap-northeast-1:123456789012:rule/findings-to-log");
  EXPECT_EQ(rule["State"].get_string().value(), "ENABLED");
  EXPECT_EQ(list.root["Rules"].get_array().value().size(), 1U);

  Reply custom =
      client.request("POST", "/", R"({"EventBusName":"orders-bus"})", amz_headers("ListRules"));
  Json custom_json(custom.body);
  EXPECT_EQ(custom_json.root["Rules"].at(0)["Arn"].get_string().value(),
            "arn:aws:events:ap-northeast-1:123456789012:rule/orders-bus/orders");
  EXPECT_EQ(custom_json.root["Rules"].at(0)["State"].get_string().value(), "DISABLED");

  Reply missing_bus =
      client.request("POST", "/", R"({"EventBusName":"nope"})", amz_headers("ListRules"));
  EXPECT_EQ(Json(missing_bus.body).str("message"), "Event bus nope does not exist.");

  Reply describe =
      client.request("POST", "/", R"({"Name":"findings-to-log"})", amz_headers("DescribeRule"));
  Json described(describe.body);
  EXPECT_EQ(described.str("EventPattern"), R"({"source":["aws.securityhub"]})");
  EXPECT_EQ(described.str("EventBusName"), "default");
  Reply unknown_rule = client.request("POST", "/", R"({"Name":"x"})", amz_headers("DescribeRule"));
  EXPECT_EQ(unknown_rule.status, 400U);
  EXPECT_EQ(Json(unknown_rule.body).str("__type"), "ResourceNotFoundException");
  EXPECT_EQ(Json(unknown_rule.body).str("message"), "Rule x does not exist on EventBus default.");

  Reply targets = client.request("POST", "/", R"({"Rule":"findings-to-log"})",
                                 amz_headers("ListTargetsByRule"));
  Json targets_json(targets.body);
  auto target_list = targets_json.root["Targets"].get_array().value();
  ASSERT_EQ(target_list.size(), 2U);
  EXPECT_EQ(target_list.at(1)["Arn"].get_string().value(),
            "arn:aws:events:ap-northeast-1:123456789012:api-destination/backlog-add-issue");
  EXPECT_EQ(target_list.at(1)["InputTransformer"]["InputPathsMap"]["t"].get_string().value(),
            "$.detail.title");

  Reply buses = client.request("POST", "/", "{}", amz_headers("ListEventBuses"));
  Json buses_json(buses.body);
  auto bus_list = buses_json.root["EventBuses"].get_array().value();
  ASSERT_EQ(bus_list.size(), 2U);
  EXPECT_EQ(bus_list.at(0)["Arn"].get_string().value(),
            "arn:aws:events:ap-northeast-1:123456789012:event-bus/default");
  EXPECT_EQ(bus_list.at(1)["Name"].get_string().value(), "orders-bus");
}

// ---------------------------------------------------------------------------------------------
// SigV4 over HTTP.

class SignedServerTest : public ServerTest {
 protected:
  static constexpr std::string_view kSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

  void start_signed() {
    config::ServerConfig config = loopback_config();
    config.region.reset();
    config::SigV4Credential any;
    any.access_key_id = "AKIDEXAMPLE";
    any.secret_access_key = Secret(std::string(kSecret));
    config::SigV4Credential limited;
    limited.access_key_id = "AKIDLIMITED";
    limited.secret_access_key = Secret("limited-secret");
    limited.allowed_sources = {"com.example.*", "my.app"};
    config.auth.sigv4_credentials = {any, limited};
    ServerOptions options;
    options.clock = [this] { return now_; };
    start(config, std::move(options));
  }

  Reply signed_put_events(Client& client, const std::string& body, std::string_view key_id,
                          std::string_view secret, std::chrono::system_clock::time_point signed_at,
                          std::string_view region = "us-west-2") {
    std::string amz_date = sigv4::format_amz_date(signed_at);
    std::string host = "127.0.0.1";
    sigv4::SigV4Request request;
    request.method = "POST";
    request.path = "/";
    request.headers = {{"Host", host},
                       {"X-Amz-Date", amz_date},
                       {"X-Amz-Target", "AWSEvents.PutEvents"},
                       {"Content-Type", "application/x-amz-json-1.1"}};
    request.body = body;
    std::string authorization =
        sigv4::authorization_header(request, {"content-type", "host", "x-amz-date", "x-amz-target"},
                                    key_id, secret, amz_date, region);
    auto headers = amz_headers("PutEvents");
    headers.emplace_back("X-Amz-Date", amz_date);
    headers.emplace_back("Authorization", authorization);
    return client.request("POST", "/", body, headers);
  }

  std::chrono::system_clock::time_point now_ = *sigv4::parse_amz_date("20260102T030405Z");
};

TEST_F(SignedServerTest, SignedRoundTripAndRefusals) {
  start_signed();
  Client client(port_);
  std::string body = entries_body({entry_json("com.example.a", "t", "{}")});

  Reply ok = signed_put_events(client, body, "AKIDEXAMPLE", kSecret, now_);
  ASSERT_EQ(ok.status, 200U) << ok.body;
  EXPECT_EQ(Json(ok.body).root["FailedEntryCount"].get_int64().value(), 0);
  // No Server.Region: the signing region becomes the event's region.
  ASSERT_EQ(bus_.envelopes().size(), 1U);
  EXPECT_EQ(bus_.envelopes()[0].region, "us-west-2");
  EXPECT_EQ(bus_.envelopes()[0].time, "2026-01-02T03:04:05Z");

  Reply wrong_secret = signed_put_events(client, body, "AKIDEXAMPLE", "wrong", now_);
  EXPECT_EQ(wrong_secret.status, 403U);
  EXPECT_EQ(Json(wrong_secret.body).str("__type"), "InvalidSignatureException");
  EXPECT_EQ(wrong_secret.body.find(kSecret), std::string::npos);

  Reply skewed = signed_put_events(client, body, "AKIDEXAMPLE", kSecret, now_ - 6min);
  EXPECT_EQ(skewed.status, 403U);
  EXPECT_NE(Json(skewed.body).str("message").find("Signature expired"), std::string::npos);
  Reply within = signed_put_events(client, body, "AKIDEXAMPLE", kSecret, now_ + 4min);
  EXPECT_EQ(within.status, 200U);

  Reply unknown = signed_put_events(client, body, "AKIDUNKNOWN", kSecret, now_);
  EXPECT_EQ(unknown.status, 403U);
  EXPECT_EQ(Json(unknown.body).str("__type"), "UnrecognizedClientException");

  Reply unsigned_reply = put_events(client, body);
  EXPECT_EQ(unsigned_reply.status, 403U);
  EXPECT_EQ(Json(unsigned_reply.body).str("__type"), "MissingAuthenticationTokenException");
  EXPECT_EQ(bus_.envelopes().size(), 2U);  // only the two accepted requests reached the bus

  // AllowedSources: per-entry refusal, others in the same request accepted.
  std::string mixed =
      entries_body({entry_json("com.example.x", "t", "{}"),
                    entry_json("aws.securityhub", "t", "{}"), entry_json("my.app", "t", "{}")});
  Reply limited = signed_put_events(client, mixed, "AKIDLIMITED", "limited-secret", now_);
  ASSERT_EQ(limited.status, 200U) << limited.body;
  Json json(limited.body);
  EXPECT_EQ(json.root["FailedEntryCount"].get_int64().value(), 1);
  EXPECT_EQ(json.root["Entries"].at(1)["ErrorCode"].get_string().value(),
            "NotAuthorizedForSourceException");
  EXPECT_TRUE(json.root["Entries"].at(0)["EventId"].error() == simdjson::SUCCESS);
  EXPECT_TRUE(json.root["Entries"].at(2)["EventId"].error() == simdjson::SUCCESS);

  std::string metrics = server_->server_metrics_text();
  EXPECT_EQ(metrics.find(kSecret), std::string::npos);
  EXPECT_EQ(metrics.find("limited-secret"), std::string::npos);
  EXPECT_NE(metrics.find("error_type=\"InvalidSignatureException\"} 2"), std::string::npos)
      << metrics;
}

TEST_F(SignedServerTest, RegionIsRestrictedWhenConfigured) {
  config::ServerConfig config = loopback_config();  // Region ap-northeast-1
  config::SigV4Credential credential;
  credential.access_key_id = "AKIDEXAMPLE";
  credential.secret_access_key = Secret(std::string(kSecret));
  config.auth.sigv4_credentials = {credential};
  ServerOptions options;
  options.clock = [this] { return now_; };
  start(config, std::move(options));
  Client client(port_);
  std::string body = entries_body({entry_json("s", "t", "{}")});
  EXPECT_EQ(signed_put_events(client, body, "AKIDEXAMPLE", kSecret, now_, "ap-northeast-1").status,
            200U);
  Reply other = signed_put_events(client, body, "AKIDEXAMPLE", kSecret, now_, "us-east-1");
  EXPECT_EQ(other.status, 403U);
  EXPECT_EQ(Json(other.body).str("__type"), "InvalidSignatureException");
}

// ---------------------------------------------------------------------------------------------
// Webhook, health, limits, lifecycle.

constexpr std::string_view kEnvelope =
    R"({"version":"0","id":"6f1b3c1e-0000-4000-8000-000000000001","detail-type":"Security Hub Findings - Imported","source":"aws.securityhub","account":"111122223333","time":"2026-03-01T09:15:02Z","region":"us-east-1","resources":[],"detail":{"findings":[]}})";

TEST_F(ServerTest, WebhookApiKeyAuth) {
  config::ServerConfig config = loopback_config();
  config::ApiKeyCredential key;
  key.header_name = "x-hikyaku-key";
  key.value = Secret("s3cr3t-key-value");
  config.auth.api_keys = {key};
  start(config);
  Client client(port_);
  Reply missing = client.request("POST", "/events/default", std::string(kEnvelope));
  EXPECT_EQ(missing.status, 401U);
  Reply wrong = client.request("POST", "/events/default", std::string(kEnvelope),
                               {{"X-Hikyaku-Key", "s3cr3t-key-valuX"}});
  EXPECT_EQ(wrong.status, 403U);
  Reply shorter = client.request("POST", "/events/default", std::string(kEnvelope),
                                 {{"x-hikyaku-key", "s3cr3t"}});
  EXPECT_EQ(shorter.status, 403U);
  EXPECT_TRUE(bus_.calls().empty());
  Reply ok = client.request("POST", "/events/securityhub", std::string(kEnvelope),
                            {{"x-hikyaku-key", "s3cr3t-key-value"}});
  ASSERT_EQ(ok.status, 200U) << ok.body;
  EXPECT_EQ(Json(ok.body).str("EventId"), "6f1b3c1e-0000-4000-8000-000000000001");
  auto calls = bus_.calls();
  ASSERT_EQ(calls.size(), 1U);
  EXPECT_EQ(calls[0].bus, "securityhub");
  EXPECT_EQ(calls[0].envelopes[0].account, "111122223333");  // preserved as received
  EXPECT_EQ(calls[0].envelopes[0].time, "2026-03-01T09:15:02Z");

  Reply bad = client.request("POST", "/events/default", R"({"version":"0"})",
                             {{"x-hikyaku-key", "s3cr3t-key-value"}});
  EXPECT_EQ(bad.status, 400U);
  EXPECT_EQ(Json(bad.body).str("__type"), "ValidationException");

  // The PutEvents API is closed: Auth is configured but has no SigV4 credential.
  Reply api = put_events(client, entries_body({entry_json("s", "t", "{}")}));
  EXPECT_EQ(api.status, 403U);

  bus_.set_status(unavailable("store down"));
  Reply unavailable_reply = client.request("POST", "/events/default", std::string(kEnvelope),
                                           {{"x-hikyaku-key", "s3cr3t-key-value"}});
  EXPECT_EQ(unavailable_reply.status, 503U);

  for (const std::string& text :
       {server_->server_metrics_text(), missing.body, wrong.body, shorter.body, bad.body}) {
    EXPECT_EQ(text.find("s3cr3t"), std::string::npos);
  }
}

TEST_F(ServerTest, HealthReadinessAndMetrics) {
  bool ready = false;
  ServerOptions options;
  options.readiness = [&] { return ready ? Status() : unavailable("store not open"); };
  options.metrics_text = [this] { return "bus_metric 1\n" + server_->server_metrics_text(); };
  start(loopback_config(), std::move(options));
  Client client(port_);
  EXPECT_EQ(client.request("GET", "/healthz").status, 200U);
  Reply not_ready = client.request("GET", "/readyz");
  EXPECT_EQ(not_ready.status, 503U);
  EXPECT_NE(not_ready.body.find("store not open"), std::string::npos);
  ready = true;
  EXPECT_EQ(client.request("GET", "/readyz").status, 200U);
  EXPECT_EQ(put_events(client, entries_body({entry_json("s", "t", "{}")})).status, 200U);
  Reply metrics = client.request("GET", "/metrics");
  EXPECT_EQ(metrics.status, 200U);
  EXPECT_EQ(metrics.headers["content-type"], "text/plain; version=0.0.4");
  EXPECT_EQ(metrics.body.rfind("bus_metric 1\n", 0), 0U);
  EXPECT_NE(metrics.body.find("hikyaku_ingest_entries_accepted_total{path=\"put_events\"} 1"),
            std::string::npos)
      << metrics.body;
  EXPECT_EQ(client.request("GET", "/nope").status, 404U);
  EXPECT_EQ(client.request("GET", "/events/default").status, 405U);
}

TEST_F(ServerTest, SlowlorisIsCutOffWhileOthersAreServed) {
  config::ServerConfig config = loopback_config();
  config.limits.request_timeout_seconds = 1;
  start(config);
  Client slow(port_);
  ASSERT_TRUE(slow.connected());
  std::string request =
      "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: AWSEvents.PutEvents\r\nContent-Length: "
      "2\r\n\r\n{}";
  auto started = std::chrono::steady_clock::now();
  bool cut = false;
  size_t sent = 0;
  // One byte every 200 ms (waiting on "closed by the server" in between): the whole request
  // would take 17 s, far beyond the 1 s request timeout.
  while (sent < request.size() && std::chrono::steady_clock::now() - started < 8s) {
    beast::error_code ec;
    asio::write(slow.socket(), asio::buffer(&request[sent], 1), ec);
    if (ec) {
      cut = true;
      break;
    }
    ++sent;
    if (sent == 3) {
      // Another client is served normally while the slow one trickles.
      Client other(port_);
      EXPECT_EQ(other.request("GET", "/healthz").status, 200U);
    }
    if (slow.closed_by_server(200ms)) {
      cut = true;
      break;
    }
  }
  EXPECT_TRUE(cut);
  EXPECT_LT(sent, request.size());
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
  EXPECT_TRUE(wait_for([&] {
    return server_->server_metrics_text().find("hikyaku_http_request_timeouts_total 1") !=
           std::string::npos;
  }));
}

TEST_F(ServerTest, ExpectContinueIsAnswered) {
  start(loopback_config());
  Client client(port_);
  std::string body = entries_body({entry_json("s", "t", "{}")});
  std::string head =
      "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: AWSEvents.PutEvents\r\n"
      "Expect: 100-continue\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n";
  asio::write(client.socket(), asio::buffer(head));
  std::string interim;
  asio::read_until(client.socket(), asio::dynamic_buffer(interim), "\r\n\r\n");
  EXPECT_EQ(interim.rfind("HTTP/1.1 100 Continue\r\n", 0), 0U) << interim;
  asio::write(client.socket(), asio::buffer(body));
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(client.socket(), buffer, response);
  EXPECT_EQ(response.result_int(), 200U);
  EXPECT_EQ(bus_.envelopes().size(), 1U);
}

TEST_F(ServerTest, MaxConnections) {
  config::ServerConfig config = loopback_config();
  config.limits.max_connections = 1;
  start(config);
  Client first(port_);
  ASSERT_EQ(first.request("GET", "/healthz").status, 200U);  // the connection is established
  Client second(port_);
  EXPECT_TRUE(second.closed_by_server(5s));
  EXPECT_EQ(first.request("GET", "/healthz").status, 200U);
  EXPECT_TRUE(wait_for([&] {
    return server_->server_metrics_text().find("hikyaku_http_connections_refused_total 1") !=
           std::string::npos;
  }));
}

TEST_F(ServerTest, StopDrainsInFlightRequests) {
  start(loopback_config());
  bus_.hold();
  Reply reply;
  std::thread client_thread([&] {
    Client client(port_);
    reply = put_events(client, entries_body({entry_json("s", "t", "{}")}));
  });
  Client idle(port_);
  ASSERT_EQ(idle.request("GET", "/healthz").status, 200U);
  ASSERT_TRUE(bus_.wait_for_held(1));
  std::thread stopper([&] { server_->stop(std::chrono::steady_clock::now() + 10s); });
  EXPECT_TRUE(idle.closed_by_server(5s));  // idle keep-alive connections are closed at once
  bus_.release();
  client_thread.join();
  stopper.join();
  EXPECT_EQ(reply.status, 200U);
  EXPECT_EQ(Json(reply.body).root["FailedEntryCount"].get_int64().value(), 0);
  EXPECT_EQ(reply.headers["connection"], "close");
  Client after(port_);
  EXPECT_FALSE(after.connected() && after.request("GET", "/healthz").status == 200U);
}

TEST(ServerStartTest, RefusesNonLoopbackListenWithoutAuth) {
  FakeBus bus;
  config::ServerConfig config;
  config.listen = "0.0.0.0:0";
  Server server(config, bus);
  auto port = server.start();
  ASSERT_FALSE(port.has_value());
  EXPECT_EQ(port.error().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(port.error().message().find("not a loopback address"), std::string::npos);
  EXPECT_NE(port.error().message().find("Server.Auth"), std::string::npos);

  config.listen = "not-an-address:80";
  Server bad(config, bus);
  EXPECT_EQ(bad.start().error().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(is_loopback_host("127.0.0.1"));
  EXPECT_TRUE(is_loopback_host("::1"));
  EXPECT_FALSE(is_loopback_host("127.0.0.1.example.com"));
}

class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "hikyaku-server-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

TEST_F(ServerTest, TlsServesWebhookAndApi) {
  TempDir dir;
  std::string cert = (dir.path() / "cert.pem").string();
  std::string key = (dir.path() / "key.pem").string();
  std::string command =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -keyout " + key +
      " -out " + cert + " >/dev/null 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0);
  config::ServerConfig config = loopback_config();
  config.tls = config::TlsConfig{cert, key};
  start(config);
  Client client(port_, /*tls=*/true);
  ASSERT_TRUE(client.connected());
  EXPECT_EQ(client.request("GET", "/healthz").status, 200U);
  Reply webhook = client.request("POST", "/events/default", std::string(kEnvelope));
  EXPECT_EQ(webhook.status, 200U) << webhook.body;
  Reply api = put_events(client, entries_body({entry_json("s", "t", "{}")}));
  EXPECT_EQ(api.status, 200U);
  EXPECT_EQ(bus_.envelopes().size(), 2U);

  // A plain-HTTP client on the TLS port gets no HTTP answer.
  Client plain(port_);
  EXPECT_EQ(plain.request("GET", "/healthz").status, 0U);

  config::ServerConfig broken = loopback_config();
  broken.tls = config::TlsConfig{(dir.path() / "missing.pem").string(), key};
  Server bad(broken, bus_);
  auto result = bad.start();
  ASSERT_FALSE(result.has_value());
  EXPECT_NE(result.error().message().find("CertFile"), std::string::npos);
}

}  // namespace
}  // namespace hikyaku::server
