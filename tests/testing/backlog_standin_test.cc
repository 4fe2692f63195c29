// The Backlog stand-in, tested through the test HTTP client: the shapes, status codes, error
// bodies and rate-limit fields a Backlog client relies on.

#include "testing/backlog_standin.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "testing/encodings.h"
#include "testing/fake_clock.h"
#include "testing/http_client.h"

namespace hikyaku::testing {
namespace {

using ::testing::HasSubstr;

// A parsed response body; keeps its parser alive for the elements handed out.
class Json {
 public:
  explicit Json(const std::string& text) : parser_(std::make_unique<simdjson::dom::parser>()) {
    const auto error = parser_->parse(text).get(root_);
    EXPECT_EQ(error, simdjson::SUCCESS) << text;
  }
  simdjson::dom::element operator[](std::string_view key) const { return root_[key].value(); }
  simdjson::dom::element root() const { return root_; }

 private:
  std::unique_ptr<simdjson::dom::parser> parser_;
  simdjson::dom::element root_;
};

std::string text(simdjson::dom::element element) {
  return std::string(element.get_string().value());
}
int64_t number(simdjson::dom::element element) { return element.get_int64().value(); }

// The error code of a Backlog error body.
int64_t error_code(const Response& response) {
  const Json body(response.body);
  return number(body["errors"].at(0)["code"].value());
}

const Headers kForm = {{"Content-Type", "application/x-www-form-urlencoded"}};

class BacklogStandInTest : public ::testing::Test {
 protected:
  explicit BacklogStandInTest(BacklogStandIn::Options options = {})
      : backlog_(std::move(options)), client_("127.0.0.1", backlog_.port()) {}

  std::string with_key(const std::string& path) {
    return path + (path.find('?') == std::string::npos ? "?" : "&") +
           "apiKey=" + backlog_.api_key();
  }
  std::string issue_form(const std::string& summary, const std::string& description) {
    return "projectId=" + std::to_string(backlog_.project_id()) +
           "&summary=" + percent_encoded(summary, false, true) + "&issueTypeId=1073742001" +
           "&priorityId=2&description=" + percent_encoded(description, false, true);
  }
  Response create(const std::string& summary, const std::string& description) {
    return client_.request("POST", with_key("/api/v2/issues"), kForm,
                           issue_form(summary, description));
  }

  BacklogStandIn backlog_;
  HttpClient client_;
};

TEST_F(BacklogStandInTest, AddIssueAnswers201WithTheIssue) {
  const Response response = create("[CRITICAL] EC2.19 open ports", "Marker: hk-fp-0a1b\nmore");
  ASSERT_TRUE(response.ok()) << response.error;
  EXPECT_EQ(response.status, 201) << response.body;
  EXPECT_THAT(response.header("content-type"), HasSubstr("application/json"));
  EXPECT_EQ(response.header("location"), "https://standin.backlog.com/view/SEC-1");
  const Json issue(response.body);
  EXPECT_GT(number(issue["id"]), int64_t{1} << 31);
  EXPECT_EQ(text(issue["issueKey"]), "SEC-1");
  EXPECT_EQ(number(issue["keyId"]), 1);
  EXPECT_EQ(number(issue["projectId"]), backlog_.project_id());
  EXPECT_EQ(text(issue["summary"]), "[CRITICAL] EC2.19 open ports");
  EXPECT_EQ(text(issue["description"]), "Marker: hk-fp-0a1b\nmore");
  EXPECT_EQ(number(issue["status"]["id"].value()), kBacklogStatusOpen);
  EXPECT_EQ(text(issue["status"]["name"].value()), "Open");
  EXPECT_EQ(number(issue["priority"]["id"].value()), kBacklogPriorityHigh);
  EXPECT_EQ(text(issue["issueType"]["name"].value()), "Bug");
  EXPECT_TRUE(issue["resolution"].is_null());
  EXPECT_TRUE(issue["customFields"].is_array());

  ASSERT_EQ(backlog_.issues().size(), 1u);
  EXPECT_EQ(backlog_.issues()[0].issue_key, "SEC-1");
  EXPECT_EQ(backlog_.request_count("POST /api/v2/issues"), 1);
  EXPECT_EQ(create("second", "").status, 201);
  EXPECT_EQ(backlog_.issues()[1].issue_key, "SEC-2");
}

TEST_F(BacklogStandInTest, AddIssueTakesTheJsonBodyAnEventBridgeDestinationPosts) {
  const std::string body = R"({"projectId": ")" + std::to_string(backlog_.project_id()) +
                           R"(", "summary": "From EventBridge", "description": "Line<br />two",)"
                           R"( "issueTypeId": "1073742002", "priorityId": "3"})";
  const Response response =
      client_.request("POST", with_key("/api/v2/issues"),
                      {{"Content-Type", "application/json"}, {"dummy-key", "dummy-value"}}, body);
  EXPECT_EQ(response.status, 201) << response.body;
  ASSERT_EQ(backlog_.issues().size(), 1u);
  EXPECT_EQ(backlog_.issues()[0].summary, "From EventBridge");
  EXPECT_EQ(backlog_.issues()[0].priority_id, kBacklogPriorityNormal);
}

