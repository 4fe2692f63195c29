#include "bus/pipeline.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <future>
#include <sstream>

#include "store/sqlite/sqlite_store.h"
#include "testing/fake_clock.h"
#include "testing/temp_dir.h"

namespace hikyaku::bus {
namespace {

using ::testing::HasSubstr;

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
  load(read_file(std::string(HIKYAKU_SOURCE_DIR) + "/examples/securityhub-backlog.yaml"));
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

}  // namespace
}  // namespace hikyaku::bus
