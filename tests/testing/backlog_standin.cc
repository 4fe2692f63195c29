#include "testing/backlog_standin.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <span>
#include <utility>

#include "core/json_writer.h"
#include "core/time.h"
#include "core/url_encoding.h"

namespace hikyaku::testing {

namespace {

// Ids start above 2^31: Backlog's ids are 64-bit values already past 10^9, and a client that
// keeps them in 32 bits must fail here rather than in production.
constexpr int64_t kFirstIssueId = 3'000'000'001;
constexpr int64_t kFirstCommentId = 5'000'000'001;
constexpr int64_t kUserId = 1'073'741'830;

// Backlog's error codes (its error-response page numbers them 1..13).
constexpr int kInternalError = 1;
constexpr int kNoResourceError = 6;
constexpr int kInvalidRequestError = 7;
constexpr int kAuthenticationError = 11;
constexpr int kTooManyRequestsError = 13;

// Summaries longer than this are refused. Backlog does not document the limit; 255 is what
// integrators assume, and refusing here makes a client's truncation testable.
constexpr size_t kSummaryMaxCharacters = 255;

struct StatusInfo {
  int id;
  const char* name;
  const char* color;
};
constexpr StatusInfo kStatuses[] = {{1, "Open", "#ed8077"},
                                    {2, "In Progress", "#4488c5"},
                                    {3, "Resolved", "#5eb5a6"},
                                    {4, "Closed", "#b0be3c"}};
struct NamedId {
  int id;
  const char* name;
};
constexpr NamedId kPriorities[] = {{2, "High"}, {3, "Normal"}, {4, "Low"}};
constexpr NamedId kResolutions[] = {
    {0, "Fixed"}, {1, "Won't Fix"}, {2, "Invalid"}, {3, "Duplicate"}, {4, "Cannot Reproduce"}};

const StatusInfo* find_status(int64_t id) {
  for (const StatusInfo& status : kStatuses) {
    if (status.id == id) {
      return &status;
    }
  }
  return nullptr;
}

template <size_t N>
const NamedId* find_named(const NamedId (&table)[N], int64_t id) {
  for (const NamedId& entry : table) {
    if (entry.id == id) {
      return &entry;
    }
  }
  return nullptr;
}

std::optional<int64_t> parse_integer(std::string_view text) {
  int64_t value = 0;
  const char* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, value);
  if (text.empty() || error != std::errc() || stop != end) {
    return std::nullopt;
  }
  return value;
}

std::string lower_ascii(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

size_t utf8_characters(std::string_view text) {
  return static_cast<size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

bool is_date(std::string_view text) {  // yyyy-MM-dd, the only date form Backlog takes
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') {
    return false;
  }
  for (const size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (std::isdigit(static_cast<unsigned char>(text[i])) == 0) {
      return false;
    }
  }
  return true;
}

using Parameters = std::multimap<std::string, std::string>;

void add_form_pairs(std::string_view text, Parameters& out) {
  while (!text.empty()) {
    const size_t amp = text.find('&');
    const std::string_view pair = text.substr(0, amp);
    text = amp == std::string_view::npos ? std::string_view() : text.substr(amp + 1);
    if (pair.empty()) {
      continue;
    }
    const size_t equals = pair.find('=');
    out.emplace(form_decode(pair.substr(0, equals)),
                equals == std::string_view::npos ? "" : form_decode(pair.substr(equals + 1)));
  }
}

// A JSON object body read as parameters: strings as they are, numbers and booleans as their
// JSON text, arrays as the key repeated, nulls left out. The real service's handling of JSON is
// undocumented; this is the reading under which EventBridge's all-string bodies created issues.
bool add_json_members(const std::string& body, Parameters& out, std::string& error) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  simdjson::dom::object object;
  if (parser.parse(body).get(root) != simdjson::SUCCESS ||
      root.get_object().get(object) != simdjson::SUCCESS) {
    error = "The request body is not a JSON object.";
    return false;
  }
  const auto scalar = [](simdjson::dom::element value) -> std::optional<std::string> {
    switch (value.type()) {
      case simdjson::dom::element_type::STRING:
        return std::string(value.get_string().value());
      case simdjson::dom::element_type::INT64:
        return std::to_string(value.get_int64().value());
      case simdjson::dom::element_type::UINT64:
        return std::to_string(value.get_uint64().value());
      case simdjson::dom::element_type::DOUBLE:
        return fmt::format("{}", value.get_double().value());
      case simdjson::dom::element_type::BOOL:
        return value.get_bool().value() ? "true" : "false";
      default:
        return std::nullopt;
    }
  };
  for (const auto field : object) {
    const std::string key(field.key);
    if (field.value.is_null()) {
      continue;
    }
    if (field.value.is_array()) {
      for (const simdjson::dom::element item : field.value.get_array().value()) {
        std::optional<std::string> text = scalar(item);
        if (!text) {
          error = "Invalid value for " + key + ".";
          return false;
        }
        out.emplace(key, std::move(*text));
      }
      continue;
    }
    std::optional<std::string> text = scalar(field.value);
    if (!text) {
      error = "Invalid value for " + key + ".";
      return false;
    }
    out.emplace(key, std::move(*text));
  }
  return true;
}

std::string errors_body(std::string_view message, int code) {
  JsonWriter json;
  json.begin_object();
  json.key("errors");
  json.begin_array();
  json.begin_object();
  json.key("message");
  json.string(message);
  json.key("code");
  json.number(int64_t{code});
  json.key("moreInfo");
  json.string("");
  json.end_object();
  json.end_array();
  json.end_object();
  return json.take();
}

// The endpoint a path names, as the documentation writes it, or "?" for none.
std::string endpoint_template(const std::vector<std::string>& segments) {
  const size_t n = segments.size();
  if (n == 1 && (segments[0] == "issues" || segments[0] == "priorities" ||
                 segments[0] == "resolutions" || segments[0] == "rateLimit")) {
    return "/api/v2/" + segments[0];
  }
  if (n == 2 && segments[0] == "users" && segments[1] == "myself") {
    return "/api/v2/users/myself";
  }
  if (segments.empty() || segments[n - 1].empty()) {
    return "?";  // a trailing slash fails on the real service too
  }
  if (segments[0] == "issues") {
    if (n == 2) {
      return segments[1] == "count" ? "/api/v2/issues/count" : "/api/v2/issues/:issueIdOrKey";
    }
    if (n == 3 && segments[2] == "comments") {
      return "/api/v2/issues/:issueIdOrKey/comments";
    }
  }
  if (segments[0] == "projects") {
    if (n == 2) {
      return "/api/v2/projects/:projectIdOrKey";
    }
    if (n == 3 && (segments[2] == "issueTypes" || segments[2] == "statuses" ||
                   segments[2] == "customFields")) {
      return "/api/v2/projects/:projectIdOrKey/" + segments[2];
    }
  }
  return "?";
}

}  // namespace

