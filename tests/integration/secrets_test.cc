// No configured secret leaves `hikyaku serve` or reaches its disk, whatever happens: the whole
// scenario runs with a distinctive value for every kind of secret (SigV4 secret key, webhook API
// key, admin API key, API_KEY / BASIC / OAuth connection secrets and the OAuth access token the
// token endpoint hands out, IsValueSecret header, query and body parameters, a key in an endpoint
// URL, a Backlog API key, and an API key rotated by a SIGHUP reload). Events come in through the
// AWS CLI and the webhook and go to API destinations and Backlog targets that succeed, fail
// (retryably and for good, with and without an answer in Backlog's error form) and echo the
// request back in their error answer; a Backlog space that cannot be reached at start logs why.
// Then every byte hikyaku wrote is searched for each secret: stdout and stderr (of `validate`,
// `serve`, the operators' CLI commands on the stopped store, and of servers killed by SIGSEGV and
// SIGABRT), /metrics, the answers the clients got, every admin API answer, the console's files,
// the dead-letter documents sent to DeadLetterConfig destinations, and every file hikyaku wrote
// (database, WAL, shared memory, body log segments, Log target files; on JetStream the
// nats-server's store). Each secret is looked for in clear, percent-encoded (both hex cases, `+`
// for space), JSON-escaped and base64-encoded, in each text as it stands and with up to three
// layers of JSON escapes undone.
//
// What a destination legitimately receives (its Authorization header, Backlog's apiKey) is not a
// leak: the test checks that it did receive the secrets, so that the echo really carries them
// back.

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>

#include "core/json_writer.h"
#include "testing/backlog_standin.h"
#include "testing/encodings.h"
#include "testing/http_client.h"
#include "testing/nats_cluster.h"
#include "testing/process.h"
#include "testing/scriptable_destination.h"
#include "testing/securityhub_samples.h"
#include "testing/temp_dir.h"
#include "testing/wait.h"

namespace hikyaku {
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

using testing::ChildProcess;
using testing::CommandResult;
using ::testing::HasSubstr;
using testing::run_command;
using testing::wait_for;

constexpr const char* kAccessKey = "AKIDSECRETSTEST";
constexpr const char* kAdminHeader = "x-hikyaku-admin-key";

// Every secret, by what it is. Spaces, `+`, `/`, `&` and `@` make the encodings differ.
const std::map<std::string, std::string>& secrets() {
  static const std::map<std::string, std::string> kSecrets = {
      {"SIGV4_SECRET", "sigv4SECRET-9a8b7c6d5e4f"},
      {"WEBHOOK_KEY", "webhookKEY-1f2e3d4c5b6a"},
      {"ADMIN_KEY", "adminKEY-secret-9f8e7d6c"},
      {"API_KEY_VALUE", "apiKeyVALUE-77aa88bb99cc"},
      {"ROTATED_API_KEY", "rotatedKEY-0d0e0f1a1b1c"},
      {"BASIC_PASSWORD", "basic PASS/w+rd-44556677"},
      {"OAUTH_SECRET", "oauthCLIENT-secret-66778899"},
      // Not configured: the token endpoint hands it out, and it is as secret as the client's.
      {"OAUTH_ACCESS_TOKEN", "oauthTOKEN/access+token-24681357"},
      {"HEADER_PARAM", "hdrPARAM-secret-11223344"},
      {"QUERY_PARAM", "qryPARAM secret&33@44+55"},
      {"BODY_PARAM", "bodyPARAM-secret-55667788"},
      {"URL_KEY", "urlKEY-secret-88990011"},
      // Backlog takes it as the apiKey query parameter, percent-encoded.
      {"BACKLOG_KEY", "backlogKEY/sec+ret-5e6f7a8b"},
  };
  return kSecrets;
}
const std::string& secret(const std::string& name) { return secrets().at(name); }
constexpr const char* kBasicUser = "basic-user";
constexpr const char* kOAuthClient = "client-id";

std::string percent(std::string_view text, bool lower, bool plus_for_space) {
  return testing::percent_encoded(text, lower, plus_for_space);
}

// Unpadded: a prefix of the padded form, so a search finds both.
std::string base64(std::string_view bytes, bool url = false) {
  return testing::base64_encoded(bytes, url, /*padded=*/false);
}

// As a JSON string's contents: standard escapes only.
std::string json_string(std::string_view text) {
  std::string out;
  append_json_escaped(out, text);
  return out;
}

std::string json_escaped(std::string_view text) {
  std::string slashes;  // and with `/` escaped, as PHP writes it
  for (char c : json_string(text)) {
    slashes += c == '/' ? std::string("\\/") : std::string(1, c);
  }
  return slashes;
}

// Each way `value` can be written down, named; each text once.
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
  if (value == secret("OAUTH_SECRET")) {  // the token request's client credentials
    forms.emplace_back("in the token request's Basic Authorization header",
                       base64(std::string(kOAuthClient) + ":" + percent(value, false, true)));
  }
  std::vector<std::pair<std::string, std::string>> distinct;
  std::set<std::string> seen;
  for (auto& [name, text] : forms) {
    if (seen.insert(text).second) {
      distinct.emplace_back(std::move(name), std::move(text));
    }
  }
  return distinct;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// Every regular file under `directory` but those named in `skipped`, by path relative to it.
std::map<std::string, std::string> files_under(const std::filesystem::path& directory,
                                               const std::set<std::string>& skipped = {}) {
  std::map<std::string, std::string> files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(directory)) {
    if (entry.is_regular_file() && skipped.count(entry.path().filename().string()) == 0) {
      files[std::filesystem::relative(entry.path(), directory).string()] = read_file(entry.path());
    }
  }
  return files;
}