TEST_F(BacklogStandInTest, KeywordSearchFindsAnIssueByAMarkerInItsDescription) {
  ASSERT_EQ(create("one", "finding hk-fp-aaaa").status, 201);
  ASSERT_EQ(create("two", "finding hk-fp-bbbb").status, 201);
  const std::string project = "projectId%5B%5D=" + std::to_string(backlog_.project_id());

  const Response found =
      client_.get(with_key("/api/v2/issues?" + project + "&keyword=HK-FP-BBBB&count=100"));
  ASSERT_EQ(found.status, 200) << found.body;
  const Json list(found.body);
  ASSERT_EQ(list.root().get_array().size(), 1u);
  EXPECT_EQ(text(list.root().at(0)["summary"].value()), "two");

  const Json none(client_.get(with_key("/api/v2/issues?keyword=hk-fp-cccc")).body);
  EXPECT_EQ(none.root().get_array().size(), 0u);
  const Json all(client_.get(with_key("/api/v2/issues?" + project)).body);
  ASSERT_EQ(all.root().get_array().size(), 2u);
  EXPECT_EQ(text(all.root().at(0)["summary"].value()), "two");  // newest first by default
  const Json open(client_.get(with_key("/api/v2/issues/count?statusId%5B%5D=1")).body);
  EXPECT_EQ(number(open["count"]), 2);
  const Json closed(client_.get(with_key("/api/v2/issues/count?statusId%5B%5D=4")).body);
  EXPECT_EQ(number(closed["count"]), 0);
  EXPECT_EQ(client_.get(with_key("/api/v2/issues?count=101")).status, 400);
  EXPECT_EQ(backlog_.request_count("GET /api/v2/issues"), 4);
}

TEST_F(BacklogStandInTest, CommentsAreAddedAndListed) {
  ASSERT_EQ(create("one", "").status, 201);
  const Response added = client_.request("POST", with_key("/api/v2/issues/SEC-1/comments"), kForm,
                                         "content=" + percent_encoded("重大度が上がりました"));
  EXPECT_EQ(added.status, 201) << added.body;
  const Json comment(added.body);
  EXPECT_EQ(text(comment["content"]), "重大度が上がりました");
  EXPECT_EQ(number(comment["issueId"]), backlog_.issues()[0].id);
  EXPECT_THAT(added.header("location"), HasSubstr("/view/SEC-1#comment-"));

  const Response empty =
      client_.request("POST", with_key("/api/v2/issues/SEC-1/comments"), kForm, "content=");
  EXPECT_EQ(empty.status, 400);
  EXPECT_EQ(error_code(empty), 7);

  const Json list(client_.get(with_key("/api/v2/issues/SEC-1/comments")).body);
  ASSERT_EQ(list.root().get_array().size(), 1u);
  ASSERT_EQ(backlog_.issues()[0].comments.size(), 1u);
  EXPECT_EQ(backlog_.issues()[0].comments[0].content, "重大度が上がりました");
}

