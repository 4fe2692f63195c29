// Tests of the OAuth client-credentials pieces: the token request, the reading of the token
// endpoint's answer (with the real Redactor), the token cache on the caller's time, and one real
// exchange over loopback with the scriptable destination.
#include "delivery/oauth.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "core/url_encoding.h"
#include "delivery/http_client.h"
#include "testing/scriptable_destination.h"

namespace hikyaku::delivery {
namespace {

using Action = TokenCache::Decision::Action;

// A secret that needs form-encoding ('+', '/', ' ', '&', '=', '%') and occurs nowhere else.
constexpr std::string_view kClientSecret = "s3cr+t/Zq9 x&y=%";
constexpr std::string_view kClientId = "client id:1";
// "Basic " + base64("client+id%3A1" ":" "s3cr%2Bt%2FZq9+x%26y%3D%25"), computed independently.
constexpr std::string_view kBasic =
    "Basic Y2xpZW50K2lkJTNBMTpzM2NyJTJCdCUyRlpxOSt4JTI2eSUzRCUyNQ==";
constexpr std::string_view kSecretParameter = "aud-Pq7Vw9Xk";
constexpr std::string_view kAccessToken = "eyJ0b2tlbiI6Ik1qUXhOVEUifQ.sig-Hw4Lr8";

OAuthSettings settings(std::string method = "POST",
                       std::string endpoint = "https://id.example.com/oauth/token") {
  OAuthSettings s;
  s.connection = "idp";
  s.client_id = std::string(kClientId);
  s.client_secret = Secret(std::string(kClientSecret));
  s.authorization_endpoint = std::move(endpoint);
  s.http_method = std::move(method);
  return s;
}

OAuthParameter parameter(std::string key, std::string value, bool secret = false) {
  return {std::move(key), Secret(std::move(value)), secret};
}

// Every configured secret value, as the composition root gives the Redactor.
Redactor redactor_for(const OAuthSettings& s) {
  std::vector<std::string> values = {s.client_secret.reveal(), std::string(kSecretParameter)};
  for (std::string& value : oauth_redaction_values(s)) {
    values.push_back(std::move(value));
  }
  return Redactor(values);
}

// The decoded fields of a form body or query string, in order.
std::vector<std::pair<std::string, std::string>> fields(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!text.empty()) {
    const size_t amp = std::min(text.find('&'), text.size());
    const std::string_view field = text.substr(0, amp);
    const size_t eq = std::min(field.find('='), field.size());
    out.emplace_back(form_decode(field.substr(0, eq)),
                     form_decode(field.substr(std::min(eq + 1, field.size()))));
    text.remove_prefix(std::min(amp + 1, text.size()));
  }
  return out;
}

using Fields = std::vector<std::pair<std::string, std::string>>;

std::string header(const TokenRequest& request, std::string_view name) {
  std::string value;
  int found = 0;
  for (const auto& [key, text] : request.headers) {
    if (key == name) {
      value = text;
      ++found;
    }
  }
  EXPECT_LE(found, 1) << name << " sent twice";
  return value;
}

// ---- the token request ----

TEST(OAuthRequestTest, PostSendsBasicCredentialsAndFormEncodedBody) {
  OAuthSettings s = settings();
  s.header_parameters = {parameter("X-Tenant", "t1")};
  s.query_string_parameters = {parameter("api version", "2&3")};
  s.body_parameters = {parameter("scope", "read write"),
                       parameter("audience", std::string(kSecretParameter), true)};
  const Result<TokenRequest> request = build_token_request(s);
  ASSERT_TRUE(request.has_value()) << request.error().message();
  EXPECT_EQ(request->method, "POST");
  EXPECT_EQ(request->url, "https://id.example.com/oauth/token?api%20version=2%263");
  EXPECT_EQ(header(*request, "Authorization"), kBasic);
  EXPECT_EQ(header(*request, "X-Tenant"), "t1");
  EXPECT_EQ(header(*request, "Accept"), "application/json");
  EXPECT_EQ(request->content_type, "application/x-www-form-urlencoded");
  EXPECT_EQ(request->body, "grant_type=client_credentials&scope=read+write&audience=aud-Pq7Vw9Xk");
  EXPECT_EQ(request->body.find("client_secret"), std::string::npos);
}

TEST(OAuthRequestTest, PutIsSentLikePost) {
  OAuthSettings s = settings("PUT");
  s.body_parameters = {parameter("scope", "a")};
  const Result<TokenRequest> request = build_token_request(s);
  ASSERT_TRUE(request.has_value());
  EXPECT_EQ(request->method, "PUT");
  EXPECT_EQ(request->url, "https://id.example.com/oauth/token");  // no dangling '?'
  EXPECT_EQ(request->body, "grant_type=client_credentials&scope=a");
  EXPECT_EQ(request->content_type, "application/x-www-form-urlencoded");
}

TEST(OAuthRequestTest, GetPutsBodyParametersInTheQueryAndSendsNoBody) {
  OAuthSettings s = settings("GET", "https://id.example.com/token?v=2#part");
  s.query_string_parameters = {parameter("tenant", "t 1")};
  s.body_parameters = {parameter("scope", "read write/x")};
  const Result<TokenRequest> request = build_token_request(s);
  ASSERT_TRUE(request.has_value());
  EXPECT_EQ(request->method, "GET");
  // Query parameters first, then the grant fields; all before the fragment.
  EXPECT_EQ(request->url,
            "https://id.example.com/token?v=2&tenant=t%201&grant_type=client_credentials"
            "&scope=read%20write%2Fx#part");
  EXPECT_EQ(request->body, "");
  EXPECT_EQ(request->content_type, "");
  EXPECT_EQ(header(*request, "Authorization"), kBasic);
}

TEST(OAuthRequestTest, GrantTypeIsAddedOnlyWhenNotConfigured) {
  OAuthSettings in_body = settings();
  in_body.body_parameters = {parameter("grant_type", "urn:custom"), parameter("scope", "s")};
  const Result<TokenRequest> body_request = build_token_request(in_body);
  ASSERT_TRUE(body_request.has_value());
  EXPECT_EQ(fields(body_request->body), (Fields{{"grant_type", "urn:custom"}, {"scope", "s"}}));

  OAuthSettings in_query = settings();
  in_query.query_string_parameters = {parameter("grant_type", "client_credentials")};
  const Result<TokenRequest> query_request = build_token_request(in_query);
  ASSERT_TRUE(query_request.has_value());
  EXPECT_EQ(query_request->url, "https://id.example.com/oauth/token?grant_type=client_credentials");
  EXPECT_EQ(query_request->body, "");

  // A key that only resembles grant_type does not count.
  OAuthSettings similar = settings();
  similar.body_parameters = {parameter("Grant_Type", "x")};
  const Result<TokenRequest> similar_request = build_token_request(similar);
  ASSERT_TRUE(similar_request.has_value());
  EXPECT_EQ(fields(similar_request->body),
            (Fields{{"grant_type", "client_credentials"}, {"Grant_Type", "x"}}));
}

TEST(OAuthRequestTest, FormFieldsCarryTheCredentialsInsteadOfBasic) {
  OAuthSettings s = settings();
  s.client_authentication = ClientAuthentication::kFormFields;
  const Result<TokenRequest> request = build_token_request(s);
  ASSERT_TRUE(request.has_value());
  EXPECT_EQ(header(*request, "Authorization"), "");
  EXPECT_EQ(fields(request->body), (Fields{{"grant_type", "client_credentials"},
                                           {"client_id", std::string(kClientId)},
                                           {"client_secret", std::string(kClientSecret)}}));
}

TEST(OAuthRequestTest, ConfiguredHeadersReplaceTheDefaults) {
  OAuthSettings s = settings();
  s.header_parameters = {
      parameter("authorization", "Custom abc", true),
      parameter("content-type", "application/x-www-form-urlencoded; charset=utf-8"),
      parameter("ACCEPT", "*/*")};
  const Result<TokenRequest> request = build_token_request(s);
  ASSERT_TRUE(request.has_value());
  EXPECT_EQ(request->headers,
            (std::vector<std::pair<std::string, std::string>>{
                {"authorization", "Custom abc"},
                {"content-type", "application/x-www-form-urlencoded; charset=utf-8"},
                {"ACCEPT", "*/*"}}));
  EXPECT_EQ(request->content_type, "");
}

TEST(OAuthRequestTest, RefusesAnUnknownMethodOrEndpoint) {
  const Result<TokenRequest> patch = build_token_request(settings("PATCH"));
  ASSERT_FALSE(patch.has_value());
  EXPECT_EQ(patch.error().message(),
            "connection \"idp\": OAuth HttpMethod \"PATCH\" must be GET, POST or PUT");
  for (const char* endpoint : {"", "id.example.com/token", "ftp://id.example.com/", "https://"}) {
    const Result<TokenRequest> request = build_token_request(settings("POST", endpoint));
    ASSERT_FALSE(request.has_value()) << endpoint;
    EXPECT_EQ(request.error().code(), StatusCode::kInvalidArgument);
  }
  EXPECT_TRUE(build_token_request(settings("POST", "HTTP://127.0.0.1:8080/t")).has_value());
}

TEST(OAuthRequestTest, RedactionValuesMaskTheBasicHeaderAndEncodedSecret) {
  const OAuthSettings s = settings();
  const Result<TokenRequest> request = build_token_request(s);
  ASSERT_TRUE(request.has_value());
  const Redactor redactor = redactor_for(s);
  EXPECT_TRUE(redactor.contains_secret(header(*request, "Authorization")));
  EXPECT_EQ(redactor.redact(header(*request, "Authorization")).find("Y2xp"), std::string::npos);
  OAuthSettings form = s;
  form.client_authentication = ClientAuthentication::kFormFields;
  const Result<TokenRequest> form_request = build_token_request(form);
  ASSERT_TRUE(form_request.has_value());
  EXPECT_TRUE(redactor.contains_secret(form_request->body));
  EXPECT_EQ(oauth_redaction_values(settings()).size(), 2u);
  OAuthSettings plain = s;
  plain.client_secret = Secret("plainsecret");
  EXPECT_EQ(oauth_redaction_values(plain), (std::vector<std::string>{"client+id%3A1:plainsecret"}));
}

// ---- the token endpoint's answer ----

AttemptResult attempt(int status, bool timed_out = false, std::string error = "") {
  AttemptResult result;
  result.http_status = status;
  result.timed_out = timed_out;
  result.error = std::move(error);
  return result;
}

AttemptResult answered(int status) { return attempt(status); }

Result<Token> read(int status, std::string_view body, int64_t now_ms = 1000) {
  const OAuthSettings s = settings();
  return token_from_response(s, answered(status), body, now_ms, redactor_for(s));
}

TEST(OAuthResponseTest, ReadsAGoodToken) {
  const Result<Token> token =
      read(200, R"({"access_token":"eyJ0b2tlbiI6Ik1qUXhOVEUifQ.sig-Hw4Lr8","token_type":"bearer",)"
                R"("expires_in":3600,"scope":"read"})");
  ASSERT_TRUE(token.has_value()) << token.error().message();
  EXPECT_EQ(token->access_token.reveal(), kAccessToken);
  EXPECT_EQ(token->authorization.reveal(), "Bearer " + std::string(kAccessToken));
  EXPECT_EQ(token->obtained_at_ms, 1000);
  EXPECT_EQ(token->expires_at_ms, 1000 + 3'600'000);
  ASSERT_NE(token->redactor, nullptr);
  EXPECT_EQ(token->redactor->redact("echo: Bearer " + std::string(kAccessToken)),
            "echo: Bearer ***");
  // 201 is as good as 200; a token_type is optional.
  EXPECT_TRUE(read(201, R"({"access_token":"abcd"})").has_value());
}

TEST(OAuthResponseTest, ExpiresInVariants) {
  const auto lifetime = [](std::string_view expires_in) -> int64_t {
    const std::string body =
        R"({"access_token":"abcd","token_type":"Bearer")" +
        (expires_in.empty() ? std::string() : ",\"expires_in\":" + std::string(expires_in)) + "}";
    const Result<Token> token = read(200, body, 0);
    EXPECT_TRUE(token.has_value()) << expires_in << ": " << token.error().message();
    return token.has_value() ? token->expires_at_ms : -1;
  };
  EXPECT_EQ(lifetime(""), kDefaultTokenLifetimeMs);
  EXPECT_EQ(lifetime("null"), kDefaultTokenLifetimeMs);
  EXPECT_EQ(lifetime("0"), kDefaultTokenLifetimeMs);
  EXPECT_EQ(lifetime("\"7200\""), 7'200'000);
  EXPECT_EQ(lifetime("299.5"), 299'500);
  EXPECT_EQ(lifetime("0.2"), 1000);
  EXPECT_EQ(lifetime("86401"), kMaxTokenLifetimeMs);
  EXPECT_EQ(lifetime("1e300"), kMaxTokenLifetimeMs);
  EXPECT_EQ(lifetime("99999999999999999999999"), kMaxTokenLifetimeMs);

  for (const auto& [expires_in, reason] : std::vector<std::pair<std::string, std::string>>{
           {"-5", "expires_in -5 is negative"},
           {"\"-5\"", "expires_in -5 is negative"},
           {"\"soon\"", "expires_in \"soon\" is not a number of seconds"},
           {"\"\"", "expires_in \"\" is not a number of seconds"},
           {"\"nan\"", "expires_in \"nan\" is not a number of seconds"},
           {"true", "expires_in is not a number of seconds"},
           {"[1]", "expires_in is not a number of seconds"}}) {
    const Result<Token> token =
        read(200, R"({"access_token":"abcd","expires_in":)" + expires_in + "}");
    ASSERT_FALSE(token.has_value()) << expires_in;
    EXPECT_EQ(token.error().code(), StatusCode::kFailedPrecondition);
    EXPECT_EQ(token.error().message(),
              "connection \"idp\": token endpoint https://id.example.com/oauth/token answered "
              "200 without a usable token: " +
                  reason);
  }
}

TEST(OAuthResponseTest, RefusesUnusableTokensWithoutShowingThem) {
  const std::string token(kAccessToken);
  for (const auto& [body, reason] : std::vector<std::pair<std::string, std::string>>{
           {R"({"access_token":")" + token + R"(","token_type":"mac"})",
            "token_type \"mac\" is not Bearer, the only type a connection can send"},
           {R"({"access_token":")" + token + R"(","token_type":"DPoP"})",
            "token_type \"DPoP\" is not Bearer, the only type a connection can send"},
           {R"({"token_type":"Bearer"})", "no access_token"},
           {R"({"error":"invalid_scope"})", "no access_token, but error invalid_scope"},
           {R"({"access_token":""})", "access_token is empty"},
           {R"({"access_token":42})", "access_token is not a string"},
           {R"({"access_token":")" + token + R"(\r\nX-Injected: 1"})",
            "access_token holds a space, a control or a non-ASCII character, which an HTTP "
            "header cannot carry"},
           {"access_token=" + token + "&token_type=bearer", "the body is not a JSON object"},
           {"[\"" + token + "\"]", "the body is not a JSON object"},
           {"", "the body is not a JSON object"},
           {R"({"access_token":")" + token + R"(", "expires_in": })", "the body is not valid JSON"},
       }) {
    const Result<Token> result = read(200, body);
    ASSERT_FALSE(result.has_value()) << body;
    EXPECT_EQ(result.error().code(), StatusCode::kFailedPrecondition) << body;
    EXPECT_FALSE(token_error_is_transient(result.error()));
    EXPECT_EQ(result.error().message(),
              "connection \"idp\": token endpoint https://id.example.com/oauth/token answered "
              "200 without a usable token: " +
                  reason);
  }
}

TEST(OAuthResponseTest, ErrorAnswersBecomeClearMessages) {
  struct Case {
    int status;
    std::string body;
    StatusCode code;
    std::string detail;
  };
  for (const Case& c : std::vector<Case>{
           {401, R"({"error":"invalid_client","error_description":"Client authentication failed"})",
            StatusCode::kFailedPrecondition, ": invalid_client (Client authentication failed)"},
           {400, R"({"error":"invalid_grant"})", StatusCode::kFailedPrecondition,
            ": invalid_grant"},
           {403, "Forbidden", StatusCode::kFailedPrecondition, ": Forbidden"},
           {404, "", StatusCode::kFailedPrecondition, " with an empty body"},
           {302, "", StatusCode::kFailedPrecondition,
            " with an empty body (redirects are not followed)"},
           {429, R"({"error":"slow_down"})", StatusCode::kUnavailable, ": slow_down"},
           {408, "", StatusCode::kUnavailable, " with an empty body"},
           {503, "<html>\n<b>Service\tUnavailable</b>\n</html>", StatusCode::kUnavailable,
            ": <html> <b>Service Unavailable</b> </html>"},
           {500, R"({"message":"boom"})", StatusCode::kUnavailable, R"(: {"message":"boom"})"},
       }) {
    const Result<Token> result = read(c.status, c.body);
    ASSERT_FALSE(result.has_value()) << c.status;
    EXPECT_EQ(result.error().code(), c.code) << c.status;
    EXPECT_EQ(token_error_is_transient(result.error()), c.code == StatusCode::kUnavailable);
    EXPECT_EQ(result.error().message(),
              "connection \"idp\": token endpoint https://id.example.com/oauth/token answered " +
                  std::to_string(c.status) + c.detail);
  }
}

TEST(OAuthResponseTest, LongErrorBodiesAreCut) {
  const std::string body = "<p>" + std::string(5000, 'x') + "</p>";
  const Result<Token> result = read(502, body);
  ASSERT_FALSE(result.has_value());
  EXPECT_LT(result.error().message().size(), 400u);
  EXPECT_NE(result.error().message().find("xxx..."), std::string::npos);
  // A cut never splits a UTF-8 character.
  const std::string accented = std::string(199, 'a') + "\xC3\xA9" + "tail";
  const Result<Token> utf8 = read(500, accented);
  ASSERT_FALSE(utf8.has_value());
  EXPECT_NE(utf8.error().message().find(std::string(199, 'a') + "..."), std::string::npos);
  EXPECT_EQ(utf8.error().message().find('\xC3'), std::string::npos);
}

TEST(OAuthResponseTest, TransportFailures) {
  const OAuthSettings s = settings();
  const Redactor redactor = redactor_for(s);
  const Result<Token> timeout = token_from_response(
      s, attempt(0, true, "Operation timed out after 5000 milliseconds"), "", 0, redactor);
  ASSERT_FALSE(timeout.has_value());
  EXPECT_EQ(timeout.error().code(), StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(token_error_is_transient(timeout.error()));
  EXPECT_EQ(timeout.error().message(),
            "connection \"idp\": token endpoint https://id.example.com/oauth/token did not "
            "answer within the timeout: Operation timed out after 5000 milliseconds");
  const Result<Token> refused = token_from_response(
      s, attempt(0, false, "Failed to connect to id.example.com port 443"), "", 0, redactor);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), StatusCode::kUnavailable);
  EXPECT_EQ(refused.error().message(),
            "connection \"idp\": token endpoint https://id.example.com/oauth/token could not be "
            "reached: Failed to connect to id.example.com port 443");
}

TEST(OAuthResponseTest, NoSecretReachesAnyMessage) {
  OAuthSettings s = settings(
      "POST", "https://id.example.com/oauth/token?api_key=" + std::string(kSecretParameter));
  s.body_parameters = {parameter("audience", std::string(kSecretParameter), true)};
  const Result<TokenRequest> request = build_token_request(s);
  ASSERT_TRUE(request.has_value());
  const Redactor redactor = redactor_for(s);
  const std::string secret(kClientSecret);
  const std::string encoded_secret = "s3cr%2Bt%2FZq9+x%26y%3D%25";
  const std::string basic = header(*request, "Authorization");
  const std::string token(kAccessToken);
  // Servers that echo what they got, in every place an error text is taken from.
  std::vector<std::pair<int, std::string>> answers = {
      {401, R"({"error":"invalid_client","error_description":"bad secret )" + secret + R"("})"},
      {401, R"({"error":"invalid_client","error_description":"got )" + basic + R"("})"},
      {400, "request was: " + request->body},
      {400, "secret=" + encoded_secret},
      {500, "<pre>Authorization: " + basic + "</pre>"},
      {503, "upstream said " + secret},
      {200, R"({"access_token":")" + token + R"(","token_type":"mac"})"},
      {200, R"({"access_token":")" + token + R"( x"})"},
      {200, "access_token=" + token + "&client_secret=" + encoded_secret},
  };
  for (const auto& [status, body] : answers) {
    const Result<Token> result = token_from_response(s, answered(status), body, 0, redactor);
    ASSERT_FALSE(result.has_value()) << body;
    const std::string& message = result.error().message();
    EXPECT_EQ(message.find(secret), std::string::npos) << message;
    EXPECT_EQ(message.find(encoded_secret), std::string::npos) << message;
    EXPECT_EQ(message.find(kSecretParameter), std::string::npos) << message;
    EXPECT_EQ(message.find(basic.substr(6)), std::string::npos) << message;
    EXPECT_EQ(message.find(token), std::string::npos) << message;
    EXPECT_EQ(message.find(request->body), std::string::npos) << message;
    EXPECT_FALSE(redactor.contains_secret(message)) << message;
    EXPECT_NE(message.find("connection \"idp\""), std::string::npos) << message;
  }
  const Result<Token> refused = token_from_response(
      s, attempt(0, false, "Failed to connect to " + request->url), "", 0, redactor);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().message().find(kSecretParameter), std::string::npos);
}

