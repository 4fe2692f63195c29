// The shared test helpers, tested: the scriptable destination through the test HTTP client and
// through libcurl (what hikyaku's delivery speaks), over plain HTTP and TLS; TempDir; FakeClock.

#include <curl/curl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "testing/fake_clock.h"
#include "testing/http_client.h"
#include "testing/http_receiver.h"
#include "testing/scriptable_destination.h"
#include "testing/temp_dir.h"
#include "testing/tls_certificate.h"

namespace hikyaku::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// One libcurl easy handle: successive perform() calls reuse its connections, as a delivery
// worker's does.
class Curl {
 public:
  struct Result {
    CURLcode code = CURLE_OK;
    long status = 0;
    std::string headers;  // the raw header block(s)
    std::string body;
    std::string error;
  };

  Curl() : handle_(curl_easy_init()) {}
  ~Curl() { curl_easy_cleanup(handle_); }
  Curl(const Curl&) = delete;
  Curl& operator=(const Curl&) = delete;

  Result perform(const std::string& url, const std::string& method = "GET",
                 const std::string& body = "", const std::vector<std::string>& headers = {},
                 long timeout_ms = 20'000, const std::string& ca_file = "") {
    Result result;
    char error[CURL_ERROR_SIZE] = {};
    curl_slist* list = nullptr;
    for (const std::string& header : headers) {
      list = curl_slist_append(list, header.c_str());
    }
    curl_easy_setopt(handle_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(handle_, CURLOPT_CUSTOMREQUEST, method.c_str());
    if (method == "POST" || !body.empty()) {
      curl_easy_setopt(handle_, CURLOPT_POSTFIELDS, body.c_str());
      curl_easy_setopt(handle_, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    } else {
      curl_easy_setopt(handle_, CURLOPT_HTTPGET, 1L);
      curl_easy_setopt(handle_, CURLOPT_CUSTOMREQUEST, method.c_str());
    }
    curl_easy_setopt(handle_, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(handle_, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(handle_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(handle_, CURLOPT_ERRORBUFFER, error);
    if (!ca_file.empty()) {
      curl_easy_setopt(handle_, CURLOPT_CAINFO, ca_file.c_str());
    }
    curl_easy_setopt(handle_, CURLOPT_WRITEFUNCTION, &append);
    curl_easy_setopt(handle_, CURLOPT_WRITEDATA, &result.body);
    curl_easy_setopt(handle_, CURLOPT_HEADERFUNCTION, &append);
    curl_easy_setopt(handle_, CURLOPT_HEADERDATA, &result.headers);
    result.code = curl_easy_perform(handle_);
    curl_easy_getinfo(handle_, CURLINFO_RESPONSE_CODE, &result.status);
    result.error = error;
    curl_easy_setopt(handle_, CURLOPT_HTTPHEADER, nullptr);
    curl_easy_setopt(handle_, CURLOPT_ERRORBUFFER, nullptr);
    curl_slist_free_all(list);
    return result;
  }

 private:
  static size_t append(char* data, size_t size, size_t count, void* out) {
    static_cast<std::string*>(out)->append(data, size * count);
    return size * count;
  }

  CURL* handle_;
};

std::string read_whole(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// --- the scriptable destination through the test client -----------------------------------

TEST(ScriptableDestinationTest, AnswersTheScriptedStatusHeadersAndBodyThenTheDefault) {
  ScriptableDestination destination;
  destination.script({.status = 429, .headers = {{"Retry-After", "2"}}, .body = "slow down"});
  destination.set_default({.status = 201, .body = "made"});
  HttpClient client("127.0.0.1", destination.port());

  const Response limited = client.request("POST", "/hook?key=1", {{"X-Test", "a"}}, "hello");
  ASSERT_TRUE(limited.ok()) << limited.error;
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(limited.reason, "Too Many Requests");
  EXPECT_EQ(limited.header("retry-after"), "2");
  EXPECT_EQ(limited.headers.at("Retry-After"), "2");  // lookups ignore case
  EXPECT_EQ(limited.header("content-length"), "9");
  EXPECT_EQ(limited.body, "slow down");

  const Response made = client.get("/again");
  ASSERT_TRUE(made.ok()) << made.error;
  EXPECT_EQ(made.status, 201);
  EXPECT_EQ(made.body, "made");
  const Response still_default = client.get("/again");
  EXPECT_EQ(still_default.status, 201);
}

TEST(ScriptableDestinationTest, RecordsEveryRequest) {
  FakeClock clock;
  ScriptableDestination destination({.clock = &clock});
  HttpClient client("127.0.0.1", destination.port());
  ASSERT_TRUE(client
                  .request("POST", "/api/v2/issues?apiKey=k&x=1",
                           {{"Content-Type", "application/json"}, {"X-Custom", "a"}}, R"({"a":1})")
                  .ok());
  clock.advance(std::chrono::seconds(5));
  ASSERT_TRUE(client.request("DELETE", "/item").ok());
  ASSERT_TRUE(destination.wait_for_requests(2));

  const std::vector<RecordedRequest> requests = destination.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].target, "/api/v2/issues?apiKey=k&x=1");
  EXPECT_EQ(requests[0].path, "/api/v2/issues");
  EXPECT_EQ(requests[0].query, "apiKey=k&x=1");
  EXPECT_EQ(requests[0].headers.at("content-type"), "application/json");
  EXPECT_EQ(requests[0].header("X-CUSTOM"), "a");
  EXPECT_EQ(requests[0].header("host"), "127.0.0.1:" + std::to_string(destination.port()));
  EXPECT_EQ(requests[0].body, R"({"a":1})");
  EXPECT_EQ(requests[0].connection, 1);
  EXPECT_EQ(requests[1].method, "DELETE");
  EXPECT_EQ(requests[1].query, "");
  EXPECT_EQ(requests[1].body, "");
  EXPECT_EQ(requests[1].arrival - requests[0].arrival, std::chrono::seconds(5));
  EXPECT_EQ(destination.request_count(), 2u);
  EXPECT_FALSE(destination.wait_for_requests(3, std::chrono::milliseconds(20)));
}

TEST(ScriptableDestinationTest, DelaysTheAnswer) {
  ScriptableDestination destination;
  destination.script({.delay = std::chrono::milliseconds(300)});
  HttpClient client("127.0.0.1", destination.port());
  const auto started = std::chrono::steady_clock::now();
  const Response response = client.get("/");
  ASSERT_TRUE(response.ok()) << response.error;
  EXPECT_EQ(response.status, 200);
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(300));
}

TEST(ScriptableDestinationTest, KeepsTheConnectionAliveByDefault) {
  ScriptableDestination destination;
  HttpClient client("127.0.0.1", destination.port());
  ASSERT_EQ(client.get("/1").status, 200);
  ASSERT_EQ(client.get("/2").status, 200);
  EXPECT_EQ(destination.connections_accepted(), 1);
  EXPECT_EQ(client.connections_opened(), 1);
  EXPECT_EQ(destination.open_connections(), 1);
  EXPECT_EQ(destination.requests()[1].connection, 1);
}

TEST(ScriptableDestinationTest, ClosesTheConnectionWhenScripted) {
  ScriptableDestination destination;
  destination.script({.close = true});
  HttpClient client("127.0.0.1", destination.port());
  const Response closing = client.get("/1");
  ASSERT_TRUE(closing.ok()) << closing.error;
  EXPECT_EQ(closing.header("connection"), "close");
  EXPECT_FALSE(client.connected());
  ASSERT_EQ(client.get("/2").status, 200);
  EXPECT_EQ(destination.connections_accepted(), 2);
  EXPECT_EQ(client.connections_opened(), 2);
  EXPECT_EQ(destination.requests()[1].connection, 2);
}

TEST(ScriptableDestinationTest, ResetsOrClosesInsteadOfAnswering) {
  ScriptableDestination destination;
  destination.script({.fault = Fault::kResetBeforeAnswer});
  destination.script({.body = "a body long enough to be cut", .fault = Fault::kResetMidResponse});
  destination.script({.fault = Fault::kCloseBeforeAnswer});
  HttpClient client("127.0.0.1", destination.port());

  const Response reset = client.get("/reset");
  EXPECT_FALSE(reset.ok());
  EXPECT_THAT(reset.error, HasSubstr("reset"));
  EXPECT_EQ(reset.status, 0);
  const Response cut = client.get("/cut");
  EXPECT_FALSE(cut.ok());
  const Response closed = client.get("/closed");
  EXPECT_FALSE(closed.ok());
  EXPECT_THAT(closed.error, HasSubstr("without answering"));
  EXPECT_EQ(client.get("/fine").status, 200);  // the script ran out: a new connection is fine
  EXPECT_EQ(destination.request_count(), 4u);  // each request was read before the fault
  EXPECT_EQ(destination.connections_accepted(), 4);
}

TEST(ScriptableDestinationTest, HangsUntilDestroyed) {
  auto destination = std::make_unique<ScriptableDestination>();
  destination->script({.fault = Fault::kHang});
  HttpClient client("127.0.0.1", destination->port(), {.timeout = std::chrono::milliseconds(200)});
  const Response hung = client.get("/");
  EXPECT_FALSE(hung.ok());
  EXPECT_THAT(hung.error, HasSubstr("timed out"));
  EXPECT_EQ(destination->open_connections(), 1);
  destination.reset();  // returns: the hung connection is ended, its thread joined
}

TEST(ScriptableDestinationTest, SendsRawBytesAndReadsChunkedBodies) {
  ScriptableDestination destination;
  destination.script({.raw = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                             "5\r\nhello\r\n6;x=y\r\n world\r\n0\r\nTrailer: t\r\n\r\n"});
  destination.script({.body = "bye", .close = true});
  HttpClient client("127.0.0.1", destination.port());

  ASSERT_TRUE(client
                  .send_raw("POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                            "\r\n3\r\nabc\r\n0\r\n\r\n")
                  .ok());
  const Response chunked = client.read_response();
  ASSERT_TRUE(chunked.ok()) << chunked.error;
  EXPECT_EQ(chunked.body, "hello world");
  ASSERT_TRUE(destination.wait_for_requests(1));
  EXPECT_EQ(destination.requests()[0].body, "abc");

  ASSERT_TRUE(client.send_raw("GET /raw HTTP/1.1\r\nHost: x\r\n\r\n").ok());
  const std::string raw = client.read_raw();  // until the destination closes
  EXPECT_THAT(raw, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(raw, HasSubstr("Connection: close\r\n"));
  EXPECT_THAT(raw, ::testing::EndsWith("\r\n\r\nbye"));
  EXPECT_FALSE(client.connected());
}

TEST(ScriptableDestinationTest, ServesConnectionsConcurrently) {
  ScriptableDestination destination;
  destination.script({.fault = Fault::kHang});  // the first request holds its connection
  HttpClient first("127.0.0.1", destination.port(), {.timeout = std::chrono::milliseconds(100)});
  EXPECT_FALSE(first.get("/held").ok());
  HttpClient second("127.0.0.1", destination.port());
  HttpClient third = HttpClient::from_url(destination.url());
  EXPECT_EQ(second.get("/b").status, 200);
  EXPECT_EQ(third.get("/c").status, 200);
  EXPECT_EQ(destination.connections_accepted(), 3);
  EXPECT_TRUE(destination.wait_for_connections(3));
}

TEST(ScriptableDestinationTest, ServesTlsThatVerifiesAgainstItsCa) {
  TestCertificate certificate;
  ScriptableDestination destination({.tls = certificate.files()});
  EXPECT_THAT(destination.url("/x"), StartsWith("https://127.0.0.1:"));
  destination.script({.status = 503, .body = "later"});
  HttpClient client = HttpClient::from_url(destination.url(), {.ca_file = certificate.ca_file()});
  const Response unavailable = client.get("/x");
  ASSERT_TRUE(unavailable.ok()) << unavailable.error;
  EXPECT_EQ(unavailable.status, 503);
  EXPECT_EQ(unavailable.body, "later");
  EXPECT_EQ(client.request("POST", "/y", {}, "over tls").status, 200);
  EXPECT_EQ(destination.connections_accepted(), 1);
  EXPECT_EQ(destination.requests()[1].body, "over tls");

  HttpClient by_name("localhost", destination.port(),
                     {.tls = true, .ca_file = certificate.ca_file()});
  EXPECT_EQ(by_name.get("/").status, 200);
  TestCertificate other;
  HttpClient untrusting("127.0.0.1", destination.port(), {.tls = true, .ca_file = other.ca_file()});
  const Response refused = untrusting.get("/");
  EXPECT_FALSE(refused.ok());
  EXPECT_THAT(refused.error, HasSubstr("certificate"));
}

// --- the same behaviours through libcurl ---------------------------------------------------

TEST(ScriptableDestinationCurlTest, StatusHeadersBodyAndRecording) {
  ScriptableDestination destination;
  destination.script({.status = 429, .headers = {{"Retry-After", "2"}}, .body = "slow down"});
  Curl curl;
  const Curl::Result result = curl.perform(destination.url("/hook?apiKey=s"), "POST", R"({"a":1})",
                                           {"Content-Type: application/json"});
  ASSERT_EQ(result.code, CURLE_OK) << result.error;
  EXPECT_EQ(result.status, 429);
  EXPECT_THAT(result.headers, HasSubstr("Retry-After: 2\r\n"));
  EXPECT_EQ(result.body, "slow down");
  ASSERT_TRUE(destination.wait_for_requests(1));
  const RecordedRequest request = destination.requests()[0];
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.path, "/hook");
  EXPECT_EQ(request.query, "apiKey=s");
  EXPECT_EQ(request.header("content-type"), "application/json");
  EXPECT_EQ(request.body, R"({"a":1})");
}

TEST(ScriptableDestinationCurlTest, DelayKeepAliveAndClose) {
  ScriptableDestination destination;
  destination.script({.delay = std::chrono::milliseconds(200)});
  destination.script({});
  destination.script({.close = true});
  Curl curl;
  const auto started = std::chrono::steady_clock::now();
  ASSERT_EQ(curl.perform(destination.url("/1")).code, CURLE_OK);
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(200));
  ASSERT_EQ(curl.perform(destination.url("/2")).code, CURLE_OK);
  EXPECT_EQ(destination.connections_accepted(), 1);               // libcurl reused the connection
  ASSERT_EQ(curl.perform(destination.url("/3")).code, CURLE_OK);  // answered with close
  ASSERT_EQ(curl.perform(destination.url("/4")).code, CURLE_OK);
  EXPECT_EQ(destination.connections_accepted(), 2);
}

TEST(ScriptableDestinationCurlTest, ResetsCloseAndHangAreErrors) {
  ScriptableDestination destination;
  destination.script({.fault = Fault::kResetBeforeAnswer});
  destination.script({.body = std::string(1000, 'x'), .fault = Fault::kResetMidResponse});
  destination.script({.fault = Fault::kCloseBeforeAnswer});
  destination.script({.fault = Fault::kHang});
  Curl curl;
  const Curl::Result reset = curl.perform(destination.url("/reset"));
  EXPECT_NE(reset.code, CURLE_OK);
  const Curl::Result cut = curl.perform(destination.url("/cut"));
  EXPECT_NE(cut.code, CURLE_OK);
  const Curl::Result closed = curl.perform(destination.url("/closed"));
  EXPECT_EQ(closed.code, CURLE_GOT_NOTHING) << closed.error;
  const Curl::Result hung = curl.perform(destination.url("/hang"), "GET", "", {}, 200);
  EXPECT_EQ(hung.code, CURLE_OPERATION_TIMEDOUT) << hung.error;
  EXPECT_EQ(destination.request_count(), 4u);
}

TEST(ScriptableDestinationCurlTest, TlsWithTheCaFileAndNotWithout) {
  TestCertificate certificate;
  ScriptableDestination destination({.tls = certificate.files()});
  destination.set_default({.status = 202, .body = "queued"});
  Curl curl;
  const Curl::Result first =
      curl.perform(destination.url("/a"), "POST", "{}", {}, 20'000, certificate.ca_file());
  ASSERT_EQ(first.code, CURLE_OK) << first.error;
  EXPECT_EQ(first.status, 202);
  EXPECT_EQ(first.body, "queued");
  ASSERT_EQ(curl.perform(destination.url("/b"), "GET", "", {}, 20'000, certificate.ca_file()).code,
            CURLE_OK);
  EXPECT_EQ(destination.connections_accepted(), 1);

  TestCertificate other;
  Curl untrusting;
  const Curl::Result refused =
      untrusting.perform(destination.url("/c"), "GET", "", {}, 20'000, other.ca_file());
  EXPECT_EQ(refused.code, CURLE_PEER_FAILED_VERIFICATION) << refused.error;
}

TEST(ScriptableDestinationCurlTest, AnswersExpectContinue) {
  ScriptableDestination destination;
  Curl curl;
  const Curl::Result result = curl.perform(destination.url("/big"), "POST",
                                           std::string(100'000, 'b'), {"Expect: 100-continue"});
  ASSERT_EQ(result.code, CURLE_OK) << result.error;
  ASSERT_TRUE(destination.wait_for_requests(1));
  EXPECT_EQ(destination.requests()[0].body.size(), 100'000u);
}

// --- HttpReceiver, the simple face ---------------------------------------------------------

TEST(HttpReceiverTest, AnswersTheSetStatusWithAJsonBodyAndClosesEachConnection) {
  HttpReceiver receiver;
  HttpClient client = HttpClient::from_url(receiver.url());
  const Response ok = client.request("POST", "/x", {}, "{}");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "{}");
  EXPECT_EQ(ok.header("content-type"), "application/json");
  receiver.set_status(400);
  const Response refused = client.request("POST", "/x?apiKey=k", {{"Dummy-Key", "v"}}, "{}");
  EXPECT_EQ(refused.status, 400);
  EXPECT_THAT(refused.body, HasSubstr("test error"));
  EXPECT_EQ(receiver.request_count(), 2u);
  std::vector<ReceivedRequest> requests = receiver.requests();
  EXPECT_EQ(requests[1].target, "/x?apiKey=k");
  EXPECT_EQ(requests[1].headers["dummy-key"], "v");
  EXPECT_EQ(receiver.destination().connections_accepted(), 2);
  EXPECT_THAT(receiver.url("/p"), StartsWith("http://127.0.0.1:"));
}

// --- TempDir and FakeClock ---------------------------------------------------------------

TEST(TempDirTest, MakesAFreshDirectoryAndRemovesItWithEverythingInIt) {
  std::string kept;
  {
    TempDir dir("unit");
    TempDir other("unit");
    kept = dir.path();
    EXPECT_NE(dir.path(), other.path());
    EXPECT_TRUE(std::filesystem::is_directory(dir.path()));
    EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
    EXPECT_THAT(std::filesystem::path(dir.path()).filename().string(), StartsWith("hikyaku-unit-"));
    EXPECT_EQ(dir.file("a.txt"), dir.path() + "/a.txt");
    EXPECT_FALSE(std::filesystem::exists(dir.file("a.txt")));
    const std::string written = dir.write("a.txt", "first");
    EXPECT_EQ(written, dir.file("a.txt"));
    dir.write("a.txt", "second");
    EXPECT_EQ(read_whole(written), "second");
    std::filesystem::create_directories(dir.file("sub/deeper"));
    dir.write("sub/deeper/b.txt", "b");
  }
  EXPECT_FALSE(std::filesystem::exists(kept));
}

TEST(FakeClockTest, MovesOnlyWhenAdvancedWallAndMonotonicTogether) {
  const auto start = std::chrono::system_clock::time_point(std::chrono::seconds(1'000'000));
  FakeClock clock(start);
  EXPECT_EQ(clock.now(), start);
  const auto steady = clock.steady_now();
  EXPECT_EQ(clock.now(), start);
  clock.advance(std::chrono::milliseconds(1500));
  EXPECT_EQ(clock.now(), start + std::chrono::milliseconds(1500));
  EXPECT_EQ(clock.steady_now() - steady, std::chrono::milliseconds(1500));
  EXPECT_EQ(clock.now_ms(), 1'000'001'500);
  EXPECT_EQ(FakeClock().now(),
            std::chrono::system_clock::time_point(std::chrono::seconds(1772356502)));

  FakeRandom random(7);
  EXPECT_EQ(random.next_u64(), 7u);
  random.set(42);
  EXPECT_EQ(random.next_u64(), 42u);
}

}  // namespace
}  // namespace hikyaku::testing
