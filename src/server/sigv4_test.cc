#include "server/sigv4.h"

#include <gtest/gtest.h>

namespace hikyaku::server::sigv4 {
namespace {

constexpr std::string_view kSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
constexpr std::string_view kPutEventsBody =
    R"({"Entries": [{"Time": 1767322800, "Source": "com.example.test", "DetailType": "Test Event", "Detail": "{\"k\": \"v\"}", "Resources": ["arn:aws:s3:::example-bucket"]}]})";
constexpr std::string_view kPutEventsSignature =
    "a544ae87077b965ae982fc835c591e97c4f9f842ee444405550252586d9ca8ae";

SigV4Request put_events_request() {
  SigV4Request request;
  request.method = "POST";
  request.path = "/";
  request.headers = {{"Host", "localhost:4010"},
                     {"X-Amz-Target", "AWSEvents.PutEvents"},
                     {"Content-Type", "application/x-amz-json-1.1"},
                     {"X-Amz-Date", "20260102T030405Z"},
                     {"amz-sdk-request", "attempt=1"}};
  request.body = kPutEventsBody;
  return request;
}

const std::vector<std::string> sdk_signed_headers = {"content-type", "host", "x-amz-date",
                                                     "x-amz-target"};

std::vector<config::SigV4Credential> credentials() {
  config::SigV4Credential credential;
  credential.access_key_id = "AKIDEXAMPLE";
  credential.secret_access_key = Secret(std::string(kSecret));
  return {credential};
}

std::string authorization(std::string_view signature_hex) {
  return "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260102/us-east-1/events/aws4_request, "
         "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" +
         std::string(signature_hex);
}

std::chrono::system_clock::time_point signed_time() { return *parse_amz_date("20260102T030405Z"); }

