#include "delivery/request.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <string_view>

#include "core/ascii.h"
#include "core/json_writer.h"
#include "core/url_encoding.h"

#ifndef HIKYAKU_VERSION
#define HIKYAKU_VERSION "unknown"
#endif

namespace hikyaku::delivery {
namespace {

namespace od = simdjson::ondemand;

constexpr std::string_view kUserAgent = "hikyaku/" HIKYAKU_VERSION;
// RFC 9110 token characters.
bool is_token(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return std::isalnum(c) != 0 ||
           std::string_view("!#$%&'*+-.^_`|~").find(ch) != std::string_view::npos;
  });
}

// A field value may hold any byte but the control characters (tab excepted): CR and LF would
// end the header and start another.
bool is_field_value(std::string_view value) {
  return std::none_of(value.begin(), value.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return (c < 0x20 && c != '\t') || c == 0x7F;
  });
}

// The target's dynamic values carried by the job (request.h), as views into the parser.
class DynamicValues {
 public:
  Status parse(std::string_view headers) {
    if (headers.empty()) {
      return ok_status();
    }
    thread_local simdjson::dom::parser parser;
    simdjson::dom::object object;
    if (parser.parse(headers.data(), headers.size()).get(object) != simdjson::SUCCESS) {
      return damaged();
    }
    for (const auto field : object) {
      std::string_view value;
      if (field.value.get_string().get(value) != simdjson::SUCCESS) {
        return damaged();
      }
      values_.emplace_back(field.key, value);
    }
    return ok_status();
  }

  // The value named "<kind>:<name>"; null when it did not resolve.
  const std::string_view* find(std::string_view kind, std::string_view name) const {
    for (const auto& [key, value] : values_) {
      if (key.size() == kind.size() + 1 + name.size() && key.starts_with(kind) &&
          key[kind.size()] == ':' && key.ends_with(name)) {
        return &value;
      }
    }
    return nullptr;
  }

 private:
  static Status damaged() {
    return invalid_argument(
        "the job's dynamic HttpParameters values are not a JSON object of strings");
  }
  std::vector<std::pair<std::string_view, std::string_view>> values_;
};

// The value of a target parameter for this job; null when a dynamic value did not resolve.
const std::string_view* target_value(const TargetParameter& parameter, const DynamicValues& dynamic,
                                     std::string_view kind, std::string_view name,
                                     std::string_view& literal) {
  if (!parameter.from_event()) {
    literal = parameter.value.reveal();
    return &literal;
  }
  return dynamic.find(kind, name);
}

