#include "delivery/request.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace hikyaku::delivery {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;

using Headers = std::vector<std::pair<std::string, std::string>>;

TargetParameter literal(std::string key, std::string value) {
  return {std::move(key), Secret(std::move(value)), ""};
}
TargetParameter from_event(std::string key, std::string path) {
  return {std::move(key), Secret(), std::move(path)};
}

Endpoint endpoint(std::string url, std::string method = "POST") {
  Endpoint e;
  e.destination = "d";
  e.method = std::move(method);
  e.url = std::move(url);
  return e;
}

store::Job job(std::string body, std::string headers = "") {
  store::Job j;
  j.target = "default/r/t";
  j.body = std::move(body);
  j.headers = std::move(headers);
  return j;
}

HttpRequest build(const Endpoint& e, const store::Job& j, const Secret* token = nullptr) {
  Result<HttpRequest> request = build_request(e, j, token);
  EXPECT_TRUE(request.has_value()) << request.error().message();
  return request.has_value() ? std::move(request).value() : HttpRequest{};
}

Status error_of(const Endpoint& e, const store::Job& j) {
  Result<HttpRequest> request = build_request(e, j, nullptr);
  return request.has_value() ? ok_status() : request.error();
}

TEST(RequestTest, PlainPostCarriesBodyAndDefaults) {
  Endpoint e = endpoint("https://example.com/hook");
  e.timeout_ms = 1234;
  e.ca_file = "ca.pem";
  HttpRequest request = build(e, job(R"({"a":1})"));
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.url, "https://example.com/hook");
  EXPECT_EQ(request.body, R"({"a":1})");
  EXPECT_EQ(request.timeout_ms, 1234);
  EXPECT_EQ(request.ca_file, "ca.pem");
  EXPECT_THAT(request.headers, ElementsAre(Pair("Content-Type", "application/json; charset=utf-8"),
                                           Pair("User-Agent", "hikyaku/" HIKYAKU_TEST_VERSION)));
  EXPECT_EQ(user_agent(), "hikyaku/" HIKYAKU_TEST_VERSION);
}

TEST(RequestTest, FormEncodingSetsFormContentType) {
  Endpoint e = endpoint("https://example.com/hook");
  e.body_encoding = Endpoint::BodyEncoding::kForm;
  HttpRequest request = build(e, job("a=1"));
  EXPECT_THAT(request.headers[0], Pair("Content-Type", "application/x-www-form-urlencoded"));
}

TEST(RequestTest, GetAndHeadSendNoBodyAndIgnoreBodyParameters) {
  for (const char* method : {"GET", "HEAD"}) {
    Endpoint e = endpoint("https://example.com/items", method);
    e.body_parameters.emplace_back("token", Secret("body-secret"));
    // Not even a JSON object: nothing is merged, so nothing can fail.
    HttpRequest request = build(e, job("not json"));
    EXPECT_EQ(request.method, method);
    EXPECT_EQ(request.body, "") << method;
  }
}

TEST(RequestTest, PathWildcardsReplacedInOrderAsPercentEncodedSegments) {
  Endpoint e = endpoint("https://example.com/api/*/issues/*/comments?x=*#frag*");
  e.path_parameters = {literal("", "a b/c?d#e"), literal("", "PRJ-1%")};
  HttpRequest request = build(e, job("{}"));
  // Only the path's `*` are wildcards; the query's and the fragment's stay as written.
  EXPECT_EQ(request.url,
            "https://example.com/api/a%20b%2Fc%3Fd%23e/issues/PRJ-1%25/comments?x=*#frag*");
}

TEST(RequestTest, UnicodePathValueIsEncodedByteByByte) {
  Endpoint e = endpoint("https://example.com/users/*");
  e.path_parameters = {literal("", "ユ~.-_")};
  EXPECT_EQ(build(e, job("{}")).url, "https://example.com/users/%E3%83%A6~.-_");
}

TEST(RequestTest, WildcardCountMismatchIsInvalidArgument) {
  Endpoint e = endpoint("https://example.com/a/*/b/*");
  e.path_parameters = {literal("", "secret-looking-value")};
  Status status = error_of(e, job("{}"));
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("PathParameterValues has 1 value"));
  EXPECT_THAT(status.message(), HasSubstr("has 2 `*` wildcards"));
  EXPECT_THAT(status.message(), Not(HasSubstr("secret-looking-value")));

  Endpoint none = endpoint("https://example.com/a/*");
  EXPECT_EQ(error_of(none, job("{}")).code(), StatusCode::kInvalidArgument);
  Endpoint extra = endpoint("https://example.com/a");
  extra.path_parameters = {literal("", "x")};
  EXPECT_EQ(error_of(extra, job("{}")).code(), StatusCode::kInvalidArgument);
}

TEST(RequestTest, PathValuesThatWouldChangeThePathAreRefused) {
  for (const char* value : {"", ".", ".."}) {
    Endpoint e = endpoint("https://example.com/a/*/b");
    e.path_parameters = {literal("", value)};
    Status status = error_of(e, job("{}"));
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << value;
    EXPECT_THAT(status.message(), HasSubstr("PathParameterValues[0]"));
  }
}

