#pragma once
// A small blocking HTTP/1.1 client for tests: requests with any method, headers and body;
// keep-alive across requests on one client (a new connection only when the server closed the
// last one); optional TLS that verifies the server against a given CA file; and raw bytes in
// and out for framing tests.
//
//   testing::HttpClient client("127.0.0.1", port);   // or HttpClient::from_url(url)
//   testing::Response r = client.request("POST", "/", {{"Content-Type", "text/plain"}}, "hi");
//   ASSERT_TRUE(r.ok()) << r.error;
//   EXPECT_EQ(r.status, 200);
//   EXPECT_EQ(r.header("retry-after"), "2");
//
// It adds Host (unless given) and Content-Length (unless given, for a body or POST/PUT/PATCH),
// and nothing else. Every connect, read and write is bounded by the options' timeout.
//
// Thread safety: externally synchronized (one client per thread); movable, not copyable.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"
#include "testing/http_headers.h"

namespace hikyaku::testing {

struct HttpClientOptions {
  bool tls = false;
  std::string ca_file{};      // with tls: the only certificates trusted (TlsFiles::ca_file)
  std::string server_name{};  // with tls: the name verified and sent as SNI; default the host
  std::chrono::milliseconds timeout{20'000};
};

struct Response {
  int status = 0;  // 0 when no response was read; `error` says why
  std::string reason;
  Headers headers;    // names lower-cased; lookups ignore case
  std::string body;   // de-chunked
  std::string error;  // connect, TLS, reset, timeout or framing failure; empty on success

  bool ok() const { return error.empty(); }
  std::string header(std::string_view name) const { return header_value(headers, name); }
};

class HttpClient {
 public:
  HttpClient(std::string host, uint16_t port, HttpClientOptions options = {});
  // From "http://host:port" or "https://host:port" (a path after it is ignored); https turns
  // TLS on. Aborts on a URL it cannot read.
  static HttpClient from_url(std::string_view url, HttpClientOptions options = {});
  ~HttpClient();
  HttpClient(HttpClient&&) noexcept;
  HttpClient& operator=(HttpClient&&) noexcept;

  Response request(std::string_view method, std::string_view target, const Headers& headers = {},
                   std::string_view body = {});
  Response get(std::string_view target, const Headers& headers = {}) {
    return request("GET", target, headers);
  }

  // Framing tests: writes `bytes` as they are on the current connection (opening one if needed).
  Status send_raw(std::string_view bytes);
  // Reads one response from the current connection (after send_raw).
  Response read_response(std::string_view request_method = "GET");
  // Everything that arrives until the server closes the connection or `timeout` passes.
  std::string read_raw(std::chrono::milliseconds timeout = std::chrono::seconds(20));

  void close();
  bool connected() const;
  // Connections this client opened so far: 1 after any number of kept-alive requests.
  int connections_opened() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hikyaku::testing
