// The Backlog target against the Backlog stand-in over loopback, with a real SQLite ledger.
#include "integrations/backlog/ticket_target.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "integrations/securityhub/test_samples.h"
#include "integrations/securityhub/ticket_decision.h"
#include "store/sqlite/sqlite_store.h"
#include "testing/backlog_standin.h"
#include "testing/temp_dir.h"

namespace hikyaku::integrations::backlog {
namespace {

using delivery::Outcome;
using securityhub::testing::sample_event;
using ::testing::HasSubstr;
using ::testing::Not;

// The event of sample `name` with only its finding `index` (what ingest hands the target).
std::string single_finding_event(const std::string& name, size_t index = 0) {
  const std::string event = sample_event(name);
  simdjson::dom::parser parser;
  simdjson::dom::element root = parser.parse(event);
  simdjson::dom::element finding = root["detail"]["findings"].at(index);
  std::string out = "{";
  bool first = true;
  for (const auto [key, value] : simdjson::dom::object(root)) {
    out += first ? "" : ",";
    first = false;
    out += "\"" + std::string(key) + "\":";
    if (key == "detail") {
      out += "{\"findings\":[" + simdjson::minify(finding) + "]}";
    } else {
      out += simdjson::minify(value);
    }
  }
  return out + "}";
}

// The event with its finding's UpdatedAt and Severity.Label replaced.
std::string with_changes(std::string event, std::string_view updated_at,
                         std::string_view severity) {
  simdjson::dom::parser parser;
  simdjson::dom::element finding = parser.parse(event)["detail"]["findings"].at(0);
  const std::string old_updated{std::string_view(finding["UpdatedAt"])};
  const std::string old_label{std::string_view(finding["Severity"]["Label"])};
  const auto replace_all = [&](std::string_view from, std::string_view to) {
    for (size_t at = event.find(from); at != std::string::npos;
         at = event.find(from, at + to.size())) {
      event.replace(at, from.size(), to);
    }
  };
  replace_all("\"UpdatedAt\":\"" + old_updated + "\"",
              "\"UpdatedAt\":\"" + std::string(updated_at) + "\"");
  replace_all("\"Label\":\"" + old_label + "\"", "\"Label\":\"" + std::string(severity) + "\"");
  return event;
}

class TicketTargetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = store::SqliteStore::open({.path = (directory_ / "db").string()});
    ASSERT_TRUE(opened.has_value()) << opened.error().message();
    store_ = std::move(opened).value();
  }

  TicketNames names() const {
    return {"SEC",
            "Task",
            {{"CRITICAL", "High"},
             {"HIGH", "High"},
             {"MEDIUM", "Normal"},
             {"LOW", "Low"},
             {"INFORMATIONAL", "Low"}},
            "Closed",
            "Open"};
  }

  TicketSettings base() const {
    TicketSettings settings;
    settings.target = "default/findings/backlog";
    settings.space.base_url = backlog_.url("");
    settings.space.api_key = Secret(backlog_.api_key());
    settings.space.timeout_ms = 5000;
    settings.dry_run_file = (directory_ / "dry-run.jsonl").string();
    settings.create_when = [](std::string_view event) {
      return event.find("\"Label\":\"CRITICAL\"") != std::string_view::npos ||
             event.find("\"Label\":\"HIGH\"") != std::string_view::npos;
    };
    return settings;
  }

  std::shared_ptr<TicketTarget> make_target(TicketSettings settings) {
    return std::make_shared<TicketTarget>(*store_, SystemClock::instance(), std::move(settings));
  }

  std::shared_ptr<TicketTarget> online_target() {
    Client client(base().space, http_transport());
    Result<TicketSettings> settings = resolve_settings(client, names(), base());
    EXPECT_TRUE(settings.has_value()) << settings.error().message();
    return make_target(std::move(settings).value());
  }

