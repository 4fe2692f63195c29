// The admin API over a real SQLite store and a compiled config, called in process (as the CLI
// does on a stopped server's store; the server adds only HTTP and authentication).
#include "admin/admin_api.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include <future>
#include <string>
#include <vector>

#include "config/config.h"
#include "integrations/backlog/ticket_target.h"
#include "integrations/securityhub/ticket_decision.h"
#include "store/group_commit.h"
#include "store/sqlite/sqlite_store.h"
#include "testing/fake_clock.h"
#include "testing/temp_dir.h"

namespace hikyaku::admin {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::string_view kConfig = R"(Server:
  Listen: 127.0.0.1:4010
Connections:
  - Name: hooks
    AuthorizationType: API_KEY
    AuthParameters:
      ApiKeyAuthParameters: { ApiKeyName: x-api-key, ApiKeyValue: sekrit-hook-key-93b1 }
ApiDestinations:
  - Name: chat
    ConnectionName: hooks
    InvocationEndpoint: https://chat.example.com/hook
    HttpMethod: POST
    InvocationRateLimitPerSecond: 5
Rules:
  - Name: orders
    EventPattern: { source: [shop] }
    Targets:
      - Id: chat
        ApiDestination: chat
        InputTransformer:
          InputPathsMap: { n: $.detail.n }
          InputTemplate: '{"text": "order <n>"}'
      - Id: file
        Log: { Path: var/orders.jsonl }
  - Name: refunds
    EventPattern: { source: [shop], detail-type: [refund] }
    Targets:
      - Id: chat
        ApiDestination: chat
)";

constexpr std::string_view kEvent =
    R"({"version":"0","id":"e-1","detail-type":"order","source":"shop","account":"000000000000",)"
    R"("time":"2026-12-01T00:00:00Z","region":"us-east-1","resources":[],"detail":{"n":7}})";

class AdminApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<store::SqliteStore>> opened =
        store::SqliteStore::open({.path = dir_.file("hikyaku.db")});
    ASSERT_TRUE(opened.has_value()) << opened.error().message();
    store_ = std::move(opened).value();
    config::LoadResult loaded = config::load_config_text(kConfig, "test.yaml");
    ASSERT_TRUE(loaded.ok()) << loaded.errors[0].to_string();
    auto config = std::make_shared<const config::Config>(std::move(*loaded.config));
    redactor_ = std::make_shared<const Redactor>(config->secret_values());
    Result<std::shared_ptr<const bus::Snapshot>> snapshot = bus::Snapshot::build(config, metrics_);
    ASSERT_TRUE(snapshot.has_value()) << snapshot.error().message();
    snapshot_ = *snapshot;
    api_ = std::make_unique<AdminApi>(Sources{
        .store = store_.get(),
        .clock = &clock_,
        .snapshot = [this] { return snapshot_; },
        .redactor = [this] { return redactor_; },
        .metrics = &metrics_,
        .endpoints = {},
    });
  }

  // Dead letters as the pipeline or the dispatcher leave them.
  void add_letter(const std::string& target, const std::string& code, std::string body = "old",
                  bool keep_event = true) {
    store::Batch batch;
    batch.dead_letters.push_back(
        {{target, "e-1", std::move(body), "", clock_.now_ms(),
          keep_event ? std::make_shared<const std::string>(kEvent) : nullptr},
         {code, code + ": the destination said no (key sekrit-hook-key-93b1)", ""}});
    ASSERT_TRUE(store_->append(batch).ok());
  }

  struct Answer {
    unsigned status = 0;
    std::string body;
    std::shared_ptr<simdjson::dom::parser> parser;  // owns `json`
    simdjson::dom::element json;
  };
  Answer call(std::string method, std::string path, std::string query = "", std::string body = "") {
    Response response =
        api_->handle({std::move(method), std::move(path), std::move(query), std::move(body)});
    Answer answer{
        response.status, std::move(response.body), std::make_shared<simdjson::dom::parser>(), {}};
    EXPECT_EQ(answer.parser->parse(answer.body).get(answer.json), simdjson::SUCCESS) << answer.body;
    return answer;
  }
  std::vector<int64_t> letter_ids(const Answer& answer) {
    std::vector<int64_t> ids;
    for (simdjson::dom::element letter : answer.json["DeadLetters"].get_array()) {
      ids.push_back(letter["Id"].get_int64());
    }
    return ids;
  }

  testing::TempDir dir_{"admin"};
  testing::FakeClock clock_;
  MetricsRegistry metrics_;
  std::unique_ptr<store::SqliteStore> store_;
  std::shared_ptr<const bus::Snapshot> snapshot_;
  std::shared_ptr<const Redactor> redactor_;
  std::unique_ptr<AdminApi> api_;
};

