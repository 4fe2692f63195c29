#include "integrations/backlog/client.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <charconv>
#include <chrono>
#include <memory>
#include <optional>

#include "core/ascii.h"
#include "core/time.h"
#include "core/url_encoding.h"
#include "delivery/http_client.h"

namespace hikyaku::integrations::backlog {
namespace {

namespace dom = simdjson::dom;

constexpr std::string_view kApiPath = "/api/v2";
// Enough of an unexpected body (an HTML page from a proxy, say) to recognise it.
constexpr size_t kBodyExcerptBytes = 200;

const char* error_code_name(int64_t code) {
  switch (code) {
    case 1:
      return "InternalError";
    case 2:
      return "LicenceError";
    case 3:
      return "LicenceExpiredError";
    case 4:
      return "AccessDeniedError";
    case 5:
      return "UnauthorizedOperationError";
    case 6:
      return "NoResourceError";
    case 7:
      return "InvalidRequestError";
    case 8:
      return "SpaceOverCapacityError";
    case 9:
      return "ResourceOverflowError";
    case 10:
      return "TooLargeFileError";
    case 11:
      return "AuthenticationError";
    case 12:
      return "RequiredMFAError";
    case 13:
      return "TooManyRequestsError";
    default:
      return nullptr;
  }
}

std::optional<int64_t> parse_int64(std::string_view text) {
  int64_t value = 0;
  const char* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, value);
  if (text.empty() || error != std::errc() || stop != end) {
    return std::nullopt;
  }
  return value;
}

// The first bytes of `text` on one line, control characters shown as spaces.
std::string excerpt(std::string_view text) {
  std::string out(text.substr(0, kBodyExcerptBytes));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      c = ' ';
    }
  }
  if (text.size() > kBodyExcerptBytes) {
    out += "...";
  }
  return out;
}

// "InvalidRequestError (code 7): No issue type. (moreInfo)" for each error of Backlog's error
// body, joined by "; "; nullopt when `body` is not one.
std::optional<std::string> describe_errors(const std::string& body) {
  dom::parser parser;
  dom::element root;
  dom::array errors;
  if (parser.parse(body).get(root) != simdjson::SUCCESS ||
      root["errors"].get_array().get(errors) != simdjson::SUCCESS || errors.size() == 0) {
    return std::nullopt;
  }
  std::string out;
  for (dom::element error : errors) {
    std::string_view message;
    std::string_view more_info;
    int64_t code = 0;
    const bool has_code = error["code"].get_int64().get(code) == simdjson::SUCCESS;
    if (error["message"].get_string().get(message) != simdjson::SUCCESS) {
      message = "";
    }
    if (error["moreInfo"].get_string().get(more_info) != simdjson::SUCCESS) {
      more_info = "";
    }
    if (!out.empty()) {
      out += "; ";
    }
    if (has_code) {
      const char* name = error_code_name(code);
      out += name != nullptr ? fmt::format("{} (code {})", name, code)
                             : fmt::format("error code {}", code);
    } else {
      out += "error";
    }
    if (!message.empty()) {
      out += ": ";
      out += message;
    }
    if (!more_info.empty()) {
      out += fmt::format(" ({})", more_info);
    }
  }
  return out;
}

Status status_for_http(int status, std::string message) {
  if (status == 429 || status >= 500) {
    return unavailable(std::move(message));
  }
  if (status == 401 || status == 403) {
    return failed_precondition(std::move(message));
  }
  if (status == 404) {
    return not_found(std::move(message));
  }
  if (status >= 400) {
    return invalid_argument(std::move(message));
  }
  return failed_precondition(std::move(message));  // 1xx, 3xx: not the API at this URL
}

// When the rate-limit window named by X-RateLimit-Reset (epoch seconds) ends, as text.
std::string reset_time(std::string_view epoch_seconds) {
  const std::optional<int64_t> seconds = parse_int64(epoch_seconds);
  if (!seconds || *seconds <= 0) {
    return std::string(epoch_seconds);
  }
  return format_rfc3339_seconds(
      std::chrono::system_clock::time_point(std::chrono::seconds(*seconds)));
}

// --- Reading Backlog's answers -------------------------------------------------------------

Status missing(std::string_view what) { return internal_error(fmt::format("it has no {}", what)); }

Result<int64_t> id_of(dom::element object, std::string_view key) {
  int64_t id = 0;
  if (object[key].get_int64().get(id) != simdjson::SUCCESS) {
    return missing(fmt::format("integer \"{}\"", key));
  }
  return id;
}

Result<std::string> string_of(dom::element object, std::string_view key) {
  std::string_view text;
  if (object[key].get_string().get(text) != simdjson::SUCCESS) {
    return missing(fmt::format("string \"{}\"", key));
  }
  return std::string(text);
}

