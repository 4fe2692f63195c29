#include "server/internal/wire.h"

#include <fmt/format.h>

#include <utility>

#include "core/arn.h"
#include "core/json_writer.h"

namespace hikyaku::server {

HttpResponse text_response(unsigned status, std::string body) {
  HttpResponse response;
  response.status = status;
  response.content_type = kText;
  response.body = std::move(body);
  return response;
}

HttpResponse aws_json_response(std::string body, const std::string& request_id, unsigned status) {
  HttpResponse response;
  response.status = status;
  response.content_type = kAmzJson;
  response.body = std::move(body);
  response.headers.emplace_back("x-amzn-RequestId", request_id);
  return response;
}

std::string json_error_body(std::string_view type, std::string_view message) {
  JsonWriter writer;
  writer.begin_object();
  writer.key("__type");
  writer.string(type);
  writer.key("message");
  writer.string(message);
  writer.end_object();
  return writer.take();
}

simdjson::dom::parser& body_parser() {
  thread_local simdjson::dom::parser parser;
  return parser;
}

simdjson::dom::parser& nested_parser() {
  thread_local simdjson::dom::parser parser;
  return parser;
}

std::string bus_name_of(std::string_view name_or_arn) {
  if (name_or_arn.empty()) {
    return "default";
  }
  if (std::optional<std::string_view> name = arn_resource_name(name_or_arn, "event-bus")) {
    // A bus ARN carries no trailing id: the name is the whole rest (partner bus names hold '/').
    return std::string(name_or_arn.substr(static_cast<size_t>(name->data() - name_or_arn.data())));
  }
  return std::string(name_or_arn);
}

ParsedBody parse_body_object(const std::string& body) {
  ParsedBody parsed;
  simdjson::dom::element root;
  const std::string_view text = body.empty() ? std::string_view("{}") : std::string_view(body);
  if (auto error = body_parser().parse(text.data(), text.size()).get(root)) {
    parsed.error =
        fmt::format("Request body is not valid JSON: {}", simdjson::error_message(error));
    return parsed;
  }
  if (root.get(parsed.object) != simdjson::SUCCESS) {
    parsed.error = "Request body must be a JSON object.";
  }
  return parsed;
}

std::string optional_member(simdjson::dom::object object, std::string_view key) {
  std::string_view text;
  if (object[key].get(text) != simdjson::SUCCESS) {
    return {};
  }
  return std::string(text);
}

size_t start_index(simdjson::dom::object object) {
  const std::string token = optional_member(object, "NextToken");
  size_t start = 0;
  for (char c : token) {
    if (c < '0' || c > '9' || start > 1000000000) {
      return 0;
    }
    start = start * 10 + static_cast<size_t>(c - '0');
  }
  return start;
}

size_t page_limit(simdjson::dom::object object) {
  int64_t limit = 0;
  if (object["Limit"].get(limit) != simdjson::SUCCESS || limit <= 0 ||
      limit > static_cast<int64_t>(kMaxPageSize)) {
    return kMaxPageSize;
  }
  return static_cast<size_t>(limit);
}

IngestFailure classify_ingest_failure(const Status& status) {
  switch (status.code()) {
    case StatusCode::kResourceExhausted:
      return IngestFailure::kOverload;
    case StatusCode::kUnavailable:
    case StatusCode::kDeadlineExceeded:
    case StatusCode::kInternal:
      return IngestFailure::kRetryable;
    default:
      return IngestFailure::kRejected;
  }
}

std::string_view entry_error_code(const Status& status) {
  switch (classify_ingest_failure(status)) {
    case IngestFailure::kOverload:
      return "ThrottlingException";
    case IngestFailure::kRetryable:
      return "InternalFailure";
    case IngestFailure::kRejected:
      break;
  }
  return "InvalidArgument";
}

}  // namespace hikyaku::server
