// Several `hikyaku serve` nodes on one NATS JetStream cluster (real nats-server processes on
// loopback, started by the test): they share the deliveries, the dead letters and the Backlog
// ledger; a node or a NATS server killed mid-load loses nothing and files no finding twice; a
// cluster without quorum makes PutEvents answer a retryable error rather than accept what it
// cannot persist.

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "testing/backlog_standin.h"
#include "testing/http_client.h"
#include "testing/http_receiver.h"
#include "testing/nats_cluster.h"
#include "testing/process.h"
#include "testing/scriptable_destination.h"
#include "testing/securityhub_samples.h"
#include "testing/temp_dir.h"
#include "testing/tls_certificate.h"
#include "testing/wait.h"

namespace hikyaku {
namespace {

using testing::BacklogStandIn;
using testing::ChildProcess;
using testing::CommandResult;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::read_file;
using testing::run_command;
using testing::sample_path;
using testing::wait_for;

constexpr const char* kAdminKey = "admin-key-js-5c1e77";
constexpr const char* kAccessKey = "AKIDHIKYAKUJETSTREAM";
constexpr const char* kSecretKey = "sigv4-secret-js-90ab";
constexpr const char* kBacklogKey = "backlog-key-js-3f2d";
constexpr const char* kWebhookKey = "webhook-key-js-7a40";
constexpr const char* kNatsToken = "nats-token-js-62ad";
// Sample 02's finding Id; the load makes distinct findings of it by suffixing "-NNNN".
constexpr const char* kFindingId = "70ad2ccd-03bb-405b-a04f-14a7b6d801b2";

// The cluster's servers as a YAML flow list.
std::string servers_yaml(const testing::NatsCluster& cluster) {
  std::string list;
  for (int i = 0; i < cluster.size(); ++i) {
    list += (i == 0 ? "" : ", ") + cluster.url(i);
  }
  return "[" + list + "]";
}

// Sample 02 as finding `number`: every occurrence of its Id suffixed.
std::string finding_event(int number) {
  std::string event = read_file(sample_path("02-fsbp-s3-8-high-failed.json"));
  const std::string id = kFindingId;
  const std::string distinct = fmt::format("{}-{:04d}", id, number);
  for (size_t at = event.find(id); at != std::string::npos;
       at = event.find(id, at + distinct.size())) {
    event.replace(at, id.size(), distinct);
  }
  return event;
}

// The finding numbers that the requests' bodies carry.
std::multiset<int> findings_in(const std::vector<testing::ReceivedRequest>& requests) {
  const std::regex number(std::string(kFindingId) + "-([0-9]{4})");
  std::multiset<int> found;
  for (const testing::ReceivedRequest& request : requests) {
    std::smatch match;
    if (std::regex_search(request.body, match, number)) {
      found.insert(std::stoi(match[1]));
    }
  }
  return found;
}

// One hikyaku node: its own folder and config, the cluster's store.
class Node {
 public:
  explicit Node(std::filesystem::path directory) : directory_(std::move(directory)) {
    std::filesystem::create_directories(directory_);
  }
  ~Node() { process_.reset(); }

  void write_config(const std::string& text) const {
    std::ofstream(directory_ / "hikyaku.yaml") << text;
  }