// `text` with one layer of JSON string escapes undone (\" \\ \/ \b \f \n \r \t and ASCII
// \uXXXX; anything else kept as it is).
std::string json_unescaped(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    const char next = i + 1 < text.size() ? text[i + 1] : '\0';
    if (text[i] != '\\' || next == '\0') {
      out += text[i];
      continue;
    }
    static const std::map<char, char> kEscapes = {{'"', '"'},  {'\\', '\\'}, {'/', '/'},
                                                  {'b', '\b'}, {'f', '\f'},  {'n', '\n'},
                                                  {'r', '\r'}, {'t', '\t'}};
    if (const auto escape = kEscapes.find(next); escape != kEscapes.end()) {
      out += escape->second;
      ++i;
    } else if (next == 'u' && i + 5 < text.size() &&
               std::isxdigit(static_cast<unsigned char>(text[i + 2])) != 0 &&
               std::isxdigit(static_cast<unsigned char>(text[i + 3])) != 0 &&
               std::isxdigit(static_cast<unsigned char>(text[i + 4])) != 0 &&
               std::isxdigit(static_cast<unsigned char>(text[i + 5])) != 0 &&
               std::stoi(std::string(text.substr(i + 2, 4)), nullptr, 16) < 0x80) {
      out += static_cast<char>(std::stoi(std::string(text.substr(i + 2, 4)), nullptr, 16));
      i += 5;
    } else {
      out += text[i];
    }
  }
  return out;
}

// Searches every output for every form of every secret, as it stands and with up to three
// layers of JSON escapes undone (an answer quoting a JSON body, stored in a JSON field, shown
// in a JSON answer: each layer hides a secret with a `/` from a search of the layer above);
// one failure per secret and output, for the first form and layer it is found in.
//
// The layers matter: an error answer that quotes a JSON text in which a secret was written with
// `\/` for `/` (PHP's json_encode does that), like echo_body()'s
// `{"error":"cannot take {\"echo\":...}"}` line, holds the secret under two layers of JSON
// escapes. A Redactor that undid one layer only let such a secret through into every record of a
// failed attempt (dead letters, the delivery log, log lines, admin and CLI answers); this test
// found it.
void expect_no_secret_in(const std::map<std::string, std::string>& outputs) {
  for (const auto& [place, output] : outputs) {
    std::vector<std::string> layers = {output};
    while (layers.size() < 4) {
      std::string unescaped = json_unescaped(layers.back());
      if (unescaped == layers.back()) {
        break;
      }
      layers.push_back(std::move(unescaped));
    }
    for (const auto& [name, value] : secrets()) {
      const std::vector<std::pair<std::string, std::string>> forms = forms_of(value);
      [&] {
        for (size_t layer = 0; layer < layers.size(); ++layer) {
          for (const auto& [form, text] : forms) {
            if (layers[layer].find(text) != std::string::npos) {
              ADD_FAILURE() << "secret " << name << " found " << form << " (" << text << ") in "
                            << place
                            << (layer == 0
                                    ? std::string()
                                    : fmt::format(" after undoing {} layer(s) of JSON escapes",
                                                  layer));
              return;
            }
          }
        }
      }();
    }
  }
}

// "Max core file size" of a process, soft and hard, as /proc/<pid>/limits writes them.
std::pair<std::string, std::string> core_size_limits(int pid) {
  std::istringstream limits(read_file(fmt::format("/proc/{}/limits", pid)));
  const std::string label = "Max core file size";
  for (std::string line; std::getline(limits, line);) {
    if (line.starts_with(label)) {
      std::istringstream values(line.substr(label.size()));
      std::pair<std::string, std::string> soft_and_hard;
      values >> soft_and_hard.first >> soft_and_hard.second;
      return soft_and_hard;
    }
  }
  return {"(no line)", "(no line)"};
}

class SecretsTest : public ::testing::Test {
 protected:
  void TearDown() override { server_.reset(); }

  // The SQLite store in the server's folder; JetStream's test replaces it.
  virtual std::string store_section() const {
    return "Store:\n  Sqlite: { Path: var/hikyaku.db, Synchronous: NORMAL }\n";
  }

