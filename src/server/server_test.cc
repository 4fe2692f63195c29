// The real server on 127.0.0.1:0 between a tiny Beast client and a fake EventBus: what only a
// socket shows (framing, keep-alive, limits, timeouts, TLS, draining on stop). What the API
// answers is tested without sockets in api_test.cc.
#include "server/server.h"

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

#include "server/internal/test_support.h"
#include "testing/fake_clock.h"
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

TEST(ServerStartTest, RefusesNonLoopbackListenWithoutAuth) {
  test::FakeBus bus;
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