  store::Claim claim_of(std::string body, int64_t job_id = 0, std::string token = "") {
    store::Claim claim;
    claim.job.id = job_id != 0 ? job_id : ++next_job_;
    claim.job.target = "default/findings/backlog";
    claim.job.body = std::move(body);
    claim.token = token.empty() ? "claim-" + std::to_string(++next_claim_) : token;
    claim.lease_expires_at_ms = SystemClock::instance().now_ms() + 60'000;
    return claim;
  }

  delivery::HandlerOutcome deliver(TicketTarget& target, const store::Claim& claim) {
    return target.deliver(claim, claim.lease_expires_at_ms - 5'000);
  }

  std::optional<securityhub::LedgerEntry> ledger(const TicketTarget& target,
                                                 const std::string& event) {
    Result<std::vector<Result<securityhub::Finding>>> findings =
        securityhub::parse_event_findings(event);
    const std::string key = ledger_key(*target.settings(), (*findings)[0]->key);
    Result<std::optional<store::KvEntry>> stored = store_->kv_get(key);
    if (!stored.has_value() || !stored->has_value()) {
      return std::nullopt;
    }
    return securityhub::ledger_entry_from_json((*stored)->value).value();
  }

  testing::TempDir dir_{"ticket-target"};
  const std::filesystem::path directory_{dir_.path()};
  testing::BacklogStandIn backlog_;
  std::unique_ptr<store::SqliteStore> store_;
  int64_t next_job_ = 0;
  int64_t next_claim_ = 0;
};

TEST_F(TicketTargetTest, NamesAreResolvedAndAWrongOneListsTheChoices) {
  Client client(base().space, http_transport());
  Result<TicketSettings> settings = resolve_settings(client, names(), base());
  ASSERT_TRUE(settings.has_value()) << settings.error().message();
  EXPECT_EQ(settings->project_id, backlog_.project_id());
  EXPECT_EQ(settings->project_key, "SEC");
  EXPECT_EQ(settings->issue_type_id, 1073742002);
  EXPECT_EQ(settings->priority_ids.at("CRITICAL"), testing::kBacklogPriorityHigh);
  EXPECT_EQ(settings->priority_ids.at("MEDIUM"), testing::kBacklogPriorityNormal);
  EXPECT_EQ(settings->resolved_status_id, testing::kBacklogStatusClosed);
  EXPECT_EQ(settings->reopen_status_id, testing::kBacklogStatusOpen);
  EXPECT_EQ(settings->format, TextFormat::kMarkdown);

  TicketNames wrong = names();
  wrong.issue_type = "Incident";
  Result<TicketSettings> refused = resolve_settings(client, wrong, base());
  ASSERT_FALSE(refused.has_value());
  EXPECT_THAT(refused.error().message(), HasSubstr("Incident"));
  EXPECT_THAT(refused.error().message(), HasSubstr("Task"));
  EXPECT_THAT(refused.error().message(), Not(HasSubstr(backlog_.api_key())));
}

// 01 -> 16 (the same finding again) -> 09 (PASSED): one issue, closed as fixed with a comment.
TEST_F(TicketTargetTest, AFindingsLifecycleIsOneIssueCreatedThenClosed) {
  auto target = online_target();
  const std::string created = single_finding_event("01-fsbp-ec2-19-critical-failed.json");
  ASSERT_EQ(deliver(*target, claim_of(created)).outcome, Outcome::kDelivered);
  ASSERT_EQ(backlog_.issues().size(), 1u);
  const testing::BacklogIssue issue = backlog_.issues()[0];
  EXPECT_EQ(issue.priority_id, testing::kBacklogPriorityHigh);
  EXPECT_EQ(issue.issue_type_id, 1073742002);
  EXPECT_THAT(issue.summary, HasSubstr("CRITICAL"));
  EXPECT_THAT(issue.description, HasSubstr(finding_marker(ledger(*target, created)->key)));
  EXPECT_EQ(ledger(*target, created)->issue_key, issue.issue_key);
  EXPECT_EQ(ledger(*target, created)->ticket, securityhub::TicketState::kOpen);

  const std::string again = single_finding_event("16-custom-action-send-to-backlog.json");
  ASSERT_EQ(deliver(*target, claim_of(again)).outcome, Outcome::kDelivered);
  ASSERT_EQ(deliver(*target, claim_of(created)).outcome, Outcome::kDelivered);
  EXPECT_EQ(backlog_.issues().size(), 1u);

  const std::string passed = single_finding_event("09-fsbp-ec2-19-passed-update-same-id.json");
  ASSERT_EQ(deliver(*target, claim_of(passed)).outcome, Outcome::kDelivered);
  const testing::BacklogIssue closed = *backlog_.issue(issue.issue_key);
  EXPECT_EQ(closed.status_id, testing::kBacklogStatusClosed);
  EXPECT_EQ(closed.resolution_id, testing::kBacklogResolutionFixed);
  ASSERT_FALSE(closed.comments.empty());
  EXPECT_THAT(closed.comments.back().content.value_or(""), HasSubstr("PASSED"));
  EXPECT_EQ(ledger(*target, created)->ticket, securityhub::TicketState::kResolved);
  EXPECT_EQ(backlog_.request_count("POST /api/v2/issues"), 1);
}

TEST_F(TicketTargetTest, ASuppressedFindingClosesAsWontFix) {
  auto target = online_target();
  const std::string created = with_changes(single_finding_event("03-fsbp-iam-3-medium-failed.json"),
                                           "2026-03-01T09:00:05.772Z", "HIGH");
  ASSERT_EQ(deliver(*target, claim_of(created)).outcome, Outcome::kDelivered);
  ASSERT_EQ(backlog_.issues().size(), 1u);
  ASSERT_EQ(
      deliver(*target, claim_of(single_finding_event("11-fsbp-iam-3-suppressed-same-id.json")))
          .outcome,
      Outcome::kDelivered);
  const testing::BacklogIssue closed = backlog_.issues()[0];
  EXPECT_EQ(closed.status_id, testing::kBacklogStatusClosed);
  EXPECT_EQ(closed.resolution_id, testing::kBacklogResolutionWontFix);
}

// A meaningful change comments once; the same version again does nothing; a regression reopens.
TEST_F(TicketTargetTest, ChangesCommentAndARegressionReopens) {
  auto target = online_target();
  const std::string first = single_finding_event("02-fsbp-s3-8-high-failed.json");
  ASSERT_EQ(deliver(*target, claim_of(first)).outcome, Outcome::kDelivered);
  const std::string raised = with_changes(first, "2026-03-05T00:00:00.000Z", "CRITICAL");
  ASSERT_EQ(deliver(*target, claim_of(raised)).outcome, Outcome::kDelivered);
  ASSERT_EQ(deliver(*target, claim_of(raised)).outcome, Outcome::kDelivered);
  testing::BacklogIssue issue = backlog_.issues()[0];
  ASSERT_EQ(issue.comments.size(), 1u);
  EXPECT_THAT(issue.comments[0].content.value_or(""), HasSubstr("CRITICAL"));

  const std::string archived = single_finding_event("10-fsbp-s3-8-archived-same-id.json");
  ASSERT_EQ(deliver(*target, claim_of(with_changes(archived, "2026-03-06T00:00:00.000Z", "HIGH")))
                .outcome,
            Outcome::kDelivered);
  EXPECT_EQ(backlog_.issues()[0].status_id, testing::kBacklogStatusClosed);
  ASSERT_EQ(
      deliver(*target, claim_of(with_changes(first, "2026-03-07T00:00:00.000Z", "HIGH"))).outcome,
      Outcome::kDelivered);
  issue = backlog_.issues()[0];
  EXPECT_EQ(issue.status_id, testing::kBacklogStatusOpen);
  EXPECT_EQ(backlog_.issues().size(), 1u);
}

TEST_F(TicketTargetTest, AResolvedVersionFirstMeansNoTicketForTheOlderActiveOne) {
  auto target = online_target();
  ASSERT_EQ(
      deliver(*target, claim_of(single_finding_event("09-fsbp-ec2-19-passed-update-same-id.json")))
          .outcome,
      Outcome::kDelivered);
  ASSERT_EQ(deliver(*target, claim_of(single_finding_event("01-fsbp-ec2-19-critical-failed.json")))
                .outcome,
            Outcome::kDelivered);
  EXPECT_TRUE(backlog_.issues().empty());
}

// A crash between Backlog's 201 and the ledger update leaves the creation mark: the job's next
// claim finds the issue by its marker and files nothing.
TEST_F(TicketTargetTest, AnInterruptedCreationIsFoundByItsMarker) {
  auto target = online_target();
  const std::string event = single_finding_event("01-fsbp-ec2-19-critical-failed.json");
  const store::Claim first = claim_of(event, 7, "claim-before-crash");
  ASSERT_EQ(deliver(*target, first).outcome, Outcome::kDelivered);
  // Put the ledger back to the moment after the create request: the mark of the dead claim.
  securityhub::LedgerEntry entry = *ledger(*target, event);
  const testing::BacklogIssue filed = backlog_.issues()[0];
  entry.issue_key.clear();
  entry.issue_id.reset();
  entry.ticket = securityhub::TicketState::kNone;
  entry.creating = securityhub::PendingCreate{7, "claim-before-crash",
                                              SystemClock::instance().now_ms() + 60'000};
  const std::string key = ledger_key(*target->settings(), entry.key);
  const int64_t revision = (*store_->kv_get(key))->revision;
  ASSERT_TRUE(store_->kv_put_if(key, securityhub::to_json(entry), revision).has_value());

  // Another job of the same finding waits while the mark is fresh...
  delivery::HandlerOutcome waiting = deliver(*target, claim_of(event, 8));
  EXPECT_EQ(waiting.outcome, Outcome::kRetry);
  EXPECT_EQ(waiting.error_code, "TICKET_BEING_CREATED");
  EXPECT_GT(waiting.not_before_ms, SystemClock::instance().now_ms());
  // ... and the job itself, claimed again, takes over and finds the issue.
  ASSERT_EQ(deliver(*target, claim_of(event, 7, "claim-after-restart")).outcome,
            Outcome::kDelivered);
  EXPECT_EQ(backlog_.issues().size(), 1u);
  EXPECT_EQ(backlog_.request_count("POST /api/v2/issues"), 1);
  EXPECT_EQ(backlog_.request_count("GET /api/v2/issues"), 1);
  EXPECT_EQ(ledger(*target, event)->issue_key, filed.issue_key);
  EXPECT_FALSE(ledger(*target, event)->creating.has_value());
}

// The creating attempt died before Backlog created anything: the take-over creates it.
TEST_F(TicketTargetTest, AnInterruptedCreationThatFiledNothingIsFiledOnce) {
  auto target = online_target();
  const std::string event = single_finding_event("02-fsbp-s3-8-high-failed.json");
  Result<std::vector<Result<securityhub::Finding>>> findings =
      securityhub::parse_event_findings(event);
  securityhub::Decision create;
  create.action = securityhub::Action::kCreate;
  securityhub::LedgerEntry entry = securityhub::next_entry(std::nullopt, *(*findings)[0], create);
  entry.ticket = securityhub::TicketState::kNone;
  entry.creating = securityhub::PendingCreate{9, "old", SystemClock::instance().now_ms() - 1};
  ASSERT_TRUE(
      store_->kv_put_if(ledger_key(*target->settings(), entry.key), securityhub::to_json(entry), 0)
          .has_value());
  ASSERT_EQ(deliver(*target, claim_of(event, 10)).outcome, Outcome::kDelivered);
  EXPECT_EQ(backlog_.issues().size(), 1u);
  EXPECT_EQ(ledger(*target, event)->ticket, securityhub::TicketState::kOpen);
}

// Two deliveries of one finding at once, on two targets sharing the ledger (two workers, two
// nodes): the compare-and-set lets one create; the other waits and then finds the ticket.
TEST_F(TicketTargetTest, TwoDeliveriesRacingFileOneIssue) {
  auto first = online_target();
  auto second = online_target();
  backlog_.set_delay(std::chrono::milliseconds(200));
  const std::string event = single_finding_event("01-fsbp-ec2-19-critical-failed.json");
  delivery::HandlerOutcome outcomes[2];
  std::thread racing([&] { outcomes[1] = deliver(*second, claim_of(event, 102)); });
  outcomes[0] = deliver(*first, claim_of(event, 101));
  racing.join();
  backlog_.set_delay(std::chrono::milliseconds(0));
  // The loser waits for the winner's mark; its retry (after the winner finished) does nothing.
  for (int i = 0; i < 2; ++i) {
    if (outcomes[i].outcome == Outcome::kRetry) {
      EXPECT_EQ(outcomes[i].error_code, "TICKET_BEING_CREATED");
      ASSERT_EQ(deliver(i == 0 ? *first : *second, claim_of(event, 101 + i)).outcome,
                Outcome::kDelivered);
    } else {
      EXPECT_EQ(outcomes[i].outcome, Outcome::kDelivered);
    }
  }
  EXPECT_EQ(backlog_.issues().size(), 1u);
  EXPECT_EQ(backlog_.request_count("POST /api/v2/issues"), 1);
}

TEST_F(TicketTargetTest, BacklogFailuresAreRetryableOrPermanentWithItsMessage) {
  auto target = online_target();
  const std::string event = single_finding_event("01-fsbp-ec2-19-critical-failed.json");
  backlog_.fail_next(1, 503);
  delivery::HandlerOutcome unavailable = deliver(*target, claim_of(event, 1));
  EXPECT_EQ(unavailable.outcome, Outcome::kRetry);
  EXPECT_EQ(unavailable.result.http_status, 503);
  EXPECT_THAT(unavailable.detail, Not(HasSubstr(backlog_.api_key())));
  // The retry of the same job (a new claim) looks for the issue first, finds none, files one.
  ASSERT_EQ(deliver(*target, claim_of(event, 1)).outcome, Outcome::kDelivered);
  EXPECT_EQ(backlog_.issues().size(), 1u);

  TicketSettings wrong_key = *target->settings();
  wrong_key.space.api_key = Secret("not-the-key");
  auto refused_target = make_target(wrong_key);
  delivery::HandlerOutcome refused =
      deliver(*refused_target, claim_of(single_finding_event("02-fsbp-s3-8-high-failed.json")));
  EXPECT_EQ(refused.outcome, Outcome::kPermanent);
  EXPECT_EQ(refused.result.http_status, 401);
  EXPECT_THAT(refused.detail, HasSubstr("11"));
  EXPECT_THAT(refused.detail, Not(HasSubstr("not-the-key")));
}

TEST_F(TicketTargetTest, ANonFindingEventIsAPermanentFailure) {
  auto target = online_target();
  delivery::HandlerOutcome outcome =
      deliver(*target, claim_of(sample_event("17-insight-results.json")));
  EXPECT_EQ(outcome.outcome, Outcome::kPermanent);
  EXPECT_EQ(outcome.error_code, "INVALID_FINDING");
  EXPECT_TRUE(backlog_.requests().empty() || backlog_.request_count("POST /api/v2/issues") == 0);
}

TEST_F(TicketTargetTest, AnInputTransformersMembersOverrideTheTicketAndTheMarkerStays) {
  TicketSettings settings = base();
  settings.render_overrides = [](std::string_view) -> Result<std::string> {
    return std::string(R"({"summary":"custom title","description":"custom text","priorityId":4})");
  };
  Client client(settings.space, http_transport());
  Result<TicketSettings> resolved = resolve_settings(client, names(), std::move(settings));
  ASSERT_TRUE(resolved.has_value());
  auto target = make_target(std::move(resolved).value());
  const std::string event = single_finding_event("05-guardduty-ec2-cryptomining-high.json");
  ASSERT_EQ(deliver(*target, claim_of(event)).outcome, Outcome::kDelivered);
  ASSERT_EQ(backlog_.issues().size(), 1u);
  const testing::BacklogIssue issue = backlog_.issues()[0];
  EXPECT_EQ(issue.summary, "custom title");
  EXPECT_EQ(issue.priority_id, testing::kBacklogPriorityLow);
  EXPECT_THAT(issue.description, HasSubstr("custom text"));
  EXPECT_THAT(issue.description, HasSubstr(finding_marker(ledger(*target, event)->key)));
}

TEST_F(TicketTargetTest, ADryRunWritesEachActionAndSendsNothing) {
  auto target = make_target(dry_run_settings(names(), base()));
  for (const char* name :
       {"01-fsbp-ec2-19-critical-failed.json", "16-custom-action-send-to-backlog.json",
        "09-fsbp-ec2-19-passed-update-same-id.json"}) {
    ASSERT_EQ(deliver(*target, claim_of(single_finding_event(name))).outcome, Outcome::kDelivered);
  }
  EXPECT_TRUE(backlog_.requests().empty());
  std::ifstream file(directory_ / "dry-run.jsonl");
  std::vector<std::string> actions;
  std::vector<std::string> issues;
  std::string line;
  simdjson::dom::parser parser;
  while (std::getline(file, line)) {
    simdjson::dom::element written = parser.parse(line);
    actions.emplace_back(std::string_view(written["action"]));
    issues.emplace_back(std::string_view(written["issue"]));
    EXPECT_THAT(line, Not(HasSubstr(backlog_.api_key())));
  }
  EXPECT_THAT(actions, ::testing::ElementsAre("create", "none", "resolve"));
  // The made-up key is the finding's (from its identity), the same for each of its actions.
  ASSERT_EQ(issues.size(), 3u);
  EXPECT_THAT(issues[0], ::testing::MatchesRegex("[A-Z]+-dry-run-[0-9a-f]{12}"));
  EXPECT_EQ(issues[2], issues[0]);
}

// An issue deleted in Backlog: the resolve answers 404, the ledger forgets the issue, and the
// finding is decided again as one without an issue (resolved: nothing to do).
TEST_F(TicketTargetTest, AnIssueDeletedInBacklogIsForgotten) {
  auto target = online_target();
  const std::string created = single_finding_event("01-fsbp-ec2-19-critical-failed.json");
  ASSERT_EQ(deliver(*target, claim_of(created)).outcome, Outcome::kDelivered);
  securityhub::LedgerEntry entry = *ledger(*target, created);
  entry.issue_key = "SEC-999";  // as if the issue had been deleted
  entry.issue_id = 999;
  const std::string key = ledger_key(*target->settings(), entry.key);
  ASSERT_TRUE(store_->kv_put_if(key, securityhub::to_json(entry), (*store_->kv_get(key))->revision)
                  .has_value());
  const std::string passed = single_finding_event("09-fsbp-ec2-19-passed-update-same-id.json");
  ASSERT_EQ(deliver(*target, claim_of(passed)).outcome, Outcome::kDelivered);
  EXPECT_EQ(ledger(*target, created)->ticket, securityhub::TicketState::kNone);
  EXPECT_TRUE(ledger(*target, created)->issue_key.empty());
}

// Backlog unreachable when the target starts: its deliveries wait (retryable) and it looks the
// project up again; a wrong name is the config's error.
TEST_F(TicketTargetTest, ATargetStartsWithBacklogUnreachableAndResolvesLater) {
  backlog_.fail_next(1, 503);
  TicketTarget target(*store_, SystemClock::instance(), names(), base());
  const Status first = target.resolve_now();
  EXPECT_EQ(first.code(), StatusCode::kUnavailable) << first.to_string();
  EXPECT_EQ(target.settings(), nullptr);
  const std::string event = single_finding_event("01-fsbp-ec2-19-critical-failed.json");
  delivery::HandlerOutcome waiting = deliver(target, claim_of(event));
  EXPECT_EQ(waiting.outcome, Outcome::kRetry);
  EXPECT_EQ(waiting.error_code, "BACKLOG_UNREACHABLE");
  EXPECT_GT(waiting.not_before_ms, SystemClock::instance().now_ms());
  EXPECT_TRUE(backlog_.issues().empty());

  TicketTarget later(*store_, SystemClock::instance(), names(), base());
  ASSERT_TRUE(later.resolve_now().ok());
  ASSERT_EQ(deliver(later, claim_of(event)).outcome, Outcome::kDelivered);
  EXPECT_EQ(backlog_.issues().size(), 1u);

  TicketNames wrong = names();
  wrong.resolved_status = "Done";
  TicketTarget misnamed(*store_, SystemClock::instance(), wrong, base());
  const Status refused = misnamed.resolve_now();
  EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.message(), HasSubstr("ResolvedStatus"));
  EXPECT_THAT(refused.message(), HasSubstr("Closed"));
}

TEST_F(TicketTargetTest, AnInputTransformerMayNotMoveTheIssueToAnotherProject) {
  TicketSettings settings = *online_target()->settings();
  settings.render_overrides = [](std::string_view) -> Result<std::string> {
    return std::string(R"({"projectId":"42"})");
  };
  auto target = make_target(std::move(settings));
  delivery::HandlerOutcome refused =
      deliver(*target, claim_of(single_finding_event("01-fsbp-ec2-19-critical-failed.json")));
  EXPECT_EQ(refused.outcome, Outcome::kPermanent);
  EXPECT_EQ(refused.error_code, "INVALID_TEMPLATE");
  EXPECT_THAT(refused.detail, HasSubstr("projectId"));
  EXPECT_TRUE(backlog_.issues().empty());
}

// An attempt past its deadline starts no request (it could outlast the lease): retried.
TEST_F(TicketTargetTest, NoRequestStartsAfterTheAttemptsDeadline) {
  auto target = online_target();
  const store::Claim claim = claim_of(single_finding_event("01-fsbp-ec2-19-critical-failed.json"));
  delivery::HandlerOutcome late = target->deliver(claim, SystemClock::instance().now_ms() - 1);
  EXPECT_EQ(late.outcome, Outcome::kRetry);
  EXPECT_EQ(late.error_code, "LEASE_ENDING");
  EXPECT_EQ(backlog_.request_count("POST /api/v2/issues"), 0);
  EXPECT_FALSE(ledger(*target, claim.job.body).has_value());
  ASSERT_EQ(deliver(*target, claim).outcome, Outcome::kDelivered);
  EXPECT_EQ(backlog_.issues().size(), 1u);
}

TEST(SpaceNameTest, NamesTheSpaceAsWrittenInAnyForm) {
  EXPECT_EQ(space_name("https://Acme.backlog.com"), "acme.backlog.com");
  EXPECT_EQ(space_name("https://acme.backlog.com/"), "acme.backlog.com");
  EXPECT_EQ(space_name("https://acme.backlog.com/api/v2"), "acme.backlog.com");
  EXPECT_EQ(space_name("http://127.0.0.1:8080/proxy/backlog/"), "127.0.0.1:8080/proxy/backlog");
}

}  // namespace
}  // namespace hikyaku::integrations::backlog