struct BacklogStandIn::Request {
  std::string method;
  std::string endpoint;               // "/api/v2/issues/:issueIdOrKey"
  std::vector<std::string> segments;  // the path after /api/v2/, decoded
  Parameters query;                   // apiKey included
  Parameters form;                    // a write's parameters: body and query, without apiKey
  std::string body_error;             // a JSON body that could not be read

  std::optional<std::string> first(const Parameters& from, const std::string& key) const {
    const auto found = from.find(key);
    return found == from.end() ? std::nullopt : std::optional(found->second);
  }
  std::vector<std::string> all(const Parameters& from, const std::string& key) const {
    std::vector<std::string> values;
    for (auto [it, end] = from.equal_range(key); it != end; ++it) {
      values.push_back(it->second);
    }
    return values;
  }
};

struct BacklogStandIn::Answer {
  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers{};
};

namespace {

BacklogStandIn::Kind kind_of(std::string_view method, std::string_view endpoint) {
  if (method != "GET" && method != "HEAD") {
    return BacklogStandIn::Kind::kUpdate;
  }
  return endpoint == "/api/v2/issues" || endpoint == "/api/v2/issues/count"
             ? BacklogStandIn::Kind::kSearch
             : BacklogStandIn::Kind::kRead;
}

}  // namespace

BacklogStandIn::BacklogStandIn(Options options)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : SystemClock::instance()),
      next_issue_id_(kFirstIssueId),
      next_comment_id_(kFirstCommentId),
      destination_(DestinationOptions{
          .tls = options_.tls,
          .clock = options_.clock,
          .responder = [this](const RecordedRequest& request) { return respond(request); },
      }) {}

BacklogStandIn::~BacklogStandIn() = default;

std::vector<BacklogIssue> BacklogStandIn::issues() const {
  MutexLock lock(mutex_);
  return issues_;
}

std::optional<BacklogIssue> BacklogStandIn::issue(std::string_view id_or_key) const {
  MutexLock lock(mutex_);
  const BacklogIssue* found = find_issue(id_or_key);
  return found == nullptr ? std::nullopt : std::optional(*found);
}

std::map<std::string, int> BacklogStandIn::request_counts() const {
  MutexLock lock(mutex_);
  return request_counts_;
}

int BacklogStandIn::request_count(std::string_view endpoint) const {
  MutexLock lock(mutex_);
  const auto found = request_counts_.find(std::string(endpoint));
  return found == request_counts_.end() ? 0 : found->second;
}

BacklogIssue BacklogStandIn::seed_issue(std::string summary, std::string description,
                                        int status_id) {
  BacklogIssue issue;
  issue.summary = std::move(summary);
  issue.description = std::move(description);
  issue.status_id = status_id;
  issue.issue_type_id = options_.issue_types.empty() ? 0 : options_.issue_types.front().id;
  issue.priority_id = kBacklogPriorityNormal;
  BacklogIssue copy;
  {
    MutexLock lock(mutex_);
    copy = insert_issue(std::move(issue));
  }
  changed_.notify_all();
  return copy;
}

void BacklogStandIn::fail_next(int count, int status) {
  MutexLock lock(mutex_);
  failures_left_ = count;
  failure_status_ = status;
}

void BacklogStandIn::set_delay(std::chrono::milliseconds delay) {
  MutexLock lock(mutex_);
  delay_ = delay;
}

bool BacklogStandIn::wait_for_issues(size_t count, std::chrono::milliseconds timeout) const {
  MutexLock lock(mutex_);
  return changed_.wait_for(lock, timeout,
                           [&]() HK_REQUIRES(mutex_) { return issues_.size() >= count; });
}

bool BacklogStandIn::wait_until(
    const std::function<bool(const std::vector<BacklogIssue>&)>& condition,
    std::chrono::milliseconds timeout) const {
  MutexLock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&]() HK_REQUIRES(mutex_) { return condition(issues_); });
}

int BacklogStandIn::budget(Kind kind) const {
  switch (kind) {
    case Kind::kRead:
      return options_.read_budget;
    case Kind::kUpdate:
      return options_.update_budget;
    case Kind::kSearch:
      return options_.search_budget;
  }
  return 0;
}

std::string BacklogStandIn::now_text() const { return format_rfc3339_seconds(clock_.now()); }