  // `reduced`: only the API_KEY connection's destinations and the Backlog targets (the JetStream
  // test's scenario).
  void write_config(bool reduced = false) {
    std::ofstream(directory_ / "api-key.txt") << secret("API_KEY_VALUE") << "\n";
    std::ostringstream config;
    config << R"(Server:
  Listen: 127.0.0.1:0
  Account: "123456789012"
  Region: us-east-1
  Auth:
    SigV4:
      Credentials: [{ AccessKeyId: )"
           << kAccessKey << R"(, SecretAccessKey: "${SIGV4_SECRET}" }]
    ApiKeys:
      - { HeaderName: x-hikyaku-key, Value: "${WEBHOOK_KEY}" }
    AdminApiKeys:
      - { HeaderName: )"
           << kAdminHeader << R"(, Value: "${ADMIN_KEY}" }
)" << store_section()
           << R"(Connections:
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
      BasicAuthParameters: { Username: )"
           << kBasicUser << R"(, Password: "${BASIC_PASSWORD}" }
  # Gets its token, then sends it to a destination that echoes it back.
  - Name: with-oauth
    AuthorizationType: OAUTH_CLIENT_CREDENTIALS
    AuthParameters:
      OAuthParameters:
        ClientParameters: { ClientID: )"
           << kOAuthClient << R"(, ClientSecret: "${OAUTH_SECRET}" }
        AuthorizationEndpoint: )"
           << token_.url("/token") << R"(
        HttpMethod: POST
  # Its token endpoint refuses, echoing the token request (client credentials included).
  - Name: with-oauth-refused
    AuthorizationType: OAUTH_CLIENT_CREDENTIALS
    AuthParameters:
      OAuthParameters:
        ClientParameters: { ClientID: )"
           << kOAuthClient << R"(, ClientSecret: "${OAUTH_SECRET}" }
        AuthorizationEndpoint: )"
           << echo_.url("/token") << R"(
        HttpMethod: POST
ApiDestinations:
  - { Name: ok, ConnectionName: with-api-key, HttpMethod: POST,
      InvocationEndpoint: ")"
           << ok_.url("/ok") << R"(" }
  - { Name: failing, ConnectionName: with-basic, HttpMethod: POST,
      InvocationEndpoint: ")"
           << failing_.url("/fail?apiKey=${URL_KEY}") << R"(" }
  - { Name: echo-api-key, ConnectionName: with-api-key, HttpMethod: POST,
      InvocationEndpoint: ")"
           << echo_.url("/echo?apiKey=${URL_KEY}") << R"(" }
  - { Name: echo-basic, ConnectionName: with-basic, HttpMethod: PUT,
      InvocationEndpoint: ")"
           << echo_.url("/echo") << R"(" }
  - { Name: echo-oauth, ConnectionName: with-oauth, HttpMethod: POST,
      InvocationEndpoint: ")"
           << echo_.url("/echo") << R"(" }
  - { Name: echo-oauth-refused, ConnectionName: with-oauth-refused, HttpMethod: POST,
      InvocationEndpoint: ")"
           << echo_.url("/echo") << R"(" }
  - { Name: letters, ConnectionName: with-basic, HttpMethod: POST,
      InvocationEndpoint: ")"
           << letters_.url("/letters") << R"(" }
  - { Name: backlog-letters, ConnectionName: with-basic, HttpMethod: POST,
      InvocationEndpoint: ")"
           << backlog_letters_.url("/letters") << R"(" }