// ---- the cache ----

Token token_at(int64_t now_ms, int64_t lifetime_ms, const std::string& value = "token-value") {
  Token token;
  token.access_token = Secret(value);
  token.authorization = Secret("Bearer " + value);
  token.obtained_at_ms = now_ms;
  token.expires_at_ms = now_ms + lifetime_ms;
  return token;
}

// Fetches a token for "idp" at `now_ms` (the cache must allow a fetch then).
std::shared_ptr<const Token> fetch(TokenCache& cache, int64_t now_ms, int64_t lifetime_ms,
                                   std::string value = "token-value") {
  const TokenCache::Decision decision = cache.begin_refresh("idp", now_ms);
  EXPECT_EQ(decision.action, Action::kFetch);
  Result<std::shared_ptr<const Token>> stored = cache.complete_refresh(
      "idp", decision.ticket, token_at(now_ms, lifetime_ms, std::move(value)), now_ms);
  EXPECT_TRUE(stored.has_value());
  return stored.has_value() ? *stored : nullptr;
}

TEST(TokenCacheTest, OneFetchThenTheTokenIsUsed) {
  TokenCache cache;
  EXPECT_EQ(cache.current("idp", 0), nullptr);
  const TokenCache::Decision first = cache.begin_refresh("idp", 0);
  ASSERT_EQ(first.action, Action::kFetch);
  EXPECT_EQ(first.token, nullptr);
  EXPECT_EQ(cache.begin_refresh("idp", 10).action, Action::kWait);     // single flight
  EXPECT_EQ(cache.begin_refresh("other", 10).action, Action::kFetch);  // per connection
  const Result<std::shared_ptr<const Token>> stored =
      cache.complete_refresh("idp", first.ticket, token_at(20, 3'600'000), 20);
  ASSERT_TRUE(stored.has_value());
  EXPECT_NE((*stored)->serial, 0u);
  EXPECT_EQ(cache.current("idp", 30), *stored);
  const TokenCache::Decision later = cache.begin_refresh("idp", 40);
  EXPECT_EQ(later.action, Action::kUse);
  EXPECT_EQ(later.token, *stored);
  EXPECT_EQ(cache.current("other", 30), nullptr);
}