TEST_F(BacklogStandInTest, UpdateIssueClosesWithAResolutionAndAComment) {
  ASSERT_EQ(create("one", "").status, 201);
  const std::string id = std::to_string(backlog_.issues()[0].id);
  const Response closed = client_.request("PATCH", with_key("/api/v2/issues/" + id), kForm,
                                          "statusId=4&resolutionId=0&comment=PASSED+now");
  ASSERT_EQ(closed.status, 200) << closed.body;
  const Json issue(closed.body);
  EXPECT_EQ(number(issue["status"]["id"].value()), kBacklogStatusClosed);
  EXPECT_EQ(text(issue["resolution"]["name"].value()), "Fixed");

  const BacklogIssue stored = *backlog_.issue("SEC-1");
  EXPECT_EQ(stored.status_id, kBacklogStatusClosed);
  EXPECT_EQ(stored.resolution_id, kBacklogResolutionFixed);
  ASSERT_EQ(stored.comments.size(), 1u);
  EXPECT_EQ(stored.comments[0].content, "PASSED now");
  ASSERT_EQ(stored.comments[0].change_log.size(), 2u);
  EXPECT_EQ(stored.comments[0].change_log[0].field, "status");
  EXPECT_EQ(stored.comments[0].change_log[0].new_value, "Closed");

  const Response reopened =
      client_.request("PATCH", with_key("/api/v2/issues/SEC-1"), kForm, "statusId=1&comment=x");
  EXPECT_EQ(reopened.status, 200);
  EXPECT_EQ(backlog_.issue("SEC-1")->status_id, kBacklogStatusOpen);
  const Response bad_status =
      client_.request("PATCH", with_key("/api/v2/issues/SEC-1"), kForm, "statusId=99");
  EXPECT_EQ(bad_status.status, 400);
  EXPECT_EQ(backlog_.request_count("PATCH /api/v2/issues/:issueIdOrKey"), 3);
}

TEST_F(BacklogStandInTest, AWrongOrMissingApiKeyIs401WithCode11) {
  const Response wrong =
      client_.request("POST", "/api/v2/issues?apiKey=not-the-key", kForm, issue_form("one", ""));
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(error_code(wrong), 11);
  const Response missing = client_.get("/api/v2/projects/SEC");
  EXPECT_EQ(missing.status, 401);
  EXPECT_EQ(error_code(missing), 11);
  EXPECT_TRUE(backlog_.issues().empty());
}

TEST_F(BacklogStandInTest, BadParametersAre400WithCode7) {
  const std::string without_summary =
      "projectId=" + std::to_string(backlog_.project_id()) + "&issueTypeId=1073742001&priorityId=2";
  const Response missing =
      client_.request("POST", with_key("/api/v2/issues"), kForm, without_summary);
  EXPECT_EQ(missing.status, 400);
  EXPECT_EQ(error_code(missing), 7);
  const Response stranger = client_.request("POST", with_key("/api/v2/issues"), kForm,
                                            issue_form("one", "") + "&severity=high");
  EXPECT_EQ(stranger.status, 400);
  EXPECT_THAT(stranger.body, HasSubstr("severity"));
  const Response bad_priority =
      client_.request("POST", with_key("/api/v2/issues"), kForm,
                      "projectId=" + std::to_string(backlog_.project_id()) +
                          "&summary=x&issueTypeId=1073742001&priorityId=1");
  EXPECT_EQ(bad_priority.status, 400);
  const Response too_long = client_.request("POST", with_key("/api/v2/issues"), kForm,
                                            issue_form(std::string(256, 'x'), ""));
  EXPECT_EQ(too_long.status, 400);
  EXPECT_TRUE(backlog_.issues().empty());
}

