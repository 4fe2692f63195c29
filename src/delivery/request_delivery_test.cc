// What an API destination receives: every connection and target parameter applied by
// build_request() (request.h), sent through the real Dispatcher over loopback HTTP to a
// ScriptableDestination that records each request.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/url_encoding.h"
#include "delivery/dispatcher.h"
#include "delivery/request.h"
#include "store/sqlite/sqlite_store.h"
#include "testing/scriptable_destination.h"
#include "testing/temp_dir.h"
#include "testing/tls_certificate.h"
#include "testing/wait.h"

namespace hikyaku::delivery {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;
using testing::wait_for;

// Decodes an application/x-www-form-urlencoded text (or a query string) into its fields, in order.
std::vector<std::pair<std::string, std::string>> decode_form(std::string_view text) {
  auto decode = [](std::string_view part) {
    std::string out;
    for (size_t i = 0; i < part.size(); ++i) {
      if (part[i] == '+') {
        out += ' ';
      } else if (part[i] == '%' && i + 2 < part.size()) {
        out += static_cast<char>(std::stoi(std::string(part.substr(i + 1, 2)), nullptr, 16));
        i += 2;
      } else {
        out += part[i];
      }
    }
    return out;
  };
  std::vector<std::pair<std::string, std::string>> fields;
  while (!text.empty()) {
    const size_t end = std::min(text.find('&'), text.size());
    const std::string_view field = text.substr(0, end);
    const size_t equals = std::min(field.find('='), field.size());
    fields.emplace_back(decode(field.substr(0, equals)),
                        decode(field.substr(std::min(equals + 1, field.size()))));
    text.remove_prefix(std::min(end + 1, text.size()));
  }
  return fields;
}

// The top-level members of a JSON object body, each as its string value or raw JSON.
std::map<std::string, std::string> json_members(const std::string& body) {
  simdjson::dom::parser parser;
  simdjson::dom::object object;
  EXPECT_EQ(parser.parse(body).get(object), simdjson::SUCCESS) << body;
  std::map<std::string, std::string> members;
  for (const auto field : object) {
    members[std::string(field.key)] = field.value.is_string()
                                          ? std::string(field.value.get_string().value())
                                          : simdjson::minify(field.value);
  }
  return members;
}

class RequestDeliveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = store::SqliteStore::open({.path = dir_.file("db"), .synchronous_full = false});
    ASSERT_TRUE(opened.has_value()) << opened.error().message();
    store_ = std::move(opened).value();
  }
  void TearDown() override {
    if (dispatcher_) {
      dispatcher_->stop();
    }
    dispatcher_.reset();
    store_.reset();
  }

  Endpoint http(const std::string& path, const std::string& method = "POST") const {
    Endpoint endpoint;
    endpoint.kind = Endpoint::Kind::kHttp;
    endpoint.rule = "r";
    endpoint.target_id = "t";
    endpoint.destination = "d";
    endpoint.method = method;
    endpoint.url = destination_.url(path);
    endpoint.retry_policy = {0, 60};
    return endpoint;
  }

  // Delivers one job with `body` and dynamic values `headers` to `endpoint`.
  void deliver(Endpoint endpoint, const std::string& body, const std::string& headers = "") {
    Endpoints endpoints;
    endpoints.emplace("default/r/t", std::move(endpoint));
    Dispatcher::Options options;
    options.idle_poll_ms = 20;
    options.backoff = {1, 4};
    dispatcher_ = std::make_unique<Dispatcher>(
        *store_, metrics_, SystemClock::instance(),
        std::make_shared<const Endpoints>(std::move(endpoints)), options);
    dispatcher_->start();
    ASSERT_TRUE(
        store_
            ->append({{{"default/r/t", "event-1", body, headers, SystemClock::instance().now_ms()}},
                      {},
                      {},
                      {}})
            .ok());
    dispatcher_->notify();
  }

  testing::RecordedRequest received() {
    EXPECT_TRUE(destination_.wait_for_requests(1));
    std::vector<testing::RecordedRequest> requests = destination_.requests();
    return requests.empty() ? testing::RecordedRequest{} : requests.front();
  }

  std::vector<store::DeadLetter> dead_letters() { return store_->dlq_list(100, 0).value(); }

  testing::TempDir dir_{"request-delivery"};
  MetricsRegistry metrics_;
  testing::ScriptableDestination destination_;
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<Dispatcher> dispatcher_;
};