ScriptedResponse BacklogStandIn::respond(const RecordedRequest& recorded) {
  Request request;
  request.method = recorded.method;
  add_form_pairs(recorded.query, request.query);
  constexpr std::string_view kPrefix = "/api/v2/";
  if (recorded.path.starts_with(kPrefix)) {
    std::string_view rest = std::string_view(recorded.path).substr(kPrefix.size());
    for (;;) {
      const size_t slash = rest.find('/');
      request.segments.push_back(percent_decode(rest.substr(0, slash)));
      if (slash == std::string_view::npos) {
        break;
      }
      rest.remove_prefix(slash + 1);
    }
  }
  request.endpoint = endpoint_template(request.segments);
  const Kind kind = kind_of(request.method, request.endpoint);
  if (kind == Kind::kUpdate) {
    // Parameters may ride in the query as well as the body, as a servlet-style reader allows
    // (whether Backlog honours query parameters on writes is not documented).
    request.form = request.query;
    request.form.erase("apiKey");
    const std::string type = lower_ascii(recorded.header("content-type"));
    if (type.starts_with("application/x-www-form-urlencoded")) {
      add_form_pairs(recorded.body, request.form);
    } else if (type.starts_with("application/json")) {
      (void)add_json_members(recorded.body, request.form, request.body_error);
    }
  }

  ScriptedResponse response;
  response.headers.emplace_back("Content-Type", "application/json;charset=utf-8");
  Answer answer;
  {
    MutexLock lock(mutex_);
    response.delay = delay_;
    ++request_counts_[request.method + " " + request.endpoint];
    const auto api_key = request.first(request.query, "apiKey");
    if (failures_left_ > 0) {
      // A failing front end answers before the application sees the user, so no budget is
      // spent and no rate-limit fields are sent.
      --failures_left_;
      answer = {failure_status_, errors_body("Internal server error.", kInternalError)};
    } else if (!api_key || *api_key != options_.api_key) {
      // Limits are per user, and an unknown key names none: no rate-limit fields here either.
      answer = {401, errors_body("Authentication failure.", kAuthenticationError)};
    } else {
      Window& window = windows_[kind];
      const auto now = clock_.now();
      if (now >= window.end) {
        auto end = now + options_.window;
        if (options_.aligned_windows) {
          const auto length =
              std::chrono::duration_cast<std::chrono::system_clock::duration>(options_.window);
          end =
              std::chrono::system_clock::time_point((now.time_since_epoch() / length + 1) * length);
        }
        window = {end, 0};
      }
      const int limit = budget(kind);
      const bool over = window.used >= limit;
      if (!over) {
        ++window.used;
      } else {
        ++throttled_;
      }
      const auto reset_seconds =
          std::chrono::ceil<std::chrono::seconds>(window.end.time_since_epoch()).count();
      answer = over ? Answer{429, errors_body("Rate limit exceeded.", kTooManyRequestsError)}
                    : route(request);
      answer.headers.emplace_back("X-RateLimit-Limit", std::to_string(limit));
      answer.headers.emplace_back("X-RateLimit-Remaining", std::to_string(limit - window.used));
      answer.headers.emplace_back("X-RateLimit-Reset", std::to_string(reset_seconds));
    }
  }
  changed_.notify_all();
  if (answer.status == 201 && request.method == "POST" && request.endpoint == "/api/v2/issues") {
    std::function<void(const BacklogIssue&)> hook;
    BacklogIssue created;
    {
      MutexLock lock(mutex_);
      hook = on_issue_created_;
      created = issues_.back();
    }
    if (hook) {
      hook(created);
    }
  }
  response.status = answer.status;
  response.body = std::move(answer.body);
  for (auto& header : answer.headers) {
    response.headers.push_back(std::move(header));
  }
  return response;
}

BacklogStandIn::Answer BacklogStandIn::route(const Request& request) {
  const std::string& endpoint = request.endpoint;
  const bool get = request.method == "GET" || request.method == "HEAD";
  if (endpoint == "?") {
    return {404, errors_body("No such API.", kNoResourceError)};
  }
  if (!request.body_error.empty()) {
    return {400, errors_body(request.body_error, kInvalidRequestError)};
  }
  const auto wrong_method = [] {
    return Answer{405, errors_body("Method not allowed.", kInvalidRequestError)};
  };
  if (endpoint == "/api/v2/users/myself") {
    return get ? Answer{200, user_json()} : wrong_method();
  }
  if (endpoint == "/api/v2/rateLimit") {
    return get ? rate_limit_status() : wrong_method();
  }
  if (endpoint == "/api/v2/priorities" || endpoint == "/api/v2/resolutions") {
    if (!get) {
      return wrong_method();
    }
    JsonWriter json;
    json.begin_array();
    const bool priorities = endpoint == "/api/v2/priorities";
    const auto write = [&](const NamedId& entry) {
      json.begin_object();
      json.key("id");
      json.number(int64_t{entry.id});
      json.key("name");
      json.string(entry.name);
      json.end_object();
    };
    if (priorities) {
      std::for_each(std::begin(kPriorities), std::end(kPriorities), write);
    } else {
      std::for_each(std::begin(kResolutions), std::end(kResolutions), write);
    }
    json.end_array();
    return {200, json.take()};
  }
  if (request.segments[0] == "projects") {
    if (!get) {
      return wrong_method();
    }
    return get_project(request, request.segments[1],
                       request.segments.size() > 2 ? request.segments[2] : "");
  }
  if (endpoint == "/api/v2/issues") {
    if (request.method == "POST") {
      return add_issue(request);
    }
    return get ? list_issues(request, false) : wrong_method();
  }
  if (endpoint == "/api/v2/issues/count") {
    return get ? list_issues(request, true) : wrong_method();
  }
  BacklogIssue* issue = find_issue(request.segments[1]);
  const bool comments = endpoint == "/api/v2/issues/:issueIdOrKey/comments";
  if (!(get || (request.method == "PATCH" && !comments) ||
        (request.method == "POST" && comments))) {
    return wrong_method();
  }
  if (issue == nullptr) {
    return {404, errors_body("No issue.", kNoResourceError)};
  }
  if (comments) {
    return get ? list_comments(request, *issue) : add_comment(request, *issue);
  }
  return get ? Answer{200, issue_json(*issue)} : update_issue(request, *issue);
}