// `endpoint.url` with its path wildcards replaced and the query parameters appended.
Status build_url(const Endpoint& endpoint, const DynamicValues& dynamic, std::string& out) {
  const std::string_view url = endpoint.url;
  const size_t scheme = url.find("://");
  const size_t authority = scheme == std::string_view::npos ? 0 : scheme + 3;
  const size_t path_begin = std::min(url.find_first_of("/?#", authority), url.size());
  const size_t path_end = std::min(url.find_first_of("?#", path_begin), url.size());
  const size_t fragment = std::min(url.find('#', path_end), url.size());
  const std::string_view path = url.substr(path_begin, path_end - path_begin);
  const auto wildcards = static_cast<size_t>(std::count(path.begin(), path.end(), '*'));
  if (wildcards != endpoint.path_parameters.size()) {
    return invalid_argument(fmt::format(
        "HttpParameters.PathParameterValues has {} value{} but the InvocationEndpoint's path has "
        "{} `*` wildcard{}",
        endpoint.path_parameters.size(), endpoint.path_parameters.size() == 1 ? "" : "s", wildcards,
        wildcards == 1 ? "" : "s"));
  }
  out.reserve(url.size() + 64);
  out.append(url.substr(0, path_begin));
  size_t next = 0;
  for (const char c : path) {
    if (c != '*') {
      out += c;
      continue;
    }
    const TargetParameter& parameter = endpoint.path_parameters[next];
    std::string_view literal;
    const std::string_view* value =
        target_value(parameter, dynamic, "path", std::to_string(next), literal);
    const std::string where = fmt::format(
        "HttpParameters.PathParameterValues[{}]{}", next,
        parameter.from_event() ? fmt::format(" ({})", parameter.json_path) : std::string());
    if (value == nullptr) {
      return invalid_argument(where + ": the path matched nothing in the event");
    }
    if (value->empty() || *value == "." || *value == "..") {
      return invalid_argument(where + ": a path segment must not be empty, `.` or `..`");
    }
    append_percent_encoded(out, *value);
    ++next;
  }
  out.append(url.substr(path_end, fragment - path_end));
  // The separator before the first appended parameter: none after a bare `?` or a trailing `&`.
  char separator = '?';
  if (fragment > path_end) {
    const char last = url[fragment - 1];
    separator = last == '?' || last == '&' ? '\0' : '&';
  }
  auto append = [&out, &separator](std::string_view key, std::string_view value) {
    if (separator != '\0') {
      out += separator;
    }
    separator = '&';
    append_percent_encoded(out, key);
    out += '=';
    append_percent_encoded(out, value);
  };
  for (const TargetParameter& parameter : endpoint.query_string_parameters) {
    const bool overridden = std::any_of(
        endpoint.query_parameters.begin(), endpoint.query_parameters.end(),
        [&parameter](const auto& connection) { return connection.first == parameter.key; });
    std::string_view literal;
    const std::string_view* value =
        target_value(parameter, dynamic, "query", parameter.key, literal);
    if (!overridden && value != nullptr) {
      append(parameter.key, *value);
    }
  }
  for (const auto& [key, value] : endpoint.query_parameters) {
    append(key, value.reveal());
  }
  out.append(url.substr(fragment));
  return ok_status();
}

// Adds headers unless one of the same name is there already (the earlier one has precedence).
class HeaderList {
 public:
  explicit HeaderList(std::vector<std::pair<std::string, std::string>>& headers)
      : headers_(headers) {}

  bool has(std::string_view name) const {
    return std::any_of(headers_.begin(), headers_.end(), [name](const auto& header) {
      return equals_ignoring_ascii_case(header.first, name);
    });
  }

  // `what` names the header's origin in an error ("HttpParameters.HeaderParameters").
  Status add(std::string_view what, std::string_view name, std::string_view value) {
    if (has(name)) {
      return ok_status();
    }
    if (!is_token(name)) {
      return invalid_argument(
          fmt::format("{}: header name \"{}\" is not an HTTP token", what, name));
    }
    if (!is_field_value(value)) {
      return invalid_argument(fmt::format(
          "{}: the value of header {} holds a control character (line break?)", what, name));
    }
    headers_.emplace_back(name, value);
    return ok_status();
  }

 private:
  std::vector<std::pair<std::string, std::string>>& headers_;
};

Status build_headers(const Endpoint& endpoint, const DynamicValues& dynamic,
                     const Secret* bearer_token,
                     std::vector<std::pair<std::string, std::string>>& out) {
  out.reserve(endpoint.headers.size() + endpoint.header_parameters.size() + 3);
  HeaderList headers(out);
  if (bearer_token != nullptr) {
    HK_RETURN_IF_ERROR(
        headers.add("the OAuth token", "Authorization", "Bearer " + bearer_token->reveal()));
  }
  for (const auto& [name, value] : endpoint.headers) {
    HK_RETURN_IF_ERROR(headers.add("the connection", name, value.reveal()));
  }
  for (const TargetParameter& parameter : endpoint.header_parameters) {
    std::string_view literal;
    const std::string_view* value =
        target_value(parameter, dynamic, "header", parameter.key, literal);
    if (value != nullptr) {
      HK_RETURN_IF_ERROR(headers.add("HttpParameters.HeaderParameters", parameter.key, *value));
    }
  }
  HK_RETURN_IF_ERROR(headers.add("Content-Type", "Content-Type",
                                 endpoint.body_encoding == Endpoint::BodyEncoding::kForm
                                     ? "application/x-www-form-urlencoded"
                                     : "application/json; charset=utf-8"));
  return headers.add("User-Agent", "User-Agent", kUserAgent);
}

