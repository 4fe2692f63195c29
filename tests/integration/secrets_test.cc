// No configured secret leaves `hikyaku serve` or reaches its disk, whatever happens: the whole
// scenario runs with a distinctive value for every kind of secret (SigV4 secret key, webhook API
// key, API_KEY / BASIC / OAuth connection secrets, IsValueSecret header, query and body
// parameters, a key in an endpoint URL, and an API key rotated by a SIGHUP reload), events come in
// through the AWS CLI and the webhook, go to destinations that succeed, fail and echo the request
// back in their error answer, and then every output (stdout, stderr, /metrics, the answers the
// clients got, `validate`, the dead-letter documents sent to a DeadLetterConfig destination)
// and every file hikyaku wrote (database, WAL, shared memory, body log
// segments, Log target files) is searched for each secret: in clear, percent-encoded (both hex
// cases, `+` for space), JSON-escaped and base64-encoded.
//
// What a destination legitimately receives (its Authorization header) is not a leak: the test
// checks that it did receive the secrets, so that the echo really carries them back.

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "core/json_writer.h"
#include "testing/encodings.h"
#include "testing/http_client.h"
#include "testing/process.h"
#include "testing/scriptable_destination.h"
#include "testing/temp_dir.h"
#include "testing/wait.h"

namespace hikyaku {
namespace {

using testing::ChildProcess;
using testing::CommandResult;
using ::testing::HasSubstr;
using testing::run_command;
using testing::wait_for;

constexpr const char* kAccessKey = "AKIDSECRETSTEST";

// Every secret, by what it is. Spaces, `+`, `/`, `&` and `@` make the encodings differ.
const std::map<std::string, std::string>& secrets() {
  static const std::map<std::string, std::string> kSecrets = {
      {"SIGV4_SECRET", "sigv4SECRET-9a8b7c6d5e4f"},
      {"WEBHOOK_KEY", "webhookKEY-1f2e3d4c5b6a"},
      {"API_KEY_VALUE", "apiKeyVALUE-77aa88bb99cc"},
      {"ROTATED_API_KEY", "rotatedKEY-0d0e0f1a1b1c"},
      {"BASIC_PASSWORD", "basic PASS/w+rd-44556677"},
      {"OAUTH_SECRET", "oauthCLIENT-secret-66778899"},
      {"HEADER_PARAM", "hdrPARAM-secret-11223344"},
      {"QUERY_PARAM", "qryPARAM secret&33@44+55"},
      {"BODY_PARAM", "bodyPARAM-secret-55667788"},
      {"URL_KEY", "urlKEY-secret-88990011"},
  };
  return kSecrets;
}
const std::string& secret(const std::string& name) { return secrets().at(name); }
constexpr const char* kBasicUser = "basic-user";

std::string percent(std::string_view text, bool lower, bool plus_for_space) {
  return testing::percent_encoded(text, lower, plus_for_space);
}

// Unpadded: a prefix of the padded form, so a search finds both.
std::string base64(std::string_view bytes, bool url = false) {
  return testing::base64_encoded(bytes, url, /*padded=*/false);
}

std::string json_escaped(std::string_view text) {
  std::string out;
  append_json_escaped(out, text);
  std::string slashes;  // and with `/` escaped, as PHP writes it
  for (char c : out) {
    slashes += c == '/' ? std::string("\\/") : std::string(1, c);
  }
  return slashes;
}

// Each way `value` can be written down, named.
std::vector<std::pair<std::string, std::string>> forms_of(const std::string& value) {
  std::vector<std::pair<std::string, std::string>> forms = {
      {"in clear", value},
      {"percent-encoded", percent(value, false, false)},
      {"percent-encoded, lower-case hex", percent(value, true, false)},
      {"form-encoded", percent(value, false, true)},
      {"JSON-escaped", json_escaped(value)},
      {"base64", base64(value)},
      {"base64url", base64(value, true)},
  };
  if (value == secret("BASIC_PASSWORD")) {
    forms.emplace_back("in a Basic Authorization header",
                       base64(std::string(kBasicUser) + ":" + value));
  }
  return forms;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

class SecretsTest : public ::testing::Test {
 protected:
  void TearDown() override { server_.reset(); }

  void write_config() {
    std::ofstream(directory_ / "api-key.txt") << secret("API_KEY_VALUE") << "\n";
    std::ofstream(directory_ / "hikyaku.yaml") << R"(Server:
  Listen: 127.0.0.1:0
  Account: "123456789012"
  Region: us-east-1
  Auth:
    SigV4:
      Credentials: [{ AccessKeyId: )" << kAccessKey
                                               << R"(, SecretAccessKey: "${SIGV4_SECRET}" }]
    ApiKeys:
      - { HeaderName: x-hikyaku-key, Value: "${WEBHOOK_KEY}" }
Store:
  Sqlite: { Path: var/hikyaku.db, Synchronous: NORMAL }
Connections:
  - Name: with-api-key
    AuthorizationType: API_KEY
    AuthParameters:
      ApiKeyAuthParameters: { ApiKeyName: x-api-key, ApiKeyValue: "${file:api-key.txt}" }
      InvocationHttpParameters:
        HeaderParameters: [{ Key: x-tenant, Value: "${HEADER_PARAM}", IsValueSecret: true }]
        QueryStringParameters: [{ Key: project, Value: "${QUERY_PARAM}", IsValueSecret: true }]
        BodyParameters: [{ Key: note, Value: "${BODY_PARAM}", IsValueSecret: true }]
  - Name: with-basic
    AuthorizationType: BASIC
    AuthParameters:
      BasicAuthParameters: { Username: )" << kBasicUser
                                               << R"(, Password: "${BASIC_PASSWORD}" }
  - Name: with-oauth
    AuthorizationType: OAUTH_CLIENT_CREDENTIALS
    AuthParameters:
      OAuthParameters:
        ClientParameters: { ClientID: client-id, ClientSecret: "${OAUTH_SECRET}" }
        AuthorizationEndpoint: )" << echo_.url("/token")
                                               << R"(
        HttpMethod: POST
ApiDestinations:
  - { Name: ok, ConnectionName: with-api-key, HttpMethod: POST,
      InvocationEndpoint: ")" << ok_.url("/ok") << R"(" }
  - { Name: failing, ConnectionName: with-basic, HttpMethod: POST,
      InvocationEndpoint: ")" << failing_.url("/fail?apiKey=${URL_KEY}")
                                               << R"(" }
  - { Name: echo-api-key, ConnectionName: with-api-key, HttpMethod: POST,
      InvocationEndpoint: ")" << echo_.url("/echo?apiKey=${URL_KEY}")
                                               << R"(" }
  - { Name: echo-basic, ConnectionName: with-basic, HttpMethod: PUT,
      InvocationEndpoint: ")" << echo_.url("/echo")
                                               << R"(" }
  - { Name: echo-oauth, ConnectionName: with-oauth, HttpMethod: POST,
      InvocationEndpoint: ")" << echo_.url("/echo")
                                               << R"(" }
  - { Name: letters, ConnectionName: with-basic, HttpMethod: POST,
      InvocationEndpoint: ")" << letters_.url("/letters")
                                               << R"(" }
Rules:
  - Name: to-destinations
    EventPattern: { source: [test.secrets] }
    Targets:
      - { Id: ok, ApiDestination: ok }
      - { Id: failing, ApiDestination: failing, RetryPolicy: { MaximumRetryAttempts: 1 } }
      - { Id: echo-api-key, ApiDestination: echo-api-key, RetryPolicy: { MaximumRetryAttempts: 0 },
          DeadLetterConfig: { Arn: letters } }
      - { Id: echo-basic, ApiDestination: echo-basic, RetryPolicy: { MaximumRetryAttempts: 0 } }
      - { Id: echo-oauth, ApiDestination: echo-oauth, RetryPolicy: { MaximumRetryAttempts: 0 } }
  - Name: to-log
    EventPattern: { source: [test.secrets] }
    Targets: [{ Id: log, Log: { Path: deliveries.jsonl } }]
)";
  }

  std::vector<std::pair<std::string, std::string>> environment() const {
    std::vector<std::pair<std::string, std::string>> variables;
    for (const auto& [name, value] : secrets()) {
      variables.emplace_back(name, value);
    }
    return variables;
  }

  // An error answer that echoes everything the destinations are sent, in every shape an error
  // page shows a request in (and a few more): the URL, the headers, the secrets as such.
  std::string echo_body() const {
    std::string echo = "you sent:\n";
    for (const auto& [name, value] : secrets()) {
      echo += "POST /echo?apiKey=" + secret("URL_KEY") +
              "&project=" + percent(value, false, false) + "\n";
      echo += "x-api-key: " + value + "\nauthorization: Basic " +
              base64(std::string(kBasicUser) + ":" + value) + "\n";
      echo += R"({"echo":")" + json_escaped(value) + R"(","form":")" + percent(value, true, true) +
              "\"}\n";
    }
    return echo;
  }