// A string that Backlog writes as null when unset.
std::string optional_string_of(dom::element object, std::string_view key) {
  std::string_view text;
  return object[key].get_string().get(text) == simdjson::SUCCESS ? std::string(text)
                                                                 : std::string();
}

Result<dom::element> parse(dom::parser& parser, const std::string& body) {
  dom::element root;
  if (parser.parse(body).get(root) != simdjson::SUCCESS) {
    return internal_error("it is not JSON");
  }
  return root;
}

Result<dom::array> parse_array(dom::parser& parser, const std::string& body) {
  HK_ASSIGN_OR_RETURN(dom::element root, parse(parser, body));
  dom::array array;
  if (root.get_array().get(array) != simdjson::SUCCESS) {
    return internal_error("it is not a JSON array");
  }
  return array;
}

Result<Issue> read_issue(dom::element object) {
  Issue issue;
  HK_ASSIGN_OR_RETURN(issue.id, id_of(object, "id"));
  HK_ASSIGN_OR_RETURN(issue.key, string_of(object, "issueKey"));
  dom::element status;
  if (object["status"].get(status) != simdjson::SUCCESS) {
    return missing("\"status\"");
  }
  HK_ASSIGN_OR_RETURN(issue.status_id, id_of(status, "id"));
  HK_ASSIGN_OR_RETURN(issue.summary, string_of(object, "summary"));
  issue.description = optional_string_of(object, "description");
  return issue;
}

Result<std::vector<NamedId>> read_named_ids(const std::string& body) {
  dom::parser parser;
  HK_ASSIGN_OR_RETURN(dom::array array, parse_array(parser, body));
  std::vector<NamedId> out;
  out.reserve(array.size());
  for (dom::element item : array) {
    NamedId entry;
    HK_ASSIGN_OR_RETURN(entry.id, id_of(item, "id"));
    HK_ASSIGN_OR_RETURN(entry.name, string_of(item, "name"));
    out.push_back(std::move(entry));
  }
  return out;
}

Result<std::vector<CustomField>> read_custom_fields(const std::string& body) {
  dom::parser parser;
  HK_ASSIGN_OR_RETURN(dom::array array, parse_array(parser, body));
  std::vector<CustomField> out;
  out.reserve(array.size());
  for (dom::element item : array) {
    CustomField field;
    HK_ASSIGN_OR_RETURN(field.id, id_of(item, "id"));
    HK_ASSIGN_OR_RETURN(const int64_t type_id, id_of(item, "typeId"));
    field.type_id = static_cast<int>(type_id);
    HK_ASSIGN_OR_RETURN(field.name, string_of(item, "name"));
    bool required = false;
    field.required = item["required"].get_bool().get(required) == simdjson::SUCCESS && required;
    out.push_back(std::move(field));
  }
  return out;
}

Result<Project> read_project(const std::string& body) {
  dom::parser parser;
  HK_ASSIGN_OR_RETURN(dom::element root, parse(parser, body));
  Project project;
  HK_ASSIGN_OR_RETURN(project.id, id_of(root, "id"));
  HK_ASSIGN_OR_RETURN(project.key, string_of(root, "projectKey"));
  HK_ASSIGN_OR_RETURN(project.name, string_of(root, "name"));
  project.text_formatting_rule = optional_string_of(root, "textFormattingRule");
  return project;
}

Result<Issue> read_issue_body(const std::string& body) {
  dom::parser parser;
  HK_ASSIGN_OR_RETURN(dom::element root, parse(parser, body));
  return read_issue(root);
}

Result<std::vector<Issue>> read_issues(const std::string& body) {
  dom::parser parser;
  HK_ASSIGN_OR_RETURN(dom::array array, parse_array(parser, body));
  std::vector<Issue> out;
  out.reserve(array.size());
  for (dom::element item : array) {
    HK_ASSIGN_OR_RETURN(Issue issue, read_issue(item));
    out.push_back(std::move(issue));
  }
  return out;
}

Result<int64_t> read_comment_id(const std::string& body) {
  dom::parser parser;
  HK_ASSIGN_OR_RETURN(dom::element root, parse(parser, body));
  return id_of(root, "id");
}

// "/api/v2" + `path` for messages: the documented path, no host, no query (the key).
std::string api_path(std::string_view path) { return std::string(kApiPath) + std::string(path); }

// A reader's error about a 2xx answer, turned into the caller's message.
template <typename T>
Result<T> readable(Result<T> value, std::string_view method, std::string_view path, int status) {
  if (value.has_value()) {
    return value;
  }
  return internal_error(
      fmt::format("Backlog answered {} {} with HTTP {} that hikyaku cannot read: {}", method,
                  api_path(path), status, value.error().message()));
}

std::string segment(std::string_view text) {
  std::string out = "/";
  append_percent_encoded(out, text);
  return out;
}

}  // namespace

