// The real server on 127.0.0.1:0 between a tiny Beast client and a fake EventBus: what only a
// socket shows (framing, keep-alive, limits, timeouts, TLS, draining on stop). What the API
// answers is tested without sockets in api_test.cc.
#include "server/server.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <simdjson.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <map>
#include <thread>
#include <vector>

#include "server/internal/test_support.h"
#include "testing/fake_clock.h"
#include "testing/http_client.h"
#include "testing/tls_certificate.h"

namespace hikyaku::server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using boost::asio::ip::tcp;
using namespace std::chrono_literals;
using test::amz_headers;
using test::entries_body;
using test::entry_json;
using test::Json;
using test::kEnvelope;
using test::loopback_config;
using test::Reply;

// ---------------------------------------------------------------------------------------------
// A tiny synchronous HTTP/1.1 client (keep-alive), plain or TLS. Socket receive timeouts keep a
// misbehaving server from hanging the test.

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
                const test::Headers& headers = {}) {
    http::request<http::string_body> req;
    req.method_string(beast::string_view(method.data(), method.size()));
    req.target(beast::string_view(target.data(), target.size()));
    req.version(11);
    req.set(http::field::host, std::string(test::kHost));
    for (const auto& [name, value] : headers) {
      req.set(name, value);
    }
    req.body() = std::move(body);
    req.prepare_payload();
    beast::error_code ec;
    http::response_parser<http::string_body> parser;
    parser.body_limit(std::uint64_t{16} * 1024 * 1024);
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

class ServerTest : public ::testing::Test {
 protected:
  void start(config::ServerConfig config, ServerOptions options = {}) {
    config_ = config;
    if (options.io_threads == 0) {
      options.io_threads = 2;
    }
    server_ = std::make_unique<Server>(std::move(config), bus_, clock_, std::move(options));
    auto port = server_->start();
    ASSERT_TRUE(port.has_value()) << port.error().message();
    port_ = *port;
  }

  Reply put_events(Client& client, std::string body) {
    return client.request("POST", "/", std::move(body), amz_headers("PutEvents"));
  }

  test::FakeBus bus_;  // declared first: outlives the server
  testing::FakeClock clock_;
  config::ServerConfig config_;
  std::unique_ptr<Server> server_;
  uint16_t port_ = 0;
};

// ---------------------------------------------------------------------------------------------
// What the API answers, as it reaches a client over HTTP.

TEST_F(ServerTest, AnswersCrossTheSocketWithTheirHeaders) {
  start(loopback_config());
  Client client(port_);
  Reply reply = put_events(client, entries_body({entry_json("s", "t", "{}")}));
  ASSERT_EQ(reply.status, 200U) << reply.body;
  EXPECT_EQ(reply.headers["content-type"], "application/x-amz-json-1.1");
  EXPECT_EQ(reply.headers["x-amzn-requestid"].size(), 36U);
  EXPECT_EQ(reply.headers["server"], "hikyaku");
  EXPECT_EQ(Json(reply.body).root["FailedEntryCount"].get_int64().value(), 0);
  // The clock the server was given stamps the event.
  ASSERT_EQ(bus_.envelopes().size(), 1U);
  EXPECT_EQ(bus_.envelopes()[0].time, "2026-03-01T09:15:02Z");

  Reply webhook = client.request("POST", "/events/default", std::string(kEnvelope));
  EXPECT_EQ(webhook.status, 200U) << webhook.body;
  EXPECT_EQ(webhook.headers["content-type"], "application/json");
  Reply wrong_method = client.request("GET", "/events/default");
  EXPECT_EQ(wrong_method.status, 405U);
  EXPECT_EQ(wrong_method.headers["allow"], "POST");

  Reply metrics = client.request("GET", "/metrics");
  EXPECT_EQ(metrics.status, 200U);
  EXPECT_EQ(metrics.headers["content-type"], "text/plain; version=0.0.4");
  EXPECT_NE(metrics.body.find("hikyaku_http_connections_active 1\n"), std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find("hikyaku_ingest_entries_accepted_total{path=\"webhook\"} 1\n"),
            std::string::npos);
}

// Overload as a client sees it: PutEvents throttled as a whole (AWS's ThrottlingException, which
// the CLI and SDKs back off on), the webhook 429 with Retry-After; the connection stays open and
// the same client is served once there is room again.
TEST_F(ServerTest, ThrottlingAnswersCrossTheSocketAndKeepTheConnection) {
  start(loopback_config());
  Client client(port_);
  bus_.set_status(resource_exhausted("queued work is over its byte bound"));
  Reply throttled = put_events(client, entries_body({entry_json("s", "t", "{}")}));
  EXPECT_EQ(throttled.status, 400U);
  EXPECT_EQ(throttled.headers["content-type"], "application/x-amz-json-1.1");
  EXPECT_EQ(throttled.body, R"({"__type":"ThrottlingException","message":"Rate exceeded"})");
  Reply busy = client.request("POST", "/events/default", std::string(kEnvelope));
  EXPECT_EQ(busy.status, 429U);
  EXPECT_EQ(busy.headers["retry-after"], "1");
  EXPECT_EQ(Json(busy.body).str("__type"), "ThrottlingException");

  bus_.set_status(Status());
  Reply accepted = put_events(client, entries_body({entry_json("s", "t", "{}")}));
  EXPECT_EQ(accepted.status, 200U) << accepted.body;
  EXPECT_EQ(client.request("POST", "/events/default", std::string(kEnvelope)).status, 200U);
  Reply metrics = client.request("GET", "/metrics");
  for (std::string_view path : {"put_events", "webhook"}) {
    EXPECT_NE(metrics.body.find(
                  fmt::format("hikyaku_ingest_entries_accepted_total{{path=\"{}\"}} 1\n", path)),
              std::string::npos)
        << path;
  }
  EXPECT_NE(metrics.body.find("hikyaku_http_connections_active 1\n"), std::string::npos)
      << "the throttled requests kept their connection:\n"
      << metrics.body;
}

TEST_F(ServerTest, SignedRequestOverHttp) {
  config::ServerConfig config = loopback_config();
  config::SigV4Credential credential;
  credential.access_key_id = "AKIDEXAMPLE";
  credential.secret_access_key = Secret("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
  config.auth.sigv4_credentials = {credential};
  start(config);
  Client client(port_);
  std::string body = entries_body({entry_json("s", "t", "{}")});
  Reply ok = client.request("POST", "/", body,
                            test::signed_put_events_headers(
                                body, "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                clock_.now(), "ap-northeast-1"));
  EXPECT_EQ(ok.status, 200U) << ok.body;
  Reply unsigned_reply = put_events(client, body);
  EXPECT_EQ(unsigned_reply.status, 403U);
  EXPECT_EQ(Json(unsigned_reply.body).str("__type"), "MissingAuthenticationTokenException");
}

// ---------------------------------------------------------------------------------------------
// Framing, limits, lifecycle.

TEST_F(ServerTest, RequestLevelErrorsKeepTheConnectionFramingErrorsCloseIt) {
  config::ServerConfig config = loopback_config();
  config.limits.max_body_bytes = 4096;
  start(config);
  Client client(port_);

  Reply malformed = put_events(client, R"({"Entries": [)");
  EXPECT_EQ(malformed.status, 400U);
  EXPECT_EQ(Json(malformed.body).str("__type"), "SerializationException");
  Reply unknown = client.request("POST", "/", "{}", amz_headers("PutRule"));
  EXPECT_EQ(Json(unknown.body).str("__type"), "UnknownOperationException");
  Reply number_detail = put_events(client, entries_body({entry_json("s", "d", "5")}));
  EXPECT_EQ(number_detail.status, 200U);
  EXPECT_TRUE(bus_.calls().empty());

  // Still served on the same keep-alive connection after all of that.
  EXPECT_EQ(client.request("GET", "/healthz").status, 200U);

  Reply oversize = put_events(client, std::string(5000, ' '));
  EXPECT_EQ(oversize.status, 413U);
  EXPECT_EQ(Json(oversize.body).str("__type"), "RequestEntityTooLargeException");
  EXPECT_TRUE(client.closed_by_server(5s));

  Client fresh(port_);
  Reply big_header = fresh.request("GET", "/healthz", "", {{"X-Big", std::string(20000, 'h')}});
  EXPECT_EQ(big_header.status, 431U);
}

// Request smuggling: a request whose body length two HTTP implementations could read differently
// (RFC 9112 §6.1, §6.3) is answered 400 (501 for a transfer coding hikyaku does not implement) and
// the connection closed, so the bytes after it are never read as a request of their own.
TEST_F(ServerTest, AmbiguousFramingIsRefusedAndTheConnectionClosed) {
  start(loopback_config());
  // What a front proxy might have read as this request's body: answered, it would be a second,
  // smuggled request.
  const std::string smuggled = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string chunked_smuggled =
      fmt::format("{:x}\r\n{}\r\n0\r\n\r\n", smuggled.size(), smuggled);
  struct Case {
    std::string_view name;
    std::string head;  // request line and header fields, without the empty line
    std::string body;
    unsigned status;
  };
  const std::string post = "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: AWSEvents.PutEvents\r\n";
  const std::string length = "Content-Length: " + std::to_string(smuggled.size()) + "\r\n";
  const std::vector<Case> cases = {
      {"unknown coding", post + "Transfer-Encoding: xchunked\r\n", chunked_smuggled, 400},
      {"chunked not last", post + "Transfer-Encoding: chunked, identity\r\n", chunked_smuggled,
       400},
      {"identity alone", post + "Transfer-Encoding: identity\r\n", smuggled, 400},
      {"empty coding", post + "Transfer-Encoding: \r\n", smuggled, 400},
      {"coding list ending in chunked", post + "Transfer-Encoding: gzip, chunked\r\n",
       chunked_smuggled, 501},
      {"codings split over two fields",
       post + "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n", chunked_smuggled, 501},
      {"chunked twice", post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
       chunked_smuggled, 400},
      {"chunked then length", post + "Transfer-Encoding: chunked\r\n" + length, chunked_smuggled,
       400},
      {"length then chunked", post + length + "Transfer-Encoding: chunked\r\n", chunked_smuggled,
       400},
      {"length and another coding", post + length + "Transfer-Encoding: gzip\r\n", smuggled, 400},
      {"chunked in HTTP/1.0",
       "POST / HTTP/1.0\r\nHost: x\r\nX-Amz-Target: AWSEvents.PutEvents\r\n"
       "Transfer-Encoding: chunked\r\n",
       chunked_smuggled, 400},
      {"chunked with a folded value", post + "Transfer-Encoding:\r\n chunked\r\n", chunked_smuggled,
       400},
      {"space before the colon", post + "Transfer-Encoding : chunked\r\n", chunked_smuggled, 400},
      {"length twice, same value", post + length + length, smuggled, 400},
      {"length twice, different values", post + length + "Content-Length: 0\r\n", smuggled, 400},
      {"length list", post + "Content-Length: 0, 0\r\n", smuggled, 400},
      {"length with a plus sign", post + "Content-Length: +0\r\n", smuggled, 400},
      {"length with a minus sign", post + "Content-Length: -0\r\n", smuggled, 400},
      {"length in hex", post + "Content-Length: 0x0\r\n", smuggled, 400},
      {"length with an inner space", post + "Content-Length: 0 0\r\n", smuggled, 400},
      {"length with a decimal point", post + "Content-Length: 0.0\r\n", smuggled, 400},
      {"empty length", post + "Content-Length: \r\n", smuggled, 400},
      {"length overflowing 64 bits", post + "Content-Length: 18446744073709551617\r\n", smuggled,
       400},
      {"folded other header", post + "X-Note: a\r\n b\r\n" + length, smuggled, 400},
      {"fold right after the request line",
       "POST / HTTP/1.1\r\n Host: x\r\nX-Amz-Target: AWSEvents.PutEvents\r\n" + length, smuggled,
       400},
      {"bare CR inside a value", post + "X-Note: a\rb\r\n" + length, smuggled, 400},
      {"bare LF ending a field", post + "X-Note: a\n" + length, smuggled, 400},
      {"NUL inside a value", post + std::string("X-Note: a\0b\r\n", 13) + length, smuggled, 400},
      {"two Host fields", post + "Host: y\r\n" + length, smuggled, 400},
      {"no Host in HTTP/1.1", "POST / HTTP/1.1\r\nX-Amz-Target: AWSEvents.PutEvents\r\n" + length,
       smuggled, 400},
      {"bad chunk size", post + "Transfer-Encoding: chunked\r\n", "zz\r\n" + smuggled, 400},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.name));
    testing::HttpClient client("127.0.0.1", port_);
    ASSERT_TRUE(client.send_raw(c.head + "\r\n" + c.body).ok());
    const std::string answer = client.read_raw(5s);
    EXPECT_EQ(answer.rfind(fmt::format("HTTP/1.1 {} ", c.status), 0), 0U) << answer;
    // One answer, then the connection is closed: the smuggled request is never answered.
    size_t responses = 0;
    for (size_t at = answer.find("HTTP/1."); at != std::string::npos;
         at = answer.find("\nHTTP/1.", at + 1)) {
      ++responses;  // status lines: at the start, or after a line break
    }
    EXPECT_EQ(responses, 1U) << answer;
    EXPECT_EQ(answer.find("\r\n\r\nok\n"), std::string::npos) << answer;
    EXPECT_FALSE(client.connected());
  }
  EXPECT_TRUE(bus_.calls().empty());
  EXPECT_NE(server_->server_metrics_text().find(
                fmt::format("hikyaku_http_malformed_requests_total {}\n", cases.size())),
            std::string::npos)
      << server_->server_metrics_text();
}

// The shapes the refusals above must not catch: these are read as the client meant them, and the
// request after them on the same connection is answered as well.
TEST_F(ServerTest, UnambiguousFramingIsServedAndKeepsTheConnection) {
  start(loopback_config());
  const std::string body = entries_body({entry_json("s", "t", "{}")});
  const std::string post = "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: AWSEvents.PutEvents\r\n";
  const std::string chunked = fmt::format("{:x}\r\n{}\r\n0\r\n\r\n", body.size(), body);
  const std::vector<std::string> requests = {
      post + "Transfer-Encoding: chunked\r\n\r\n" + chunked,
      post + "Transfer-Encoding: CHUNKED\r\n\r\n" + chunked,
      post + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body,
      post + "Content-Length:   " + std::to_string(body.size()) + "  \r\n\r\n" + body,
      post + "X-Note: a b\tc\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body,
  };
  for (const std::string& request : requests) {
    SCOPED_TRACE(request.substr(0, 160));
    testing::HttpClient client("127.0.0.1", port_);
    ASSERT_TRUE(client.send_raw(request + "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").ok());
    testing::Response first = client.read_response("POST");
    ASSERT_TRUE(first.ok()) << first.error;
    EXPECT_EQ(first.status, 200) << first.body;
    testing::Response second = client.read_response("GET");
    EXPECT_EQ(second.status, 200);
    EXPECT_EQ(second.body, "ok\n");
    EXPECT_TRUE(client.connected());
  }
  EXPECT_EQ(bus_.envelopes().size(), requests.size());
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

// Server.Limits.MaxConcurrentRequests: with every slot held by a request waiting for the bus, a
// further PutEvents is answered ThrottlingException, a webhook call 429, an admin call 503, at
// once and with their bodies read and dropped (the connection stays usable); body-less GETs are
// still served. Once the held requests answer, the same connections are served in full.
TEST_F(ServerTest, ConcurrentRequestsOverTheLimitAreThrottledFromTheirHead) {
  config::ServerConfig config = loopback_config();
  config.limits.max_concurrent_requests = 2;
  start(config);
  bus_.hold();
  std::vector<Reply> held(2);
  std::vector<std::thread> holders;
  for (Reply& reply : held) {
    holders.emplace_back([&] {
      Client client(port_);
      reply = put_events(client, entries_body({entry_json("s", "t", "{}")}));
    });
  }
  ASSERT_TRUE(bus_.wait_for_held(2));

  Client client(port_);
  // A body larger than any read buffer: it must be read to its end for the answer to be framed.
  const std::string big_detail = R"({"pad":")" + std::string(200'000, 'x') + "\"}";
  Reply throttled = put_events(client, entries_body({entry_json("s", "t", big_detail)}));
  EXPECT_EQ(throttled.status, 400U);
  EXPECT_EQ(throttled.body, R"({"__type":"ThrottlingException","message":"Rate exceeded"})");
  EXPECT_EQ(throttled.headers["x-amzn-requestid"].size(), 36U);
  Reply webhook = client.request("POST", "/events/default", std::string(kEnvelope));
  EXPECT_EQ(webhook.status, 429U);
  EXPECT_EQ(webhook.headers["retry-after"], "1");
  EXPECT_EQ(Json(webhook.body).str("__type"), "ThrottlingException");
  Reply admin = client.request("POST", "/admin/v1/dead-letters/redrive", "{}");
  EXPECT_EQ(admin.status, 503U);
  EXPECT_EQ(admin.headers["retry-after"], "1");
  Reply health = client.request("GET", "/healthz");
  EXPECT_EQ(health.status, 200U);
  Reply metrics = client.request("GET", "/metrics");
  EXPECT_NE(metrics.body.find("hikyaku_http_requests_in_flight 2\n"), std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find("hikyaku_ingest_requests_throttled_total{path=\"put_events\"} 1\n"),
            std::string::npos);
  EXPECT_NE(metrics.body.find("hikyaku_ingest_requests_throttled_total{path=\"webhook\"} 1\n"),
            std::string::npos);
  EXPECT_EQ(bus_.envelopes().size(), 2U);  // the held ones: nothing of the refused reached it

  bus_.release();
  for (std::thread& holder : holders) {
    holder.join();
  }
  for (const Reply& reply : held) {
    EXPECT_EQ(reply.status, 200U) << reply.body;
  }
  Reply accepted = put_events(client, entries_body({entry_json("s", "t", big_detail)}));
  EXPECT_EQ(accepted.status, 200U) << accepted.body;
  EXPECT_EQ(client.request("POST", "/events/default", std::string(kEnvelope)).status, 200U);
  EXPECT_NE(server_->server_metrics_text().find("hikyaku_http_requests_in_flight 0\n"),
            std::string::npos);
  EXPECT_EQ(bus_.envelopes().size(), 4U);
}

// A client that waits for 100-continue over the limit is answered at once, without sending its
// body, and the connection is closed (its body would otherwise be read as the next request).
TEST_F(ServerTest, ExpectContinueOverTheLimitIsAnsweredWithoutTheBody) {
  config::ServerConfig config = loopback_config();
  config.limits.max_concurrent_requests = 1;
  start(config);
  bus_.hold();
  std::thread holder([&] {
    Client client(port_);
    EXPECT_EQ(put_events(client, entries_body({entry_json("s", "t", "{}")})).status, 200U);
  });
  ASSERT_TRUE(bus_.wait_for_held(1));
  Client client(port_);
  const std::string head =
      "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: AWSEvents.PutEvents\r\n"
      "Expect: 100-continue\r\nContent-Length: 100000\r\n\r\n";
  asio::write(client.socket(), asio::buffer(head));
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(client.socket(), buffer, response);
  EXPECT_EQ(response.result_int(), 400U);
  EXPECT_EQ(Json(response.body()).str("__type"), "ThrottlingException");
  EXPECT_FALSE(response.keep_alive());
  EXPECT_TRUE(client.closed_by_server(5s));
  bus_.release();
  holder.join();
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
  std::thread stopper([&] { server_->stop(clock_.steady_now() + 10s); });
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

TEST_F(ServerTest, StopGivesUpWhenTheInjectedClockPassesTheDeadline) {
  start(loopback_config());
  bus_.hold();
  Reply reply;
  std::thread client_thread([&] {
    Client client(port_);
    reply = put_events(client, entries_body({entry_json("s", "t", "{}")}));
  });
  ASSERT_TRUE(bus_.wait_for_held(1));
  std::atomic<bool> stopped{false};
  const auto deadline = clock_.steady_now() + 10s;
  std::thread stopper([&] {
    server_->stop(deadline);
    stopped = true;
  });
  std::this_thread::sleep_for(300ms);
  EXPECT_FALSE(stopped.load());  // the request is still held: stop() drains
  clock_.advance(11s);           // only the injected clock can end the drain now
  stopper.join();
  EXPECT_TRUE(stopped.load());
  bus_.release();
  server_.reset();  // the io_context goes, and the held connection with it
  client_thread.join();
  EXPECT_EQ(reply.status, 0U);  // cut off: the io threads stopped before the bus answered
}

// start() refuses exactly what config::check_server_config() (and so `hikyaku validate`) refuses.
TEST(ServerStartTest, RefusesWhatValidateRefuses) {
  test::FakeBus bus;
  for (std::string_view listen : {"0.0.0.0:0", "[::]:0", "[::ffff:127.0.0.1]:0", "127.1:0",
                                  "not-an-address:80", "127.0.0.1", "127.0.0.1:65536", "[::1:0"}) {
    SCOPED_TRACE(listen);
    config::ServerConfig config;
    config.listen = std::string(listen);
    const Status checked = config::check_server_config(config);
    ASSERT_FALSE(checked.ok());
    Server server(config, bus);
    auto port = server.start();
    ASSERT_FALSE(port.has_value());
    EXPECT_EQ(port.error().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(port.error().message(), checked.message());
  }
  config::ServerConfig open;
  open.listen = "0.0.0.0:0";
  Server server(open, bus);
  auto refused = server.start();
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.error().message().find("not a loopback address"), std::string::npos);
  EXPECT_NE(refused.error().message().find("Server.Auth"), std::string::npos);
}

// Listening beyond loopback (with Server.Auth), /metrics asks for an API key; health does not.
TEST_F(ServerTest, MetricsOnANonLoopbackListenerNeedTheApiKey) {
  config::ServerConfig config = loopback_config();
  config.listen = "0.0.0.0:0";
  config::ApiKeyCredential key;
  key.header_name = "X-Scrape-Key";
  key.value = Secret("scrape-secret-value");
  config.auth.api_keys = {key};
  start(config);
  Client client(port_);
  EXPECT_EQ(client.request("GET", "/healthz").status, 200U);
  EXPECT_EQ(client.request("GET", "/readyz").status, 200U);
  Reply anonymous = client.request("GET", "/metrics");
  EXPECT_EQ(anonymous.status, 401U);
  EXPECT_EQ(anonymous.body.find("hikyaku_"), std::string::npos);
  Reply keyed = client.request("GET", "/metrics", "", {{"X-Scrape-Key", "scrape-secret-value"}});
  EXPECT_EQ(keyed.status, 200U);
  EXPECT_NE(keyed.body.find("hikyaku_http_connections_active 1"), std::string::npos);
}

TEST_F(ServerTest, TlsServesWebhookAndApi) {
  const testing::TestCertificate certificate;  // made with OpenSSL; aborts if that fails
  const testing::TlsFiles& files = certificate.files();
  config::ServerConfig config = loopback_config();
  config.tls = config::TlsConfig{files.cert_file, files.key_file};
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
  broken.tls = config::TlsConfig{files.cert_file + ".missing", files.key_file};
  Server bad(broken, bus_);
  auto result = bad.start();
  ASSERT_FALSE(result.has_value());
  EXPECT_NE(result.error().message().find("CertFile"), std::string::npos);
}

}  // namespace
}  // namespace hikyaku::server
