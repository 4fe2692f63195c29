#include "bus/pipeline.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "store/sqlite/sqlite_store.h"
#include "testing/fake_clock.h"
#include "testing/temp_dir.h"
#include "testing/wait.h"

namespace hikyaku::bus {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Stands still at 2026-03-01T09:15:02Z.
using FixedClock = testing::FakeClock;

std::string read_file(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

Envelope sample(const char* name) {
  Result<Envelope> envelope =
      parse_envelope(read_file(std::string(HIKYAKU_TEST_DATA_DIR) + "/data/securityhub/" + name));
  EXPECT_TRUE(envelope.has_value()) << name;
  return envelope.has_value() ? std::move(envelope).value() : Envelope{};
}

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = store::SqliteStore::open({.path = directory_.file("db")});
    ASSERT_TRUE(opened.has_value()) << opened.error().message();
    store_ = std::move(opened).value();
    committer_ = std::make_unique<store::GroupCommitter>(*store_);
  }
  void TearDown() override {
    pipeline_.reset();
    committer_.reset();
    store_.reset();
  }

  void load(const std::string& config_text, const std::string& file = "test.yaml") {
    config::LoadResult loaded = config::load_config_text(config_text, file);
    ASSERT_TRUE(loaded.ok()) << loaded.errors[0].to_string();
    auto snapshot = Snapshot::build(
        std::make_shared<const config::Config>(std::move(*loaded.config)), metrics_);
    ASSERT_TRUE(snapshot.has_value()) << snapshot.error().message();
    pipeline_ = std::make_unique<Pipeline>(*committer_, metrics_, clock_, *snapshot);
  }

  std::vector<Status> ingest(std::string_view bus, std::vector<Envelope> envelopes) {
    std::promise<std::vector<Status>> answer;
    pipeline_->ingest(bus, std::move(envelopes),
                      [&](std::vector<Status> statuses) { answer.set_value(std::move(statuses)); });
    return answer.get_future().get();
  }