TEST_F(BacklogStandInTest, AnUnknownIssueOrProjectIs404WithCode6) {
  const Response issue = client_.get(with_key("/api/v2/issues/SEC-42"));
  EXPECT_EQ(issue.status, 404);
  EXPECT_EQ(error_code(issue), 6);
  const Response patch =
      client_.request("PATCH", with_key("/api/v2/issues/9"), kForm, "statusId=4");
  EXPECT_EQ(patch.status, 404);
  const Response project = client_.get(with_key("/api/v2/projects/NOPE"));
  EXPECT_EQ(project.status, 404);
  EXPECT_EQ(error_code(project), 6);
}

TEST_F(BacklogStandInTest, ServesTheProjectAndTheSpaceWideLists) {
  const Json by_key(client_.get(with_key("/api/v2/projects/SEC")).body);
  EXPECT_EQ(number(by_key["id"]), backlog_.project_id());
  EXPECT_EQ(text(by_key["textFormattingRule"]), "markdown");
  const Json by_id(
      client_.get(with_key("/api/v2/projects/" + std::to_string(backlog_.project_id()))).body);
  EXPECT_EQ(text(by_id["projectKey"]), "SEC");

  const Json statuses(client_.get(with_key("/api/v2/projects/SEC/statuses")).body);
  ASSERT_EQ(statuses.root().get_array().size(), 4u);
  EXPECT_EQ(text(statuses.root().at(3)["name"].value()), "Closed");
  EXPECT_EQ(number(statuses.root().at(3)["id"].value()), 4);
  const Json types(client_.get(with_key("/api/v2/projects/SEC/issueTypes")).body);
  EXPECT_EQ(types.root().get_array().size(), 4u);
  const Json priorities(client_.get(with_key("/api/v2/priorities")).body);
  EXPECT_EQ(number(priorities.root().at(0)["id"].value()), 2);
  const Json resolutions(client_.get(with_key("/api/v2/resolutions")).body);
  EXPECT_EQ(number(resolutions.root().at(0)["id"].value()), 0);
  const Response fields = client_.get(with_key("/api/v2/projects/SEC/customFields"));
  EXPECT_EQ(fields.status, 200);
  EXPECT_EQ(fields.body, "[]");
}

TEST_F(BacklogStandInTest, InjectedFailuresAnswerFirstThenServiceResumes) {
  backlog_.fail_next(2, 503);
  EXPECT_EQ(create("one", "").status, 503);
  const Response second = create("one", "");
  EXPECT_EQ(second.status, 503);
  EXPECT_EQ(error_code(second), 1);
  EXPECT_EQ(create("one", "").status, 201);
  EXPECT_EQ(backlog_.issues().size(), 1u);
  EXPECT_EQ(backlog_.request_count("POST /api/v2/issues"), 3);
}

// The fixture's base owns the stand-in, so the clock it reads must exist before the fixture.
FakeClock& rate_clock() {
  static FakeClock clock;
  return clock;
}

TEST_F(BacklogStandInTest, ConcurrentClientsGetDistinctIssueKeys) {
  constexpr int kThreads = 4;
  constexpr int kIssuesEach = 10;
  std::vector<std::thread> threads;
  std::atomic<int> created{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      HttpClient client("127.0.0.1", backlog_.port());
      for (int i = 0; i < kIssuesEach; ++i) {
        created +=
            client.request("POST", with_key("/api/v2/issues"), kForm, issue_form("concurrent", ""))
                .status == 201;
      }
    });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(created, kThreads * kIssuesEach);
  std::set<std::string> keys;
  for (const BacklogIssue& issue : backlog_.issues()) {
    keys.insert(issue.issue_key);
  }
  EXPECT_EQ(keys.size(), size_t{kThreads * kIssuesEach});
  EXPECT_TRUE(keys.contains("SEC-40"));
}