TEST_F(AdminApiTest, DeadLettersAreListedByFilterAPageAtATime) {
  for (int i = 0; i < 5; ++i) {
    add_letter("default/orders/chat", i < 3 ? "HTTP_400" : "HTTP_500");
  }
  add_letter("default/refunds/chat", "HTTP_400");

  Answer page = call("GET", "/dead-letters", "rule=orders&limit=2");
  ASSERT_EQ(page.status, 200U) << page.body;
  EXPECT_EQ(letter_ids(page).size(), 2u);
  const std::string token(page.json["NextToken"].get_string().value());
  simdjson::dom::element first = page.json["DeadLetters"].at(0);
  EXPECT_EQ(std::string_view(first["Rule"]), "orders");
  EXPECT_EQ(std::string_view(first["Target"]), "chat");
  EXPECT_EQ(std::string_view(first["ErrorCode"]), "HTTP_400");
  EXPECT_EQ(std::string_view(first["DeadLetteredAt"]), "2026-03-01T09:15:02.000Z");
  EXPECT_TRUE(first["Body"].error() == simdjson::NO_SUCH_FIELD);  // a listing reads no bodies

  Answer rest = call("GET", "/dead-letters", "rule=orders&limit=2&next_token=" + token);
  Answer last = call(
      "GET", "/dead-letters",
      "rule=orders&limit=2&next_token=" + std::string(rest.json["NextToken"].get_string().value()));
  EXPECT_EQ(letter_ids(rest).size(), 2u);
  EXPECT_EQ(letter_ids(last).size(), 1u);
  EXPECT_TRUE(last.json["NextToken"].error() == simdjson::NO_SUCH_FIELD);

  EXPECT_EQ(letter_ids(call("GET", "/dead-letters", "error_code=HTTP_500")).size(), 2u);
  EXPECT_EQ(letter_ids(call("GET", "/dead-letters", "target=default%2Frefunds%2Fchat")).size(), 1u);
  EXPECT_EQ(letter_ids(call("GET", "/dead-letters", "target=chat")).size(), 6u);
  EXPECT_EQ(letter_ids(call("GET", "/dead-letters", "since=2026-03-01T09:15:03Z")).size(), 0u);
  EXPECT_EQ(letter_ids(call("GET", "/dead-letters", "until=1772356503")).size(), 6u);

  // Secrets are masked in every answer, whatever put them there.
  EXPECT_THAT(page.body, Not(HasSubstr("sekrit")));
  EXPECT_THAT(page.body, HasSubstr("***"));
}

TEST_F(AdminApiTest, ADeadLetterIsShownWholeWithItsEvent) {
  add_letter("default/orders/chat", "HTTP_400", R"({"text": "order 7"})");
  const int64_t id = letter_ids(call("GET", "/dead-letters"))[0];
  Answer letter = call("GET", "/dead-letters/" + std::to_string(id));
  ASSERT_EQ(letter.status, 200U);
  EXPECT_EQ(std::string_view(letter.json["Body"]), R"({"text": "order 7"})");
  EXPECT_EQ(int64_t(letter.json["Event"]["detail"]["n"]), 7);  // the event, as JSON
  EXPECT_THAT(letter.body, Not(HasSubstr("sekrit")));
  Answer missing = call("GET", "/dead-letters/999");
  EXPECT_EQ(missing.status, 404U);
  EXPECT_EQ(std::string_view(missing.json["Error"]["Code"]), "NotFound");
}