  // Starts `hikyaku serve`; "" once it listens, else what it printed.
  std::string start() {
    process_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{HIKYAKU_BINARY, "serve", "--config", "hikyaku.yaml"},
        environment(), directory_.string());
    url_ = process_->wait_for_line("listening ", 60'000);
    return url_.empty() ? "did not start:\n" + process_->err() : "";
  }
  void kill() {
    process_->signal(SIGKILL);
    process_->wait();
  }
  // SIGTERM; the exit code and everything it logged.
  std::pair<int, std::string> stop() {
    process_->signal(SIGTERM);
    const int code = process_->wait(60'000);
    std::string logged = process_->out() + process_->err();
    process_.reset();
    return {code, logged};
  }

  const std::string& url() const { return url_; }
  // What the running node has logged so far (for failure messages).
  std::string logged() const { return process_ ? process_->out() + process_->err() : ""; }

  // One event through the webhook.
  testing::Response post(const std::string& event) const {
    testing::HttpClient http = testing::HttpClient::from_url(url_);
    return http.request("POST", "/events/default",
                        {{"Content-Type", "application/json"}, {"x-hikyaku-key", kWebhookKey}},
                        event);
  }

  testing::Response admin(const std::string& method, const std::string& path,
                          const std::string& body = "") const {
    testing::HttpClient http = testing::HttpClient::from_url(url_);
    testing::Headers headers{{"x-hikyaku-admin-key", kAdminKey}};
    if (!body.empty()) {
      headers.emplace("Content-Type", "application/json");
    }
    return http.request(method, "/admin/v1" + path, headers, body);
  }

  size_t dead_letters() const {
    const testing::Response response = admin("GET", "/dead-letters");
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (response.status != 200 || parser.parse(response.body).get(root) != simdjson::SUCCESS) {
      return 0;
    }
    return root["DeadLetters"].get_array().size();
  }

  int readiness() const {
    return testing::HttpClient::from_url(url_).request("GET", "/readyz").status;
  }

  // `hikyaku ARGS...` in the node's folder, as an operator beside its config would run it.
  CommandResult hikyaku(std::vector<std::string> arguments) const {
    std::vector<std::string> argv = {"/usr/bin/env", "-C", directory_.string(), HIKYAKU_BINARY};
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    return run_command(argv, environment());
  }

  // PutEvents through the AWS CLI: the whole answer.
  CommandResult put_events(const std::vector<std::string>& samples) const {
    std::ofstream(directory_ / "entries.json") << testing::put_events_entries(samples);
    return run_command({"/usr/bin/aws", "events", "put-events", "--entries",
                        "file://" + (directory_ / "entries.json").string(), "--endpoint-url", url_,
                        "--region", "us-east-1", "--output", "json", "--no-cli-pager"},
                       {{"AWS_ACCESS_KEY_ID", kAccessKey},
                        {"AWS_SECRET_ACCESS_KEY", kSecretKey},
                        {"AWS_CONFIG_FILE", "/dev/null"},
                        {"AWS_SHARED_CREDENTIALS_FILE", "/dev/null"},
                        {"AWS_EC2_METADATA_DISABLED", "true"},
                        {"AWS_MAX_ATTEMPTS", "1"},
                        {"HOME", directory_.string()}});
  }

 private:
  static std::vector<std::pair<std::string, std::string>> environment() {
    return {{"TEST_ADMIN_KEY", kAdminKey},     {"HIKYAKU_ADMIN_KEY", kAdminKey},
            {"TEST_SECRET_KEY", kSecretKey},   {"TEST_BACKLOG_KEY", kBacklogKey},
            {"TEST_WEBHOOK_KEY", kWebhookKey}, {"TEST_NATS_TOKEN", kNatsToken}};
  }

  std::filesystem::path directory_;
  std::unique_ptr<ChildProcess> process_;
  std::string url_;
};

// The server and store sections every node shares (`store_extra`: more Store.Jetstream keys, each
// line indented by four spaces); the targets complete the config.
std::string config_head(const testing::NatsCluster& cluster, int replicas,
                        const std::string& store_extra = "") {
  return fmt::format(R"(Server:
  Listen: 127.0.0.1:0
  Account: "123456789012"
  Region: us-east-1
  Auth:
    SigV4:
      Credentials: [{{ AccessKeyId: {}, SecretAccessKey: "${{TEST_SECRET_KEY}}" }}]
    ApiKeys: [{{ HeaderName: x-hikyaku-key, Value: "${{TEST_WEBHOOK_KEY}}" }}]
    AdminApiKeys: [{{ HeaderName: x-hikyaku-admin-key, Value: "${{TEST_ADMIN_KEY}}" }}]
Store:
  Jetstream:
    Servers: {}
    Replicas: {}
    AckWaitSeconds: 30
{}Connections:
  - Name: hooks
    AuthorizationType: API_KEY
    AuthParameters:
      ApiKeyAuthParameters: {{ ApiKeyName: x-api-key, ApiKeyValue: unused-here }}
)",
                     kAccessKey, servers_yaml(cluster), replicas, store_extra);
}

std::string api_destination(const std::string& name, const std::string& url, int rate = 1000) {
  return fmt::format(R"(  - Name: {}
    ConnectionName: hooks
    InvocationEndpoint: {}
    HttpMethod: POST
    InvocationRateLimitPerSecond: {}
)",
                     name, url, rate);
}

// The delivery attempts a node made (its hikyaku_invocations_total, all targets).
int64_t attempts_by(const Node& node) {
  const std::string metrics =
      testing::HttpClient::from_url(node.url()).request("GET", "/metrics").body;
  const std::regex line(R"(\nhikyaku_invocations_total\{[^}]*\} ([0-9]+))");
  int64_t total = 0;
  for (auto it = std::sregex_iterator(metrics.begin(), metrics.end(), line);
       it != std::sregex_iterator(); ++it) {
    total += std::stoll((*it)[1]);
  }
  return total;
}

TEST(JetStreamServeTest, TwoNodesShareDeliveriesDeadLettersAndRedrive) {
  testing::NatsCluster cluster(1);
  ASSERT_EQ(cluster.start(), "");
  testing::HttpReceiver good;
  testing::HttpReceiver bad;
  bad.set_status(400);  // permanent: dead-lettered at once
  const testing::TempDir work("jetstream-serve");
  const std::string config = config_head(cluster, 1) + "ApiDestinations:\n" +
                             api_destination("good", good.url("/")) +
                             api_destination("bad", bad.url("/")) + R"(Rules:
  - Name: findings
    EventPattern: { source: [aws.securityhub] }
    Targets:
      - { Id: good, ApiDestination: good, RetryPolicy: { MaximumRetryAttempts: 0 } }
      - { Id: bad, ApiDestination: bad, RetryPolicy: { MaximumRetryAttempts: 0 } }
)";
  Node a(work.path() + "/a");
  Node b(work.path() + "/b");
  a.write_config(config);
  b.write_config(config);
  ASSERT_EQ(a.start(), "");
  ASSERT_EQ(b.start(), "");
  EXPECT_EQ(a.readiness(), 200);
  EXPECT_EQ(b.readiness(), 200);