BacklogStandIn::Answer BacklogStandIn::get_project(const Request& /*request*/,
                                                   std::string_view id_or_key,
                                                   std::string_view resource) {
  if (id_or_key != options_.project_key && id_or_key != std::to_string(options_.project_id)) {
    return {404, errors_body("No project.", kNoResourceError)};
  }
  JsonWriter json;
  if (resource.empty()) {
    json.begin_object();
    json.key("id");
    json.number(options_.project_id);
    json.key("projectKey");
    json.string(options_.project_key);
    json.key("name");
    json.string(options_.project_name);
    for (const char* flag :
         {"chartEnabled", "useResolvedForChart", "subtaskingEnabled", "grandchildIssueEnabled",
          "projectLeaderCanEditProjectLeader", "useWiki", "useDocument", "useFileSharing",
          "useWikiTreeView", "useOriginalImageSizeAtWiki", "useSubversion", "useGit"}) {
      json.key(flag);
      json.boolean(false);
    }
    json.key("textFormattingRule");
    json.string(options_.text_formatting_rule);
    json.key("archived");
    json.boolean(false);
    json.key("displayOrder");
    json.number(int64_t{0});
    json.key("useDevAttributes");
    json.boolean(false);
    json.end_object();
    return {200, json.take()};
  }
  json.begin_array();
  if (resource == "issueTypes") {
    int64_t order = 0;
    for (const BacklogIssueType& type : options_.issue_types) {
      json.begin_object();
      json.key("id");
      json.number(type.id);
      json.key("projectId");
      json.number(options_.project_id);
      json.key("name");
      json.string(type.name);
      json.key("color");
      json.string(type.color);
      json.key("displayOrder");
      json.number(order++);
      json.key("templateSummary");
      json.null();
      json.key("templateDescription");
      json.null();
      json.end_object();
    }
  } else if (resource == "statuses") {
    int64_t order = 1000;
    for (const StatusInfo& status : kStatuses) {
      json.begin_object();
      json.key("id");
      json.number(int64_t{status.id});
      json.key("projectId");
      json.number(options_.project_id);
      json.key("name");
      json.string(status.name);
      json.key("color");
      json.string(status.color);
      json.key("displayOrder");
      json.number(order);
      order += 1000;
      json.end_object();
    }
  } else {  // customFields
    for (const BacklogCustomField& field : options_.custom_fields) {
      json.begin_object();
      json.key("id");
      json.number(field.id);
      json.key("projectId");
      json.number(options_.project_id);
      json.key("typeId");
      json.number(int64_t{field.type_id});
      json.key("name");
      json.string(field.name);
      json.key("description");
      json.string("");
      json.key("required");
      json.boolean(field.required);
      json.key("applicableIssueTypes");
      json.begin_array();
      json.end_array();
      json.key("allowAddItem");
      json.boolean(false);
      json.key("items");
      json.begin_array();
      json.end_array();
      json.end_object();
    }
  }
  json.end_array();
  return {200, json.take()};
}

namespace {

constexpr std::string_view kAddIssueParameters[] = {
    "projectId",      "summary",     "issueTypeId",      "priorityId",
    "parentIssueId",  "description", "startDate",        "dueDate",
    "estimatedHours", "actualHours", "categoryId[]",     "versionId[]",
    "milestoneId[]",  "assigneeId",  "notifiedUserId[]", "attachmentId[]"};
constexpr std::string_view kUpdateOnlyParameters[] = {"statusId", "resolutionId", "comment"};
constexpr std::string_view kCommentParameters[] = {"content", "notifiedUserId[]", "attachmentId[]"};

// Checks a write's parameter names against what its endpoint documents; Backlog is reported to
// refuse the whole request over one it does not know. Returns the first stranger. Custom
// field names pass here when allowed; the caller checks them against the project's fields.
std::optional<std::string> unknown_parameter(
    const Parameters& form, std::initializer_list<std::span<const std::string_view>> known,
    bool custom_fields) {
  for (const auto& parameter : form) {
    const std::string& name = parameter.first;
    const bool listed = std::any_of(known.begin(), known.end(), [&](const auto& names) {
      return std::find(names.begin(), names.end(), name) != names.end();
    });
    if (!listed && !(custom_fields && name.starts_with("customField_"))) {
      return name;
    }
  }
  return std::nullopt;
}

// The id a `customField_<id>`, `customField_<id>_otherValue` or `customField_<id>[i]` name
// refers to, and whether it is the main value (not "other" text).
std::optional<std::pair<int64_t, bool>> custom_field_of(std::string_view name) {
  name.remove_prefix(std::string_view("customField_").size());
  bool main_value = true;
  if (name.ends_with("_otherValue")) {
    name.remove_suffix(std::string_view("_otherValue").size());
    main_value = false;
  } else if (const size_t bracket = name.find('['); bracket != std::string_view::npos) {
    if (!name.ends_with(']')) {
      return std::nullopt;
    }
    name = name.substr(0, bracket);
  }
  const std::optional<int64_t> id = parse_integer(name);
  return id ? std::optional(std::pair(*id, main_value)) : std::nullopt;
}

}  // namespace