TEST_F(AdminApiTest, RedriveRendersAgainFromTheEventOrResendsAsRecorded) {
  add_letter("default/orders/chat", "TRANSFORM_ERROR", "broken");  // rendered again
  add_letter("default/orders/chat", "HTTP_500", "as it was");      // sent as recorded
  add_letter("default/gone/chat", "HTTP_500");                     // its target is gone
  add_letter("default/orders/chat", "HTTP_500", "no event", false);
  const std::vector<int64_t> ids = letter_ids(call("GET", "/dead-letters"));
  ASSERT_EQ(ids.size(), 4u);

  Answer redrive = call("POST", "/dead-letters/redrive", "",
                        fmt::format(R"({{"Ids": [{}, {}, {}]}})", ids[0], ids[2], ids[3]));
  ASSERT_EQ(redrive.status, 200U) << redrive.body;
  EXPECT_EQ(int64_t(redrive.json["Redriven"]), 1);
  EXPECT_EQ(int64_t(redrive.json["FailedCount"]), 2);
  EXPECT_THAT(redrive.body, HasSubstr("no target default/gone/chat"));
  EXPECT_THAT(redrive.body, HasSubstr("AsRecorded"));
  Answer as_recorded = call("POST", "/dead-letters/redrive", "",
                            fmt::format(R"({{"Ids": [{}], "AsRecorded": true}})", ids[1]));
  EXPECT_EQ(int64_t(as_recorded.json["Redriven"]), 1);

  Result<std::vector<store::Claim>> claims = store_->claim(clock_.now_ms(), 10, 60'000);
  ASSERT_TRUE(claims.has_value());
  ASSERT_EQ(claims->size(), 2u);
  EXPECT_EQ((*claims)[0].job.body, R"({"text": "order 7"})");  // the template of today
  EXPECT_EQ((*claims)[1].job.body, "as it was");
  EXPECT_EQ(letter_ids(call("GET", "/dead-letters")).size(), 2u);  // the two that failed stay
}

TEST_F(AdminApiTest, ALetterWhoseBodyWasLostIsNotResentAsRecorded) {
  add_letter("default/orders/chat", store::kBodyUnreadableError, "");
  const std::vector<int64_t> ids = letter_ids(call("GET", "/dead-letters"));
  ASSERT_EQ(ids.size(), 1u);
  Answer answer = call("POST", "/dead-letters/redrive", "",
                       fmt::format(R"({{"Ids": [{}, 999], "AsRecorded": true}})", ids[0]));
  ASSERT_EQ(answer.status, 200U) << answer.body;
  EXPECT_EQ(int64_t(answer.json["Redriven"]), 0);
  EXPECT_EQ(int64_t(answer.json["FailedCount"]), 2);
  EXPECT_THAT(answer.body, HasSubstr("its body was lost"));
  EXPECT_THAT(answer.body, HasSubstr("no such dead letter"));
  Answer counts = call("GET", "/counts");
  EXPECT_EQ(int64_t(counts.json["DeadLetters"]), 1) << counts.body;
  EXPECT_EQ(int64_t(counts.json["PendingJobs"]), 0);
  // Rendered again from its event, it has a body once more.
  answer = call("POST", "/dead-letters/redrive", "", fmt::format(R"({{"Ids": [{}]}})", ids[0]));
  EXPECT_EQ(int64_t(answer.json["Redriven"]), 1) << answer.body;
  counts = call("GET", "/counts");
  EXPECT_EQ(int64_t(counts.json["DeadLetters"]), 0);
  EXPECT_EQ(int64_t(counts.json["PendingJobs"]), 1);
}

// A running server's redrive goes through its group committer, as ingest does: the jobs are
// leased to the dispatcher (the committer's consumer) in the commit that removes the letters.
TEST_F(AdminApiTest, ARedriveThroughTheCommitterHandsItsJobsToTheConsumer) {
  struct Consumer final : store::CommitConsumer {
    Offer offer(int64_t jobs, int64_t bytes) override {
      return {static_cast<int>(jobs), bytes, lease_until};
    }
    void committed(const Offer&, std::vector<store::Claim> leased, int64_t) override {
      MutexLock lock(mutex);
      for (store::Claim& claim : leased) {
        bodies.push_back(std::move(claim.job.body));
      }
    }
    int64_t lease_until = 0;
    Mutex mutex;
    std::vector<std::string> bodies HK_GUARDED_BY(mutex);
  } consumer;
  consumer.lease_until = clock_.now_ms() + 60'000;
  store::GroupCommitter committer(*store_);
  committer.set_consumer(&consumer);
  AdminApi api(Sources{.store = store_.get(),
                       .clock = &clock_,
                       .snapshot = [this] { return snapshot_; },
                       .redactor = [this] { return redactor_; },
                       .metrics = nullptr,
                       .endpoints = {},
                       .committer = &committer});
  for (int i = 0; i < 300; ++i) {  // more than one chunk
    add_letter("default/orders/chat", "HTTP_400");
  }
  const Response answer = api.handle({"POST", "/dead-letters/redrive", "", R"({"All": true})"});
  ASSERT_EQ(answer.status, 200U) << answer.body;
  EXPECT_THAT(answer.body, HasSubstr(R"("Redriven":300)"));
  EXPECT_EQ(store_->counts(clock_.now_ms())->dead_letters, 0);
  EXPECT_EQ(store_->counts(clock_.now_ms())->leased, 300);
  MutexLock lock(consumer.mutex);
  ASSERT_EQ(consumer.bodies.size(), 300u);
  EXPECT_EQ(consumer.bodies.front(), R"({"text": "order 7"})");
}

TEST_F(AdminApiTest, RedriveAndPurgeByFilter) {
  for (int i = 0; i < 300; ++i) {  // more than one chunk
    add_letter("default/orders/chat", "HTTP_400");
  }
  add_letter("default/refunds/chat", "HTTP_400");
  Answer redrive = call("POST", "/dead-letters/redrive", "", R"({"All": true, "Rule": "orders"})");
  EXPECT_EQ(int64_t(redrive.json["Redriven"]), 300);
  Answer purge = call("POST", "/dead-letters/purge", "", R"({"All": true, "Rule": "nothing"})");
  EXPECT_EQ(int64_t(purge.json["Purged"]), 0);
  EXPECT_EQ(letter_ids(call("GET", "/dead-letters")).size(), 1u);
  purge = call("POST", "/dead-letters/purge", "", R"({"All": true})");
  EXPECT_EQ(int64_t(purge.json["Purged"]), 1);
  EXPECT_EQ(store_->counts(clock_.now_ms())->dead_letters, 0);
}

TEST_F(AdminApiTest, BadCallsGetAClearErrorAndChangeNothing) {
  add_letter("default/orders/chat", "HTTP_400");
  struct Case {
    std::string method, path, query, body;
    unsigned status;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {"GET", "/dead-letters", "limit=0", "", 400, "limit must be an integer from 1 to 1000"},
           {"GET", "/dead-letters", "since=yesterday", "", 400, "since must be an RFC 3339"},
           {"POST", "/dead-letters/purge", "", "{}", 400, "say which letters"},
           {"POST", "/dead-letters/purge", "", "[1]", 400, "must be a JSON object"},
           {"POST", "/dead-letters/purge", "", R"({"Ids":[1],"All":true})", 400, "not both"},
           {"POST", "/dead-letters/purge", "", R"({"Ids":[1],"Rule":"x"})", 400, "go with All"},
           {"POST", "/dead-letters/purge", "", R"({"All":true,"AsRecorded":true})", 400,
            "unknown member \"AsRecorded\""},
           {"POST", "/dead-letters/redrive", "", R"({"Ids":["1"]})", 400, "positive integers"},
           {"DELETE", "/dead-letters", "", "", 405, "takes GET"},
           {"GET", "/dead-letters/redrive", "", "", 405, "takes POST"},
           {"GET", "/nothing", "", "", 404, "no admin route"},
           {"POST", "/test-event", "", "{not json", 400, "the event"},
       }) {
    SCOPED_TRACE(c.method + " " + c.path + " " + c.body);
    Answer answer = call(c.method, c.path, c.query, c.body);
    EXPECT_EQ(answer.status, c.status);
    EXPECT_THAT(std::string(answer.json["Error"]["Message"].get_string().value()),
                HasSubstr(c.message));
  }
  EXPECT_EQ(store_->counts(clock_.now_ms())->dead_letters, 1);
}