  for (int i = 0; i < 4; ++i) {
    const testing::Response answer = (i % 2 == 0 ? a : b).post(finding_event(i));
    ASSERT_EQ(answer.status, 200) << answer.body;
  }
  ASSERT_TRUE(wait_for([&] { return good.request_count() == 4; }))
      << good.request_count() << "\nnode a:\n"
      << a.logged() << "\nnode b:\n"
      << b.logged();
  EXPECT_EQ(findings_in(good.requests()), (std::multiset<int>{0, 1, 2, 3}));
  // Each node's admin API sees the cluster's dead letters, whichever node made them.
  ASSERT_TRUE(wait_for([&] { return a.dead_letters() == 4 && b.dead_letters() == 4; }));

  // The CLI opens the shared store beside the running nodes, and says so.
  CommandResult listed = a.hikyaku({"dlq", "list", "--config", "hikyaku.yaml", "--json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_THAT(listed.err, HasSubstr("shared with its running servers"));
  simdjson::dom::parser parser;
  simdjson::dom::element letters = parser.parse(listed.out);
  ASSERT_EQ(letters.get_array().size(), 4u);
  EXPECT_EQ(std::string_view(letters.at(0)["ErrorCode"]), "HTTP_400");

  // Fixed destination, redrive through the other node: every letter delivered, none left.
  bad.set_status(200);
  CommandResult redriven = b.hikyaku({"dlq", "redrive", "--all", "--endpoint", b.url()});
  ASSERT_EQ(redriven.exit_code, 0) << redriven.err;
  ASSERT_TRUE(wait_for([&] { return bad.request_count() == 8; })) << bad.request_count();
  EXPECT_EQ(findings_in(bad.requests()), (std::multiset<int>{0, 0, 1, 1, 2, 2, 3, 3}));
  EXPECT_TRUE(wait_for([&] { return a.dead_letters() == 0; }));
  EXPECT_EQ(good.request_count(), 4u);  // redrive resends to the letters' target only

  for (Node* node : {&a, &b}) {
    const auto [code, logged] = node->stop();
    EXPECT_EQ(code, 0) << logged;
    EXPECT_THAT(logged, HasSubstr("store=JetStream HIKYAKU on nats://127.0.0.1:"));
    EXPECT_THAT(logged + listed.out + listed.err + redriven.out + redriven.err,
                Not(HasSubstr(kAdminKey)));
  }
}

// A cluster that requires a token and TLS: the config's Token and Tls.CaFile let a node in, a
// wrong token is refused at start with a clear message, and the token shows nowhere.
TEST(JetStreamServeTest, ServesFromAClusterThatRequiresATokenAndTls) {
  const testing::TestCertificate certificate;
  testing::NatsCluster cluster(1, true, {.token = kNatsToken, .tls = certificate.files()});
  ASSERT_EQ(cluster.start(), "");
  testing::HttpReceiver receiver;
  const testing::TempDir work("jetstream-secure");
  const std::string targets = "ApiDestinations:\n" + api_destination("hook", receiver.url("/")) +
                              R"(Rules:
  - Name: findings
    EventPattern: { source: [aws.securityhub] }
    Targets: [{ Id: hook, ApiDestination: hook }]
)";
  Node node(work.path() + "/a");
  node.write_config(config_head(cluster, 1,
                                "    Token: \"${TEST_NATS_TOKEN}\"\n    Tls: { CaFile: " +
                                    certificate.ca_file() + " }\n") +
                    targets);
  ASSERT_EQ(node.start(), "");
  ASSERT_EQ(node.post(finding_event(0)).status, 200);
  ASSERT_TRUE(wait_for([&] { return receiver.request_count() == 1; }));
  const auto [code, logged] = node.stop();
  EXPECT_EQ(code, 0) << logged;

  Node wrong(work.path() + "/b");
  wrong.write_config(config_head(cluster, 1,
                                 "    Token: not-the-token-4e1b\n    Tls: { CaFile: " +
                                     certificate.ca_file() + " }\n") +
                     targets);
  const std::string refused = wrong.start();
  EXPECT_THAT(refused, HasSubstr("cannot connect to nats://127.0.0.1:"));
  EXPECT_THAT(refused, HasSubstr("uthoriz"));
  EXPECT_THAT(refused + logged, Not(HasSubstr(kNatsToken)));
  EXPECT_THAT(refused, Not(HasSubstr("not-the-token")));
}

// Two nodes deliver to one destination limited to 10 requests a second: together they keep to
// it (each alone would send 10 a second), and a 429 with Retry-After that one of them gets
// pauses both.
TEST(JetStreamServeTest, RateLimitAndRetryAfterHoldAcrossNodes) {
  constexpr int kRate = 10;
  constexpr int kEvents = 80;
  testing::NatsCluster cluster(1);
  ASSERT_EQ(cluster.start(), "");
  testing::ScriptableDestination destination;
  const testing::TempDir work("jetstream-rate");
  const std::string config = config_head(cluster, 1) + "ApiDestinations:\n" +
                             api_destination("limited", destination.url("/"), kRate) + R"(Rules:
  - Name: findings
    EventPattern: { source: [aws.securityhub] }
    Targets: [{ Id: limited, ApiDestination: limited }]
)";
  Node a(work.path() + "/a");
  Node b(work.path() + "/b");
  a.write_config(config);
  b.write_config(config);
  ASSERT_EQ(a.start(), "");
  ASSERT_EQ(b.start(), "");
  for (int i = 0; i < kEvents; ++i) {  // each node leases what it accepted
    ASSERT_EQ((i % 2 == 0 ? a : b).post(finding_event(i)).status, 200);
  }
  ASSERT_TRUE(destination.wait_for_requests(kEvents, std::chrono::seconds(60)))
      << destination.request_count();
  EXPECT_GT(attempts_by(a), 0);  // both nodes sent their share
  EXPECT_GT(attempts_by(b), 0);
  std::vector<testing::RecordedRequest> requests = destination.requests();
  std::vector<std::chrono::steady_clock::time_point> arrivals;
  for (const testing::RecordedRequest& request : requests) {
    arrivals.push_back(request.arrival);
  }
  std::sort(arrivals.begin(), arrivals.end());
  const double span = std::chrono::duration<double>(arrivals.back() - arrivals.front()).count();
  const double rate = static_cast<double>(arrivals.size() - 1) / span;
  EXPECT_LE(rate, kRate * 1.1) << "over " << span << " s";
  EXPECT_GE(rate, kRate * 0.9) << "over " << span << " s";
  size_t busiest_second = 0;
  for (size_t first = 0, last = 0; first < arrivals.size(); ++first) {
    while (last < arrivals.size() && arrivals[last] - arrivals[first] < std::chrono::seconds(1)) {
      ++last;
    }
    busiest_second = std::max(busiest_second, last - first);
  }
  RecordProperty("requests_per_second", std::to_string(rate));
  RecordProperty("busiest_second", static_cast<int>(busiest_second));

