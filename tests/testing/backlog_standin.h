#pragma once
// A stand-in for Backlog's API v2 (Nulab's issue tracker) on 127.0.0.1:<ephemeral port>, so
// tests can file, find, comment on and close issues the way hikyaku does against a real space,
// which cannot be reached from a test. One space, one project, one user (the API key's owner).
//
//   testing::BacklogStandIn backlog({.window = std::chrono::seconds(5), .update_budget = 20});
//   ... point hikyaku at backlog.url("/api/v2/issues") with backlog.api_key() ...
//   ASSERT_TRUE(backlog.wait_for_issues(1));
//   EXPECT_EQ(backlog.issues()[0].status_id, testing::kBacklogStatusOpen);
//   EXPECT_EQ(backlog.request_count("POST /api/v2/issues"), 1);
//
// What it serves, with Backlog's request and response shapes:
//   GET   /api/v2/users/myself, /api/v2/rateLimit, /api/v2/priorities, /api/v2/resolutions
//   GET   /api/v2/projects/:projectIdOrKey[/issueTypes|/statuses|/customFields]
//   POST  /api/v2/issues                          Add Issue -> 201 + issue
//   GET   /api/v2/issues, /api/v2/issues/count    Get Issue List / Count Issue (search kind)
//   GET   /api/v2/issues/:issueIdOrKey            Get Issue
//   PATCH /api/v2/issues/:issueIdOrKey            Update Issue (statusId, resolutionId, comment...)
//   POST  /api/v2/issues/:issueIdOrKey/comments   Add Comment -> 201 + comment
//   GET   /api/v2/issues/:issueIdOrKey/comments   Get Comment List
//
// Behaviour copied from the real service (the .cc says where it had to guess):
// - Every request needs the `apiKey` query parameter; a wrong or missing key is a 401 with
//   error code 11. OAuth bearer tokens are not served.
// - Writes take form-encoded parameters. A JSON object body is accepted too, its members read
//   as parameters: Backlog does not document JSON bodies, but EventBridge API destinations post
//   JSON and issues were created that way in practice, so a verbatim EventBridge configuration
//   must work here as it did there.
// - A write that carries a parameter its endpoint does not know fails with 400 (code 7), as
//   Backlog is reported to do; missing or invalid required parameters fail the same way.
// - Errors are {"errors":[{"message","code","moreInfo"}]}: 400/7 bad parameter, 401/11
//   authentication, 404/6 no such resource, 429/13 rate limit, 500/1 internal error.
// - Rate limits per kind (read: GETs but searches; update: POST/PATCH/DELETE; search: Get Issue
//   List and Count Issue), each a fixed window of `window` with its own budget. Every
//   authenticated answer carries X-RateLimit-Limit, -Remaining and -Reset (epoch seconds); over
//   the budget the answer is 429 with code 13 until the window resets.
// - Ids are 64-bit and start above 2^31, so a client that narrows them to 32 bits is caught.
//
// Thread safety: all methods are thread-safe; requests are served concurrently.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/mutex.h"
#include "testing/scriptable_destination.h"

