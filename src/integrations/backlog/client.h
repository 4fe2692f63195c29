#pragma once
// A client for Backlog's API v2 (Nulab's issue tracker): the calls hikyaku needs to look up a
// project and to file, find, comment on and update issues.
//
//   backlog::Client client({.base_url = "https://acme.backlog.com", .api_key = Secret(key)},
//                          backlog::http_transport());
//   HK_ASSIGN_OR_RETURN(backlog::Project project, client.project("SEC"));
//   HK_ASSIGN_OR_RETURN(int64_t type, backlog::resolve("issue type", "Bug", project.issue_types));
//   HK_ASSIGN_OR_RETURN(backlog::Issue issue, client.create_issue({
//       {"projectId", std::to_string(project.id)}, {"summary", "..."},
//       {"issueTypeId", std::to_string(type)}, {"priorityId", "3"}}));
//
// Requests: `<base_url>/api/v2/<resource>`. The base URL is the space's root; a trailing `/` is
// dropped, a path prefix (a proxy in front of the space) is kept, and a trailing `/api/v2` is
// dropped too so that a URL copied from the API documentation works. The API key travels as the
// `apiKey` query parameter of every request, percent-encoded, as Backlog requires. Writes are
// form-encoded (application/x-www-form-urlencoded, the only encoding Backlog documents); path
// segments (an issue key, a project key) are percent-encoded; GET parameters ride in the query.
//
// Errors name the method and the API path, never the URL: the URL holds the key. No message,
// transport error or recorded response text carries the key, in any encoding (core/redact.h).
// Backlog's error bodies {"errors":[{"message","code","moreInfo"}]} are spelt out:
//   Backlog refused POST /api/v2/issues: HTTP 400, InvalidRequestError (code 7): No issue type.
// Status codes say what the caller can do about it:
//   kUnavailable          429, 5xx, a timeout or connection failure: retrying later may help
//                         (last_response().hints carries X-RateLimit-Remaining / -Reset);
//   kInvalidArgument      400 and other 4xx: the request itself is wrong (and a bad base URL);
//   kFailedPrecondition   401, 403: the key or the user's rights; 3xx: wrong base URL;
//   kNotFound             404: no such project, issue or API;
//   kInternal             a 2xx answer that is not what Backlog answers.
// Ids are 64-bit throughout: Backlog's are past 10^9 and still growing.
//
// Thread safety: a Client is externally synchronized (one caller at a time), as is the
// Transport that http_transport() returns. resolve() is a pure function.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/redact.h"
#include "core/secret.h"
#include "core/status.h"
#include "delivery/request.h"
#include "delivery/retry_policy.h"

namespace hikyaku::integrations::backlog {

// One exchange: how it ended (an HTTP status, or a transport error without one), the answer's
// body and its pacing headers.
struct Response {
  delivery::AttemptResult result;
  std::string body;
  delivery::ResponseHints hints;
};

// Sends one request and waits for its answer.
using Transport = std::function<Response(const delivery::HttpRequest&)>;

// A Transport over its own delivery::HttpClient (keep-alive; one caller thread at a time).
Transport http_transport();

// Form fields in the order they are sent; keys may repeat ("categoryId[]").
using Fields = std::vector<std::pair<std::string, std::string>>;

struct Space {
  // "https://example.backlog.com", any http(s) base URL, trailing '/' fine, a path prefix (a
  // proxy) kept.
  std::string base_url;
  Secret api_key;
  long timeout_ms = 10000;
  std::string ca_file{};  // "" = system trust store
};

struct NamedId {
  int64_t id = 0;
  std::string name;
};

struct CustomField {
  int64_t id = 0;
  int type_id = 0;  // 1 text, 2 sentence, 3 numeric, 4 date, 5 single list, 6 multiple list, ...
  std::string name;
  bool required = false;
};

struct Project {
  int64_t id = 0;
  std::string key;
  std::string name;
  std::string text_formatting_rule;  // "markdown" or "backlog"
  std::vector<NamedId> issue_types, statuses, priorities, resolutions;
  std::vector<CustomField> custom_fields;
};

struct Issue {
  int64_t id = 0;
  std::string key;  // "SEC-12"
  int64_t status_id = 0;
  std::string summary;
  std::string description;  // "" when Backlog has none (null)
};

class Client {
 public:
  Client(Space space, Transport transport);

  // GET /projects/:idOrKey, its /issueTypes, /statuses, /customFields, and /priorities,
  // /resolutions (space-wide): six requests.
  Result<Project> project(std::string_view id_or_key);
  // POST /api/v2/issues (form).
  Result<Issue> create_issue(const Fields& fields);
  // PATCH /api/v2/issues/:idOrKey (form).
  Result<Issue> update_issue(std::string_view id_or_key, const Fields& fields);
  // POST /api/v2/issues/:idOrKey/comments; returns the new comment's id.
  Result<int64_t> add_comment(std::string_view id_or_key, std::string_view content);
  // GET /api/v2/issues/:idOrKey.
  Result<Issue> get_issue(std::string_view id_or_key);
  // GET /api/v2/issues?projectId[]=..&keyword=..&count=.. (a "search" request for Backlog's rate
  // limits). An empty keyword lists the project's issues; `count` is 1..100, Backlog's bounds.
  // `newest_first` sorts by creation, newest first (sort=created&order=desc).
  Result<std::vector<Issue>> search_issues(int64_t project_id, std::string_view keyword,
                                           int count = 100, bool newest_first = false);

  // The last exchange (status, transport error, rate-limit hints), for pacing and error codes;
  // its texts are redacted like the messages.
  const Response& last_response() const;

 private:
  // Sends one request to `path` (below the API root, segments encoded) with `query` and, for a
  // write, `form`; returns the answer's body when it is a 2xx, else the error, with a message
  // naming the method and the path. last_ holds the exchange either way.
  Result<std::string> call(std::string_view method, const std::string& path, const Fields& query,
                           const Fields* form);
  std::string redact(std::string_view text) const;

  Space space_;
  Transport transport_;
  std::string api_root_;  // "<base>/api/v2", or "" when the base URL is unusable
  Status base_url_error_;
  Redactor redactor_;  // the key in every encoding it can reach text in
  Response last_;
};

// A configured name or numeric id resolved against `choices`: exact name first, then
// ASCII-case-insensitive name (refused when two choices match that way), then a numeric id
// present in the list. The error (kInvalidArgument) names `what` and lists the valid choices
// with ids. `what` is a noun, optionally followed by where (" in ..."); the value goes after the
// noun:
//   resolve("issue type in project SEC", "Bug", {{1, "Task"}, {2, "Bug2"}}) ->
//   "no issue type 'Bug' in project SEC; it has: Task (1), Bug2 (2)"
Result<int64_t> resolve(std::string_view what, std::string_view name_or_id,
                        const std::vector<NamedId>& choices);

}  // namespace hikyaku::integrations::backlog