TEST_F(AdminApiTest, TheDeliveryLogIsListedNewestFirst) {
  std::vector<store::DeliveryRecord> records;
  for (int i = 1; i <= 3; ++i) {
    records.push_back({.at_ms = clock_.now_ms() + i,
                       .target = "default/orders/chat",
                       .destination = "chat",
                       .event_id = "e-" + std::to_string(i),
                       .job_id = i,
                       .attempt = 1,
                       .http_status = i == 3 ? 503 : 200,
                       .latency_ms = 40,
                       .outcome = i == 3 ? "retrying" : "delivered",
                       .error = i == 3 ? "HTTP_503: busy" : ""});
  }
  ASSERT_TRUE(store_->log_deliveries(records, 100).ok());
  Answer page = call("GET", "/deliveries", "limit=2");
  ASSERT_EQ(page.status, 200U);
  simdjson::dom::array deliveries = page.json["Deliveries"].get_array();
  ASSERT_EQ(deliveries.size(), 2u);
  EXPECT_EQ(std::string_view(deliveries.at(0)["EventId"]), "e-3");
  EXPECT_EQ(std::string_view(deliveries.at(0)["Outcome"]), "retrying");
  EXPECT_EQ(int64_t(deliveries.at(0)["HttpStatus"]), 503);
  EXPECT_EQ(int64_t(deliveries.at(0)["LatencyMs"]), 40);
  EXPECT_EQ(std::string_view(deliveries.at(0)["Rule"]), "orders");
  Answer older = call("GET", "/deliveries",
                      "next_token=" + std::string(page.json["NextToken"].get_string().value()));
  EXPECT_EQ(older.json["Deliveries"].get_array().size(), 1u);
}