  std::vector<store::Claim> claim_all() {
    auto claims = store_->claim(clock_.now_ms() + 1, 1000, 60'000);
    EXPECT_TRUE(claims.has_value());
    return claims.has_value() ? std::move(claims).value() : std::vector<store::Claim>{};
  }

  testing::TempDir directory_{"bus"};
  FixedClock clock_;
  MetricsRegistry metrics_;
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<store::GroupCommitter> committer_;
  std::unique_ptr<Pipeline> pipeline_;
};

TEST_F(PipelineTest, ScenarioRuleTurnsCriticalFindingIntoTheBacklogBody) {
  load(read_file(std::string(HIKYAKU_SOURCE_DIR) +
                 "/examples/securityhub-backlog-apidestination.yaml"));
  std::vector<Status> statuses =
      ingest("default", {sample("01-fsbp-ec2-19-critical-failed.json"),
                         sample("09-fsbp-ec2-19-passed-update-same-id.json"),
                         sample("03-fsbp-iam-3-medium-failed.json")});
  ASSERT_EQ(statuses.size(), 3u);
  for (const Status& status : statuses) {
    EXPECT_TRUE(status.ok()) << status.to_string();
  }
  std::vector<store::Claim> claims = claim_all();
  // Only the CRITICAL, FAILED, NEW finding; one job for Backlog, one for the local copy.
  ASSERT_EQ(claims.size(), 2u);
  EXPECT_EQ(claims[1].job.target, "default/securityhub-to-backlog/local-copy");
  EXPECT_EQ(claims[1].job.body, claims[0].job.body);
  const store::Job& job = claims[0].job;
  EXPECT_EQ(job.target, "default/securityhub-to-backlog/backlog");
  EXPECT_EQ(job.event_id, sample("01-fsbp-ec2-19-critical-failed.json").id);
  EXPECT_THAT(
      job.body,
      HasSubstr(R"({ "projectId": "123456", "summary": "Security groups should not allow)"));
  EXPECT_THAT(job.body, HasSubstr("Severity:<br />CRITICAL<br />"));
  EXPECT_THAT(
      metrics_.render(),
      HasSubstr("hikyaku_matched_events_total{bus=\"default\",rule=\"securityhub-to-backlog\"} 1"));
}

constexpr std::string_view kSplitConfig = R"(Rules:
  - Name: high
    EventPattern:
      source: [aws.securityhub]
      detail:
        findings:
          Severity: { Label: [CRITICAL, HIGH] }
    Targets:
      - Id: per-finding
        Log: { Path: out.jsonl }
        SplitBy: $.detail.findings
        InputTransformer:
          InputPathsMap:
            id: $.detail.findings[0].Id
            severity: $.detail.findings[0].Severity.Label
          InputTemplate: '{"id": <id>, "severity": <severity>}'
      - Id: whole
        Log: { Path: out.jsonl }
)";

// SplitBy: one job per finding, each finding alone matched against the rule (the MEDIUM one of
// sample 12 rides along in the event but is not filed), and kept as that job's event.
TEST_F(PipelineTest, SplitByMakesOneJobPerMatchingElement) {
  load(std::string(kSplitConfig));
  const Envelope three = sample("12-synthetic-three-findings-one-event.json");
  ASSERT_TRUE(ingest("default", {three})[0].ok());
  std::vector<store::Claim> claims = claim_all();
  ASSERT_EQ(claims.size(), 3u);  // two HIGH findings, and the whole event once
  std::map<std::string, std::vector<std::string>> bodies;
  for (const store::Claim& claim : claims) {
    bodies[claim.job.target].push_back(claim.job.body);
    EXPECT_EQ(claim.job.event_id, three.id);
  }
  ASSERT_EQ(bodies["default/high/per-finding"].size(), 2u);
  for (const std::string& body : bodies["default/high/per-finding"]) {
    EXPECT_THAT(body, HasSubstr(R"("severity": "HIGH")"));
  }
  EXPECT_NE(bodies["default/high/per-finding"][0], bodies["default/high/per-finding"][1]);
  ASSERT_EQ(bodies["default/high/whole"].size(), 1u);
  EXPECT_THAT(bodies["default/high/whole"][0], HasSubstr("MEDIUM"));
  // A per-finding job keeps its own one-finding event.
  for (const store::Claim& claim : claims) {
    const std::optional<std::string> event = store_->job_event(claim).value();
    ASSERT_TRUE(event.has_value());
    if (claim.job.target == "default/high/per-finding") {
      EXPECT_THAT(*event, Not(HasSubstr("MEDIUM")));
      EXPECT_THAT(*event, HasSubstr(R"("Label":"HIGH")"));
    } else {
      EXPECT_THAT(*event, HasSubstr("MEDIUM"));
    }
  }
}

TEST_F(PipelineTest, SplitByMustBeAMemberPath) {
  std::string config(kSplitConfig);
  config.replace(config.find("$.detail.findings\n"), 17, "$.detail.findings[0]");
  config::LoadResult loaded = config::load_config_text(config, "split.yaml");
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(loaded.errors[0].to_string(),
              HasSubstr("Rules[0].Targets[0].SplitBy: \"$.detail.findings[0]\": only member "
                        "names (`.name`) may lead to the array"));
}

constexpr std::string_view kBacklogConfig = R"(Rules:
  - Name: tickets
    EventPattern: { source: [aws.securityhub] }
    Targets:
      - Id: backlog
        Backlog: { Project: SEC, DryRun: true }
        InputTransformer:
          InputPathsMap: { title: "$.detail.findings[0].Title" }
          InputTemplate: '{"summary": <title>}'
)";

// How many findings `event` (JSON text) carries, and whether it is an event at all.
size_t finding_count(const std::string& event) {
  Result<Envelope> envelope = parse_envelope(event);
  EXPECT_TRUE(envelope.has_value()) << event.substr(0, 200);
  const std::string_view key = R"("ProductArn")";
  size_t count = 0;
  for (size_t at = event.find(key); at != std::string::npos; at = event.find(key, at + 1)) {
    ++count;
  }
  return count;
}