namespace hikyaku::testing {

// The built-in statuses every project has, with the ids Backlog keeps for them.
inline constexpr int kBacklogStatusOpen = 1;
inline constexpr int kBacklogStatusInProgress = 2;
inline constexpr int kBacklogStatusResolved = 3;
inline constexpr int kBacklogStatusClosed = 4;
// Space-wide priorities and resolutions.
inline constexpr int kBacklogPriorityHigh = 2;
inline constexpr int kBacklogPriorityNormal = 3;
inline constexpr int kBacklogPriorityLow = 4;
inline constexpr int kBacklogResolutionFixed = 0;
inline constexpr int kBacklogResolutionWontFix = 1;

struct BacklogIssueType {
  int64_t id = 0;
  std::string name;
  std::string color = "#7ea800";
};

struct BacklogCustomField {
  int64_t id = 0;
  int type_id = 1;  // 1 text, 2 sentence, 3 numeric, 4 date, 5 single list, ...
  std::string name;
  bool required = false;
};

struct BacklogStandInOptions {
  std::string api_key = "standin-api-key";
  std::string space_key = "standin";  // shows in Location headers: https://<space>.backlog.com
  int64_t project_id = 1073741901;
  std::string project_key = "SEC";
  std::string project_name = "Security findings";
  std::string text_formatting_rule = "markdown";  // or "backlog"
  std::vector<BacklogIssueType> issue_types = {{1073742001, "Bug", "#990000"},
                                               {1073742002, "Task", "#7ea800"},
                                               {1073742003, "Request", "#ff9200"},
                                               {1073742004, "Other", "#2779ca"}};
  std::vector<BacklogCustomField> custom_fields{};
  // Rate limiting: one window length for every kind; budgets are a paid plan's per minute.
  std::chrono::milliseconds window = std::chrono::seconds(60);
  // Windows start at multiples of `window` since the epoch (a whole-minute limiter) instead of at
  // the first request after the last one ended.
  bool aligned_windows = false;
  int read_budget = 600;
  int update_budget = 150;
  int search_budget = 150;
  const Clock* clock = nullptr;   // timestamps and rate windows; the system clock when null
  std::optional<TlsFiles> tls{};  // serve HTTPS with this certificate and key
};

struct BacklogComment {
  int64_t id = 0;
  int64_t issue_id = 0;
  std::optional<std::string> content;  // none for an update that carried no comment
  // Fields an update changed, with their old and new values (Backlog's "changeLog").
  struct Change {
    std::string field;  // "status", "resolution", "summary", ...
    std::string original_value;
    std::string new_value;
  };
  std::vector<Change> change_log;
  std::string created;  // ISO 8601 UTC, as Backlog writes it
};

struct BacklogIssue {
  int64_t id = 0;
  int64_t key_id = 0;     // the number in the issue key
  std::string issue_key;  // "SEC-1"
  int64_t issue_type_id = 0;
  int priority_id = 0;
  int status_id = kBacklogStatusOpen;
  std::optional<int> resolution_id;
  std::string summary;
  std::string description;
  std::map<int64_t, std::string> custom_fields;  // by field id
  std::string created;
  std::string updated;
  std::vector<BacklogComment> comments;  // oldest first
};

class BacklogStandIn {
 public:
  using Options = BacklogStandInOptions;
  enum class Kind { kRead, kUpdate, kSearch };

  explicit BacklogStandIn(Options options = {});
  ~BacklogStandIn();
  BacklogStandIn(const BacklogStandIn&) = delete;
  BacklogStandIn& operator=(const BacklogStandIn&) = delete;

  uint16_t port() const { return destination_.port(); }
  // "http://127.0.0.1:<port><path>" ("https://..." with TLS).
  std::string url(std::string_view path = "/") const { return destination_.url(path); }
  const std::string& api_key() const { return options_.api_key; }
  int64_t project_id() const { return options_.project_id; }
  const std::string& project_key() const { return options_.project_key; }
  const Options& options() const { return options_; }

  // Snapshots.
  std::vector<BacklogIssue> issues() const HK_EXCLUDES(mutex_);
  std::optional<BacklogIssue> issue(std::string_view id_or_key) const HK_EXCLUDES(mutex_);
  // Every request as it arrived (the API key included: keep these out of logs).
  std::vector<RecordedRequest> requests() const { return destination_.requests(); }
  // Requests per endpoint, named by method and path template as Backlog's documentation names
  // them: "POST /api/v2/issues", "PATCH /api/v2/issues/:issueIdOrKey",
  // "POST /api/v2/issues/:issueIdOrKey/comments", "GET /api/v2/projects/:projectIdOrKey", ...
  // Unknown paths count under "<METHOD> ?". Rejected requests (401, 429, injected failures)
  // count too.
  std::map<std::string, int> request_counts() const HK_EXCLUDES(mutex_);
  int request_count(std::string_view endpoint) const HK_EXCLUDES(mutex_);
  // Requests refused with 429 because their kind's budget was spent.
  int throttled_count() const HK_EXCLUDES(mutex_);