Rules:
  - Name: to-destinations
    EventPattern: { source: [test.secrets] }
    Targets:
      - { Id: ok, ApiDestination: ok }
      - { Id: echo-api-key, ApiDestination: echo-api-key, RetryPolicy: { MaximumRetryAttempts: 0 },
          DeadLetterConfig: { Arn: letters } }
)";
    if (!reduced) {
      config
          << R"(      - { Id: failing, ApiDestination: failing, RetryPolicy: { MaximumRetryAttempts: 1 } }
      - { Id: echo-basic, ApiDestination: echo-basic, RetryPolicy: { MaximumRetryAttempts: 0 } }
  # A rule has at most 5 targets.
  - Name: to-oauth
    EventPattern: { source: [test.secrets] }
    Targets:
      - { Id: echo-oauth, ApiDestination: echo-oauth, RetryPolicy: { MaximumRetryAttempts: 0 } }
      - { Id: echo-oauth-refused, ApiDestination: echo-oauth-refused,
          RetryPolicy: { MaximumRetryAttempts: 0 } }
  - Name: to-log
    EventPattern: { source: [test.secrets] }
    Targets: [{ Id: log, Log: { Path: deliveries.jsonl } }]
)";
    }
    // Three Backlog spaces with one key: the stand-in (files issues; the test injects a 500 and
    // a 401), the gateway's /echo (names looked up through it; every other request refused
    // with an echo of itself: 500, then 429, then 400 in Backlog's error form), and the
    // gateway's /down (503 with an echo to the lookups at start: the space is unreachable).
    config << R"(  - Name: findings
    EventPattern: { source: [aws.securityhub] }
    Targets:
      - Id: backlog
        RetryPolicy: { MaximumRetryAttempts: 2 }
        Backlog:
          Endpoint: )"
           << backlog_.url("") << R"(
          ApiKey: ${BACKLOG_KEY}
          Project: SEC
          IssueType: Task
      - Id: backlog-echo
        RetryPolicy: { MaximumRetryAttempts: 2 }
        DeadLetterConfig: { Arn: backlog-letters }
        Backlog:
          Endpoint: )"
           << gateway_.url("/echo") << R"(
          ApiKey: ${BACKLOG_KEY}
          Project: SEC
          IssueType: Task
      - Id: backlog-down
        RetryPolicy: { MaximumRetryAttempts: 0 }
        Backlog:
          Endpoint: )"
           << gateway_.url("/down") << R"(
          ApiKey: ${BACKLOG_KEY}
          Project: SEC
          IssueType: Task
)";
    std::ofstream(directory_ / "hikyaku.yaml") << config.str();
  }

  // The configured secrets (not the access token, which hikyaku learns from the token endpoint).
  std::vector<std::pair<std::string, std::string>> environment() const {
    std::vector<std::pair<std::string, std::string>> variables;
    for (const auto& [name, value] : secrets()) {
      if (name != "OAUTH_ACCESS_TOKEN") {
        variables.emplace_back(name, value);
      }
    }
    return variables;
  }

  // The secrets hikyaku holds from its start, which any answer may echo whether or not it was
  // sent them (an error page of a shared proxy...). Not the access token, which only the OAuth
  // destination gets, nor the rotated key, unknown until the reload: echoed only when sent.
  static bool held_from_start(const std::string& name) {
    return name != "OAUTH_ACCESS_TOKEN" && name != "ROTATED_API_KEY";
  }

  // An error answer that echoes the secrets in every shape an error page shows a request in
  // (and a few more): the URL, the headers, the secrets as such. Starting from the `rotation`th
  // secret: the server keeps the first 512 bytes of an answer, so successive answers put each
  // secret there in turn.
  static std::string echo_body(size_t rotation = 0) {
    std::vector<std::string> values;
    for (const auto& [name, value] : secrets()) {
      if (held_from_start(name)) {
        values.push_back(value);
      }
    }
    std::rotate(values.begin(), values.begin() + static_cast<ptrdiff_t>(rotation % values.size()),
                values.end());
    std::string echo = "you sent:\n";
    for (const std::string& value : values) {
      echo += "POST /echo?apiKey=" + secret("URL_KEY") +
              "&project=" + percent(value, false, false) + "\n";
      echo += "x-api-key: " + value + "\nauthorization: Basic " +
              base64(std::string(kBasicUser) + ":" + value) + "\nauthorization: Bearer " + value +
              "\n";
      echo += R"({"echo":")" + json_escaped(value) + R"(","form":")" + percent(value, true, true) +
              "\"}\n";
      // The JSON text quoted in a JSON string: see expect_no_secret_in().
      echo += R"({"error":"cannot take )" +
              json_string(R"({"echo":")" + json_escaped(value) + "\"}") + "\"}\n";
    }
    return echo;
  }

  // What an echoing destination answers `request` with: the request itself and the secrets,
  // in turn one or the other first (again for the first 512 bytes).
  std::string echo_answer(const testing::RecordedRequest& request) {
    const size_t n = echoes_++;
    return n % 2 == 0 ? echo_of(request) + echo_body(n / 2) : echo_body(n / 2) + echo_of(request);
  }

  // The request as an error page would show it: the request line (the apiKey query as sent),
  // the headers and the body.
  static std::string echo_of(const testing::RecordedRequest& request) {
    std::string echo = request.method + " " + request.target + "\n";
    for (const auto& [name, value] : request.headers) {
      echo += name + ": " + value + "\n";
    }
    return echo + "\n" + request.body + "\n";
  }

  // Backlog's error form around `message`.
  static std::string backlog_error(int code, const std::string& message, const std::string& more) {
    std::string body = R"({"errors":[{"message":")";
    append_json_escaped(body, message);
    body += R"(","code":)" + std::to_string(code) + R"(,"moreInfo":")";
    append_json_escaped(body, more);
    return body + "\"}]}";
  }

  // The gateway in front of two Backlog spaces (see write_config()).
  testing::ScriptedResponse backlog_gateway(const testing::RecordedRequest& request) {
    if (request.path.starts_with("/down/")) {
      return {.status = 503, .body = "backend down; " + echo_answer(request)};
    }
    const std::string target = request.target.substr(std::string_view("/echo").size());
    const std::string path = request.path.substr(std::string_view("/echo").size());
    const bool lookup = request.method == "GET" &&
                        (path.starts_with("/api/v2/projects/") || path == "/api/v2/priorities" ||
                         path == "/api/v2/resolutions" || path == "/api/v2/users/myself");
    if (lookup) {
      testing::HttpClient client("127.0.0.1", backlog_.port());
      const testing::Response answer = client.request(request.method, target, {}, request.body);
      if (answer.status == 0) {
        return {.status = 502, .body = "the stand-in did not answer: " + answer.error};
      }
      return {.status = answer.status,
              .headers = {{"Content-Type", answer.header("content-type")}},
              .body = answer.body};
    }
    switch (gateway_refusals_++) {
      case 0:  // a proxy's error page, not Backlog's form
        return {.status = 500, .body = "internal error; " + echo_answer(request)};
      case 1:
        return {.status = 429,
                .headers = {{"Content-Type", "application/json"}},
                .body = backlog_error(13, "Rate limit exceeded. " + echo_answer(request),
                                      echo_of(request))};
      default:
        return {.status = 400,
                .headers = {{"Content-Type", "application/json"}},
                .body = backlog_error(7, "Invalid parameter. " + echo_answer(request),
                                      echo_of(request))};
    }
  }

  void start_server() {
    server_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{HIKYAKU_BINARY, "serve", "--config", "hikyaku.yaml"},
        environment(), directory_.string());
    const std::string address = server_->wait_for_line("listening ", 60'000);
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

  // Publishes PutEvents entries (signed by the AWS CLI); returns what the CLI printed.
  std::string put_entries(const std::string& entries) {
    std::ofstream(directory_ / "entries.json") << entries;
    CommandResult put =
        aws({"put-events", "--entries", "file://" + (directory_ / "entries.json").string()},
            secret("SIGV4_SECRET"));
    EXPECT_EQ(put.exit_code, 0) << put.err;
    EXPECT_THAT(put.out, HasSubstr("\"FailedEntryCount\": 0"));
    return put.out + put.err;
  }

  std::string put_event(int n) {
    return put_entries(fmt::format(
        R"([{{"Source":"test.secrets","DetailType":"t","Detail":"{{\"n\":{}}}"}}])", n));
  }

  // Security Hub sample events through PutEvents.
  std::string put_findings(const std::vector<std::string>& samples) {
    return put_entries(testing::put_events_entries(samples));
  }

  // Publishes one envelope through the webhook; returns the answer.
  std::string post_webhook(const std::string& envelope, const std::string& key) {
    testing::Response answer = testing::HttpClient::from_url(url_).request(
        "POST", "/events/default", {{"Content-Type", "application/json"}, {"x-hikyaku-key", key}},
        envelope);
    if (key == secret("WEBHOOK_KEY")) {
      EXPECT_EQ(answer.status, 200) << answer.body;
    } else {
      EXPECT_GE(answer.status, 400) << answer.body;
    }
    return fmt::format("{} {}", answer.status, answer.body);
  }

  static std::string test_envelope(int n) {
    return fmt::format(
        R"({{"version":"0","id":"6f1b3c1e-0000-4000-8000-{:012d}","detail-type":"t",)"
        R"("source":"test.secrets","account":"123456789012","time":"2026-03-01T09:15:02Z",)"
        R"("region":"us-east-1","resources":[],"detail":{{"n":{}}}}})",
        n, n);
  }

  std::string post_webhook(int n, const std::string& key) {
    return post_webhook(test_envelope(n), key);
  }

  std::string metrics() { return testing::HttpClient::from_url(url_).get("/metrics").body; }

  // The value of the unlabelled metric `name`, or -1.
  int64_t metric(const std::string& name) {
    const std::string text = metrics();
    const size_t at = text.find("\n" + name + " ");
    return at == std::string::npos ? -1 : std::stoll(text.substr(at + name.size() + 2));
  }

  testing::Response admin(const std::string& method, const std::string& path,
                          const std::string& body = "",
                          std::optional<std::string> key = secret("ADMIN_KEY")) {
    testing::Headers headers;
    if (key) {
      headers.emplace(kAdminHeader, *key);
    }
    if (!body.empty()) {
      headers.emplace("Content-Type", "application/json");
    }
    return testing::HttpClient::from_url(url_).request(method, "/admin/v1" + path, headers, body);
  }

  // The store's dead-letter count, through the admin API (-1 when it does not answer).
  int64_t dead_letters_counted() {
    const testing::Response counts = admin("GET", "/counts");
    simdjson::dom::element root;
    int64_t letters = -1;
    if (counts.status != 200 || parser_.parse(counts.body).get(root) != simdjson::SUCCESS ||
        root["DeadLetters"].get(letters) != simdjson::SUCCESS) {
      return -1;
    }
    return letters;
  }

  // Every admin API read, each letter shown whole, the rule tester, and refused calls; every
  // answer kept in `outputs`.
  void read_admin_api(std::map<std::string, std::string>& outputs) {
    for (const char* path : {"/destinations", "/deliveries?limit=1000", "/tickets", "/rules",
                             "/counts", "/dead-letters?limit=1000"}) {
      const testing::Response answer = admin("GET", path);
      EXPECT_EQ(answer.status, 200) << path << ": " << answer.body;
      outputs[std::string("admin GET ") + path] = answer.body;
    }
    simdjson::dom::element letters;
    ASSERT_EQ(parser_.parse(outputs["admin GET /dead-letters?limit=1000"]).get(letters),
              simdjson::SUCCESS);
    size_t shown = 0;
    for (simdjson::dom::element letter : letters["DeadLetters"].get_array()) {
      const std::string id = std::to_string(int64_t(letter["Id"]));
      const testing::Response answer = admin("GET", "/dead-letters/" + id);
      EXPECT_EQ(answer.status, 200) << answer.body;
      outputs["admin GET /dead-letters/" + id] = answer.body;
      ++shown;
    }
    EXPECT_GT(shown, 0U);
    // The rule tester renders each target's body: harmless, nothing is sent.
    for (const auto& [name, event] : std::map<std::string, std::string>{
             {"test event", test_envelope(7)},
             {"finding",
              testing::read_file(testing::sample_path("02-fsbp-s3-8-high-failed.json"))}}) {
      const testing::Response answer = admin("POST", "/test-event?bus=default", event);
      EXPECT_EQ(answer.status, 200) << answer.body;
      EXPECT_THAT(answer.body, HasSubstr("\"Matched\":true"));
      outputs["admin POST /test-event (" + name + ")"] = answer.body;
    }
    // Refused: no key, and a wrong one (the right one with a character changed).
    std::string wrong = secret("ADMIN_KEY");
    wrong.back() = wrong.back() == 'x' ? 'y' : 'x';
    const testing::Response without_key = admin("GET", "/dead-letters", "", std::nullopt);
    EXPECT_EQ(without_key.status, 401);
    const testing::Response wrong_key = admin("GET", "/dead-letters", "", wrong);
    EXPECT_EQ(wrong_key.status, 403);
    outputs["admin answer without a key"] = without_key.body;
    outputs["admin answer to a wrong key"] = wrong_key.body;
  }

  // Runs a hikyaku command in the config's folder, as an operator beside it would.
  CommandResult hikyaku(std::vector<std::string> arguments) {
    std::vector<std::string> argv = {"/usr/bin/env", "-C", directory_.string(), HIKYAKU_BINARY};
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    return run_command(argv, environment());
  }

  testing::TempDir temp_dir_{"secrets"};
  const std::filesystem::path directory_{temp_dir_.path()};
  testing::ScriptableDestination ok_;
  std::atomic<size_t> echoes_{0};
  // Each answer echoes the request (and the secrets): a 503 to be retried, a 400 for good.
  testing::ScriptableDestination failing_{
      {.responder = [this](const testing::RecordedRequest& request) -> testing::ScriptedResponse {
        return {.status = 503, .body = echo_answer(request)};
      }}};
  testing::ScriptableDestination echo_{
      {.responder = [this](const testing::RecordedRequest& request) -> testing::ScriptedResponse {
        return {.status = 400, .body = echo_answer(request)};
      }}};
  testing::ScriptableDestination letters_;          // echo-api-key's dead letters, as documents
  testing::ScriptableDestination backlog_letters_;  // backlog-echo's
  testing::ScriptableDestination token_;            // with-oauth's token endpoint
  testing::BacklogStandIn backlog_{{.api_key = secret("BACKLOG_KEY")}};
  std::atomic<int> gateway_refusals_{0};
  // Before backlog_ in destruction: its threads forward to it.
  testing::ScriptableDestination gateway_{
      {.responder = [this](const testing::RecordedRequest& request) {
        return backlog_gateway(request);
      }}};
  std::unique_ptr<ChildProcess> server_;
  std::string url_;
  simdjson::dom::parser parser_;
};