BacklogStandIn::Answer BacklogStandIn::add_issue(const Request& request) {
  const auto bad = [](const std::string& message) {
    return Answer{400, errors_body(message, kInvalidRequestError)};
  };
  if (const auto stranger = unknown_parameter(request.form, {kAddIssueParameters}, true)) {
    return bad("Unknown parameter: " + *stranger + ".");
  }
  // Values that name nothing are refused as bad parameters (400, code 7); the real service may
  // answer some of them with 404 and code 6 instead, which the documentation does not say.
  const auto number = [&](const char* name) -> std::optional<int64_t> {
    const auto text = request.first(request.form, name);
    return text ? parse_integer(*text) : std::nullopt;
  };
  const auto project_id = number("projectId");
  if (!project_id) {
    return bad("projectId is required and must be a number.");
  }
  if (*project_id != options_.project_id) {
    return bad("No project.");
  }
  const auto summary = request.first(request.form, "summary");
  if (!summary || summary->empty()) {
    return bad("summary is required.");
  }
  if (utf8_characters(*summary) > kSummaryMaxCharacters) {
    return bad("summary is too long.");
  }
  const auto issue_type_id = number("issueTypeId");
  if (!issue_type_id) {
    return bad("issueTypeId is required and must be a number.");
  }
  if (std::none_of(options_.issue_types.begin(), options_.issue_types.end(),
                   [&](const BacklogIssueType& type) { return type.id == *issue_type_id; })) {
    return bad("No issue type.");
  }
  const auto priority_id = number("priorityId");
  if (!priority_id) {
    return bad("priorityId is required and must be a number.");
  }
  if (find_named(kPriorities, *priority_id) == nullptr) {
    return bad("No priority.");
  }
  for (const char* date : {"startDate", "dueDate"}) {
    const auto text = request.first(request.form, date);
    if (text && !text->empty() && !is_date(*text)) {
      return bad(std::string(date) + " must be yyyy-MM-dd.");
    }
  }
  BacklogIssue issue;
  for (const auto& [name, value] : request.form) {
    if (!name.starts_with("customField_")) {
      continue;
    }
    const auto field_ref = custom_field_of(name);
    const auto field =
        field_ref
            ? std::find_if(options_.custom_fields.begin(), options_.custom_fields.end(),
                           [&](const BacklogCustomField& f) { return f.id == field_ref->first; })
            : options_.custom_fields.end();
    if (field == options_.custom_fields.end()) {
      return bad("No custom field: " + name + ".");
    }
    if (field->type_id == 3 && !value.empty() && !parse_integer(value)) {
      return bad("Invalid value for " + name + ".");
    }
    if (field->type_id == 4 && !value.empty() && !is_date(value)) {
      return bad("Invalid value for " + name + ".");
    }
    if (field_ref->second) {
      std::string& stored = issue.custom_fields[field->id];
      stored += stored.empty() ? value : "," + value;
    }
  }
  for (const BacklogCustomField& field : options_.custom_fields) {
    if (field.required && issue.custom_fields[field.id].empty()) {
      return bad("customField_" + std::to_string(field.id) + " is required.");
    }
  }
  std::erase_if(issue.custom_fields, [](const auto& entry) { return entry.second.empty(); });
  issue.summary = *summary;
  issue.description = request.first(request.form, "description").value_or("");
  issue.issue_type_id = *issue_type_id;
  issue.priority_id = static_cast<int>(*priority_id);
  const BacklogIssue& stored = insert_issue(std::move(issue));
  return {201,
          issue_json(stored),
          {{"Location",
            fmt::format("https://{}.backlog.com/view/{}", options_.space_key, stored.issue_key)}}};
}

int BacklogStandIn::throttled_count() const {
  MutexLock lock(mutex_);
  return throttled_;
}

void BacklogStandIn::on_issue_created(std::function<void(const BacklogIssue&)> hook) {
  MutexLock lock(mutex_);
  on_issue_created_ = std::move(hook);
}

BacklogIssue& BacklogStandIn::insert_issue(BacklogIssue issue) {
  issue.id = next_issue_id_++;
  issue.key_id = next_key_id_++;
  issue.issue_key = options_.project_key + "-" + std::to_string(issue.key_id);
  issue.created = now_text();
  issue.updated = issue.created;
  issues_.push_back(std::move(issue));
  return issues_.back();
}

namespace {

// An issue by its numeric id or its key, as :issueIdOrKey in a path names it.
template <typename Issues>
auto find_in(Issues& issues, std::string_view id_or_key) -> decltype(&issues.front()) {
  const std::optional<int64_t> id = parse_integer(id_or_key);
  for (auto& issue : issues) {
    if (id ? issue.id == *id : issue.issue_key == id_or_key) {
      return &issue;
    }
  }
  return nullptr;
}

}  // namespace

const BacklogIssue* BacklogStandIn::find_issue(std::string_view id_or_key) const {
  return find_in(issues_, id_or_key);
}

BacklogIssue* BacklogStandIn::find_issue(std::string_view id_or_key) {
  return find_in(issues_, id_or_key);
}