  // Adds an issue as if created through the API (no request counted, no budget spent): for a
  // test that starts with a ticket already filed.
  BacklogIssue seed_issue(std::string summary, std::string description,
                          int status_id = kBacklogStatusOpen) HK_EXCLUDES(mutex_);

  // The next `count` requests, whatever they are, fail with `status` (500, 503, ...) and
  // Backlog's internal-error body, before authentication and rate limiting look at them.
  void fail_next(int count, int status = 500) HK_EXCLUDES(mutex_);
  // Called on the serving thread after an issue was added and before the 201 goes out (a test
  // kills its client there: the issue exists, the client never learns it). Null to stop.
  void on_issue_created(std::function<void(const BacklogIssue&)> hook) HK_EXCLUDES(mutex_);
  // Every answer waits this long (real time) first; zero to stop.
  void set_delay(std::chrono::milliseconds delay) HK_EXCLUDES(mutex_);

  // True once at least `count` issues exist; false if `timeout` passed first.
  bool wait_for_issues(size_t count,
                       std::chrono::milliseconds timeout = std::chrono::seconds(20)) const
      HK_EXCLUDES(mutex_);
  // True once the predicate holds for the issues; false if `timeout` passed first.
  bool wait_until(const std::function<bool(const std::vector<BacklogIssue>&)>& condition,
                  std::chrono::milliseconds timeout = std::chrono::seconds(20)) const
      HK_EXCLUDES(mutex_);

 private:
  struct Request;
  struct Answer;
  struct Window {
    std::chrono::system_clock::time_point end{};
    int used = 0;
  };

  ScriptedResponse respond(const RecordedRequest& recorded) HK_EXCLUDES(mutex_);
  Answer route(const Request& request) HK_REQUIRES(mutex_);
  Answer get_project(const Request& request, std::string_view id_or_key, std::string_view resource)
      HK_REQUIRES(mutex_);
  Answer add_issue(const Request& request) HK_REQUIRES(mutex_);
  Answer update_issue(const Request& request, BacklogIssue& issue) HK_REQUIRES(mutex_);
  Answer add_comment(const Request& request, BacklogIssue& issue) HK_REQUIRES(mutex_);
  Answer list_comments(const Request& request, const BacklogIssue& issue) HK_REQUIRES(mutex_);
  Answer list_issues(const Request& request, bool count_only) HK_REQUIRES(mutex_);
  Answer rate_limit_status() HK_REQUIRES(mutex_);
  const BacklogIssue* find_issue(std::string_view id_or_key) const HK_REQUIRES(mutex_);
  BacklogIssue* find_issue(std::string_view id_or_key) HK_REQUIRES(mutex_);
  BacklogIssue& insert_issue(BacklogIssue issue) HK_REQUIRES(mutex_);

  std::string issue_json(const BacklogIssue& issue) const HK_REQUIRES(mutex_);
  std::string comment_json(const BacklogComment& comment) const;
  std::string user_json() const;
  std::string now_text() const;
  int budget(Kind kind) const;

  const Options options_;
  const Clock& clock_;

  mutable Mutex mutex_;
  mutable CondVar changed_;
  std::vector<BacklogIssue> issues_ HK_GUARDED_BY(mutex_);
  int64_t next_issue_id_ HK_GUARDED_BY(mutex_);
  int64_t next_key_id_ HK_GUARDED_BY(mutex_) = 1;
  int64_t next_comment_id_ HK_GUARDED_BY(mutex_);
  std::map<std::string, int> request_counts_ HK_GUARDED_BY(mutex_);
  std::function<void(const BacklogIssue&)> on_issue_created_ HK_GUARDED_BY(mutex_);
  int throttled_ HK_GUARDED_BY(mutex_) = 0;
  std::map<Kind, Window> windows_ HK_GUARDED_BY(mutex_);
  int failures_left_ HK_GUARDED_BY(mutex_) = 0;
  int failure_status_ HK_GUARDED_BY(mutex_) = 500;
  std::chrono::milliseconds delay_ HK_GUARDED_BY(mutex_){0};

  // Last: its threads call respond(), so it must stop before the state above is destroyed.
  ScriptableDestination destination_;
};

}  // namespace hikyaku::testing