TEST_F(AdminApiTest, RulesShowTheirCountsAndTheTesterExplainsEachRule) {
  metrics_.counter("hikyaku_matched_events_total", "", {{"bus", "default"}, {"rule", "orders"}})
      .add(4);
  metrics_
      .counter("hikyaku_invocation_attempts_total", "",
               {{"target", "default/orders/chat"}, {"outcome", "delivered"}})
      .add(3);
  Answer rules = call("GET", "/rules");
  ASSERT_EQ(rules.status, 200U);
  simdjson::dom::element orders = rules.json["Rules"].at(0);
  EXPECT_EQ(std::string_view(orders["Name"]), "orders");
  EXPECT_EQ(int64_t(orders["MatchedEvents"]), 4);
  EXPECT_EQ(int64_t(orders["Targets"].at(0)["Delivered"]), 3);
  EXPECT_EQ(std::string_view(orders["Targets"].at(1)["Kind"]), "Log");

  Answer tested = call("POST", "/test-event", "", std::string(kEvent));
  ASSERT_EQ(tested.status, 200U) << tested.body;
  simdjson::dom::element matched = tested.json["Rules"].at(0);
  EXPECT_TRUE(bool(matched["Matched"]));
  EXPECT_EQ(std::string_view(matched["Targets"].at(0)["Bodies"].at(0)), R"({"text": "order 7"})");
  simdjson::dom::element missed = tested.json["Rules"].at(1);
  EXPECT_FALSE(bool(missed["Matched"]));
  EXPECT_THAT(std::string(missed["Reason"].get_string().value()), HasSubstr("detail-type"));
  EXPECT_EQ(missed["Targets"].get_array().size(), 0u);
}

TEST_F(AdminApiTest, DestinationsCountTheJobsWaitingForThem) {
  store::Batch batch;
  batch.jobs.push_back({"default/orders/chat", "e-1", "{}", "", clock_.now_ms() - 5000});
  batch.jobs.push_back({"default/refunds/chat", "e-2", "{}", "", clock_.now_ms()});
  ASSERT_TRUE(store_->append(batch).ok());
  Answer answer = call("GET", "/destinations");
  ASSERT_EQ(answer.status, 200U) << answer.body;
  simdjson::dom::element chat = answer.json["Destinations"].at(0);
  EXPECT_EQ(std::string_view(chat["Name"]), "chat");
  EXPECT_EQ(int64_t(chat["QueuedJobs"]), 2);
  EXPECT_EQ(int64_t(chat["OldestJobAgeSeconds"]), 5);
  EXPECT_EQ(int64_t(chat["RateLimitPerSecond"]), 5);
  EXPECT_TRUE(chat["PausedUntil"].is_null());
}

TEST_F(AdminApiTest, TicketsAreReadFromTheLedger) {
  integrations::securityhub::LedgerEntry entry;
  entry.product_arn = "arn:aws:securityhub:us-east-1::product/aws/securityhub";
  entry.finding_id = "finding-<b>1</b>";
  entry.key = integrations::securityhub::FindingKey::of(entry.product_arn, entry.finding_id);
  entry.issue_key = "SEC-12";
  entry.ticket = integrations::securityhub::TicketState::kOpen;
  entry.last_updated_at = "2026-03-01T00:00:00Z";
  entry.snapshot = {"HIGH", "FAILED", "NEW", "ACTIVE", {"arn:aws:s3:::bucket"}};
  ASSERT_TRUE(store_
                  ->kv_put_if(std::string(integrations::backlog::kLedgerPrefix) +
                                  "space.example.com/SEC/" + entry.key.str(),
                              integrations::securityhub::to_json(entry), 0)
                  .has_value());
  Answer answer = call("GET", "/tickets");
  ASSERT_EQ(answer.status, 200U) << answer.body;
  simdjson::dom::element ticket = answer.json["Tickets"].at(0);
  ASSERT_TRUE(ticket["Unreadable"].error() == simdjson::NO_SUCH_FIELD) << answer.body;
  EXPECT_EQ(std::string_view(ticket["IssueKey"]), "SEC-12");
  EXPECT_EQ(std::string_view(ticket["FindingId"]), "finding-<b>1</b>");  // text, as it was
  EXPECT_EQ(std::string_view(ticket["Ticket"]), "open");
}

TEST_F(AdminApiTest, AsyncCallsAreAnsweredOnTheApisThread) {
  std::promise<Response> answered;
  api_->handle_async({"GET", "/rules", "", ""},
                     [&](Response response) { answered.set_value(std::move(response)); });
  EXPECT_EQ(answered.get_future().get().status, 200U);
}

}  // namespace
}  // namespace hikyaku::admin