TEST_F(SecretsTest, NoSecretInAnyOutputOrFileWhateverHappens) {
  token_.set_default({.status = 200,
                      .headers = {{"Content-Type", "application/json"}},
                      .body = R"({"access_token":")" + json_escaped(secret("OAUTH_ACCESS_TOKEN")) +
                              R"(","token_type":"Bearer","expires_in":3600})"});
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
  // The /down space could not be looked up: said so, with the (masked) reason.
  EXPECT_THAT(server_->err(), HasSubstr("backlog space unreachable rule=findings "
                                        "target=backlog-down"));
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

  // 4 events: each delivered once to `ok` and the Log; dead-lettered by the four echoes at
  // once and by `failing` after one retry.
  ASSERT_TRUE(
      wait_for([&] { return metric("hikyaku_dead_letter_jobs") == 20; }, std::chrono::seconds(60)))
      << metrics();
  ASSERT_TRUE(wait_for([&] { return ok_.request_count() == 4; }));

  // Security Hub findings to the Backlog targets. 01 and 02: the stand-in files both, the first
  // request refused with a 500 and retried; the gateway's /echo refuses each request with an
  // echo (500 and 429 retried, then 400s); /down is dead-lettered at once, unreachable.
  backlog_.fail_next(1, 500);
  outputs["PutEvents answer (findings)"] =
      put_findings({"01-fsbp-ec2-19-critical-failed.json", "02-fsbp-s3-8-high-failed.json"});
  ASSERT_TRUE(backlog_.wait_for_issues(2, std::chrono::seconds(30))) << server_->err();
  ASSERT_TRUE(
      wait_for([&] { return metric("hikyaku_dead_letter_jobs") == 24; }, std::chrono::seconds(60)))
      << metrics() << server_->err();
  // 05 through the webhook: the stand-in refuses its key (a 401, not retried).
  backlog_.fail_next(1, 401);
  outputs["webhook answer (finding)"] = post_webhook(
      testing::read_file(testing::sample_path("05-guardduty-ec2-cryptomining-high.json")),
      secret("WEBHOOK_KEY"));
  ASSERT_TRUE(
      wait_for([&] { return metric("hikyaku_dead_letter_jobs") == 27; }, std::chrono::seconds(60)))
      << metrics() << server_->err();
  EXPECT_EQ(backlog_.issues().size(), 2U);
  EXPECT_GE(gateway_refusals_.load(), 5);  // 500, 429 and at least one 400 per finding
  ASSERT_TRUE(wait_for([&] { return backlog_letters_.request_count() == 3; }));
  for (const testing::RecordedRequest& letter : backlog_letters_.requests()) {
    EXPECT_THAT(letter.body, HasSubstr(R"("ErrorCode":"HTTP_)"));
    outputs["dead-letter documents (Backlog)"] += letter.body + "\n";
  }

  // A reload rotates the API key; the old one must stay masked in whatever still mentions it.
  std::ofstream(directory_ / "api-key.txt") << secret("ROTATED_API_KEY") << "\n";
  server_->signal(SIGHUP);
  ASSERT_TRUE(wait_for([&] { return server_->err().find("reloaded") != std::string::npos; }));
  outputs["PutEvents answers after reload"] = put_event(6);
  ASSERT_TRUE(
      wait_for([&] { return metric("hikyaku_dead_letter_jobs") == 32; }, std::chrono::seconds(60)))
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
  ASSERT_GE(token_.request_count(), 1U);
  EXPECT_THAT(token_.requests()[0].header("authorization"),
              HasSubstr(base64(std::string(kOAuthClient) + ":" + secret("OAUTH_SECRET"))));
  size_t bearer_requests = 0;
  for (const testing::RecordedRequest& request : echo_.requests()) {
    bearer_requests +=
        request.header("authorization") == "Bearer " + secret("OAUTH_ACCESS_TOKEN") ? 1 : 0;
  }
  EXPECT_EQ(bearer_requests, 5U);  // every event got to echo-oauth with the token
  for (const testing::RecordedRequest& request : gateway_.requests()) {
    EXPECT_THAT(request.query, HasSubstr("apiKey=")) << request.target;
  }

  read_admin_api(outputs);
  EXPECT_EQ(dead_letters_counted(), 32);

  // The console's page, every file it references, and its config.json.
  const testing::Response console = testing::HttpClient::from_url(url_).get("/console");
  ASSERT_EQ(console.status, 200);
  outputs["console /console"] = console.body;
  const std::regex reference(R"re((?:href|src)="(/console/[^"]+)")re");
  std::set<std::string> files = {"/console/config.json"};
  for (auto it = std::sregex_iterator(console.body.begin(), console.body.end(), reference);
       it != std::sregex_iterator(); ++it) {
    files.insert((*it)[1]);
  }
  EXPECT_GE(files.size(), 4U);  // config.json, the stylesheet, the script, the icon
  for (const std::string& file : files) {
    const testing::Response answer = testing::HttpClient::from_url(url_).get(file);
    EXPECT_EQ(answer.status, 200) << file;
    outputs["console " + file] = answer.body;
  }
  EXPECT_THAT(outputs["console /console/config.json"], HasSubstr(kAdminHeader));

  server_->signal(SIGTERM);
  ASSERT_EQ(server_->wait(), 0);
  outputs["serve stdout"] = server_->out();
  outputs["serve stderr"] = server_->err();

  // The operators' tools on the stopped server's store.
  std::map<std::string, std::vector<std::string>> commands = {
      {"dlq list", {"dlq", "list", "--config", "hikyaku.yaml"}},
      {"dlq list --json", {"dlq", "list", "--config", "hikyaku.yaml", "--json"}},
      {"deliveries", {"deliveries", "--config", "hikyaku.yaml", "--last", "1000"}},
      {"deliveries --json", {"deliveries", "--config", "hikyaku.yaml", "--last", "1000", "--json"}},
      {"tickets list --json", {"tickets", "list", "--config", "hikyaku.yaml", "--json"}},
  };
  for (const auto& [name, arguments] : commands) {
    const CommandResult result = hikyaku(arguments);
    EXPECT_EQ(result.exit_code, 0) << name << ": " << result.err;
    outputs["hikyaku " + name + " stdout"] = result.out;
    outputs["hikyaku " + name + " stderr"] = result.err;
  }
  EXPECT_THAT(outputs["hikyaku dlq list stdout"], HasSubstr("32 dead letters"));
  // One letter of each target shown whole (its request as last sent, masked).
  simdjson::dom::element listed;
  ASSERT_EQ(parser_.parse(outputs["hikyaku dlq list --json stdout"]).get(listed),
            simdjson::SUCCESS);
  std::map<std::string, std::string> letter_of_target;
  for (simdjson::dom::element letter : listed.get_array()) {
    letter_of_target.emplace(std::string(std::string_view(letter["Target"])),
                             std::to_string(int64_t(letter["Id"])));
  }
  EXPECT_EQ(letter_of_target.size(), 8U);  // 5 API destinations, 3 Backlog targets
  for (const auto& [target, id] : letter_of_target) {
    for (const bool json : {false, true}) {
      std::vector<std::string> arguments = {"dlq", "show", id, "--config", "hikyaku.yaml"};
      if (json) {
        arguments.emplace_back("--json");
      }
      const CommandResult shown = hikyaku(arguments);
      EXPECT_EQ(shown.exit_code, 0) << shown.err;
      const std::string name =
          fmt::format("hikyaku dlq show {}{} ({})", id, json ? " --json" : "", target);
      outputs[name + " stdout"] = shown.out;
      outputs[name + " stderr"] = shown.err;
    }
  }

  // Crashes: a server on the same store, killed by SIGSEGV and by SIGABRT, leaves no core file
  // and prints nothing secret. The test's own soft limit is raised to the hard one for the start,
  // so that a limit of 0 is the server's doing, not inherited (the crash would otherwise dump
  // core into the folder, as this machine's core_pattern "core" says).
  for (const int crash : {SIGSEGV, SIGABRT}) {
    rlimit inherited{};
    ASSERT_EQ(getrlimit(RLIMIT_CORE, &inherited), 0);
    rlimit raised = inherited;
    raised.rlim_cur = inherited.rlim_max;
    ASSERT_EQ(setrlimit(RLIMIT_CORE, &raised), 0);
    url_.clear();
    start_server();
    ASSERT_EQ(setrlimit(RLIMIT_CORE, &inherited), 0);
    ASSERT_FALSE(url_.empty());
    // Needs serve's core-dump suppression (RLIMIT_CORE 0, soft and hard, at start).
    EXPECT_EQ(core_size_limits(server_->pid()), std::make_pair(std::string("0"), std::string("0")))
        << "serve must set RLIMIT_CORE to 0 at start (the line of /proc/<pid>/limits)";
    server_->signal(crash);
    const int exit_code = server_->wait();
    // Under AddressSanitizer its SIGSEGV handler reports and then aborts (abort_on_error).
    EXPECT_TRUE(exit_code == 128 + crash || (kSanitized && exit_code == 128 + SIGABRT))
        << "exit code " << exit_code;
    outputs[fmt::format("serve stdout, killed by signal {}", crash)] = server_->out();
    outputs[fmt::format("serve stderr, killed by signal {}", crash)] = server_->err();
    server_.reset();
  }
  for (const auto& entry : std::filesystem::recursive_directory_iterator(directory_)) {
    EXPECT_FALSE(entry.path().filename().string().starts_with("core"))
        << "a core dump: " << entry.path();
  }

  // Every file hikyaku wrote: not the config and the key file the test wrote, nor a core dump
  // (the memory it holds has every secret; that it exists is the failure, reported above).
  size_t files_written = 0;
  for (auto& [path, text] :
       files_under(directory_, {"hikyaku.yaml", "api-key.txt", "entries.json"})) {
    if (std::filesystem::path(path).filename().string().starts_with("core")) {
      continue;
    }
    outputs["file " + path] = std::move(text);
    ++files_written;
  }
  EXPECT_GE(files_written, 3U);  // at least the database, its WAL and the Log file
  ASSERT_TRUE(outputs.count("file deliveries.jsonl") == 1);
  EXPECT_EQ(std::count(outputs["file deliveries.jsonl"].begin(),
                       outputs["file deliveries.jsonl"].end(), '\n'),
            5);

  expect_no_secret_in(outputs);
}

// A reduced scenario (PutEvents, the webhook, the API_KEY connection's destinations and the
// Backlog targets, the admin API) on the JetStream store: its streams and bucket live in the
// nats-server's store directory, searched too.
class JetStreamSecretsTest : public SecretsTest {
 protected:
  void SetUp() override { ASSERT_EQ(cluster_.start(), ""); }
  std::string store_section() const override {
    return "Store:\n  Jetstream: { Servers: [" + cluster_.urls() + "], Replicas: 1 }\n";
  }
  testing::NatsCluster cluster_{1};
};

TEST_F(JetStreamSecretsTest, NoSecretInAnyOutputOrTheNatsStore) {
  write_config(/*reduced=*/true);
  std::map<std::string, std::string> outputs;
  const std::vector<std::filesystem::path> nats_stores = {cluster_.store_dir(0)};

  start_server();
  outputs["PutEvents answer"] = put_event(1);
  outputs["webhook answer"] = post_webhook(2, secret("WEBHOOK_KEY"));
  outputs["refused webhook answer"] = post_webhook(3, "wrong-key");
  backlog_.fail_next(1, 500);
  outputs["PutEvents answer (findings)"] =
      put_findings({"01-fsbp-ec2-19-critical-failed.json", "02-fsbp-s3-8-high-failed.json"});
  ASSERT_TRUE(backlog_.wait_for_issues(2, std::chrono::seconds(30))) << server_->err();
  // echo-api-key: 2 events; backlog-echo and backlog-down: 2 findings each.
  ASSERT_TRUE(wait_for([&] { return dead_letters_counted() == 6; }, std::chrono::seconds(60)))
      << server_->err();
  ASSERT_TRUE(wait_for([&] { return ok_.request_count() == 2; }));
  ASSERT_TRUE(wait_for([&] { return letters_.request_count() == 2; }));
  ASSERT_TRUE(wait_for([&] { return backlog_letters_.request_count() == 2; }));
  for (const testing::RecordedRequest& letter : letters_.requests()) {
    outputs["dead-letter documents"] += letter.body + "\n";
  }
  for (const testing::RecordedRequest& letter : backlog_letters_.requests()) {
    outputs["dead-letter documents (Backlog)"] += letter.body + "\n";
  }
  EXPECT_EQ(ok_.requests()[0].header("x-api-key"), secret("API_KEY_VALUE"));
  outputs["/metrics"] = metrics();
  read_admin_api(outputs);

  server_->signal(SIGTERM);
  ASSERT_EQ(server_->wait(60'000), 0);
  outputs["serve stdout"] = server_->out();
  outputs["serve stderr"] = server_->err();
  for (auto& [path, text] :
       files_under(directory_, {"hikyaku.yaml", "api-key.txt", "entries.json"})) {
    outputs["file " + path] = std::move(text);
  }
  // A clean shutdown first, so that everything the server holds is on disk.
  cluster_.stop(0);
  size_t nats_files = 0;
  for (auto& [path, text] : files_under(nats_stores[0])) {
    outputs["nats-server file " + path] = std::move(text);
    ++nats_files;
  }
  EXPECT_GT(nats_files, 0U);
  // The events are in there in clear (so a secret would be too): the test searches the store.
  std::string nats_bytes;
  for (const auto& [place, text] : outputs) {
    if (place.starts_with("nats-server file ")) {
      nats_bytes += text;
    }
  }
  EXPECT_THAT(nats_bytes, HasSubstr("test.secrets"));

  expect_no_secret_in(outputs);
}

}  // namespace
}  // namespace hikyaku