// A Backlog target: one job per finding, its body the whole one-finding event (the target's
// InputTransformer waits for delivery), each finding matched alone.
TEST_F(PipelineTest, BacklogTargetGetsOneWholeEventJobPerFinding) {
  load(std::string(kBacklogConfig));
  const Envelope three = sample("12-synthetic-three-findings-one-event.json");
  ASSERT_EQ(
      finding_count(read_file(std::string(HIKYAKU_TEST_DATA_DIR) +
                              "/data/securityhub/12-synthetic-three-findings-one-event.json")),
      3u);
  ASSERT_TRUE(ingest("default", {three})[0].ok());
  std::vector<store::Claim> claims = claim_all();
  ASSERT_EQ(claims.size(), 3u);
  std::set<std::string> bodies;
  for (const store::Claim& claim : claims) {
    EXPECT_EQ(claim.job.target, "default/tickets/backlog");
    EXPECT_EQ(claim.job.event_id, three.id);
    EXPECT_EQ(finding_count(claim.job.body), 1u) << claim.job.body.substr(0, 300);
    EXPECT_THAT(claim.job.body, Not(HasSubstr(R"("summary")")));
    EXPECT_EQ(store_->job_event(claim).value(), claim.job.body);
    bodies.insert(claim.job.body);
  }
  EXPECT_EQ(bodies.size(), 3u);
}

TEST_F(PipelineTest, BacklogTargetTakesAnEventWithoutFindingsAsItIs) {
  load(std::string(kBacklogConfig));
  Result<Envelope> event = parse_envelope(
      R"({"version":"0","id":"no-findings-1","detail-type":"Security Hub Insight Results",)"
      R"("source":"aws.securityhub","account":"123456789012","time":"2026-03-01T09:15:02Z",)"
      R"("region":"us-east-1","resources":[],"detail":{"insightName":"x"}})");
  ASSERT_TRUE(event.has_value()) << event.error().message();
  const std::string serialized = serialize_envelope(*event);
  ASSERT_TRUE(ingest("default", {*event})[0].ok());
  std::vector<store::Claim> claims = claim_all();
  ASSERT_EQ(claims.size(), 1u);
  EXPECT_EQ(claims[0].job.body, serialized);
}

constexpr std::string_view kHttpParametersConfig = R"(Connections:
  - Name: c
    AuthorizationType: API_KEY
    AuthParameters:
      ApiKeyAuthParameters: { ApiKeyName: x-api-key, ApiKeyValue: connection-key-value }
      InvocationHttpParameters:
        BodyParameters: [{ Key: token, Value: body-secret-value, IsValueSecret: true }]
ApiDestinations:
  - Name: d
    ConnectionName: c
    InvocationEndpoint: https://example.com/findings/*/accounts/*
    HttpMethod: POST
Rules:
  - Name: r
    EventPattern: { source: [aws.securityhub] }
    Targets:
      - Id: t
        ApiDestination: d
        HttpParameters:
          PathParameterValues: ["$.detail.findings[0].Severity.Label", "literal-account"]
          HeaderParameters:
            X-Finding: "$.detail.findings[0].Id"
            X-Api-Token: target-literal-secret
            X-Missing: "$.detail.nothing"
          QueryStringParameters: { account: "$.account", apiKey: query-literal-secret }
      - Id: plain
        ApiDestination: d
        HttpParameters: { PathParameterValues: [a, b] }
)";

TEST_F(PipelineTest, JobsCarryTheResolvedJsonPathValuesOfHttpParametersAndNoLiteral) {
  load(std::string(kHttpParametersConfig));
  const Envelope event = sample("01-fsbp-ec2-19-critical-failed.json");
  ASSERT_TRUE(ingest("default", {event})[0].ok());
  std::vector<store::Claim> claims = claim_all();
  ASSERT_EQ(claims.size(), 2u);
  // The shape delivery/request.h reads: matched paths only, in configuration order.
  EXPECT_EQ(claims[0].job.headers,
            R"({"path:0":"CRITICAL","header:X-Finding":"arn:aws:securityhub:ap-northeast-1:)"
            R"(123456789012:security-control/EC2.19/finding/0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9",)"
            R"("query:account":")" +
                event.account + R"("})");
  // A target without JSONPath values stores nothing there.
  EXPECT_EQ(claims[1].job.headers, "");
  for (const store::Claim& claim : claims) {
    for (const char* secret : {"connection-key-value", "body-secret-value", "target-literal-secret",
                               "query-literal-secret", "literal-account"}) {
      EXPECT_THAT(claim.job.headers, Not(HasSubstr(secret)));
      EXPECT_THAT(claim.job.body, Not(HasSubstr(secret)));
    }
  }
}