TEST(SigV4Test, IamDocumentedVector) {
  SigV4Request request;
  request.method = "GET";
  request.path = "/";
  request.query = "Action=ListUsers&Version=2010-05-08";
  request.headers = {{"Host", "iam.amazonaws.com"},
                     {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
                     {"X-Amz-Date", "20150830T123600Z"}};
  std::string canonical =
      canonical_request(request, {"content-type", "host", "x-amz-date"}, sha256_hex(""));
  EXPECT_EQ(sha256_hex(canonical),
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59");
  std::string key = signing_key(kSecret, "20150830", "us-east-1", "iam");
  EXPECT_EQ(hex_encode(key), "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
  EXPECT_EQ(signature(key, string_to_sign("20150830T123600Z", "20150830/us-east-1/iam/aws4_request",
                                          canonical)),
            "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
}

TEST(SigV4Test, PutEventsVector) {
  SigV4Request request = put_events_request();
  EXPECT_EQ(request.body.size(), 167U);
  std::string payload_hash = sha256_hex(request.body);
  EXPECT_EQ(payload_hash, "01ac934e6ad4fd7445813bdd84f58b2daf530dd414cde33c02c9e06fb1c8a901");
  std::string canonical = canonical_request(request, sdk_signed_headers, payload_hash);
  EXPECT_EQ(canonical,
            "POST\n/\n\ncontent-type:application/x-amz-json-1.1\nhost:localhost:4010\n"
            "x-amz-date:20260102T030405Z\nx-amz-target:AWSEvents.PutEvents\n\n"
            "content-type;host;x-amz-date;x-amz-target\n"
            "01ac934e6ad4fd7445813bdd84f58b2daf530dd414cde33c02c9e06fb1c8a901");
  EXPECT_EQ(sha256_hex(canonical),
            "f792ccf79dfe34cf6b15fec264814039348f12859426f1e86af9e12f20f033c4");
  std::string key = signing_key(kSecret, "20260102", "us-east-1", "events");
  EXPECT_EQ(hex_encode(key), "b75c2dbcdf5fdf56f3e87f9514e0aa14bbc772932d1d9b391422fedd7aaccb5a");
  EXPECT_EQ(signature(key, string_to_sign("20260102T030405Z",
                                          "20260102/us-east-1/events/aws4_request", canonical)),
            kPutEventsSignature);
  EXPECT_EQ(authorization_header(request, sdk_signed_headers, "AKIDEXAMPLE", kSecret,
                                 "20260102T030405Z", "us-east-1"),
            authorization(kPutEventsSignature));
}

TEST(SigV4Test, CanonicalHeadersTrimCollapseAndJoinRepeats) {
  SigV4Request request;
  request.method = "GET";
  request.path = "/a b";
  request.query = "b=2&a=%20x&c";
  request.headers = {{"Host", "h"}, {"X-Multi", "  one   two "}, {"x-multi", "three"}};
  EXPECT_EQ(canonical_request(request, {"x-multi", "host"}, "hash"),
            "GET\n/a%20b\na=%20x&b=2&c=\nhost:h\nx-multi:one two,three\n\nhost;x-multi\nhash");
}

TEST(SigV4Test, ParseAuthorization) {
  auto parsed = parse_authorization(authorization(kPutEventsSignature));
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message();
  EXPECT_EQ(parsed->access_key_id, "AKIDEXAMPLE");
  EXPECT_EQ(parsed->scope(), "20260102/us-east-1/events/aws4_request");
  EXPECT_EQ(parsed->signed_headers, sdk_signed_headers);

  auto missing =
      parse_authorization("AWS4-HMAC-SHA256 Credential=A/20260102/r/events/aws4_request");
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().message().find("'SignedHeaders'"), std::string::npos);
  EXPECT_NE(missing.error().message().find("'Signature'"), std::string::npos);
  EXPECT_FALSE(parse_authorization("AWS AKID:sig").has_value());
  auto garbled = parse_authorization(
      "AWS4-HMAC-SHA256 Credential=A/20260102/r/events/aws4_request, "
      "SignedHeaders=host, Signature" +
      std::string(kPutEventsSignature));
  ASSERT_FALSE(garbled.has_value());
  EXPECT_EQ(garbled.error().message().find(kPutEventsSignature.substr(0, 16)), std::string::npos);
  EXPECT_FALSE(
      parse_authorization("AWS4-HMAC-SHA256 Credential=A/20260102/r/events, SignedHeaders=host, "
                          "Signature=" +
                          std::string(kPutEventsSignature))
          .has_value());
  EXPECT_FALSE(parse_authorization("AWS4-HMAC-SHA256 Credential=A/20260102/r/events/aws4_request, "
                                   "SignedHeaders=host, Signature=xyz")
                   .has_value());
}

TEST(SigV4Test, AmzDateRoundTrip) {
  auto time = parse_amz_date("20260102T030405Z");
  ASSERT_TRUE(time.has_value());
  EXPECT_EQ(format_amz_date(*time), "20260102T030405Z");
  EXPECT_FALSE(parse_amz_date("2026-01-02T03:04:05Z").has_value());
  EXPECT_FALSE(parse_amz_date("20261302T030405Z").has_value());
  // Beyond what the clock can count (2262): refused, not overflowed (fuzz/regressions/sigv4/).
  EXPECT_FALSE(parse_amz_date("60260301T091502Z").has_value());
  EXPECT_FALSE(parse_amz_date("99991231T235959Z").has_value());
  EXPECT_TRUE(parse_amz_date("22001231T235959Z").has_value());
}

TEST(SigV4Test, VerifyAcceptsTheSdkRequest) {
  auto creds = credentials();
  SigV4Request request = put_events_request();
  request.headers.emplace_back("Authorization", authorization(kPutEventsSignature));
  VerifyOptions options{&creds, "", signed_time() + std::chrono::seconds(299)};
  VerifyOutcome outcome = verify(request, options);
  ASSERT_TRUE(outcome.ok()) << outcome.error.message;
  EXPECT_EQ(outcome.verified.credential, &creds[0]);
  EXPECT_EQ(outcome.verified.region, "us-east-1");

  options.required_region = "us-east-1";
  EXPECT_TRUE(verify(request, options).ok());
}

TEST(SigV4Test, VerifyRefusals) {
  auto creds = credentials();
  VerifyOptions options{&creds, "", signed_time()};

  SigV4Request unsigned_request = put_events_request();
  VerifyOutcome outcome = verify(unsigned_request, options);
  EXPECT_EQ(outcome.error.type(), "MissingAuthenticationTokenException");

  SigV4Request garbled = put_events_request();
  garbled.headers.emplace_back("Authorization", "AWS4-HMAC-SHA256 Credential=x");
  EXPECT_EQ(verify(garbled, options).error.type(), "IncompleteSignatureException");

  SigV4Request tampered = put_events_request();
  tampered.headers.emplace_back("Authorization", authorization(kPutEventsSignature));
  std::string other_body(kPutEventsBody);
  other_body[20] = 'X';
  tampered.body = other_body;
  outcome = verify(tampered, options);
  EXPECT_EQ(outcome.error.type(), "InvalidSignatureException");
  EXPECT_NE(outcome.error.message.find("does not match"), std::string::npos);
  EXPECT_EQ(outcome.error.message.find(kSecret), std::string::npos);

  SigV4Request signed_request = put_events_request();
  signed_request.headers.emplace_back("Authorization", authorization(kPutEventsSignature));
  VerifyOptions late{&creds, "", signed_time() + std::chrono::seconds(301)};
  outcome = verify(signed_request, late);
  EXPECT_EQ(outcome.error.type(), "InvalidSignatureException");
  EXPECT_NE(outcome.error.message.find("Signature expired"), std::string::npos);
  VerifyOptions early{&creds, "", signed_time() - std::chrono::seconds(301)};
  EXPECT_NE(verify(signed_request, early).error.message.find("not yet current"), std::string::npos);

  VerifyOptions other_region{&creds, "ap-northeast-1", signed_time()};
  outcome = verify(signed_request, other_region);
  EXPECT_EQ(outcome.error.type(), "InvalidSignatureException");
  EXPECT_NE(outcome.error.message.find("region"), std::string::npos);

  std::vector<config::SigV4Credential> none;
  VerifyOptions unknown{&none, "", signed_time()};
  EXPECT_EQ(verify(signed_request, unknown).error.type(), "UnrecognizedClientException");

  auto wrong = credentials();
  wrong[0].secret_access_key = Secret("not-the-secret");
  VerifyOptions wrong_secret{&wrong, "", signed_time()};
  EXPECT_EQ(verify(signed_request, wrong_secret).error.type(), "InvalidSignatureException");

  SigV4Request bad_hash = put_events_request();
  bad_hash.headers.emplace_back("Authorization", authorization(kPutEventsSignature));
  bad_hash.headers.emplace_back("X-Amz-Content-Sha256", std::string(64, '0'));
  EXPECT_NE(verify(bad_hash, options).error.message.find("x-amz-content-sha256"),
            std::string::npos);
}

// `request` with an Authorization header whose SignedHeaders element is `signed_headers_text` as
// written (any case, order, repeats), signed correctly over the headers it names: only the rule
// on which headers must be signed can refuse it.
SigV4Request signed_over(SigV4Request request, std::string_view signed_headers_text) {
  std::vector<std::string> names;
  std::string_view rest = signed_headers_text;
  while (!rest.empty()) {
    const size_t semi = rest.find(';');
    std::string name(rest.substr(0, semi));
    for (char& c : name) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    names.push_back(std::move(name));
    rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
  }
  const std::string canonical = canonical_request(request, names, sha256_hex(request.body));
  const std::string scope = "20260102/us-east-1/events/aws4_request";
  const std::string sig = signature(signing_key(kSecret, "20260102", "us-east-1", "events"),
                                    string_to_sign("20260102T030405Z", scope, canonical));
  request.headers.emplace_back(
      "Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/" + scope + ", SignedHeaders=" +
                           std::string(signed_headers_text) + ", Signature=" + sig);
  return request;
}

// A signature must cover where the request goes, when it was made, which operation it is and how
// its body is typed: one that leaves any of these out could be replayed as another request.
TEST(SigV4Test, HostDateTargetAndContentTypeMustBeSigned) {
  auto creds = credentials();
  VerifyOptions options{&creds, "", signed_time()};
  struct Case {
    std::string_view signed_headers;
    std::string_view missing;  // "" = accepted
  };
  const Case cases[] = {
      {"content-type;host;x-amz-date;x-amz-target", ""},
      {"X-Amz-Target;HOST;x-amz-date;Content-Type", ""},
      {"x-amz-target;x-amz-target;host;x-amz-date;content-type;amz-sdk-request", ""},
      {"host;x-amz-date", "X-Amz-Target"},
      {"content-type;host;x-amz-date", "X-Amz-Target"},
      {"x-amz-date;host;content-type;host", "X-Amz-Target"},
      {"CONTENT-TYPE;HOST;X-AMZ-DATE", "X-Amz-Target"},
      {"amz-sdk-request;content-type;host;x-amz-date", "X-Amz-Target"},
      {"content-type;x-amz-date;x-amz-target", "Host"},
      {"x-amz-target;x-amz-target;content-type;x-amz-date", "Host"},
      {"content-type;host;x-amz-target", "X-Amz-Date"},
      {"Host;X-Amz-Target;Content-Type;Host", "X-Amz-Date"},
      {"host;x-amz-date;x-amz-target", "Content-Type"},
      {"x-amz-target;x-amz-date;host;x-amz-target", "Content-Type"},
      {"host", "X-Amz-Date"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.signed_headers);
    const VerifyOutcome outcome =
        verify(signed_over(put_events_request(), c.signed_headers), options);
    if (c.missing.empty()) {
      EXPECT_TRUE(outcome.ok()) << outcome.error.message;
      continue;
    }
    ASSERT_FALSE(outcome.ok());
    EXPECT_EQ(outcome.error.type(), "InvalidSignatureException");
    EXPECT_EQ(outcome.error.message, "'" + std::string(c.missing) +
                                         "' must be a 'SignedHeader' in the AWS Authorization.");
  }

  // Content-Type is required only when the request carries one (an SDK always sends it).
  SigV4Request untyped = put_events_request();
  std::erase_if(untyped.headers, [](const auto& header) { return header.first == "Content-Type"; });
  EXPECT_TRUE(verify(signed_over(untyped, "host;x-amz-date;x-amz-target"), options).ok());
  // A required header named but not sent is refused too.
  SigV4Request no_target = put_events_request();
  std::erase_if(no_target.headers,
                [](const auto& header) { return header.first == "X-Amz-Target"; });
  const VerifyOutcome absent =
      verify(signed_over(no_target, "content-type;host;x-amz-date;x-amz-target"), options);
  EXPECT_NE(absent.error.message.find("'x-amz-target' is not present"), std::string::npos)
      << absent.error.message;
}

}  // namespace
}  // namespace hikyaku::server::sigv4
