// The Backlog client against the Backlog stand-in over real HTTP on loopback, and against scripted
// transports for what the stand-in cannot produce (timeouts, proxies, unreadable answers).

#include "integrations/backlog/client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "testing/backlog_standin.h"
#include "testing/encodings.h"

namespace hikyaku::integrations::backlog {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

// A key with every kind of byte that changes under encoding, so each encoding is looked for.
constexpr const char* kKey = "k3y/Secret+Value&x=1 end";

void expect_no_key(std::string_view text) {
  EXPECT_THAT(std::string(text), Not(HasSubstr(kKey)));
  EXPECT_THAT(std::string(text), Not(HasSubstr(testing::percent_encoded(kKey))));
  EXPECT_THAT(std::string(text), Not(HasSubstr(testing::percent_encoded(kKey, true))));
  EXPECT_THAT(std::string(text), Not(HasSubstr(testing::percent_encoded(kKey, false, true))));
  EXPECT_THAT(std::string(text), Not(HasSubstr("k3y")));
}

// Every message and recorded text of a failed call: none may hold the key.
void expect_no_key(const Status& status, const Client& client) {
  expect_no_key(status.message());
  expect_no_key(status.to_string());
  expect_no_key(client.last_response().result.error);
  expect_no_key(client.last_response().body);
}

testing::BacklogStandIn::Options standin_options() {
  testing::BacklogStandIn::Options options;
  options.api_key = kKey;
  options.text_formatting_rule = "backlog";
  options.custom_fields = {{4'000'000'001, 1, "Finding ARN", false},
                           {4'000'000'002, 5, "Severity", true}};
  return options;
}

class BacklogClientTest : public ::testing::Test {
 protected:
  explicit BacklogClientTest(testing::BacklogStandIn::Options options = standin_options())
      : backlog_(std::move(options)) {}

  Client client(std::string key = kKey) {
    return Client({.base_url = backlog_.url("/"), .api_key = Secret(std::move(key))},
                  http_transport());
  }

  Fields new_issue(std::string summary, std::string description) {
    return {{"projectId", std::to_string(backlog_.project_id())},
            {"summary", std::move(summary)},
            {"issueTypeId", "1073742002"},
            {"priorityId", "3"},
            {"description", std::move(description)},
            {"customField_4000000002", "High"}};
  }

  testing::BacklogStandIn backlog_;
};

TEST_F(BacklogClientTest, LooksUpTheProjectWithEveryListAndItsIds) {
  Client backlog = client();
  Result<Project> project = backlog.project("SEC");
  ASSERT_TRUE(project.has_value()) << project.error().message();
  EXPECT_EQ(project->id, 1073741901);
  EXPECT_EQ(project->key, "SEC");
  EXPECT_EQ(project->name, "Security findings");
  EXPECT_EQ(project->text_formatting_rule, "backlog");
  ASSERT_EQ(project->issue_types.size(), 4u);
  EXPECT_EQ(project->issue_types[0].id, 1073742001);
  EXPECT_EQ(project->issue_types[0].name, "Bug");
  EXPECT_EQ(project->issue_types[3].name, "Other");
  ASSERT_EQ(project->statuses.size(), 4u);
  EXPECT_EQ(project->statuses[0].id, testing::kBacklogStatusOpen);
  EXPECT_EQ(project->statuses[3].name, "Closed");
  ASSERT_EQ(project->priorities.size(), 3u);
  EXPECT_EQ(project->priorities[0].id, testing::kBacklogPriorityHigh);
  ASSERT_EQ(project->resolutions.size(), 5u);
  EXPECT_EQ(project->resolutions[0].id, testing::kBacklogResolutionFixed);
  EXPECT_EQ(project->resolutions[1].name, "Won't Fix");
  ASSERT_EQ(project->custom_fields.size(), 2u);
  EXPECT_EQ(project->custom_fields[0].id, 4'000'000'001);
  EXPECT_EQ(project->custom_fields[0].type_id, 1);
  EXPECT_EQ(project->custom_fields[0].name, "Finding ARN");
  EXPECT_FALSE(project->custom_fields[0].required);
  EXPECT_EQ(project->custom_fields[1].type_id, 5);
  EXPECT_TRUE(project->custom_fields[1].required);

  // The numeric id works as well as the key, and the lists are read by the project's id.
  Result<Project> by_id = backlog.project("1073741901");
  ASSERT_TRUE(by_id.has_value()) << by_id.error().message();
  EXPECT_EQ(by_id->key, "SEC");
  EXPECT_EQ(backlog_.request_count("GET /api/v2/projects/:projectIdOrKey/issueTypes"), 2);
  EXPECT_EQ(backlog_.request_count("GET /api/v2/priorities"), 2);
  EXPECT_EQ(backlog.last_response().result.http_status, 200);
}

TEST_F(BacklogClientTest, CreatesFindsCommentsOnUpdatesAndGetsAnIssue) {
  Client backlog = client();
  Result<Issue> created = backlog.create_issue(
      new_issue("S3 bucket is public & \"open\"", "Finding: hk-marker-0f3c\n日本語 + more"));
  ASSERT_TRUE(created.has_value()) << created.error().message();
  EXPECT_GT(created->id, int64_t{1} << 31);  // 64-bit ids survive
  EXPECT_EQ(created->key, "SEC-1");
  EXPECT_EQ(created->status_id, testing::kBacklogStatusOpen);
  EXPECT_EQ(created->summary, "S3 bucket is public & \"open\"");
  EXPECT_EQ(created->description, "Finding: hk-marker-0f3c\n日本語 + more");
  EXPECT_EQ(backlog.last_response().result.http_status, 201);
  EXPECT_FALSE(backlog.last_response().hints.rate_limit_remaining.empty());

  // The form went as form fields, in order, and the key as the query parameter.
  const std::vector<testing::RecordedRequest> requests = backlog_.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].header("content-type"), "application/x-www-form-urlencoded");
  EXPECT_THAT(requests[0].body, HasSubstr("summary=S3+bucket+is+public+%26+%22open%22&"));
  EXPECT_EQ(requests[0].query, "apiKey=" + testing::percent_encoded(kKey));
  EXPECT_THAT(requests[0].header("user-agent"), HasSubstr("hikyaku/"));

  ASSERT_TRUE(backlog.create_issue(new_issue("Another finding", "unrelated")).has_value());
  Result<std::vector<Issue>> found =
      backlog.search_issues(backlog_.project_id(), "hk-marker-0f3c", 10);
  ASSERT_TRUE(found.has_value()) << found.error().message();
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].id, created->id);
  EXPECT_EQ(backlog_.request_count("GET /api/v2/issues"), 1);
  Result<std::vector<Issue>> all = backlog.search_issues(backlog_.project_id(), "");
  ASSERT_TRUE(all.has_value()) << all.error().message();
  EXPECT_EQ(all->size(), 2u);

  Result<int64_t> comment = backlog.add_comment(created->key, "Seen again: 2 resources");
  ASSERT_TRUE(comment.has_value()) << comment.error().message();
  EXPECT_GT(*comment, int64_t{1} << 31);

  Result<Issue> updated =
      backlog.update_issue(std::to_string(created->id),
                           {{"statusId", std::to_string(testing::kBacklogStatusClosed)},
                            {"resolutionId", std::to_string(testing::kBacklogResolutionFixed)},
                            {"comment", "Resolved in Security Hub"}});
  ASSERT_TRUE(updated.has_value()) << updated.error().message();
  EXPECT_EQ(updated->status_id, testing::kBacklogStatusClosed);

  Result<Issue> fetched = backlog.get_issue("SEC-1");
  ASSERT_TRUE(fetched.has_value()) << fetched.error().message();
  EXPECT_EQ(fetched->id, created->id);
  EXPECT_EQ(fetched->status_id, testing::kBacklogStatusClosed);

  const std::optional<testing::BacklogIssue> stored = backlog_.issue("SEC-1");
  ASSERT_TRUE(stored.has_value());
  ASSERT_EQ(stored->comments.size(), 2u);
  EXPECT_EQ(stored->comments[0].content, "Seen again: 2 resources");
  EXPECT_EQ(stored->comments[1].content, "Resolved in Security Hub");
}

TEST_F(BacklogClientTest, AWrongKeyIsAFailedPreconditionThatNamesCode11AndNotTheKey) {
  Client backlog = client("k3y-wrong-but-similar");
  Result<Project> project = backlog.project("SEC");
  ASSERT_FALSE(project.has_value());
  EXPECT_EQ(project.error().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(project.error().message(),
            "Backlog refused GET /api/v2/projects/SEC: HTTP 401, AuthenticationError (code 11): "
            "Authentication failure.");
  EXPECT_EQ(backlog.last_response().hints.http_status, 401);
  expect_no_key(project.error(), backlog);
}

TEST_F(BacklogClientTest, ABadParameterIsAnInvalidArgumentWithBacklogsMessage) {
  Client backlog = client();
  Fields fields = new_issue("s", "d");
  fields[2].second = "42";  // no such issue type
  Result<Issue> issue = backlog.create_issue(fields);
  ASSERT_FALSE(issue.has_value());
  EXPECT_EQ(issue.error().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(issue.error().message(),
            "Backlog refused POST /api/v2/issues: HTTP 400, InvalidRequestError (code 7): No "
            "issue type.");
  expect_no_key(issue.error(), backlog);

  Result<std::vector<Issue>> search = backlog.search_issues(backlog_.project_id(), "x", 101);
  ASSERT_FALSE(search.has_value());
  EXPECT_EQ(search.error().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(search.error().message(), HasSubstr("count must be 1..100"));
}

TEST_F(BacklogClientTest, AnUnknownIssueOrProjectIsNotFound) {
  Client backlog = client();
  Result<Issue> issue = backlog.get_issue("SEC-999");
  ASSERT_FALSE(issue.has_value());
  EXPECT_EQ(issue.error().code(), StatusCode::kNotFound);
  EXPECT_EQ(issue.error().message(),
            "Backlog refused GET /api/v2/issues/SEC-999: HTTP 404, NoResourceError (code 6): No "
            "issue.");
  expect_no_key(issue.error(), backlog);

  // Path segments are encoded: a key cannot change the path.
  Result<Project> project = backlog.project("NO/PE");
  ASSERT_FALSE(project.has_value());
  EXPECT_EQ(project.error().code(), StatusCode::kNotFound);
  EXPECT_THAT(project.error().message(), HasSubstr("GET /api/v2/projects/NO%2FPE: HTTP 404"));
  EXPECT_EQ(backlog_.request_count("GET /api/v2/projects/:projectIdOrKey"), 1);
}

TEST_F(BacklogClientTest, AServerErrorIsUnavailable) {
  Client backlog = client();
  backlog_.fail_next(1, 503);
  Result<Issue> issue = backlog.get_issue("SEC-1");
  ASSERT_FALSE(issue.has_value());
  EXPECT_EQ(issue.error().code(), StatusCode::kUnavailable);
  EXPECT_THAT(issue.error().message(), HasSubstr("HTTP 503, InternalError (code 1)"));
}

TEST(BacklogClientConnectionTest, AConnectionFailureIsUnavailableWithoutTheKey) {
  std::string url;
  {
    testing::BacklogStandIn gone(standin_options());
    url = gone.url("/");
  }
  Client backlog({.base_url = url, .api_key = Secret(kKey)}, http_transport());
  Result<Project> project = backlog.project("SEC");
  ASSERT_FALSE(project.has_value());
  EXPECT_EQ(project.error().code(), StatusCode::kUnavailable);
  EXPECT_THAT(project.error().message(),
              HasSubstr("Backlog request GET /api/v2/projects/SEC failed: "));
  EXPECT_EQ(backlog.last_response().result.http_status, 0);
  expect_no_key(project.error(), backlog);
}

class BacklogClientRateLimitTest : public BacklogClientTest {
 protected:
  static testing::BacklogStandIn::Options options() {
    testing::BacklogStandIn::Options options = standin_options();
    options.read_budget = 1;
    return options;
  }
  BacklogClientRateLimitTest() : BacklogClientTest(options()) {}
};

TEST_F(BacklogClientRateLimitTest, TooManyRequestsIsUnavailableWithTheHints) {
  Client backlog = client();
  const testing::BacklogIssue seeded = backlog_.seed_issue("s", "d");
  ASSERT_TRUE(backlog.get_issue(seeded.issue_key).has_value());
  EXPECT_EQ(backlog.last_response().hints.rate_limit_remaining, "0");

  Result<Issue> issue = backlog.get_issue(seeded.issue_key);
  ASSERT_FALSE(issue.has_value());
  EXPECT_EQ(issue.error().code(), StatusCode::kUnavailable);
  EXPECT_THAT(issue.error().message(),
              HasSubstr("Backlog refused GET /api/v2/issues/SEC-1: HTTP 429, TooManyRequestsError "
                        "(code 13): Rate limit exceeded. (the rate limit resets at 20"));
  const Response& last = backlog.last_response();
  EXPECT_EQ(last.result.http_status, 429);
  EXPECT_EQ(last.hints.http_status, 429);
  EXPECT_EQ(last.hints.rate_limit_remaining, "0");
  EXPECT_FALSE(last.hints.rate_limit_reset.empty());
  expect_no_key(issue.error(), backlog);
}

// --- URLs and answers the stand-in cannot produce, through a scripted transport ---------------

struct Script {
  std::vector<delivery::HttpRequest> requests;
  std::vector<Response> answers;  // served in order; then 200 "{}"

  Transport transport() {
    return [this](const delivery::HttpRequest& request) {
      requests.push_back(request);
      if (requests.size() <= answers.size()) {
        return answers[requests.size() - 1];
      }
      Response ok;
      ok.result.http_status = 200;
      ok.body = "{}";
      return ok;
    };
  }
};

Response answer(int status, std::string body) {
  Response response;
  response.result.http_status = status;
  response.hints.http_status = status;
  response.body = std::move(body);
  return response;
}

TEST(BacklogClientUrlTest, APathPrefixIsKeptAndATrailingSlashOrApiV2Dropped) {
  for (const std::string base :
       {"https://proxy.example/backlog", "https://proxy.example/backlog/",
        "https://proxy.example/backlog/api/v2", "https://proxy.example/backlog/api/v2/"}) {
    Script script;
    Client backlog({.base_url = base, .api_key = Secret(kKey)}, script.transport());
    (void)backlog.get_issue("SEC 1");
    ASSERT_EQ(script.requests.size(), 1u);
    EXPECT_EQ(script.requests[0].url,
              "https://proxy.example/backlog/api/v2/issues/SEC%201?apiKey=" +
                  testing::percent_encoded(kKey))
        << base;
    EXPECT_EQ(script.requests[0].method, "GET");
    EXPECT_EQ(script.requests[0].body, "");
  }
}

TEST(BacklogClientUrlTest, SearchParametersPrecedeTheKeyAndWritesAreForms) {
  Script script;
  script.answers = {answer(200, "[]"), answer(200, R"({"id": 9007199254740993})")};
  Client backlog(
      {.base_url = "http://h", .api_key = Secret(kKey), .timeout_ms = 1234, .ca_file = "/ca.pem"},
      script.transport());
  Result<std::vector<Issue>> none = backlog.search_issues(3'000'000'000, "a&b c", 5);
  ASSERT_TRUE(none.has_value()) << none.error().message();
  EXPECT_TRUE(none->empty());
  EXPECT_EQ(script.requests[0].url,
            "http://h/api/v2/issues?projectId%5B%5D=3000000000&keyword=a%26b%20c&count=5&apiKey=" +
                testing::percent_encoded(kKey));
  EXPECT_EQ(script.requests[0].timeout_ms, 1234);
  EXPECT_EQ(script.requests[0].ca_file, "/ca.pem");

  Result<int64_t> comment = backlog.add_comment("SEC-1", "a b+c&d=é");
  ASSERT_TRUE(comment.has_value()) << comment.error().message();
  EXPECT_EQ(*comment, 9007199254740993);
  const delivery::HttpRequest& post = script.requests[1];
  EXPECT_EQ(post.method, "POST");
  EXPECT_EQ(post.body, "content=a+b%2Bc%26d%3D%C3%A9");
  EXPECT_THAT(post.headers, ::testing::Contains(std::pair<std::string, std::string>(
                                "Content-Type", "application/x-www-form-urlencoded")));
}

// A proxy that serves the API under a path prefix, in front of the stand-in: the client's
// requests carry the prefix; the proxy strips it.
TEST_F(BacklogClientTest, WorksThroughAProxyWithAPathPrefix) {
  const std::string proxy_root = "http://proxy.invalid/tools/backlog";
  Transport http = http_transport();
  int proxied = 0;
  Transport proxy = [&](const delivery::HttpRequest& request) {
    EXPECT_TRUE(request.url.starts_with(proxy_root + "/api/v2/")) << "a request went elsewhere";
    delivery::HttpRequest forwarded = request;
    forwarded.url = backlog_.url(request.url.substr(proxy_root.size()));
    ++proxied;
    return http(forwarded);
  };
  Client backlog({.base_url = proxy_root + "/", .api_key = Secret(kKey)}, proxy);
  Result<Project> project = backlog.project("SEC");
  ASSERT_TRUE(project.has_value()) << project.error().message();
  EXPECT_EQ(project->id, 1073741901);
  EXPECT_EQ(proxied, 6);
}

TEST(BacklogClientAnswerTest, TimeoutsAndUnreadableAnswers) {
  Script script;
  Response timeout;
  timeout.result.timed_out = true;
  timeout.result.error = std::string("Operation timed out on https://h/api/v2/issues?apiKey=") +
                         testing::percent_encoded(kKey) + " and " + kKey;
  script.answers = {timeout,
                    answer(200, "<html>proxy login</html>"),
                    answer(201, R"({"id": 1, "issueKey": "SEC-1"})"),
                    answer(502, "<html>\n<h1>Bad gateway</h1></html>"),
                    answer(403, R"({"errors":[{"message":"No rights.","code":5,"moreInfo":"ask"},)"
                                R"({"message":"Also.","code":99,"moreInfo":""}]})"),
                    answer(302, "")};
  Client backlog({.base_url = "https://h", .api_key = Secret(kKey), .timeout_ms = 700},
                 script.transport());

  Result<Issue> timed_out = backlog.get_issue("SEC-1");
  ASSERT_FALSE(timed_out.has_value());
  EXPECT_EQ(timed_out.error().code(), StatusCode::kUnavailable);
  EXPECT_THAT(timed_out.error().message(), HasSubstr("Backlog request GET /api/v2/issues/SEC-1 "
                                                     "failed: Operation timed out on https://h"));
  EXPECT_THAT(timed_out.error().message(), HasSubstr("(timed out after 700 ms)"));
  expect_no_key(timed_out.error(), backlog);

  Result<Issue> html = backlog.get_issue("SEC-1");
  ASSERT_FALSE(html.has_value());
  EXPECT_EQ(html.error().code(), StatusCode::kInternal);
  EXPECT_EQ(html.error().message(),
            "Backlog answered GET /api/v2/issues/SEC-1 with HTTP 200 that hikyaku cannot read: it "
            "is not JSON");

  Result<Issue> partial = backlog.create_issue({{"summary", "s"}});
  ASSERT_FALSE(partial.has_value());
  EXPECT_EQ(partial.error().code(), StatusCode::kInternal);
  EXPECT_THAT(partial.error().message(), HasSubstr("it has no \"status\""));

  Result<Issue> gateway = backlog.get_issue("SEC-1");
  ASSERT_FALSE(gateway.has_value());
  EXPECT_EQ(gateway.error().code(), StatusCode::kUnavailable);
  EXPECT_EQ(gateway.error().message(),
            "Backlog refused GET /api/v2/issues/SEC-1: HTTP 502, not Backlog's error form: "
            "<html> <h1>Bad gateway</h1></html>");

  Result<Issue> forbidden = backlog.get_issue("SEC-1");
  ASSERT_FALSE(forbidden.has_value());
  EXPECT_EQ(forbidden.error().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(forbidden.error().message(),
            "Backlog refused GET /api/v2/issues/SEC-1: HTTP 403, UnauthorizedOperationError (code "
            "5): No rights. (ask); error code 99: Also.");

  Result<Issue> redirect = backlog.get_issue("SEC-1");
  ASSERT_FALSE(redirect.has_value());
  EXPECT_EQ(redirect.error().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(redirect.error().message(), "Backlog refused GET /api/v2/issues/SEC-1: HTTP 302");
}

TEST(BacklogClientAnswerTest, AnUnusableBaseUrlSendsNothing) {
  for (const std::string base : {"", "example.backlog.com", "ftp://h", "https://", "https:///x",
                                 "https://h/?apiKey=k3y-in-the-url"}) {
    Script script;
    Client backlog({.base_url = base, .api_key = Secret(kKey)}, script.transport());
    Result<Project> project = backlog.project("SEC");
    ASSERT_FALSE(project.has_value()) << base;
    EXPECT_EQ(project.error().code(), StatusCode::kInvalidArgument) << base;
    EXPECT_THAT(project.error().message(), HasSubstr("Backlog base URL")) << base;
    expect_no_key(project.error(), backlog);
    EXPECT_TRUE(script.requests.empty()) << base;
  }
}

// --- resolve() -------------------------------------------------------------------------------

const std::vector<NamedId> kTypes = {{1, "Task"}, {2, "Bug2"}, {3, "bug"}, {4'000'000'000, "12"}};

TEST(BacklogResolveTest, ExactNameThenCaseInsensitiveNameThenId) {
  EXPECT_EQ(resolve("issue type", "Task", kTypes).value(), 1);
  EXPECT_EQ(resolve("issue type", "task", kTypes).value(), 1);
  EXPECT_EQ(resolve("issue type", "BUG2", kTypes).value(), 2);
  EXPECT_EQ(resolve("issue type", "bug", kTypes).value(), 3);
  EXPECT_EQ(resolve("issue type", "BUG", kTypes).value(), 3);
  EXPECT_EQ(resolve("issue type", "2", kTypes).value(), 2);
  EXPECT_EQ(resolve("issue type", "4000000000", kTypes).value(), 4'000'000'000);
  // A name that reads as a number is a name first.
  EXPECT_EQ(resolve("issue type", "12", kTypes).value(), 4'000'000'000);
}

TEST(BacklogResolveTest, TheErrorListsTheChoicesWithIds) {
  const std::vector<NamedId> types = {{1, "Task"}, {2, "Bug2"}};
  Result<int64_t> missing = resolve("issue type in project SEC", "Bug", types);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(missing.error().message(),
            "no issue type 'Bug' in project SEC; it has: Task (1), Bug2 (2)");
  EXPECT_EQ(resolve("priority", "7", {{2, "High"}}).error().message(),
            "no priority '7'; it has: High (2)");
  EXPECT_EQ(resolve("resolution", "Fixed", {}).error().message(),
            "no resolution 'Fixed'; it has none");
  EXPECT_EQ(resolve("status", "", {{1, "Open"}}).error().message(),
            "no status ''; it has: Open (1)");
}

TEST(BacklogResolveTest, TwoNamesDifferingOnlyInCaseAreAmbiguousUnlessOneIsExact) {
  const std::vector<NamedId> choices = {{1, "Bug"}, {2, "BUG"}};
  EXPECT_EQ(resolve("issue type", "BUG", choices).value(), 2);
  Result<int64_t> ambiguous = resolve("issue type", "bug", choices);
  ASSERT_FALSE(ambiguous.has_value());
  EXPECT_EQ(ambiguous.error().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(ambiguous.error().message(), HasSubstr("Bug (1) and BUG (2)"));
}

}  // namespace
}  // namespace hikyaku::integrations::backlog