Transport http_transport() {
  auto client = std::make_shared<delivery::HttpClient>();
  return [client](const delivery::HttpRequest& request) {
    Response response;
    response.result = client->send(request, nullptr, &response.body, &response.hints);
    return response;
  };
}

Client::Client(Space space, Transport transport)
    : space_(std::move(space)),
      transport_(std::move(transport)),
      redactor_(std::vector<std::string>{space_.api_key.reveal()}) {
  std::string_view base = space_.base_url;
  const bool http = base.starts_with("http://") || base.starts_with("https://");
  const size_t host = base.find("://") + 3;
  if (!http || host >= base.size() || base[host] == '/') {
    base_url_error_ = invalid_argument(
        fmt::format("the Backlog base URL must be an http:// or https:// URL with a host, like "
                    "https://example.backlog.com; got '{}'",
                    redact(base)));
    return;
  }
  if (base.find_first_of("?#") != std::string_view::npos) {
    base_url_error_ = invalid_argument(
        fmt::format("the Backlog base URL must not have a query or fragment (the API key is given "
                    "separately); got '{}'",
                    redact(base)));
    return;
  }
  while (base.ends_with('/')) {
    base.remove_suffix(1);
  }
  if (base.ends_with(kApiPath)) {
    base.remove_suffix(kApiPath.size());
  }
  api_root_ = std::string(base) + std::string(kApiPath);
}

const Response& Client::last_response() const { return last_; }

std::string Client::redact(std::string_view text) const { return redactor_.redact(text); }

Result<std::string> Client::call(std::string_view method, const std::string& path,
                                 const Fields& query, const Fields* form) {
  last_ = {};
  if (!base_url_error_.ok()) {
    last_.result.invalid_request = true;
    last_.result.error = base_url_error_.message();
    return base_url_error_;
  }
  delivery::HttpRequest request;
  request.method = std::string(method);
  request.url = api_root_ + path;
  char separator = '?';
  for (const auto& [key, value] : query) {
    request.url += separator;
    append_percent_encoded(request.url, key);
    request.url += '=';
    append_percent_encoded(request.url, value);
    separator = '&';
  }
  request.url += separator;
  request.url += "apiKey=";
  append_percent_encoded(request.url, space_.api_key.reveal());
  request.headers = {{"Accept", "application/json"},
                     {"User-Agent", std::string(delivery::user_agent())}};
  if (form != nullptr) {
    request.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
    for (const auto& [key, value] : *form) {
      if (!request.body.empty()) {
        request.body += '&';
      }
      append_form_encoded(request.body, key);
      request.body += '=';
      append_form_encoded(request.body, value);
    }
  }
  request.timeout_ms = space_.timeout_ms;
  request.ca_file = space_.ca_file;

  last_ = transport_(request);
  // A transport error may quote the URL; Backlog's own text may echo a parameter.
  last_.result.error = redact(last_.result.error);
  if (redactor_.contains_secret(last_.body)) {
    last_.body = redact(last_.body);
  }
  const delivery::AttemptResult& result = last_.result;
  const std::string where = fmt::format("{} {}", method, api_path(path));
  if (result.http_status == 0) {
    const std::string cause = result.error.empty() ? "no answer" : result.error;
    return unavailable(fmt::format(
        "Backlog request {} failed: {}{}", where, cause,
        result.timed_out ? fmt::format(" (timed out after {} ms)", space_.timeout_ms) : ""));
  }
  if (result.http_status >= 200 && result.http_status < 300) {
    return last_.body;
  }
  std::string message = fmt::format("Backlog refused {}: HTTP {}", where, result.http_status);
  if (std::optional<std::string> errors = describe_errors(last_.body)) {
    message += ", " + *errors;
  } else if (!last_.body.empty()) {
    message += fmt::format(", not Backlog's error form: {}", excerpt(last_.body));
  }
  if (result.http_status == 429 && !last_.hints.rate_limit_reset.empty()) {
    message +=
        fmt::format(" (the rate limit resets at {})", reset_time(last_.hints.rate_limit_reset));
  }
  return status_for_http(result.http_status, std::move(message));
}