  // One 429 asking for 3 s: neither node sends in the meantime.
  destination.script({.status = 429, .headers = {{"Retry-After", "3"}}});
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ((i % 2 == 0 ? a : b).post(finding_event(kEvents + i)).status, 200);
  }
  ASSERT_TRUE(destination.wait_for_requests(kEvents + 21, std::chrono::seconds(60)))
      << destination.request_count();
  requests = destination.requests();
  const auto refused_at = requests[kEvents].arrival;  // the first of the second batch
  size_t during_pause = 0;
  for (size_t i = kEvents + 1; i < requests.size(); ++i) {
    // A node holding a slot when the pause was written may still use it (one each, at this rate).
    if (requests[i].arrival - refused_at < std::chrono::milliseconds(2900)) {
      ++during_pause;
    }
  }
  EXPECT_LE(during_pause, 2u) << "requests during the 3 s pause";
  for (Node* node : {&a, &b}) {
    EXPECT_EQ(node->stop().first, 0);
  }
}

// While a client publishes findings (each twice, once to each node), one hikyaku node and then
// one NATS server of three are killed: every accepted entry reaches the receiver, each finding
// has one Backlog issue, and the killed node comes back.
TEST(JetStreamServeTest, KilledNodeAndKilledServerLoseNothingAndFileNoFindingTwice) {
  constexpr int kFindings = 60;
  testing::NatsCluster cluster(3);
  ASSERT_EQ(cluster.start(), "");
  testing::HttpReceiver receiver;
  // Slow answers: the node killed mid-load has requests in flight, which the cluster hands to
  // the other node once AckWait (30 s) passes.
  receiver.destination().set_default({.status = 200, .delay = std::chrono::milliseconds(300)});
  testing::BacklogStandInOptions backlog_options;
  backlog_options.api_key = kBacklogKey;
  backlog_options.window = std::chrono::seconds(1);
  backlog_options.update_budget = 1000;
  backlog_options.search_budget = 1000;
  backlog_options.read_budget = 1000;
  BacklogStandIn backlog(backlog_options);
  const testing::TempDir work("jetstream-faults");
  const std::string config = config_head(cluster, 3) + "ApiDestinations:\n" +
                             api_destination("receiver", receiver.url("/")) +
                             fmt::format(R"(Rules:
  - Name: findings
    EventPattern: {{ source: [aws.securityhub] }}
    Targets:
      - Id: receiver
        ApiDestination: receiver
        RetryPolicy: {{ MaximumRetryAttempts: 50, MaximumEventAgeInSeconds: 600 }}
      - Id: backlog
        RetryPolicy: {{ MaximumRetryAttempts: 50, MaximumEventAgeInSeconds: 600 }}
        Backlog:
          Endpoint: {}
          ApiKey: ${{TEST_BACKLOG_KEY}}
          Project: SEC
          IssueType: Task
)",
                                         backlog.url(""));
  Node a(work.path() + "/a");
  Node b(work.path() + "/b");
  a.write_config(config);
  b.write_config(config);
  ASSERT_EQ(a.start(), "");
  ASSERT_EQ(b.start(), "");

  // A client that retries what is not accepted (as SDKs do with retryable answers), on the
  // node it was given, else on the other; it counts an entry once a node accepted it.
  std::multiset<int> accepted;
  bool a_alive = true;
  const auto publish = [&](int number, Node& preferred, Node& other) {
    const std::string event = finding_event(number);
    const bool delivered = wait_for(
        [&] {
          Node& node = (&preferred == &a && !a_alive) ? other : preferred;
          const testing::Response answer = node.post(event);
          if (answer.status == 200) {
            accepted.insert(number);
            return true;
          }
          // Refused while a NATS server fails over: retryable, never a client error.
          EXPECT_TRUE(answer.status == 0 || answer.status == 503 || answer.status == 429)
              << answer.status << " " << answer.body;
          return false;
        },
        std::chrono::seconds(90));
    ASSERT_TRUE(delivered) << "finding " << number << " was never accepted";
  };
  for (int i = 0; i < kFindings; ++i) {
    if (i == kFindings / 3) {
      a.kill();  // mid-load: whatever it holds goes to b after AckWait
      a_alive = false;
    }
    if (i == 2 * kFindings / 3) {
      cluster.kill(1);
    }
    publish(i, a, b);
    publish(i, b, a);
  }
  ASSERT_EQ(cluster.restart(1), "");
  ASSERT_EQ(a.start(), "") << "the killed node did not rejoin";
  EXPECT_EQ(a.readiness(), 200);
  // The rejoined node takes new work.
  publish(kFindings, a, b);
  publish(kFindings, b, a);

  // Every accepted entry delivered at least once (AckWait is 30 s: what the killed node held
  // comes back after it).
  std::multiset<int> expected;
  for (int number : accepted) {
    expected.insert(number);
  }
  const auto all_delivered = [&] {
    const std::multiset<int> received = findings_in(receiver.requests());
    return std::all_of(expected.begin(), expected.end(), [&](int number) {
      return received.count(number) >= expected.count(number);
    });
  };
  ASSERT_TRUE(wait_for(all_delivered, std::chrono::seconds(150)))
      << receiver.request_count() << " requests for " << accepted.size() << " entries";
  // One Backlog issue per finding, however many nodes and events saw it.
  ASSERT_TRUE(backlog.wait_for_issues(kFindings + 1, std::chrono::seconds(120)))
      << backlog.issues().size();
  std::map<int, int> issues_per_finding;
  const std::regex number(std::string(kFindingId) + "-([0-9]{4})");
  for (const testing::BacklogIssue& issue : backlog.issues()) {
    std::smatch match;
    ASSERT_TRUE(std::regex_search(issue.description, match, number)) << issue.description;
    ++issues_per_finding[std::stoi(match[1])];
  }
  EXPECT_EQ(issues_per_finding.size(), static_cast<size_t>(kFindings + 1));
  for (const auto& [finding, issues] : issues_per_finding) {
    EXPECT_EQ(issues, 1) << "finding " << finding;
  }
  // What the killed node had in flight is received once from it and again from the other; how
  // much that is depends on the moment of the kill, so it is recorded, not asserted.
  const size_t duplicates = receiver.request_count() - accepted.size();
  RecordProperty("accepted", static_cast<int>(accepted.size()));
  RecordProperty("redelivered", static_cast<int>(duplicates));

  for (Node* node : {&a, &b}) {
    const auto [code, logged] = node->stop();
    EXPECT_EQ(code, 0) << logged;
    EXPECT_THAT(logged, Not(HasSubstr(kBacklogKey)));
    EXPECT_THAT(logged, Not(HasSubstr(kWebhookKey)));
  }
}