BacklogStandIn::Answer BacklogStandIn::update_issue(const Request& request, BacklogIssue& issue) {
  const auto bad = [](const std::string& message) {
    return Answer{400, errors_body(message, kInvalidRequestError)};
  };
  if (const auto stranger =
          unknown_parameter(request.form, {kAddIssueParameters, kUpdateOnlyParameters}, true)) {
    return bad("Unknown parameter: " + *stranger + ".");
  }
  const auto number = [&](const char* name, bool& given) -> std::optional<int64_t> {
    const auto text = request.first(request.form, name);
    given = text.has_value();
    return text ? parse_integer(*text) : std::nullopt;
  };
  bool given = false;
  BacklogIssue updated = issue;
  BacklogComment entry;
  const auto change = [&](const char* field, std::string from, std::string to) {
    if (from != to) {
      entry.change_log.push_back({field, std::move(from), std::move(to)});
    }
  };
  if (const auto project = number("projectId", given); given && project != options_.project_id) {
    return bad("Moving an issue to another project is not supported.");
  }
  if (const auto status = number("statusId", given); given) {
    const StatusInfo* info = status ? find_status(*status) : nullptr;
    if (info == nullptr) {
      return bad("No status.");
    }
    change("status", find_status(issue.status_id)->name, info->name);
    updated.status_id = info->id;
  }
  if (const auto resolution = number("resolutionId", given); given) {
    const NamedId* info = resolution ? find_named(kResolutions, *resolution) : nullptr;
    if (info == nullptr) {
      return bad("No resolution.");
    }
    const NamedId* before =
        issue.resolution_id ? find_named(kResolutions, *issue.resolution_id) : nullptr;
    change("resolution", before != nullptr ? before->name : "", info->name);
    updated.resolution_id = info->id;
  }
  if (const auto priority = number("priorityId", given); given) {
    const NamedId* info = priority ? find_named(kPriorities, *priority) : nullptr;
    if (info == nullptr) {
      return bad("No priority.");
    }
    change("priority", find_named(kPriorities, issue.priority_id)->name, info->name);
    updated.priority_id = info->id;
  }
  if (const auto type = number("issueTypeId", given); given) {
    const auto found =
        std::find_if(options_.issue_types.begin(), options_.issue_types.end(),
                     [&](const BacklogIssueType& t) { return type && t.id == *type; });
    if (found == options_.issue_types.end()) {
      return bad("No issue type.");
    }
    const auto before =
        std::find_if(options_.issue_types.begin(), options_.issue_types.end(),
                     [&](const BacklogIssueType& t) { return t.id == issue.issue_type_id; });
    change("issueType", before != options_.issue_types.end() ? before->name : "", found->name);
    updated.issue_type_id = found->id;
  }
  if (const auto summary = request.first(request.form, "summary")) {
    if (summary->empty() || utf8_characters(*summary) > kSummaryMaxCharacters) {
      return bad("Invalid summary.");
    }
    change("summary", issue.summary, *summary);
    updated.summary = *summary;
  }
  if (const auto description = request.first(request.form, "description")) {
    change("description", issue.description, *description);
    updated.description = *description;
  }
  for (const auto& [name, value] : request.form) {
    if (!name.starts_with("customField_")) {
      continue;
    }
    const auto field_ref = custom_field_of(name);
    if (!field_ref || std::none_of(options_.custom_fields.begin(), options_.custom_fields.end(),
                                   [&](const auto& f) { return f.id == field_ref->first; })) {
      return bad("No custom field: " + name + ".");
    }
    if (field_ref->second) {
      const auto before = issue.custom_fields.find(field_ref->first);
      change(name.c_str(), before != issue.custom_fields.end() ? before->second : "", value);
      updated.custom_fields[field_ref->first] = value;
    }
  }
  // An update lands in the issue's comment list as one entry carrying the comment text (if
  // any) and the change log, which is how Backlog shows updates in an issue's history.
  if (const auto comment = request.first(request.form, "comment"); comment && !comment->empty()) {
    entry.content = *comment;
  }
  updated.updated = now_text();
  if (entry.content || !entry.change_log.empty()) {
    entry.id = next_comment_id_++;
    entry.issue_id = issue.id;
    entry.created = updated.updated;
    updated.comments.push_back(std::move(entry));
  }
  issue = std::move(updated);
  return {200, issue_json(issue)};
}

BacklogStandIn::Answer BacklogStandIn::add_comment(const Request& request, BacklogIssue& issue) {
  if (const auto stranger = unknown_parameter(request.form, {kCommentParameters}, false)) {
    return {400, errors_body("Unknown parameter: " + *stranger + ".", kInvalidRequestError)};
  }
  const auto content = request.first(request.form, "content");
  if (!content || content->empty()) {
    return {400, errors_body("content is required.", kInvalidRequestError)};
  }
  BacklogComment comment;
  comment.id = next_comment_id_++;
  comment.issue_id = issue.id;
  comment.content = *content;
  comment.created = now_text();
  issue.updated = comment.created;
  issue.comments.push_back(comment);
  return {201,
          comment_json(comment),
          {{"Location", fmt::format("https://{}.backlog.com/view/{}#comment-{}", options_.space_key,
                                    issue.issue_key, comment.id)}}};
}

BacklogStandIn::Answer BacklogStandIn::list_comments(const Request& request,
                                                     const BacklogIssue& issue) {
  const auto bad = [](const std::string& message) {
    return Answer{400, errors_body(message, kInvalidRequestError)};
  };
  const auto number = [&](const char* name, int64_t fallback) -> std::optional<int64_t> {
    const auto text = request.first(request.query, name);
    return text ? parse_integer(*text) : std::optional(fallback);
  };
  const auto min_id = number("minId", 0);
  const auto max_id = number("maxId", INT64_MAX);
  const auto count = number("count", 20);
  const std::string order = request.first(request.query, "order").value_or("desc");
  if (!min_id || !max_id || !count || *count < 1 || *count > 100 ||
      (order != "asc" && order != "desc")) {
    return bad("Invalid parameter.");
  }
  std::vector<const BacklogComment*> selected;
  for (const BacklogComment& comment : issue.comments) {
    if (comment.id >= *min_id && comment.id <= *max_id) {
      selected.push_back(&comment);
    }
  }
  if (order == "desc") {
    std::reverse(selected.begin(), selected.end());
  }
  JsonWriter json;
  json.begin_array();
  for (size_t i = 0; i < selected.size() && i < static_cast<size_t>(*count); ++i) {
    json.raw(comment_json(*selected[i]));
  }
  json.end_array();
  return {200, json.take()};
}