Result<Project> Client::project(std::string_view id_or_key) {
  const std::string path = "/projects" + segment(id_or_key);
  HK_ASSIGN_OR_RETURN(std::string body, call("GET", path, {}, nullptr));
  HK_ASSIGN_OR_RETURN(Project project,
                      readable(read_project(body), "GET", path, last_.result.http_status));
  // The numeric id from here on: the key may be renamed, the id never is.
  const std::string by_id = "/projects/" + std::to_string(project.id);
  const auto list = [&](const std::string& list_path) -> Result<std::vector<NamedId>> {
    HK_ASSIGN_OR_RETURN(std::string list_body, call("GET", list_path, {}, nullptr));
    return readable(read_named_ids(list_body), "GET", list_path, last_.result.http_status);
  };
  HK_ASSIGN_OR_RETURN(project.issue_types, list(by_id + "/issueTypes"));
  HK_ASSIGN_OR_RETURN(project.statuses, list(by_id + "/statuses"));
  {
    const std::string fields_path = by_id + "/customFields";
    HK_ASSIGN_OR_RETURN(std::string fields_body, call("GET", fields_path, {}, nullptr));
    HK_ASSIGN_OR_RETURN(project.custom_fields, readable(read_custom_fields(fields_body), "GET",
                                                        fields_path, last_.result.http_status));
  }
  HK_ASSIGN_OR_RETURN(project.priorities, list("/priorities"));
  HK_ASSIGN_OR_RETURN(project.resolutions, list("/resolutions"));
  return project;
}

Result<Issue> Client::create_issue(const Fields& fields) {
  const std::string path = "/issues";
  HK_ASSIGN_OR_RETURN(std::string body, call("POST", path, {}, &fields));
  return readable(read_issue_body(body), "POST", path, last_.result.http_status);
}

Result<Issue> Client::update_issue(std::string_view id_or_key, const Fields& fields) {
  const std::string path = "/issues" + segment(id_or_key);
  HK_ASSIGN_OR_RETURN(std::string body, call("PATCH", path, {}, &fields));
  return readable(read_issue_body(body), "PATCH", path, last_.result.http_status);
}

Result<int64_t> Client::add_comment(std::string_view id_or_key, std::string_view content) {
  const std::string path = "/issues" + segment(id_or_key) + "/comments";
  const Fields form = {{"content", std::string(content)}};
  HK_ASSIGN_OR_RETURN(std::string body, call("POST", path, {}, &form));
  return readable(read_comment_id(body), "POST", path, last_.result.http_status);
}

Result<Issue> Client::get_issue(std::string_view id_or_key) {
  const std::string path = "/issues" + segment(id_or_key);
  HK_ASSIGN_OR_RETURN(std::string body, call("GET", path, {}, nullptr));
  return readable(read_issue_body(body), "GET", path, last_.result.http_status);
}

Result<std::vector<Issue>> Client::search_issues(int64_t project_id, std::string_view keyword,
                                                 int count, bool newest_first) {
  if (count < 1 || count > 100) {
    return invalid_argument(fmt::format(
        "Backlog issue search: count must be 1..100 (Backlog's bounds), got {}", count));
  }
  const std::string path = "/issues";
  Fields query = {{"projectId[]", std::to_string(project_id)}};
  if (!keyword.empty()) {
    query.emplace_back("keyword", std::string(keyword));
  }
  query.emplace_back("count", std::to_string(count));
  if (newest_first) {
    query.emplace_back("sort", "created");
    query.emplace_back("order", "desc");
  }
  HK_ASSIGN_OR_RETURN(std::string body, call("GET", path, query, nullptr));
  return readable(read_issues(body), "GET", path, last_.result.http_status);
}

Result<int64_t> resolve(std::string_view what, std::string_view name_or_id,
                        const std::vector<NamedId>& choices) {
  for (const NamedId& choice : choices) {
    if (choice.name == name_or_id) {
      return choice.id;
    }
  }
  // "issue type in project SEC" -> "issue type 'Bug' in project SEC"
  const size_t where = what.find(" in ");
  const std::string_view noun = what.substr(0, where);
  const std::string_view place = where == std::string_view::npos ? "" : what.substr(where);
  const NamedId* folded = nullptr;
  for (const NamedId& choice : choices) {
    if (equals_ignoring_ascii_case(choice.name, name_or_id)) {
      if (folded != nullptr) {
        return invalid_argument(
            fmt::format("{} '{}'{} is ambiguous when case is ignored: {} ({}) and {} ({}); write "
                        "the name exactly or use the id",
                        noun, name_or_id, place, folded->name, folded->id, choice.name, choice.id));
      }
      folded = &choice;
    }
  }
  if (folded != nullptr) {
    return folded->id;
  }
  if (const std::optional<int64_t> id = parse_int64(name_or_id)) {
    for (const NamedId& choice : choices) {
      if (choice.id == *id) {
        return choice.id;
      }
    }
  }
  std::string message = fmt::format("no {} '{}'{}; it has", noun, name_or_id, place);
  if (choices.empty()) {
    message += " none";
  } else {
    message += ": ";
    for (size_t i = 0; i < choices.size(); ++i) {
      message += fmt::format("{}{} ({})", i == 0 ? "" : ", ", choices[i].name, choices[i].id);
    }
  }
  return invalid_argument(std::move(message));
}

}  // namespace hikyaku::integrations::backlog