TEST_F(BacklogStandInTest, SeededIssuesAreFoundLikeCreatedOnes) {
  const BacklogIssue seeded = backlog_.seed_issue("filed before", "marker hk-fp-seed");
  EXPECT_EQ(seeded.issue_key, "SEC-1");
  const Json list(client_.get(with_key("/api/v2/issues?keyword=hk-fp-seed")).body);
  ASSERT_EQ(list.root().get_array().size(), 1u);
  EXPECT_EQ(number(list.root().at(0)["id"].value()), seeded.id);
  EXPECT_EQ(backlog_.request_counts().size(), 1u);
}

class BacklogStandInCustomFieldTest : public BacklogStandInTest {
 protected:
  BacklogStandInCustomFieldTest()
      : BacklogStandInTest(
            {.custom_fields = {{.id = 1073750001, .name = "fingerprint", .required = true}}}) {}
};

TEST_F(BacklogStandInCustomFieldTest, ARequiredCustomFieldMustBeGiven) {
  const Response without = create("one", "");
  EXPECT_EQ(without.status, 400);
  EXPECT_EQ(error_code(without), 7);
  const Response unknown = client_.request("POST", with_key("/api/v2/issues"), kForm,
                                           issue_form("one", "") + "&customField_1=x");
  EXPECT_EQ(unknown.status, 400);
  const Response with = client_.request("POST", with_key("/api/v2/issues"), kForm,
                                        issue_form("one", "") + "&customField_1073750001=fp-1");
  ASSERT_EQ(with.status, 201) << with.body;
  const Json issue(with.body);
  EXPECT_EQ(text(issue["customFields"].at(0)["value"].value()), "fp-1");
  EXPECT_EQ(backlog_.issues()[0].custom_fields.at(1073750001), "fp-1");
  const Json fields(client_.get(with_key("/api/v2/projects/SEC/customFields")).body);
  EXPECT_TRUE(fields.root().at(0)["required"].get_bool().value());
}

class BacklogStandInRateLimitTest : public BacklogStandInTest {
 protected:
  BacklogStandInRateLimitTest()
      : BacklogStandInTest(
            {.window = std::chrono::seconds(5), .update_budget = 3, .clock = &rate_clock()}) {}

  FakeClock& clock_ = rate_clock();
};

TEST_F(BacklogStandInRateLimitTest, UpdatesBeyondTheBudgetAre429WithCode13UntilTheReset) {
  const int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(clock_.now().time_since_epoch()).count();
  for (int remaining = 2; remaining >= 0; --remaining) {
    const Response response = create("one", "");
    EXPECT_EQ(response.status, 201);
    EXPECT_EQ(response.header("x-ratelimit-limit"), "3");
    EXPECT_EQ(response.header("x-ratelimit-remaining"), std::to_string(remaining));
    EXPECT_GT(std::stoll(response.header("x-ratelimit-reset")), now);
  }
  const Response limited = create("one", "");
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(error_code(limited), 13);
  EXPECT_EQ(limited.header("x-ratelimit-limit"), "3");
  EXPECT_EQ(limited.header("x-ratelimit-remaining"), "0");
  EXPECT_EQ(std::stoll(limited.header("x-ratelimit-reset")), now + 5);
  EXPECT_EQ(backlog_.issues().size(), 3u);

  // Reads and searches have budgets of their own.
  const Response read = client_.get(with_key("/api/v2/projects/SEC"));
  EXPECT_EQ(read.status, 200);
  EXPECT_EQ(read.header("x-ratelimit-limit"), "600");
  EXPECT_EQ(read.header("x-ratelimit-remaining"), "599");
  EXPECT_EQ(client_.get(with_key("/api/v2/issues")).header("x-ratelimit-limit"), "150");

  clock_.advance(std::chrono::seconds(5));
  const Response after_reset = create("one", "");
  EXPECT_EQ(after_reset.status, 201);
  EXPECT_EQ(after_reset.header("x-ratelimit-remaining"), "2");
}

}  // namespace
}  // namespace hikyaku::testing