TEST_F(RequestDeliveryTest, JsonBodyHeadersQueryAndPathWildcards) {
  Endpoint endpoint = http("/api/*/issues/*/comments?fixed=1");
  endpoint.headers.emplace_back("x-api-key", Secret("api-key-value"));  // API_KEY connection
  endpoint.headers.emplace_back("X-Team", Secret("connection-team"));
  endpoint.query_parameters.emplace_back("apiKey", Secret("query secret&="));
  endpoint.body_parameters.emplace_back("token", Secret("body-secret-value"));
  endpoint.path_parameters = {{"", Secret("my project/1"), ""}, {"", Secret(), "$.detail.key"}};
  endpoint.header_parameters = {{"x-team", Secret("target-team"), ""},
                                {"X-Finding", Secret(), "$.detail.id"},
                                {"X-Absent", Secret(), "$.detail.absent"}};
  endpoint.query_string_parameters = {{"severity", Secret(), "$.detail.severity"},
                                      {"apiKey", Secret("target-key"), ""}};
  deliver(std::move(endpoint), R"({"summary":"hello","token":"from-template"})",
          R"({"path:1":"PRJ-7?","header:X-Finding":"f-1","query:severity":"HIGH & LOW"})");

  const testing::RecordedRequest request = received();
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.path, "/api/my%20project%2F1/issues/PRJ-7%3F/comments");
  EXPECT_THAT(decode_form(request.query),
              ElementsAre(Pair("fixed", "1"), Pair("severity", "HIGH & LOW"),
                          Pair("apiKey", "query secret&=")));
  EXPECT_EQ(request.header("x-api-key"), "api-key-value");
  EXPECT_EQ(request.header("x-team"), "connection-team");  // the connection wins
  EXPECT_EQ(request.header("x-finding"), "f-1");
  EXPECT_EQ(request.header("x-absent"), "");
  EXPECT_EQ(request.header("content-type"), "application/json; charset=utf-8");
  EXPECT_EQ(request.header("user-agent"), std::string(user_agent()));
  EXPECT_THAT(std::string(user_agent()), HasSubstr("hikyaku/"));
  EXPECT_THAT(json_members(request.body),
              ElementsAre(Pair("summary", "hello"), Pair("token", "body-secret-value")));
  ASSERT_TRUE(wait_for([&] { return dispatcher_->attempts() == 1; }));
}