// Two of three NATS servers down: the streams have no quorum, so nothing can be persisted.
// PutEvents answers each entry InternalFailure (retryable) and the webhook 503, promptly; once
// the servers are back the same requests are accepted and delivered. With all three down,
// /readyz answers 503 until they are back.
TEST(JetStreamServeTest, WithoutQuorumIngestAnswersRetryableErrorsAndRecovers) {
  testing::NatsCluster cluster(3);
  ASSERT_EQ(cluster.start(), "");
  testing::HttpReceiver receiver;
  const testing::TempDir work("jetstream-quorum");
  Node node(work.path() + "/a");
  node.write_config(config_head(cluster, 3) + "ApiDestinations:\n" +
                    api_destination("receiver", receiver.url("/")) + R"(Rules:
  - Name: findings
    EventPattern: { source: [aws.securityhub] }
    Targets: [{ Id: receiver, ApiDestination: receiver }]
)");
  ASSERT_EQ(node.start(), "");
  ASSERT_EQ(node.post(finding_event(0)).status, 200);
  ASSERT_TRUE(wait_for([&] { return receiver.request_count() == 1; }));

  cluster.kill(1);
  cluster.kill(2);
  const testing::Response refused = node.post(finding_event(1));
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_THAT(refused.body, HasSubstr("InternalFailure"));
  EXPECT_FALSE(refused.header("retry-after").empty());
  CommandResult put = node.put_events({"02-fsbp-s3-8-high-failed.json"});
  ASSERT_EQ(put.exit_code, 0) << put.err;
  EXPECT_THAT(put.out, HasSubstr("\"FailedEntryCount\": 1"));
  EXPECT_THAT(put.out, HasSubstr("\"ErrorCode\": \"InternalFailure\""));
  EXPECT_NE(node.readiness(), 500);  // answers, whatever it says

  ASSERT_EQ(cluster.restart(1), "");
  ASSERT_EQ(cluster.restart(2), "");
  ASSERT_TRUE(wait_for([&] { return node.post(finding_event(2)).status == 200; },
                       std::chrono::seconds(60)));
  put = node.put_events({"02-fsbp-s3-8-high-failed.json"});
  ASSERT_EQ(put.exit_code, 0) << put.err;
  EXPECT_THAT(put.out, HasSubstr("\"FailedEntryCount\": 0"));
  ASSERT_TRUE(wait_for(
      [&] {
        const std::multiset<int> received = findings_in(receiver.requests());
        return received.count(2) >= 1 && received.count(0) >= 1 &&
               receiver.request_count() >= 3;  // 0, 2 and the PutEvents entry
      },
      std::chrono::seconds(60)));
  EXPECT_EQ(node.readiness(), 200);

  // No server at all: /readyz says so (a load balancer stops sending), and recovers with them.
  for (int server = 0; server < 3; ++server) {
    cluster.kill(server);
  }
  EXPECT_TRUE(wait_for([&] { return node.readiness() == 503; }, std::chrono::seconds(30)));
  ASSERT_EQ(cluster.start(), "");  // all at once: one alone cannot elect a leader
  EXPECT_TRUE(wait_for([&] { return node.readiness() == 200; }, std::chrono::seconds(60)));
  const auto [code, logged] = node.stop();
  EXPECT_EQ(code, 0) << logged;
}

}  // namespace
}  // namespace hikyaku