  void start_server() {
    server_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{HIKYAKU_BINARY, "serve", "--config", "hikyaku.yaml"},
        environment(), directory_.string());
    const std::string address = server_->wait_for_line("listening ");
    ASSERT_FALSE(address.empty()) << "server did not start:\n" << server_->err();
    url_ = address;
  }

  CommandResult aws(std::vector<std::string> arguments, const std::string& secret_key) {
    std::vector<std::string> argv = {"/usr/bin/aws", "events"};
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    for (const char* extra : {"--endpoint-url", url_.c_str(), "--region", "us-east-1", "--output",
                              "json", "--no-cli-pager"}) {
      argv.emplace_back(extra);
    }
    return run_command(argv, {{"AWS_ACCESS_KEY_ID", kAccessKey},
                              {"AWS_SECRET_ACCESS_KEY", secret_key},
                              {"AWS_CONFIG_FILE", "/dev/null"},
                              {"AWS_SHARED_CREDENTIALS_FILE", "/dev/null"},
                              {"AWS_EC2_METADATA_DISABLED", "true"},
                              {"AWS_MAX_ATTEMPTS", "1"},
                              {"HOME", directory_.string()}});
  }

  // Publishes one event through PutEvents (signed by the AWS CLI); returns what the CLI printed.
  std::string put_event(int n) {
    const std::string entries =
        fmt::format(R"([{{"Source":"test.secrets","DetailType":"t","Detail":"{{\"n\":{}}}"}}])", n);
    std::ofstream(directory_ / "entries.json") << entries;
    CommandResult put =
        aws({"put-events", "--entries", "file://" + (directory_ / "entries.json").string()},
            secret("SIGV4_SECRET"));
    EXPECT_EQ(put.exit_code, 0) << put.err;
    EXPECT_THAT(put.out, HasSubstr("\"FailedEntryCount\": 0"));
    return put.out + put.err;
  }

  // Publishes one envelope through the webhook; returns the answer.
  std::string post_webhook(int n, const std::string& key) {
    const std::string envelope = fmt::format(
        R"({{"version":"0","id":"6f1b3c1e-0000-4000-8000-{:012d}","detail-type":"t",)"
        R"("source":"test.secrets","account":"123456789012","time":"2026-03-01T09:15:02Z",)"
        R"("region":"us-east-1","resources":[],"detail":{{"n":{}}}}})",
        n, n);
    testing::Response answer = testing::HttpClient::from_url(url_).request(
        "POST", "/events/default", {{"Content-Type", "application/json"}, {"x-hikyaku-key", key}},
        envelope);
    return fmt::format("{} {}", answer.status, answer.body);
  }

  std::string metrics() { return testing::HttpClient::from_url(url_).get("/metrics").body; }

  // The value of the unlabelled metric `name`, or -1.
  int64_t metric(const std::string& name) {
    const std::string text = metrics();
    const size_t at = text.find("\n" + name + " ");
    return at == std::string::npos ? -1 : std::stoll(text.substr(at + name.size() + 2));
  }

  testing::TempDir temp_dir_{"secrets"};
  const std::filesystem::path directory_{temp_dir_.path()};
  testing::ScriptableDestination ok_;
  testing::ScriptableDestination failing_;
  testing::ScriptableDestination echo_;
  testing::ScriptableDestination letters_;  // echo-api-key's dead letters, as documents
  std::unique_ptr<ChildProcess> server_;
  std::string url_;
};

