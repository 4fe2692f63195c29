// HTTP/2 where a destination offers it: deliveries to an HTTPS destination that negotiates h2
// through ALPN go over HTTP/2, multiplexed on a connection or two instead of one per request.
// The destination is nghttpd (Debian's nghttp2-server, installed by scripts/install-deps), whose
// verbose log shows the negotiated protocol, every TLS handshake and every request.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "delivery/dispatcher.h"
#include "store/sqlite/sqlite_store.h"
#include "testing/process.h"
#include "testing/temp_dir.h"
#include "testing/tls_certificate.h"
#include "testing/wait.h"

namespace hikyaku::delivery {
namespace {

constexpr const char* kNghttpd = "/usr/sbin/nghttpd";

// A port nothing listens on right now (nghttpd cannot report one it was given as 0).
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ::close(fd);
    return -1;
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

size_t count(const std::string& text, const std::string& what) {
  size_t found = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
    ++found;
  }
  return found;
}

TEST(Http2DeliveryTest, AnHttp2DestinationGetsItsDeliveriesMultiplexedOverHttp2) {
  ASSERT_TRUE(std::filesystem::exists(kNghttpd))
      << kNghttpd << " is missing: scripts/install-deps installs nghttp2-server";
  testing::TempDir dir("http2");
  const std::filesystem::path directory(dir.path());
  const testing::TlsFiles tls = testing::write_test_certificates(dir.path());
  std::filesystem::create_directory(directory / "htdocs");
  std::ofstream(directory / "htdocs" / "hook") << "{}";

  // The port may be taken between free_port() and nghttpd's bind: try again then.
  std::unique_ptr<testing::ChildProcess> server;
  int port = -1;
  for (int attempt = 0; attempt < 5 && server == nullptr; ++attempt) {
    port = free_port();
    ASSERT_GT(port, 0);
    auto started = std::make_unique<testing::ChildProcess>(std::vector<std::string>{
        kNghttpd, "-v", "-d", (directory / "htdocs").string(), "--address=127.0.0.1",
        std::to_string(port), tls.key_file, tls.cert_file});
    if (!started->wait_for_line("IPv4: listen", 5000).empty()) {
      server = std::move(started);
    }
  }
  ASSERT_NE(server, nullptr) << "nghttpd did not start";

  auto opened =
      store::SqliteStore::open({.path = (directory / "db").string(), .synchronous_full = false});
  ASSERT_TRUE(opened.has_value()) << opened.error().message();
  std::unique_ptr<store::SqliteStore> store = std::move(opened).value();
  constexpr int kJobs = 50;
  store::Batch batch;
  for (int i = 0; i < kJobs; ++i) {
    batch.jobs.push_back({"b/r/t", "event-" + std::to_string(i),
                          R"({"n":)" + std::to_string(i) + "}", "",
                          SystemClock::instance().now_ms()});
  }
  ASSERT_TRUE(store->append(batch).ok());

  Endpoint endpoint;
  endpoint.kind = Endpoint::Kind::kHttp;
  endpoint.destination = "h2";
  endpoint.url = "https://127.0.0.1:" + std::to_string(port) + "/hook";
  endpoint.ca_file = tls.ca_file;
  endpoint.rate_limit_per_second = 1000;
  endpoint.retry_policy.maximum_retry_attempts = 0;
  MetricsRegistry metrics;
  Dispatcher::Options options;
  options.idle_poll_ms = 20;
  Dispatcher dispatcher(*store, metrics, SystemClock::instance(),
                        std::make_shared<const Endpoints>(Endpoints{{"b/r/t", endpoint}}), options);
  dispatcher.start();
  ASSERT_TRUE(testing::wait_for([&] {
    const store::Counts counts =
        store->counts(SystemClock::instance().now_ms() + 3'600'000).value();
    return counts.pending + counts.leased == 0;
  }));
  dispatcher.stop();
  EXPECT_EQ(store->counts(0)->dead_letters, 0);
  ASSERT_TRUE(testing::wait_for(
      [&] { return count(server->out(), ":method: POST") == static_cast<size_t>(kJobs); }));
  const std::string log = server->out() + server->err();  // nghttpd writes to both
  EXPECT_THAT(log, ::testing::HasSubstr("The negotiated protocol: h2"));
  EXPECT_EQ(count(log, "The negotiated protocol: http/1.1"), 0u);
  // Up to 16 requests in flight share a connection: a handful of handshakes, not one per request.
  EXPECT_LE(count(log, "SSL/TLS handshake completed"), 4u);
  EXPECT_GE(count(log, "SSL/TLS handshake completed"), 1u);
}

}  // namespace
}  // namespace hikyaku::delivery