TEST(RequestTest, QueryParametersAppendedPercentEncodedBeforeTheFragment) {
  Endpoint e = endpoint("https://example.com/hook?fixed=1#top");
  e.query_string_parameters = {literal("q k", "a&b=c+d é")};
  e.query_parameters.emplace_back("apiKey", Secret("s/cr t"));
  EXPECT_EQ(build(e, job("{}")).url,
            "https://example.com/hook?fixed=1&q%20k=a%26b%3Dc%2Bd%20%C3%A9&apiKey=s%2Fcr%20t#top");

  Endpoint bare = endpoint("https://example.com/hook?");
  bare.query_parameters.emplace_back("k", Secret("v"));
  EXPECT_EQ(build(bare, job("{}")).url, "https://example.com/hook?k=v");
  Endpoint host_only = endpoint("https://example.com");
  host_only.query_parameters.emplace_back("k", Secret("v"));
  EXPECT_EQ(build(host_only, job("{}")).url, "https://example.com?k=v");
}

TEST(RequestTest, ConnectionQueryParameterWinsOverTheTargetsOfTheSameKey) {
  Endpoint e = endpoint("https://example.com/hook");
  e.query_string_parameters = {literal("apiKey", "target"), literal("page", "2")};
  e.query_parameters.emplace_back("apiKey", Secret("connection"));
  EXPECT_EQ(build(e, job("{}")).url, "https://example.com/hook?page=2&apiKey=connection");
}

TEST(RequestTest, HeadersInPrecedenceOrderConnectionWinsIgnoringCase) {
  Endpoint e = endpoint("https://example.com/hook");
  e.headers.emplace_back("x-api-key", Secret("key-value"));
  e.headers.emplace_back("X-Team", Secret("connection-team"));
  e.header_parameters = {literal("x-team", "target-team"), literal("X-API-KEY", "target-key"),
                         literal("X-Finding", "f-1")};
  HttpRequest request = build(e, job("{}"));
  EXPECT_THAT(
      request.headers,
      ElementsAre(Pair("x-api-key", "key-value"), Pair("X-Team", "connection-team"),
                  Pair("X-Finding", "f-1"), Pair("Content-Type", "application/json; charset=utf-8"),
                  Pair("User-Agent", "hikyaku/" HIKYAKU_TEST_VERSION)));
}

TEST(RequestTest, BearerTokenComesFirstAndWins) {
  Endpoint e = endpoint("https://example.com/hook");
  e.headers.emplace_back("authorization", Secret("Basic eHg6eXk="));
  e.header_parameters = {literal("Authorization", "target")};
  const Secret token("tok-123");
  HttpRequest request = build(e, job("{}"), &token);
  EXPECT_THAT(request.headers[0], Pair("Authorization", "Bearer tok-123"));
  EXPECT_EQ(request.headers[1].first, "Content-Type");  // the other two were dropped
}

TEST(RequestTest, CustomContentTypeReplacesTheDefaultBodyUnchanged) {
  Endpoint e = endpoint("https://example.com/hook");
  e.header_parameters = {literal("content-type", "application/vnd.api+json")};
  HttpRequest request = build(e, job(R"({"a":1})"));
  EXPECT_THAT(request.headers, ElementsAre(Pair("content-type", "application/vnd.api+json"),
                                           Pair("User-Agent", "hikyaku/" HIKYAKU_TEST_VERSION)));
  EXPECT_EQ(request.body, R"({"a":1})");

  Endpoint form = endpoint("https://example.com/hook");
  form.body_encoding = Endpoint::BodyEncoding::kForm;
  form.headers.emplace_back("Content-Type", Secret("text/plain"));
  EXPECT_THAT(build(form, job("a=1")).headers[0], Pair("Content-Type", "text/plain"));
}

TEST(RequestTest, DynamicValuesComeFromTheJobsHeaders) {
  Endpoint e = endpoint("https://example.com/issues/*/comments");
  e.path_parameters = {from_event("", "$.detail.issueKey")};
  e.header_parameters = {from_event("X-Finding", "$.detail.id"),
                         from_event("X-Missing", "$.detail.nothing"), literal("X-Fixed", "f")};
  e.query_string_parameters = {from_event("severity", "$.detail.severity"),
                               from_event("absent", "$.detail.absent")};
  const std::string headers =
      R"({"path:0":"PRJ 1","header:X-Finding":"arn:aws:x/1","query:severity":"HIGH \"x\""})";
  HttpRequest request = build(e, job("{}", headers));
  EXPECT_EQ(request.url, "https://example.com/issues/PRJ%201/comments?severity=HIGH%20%22x%22");
  EXPECT_THAT(request.headers, ElementsAre(Pair("X-Finding", "arn:aws:x/1"), Pair("X-Fixed", "f"),
                                           Pair("Content-Type", "application/json; charset=utf-8"),
                                           Pair("User-Agent", "hikyaku/" HIKYAKU_TEST_VERSION)));
}