BacklogStandIn::Answer BacklogStandIn::list_issues(const Request& request, bool count_only) {
  const auto bad = [](const std::string& message) {
    return Answer{400, errors_body(message, kInvalidRequestError)};
  };
  // Each repeatable filter, read as numbers; an issue passes when the filter is absent or names
  // its value.
  std::string error;
  const auto ids = [&](const char* name) {
    std::vector<int64_t> values;
    for (const std::string& text : request.all(request.query, name)) {
      const auto value = parse_integer(text);
      if (!value) {
        error = std::string("Invalid ") + name + ".";
      }
      values.push_back(value.value_or(0));
    }
    return values;
  };
  const auto project_ids = ids("projectId[]");
  const auto status_ids = ids("statusId[]");
  const auto type_ids = ids("issueTypeId[]");
  const auto priority_ids = ids("priorityId[]");
  const auto resolution_ids = ids("resolutionId[]");
  const auto issue_ids = ids("id[]");
  if (!error.empty()) {
    return bad(error);
  }
  const auto number = [&](const char* name, int64_t fallback) -> std::optional<int64_t> {
    const auto text = request.first(request.query, name);
    return text ? parse_integer(*text) : std::optional(fallback);
  };
  const auto offset = number("offset", 0);
  const auto count = number("count", 20);
  if (!offset || *offset < 0 || !count || *count < 1 || *count > 100) {
    return bad("Invalid offset or count.");
  }
  const std::string order = request.first(request.query, "order").value_or("desc");
  const std::string sort = request.first(request.query, "sort").value_or("created");
  if (order != "asc" && order != "desc") {
    return bad("Invalid order.");
  }
  // Keyword: every whitespace-separated word must occur, ignoring ASCII case, in the summary or
  // the description. Which fields Backlog searches and how it tokenizes are not documented;
  // substring matching is the reading a marker-in-the-description lookup relies on.
  std::vector<std::string> words;
  {
    const std::string keyword = lower_ascii(request.first(request.query, "keyword").value_or(""));
    size_t start = 0;
    while (start < keyword.size()) {
      const size_t end = std::min(keyword.find_first_of(" \t\r\n", start), keyword.size());
      if (end > start) {
        words.push_back(keyword.substr(start, end - start));
      }
      start = end + 1;
    }
  }
  const auto passes = [](const std::vector<int64_t>& filter, int64_t value) {
    return filter.empty() || std::find(filter.begin(), filter.end(), value) != filter.end();
  };
  std::vector<const BacklogIssue*> matched;
  for (const BacklogIssue& issue : issues_) {
    const std::string text = lower_ascii(issue.summary) + "\n" + lower_ascii(issue.description);
    if (passes(project_ids, options_.project_id) && passes(status_ids, issue.status_id) &&
        passes(type_ids, issue.issue_type_id) && passes(priority_ids, issue.priority_id) &&
        passes(resolution_ids, issue.resolution_id.value_or(-1)) && passes(issue_ids, issue.id) &&
        std::all_of(words.begin(), words.end(), [&](const std::string& word) {
          return text.find(word) != std::string::npos;
        })) {
      matched.push_back(&issue);
    }
  }
  if (count_only) {
    JsonWriter json;
    json.begin_object();
    json.key("count");
    json.number(static_cast<int64_t>(matched.size()));
    json.end_object();
    return {200, json.take()};
  }
  const auto key = [&](const BacklogIssue* issue) {
    if (sort == "updated") {
      return std::pair(issue->updated, issue->id);
    }
    if (sort == "summary") {
      return std::pair(issue->summary, issue->id);
    }
    if (sort == "status") {
      return std::pair(std::to_string(issue->status_id), issue->id);
    }
    if (sort == "priority") {
      return std::pair(std::to_string(issue->priority_id), issue->id);
    }
    return std::pair(std::string(), issue->id);  // created: ids grow with creation time
  };
  std::stable_sort(matched.begin(), matched.end(),
                   [&](const BacklogIssue* a, const BacklogIssue* b) {
                     return order == "asc" ? key(a) < key(b) : key(b) < key(a);
                   });
  JsonWriter json;
  json.begin_array();
  const auto first = static_cast<size_t>(*offset);
  for (size_t i = first; i < matched.size() && i < first + static_cast<size_t>(*count); ++i) {
    json.raw(issue_json(*matched[i]));
  }
  json.end_array();
  return {200, json.take()};
}