TEST_F(SecretsTest, NoSecretInAnyOutputOrFileWhateverHappens) {
  failing_.set_default({.status = 503, .body = echo_body()});
  echo_.set_default({.status = 400, .body = echo_body()});
  write_config();
  // Where each searched text came from.
  std::map<std::string, std::string> outputs;

  CommandResult validated =
      run_command({HIKYAKU_BINARY, "validate", "--config", (directory_ / "hikyaku.yaml").string()},
                  environment());
  ASSERT_EQ(validated.exit_code, 0) << validated.err;
  outputs["validate stdout"] = validated.out;
  outputs["validate stderr"] = validated.err;

  start_server();
  // Two events in by each way, and refused attempts with a wrong secret.
  outputs["PutEvents answers"] = put_event(1) + put_event(2);
  outputs["webhook answers"] =
      post_webhook(3, secret("WEBHOOK_KEY")) + post_webhook(4, secret("WEBHOOK_KEY"));
  outputs["refused webhook answer"] = post_webhook(5, "wrong-key");
  const CommandResult refused =
      aws({"put-events", "--entries", "file://" + (directory_ / "entries.json").string()},
          "wrong-secret");
  EXPECT_NE(refused.exit_code, 0);
  outputs["refused PutEvents answer"] = refused.out + refused.err;

  // 4 events: each delivered once to `ok` and the Log; dead-lettered by the three echoes at
  // once and by `failing` after one retry.
  ASSERT_TRUE(
      wait_for([&] { return metric("hikyaku_dead_letter_jobs") == 16; }, std::chrono::seconds(60)))
      << metrics();
  ASSERT_TRUE(wait_for([&] { return ok_.request_count() == 4; }));

  // A reload rotates the API key; the old one must stay masked in whatever still mentions it.
  std::ofstream(directory_ / "api-key.txt") << secret("ROTATED_API_KEY") << "\n";
  server_->signal(SIGHUP);
  ASSERT_TRUE(wait_for([&] { return server_->err().find("reloaded") != std::string::npos; }));
  outputs["PutEvents answers after reload"] = put_event(6);
  ASSERT_TRUE(
      wait_for([&] { return metric("hikyaku_dead_letter_jobs") == 20; }, std::chrono::seconds(60)))
      << metrics();
  ASSERT_TRUE(wait_for([&] { return ok_.request_count() == 5; }));
  ASSERT_TRUE(wait_for([&] { return letters_.request_count() == 5; }));
  outputs["/metrics"] = metrics();
  // The dead-letter documents: each holds the request it failed with (URL, headers, body with
  // the connection's secret body parameter merged in), masked.
  for (const testing::RecordedRequest& letter : letters_.requests()) {
    EXPECT_THAT(letter.body, HasSubstr(R"("ErrorCode":"HTTP_400")"));
    EXPECT_THAT(letter.body, HasSubstr("apiKey=***"));
    EXPECT_THAT(letter.body, HasSubstr(R"("x-api-key":"***")"));
    outputs["dead-letter documents"] += letter.body + "\n";
  }

  // The destinations did get the secrets (so the echoes carried them back).
  const std::vector<testing::RecordedRequest> received = ok_.requests();
  EXPECT_EQ(received[0].header("x-api-key"), secret("API_KEY_VALUE"));
  EXPECT_EQ(received[4].header("x-api-key"), secret("ROTATED_API_KEY"));
  EXPECT_EQ(received[0].header("x-tenant"), secret("HEADER_PARAM"));
  EXPECT_EQ(received[0].query, "project=" + percent(secret("QUERY_PARAM"), false, false));
  EXPECT_EQ(failing_.requests()[0].header("authorization"),
            "Basic " + base64(std::string(kBasicUser) + ":" + secret("BASIC_PASSWORD")) + "=");
  EXPECT_EQ(failing_.requests()[0].query, "apiKey=" + secret("URL_KEY"));

  server_->signal(SIGTERM);
  ASSERT_EQ(server_->wait(), 0);
  outputs["serve stdout"] = server_->out();
  outputs["serve stderr"] = server_->err();

  // Every file hikyaku wrote: not the config and the key file the test wrote.
  size_t files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(directory_)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_regular_file() || name == "hikyaku.yaml" || name == "api-key.txt" ||
        name == "entries.json") {
      continue;
    }
    outputs["file " + std::filesystem::relative(entry.path(), directory_).string()] =
        read_file(entry.path());
    ++files;
  }
  EXPECT_GE(files, 3U);  // at least the database, its WAL and the Log file
  ASSERT_TRUE(outputs.count("file deliveries.jsonl") == 1);
  EXPECT_EQ(std::count(outputs["file deliveries.jsonl"].begin(),
                       outputs["file deliveries.jsonl"].end(), '\n'),
            5);

  for (const auto& [name, value] : secrets()) {
    for (const auto& [form, text] : forms_of(value)) {
      for (const auto& [place, output] : outputs) {
        EXPECT_EQ(output.find(text), std::string::npos)
            << "secret " << name << " found " << form << " (" << text << ") in " << place;
      }
    }
  }
}

}  // namespace
}  // namespace hikyaku