bool overridden_by(const std::vector<std::pair<std::string, Secret>>& parameters,
                   std::string_view key) {
  return std::any_of(parameters.begin(), parameters.end(),
                     [key](const auto& parameter) { return parameter.first == key; });
}

// The body's fields, minus those the parameters replace, then the parameters.
void merge_form(std::string_view body,
                const std::vector<std::pair<std::string, Secret>>& parameters, std::string& out) {
  out.reserve(body.size() + 64 * parameters.size());
  while (!body.empty()) {
    const size_t end = std::min(body.find('&'), body.size());
    const std::string_view field = body.substr(0, end);
    body.remove_prefix(std::min(end + 1, body.size()));
    if (field.empty() || overridden_by(parameters, form_decode(field.substr(0, field.find('='))))) {
      continue;
    }
    if (!out.empty()) {
      out += '&';
    }
    out += field;
  }
  for (const auto& [key, value] : parameters) {
    if (!out.empty()) {
      out += '&';
    }
    append_form_encoded(out, key);
    out += '=';
    append_form_encoded(out, value.reveal());
  }
}

Status not_an_object(std::string_view why) {
  return invalid_argument(fmt::format(
      "the connection's BodyParameters cannot be merged into this body: {}; they need a JSON "
      "object body or BodyEncoding FORM",
      why));
}

// Appends `"key":"value"` members for the parameters.
void append_members(std::string& out, const std::vector<std::pair<std::string, Secret>>& parameters,
                    bool comma_first) {
  bool comma = comma_first;
  for (const auto& [key, value] : parameters) {
    if (comma) {
      out += ',';
    }
    comma = true;
    append_json_string(out, key);
    out += ':';
    append_json_string(out, value.reveal());
  }
}

// Rebuilds the object without the members the parameters replace; the other members' values are
// copied as written.
Status rebuild_json(std::string_view body,
                    const std::vector<std::pair<std::string, Secret>>& parameters,
                    std::string& out) {
  thread_local od::parser parser;
  thread_local std::string padded;
  padded.reserve(body.size() + simdjson::SIMDJSON_PADDING);
  padded.assign(body);
  od::document doc;
  od::object object;
  if (parser.iterate(padded.data(), padded.size(), padded.capacity()).get(doc) ||
      doc.get_object().get(object)) {
    return not_an_object("it is not valid JSON");
  }
  out.reserve(body.size() + 64 * parameters.size());
  out += '{';
  bool comma = false;
  for (auto field_result : object) {
    od::field field;
    std::string_view key;
    od::json_type type;
    if (std::move(field_result).get(field) || field.unescaped_key().get(key) ||
        field.value().type().get(type)) {
      return not_an_object("it is not valid JSON");
    }
    if (overridden_by(parameters, key)) {
      continue;  // skipped by the iteration
    }
    std::string_view raw;
    simdjson::error_code error = simdjson::SUCCESS;
    if (type == od::json_type::object) {
      od::object member;
      error = field.value().get_object().get(member);
      if (!error) {
        error = member.raw_json().get(raw);
      }
    } else if (type == od::json_type::array) {
      od::array member;
      error = field.value().get_array().get(member);
      if (!error) {
        error = member.raw_json().get(raw);
      }
    } else {
      raw = field.value().raw_json_token();
      while (!raw.empty() && std::isspace(static_cast<unsigned char>(raw.back())) != 0) {
        raw.remove_suffix(1);
      }
    }
    if (error != simdjson::SUCCESS) {
      return not_an_object("it is not valid JSON");
    }
    if (comma) {
      out += ',';
    }
    comma = true;
    append_json_string(out, key);
    out += ':';
    out += raw;
  }
  append_members(out, parameters, comma);
  out += '}';
  return ok_status();
}