BacklogStandIn::Answer BacklogStandIn::rate_limit_status() {
  const auto now = clock_.now();
  JsonWriter json;
  json.begin_object();
  json.key("rateLimit");
  json.begin_object();
  for (const auto& [kind, name] :
       {std::pair(Kind::kRead, "read"), std::pair(Kind::kUpdate, "update"),
        std::pair(Kind::kSearch, "search")}) {
    const auto found = windows_.find(kind);
    const bool running = found != windows_.end() && now < found->second.end;
    json.key(name);
    json.begin_object();
    json.key("limit");
    json.number(int64_t{budget(kind)});
    json.key("remaining");
    json.number(int64_t{budget(kind) - (running ? found->second.used : 0)});
    json.key("reset");
    json.number(static_cast<int64_t>(
        std::chrono::ceil<std::chrono::seconds>(
            (running ? found->second.end : now + options_.window).time_since_epoch())
            .count()));
    json.end_object();
  }
  // Icons are not served, so their budget is never spent.
  json.key("icon");
  json.begin_object();
  json.key("limit");
  json.number(int64_t{60});
  json.key("remaining");
  json.number(int64_t{60});
  json.key("reset");
  json.number(static_cast<int64_t>(
      std::chrono::ceil<std::chrono::seconds>((now + options_.window).time_since_epoch()).count()));
  json.end_object();
  json.end_object();
  json.end_object();
  return {200, json.take()};
}

std::string BacklogStandIn::user_json() const {
  JsonWriter json;
  json.begin_object();
  json.key("id");
  json.number(kUserId);
  json.key("userId");
  json.string("hikyaku");
  json.key("name");
  json.string("hikyaku");
  json.key("roleType");
  json.number(int64_t{2});
  json.key("lang");
  json.string("en");
  json.key("mailAddress");
  json.string("hikyaku@example.com");
  json.end_object();
  return json.take();
}

std::string BacklogStandIn::comment_json(const BacklogComment& comment) const {
  JsonWriter json;
  json.begin_object();
  json.key("id");
  json.number(comment.id);
  json.key("projectId");
  json.number(options_.project_id);
  json.key("issueId");
  json.number(comment.issue_id);
  json.key("content");
  if (comment.content) {
    json.string(*comment.content);
  } else {
    json.null();
  }
  json.key("changeLog");
  json.begin_array();
  for (const BacklogComment::Change& change : comment.change_log) {
    json.begin_object();
    json.key("field");
    json.string(change.field);
    json.key("newValue");
    json.string(change.new_value);
    json.key("originalValue");
    json.string(change.original_value);
    json.end_object();
  }
  json.end_array();
  json.key("createdUser");
  json.raw(user_json());
  json.key("created");
  json.string(comment.created);
  json.key("updated");
  json.string(comment.created);
  json.key("stars");
  json.begin_array();
  json.end_array();
  json.key("notifications");
  json.begin_array();
  json.end_array();
  json.end_object();
  return json.take();
}

std::string BacklogStandIn::issue_json(const BacklogIssue& issue) const {
  JsonWriter json;
  json.begin_object();
  json.key("id");
  json.number(issue.id);
  json.key("projectId");
  json.number(options_.project_id);
  json.key("issueKey");
  json.string(issue.issue_key);
  json.key("keyId");
  json.number(issue.key_id);
  json.key("issueType");
  json.begin_object();
  int64_t order = 0;
  for (const BacklogIssueType& type : options_.issue_types) {
    if (type.id == issue.issue_type_id) {
      json.key("id");
      json.number(type.id);
      json.key("projectId");
      json.number(options_.project_id);
      json.key("name");
      json.string(type.name);
      json.key("color");
      json.string(type.color);
      json.key("displayOrder");
      json.number(order);
    }
    ++order;
  }
  json.end_object();
  json.key("summary");
  json.string(issue.summary);
  json.key("description");
  json.string(issue.description);
  json.key("resolution");
  const NamedId* resolution =
      issue.resolution_id ? find_named(kResolutions, *issue.resolution_id) : nullptr;
  if (resolution != nullptr) {
    json.begin_object();
    json.key("id");
    json.number(int64_t{resolution->id});
    json.key("name");
    json.string(resolution->name);
    json.end_object();
  } else {
    json.null();
  }
  json.key("priority");
  json.begin_object();
  json.key("id");
  json.number(int64_t{issue.priority_id});
  json.key("name");
  const NamedId* priority = find_named(kPriorities, issue.priority_id);
  json.string(priority != nullptr ? priority->name : "");
  json.end_object();
  const StatusInfo* status = find_status(issue.status_id);
  json.key("status");
  json.begin_object();
  json.key("id");
  json.number(int64_t{issue.status_id});
  json.key("projectId");
  json.number(options_.project_id);
  json.key("name");
  json.string(status != nullptr ? status->name : "");
  json.key("color");
  json.string(status != nullptr ? status->color : "");
  json.key("displayOrder");
  json.number(int64_t{issue.status_id} * 1000);
  json.end_object();
  json.key("assignee");
  json.null();
  for (const char* list : {"category", "versions", "milestone"}) {
    json.key(list);
    json.begin_array();
    json.end_array();
  }
  for (const char* absent :
       {"startDate", "dueDate", "estimatedHours", "actualHours", "parentIssueId"}) {
    json.key(absent);
    json.null();
  }
  json.key("createdUser");
  json.raw(user_json());
  json.key("created");
  json.string(issue.created);
  json.key("updatedUser");
  json.raw(user_json());
  json.key("updated");
  json.string(issue.updated);
  json.key("customFields");
  json.begin_array();
  for (const BacklogCustomField& field : options_.custom_fields) {
    json.begin_object();
    json.key("id");
    json.number(field.id);
    json.key("fieldTypeId");
    json.number(int64_t{field.type_id});
    json.key("name");
    json.string(field.name);
    json.key("value");
    const auto value = issue.custom_fields.find(field.id);
    if (value != issue.custom_fields.end()) {
      json.string(value->second);
    } else {
      json.null();
    }
    json.end_object();
  }
  json.end_array();
  for (const char* list : {"attachments", "sharedFiles", "stars"}) {
    json.key(list);
    json.begin_array();
    json.end_array();
  }
  json.end_object();
  return json.take();
}

}  // namespace hikyaku::testing