TEST(RequestTest, MissingDynamicPathValueIsInvalidArgument) {
  Endpoint e = endpoint("https://example.com/issues/*");
  e.path_parameters = {from_event("", "$.detail.issueKey")};
  for (const char* headers : {"", R"({"header:X":"1"})"}) {
    Status status = error_of(e, job("{}", headers));
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(status.message(), HasSubstr("PathParameterValues[0] ($.detail.issueKey)"));
    EXPECT_THAT(status.message(), HasSubstr("matched nothing"));
  }
}

TEST(RequestTest, DamagedJobHeadersAreInvalidArgument) {
  Endpoint e = endpoint("https://example.com/hook");
  e.header_parameters = {from_event("X-Finding", "$.detail.id")};
  for (const char* headers : {"{", "[]", R"({"header:X-Finding":1})"}) {
    EXPECT_EQ(error_of(e, job("{}", headers)).code(), StatusCode::kInvalidArgument) << headers;
  }
  // Without dynamic values the field is not read.
  EXPECT_TRUE(error_of(endpoint("https://example.com/hook"), job("{}", "{")).ok());
}

TEST(RequestTest, HeaderValuesWithLineBreaksAndBadNamesAreRefused) {
  Endpoint e = endpoint("https://example.com/hook");
  e.header_parameters = {from_event("X-Title", "$.detail.title")};
  Status status = error_of(e, job("{}", R"({"header:X-Title":"a\r\nX-Injected: 1"})"));
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("X-Title"));
  EXPECT_THAT(status.message(), Not(HasSubstr("Injected")));
  // Tabs and UTF-8 pass.
  EXPECT_TRUE(error_of(e, job("{}", R"({"header:X-Title":"a\tb é"})")).ok());

  Endpoint bad_name = endpoint("https://example.com/hook");
  bad_name.header_parameters = {literal("X Bad:", "v")};
  EXPECT_EQ(error_of(bad_name, job("{}")).code(), StatusCode::kInvalidArgument);
}

TEST(RequestTest, JsonBodyParametersMergedAsTopLevelStringMembers) {
  Endpoint e = endpoint("https://example.com/hook");
  e.body_parameters = {{"token", Secret("s\"x")}, {"team", Secret("sec")}};
  // Spliced: the body's own bytes are kept.
  EXPECT_EQ(build(e, job("{ \"a\": 1.50e1 ,\"b\":[1, 2] }\n")).body,
            "{ \"a\": 1.50e1 ,\"b\":[1, 2] ,\"token\":\"s\\\"x\",\"team\":\"sec\"}\n");
  EXPECT_EQ(build(e, job(" { } ")).body, R"( { "token":"s\"x","team":"sec"} )");
}

TEST(RequestTest, JsonBodyParameterReplacesTheMemberOfTheSameKey) {
  Endpoint e = endpoint("https://example.com/hook");
  e.body_parameters = {{"team", Secret("connection")}};
  EXPECT_EQ(
      build(e, job(R"({"a":1.50e1,"team":"target","o":{"team":[1, {"x":null}]},"t":true})")).body,
      R"({"a":1.50e1,"o":{"team":[1, {"x":null}]},"t":true,"team":"connection"})");
}

TEST(RequestTest, BodyParametersWithABodyThatIsNotAJsonObjectAreInvalidArgument) {
  Endpoint e = endpoint("https://example.com/hook");
  e.body_parameters = {{"token", Secret("body-secret-value")}};
  for (const char* body : {R"([1,2])", R"("text")", "plain text from a string template",
                           R"({"a": hello})", R"({"a":1} {"b":2})", ""}) {
    Status status = error_of(e, job(body));
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << body;
    EXPECT_THAT(status.message(), HasSubstr("BodyParameters"));
    EXPECT_THAT(status.message(), Not(HasSubstr("body-secret-value")));
  }
}

TEST(RequestTest, FormBodyParametersAppendedAsFieldsReplacingTheSameName) {
  Endpoint e = endpoint("https://example.com/hook");
  e.body_encoding = Endpoint::BodyEncoding::kForm;
  e.body_parameters = {{"api key", Secret("a b&c=d")}, {"projectId", Secret("7")}};
  EXPECT_EQ(build(e, job("summary=Hi+there&projectId=1&categoryId[]=2")).body,
            "summary=Hi+there&categoryId[]=2&api+key=a+b%26c%3Dd&projectId=7");
  EXPECT_EQ(build(e, job("api%20key=old&x=1")).body, "x=1&api+key=a+b%26c%3Dd&projectId=7");
  EXPECT_EQ(build(e, job("")).body, "api+key=a+b%26c%3Dd&projectId=7");
}

TEST(RequestTest, TheJobIsNotChanged) {
  Endpoint e = endpoint("https://example.com/hook");
  e.body_parameters = {{"token", Secret("body-secret")}};
  const store::Job stored = job(R"({"a":1})");
  const store::Job copy = stored;
  EXPECT_THAT(build(e, stored).body, HasSubstr("body-secret"));
  EXPECT_EQ(stored.body, copy.body);
  EXPECT_EQ(stored.headers, copy.headers);
}

}  // namespace
}  // namespace hikyaku::delivery