Status merge_json(std::string_view body,
                  const std::vector<std::pair<std::string, Secret>>& parameters, std::string& out) {
  // The whole body is validated first: the on-demand pass below reads only the top level.
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(body.data(), body.size()).get(root) != simdjson::SUCCESS) {
    return not_an_object("it is not valid JSON");
  }
  simdjson::dom::object object;
  if (root.get_object().get(object) != simdjson::SUCCESS) {
    return not_an_object(fmt::format("it is a JSON {}", root.is_array() ? "array" : "scalar"));
  }
  const bool replaces = std::any_of(parameters.begin(), parameters.end(), [&object](const auto& p) {
    return object.at_key(p.first).error() == simdjson::SUCCESS;
  });
  if (replaces) {
    return rebuild_json(body, parameters, out);
  }
  // Spliced in before the closing brace: the body's own bytes stay as they are.
  const size_t close = body.rfind('}');
  out.reserve(body.size() + 64 * parameters.size());
  out.append(body.substr(0, close));
  append_members(out, parameters, object.size() > 0);
  out.append(body.substr(close));
  return ok_status();
}

bool has_dynamic_values(const Endpoint& endpoint) {
  auto dynamic = [](const TargetParameter& parameter) { return parameter.from_event(); };
  return std::any_of(endpoint.path_parameters.begin(), endpoint.path_parameters.end(), dynamic) ||
         std::any_of(endpoint.header_parameters.begin(), endpoint.header_parameters.end(),
                     dynamic) ||
         std::any_of(endpoint.query_string_parameters.begin(),
                     endpoint.query_string_parameters.end(), dynamic);
}

}  // namespace

std::string_view user_agent() { return kUserAgent; }

void read_hint_header(std::string_view line, ResponseHints& hints) {
  if (line.starts_with("HTTP/")) {
    hints = {};  // a new header block (after a 100 Continue, say)
    return;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) {
    return;
  }
  const std::string_view name = line.substr(0, colon);
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
    value.remove_prefix(1);
  }
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ' ||
                            value.back() == '\t')) {
    value.remove_suffix(1);
  }
  if (equals_ignoring_ascii_case(name, "retry-after")) {
    hints.retry_after = value;
  } else if (equals_ignoring_ascii_case(name, "x-ratelimit-remaining")) {
    hints.rate_limit_remaining = value;
  } else if (equals_ignoring_ascii_case(name, "x-ratelimit-reset")) {
    hints.rate_limit_reset = value;
  }
}

Result<HttpRequest> build_request(const Endpoint& endpoint, const store::Job& job,
                                  const Secret* bearer_token) {
  HttpRequest request;
  request.method = endpoint.method;
  request.timeout_ms = endpoint.timeout_ms;
  request.ca_file = endpoint.ca_file;
  DynamicValues dynamic;
  if (has_dynamic_values(endpoint)) {
    HK_RETURN_IF_ERROR(dynamic.parse(job.headers));
  }
  HK_RETURN_IF_ERROR(build_url(endpoint, dynamic, request.url));
  HK_RETURN_IF_ERROR(build_headers(endpoint, dynamic, bearer_token, request.headers));
  if (endpoint.method == "GET" || endpoint.method == "HEAD") {
    return request;  // no body, so no body parameters either
  }
  if (endpoint.body_parameters.empty()) {
    request.body = job.body;
  } else if (endpoint.body_encoding == Endpoint::BodyEncoding::kForm) {
    merge_form(job.body, endpoint.body_parameters, request.body);
  } else {
    HK_RETURN_IF_ERROR(merge_json(job.body, endpoint.body_parameters, request.body));
  }
  return request;
}

}  // namespace hikyaku::delivery