TEST_F(RequestDeliveryTest, FormBodyWithBasicAuthAndBodyParameters) {
  Endpoint endpoint = http("/api/v2/issues");
  endpoint.body_encoding = Endpoint::BodyEncoding::kForm;
  endpoint.headers.emplace_back("Authorization", Secret("Basic " + base64_encode("user:pa ss")));
  endpoint.body_parameters.emplace_back("apiKey", Secret("k y&z"));
  endpoint.body_parameters.emplace_back("projectId", Secret("42"));
  deliver(std::move(endpoint), "summary=Disk+full&projectId=1&categoryId[]=3&categoryId[]=4");

  const testing::RecordedRequest request = received();
  EXPECT_EQ(request.header("content-type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(request.header("authorization"), "Basic " + base64_encode("user:pa ss"));
  EXPECT_THAT(
      decode_form(request.body),
      ElementsAre(Pair("summary", "Disk full"), Pair("categoryId[]", "3"),
                  Pair("categoryId[]", "4"), Pair("apiKey", "k y&z"), Pair("projectId", "42")));
}

TEST_F(RequestDeliveryTest, CustomContentTypeFromAHeaderParameter) {
  Endpoint endpoint = http("/hook");
  endpoint.header_parameters = {{"Content-Type", Secret("application/cloudevents+json"), ""}};
  deliver(std::move(endpoint), R"({"a":1})");
  const testing::RecordedRequest request = received();
  EXPECT_EQ(request.header("content-type"), "application/cloudevents+json");
  EXPECT_EQ(request.body, R"({"a":1})");
}

TEST_F(RequestDeliveryTest, GetSendsNoBodyButItsQueryAndHeaders) {
  Endpoint endpoint = http("/items/*", "GET");
  endpoint.path_parameters = {{"", Secret(), "$.detail.key"}};
  endpoint.query_parameters.emplace_back("k", Secret("v"));
  endpoint.body_parameters.emplace_back("token", Secret("unused"));
  deliver(std::move(endpoint), R"({"a":1})", R"({"path:0":"x y"})");
  const testing::RecordedRequest request = received();
  EXPECT_EQ(request.method, "GET");
  EXPECT_EQ(request.target, "/items/x%20y?k=v");
  EXPECT_EQ(request.body, "");
}

TEST_F(RequestDeliveryTest, WildcardCountMismatchIsAPermanentFailureNothingSent) {
  Endpoint endpoint = http("/a/*/b/*");
  endpoint.retry_policy = {185, 86400};  // would retry anything retryable
  endpoint.path_parameters = {{"", Secret("only-one-value"), ""}};
  endpoint.body_parameters.emplace_back("token", Secret("body-secret-value"));
  deliver(std::move(endpoint), R"({"a":1})");
  ASSERT_TRUE(wait_for([&] { return dead_letters().size() == 1; }));
  const store::DeadLetter letter = dead_letters()[0];
  EXPECT_EQ(letter.reason.error_code, "INVALID_PARAMETERS");
  EXPECT_EQ(letter.reason.exhausted_retry_condition, "");
  EXPECT_THAT(letter.reason.error_message, HasSubstr("PathParameterValues has 1 value"));
  EXPECT_THAT(letter.reason.error_message, Not(HasSubstr("only-one-value")));
  EXPECT_THAT(letter.reason.error_message, Not(HasSubstr("body-secret-value")));
  EXPECT_EQ(letter.job.body, R"({"a":1})");  // the stored body, without connection values
  EXPECT_EQ(destination_.request_count(), 0u);
}

TEST_F(RequestDeliveryTest, MissingDynamicPathValueIsAPermanentFailure) {
  Endpoint endpoint = http("/issues/*");
  endpoint.path_parameters = {{"", Secret(), "$.detail.issueKey"}};
  deliver(std::move(endpoint), R"({"a":1})", R"({"header:X":"1"})");
  ASSERT_TRUE(wait_for([&] { return dead_letters().size() == 1; }));
  EXPECT_EQ(dead_letters()[0].reason.error_code, "INVALID_PARAMETERS");
  EXPECT_THAT(dead_letters()[0].reason.error_message, HasSubstr("$.detail.issueKey"));
  EXPECT_EQ(destination_.request_count(), 0u);
}

// Tls.CaFile: a destination whose certificate comes from a private CA is delivered to only when
// the endpoint trusts that CA; verification is never switched off.
TEST(RequestTlsDeliveryTest, PrivateCaTrustedThroughCaFileOnly) {
  testing::TempDir dir("request-tls");
  const testing::TlsFiles tls = testing::write_test_certificates(dir.path());
  testing::ScriptableDestination destination({.tls = tls});
  auto opened = store::SqliteStore::open({.path = dir.file("db"), .synchronous_full = false});
  ASSERT_TRUE(opened.has_value()) << opened.error().message();
  std::unique_ptr<store::SqliteStore> store = std::move(opened).value();
  MetricsRegistry metrics;

  Endpoints endpoints;
  for (const char* id : {"trusted", "untrusted"}) {
    Endpoint endpoint;
    endpoint.kind = Endpoint::Kind::kHttp;
    endpoint.rule = "r";
    endpoint.target_id = id;
    endpoint.destination = id;
    endpoint.url = destination.url(std::string("/") + id);
    endpoint.retry_policy = {0, 60};
    endpoint.ca_file = std::string(id) == "trusted" ? tls.ca_file : "";
    endpoints.emplace(std::string("default/r/") + id, std::move(endpoint));
  }
  Dispatcher::Options options;
  options.idle_poll_ms = 20;
  options.backoff = {1, 4};
  Dispatcher dispatcher(*store, metrics, SystemClock::instance(),
                        std::make_shared<const Endpoints>(std::move(endpoints)), options);
  dispatcher.start();
  const int64_t now = SystemClock::instance().now_ms();
  ASSERT_TRUE(store
                  ->append({{{"default/r/trusted", "e-1", "{}", "", now},
                             {"default/r/untrusted", "e-2", "{}", "", now}},
                            {},
                            {},
                            {}})
                  .ok());
  dispatcher.notify();
  ASSERT_TRUE(wait_for([&] { return store->dlq_list(10, 0).value().size() == 1; }));
  ASSERT_TRUE(destination.wait_for_requests(1));
  dispatcher.stop();
  const store::DeadLetter letter = store->dlq_list(10, 0).value()[0];
  EXPECT_EQ(letter.job.target, "default/r/untrusted");
  EXPECT_EQ(letter.reason.error_code, "CONNECTION_FAILURE");
  const std::vector<testing::RecordedRequest> requests = destination.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].path, "/trusted");
}

}  // namespace
}  // namespace hikyaku::delivery