TEST(TokenCacheTest, RefreshIsDueAMarginBeforeExpiry) {
  TokenCache cache;
  // One hour: the margin is 60 s.
  const std::shared_ptr<const Token> hour = fetch(cache, 0, 3'600'000, "first");
  EXPECT_EQ(cache.current("idp", 3'540'000 - 1), hour);
  EXPECT_EQ(cache.current("idp", 3'540'000), nullptr);
  // Due but still valid: one caller fetches and may use the old token meanwhile, others use it.
  const TokenCache::Decision refresh = cache.begin_refresh("idp", 3'575'000);
  ASSERT_EQ(refresh.action, Action::kFetch);
  EXPECT_EQ(refresh.token, hour);
  const TokenCache::Decision meanwhile = cache.begin_refresh("idp", 3'590'000);
  EXPECT_EQ(meanwhile.action, Action::kUse);
  EXPECT_EQ(meanwhile.token, hour);
  // Expired with the fetch still in flight: wait for it.
  EXPECT_EQ(cache.begin_refresh("idp", 3'600'000).action, Action::kWait);
  ASSERT_TRUE(cache
                  .complete_refresh("idp", refresh.ticket, token_at(3'600'010, 100'000, "second"),
                                    3'600'010)
                  .has_value());
  // 100 s: the margin is 10 % (10 s).
  const std::shared_ptr<const Token> second = cache.current("idp", 3'600'010);
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(second->access_token.reveal(), "second");
  EXPECT_GT(second->serial, hour->serial);
  EXPECT_EQ(cache.current("idp", 3'600'010 + 90'000 - 1), second);
  EXPECT_EQ(cache.current("idp", 3'600'010 + 90'000), nullptr);
}

TEST(TokenCacheTest, InvalidateDropsOnlyTheTokenThatFailed) {
  TokenCache cache;
  const std::shared_ptr<const Token> old_token = fetch(cache, 0, 3'600'000, "old");
  // Many requests in flight with the old token get 401: the first drops it...
  EXPECT_TRUE(cache.invalidate("idp", old_token->serial));
  EXPECT_EQ(cache.current("idp", 5000), nullptr);
  const TokenCache::Decision refresh = cache.begin_refresh("idp", 5000);
  ASSERT_EQ(refresh.action, Action::kFetch);
  EXPECT_EQ(refresh.token, nullptr);  // an invalidated token is not offered again
  // ...the others change nothing, before or after the new token arrives.
  EXPECT_FALSE(cache.invalidate("idp", old_token->serial));
  EXPECT_EQ(cache.begin_refresh("idp", 5001).action, Action::kWait);
  ASSERT_TRUE(cache.complete_refresh("idp", refresh.ticket, token_at(5002, 3'600'000, "new"), 5002)
                  .has_value());
  EXPECT_FALSE(cache.invalidate("idp", old_token->serial));
  const std::shared_ptr<const Token> fresh = cache.current("idp", 5003);
  ASSERT_NE(fresh, nullptr);
  EXPECT_EQ(fresh->access_token.reveal(), "new");
  EXPECT_FALSE(cache.invalidate("other", fresh->serial));
  EXPECT_EQ(cache.current("idp", 5003), fresh);
}

TEST(TokenCacheTest, FailedFetchesBackOffAndTheErrorIsGivenToWaiters) {
  TokenCache cache;
  int64_t now = 0;
  const int64_t expected_backoff[] = {1000, 2000, 4000, 8000, 16000, 30000, 30000};
  for (const int64_t backoff : expected_backoff) {
    const TokenCache::Decision decision = cache.begin_refresh("idp", now);
    ASSERT_EQ(decision.action, Action::kFetch) << now;
    const Result<std::shared_ptr<const Token>> failed = cache.complete_refresh(
        "idp", decision.ticket, unavailable("token endpoint answered 503"), now);
    ASSERT_FALSE(failed.has_value());
    const TokenCache::Decision blocked = cache.begin_refresh("idp", now + backoff - 1);
    EXPECT_EQ(blocked.action, Action::kFail);
    EXPECT_EQ(blocked.retry_at_ms, now + backoff);
    EXPECT_EQ(blocked.error.message(), "token endpoint answered 503");
    now += backoff;
  }
  // A success ends the back-off: the next failure waits the base delay again.
  fetch(cache, now, 3'600'000);
  ASSERT_TRUE(cache.invalidate("idp", cache.current("idp", now)->serial));
  now += 1000;
  const TokenCache::Decision decision = cache.begin_refresh("idp", now);
  ASSERT_EQ(decision.action, Action::kFetch);
  ASSERT_FALSE(
      cache.complete_refresh("idp", decision.ticket, unavailable("down"), now).has_value());
  EXPECT_EQ(cache.begin_refresh("idp", now + 999).action, Action::kFail);
  EXPECT_EQ(cache.begin_refresh("idp", now + 1000).action, Action::kFetch);
}

TEST(TokenCacheTest, AValidTokenIsStillUsedDuringBackOff) {
  TokenCache cache;
  const std::shared_ptr<const Token> token = fetch(cache, 0, 100'000);
  const TokenCache::Decision refresh = cache.begin_refresh("idp", 95'000);  // due, still valid
  ASSERT_EQ(refresh.action, Action::kFetch);
  ASSERT_FALSE(
      cache.complete_refresh("idp", refresh.ticket, unavailable("down"), 95'000).has_value());
  const TokenCache::Decision during = cache.begin_refresh("idp", 95'500);
  EXPECT_EQ(during.action, Action::kUse);
  EXPECT_EQ(during.token, token);
  EXPECT_EQ(cache.begin_refresh("idp", 96'000).action, Action::kFetch);
}

TEST(TokenCacheTest, FetchesStartAtLeastAnIntervalApart) {
  TokenCache cache;
  const std::shared_ptr<const Token> token = fetch(cache, 0, 3'600'000);
  // The destination refuses the brand-new token at once.
  ASSERT_TRUE(cache.invalidate("idp", token->serial));
  const TokenCache::Decision too_soon = cache.begin_refresh("idp", 300);
  ASSERT_EQ(too_soon.action, Action::kFail);
  EXPECT_EQ(too_soon.retry_at_ms, 1000);
  EXPECT_EQ(too_soon.error.code(), StatusCode::kUnavailable);
  EXPECT_EQ(too_soon.error.message(),
            "connection \"idp\": no valid access token, and the last token request started "
            "300 ms ago; the next may start in 700 ms");
  EXPECT_EQ(cache.begin_refresh("idp", 1000).action, Action::kFetch);
}

TEST(TokenCacheTest, ALostFetchIsTakenOverAndItsLateResultIgnored) {
  TokenCache cache(TokenCache::Options{.fetch_timeout_ms = 10'000});
  const TokenCache::Decision lost = cache.begin_refresh("idp", 0);
  ASSERT_EQ(lost.action, Action::kFetch);
  EXPECT_EQ(cache.begin_refresh("idp", 9'999).action, Action::kWait);
  const TokenCache::Decision again = cache.begin_refresh("idp", 10'000);
  ASSERT_EQ(again.action, Action::kFetch);
  EXPECT_NE(again.ticket, lost.ticket);
  // The lost fetch's caller still gets its token (for the deliveries it parked)...
  const Result<std::shared_ptr<const Token>> late =
      cache.complete_refresh("idp", lost.ticket, token_at(10'500, 3'600'000, "late"), 10'500);
  ASSERT_TRUE(late.has_value());
  EXPECT_EQ((*late)->access_token.reveal(), "late");
  // ...but the cache waits for the current fetch, and a late failure starts no back-off.
  EXPECT_EQ(cache.current("idp", 10'500), nullptr);
  EXPECT_FALSE(cache.complete_refresh("idp", lost.ticket, unavailable("x"), 10'600).has_value());
  EXPECT_EQ(cache.begin_refresh("idp", 10'600).action, Action::kWait);
  ASSERT_TRUE(
      cache.complete_refresh("idp", again.ticket, token_at(10'700, 3'600'000, "current"), 10'700)
          .has_value());
  EXPECT_EQ(cache.current("idp", 10'800)->access_token.reveal(), "current");
}

TEST(TokenCacheTest, ForgetStartsOver) {
  TokenCache cache;
  const TokenCache::Decision decision = cache.begin_refresh("idp", 0);
  ASSERT_EQ(decision.action, Action::kFetch);
  ASSERT_FALSE(cache.complete_refresh("idp", decision.ticket, unavailable("down"), 0).has_value());
  ASSERT_EQ(cache.begin_refresh("idp", 1).action, Action::kFail);
  cache.forget("idp");  // the connection's settings changed: no back-off from the old ones
  const TokenCache::Decision fresh = cache.begin_refresh("idp", 2);
  ASSERT_EQ(fresh.action, Action::kFetch);
  cache.forget("idp");  // a fetch begun with the old settings does not store its token
  ASSERT_TRUE(cache.complete_refresh("idp", fresh.ticket, token_at(3, 3'600'000), 3).has_value());
  EXPECT_EQ(cache.current("idp", 4), nullptr);
}

TEST(TokenCacheTest, ConcurrentCallersStartOneFetch) {
  TokenCache cache;
  std::atomic<int> fetches{0};
  std::atomic<int> waits{0};
  std::vector<std::thread> threads;
  threads.reserve(8);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        switch (cache.begin_refresh("idp", 0).action) {
          case Action::kFetch:
            ++fetches;
            break;
          case Action::kWait:
            ++waits;
            break;
          default:
            break;
        }
      }
    });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(fetches.load(), 1);
  EXPECT_EQ(waits.load(), 8 * 1000 - 1);
}

// ---- a real exchange over loopback ----

std::string received_authorization(const testing::RecordedRequest& request) {
  return request.header("Authorization");
}

Result<Token> exchange(const OAuthSettings& s, const TokenRequest& request, int64_t now_ms) {
  HttpRequest http;
  http.method = request.method;
  http.url = request.url;
  http.headers = request.headers;
  if (!request.content_type.empty()) {
    http.headers.emplace_back("Content-Type", request.content_type);
  }
  http.body = request.body;
  http.timeout_ms = 5000;
  HttpClient client;
  std::string body;
  const AttemptResult attempt = client.send(http, nullptr, &body);
  return token_from_response(s, attempt, body, now_ms, redactor_for(s));
}

TEST(OAuthExchangeTest, PostTokenRequestReachesTheEndpointAndTheTokenComesBack) {
  testing::ScriptableDestination endpoint;
  endpoint.script({.status = 200,
                   .headers = {{"Content-Type", "application/json"}},
                   .body = R"({"access_token":")" + std::string(kAccessToken) +
                           R"(","token_type":"Bearer","expires_in":"1800"})"});
  OAuthSettings s = settings("POST", endpoint.url("/oauth/token"));
  s.query_string_parameters = {parameter("tenant", "t 1&2")};
  s.body_parameters = {parameter("scope", "events:write read"),
                       parameter("audience", std::string(kSecretParameter), true)};
  s.header_parameters = {parameter("X-Request-Source", "hikyaku")};
  const Result<TokenRequest> request = build_token_request(s);
  ASSERT_TRUE(request.has_value());
  const Result<Token> token = exchange(s, *request, 5000);
  ASSERT_TRUE(token.has_value()) << token.error().message();
  EXPECT_EQ(token->access_token.reveal(), kAccessToken);
  EXPECT_EQ(token->expires_at_ms, 5000 + 1'800'000);

  ASSERT_EQ(endpoint.request_count(), 1u);
  const testing::RecordedRequest received = endpoint.requests()[0];
  EXPECT_EQ(received.method, "POST");
  EXPECT_EQ(received.path, "/oauth/token");
  EXPECT_EQ(fields(received.query), (Fields{{"tenant", "t 1&2"}}));
  EXPECT_EQ(received_authorization(received), kBasic);
  EXPECT_EQ(received.header("Content-Type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(received.header("Accept"), "application/json");
  EXPECT_EQ(received.header("X-Request-Source"), "hikyaku");
  EXPECT_EQ(fields(received.body), (Fields{{"grant_type", "client_credentials"},
                                           {"scope", "events:write read"},
                                           {"audience", std::string(kSecretParameter)}}));
}

TEST(OAuthExchangeTest, GetAndFormFieldCredentialsTravelInTheQuery) {
  testing::ScriptableDestination endpoint;
  endpoint.script({.status = 200, .body = R"({"access_token":"tok-get-1"})"});
  OAuthSettings s = settings("GET", endpoint.url("/token"));
  s.client_authentication = ClientAuthentication::kFormFields;
  s.body_parameters = {parameter("scope", "a b")};
  const Result<TokenRequest> request = build_token_request(s);
  ASSERT_TRUE(request.has_value());
  const Result<Token> token = exchange(s, *request, 0);
  ASSERT_TRUE(token.has_value()) << token.error().message();
  EXPECT_EQ(token->access_token.reveal(), "tok-get-1");
  EXPECT_EQ(token->expires_at_ms, kDefaultTokenLifetimeMs);
  ASSERT_EQ(endpoint.request_count(), 1u);
  const testing::RecordedRequest received = endpoint.requests()[0];
  EXPECT_EQ(received.method, "GET");
  EXPECT_EQ(received.body, "");
  EXPECT_EQ(received_authorization(received), "");
  EXPECT_EQ(fields(received.query), (Fields{{"grant_type", "client_credentials"},
                                            {"scope", "a b"},
                                            {"client_id", std::string(kClientId)},
                                            {"client_secret", std::string(kClientSecret)}}));
}

TEST(OAuthExchangeTest, ErrorAnswersAndAnEndpointDown) {
  std::string url;
  {
    testing::ScriptableDestination endpoint;
    endpoint.script({.status = 401,
                     .headers = {{"Content-Type", "application/json"}},
                     .body = R"({"error":"invalid_client",)"
                             R"("error_description":"Client authentication failed"})"});
    url = endpoint.url("/oauth/token");
    const OAuthSettings s = settings("POST", url);
    const Result<TokenRequest> request = build_token_request(s);
    ASSERT_TRUE(request.has_value());
    const Result<Token> token = exchange(s, *request, 0);
    ASSERT_FALSE(token.has_value());
    EXPECT_EQ(token.error().code(), StatusCode::kFailedPrecondition);
    EXPECT_EQ(token.error().message(), "connection \"idp\": token endpoint " + url +
                                           " answered 401: invalid_client (Client "
                                           "authentication failed)");
  }
  // The destination is gone: nothing listens on its port any more.
  const OAuthSettings s = settings("POST", url);
  const Result<TokenRequest> request = build_token_request(s);
  ASSERT_TRUE(request.has_value());
  const Result<Token> token = exchange(s, *request, 0);
  ASSERT_FALSE(token.has_value());
  EXPECT_EQ(token.error().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(token.error().message().starts_with("connection \"idp\": token endpoint " + url +
                                                  " could not be reached: "))
      << token.error().message();
}

}  // namespace
}  // namespace hikyaku::delivery