constexpr std::string_view kLogConfig = R"(Rules:
  - Name: all-findings
    EventPattern: { source: [aws.securityhub] }
    Targets:
      - Id: log
        Log: { Path: out.jsonl }
      - Id: summary
        Log: { Path: out2.jsonl }
        InputTransformer:
          InputPathsMap: { t: "$.detail.findings[0].Title" }
          InputTemplate: '{"title": <t>}'
  - Name: off
    State: DISABLED
    EventPattern: { source: [aws.securityhub] }
    Targets: [{ Id: x, Log: { Path: off.jsonl } }]
  - Name: other-bus
    EventBusName: audit
    EventPattern: { source: [aws.securityhub] }
    Targets: [{ Id: y, Log: { Path: audit.jsonl } }]
)";

TEST_F(PipelineTest, EveryTargetOfEveryMatchedEnabledRuleGetsAJob) {
  load(std::string(kLogConfig));
  ASSERT_TRUE(ingest("default", {sample("05-guardduty-ec2-cryptomining-high.json")})[0].ok());
  std::vector<store::Claim> claims = claim_all();
  ASSERT_EQ(claims.size(), 2u);
  EXPECT_EQ(claims[0].job.target, "default/all-findings/log");
  EXPECT_EQ(claims[0].job.body.rfind(R"({"version":"0","id":")", 0), 0u);  // the whole event
  EXPECT_EQ(claims[1].job.target, "default/all-findings/summary");
  EXPECT_THAT(claims[1].job.body, HasSubstr(R"({"title": ")"));
}

TEST_F(PipelineTest, BusesAreSeparateAndUnknownBusesAcceptAndDrop) {
  load(std::string(kLogConfig));
  ASSERT_TRUE(ingest("audit", {sample("05-guardduty-ec2-cryptomining-high.json")})[0].ok());
  ASSERT_TRUE(ingest("nobody", {sample("05-guardduty-ec2-cryptomining-high.json")})[0].ok());
  std::vector<store::Claim> claims = claim_all();
  ASSERT_EQ(claims.size(), 1u);
  EXPECT_EQ(claims[0].job.target, "audit/other-bus/y");
  EXPECT_THAT(metrics_.render(), HasSubstr("hikyaku_unknown_bus_events_total 1"));
}

TEST_F(PipelineTest, UnrenderableBodyBecomesADeadLetterNotASilentDrop) {
  // An object placed inside a JSON string cannot be rendered validly (AWS drops it silently).
  load(R"(Rules:
  - Name: r
    EventPattern: { source: [aws.securityhub] }
    Targets:
      - Id: t
        Log: { Path: out.jsonl }
        BodyEncoding: FORM
        InputTransformer:
          InputPathsMap: { f: "$.detail.findings[0]" }
          InputTemplate: '{"finding": <f>}'
)");
  ASSERT_TRUE(ingest("default", {sample("01-fsbp-ec2-19-critical-failed.json")})[0].ok());
  EXPECT_TRUE(claim_all().empty());
  auto letters = store_->dlq_list(10, 0);
  ASSERT_TRUE(letters.has_value());
  ASSERT_EQ(letters->size(), 1u);
  EXPECT_EQ((*letters)[0].reason.error_code, "TRANSFORM_ERROR");
  EXPECT_FALSE((*letters)[0].reason.error_message.empty());
  EXPECT_THAT((*letters)[0].job.body, HasSubstr("\"detail-type\""));
}

TEST_F(PipelineTest, PublishSwapsTheSnapshot) {
  load(std::string(kLogConfig));
  config::LoadResult other = config::load_config_text(R"(Rules:
  - Name: nothing
    EventPattern: { source: [never] }
    Targets: [{ Id: x, Log: { Path: x.jsonl } }]
)",
                                                      "reload.yaml");
  ASSERT_TRUE(other.ok());
  auto snapshot =
      Snapshot::build(std::make_shared<const config::Config>(std::move(*other.config)), metrics_);
  ASSERT_TRUE(snapshot.has_value());
  pipeline_->publish(*snapshot);
  EXPECT_EQ(pipeline_->config()->rules[0].name, "nothing");
  ASSERT_TRUE(ingest("default", {sample("05-guardduty-ec2-cryptomining-high.json")})[0].ok());
  EXPECT_TRUE(claim_all().empty());
}

// Backpressure from delivery: while the backlog is full every event is refused as retryable
// overload and nothing of it is stored; once it is not, the same events go in.
TEST_F(PipelineTest, AFullDeliveryBacklogRefusesEveryEventUntilItDrains) {
  load(std::string(kLogConfig));
  pipeline_->set_delivery_backlog_full(true);
  std::vector<Status> statuses =
      ingest("default", {sample("05-guardduty-ec2-cryptomining-high.json"),
                         sample("07-macie-s3-personal-data-high.json")});
  ASSERT_EQ(statuses.size(), 2u);
  for (const Status& status : statuses) {
    EXPECT_EQ(status.code(), StatusCode::kResourceExhausted);
    EXPECT_THAT(status.message(), HasSubstr("Store.MaxPendingDeliveries"));
  }
  EXPECT_TRUE(claim_all().empty());
  EXPECT_NE(metrics_.render().find("hikyaku_throttled_events_total 2"), std::string::npos);

  pipeline_->set_delivery_backlog_full(false);
  statuses = ingest("default", {sample("05-guardduty-ec2-cryptomining-high.json")});
  ASSERT_TRUE(statuses[0].ok()) << statuses[0].to_string();
  EXPECT_FALSE(claim_all().empty());
}

TEST_F(PipelineTest, CommitFailureIsReportedPerEvent) {
  load(std::string(kLogConfig));
  committer_->stop();  // nothing can be made durable any more
  std::vector<Status> statuses =
      ingest("default", {sample("05-guardduty-ec2-cryptomining-high.json"),
                         sample("07-macie-s3-personal-data-high.json")});
  ASSERT_EQ(statuses.size(), 2u);
  EXPECT_EQ(statuses[0].code(), StatusCode::kUnavailable);
  EXPECT_EQ(statuses[1].code(), StatusCode::kUnavailable);
}

// An event nesting `levels` levels in all (the envelope is level 1, detail level 2): detail.a
// holds levels - 2 nested arrays around the number 1.
Envelope deep_envelope(const std::string& id, size_t levels) {
  Envelope envelope;
  envelope.version = "0";
  envelope.id = id;
  envelope.detail_type = "deep";
  envelope.source = "test.deep";
  envelope.account = "123456789012";
  envelope.time = "2026-03-01T09:15:02Z";
  envelope.region = "us-east-1";
  envelope.detail_json =
      R"({"a":)" + std::string(levels - 2, '[') + "1" + std::string(levels - 2, ']') + "}";
  return envelope;
}

TEST_F(PipelineTest, AnEventTooDeepToMatchFailsAloneAndTheRestOfTheCallIsStored) {
  load(R"(Rules:
  - Name: deep
    EventPattern: { source: [test.deep], detail: { a: [1] } }
    Targets:
      - { Id: whole, Log: { Path: whole.jsonl } }
      - { Id: detail, Log: { Path: detail.jsonl }, InputPath: "$.detail" }
      - Id: inner
        Log: { Path: inner.jsonl }
        InputTransformer:
          InputPathsMap: { v: "$.detail.a[0][0][0]" }
          InputTemplate: '{"v": <v>, "s": "<v>"}'
)");
  const std::vector<Status> statuses =
      ingest("default", {deep_envelope("at-999", 999), deep_envelope("at-1001", 1001),
                         deep_envelope("at-1000", kMaxEventNestingDepth)});
  ASSERT_EQ(statuses.size(), 3u);
  EXPECT_TRUE(statuses[0].ok()) << statuses[0].to_string();
  EXPECT_EQ(statuses[1].code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(statuses[1].message(), HasSubstr("deeper than 1000 levels"));
  EXPECT_TRUE(statuses[2].ok()) << statuses[2].to_string();

  std::map<std::string, int> jobs;
  for (const store::Claim& claim : claim_all()) {
    ++jobs[claim.job.event_id];
    if (claim.job.target == "default/deep/detail") {
      EXPECT_EQ(claim.job.body.rfind(R"({"a":[[[)", 0), 0u);
    }
  }
  EXPECT_EQ(jobs, (std::map<std::string, int>{{"at-1000", 3}, {"at-999", 3}}));
  Result<std::vector<store::DeadLetter>> letters = store_->dlq_list(10, 0);
  ASSERT_TRUE(letters.has_value());
  EXPECT_TRUE(letters->empty());
  const std::string metrics = metrics_.render();
  EXPECT_THAT(metrics, HasSubstr("hikyaku_ingested_events_total{bus=\"default\"} 2\n"));
  EXPECT_THAT(metrics,
              HasSubstr("hikyaku_matched_events_total{bus=\"default\",rule=\"deep\"} 2\n"));
  EXPECT_THAT(metrics, HasSubstr("hikyaku_refused_events_total 1\n"));
}

TEST_F(PipelineTest, MetricsCountOnlyEventsThatWereStored) {
  load(std::string(kLogConfig));
  committer_->stop();  // nothing can be stored
  const std::vector<Status> statuses =
      ingest("default", {sample("05-guardduty-ec2-cryptomining-high.json")});
  EXPECT_EQ(statuses[0].code(), StatusCode::kUnavailable);
  const std::string metrics = metrics_.render();
  EXPECT_THAT(metrics, HasSubstr("hikyaku_ingested_events_total{bus=\"default\"} 0\n"));
  EXPECT_THAT(metrics,
              HasSubstr("hikyaku_matched_events_total{bus=\"default\",rule=\"all-findings\"} 0\n"));
}

// A SQLite store whose disk syncs can be held: a slow disk, on demand.
class SlowDiskStore : public store::Store {
 public:
  explicit SlowDiskStore(store::Store& real) : real_(real) {}
  void hold() {
    std::lock_guard lock(mutex_);
    held_ = true;
    waiting_ = 0;
  }
  void open() {
    std::lock_guard lock(mutex_);
    held_ = false;
    changed_.notify_all();
  }
  bool a_sync_waits() {
    std::lock_guard lock(mutex_);
    return waiting_ > 0;
  }

  Status sync() override {
    {
      std::unique_lock lock(mutex_);
      ++waiting_;
      changed_.wait(lock, [this] { return !held_; });
    }
    return real_.sync();
  }
  Status append(const store::Batch& batch) override { return real_.append(batch); }
  Result<std::vector<store::Claim>> append_and_lease(store::Batch& batch, int limit,
                                                     int64_t expires, bool defer) override {
    return real_.append_and_lease(batch, limit, expires, defer);
  }
  Result<std::vector<store::Claim>> claim(int64_t now, int limit, int64_t lease) override {
    return real_.claim(now, limit, lease);
  }
  Status complete(const store::Claim& c) override { return real_.complete(c); }
  Result<int64_t> complete_all(const std::vector<store::Claim>& c) override {
    return real_.complete_all(c);
  }
  Status retry(const store::Claim& c, int64_t at, const std::string& e) override {
    return real_.retry(c, at, e);
  }
  Status dead_letter(const store::Claim& c, const store::DeadLetterReason& r, int64_t now,
                     const store::NewJob* forward) override {
    return real_.dead_letter(c, r, now, forward);
  }
  Result<std::optional<std::string>> job_event(const store::Claim& c) override {
    return real_.job_event(c);
  }
  Status release(const store::Claim& c, int64_t at) override { return real_.release(c, at); }
  Result<std::optional<store::KvEntry>> kv_get(const std::string& k) override {
    return real_.kv_get(k);
  }
  Result<int64_t> kv_put_if(const std::string& k, const std::string& v, int64_t r) override {
    return real_.kv_put_if(k, v, r);
  }
  Result<std::vector<std::pair<std::string, store::KvEntry>>> kv_list(const std::string& prefix,
                                                                      const std::string& after,
                                                                      int limit) override {
    return real_.kv_list(prefix, after, limit);
  }
  Result<std::vector<store::DeadLetter>> dlq_find(const store::DeadLetterFilter& filter, int limit,
                                                  int64_t after, bool summaries) override {
    return real_.dlq_find(filter, limit, after, summaries);
  }
  Result<std::vector<store::DeadLetter>> dlq_get_many(const std::vector<int64_t>& ids) override {
    return real_.dlq_get_many(ids);
  }
  Status log_deliveries(const std::vector<store::DeliveryRecord>& records, int64_t keep) override {
    return real_.log_deliveries(records, keep);
  }
  Result<std::vector<store::DeliveryRecord>> recent_deliveries(int limit, int64_t before) override {
    return real_.recent_deliveries(limit, before);
  }
  Result<std::vector<store::TargetQueue>> queues() override { return real_.queues(); }
  Result<int64_t> dlq_purge(const std::vector<int64_t>& ids) override {
    return real_.dlq_purge(ids);
  }
  Result<store::Counts> counts(int64_t now) override { return real_.counts(now); }
  Status ping() override { return real_.ping(); }

 private:
  store::Store& real_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool held_ = false;
  int waiting_ = 0;
};

// Ingest under a byte bound: a pipeline over a committer with `max_queued_bytes` on a store
// whose syncs the test holds.
class BoundedPipelineTest : public PipelineTest {
 protected:
  void bound(int64_t max_queued_bytes) {
    pipeline_.reset();
    committer_.reset();
    slow_disk_ = std::make_unique<SlowDiskStore>(*store_);
    committer_ = std::make_unique<store::GroupCommitter>(
        *slow_disk_, store::GroupCommitter::Options{.max_queued_bytes = max_queued_bytes});
    load(std::string(kLogConfig));
  }
  // The bytes one call of `calls_envelopes(…)` queues, measured on an unbounded committer.
  int64_t bytes_of_one_call() {
    load(std::string(kLogConfig));
    EXPECT_TRUE(ingest("default", envelopes("m", 3) /* ids as long as the test's */)[0].ok());
    return committer_->peak_queued_bytes();
  }
  // `count` distinct events named "<prefix>-<i>".
  static std::vector<Envelope> envelopes(const std::string& prefix, int count) {
    std::vector<Envelope> out;
    for (int i = 0; i < count; ++i) {
      out.push_back(sample("05-guardduty-ec2-cryptomining-high.json"));
      out.back().id = prefix + "-" + std::to_string(i);
    }
    return out;
  }
  // Jobs in the store per event id (every job claimed once).
  std::map<std::string, int> jobs_per_event() {
    std::map<std::string, int> jobs;
    for (;;) {
      std::vector<store::Claim> claims = claim_all();
      if (claims.empty()) {
        return jobs;
      }
      for (const store::Claim& claim : claims) {
        ++jobs[claim.job.event_id];
      }
    }
  }
  int64_t metric(const std::string& line_prefix) {
    const std::string text = metrics_.render();
    const size_t at = text.find("\n" + line_prefix + " ");
    return at == std::string::npos ? -1 : std::stoll(text.substr(at + line_prefix.size() + 2));
  }

  std::unique_ptr<SlowDiskStore> slow_disk_;  // outlives the committer (TearDown resets it)
};

TEST_F(BoundedPipelineTest, ACallPastTheBoundIsRefusedWholeStoresNothingAndFitsOnceCommitsFree) {
  const int64_t one = bytes_of_one_call();
  ASSERT_GT(one, 0);
  bound(one + one / 2);  // room for one call and a half

  slow_disk_->hold();
  std::promise<std::vector<Status>> first;
  pipeline_->ingest("default", envelopes("a", 3),
                    [&](std::vector<Status> statuses) { first.set_value(std::move(statuses)); });
  ASSERT_TRUE(testing::wait_for([&] { return slow_disk_->a_sync_waits(); }));
  EXPECT_EQ(committer_->queued_bytes(), one);  // committed, not yet durable: still counted

  // The second call does not fit: every entry is refused at once, as retryable.
  const std::vector<Status> refused = ingest("default", envelopes("b", 3));
  ASSERT_EQ(refused.size(), 3u);
  for (const Status& status : refused) {
    EXPECT_EQ(status.code(), StatusCode::kResourceExhausted) << status.to_string();
  }
  EXPECT_EQ(committer_->queued_bytes(), one);

  slow_disk_->open();
  for (const Status& status : first.get_future().get()) {
    EXPECT_TRUE(status.ok()) << status.to_string();
  }
  ASSERT_TRUE(testing::wait_for([&] { return committer_->queued_bytes() == 0; }));
  for (const Status& status : ingest("default", envelopes("b", 3))) {
    EXPECT_TRUE(status.ok()) << status.to_string();  // the bound freed as the commit completed
  }
  EXPECT_LE(committer_->peak_queued_bytes(), one + one / 2);

  // Two jobs (two targets) per accepted event; the refused attempt left nothing.
  std::map<std::string, int> jobs = jobs_per_event();
  EXPECT_EQ(jobs.size(), 9u);  // m-0..2, a-0..2, b-0..2
  for (const auto& [event, count] : jobs) {
    EXPECT_EQ(count, 2) << event;
  }
  EXPECT_EQ(metric("hikyaku_throttled_events_total"), 3);
  EXPECT_EQ(metric("hikyaku_ingested_events_total{bus=\"default\"}"), 9);
  EXPECT_EQ(metric("hikyaku_matched_events_total{bus=\"default\",rule=\"all-findings\"}"), 9);
}

TEST_F(BoundedPipelineTest, ACallLargerThanTheWholeBoundIsRefusedAsInvalidNotRetryable) {
  const int64_t one = bytes_of_one_call();
  bound(one / 2);
  const std::vector<Status> statuses = ingest("default", envelopes("big", 3));
  ASSERT_EQ(statuses.size(), 3u);
  for (const Status& status : statuses) {
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status.to_string();
    EXPECT_THAT(status.message(), HasSubstr("fewer or smaller entries"));
  }
  // One event alone fits.
  EXPECT_TRUE(ingest("default", envelopes("small", 1))[0].ok());
  std::map<std::string, int> jobs = jobs_per_event();
  EXPECT_EQ(jobs.count("big-0"), 0u);
  EXPECT_EQ(jobs["small-0"], 2);
}

TEST_F(BoundedPipelineTest, ManyConcurrentCallsStayWithinTheBoundAndEveryAcceptedEventIsStored) {
  const int64_t one = bytes_of_one_call();
  const int64_t kBound = one * 3;
  bound(kBound);
  constexpr int kThreads = 6;
  constexpr int kCalls = 25;
  std::mutex mutex;
  std::vector<std::string> accepted;
  std::vector<std::string> throttled;
  std::atomic<bool> running{true};
  std::thread disk([&] {  // a disk that is slow now and then
    while (running) {
      slow_disk_->hold();
      std::this_thread::yield();
      slow_disk_->open();
      std::this_thread::yield();
    }
  });
  std::vector<std::thread> clients;
  for (int t = 0; t < kThreads; ++t) {
    clients.emplace_back([&, t] {
      for (int c = 0; c < kCalls; ++c) {
        const int size = 1 + (t + c) % 3;
        std::vector<Envelope> call = envelopes(fmt::format("t{}-c{}", t, c), size);
        std::vector<std::string> ids;
        for (const Envelope& envelope : call) {
          ids.push_back(envelope.id);
        }
        const std::vector<Status> statuses = ingest("default", std::move(call));
        std::lock_guard lock(mutex);
        // All or nothing: every entry of a call has the same answer.
        for (const Status& status : statuses) {
          EXPECT_EQ(status.code(), statuses[0].code()) << status.to_string();
        }
        EXPECT_TRUE(statuses[0].ok() || statuses[0].code() == StatusCode::kResourceExhausted)
            << statuses[0].to_string();
        auto& into = statuses[0].ok() ? accepted : throttled;
        into.insert(into.end(), ids.begin(), ids.end());
      }
    });
  }
  for (std::thread& client : clients) {
    client.join();
  }
  running = false;
  disk.join();
  slow_disk_->open();
  ASSERT_TRUE(testing::wait_for([&] { return committer_->queued_bytes() == 0; }));
  EXPECT_LE(committer_->peak_queued_bytes(), kBound);

  std::map<std::string, int> jobs = jobs_per_event();
  jobs.erase("m-0");
  jobs.erase("m-1");
  jobs.erase("m-2");
  EXPECT_EQ(jobs.size(), accepted.size());
  for (const std::string& id : accepted) {
    EXPECT_EQ(jobs[id], 2) << id;
  }
  for (const std::string& id : throttled) {
    EXPECT_EQ(jobs.count(id), 0u) << id;
  }
  EXPECT_EQ(metric("hikyaku_throttled_events_total"), static_cast<int64_t>(throttled.size()));
  EXPECT_EQ(metric("hikyaku_ingested_events_total{bus=\"default\"}"),
            static_cast<int64_t>(accepted.size()) + 3);
}

}  // namespace
}  // namespace hikyaku::bus
