#include "server/internal/api.h"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

#include "core/envelope.h"
#include "core/ids.h"
#include "core/json_writer.h"
#include "pattern/pattern.h"
#include "server/sigv4.h"

namespace hikyaku::server {
namespace {

constexpr std::string_view kAmzJson = "application/x-amz-json-1.1";
constexpr std::string_view kJson = "application/json";
constexpr std::string_view kText = "text/plain; charset=utf-8";
constexpr std::string_view kDefaultRegion = "us-east-1";
constexpr size_t kMaxEntries = 10;

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') {
      x = static_cast<char>(x - 'A' + 'a');
    }
    if (y >= 'A' && y <= 'Z') {
      y = static_cast<char>(y - 'A' + 'a');
    }
    if (x != y) {
      return false;
    }
  }
  return true;
}

HttpResponse text_response(unsigned status, std::string body) {
  HttpResponse response;
  response.status = status;
  response.content_type = kText;
  response.body = std::move(body);
  return response;
}

// An AWS JSON 1.1 answer (status 200 unless given) carrying the request id.
HttpResponse aws_json_response(std::string body, const std::string& request_id,
                               unsigned status = 200) {
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

// One parser per thread for request bodies and one for nested JSON (Detail, EventPattern...):
// dom elements of the first stay valid while the second parses.
simdjson::dom::parser& body_parser() {
  thread_local simdjson::dom::parser parser;
  return parser;
}
simdjson::dom::parser& nested_parser() {
  thread_local simdjson::dom::parser parser;
  return parser;
}

// The bus name of an EventBusName given as a name or an ARN ("arn:aws:events:r:a:event-bus/x").
std::string bus_name_of(std::string_view name_or_arn) {
  if (name_or_arn.empty()) {
    return "default";
  }
  if (name_or_arn.substr(0, 4) == "arn:") {
    size_t slash = name_or_arn.find("event-bus/");
    if (slash != std::string_view::npos) {
      return std::string(name_or_arn.substr(slash + 10));
    }
  }
  return std::string(name_or_arn);
}

size_t utf8_chars(std::string_view text) {
  size_t count = 0;
  for (char c : text) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) {
      ++count;
    }
  }
  return count;
}

bool source_allowed(const std::vector<std::string>& allowed, std::string_view source) {
  if (allowed.empty()) {
    return true;
  }
  for (const auto& pattern : allowed) {
    if (!pattern.empty() && pattern.back() == '*') {
      std::string_view prefix(pattern.data(), pattern.size() - 1);
      if (source.substr(0, prefix.size()) == prefix) {
        return true;
      }
    } else if (pattern == source) {
      return true;
    }
  }
  return false;
}

// Parses "YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm)" to epoch seconds (fraction dropped).
std::optional<int64_t> parse_rfc3339(std::string_view text) {
  if (!is_rfc3339_timestamp(text)) {
    return std::nullopt;
  }
  auto num = [&](size_t at, size_t count) {
    int value = 0;
    for (size_t i = at; i < at + count; ++i) {
      value = value * 10 + (text[i] - '0');
    }
    return value;
  };
  std::chrono::year_month_day ymd{std::chrono::year(num(0, 4)),
                                  std::chrono::month(static_cast<unsigned>(num(5, 2))),
                                  std::chrono::day(static_cast<unsigned>(num(8, 2)))};
  if (!ymd.ok()) {
    return std::nullopt;
  }
  int64_t seconds = std::chrono::sys_days(ymd).time_since_epoch() / std::chrono::seconds(1);
  seconds += num(11, 2) * 3600 + num(14, 2) * 60 + num(17, 2);
  size_t zone = 19;
  while (zone < text.size() && text[zone] != 'Z' && text[zone] != 'z' && text[zone] != '+' &&
         text[zone] != '-') {
    ++zone;
  }
  if (zone < text.size() && (text[zone] == '+' || text[zone] == '-') && zone + 6 <= text.size()) {
    int offset = num(zone + 1, 2) * 3600 + num(zone + 4, 2) * 60;
    seconds += text[zone] == '+' ? -offset : offset;
  }
  return seconds;
}

// Java's Date.toString() in UTC, as AWS's ValidationException echoes PutEventsRequestEntry.time.
std::string java_date(int64_t epoch_seconds) {
  static constexpr std::array<std::string_view, 7> kDays = {"Thu", "Fri", "Sat", "Sun",
                                                            "Mon", "Tue", "Wed"};
  static constexpr std::array<std::string_view, 12> kMonths = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  auto seconds = std::chrono::sys_seconds(std::chrono::seconds(epoch_seconds));
  auto days = std::chrono::floor<std::chrono::days>(seconds);
  std::chrono::year_month_day ymd{days};
  std::chrono::hh_mm_ss hms{seconds - days};
  int64_t day_number = days.time_since_epoch().count();
  auto weekday = static_cast<size_t>(((day_number % 7) + 7) % 7);
  return fmt::format("{} {} {:02} {:02}:{:02}:{:02} UTC {}", kDays[weekday],
                     kMonths[static_cast<unsigned>(ymd.month()) - 1],
                     static_cast<unsigned>(ymd.day()), hms.hours().count(), hms.minutes().count(),
                     hms.seconds().count(), static_cast<int>(ymd.year()));
}

// One PutEvents entry as sent (views into the request parser's document).
struct RawEntry {
  std::optional<int64_t> time;  // epoch seconds when Time was given and readable
  bool has_time = false;
  bool time_invalid = false;
  std::optional<std::string_view> source;
  std::optional<std::string_view> detail_type;
  std::optional<std::string_view> detail;
  std::optional<std::vector<std::string_view>> resources;
  std::optional<std::string_view> event_bus_name;
  std::optional<std::string_view> trace_header;
};

// Reads an optional string member; a null counts as absent. False (with `error`) on a wrong type.
bool optional_string(simdjson::dom::object object, std::string_view key,
                     std::optional<std::string_view>& out, std::string& error,
                     std::string_view where) {
  simdjson::dom::element value;
  if (object[key].get(value) != simdjson::SUCCESS || value.is_null()) {
    return true;
  }
  std::string_view text;
  if (value.get(text) != simdjson::SUCCESS) {
    error = fmt::format("{}.{} must be a string", where, key);
    return false;
  }
  out = text;
  return true;
}

std::string java_entry_list(const std::vector<RawEntry>& entries) {
  auto field = [](const std::optional<std::string_view>& value) {
    return value ? std::string(*value) : std::string("null");
  };
  std::string out = "[";
  for (size_t i = 0; i < entries.size(); ++i) {
    const RawEntry& e = entries[i];
    if (i > 0) {
      out += ", ";
    }
    std::string resources = "null";
    if (e.resources) {
      resources = "[";
      for (size_t r = 0; r < e.resources->size(); ++r) {
        if (r > 0) {
          resources += ", ";
        }
        resources += (*e.resources)[r];
      }
      resources += "]";
    }
    out += fmt::format(
        "PutEventsRequestEntry(time={}, source={}, resources={}, detailType={}, detail={}, "
        "eventBusName={}, traceHeader={}, kmsKeyIdentifier=null, internalMetadata=null)",
        e.time ? java_date(*e.time) : std::string("null"), field(e.source), resources,
        field(e.detail_type), field(e.detail), field(e.event_bus_name), field(e.trace_header));
  }
  out += "]";
  return out;
}

// Maps an ingest Status onto a PutEvents ErrorCode.
std::string_view entry_error_code(const Status& status) {
  return status.code() == StatusCode::kResourceExhausted ? "ThrottlingException"
                                                         : "InternalFailure";
}

// Reads a whole small JSON request body as an object (List*/Describe*/TestEventPattern).
struct ParsedBody {
  simdjson::dom::object object;
  std::string error;  // SerializationException message when not empty
};

ParsedBody parse_body_object(const std::string& body) {
  ParsedBody parsed;
  simdjson::dom::element root;
  std::string_view text = body.empty() ? std::string_view("{}") : std::string_view(body);
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

const char* rule_state_name(config::RuleState state) {
  return state == config::RuleState::kEnabled ? "ENABLED" : "DISABLED";
}

}  // namespace

// --- HttpRequest / Metrics ---

const std::string* HttpRequest::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (iequals(key, name)) {
      return &value;
    }
  }
  return nullptr;
}

void Metrics::count_entry_error(bool webhook, std::string_view code) {
  auto& counters = webhook ? webhook_events_rejected : put_events_entries_rejected;
  for (size_t i = 0; i < kEntryErrorCodes.size(); ++i) {
    if (kEntryErrorCodes[i] == code) {
      counters[i].fetch_add(1, std::memory_order_relaxed);
      return;
    }
  }
  counters[3].fetch_add(1, std::memory_order_relaxed);  // InternalFailure
}

void Metrics::count_request_error(std::string_view type) {
  for (size_t i = 0; i < kRequestErrorTypes.size(); ++i) {
    if (kRequestErrorTypes[i] == type) {
      request_errors[i].fetch_add(1, std::memory_order_relaxed);
      return;
    }
  }
  request_errors.back().fetch_add(1, std::memory_order_relaxed);
}

std::string Metrics::text() const {
  std::string out;
  auto header = [&](std::string_view name, std::string_view type, std::string_view help) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  };
  auto load = [](const auto& counter) { return counter.load(std::memory_order_relaxed); };

  header("hikyaku_ingest_entries_accepted_total", "counter",
         "Entries accepted (durably committed), by ingest path.");
  out += fmt::format("hikyaku_ingest_entries_accepted_total{{path=\"put_events\"}} {}\n",
                     load(put_events_entries_accepted));
  out += fmt::format("hikyaku_ingest_entries_accepted_total{{path=\"webhook\"}} {}\n",
                     load(webhook_events_accepted));
  header("hikyaku_ingest_entries_rejected_total", "counter",
         "Entries rejected, by ingest path and EventBridge error code.");
  for (size_t i = 0; i < kEntryErrorCodes.size(); ++i) {
    out += fmt::format(
        "hikyaku_ingest_entries_rejected_total{{path=\"put_events\",error_code=\"{}\"}} {}\n",
        kEntryErrorCodes[i], load(put_events_entries_rejected[i]));
  }
  for (size_t i = 0; i < kEntryErrorCodes.size(); ++i) {
    out += fmt::format(
        "hikyaku_ingest_entries_rejected_total{{path=\"webhook\",error_code=\"{}\"}} {}\n",
        kEntryErrorCodes[i], load(webhook_events_rejected[i]));
  }
  header("hikyaku_http_requests_total", "counter", "HTTP requests handled.");
  out += fmt::format("hikyaku_http_requests_total {}\n", load(requests_total));
  header("hikyaku_http_request_errors_total", "counter",
         "Requests refused as a whole, by error type (__type).");
  for (size_t i = 0; i < kRequestErrorTypes.size(); ++i) {
    out += fmt::format("hikyaku_http_request_errors_total{{error_type=\"{}\"}} {}\n",
                       kRequestErrorTypes[i], load(request_errors[i]));
  }
  header("hikyaku_http_connections_active", "gauge", "Open client connections.");
  out += fmt::format("hikyaku_http_connections_active {}\n", load(connections_active));
  header("hikyaku_http_connections_accepted_total", "counter", "Client connections accepted.");
  out += fmt::format("hikyaku_http_connections_accepted_total {}\n", load(connections_accepted));
  header("hikyaku_http_connections_refused_total", "counter",
         "Connections closed at once because Server.Limits.MaxConnections was reached.");
  out += fmt::format("hikyaku_http_connections_refused_total {}\n", load(connections_refused));
  header("hikyaku_http_request_timeouts_total", "counter",
         "Connections cut off for not sending a whole request within the request timeout.");
  out += fmt::format("hikyaku_http_request_timeouts_total {}\n", load(request_timeouts));
  header("hikyaku_http_malformed_requests_total", "counter",
         "Connections closed for malformed HTTP or failed TLS handshakes.");
  out += fmt::format("hikyaku_http_malformed_requests_total {}\n", load(malformed_requests));
  return out;
}

// --- free helpers ---

Result<std::string> format_event_time(int64_t epoch_seconds) {
  // 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z
  if (epoch_seconds < -62135596800LL || epoch_seconds > 253402300799LL) {
    return invalid_argument("time out of range");
  }
  auto seconds = std::chrono::sys_seconds(std::chrono::seconds(epoch_seconds));
  auto days = std::chrono::floor<std::chrono::days>(seconds);
  std::chrono::year_month_day ymd{days};
  std::chrono::hh_mm_ss hms{seconds - days};
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                     hms.hours().count(), hms.minutes().count(), hms.seconds().count());
}

int64_t put_events_entry_size(const EntrySizeInput& entry) {
  auto size =
      static_cast<int64_t>(entry.source.size() + entry.detail_type.size() + entry.detail.size());
  if (entry.has_time) {
    size += 14;
  }
  for (std::string_view resource : entry.resources) {
    size += static_cast<int64_t>(resource.size());
  }
  return size;
}

bool is_loopback_host(std::string_view host) {
  if (host == "localhost" || host == "::1" || host == "[::1]") {
    return true;
  }
  if (host.substr(0, 4) != "127.") {
    return false;
  }
  int dots = 0;
  for (char c : host) {
    if (c == '.') {
      ++dots;
    } else if (c < '0' || c > '9') {
      return false;
    }
  }
  return dots == 3;
}

// --- Api ---

struct Api::Caller {
  const config::SigV4Credential* credential = nullptr;  // null: no Auth configured
  std::string region;                                   // signing region, "" when unsigned
};

Api::Api(config::ServerConfig config, bus::EventBus& bus, ApiOptions options)
    : config_(std::move(config)),
      bus_(bus),
      options_(std::move(options)),
      metrics_(std::make_shared<Metrics>()) {
  if (!options_.clock) {
    options_.clock = [] { return std::chrono::system_clock::now(); };
  }
}

std::string Api::region_for(std::string_view signing_region) const {
  if (config_.region) {
    return *config_.region;
  }
  return signing_region.empty() ? std::string(kDefaultRegion) : std::string(signing_region);
}

HttpResponse Api::aws_error(unsigned status, std::string_view type, std::string_view message,
                            const std::string& request_id) {
  metrics_->count_request_error(type);
  return aws_json_response(json_error_body(type, message), request_id, status);
}

void Api::handle(HttpRequest request, Respond respond) {
  metrics_->requests_total.fetch_add(1, std::memory_order_relaxed);
  std::string_view target = request.target;
  std::string_view path = target.substr(0, target.find('?'));

  if (path == "/") {
    if (request.method != "POST") {
      respond(aws_error(405, "UnknownOperationException",
                        "The AWS JSON API takes POST / with an X-Amz-Target header.",
                        new_uuid_v4()));
      return;
    }
    handle_aws_json(request, respond);
    return;
  }
  if (path.substr(0, 8) == "/events/") {
    std::string_view bus = path.substr(8);
    bool valid =
        !bus.empty() && bus.size() <= 256 && std::all_of(bus.begin(), bus.end(), [](char c) {
          return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '-' || c == '_';
        });
    if (!valid) {
      respond(text_response(404, "not found: /events/{bus} takes a bus name of [.-_A-Za-z0-9]\n"));
      return;
    }
    if (request.method != "POST") {
      HttpResponse response = text_response(405, "method not allowed: use POST\n");
      response.headers.emplace_back("Allow", "POST");
      respond(std::move(response));
      return;
    }
    handle_webhook(request, bus, respond);
    return;
  }
  if (request.method == "GET") {
    if (path == "/healthz") {
      respond(text_response(200, "ok\n"));
      return;
    }
    if (path == "/readyz") {
      Status ready = options_.readiness ? options_.readiness() : Status();
      respond(ready.ok() ? text_response(200, "ready\n")
                         : text_response(503, "not ready: " + ready.message() + "\n"));
      return;
    }
    if (path == "/metrics") {
      HttpResponse response;
      response.content_type = "text/plain; version=0.0.4";
      response.body = options_.metrics_text ? options_.metrics_text() : metrics_->text();
      respond(std::move(response));
      return;
    }
  }
  respond(text_response(404, "not found\n"));
}

void Api::handle_aws_json(HttpRequest& request, Respond& respond) {
  std::string request_id = new_uuid_v4();
  Caller caller;
  if (config_.auth.configured()) {
    sigv4::SigV4Request signed_request;
    signed_request.method = request.method;
    std::string_view target = request.target;
    size_t question = target.find('?');
    signed_request.path = target.substr(0, question);
    signed_request.query =
        question == std::string_view::npos ? std::string_view() : target.substr(question + 1);
    signed_request.headers = request.headers;
    signed_request.body = request.body;
    sigv4::VerifyOptions options;
    options.credentials = &config_.auth.sigv4_credentials;
    if (config_.region) {
      options.required_region = *config_.region;
    }
    options.now = options_.clock();
    sigv4::VerifyOutcome outcome = sigv4::verify(signed_request, options);
    if (!outcome.ok()) {
      respond(aws_error(403, outcome.error.type(), outcome.error.message, request_id));
      return;
    }
    caller.credential = outcome.verified.credential;
    caller.region = outcome.verified.region;
  }

  const std::string* target_header = request.header("X-Amz-Target");
  if (target_header == nullptr) {
    respond(aws_error(400, "UnknownOperationException",
                      "Missing X-Amz-Target header: expected AWSEvents.<Operation>.", request_id));
    return;
  }
  std::string_view operation = *target_header;
  if (operation.substr(0, 10) != "AWSEvents.") {
    respond(aws_error(400, "UnknownOperationException",
                      fmt::format("Unknown operation {}: this endpoint serves AWSEvents.*.",
                                  operation.substr(0, 128)),
                      request_id));
    return;
  }
  operation.remove_prefix(10);
  if (operation == "PutEvents") {
    put_events(request, caller, std::move(request_id), respond);
    return;
  }
  std::string region = region_for(caller.region);
  HttpResponse response;
  if (operation == "TestEventPattern") {
    response = test_event_pattern(request, request_id);
  } else if (operation == "ListRules") {
    response = list_rules(request, request_id, region);
  } else if (operation == "DescribeRule") {
    response = describe_rule(request, request_id, region);
  } else if (operation == "ListTargetsByRule") {
    response = list_targets_by_rule(request, request_id, region);
  } else if (operation == "ListEventBuses") {
    response = list_event_buses(request, request_id, region);
  } else {
    response = aws_error(400, "UnknownOperationException",
                         fmt::format("Operation {} is not supported by hikyaku (supported: "
                                     "PutEvents, TestEventPattern, ListRules, DescribeRule, "
                                     "ListTargetsByRule, ListEventBuses).",
                                     operation.substr(0, 128)),
                         request_id);
  }
  respond(std::move(response));
}

void Api::put_events(const HttpRequest& request, const Caller& caller, std::string request_id,
                     Respond& respond) {
  simdjson::dom::element root;
  if (auto error = body_parser().parse(request.body.data(), request.body.size()).get(root)) {
    respond(
        aws_error(400, "SerializationException",
                  fmt::format("Request body is not valid JSON: {}", simdjson::error_message(error)),
                  request_id));
    return;
  }
  simdjson::dom::object body;
  if (root.get(body) != simdjson::SUCCESS) {
    respond(aws_error(400, "SerializationException", "Request body must be a JSON object.",
                      request_id));
    return;
  }
  simdjson::dom::element endpoint_id;
  if (body["EndpointId"].get(endpoint_id) == simdjson::SUCCESS && !endpoint_id.is_null()) {
    respond(aws_error(400, "ValidationException",
                      "EndpointId is not supported: hikyaku has no global endpoints (SigV4a); "
                      "send PutEvents without EndpointId.",
                      request_id));
    return;
  }
  simdjson::dom::element entries_value;
  if (body["Entries"].get(entries_value) != simdjson::SUCCESS || entries_value.is_null()) {
    respond(aws_error(400, "ValidationException",
                      "1 validation error detected: Value null at 'entries' failed to satisfy "
                      "constraint: Member must not be null",
                      request_id));
    return;
  }
  simdjson::dom::array entries_array;
  if (entries_value.get(entries_array) != simdjson::SUCCESS) {
    respond(aws_error(400, "SerializationException", "Entries must be a JSON array.", request_id));
    return;
  }

  // Read every entry with its JSON types checked (the protocol's deserialization step).
  std::vector<RawEntry> entries;
  size_t index = 0;
  for (simdjson::dom::element element : entries_array) {
    // Fits the short-string buffer: no allocation per entry on the accepting path.
    std::string where = "Entries[" + std::to_string(index++) + "]";
    simdjson::dom::object object;
    if (element.get(object) != simdjson::SUCCESS) {
      respond(
          aws_error(400, "SerializationException", where + " must be a JSON object.", request_id));
      return;
    }
    RawEntry entry;
    std::string error;
    if (!optional_string(object, "Source", entry.source, error, where) ||
        !optional_string(object, "DetailType", entry.detail_type, error, where) ||
        !optional_string(object, "Detail", entry.detail, error, where) ||
        !optional_string(object, "EventBusName", entry.event_bus_name, error, where) ||
        !optional_string(object, "TraceHeader", entry.trace_header, error, where)) {
      respond(aws_error(400, "SerializationException", error, request_id));
      return;
    }
    simdjson::dom::element time;
    if (object["Time"].get(time) == simdjson::SUCCESS && !time.is_null()) {
      entry.has_time = true;
      double number = 0;
      std::string_view text;
      if (time.is_int64()) {
        entry.time = time.get_int64().value_unsafe();
      } else if (time.get(number) == simdjson::SUCCESS) {
        if (number >= -9.2e18 && number <= 9.2e18) {
          entry.time = static_cast<int64_t>(std::floor(number));
        } else {
          entry.time_invalid = true;
        }
      } else if (time.get(text) == simdjson::SUCCESS) {
        entry.time = parse_rfc3339(text);
        entry.time_invalid = !entry.time.has_value();
      } else {
        respond(aws_error(400, "SerializationException",
                          where + ".Time must be epoch seconds (a number) or an ISO 8601 string.",
                          request_id));
        return;
      }
    }
    simdjson::dom::element resources;
    if (object["Resources"].get(resources) == simdjson::SUCCESS && !resources.is_null()) {
      simdjson::dom::array array;
      if (resources.get(array) != simdjson::SUCCESS) {
        respond(aws_error(400, "SerializationException", where + ".Resources must be an array.",
                          request_id));
        return;
      }
      entry.resources.emplace();
      for (simdjson::dom::element resource : array) {
        std::string_view text;
        if (resource.get(text) != simdjson::SUCCESS) {
          respond(aws_error(400, "SerializationException",
                            where + ".Resources must hold only strings.", request_id));
          return;
        }
        entry.resources->push_back(text);
      }
    }
    entries.push_back(std::move(entry));
  }

  if (entries.size() > kMaxEntries) {
    respond(aws_error(400, "ValidationException",
                      fmt::format("1 validation error detected: Value '{}' at 'entries' failed to "
                                  "satisfy constraint: Member must have length less than or "
                                  "equal to 10",
                                  java_entry_list(entries)),
                      request_id));
    return;
  }
  if (entries.empty()) {
    respond(aws_error(400, "ValidationException",
                      "1 validation error detected: Value '[]' at 'entries' failed to satisfy "
                      "constraint: Member must have length greater than or equal to 1",
                      request_id));
    return;
  }
  int64_t total = 0;
  for (const RawEntry& entry : entries) {
    EntrySizeInput size;
    size.has_time = entry.has_time;
    size.source = entry.source.value_or("");
    size.detail_type = entry.detail_type.value_or("");
    size.detail = entry.detail.value_or("");
    if (entry.resources) {
      size.resources = *entry.resources;
    }
    total += put_events_entry_size(size);
  }
  if (total > config_.limits.max_entry_bytes) {
    respond(aws_error(400, "ValidationException",
                      "Total size of the entries in the request is over the limit.", request_id));
    return;
  }

  // Per-entry validation; valid entries become envelopes grouped by bus (in entry order).
  struct Outcome {
    std::string event_id;
    std::string error_code;
    std::string error_message;
  };
  auto outcomes = std::make_shared<std::vector<Outcome>>(entries.size());
  struct Group {
    std::string bus;
    std::vector<Envelope> envelopes;
    std::vector<size_t> indexes;
  };
  std::vector<Group> groups;
  // Entries without a Time get the request's arrival second (formatted once).
  const Result<std::string> now_text = format_event_time(
      std::chrono::floor<std::chrono::seconds>(options_.clock()).time_since_epoch().count());
  std::string region_name = region_for(caller.region);
  auto reject = [&](size_t i, std::string_view code, std::string message) {
    (*outcomes)[i].error_code = code;
    (*outcomes)[i].error_message = std::move(message);
    metrics_->count_entry_error(false, code);
  };
  for (size_t i = 0; i < entries.size(); ++i) {
    const RawEntry& entry = entries[i];
    if (!entry.source || entry.source->empty()) {
      reject(i, "InvalidArgument",
             "Parameter Source is not valid. Reason: Source is a required argument.");
      continue;
    }
    if (!entry.detail_type || entry.detail_type->empty()) {
      reject(i, "InvalidArgument",
             "Parameter DetailType is not valid. Reason: DetailType is a required argument.");
      continue;
    }
    if (!entry.detail || entry.detail->empty()) {
      reject(i, "InvalidArgument",
             "Parameter Detail is not valid. Reason: Detail is a required argument.");
      continue;
    }
    if (utf8_chars(*entry.detail_type) > kMaxDetailTypeChars) {
      reject(i, "InvalidArgument",
             fmt::format("Parameter DetailType is not valid. Reason: DetailType is longer than "
                         "{} characters.",
                         kMaxDetailTypeChars));
      continue;
    }
    simdjson::dom::element detail;
    if (nested_parser().parse(entry.detail->data(), entry.detail->size()).get(detail) !=
            simdjson::SUCCESS ||
        !detail.is_object()) {
      reject(i, "MalformedDetail", "Detail is malformed.");
      continue;
    }
    if (entry.time_invalid) {
      reject(i, "InvalidArgument",
             "Parameter Time is not valid. Reason: Time must be epoch seconds or an ISO 8601 "
             "timestamp.");
      continue;
    }
    if (caller.credential != nullptr &&
        !source_allowed(caller.credential->allowed_sources, *entry.source)) {
      reject(i, "NotAuthorizedForSourceException",
             fmt::format("Not authorized for the source '{}': access key {} may publish only "
                         "the sources in its AllowedSources.",
                         *entry.source, caller.credential->access_key_id));
      continue;
    }
    Envelope envelope;
    envelope.version = "0";
    envelope.id = new_uuid_v4();
    envelope.detail_type = *entry.detail_type;
    envelope.source = *entry.source;
    envelope.account = config_.account;
    Result<std::string> time = entry.time ? format_event_time(*entry.time) : now_text;
    if (!time) {
      reject(i, "InvalidArgument",
             "Parameter Time is not valid. Reason: Time is outside years 0001 to 9999.");
      continue;
    }
    envelope.time = std::move(*time);
    envelope.region = region_name;
    if (entry.resources) {
      envelope.resources.assign(entry.resources->begin(), entry.resources->end());
    }
    std::string compact(entry.detail->size(), '\0');
    size_t compact_size = 0;
    if (simdjson::minify(entry.detail->data(), entry.detail->size(), compact.data(),
                         compact_size) != simdjson::SUCCESS) {
      reject(i, "MalformedDetail", "Detail is malformed.");
      continue;
    }
    compact.resize(compact_size);
    envelope.detail_json = std::move(compact);
    (*outcomes)[i].event_id = envelope.id;

    std::string bus = bus_name_of(entry.event_bus_name.value_or(""));
    auto group =
        std::find_if(groups.begin(), groups.end(), [&](const Group& g) { return g.bus == bus; });
    if (group == groups.end()) {
      groups.push_back(Group{bus, {}, {}});
      group = std::prev(groups.end());
    }
    group->envelopes.push_back(std::move(envelope));
    group->indexes.push_back(i);
  }

  // Answers once every group's ingest has called back.
  struct Pending {
    std::shared_ptr<std::vector<Outcome>> outcomes;
    std::shared_ptr<Metrics> metrics;
    Respond respond;
    std::string request_id;
    std::atomic<size_t> remaining{0};
    void finish() {
      JsonWriter writer;
      int64_t failed = 0;
      for (const Outcome& outcome : *outcomes) {
        if (!outcome.error_code.empty()) {
          ++failed;
        }
      }
      writer.begin_object();
      writer.key("FailedEntryCount");
      writer.number(failed);
      writer.key("Entries");
      writer.begin_array();
      for (const Outcome& outcome : *outcomes) {
        writer.begin_object();
        if (outcome.error_code.empty()) {
          writer.key("EventId");
          writer.string(outcome.event_id);
        } else {
          writer.key("ErrorCode");
          writer.string(outcome.error_code);
          writer.key("ErrorMessage");
          writer.string(outcome.error_message);
        }
        writer.end_object();
      }
      writer.end_array();
      writer.end_object();
      respond(aws_json_response(writer.take(), request_id));
    }
  };
  auto pending = std::make_shared<Pending>();
  pending->outcomes = outcomes;
  pending->metrics = metrics_;
  pending->respond = std::move(respond);
  pending->request_id = std::move(request_id);
  if (groups.empty()) {
    pending->finish();
    return;
  }
  pending->remaining.store(groups.size());
  for (Group& group : groups) {
    std::vector<size_t> indexes = std::move(group.indexes);
    size_t count = group.envelopes.size();
    bus_.ingest(group.bus, std::move(group.envelopes),
                [pending, indexes = std::move(indexes), count](std::vector<Status> statuses) {
                  for (size_t k = 0; k < indexes.size(); ++k) {
                    auto& outcome = (*pending->outcomes)[indexes[k]];
                    // A bus answering with the wrong count is a bug there; fail safe here.
                    Status status = k < statuses.size() && statuses.size() == count
                                        ? statuses[k]
                                        : internal_error("the bus answered without a status");
                    if (status.ok()) {
                      pending->metrics->put_events_entries_accepted.fetch_add(
                          1, std::memory_order_relaxed);
                      continue;
                    }
                    outcome.event_id.clear();
                    outcome.error_code = entry_error_code(status);
                    outcome.error_message = status.message();
                    pending->metrics->count_entry_error(false, outcome.error_code);
                  }
                  if (pending->remaining.fetch_sub(1) == 1) {
                    pending->finish();
                  }
                });
  }
}

HttpResponse Api::test_event_pattern(const HttpRequest& request, const std::string& request_id) {
  ParsedBody body = parse_body_object(request.body);
  if (!body.error.empty()) {
    return aws_error(400, "SerializationException", body.error, request_id);
  }
  std::string_view pattern_text;
  std::string_view event_text;
  if (body.object["EventPattern"].get(pattern_text) != simdjson::SUCCESS) {
    return aws_error(400, "ValidationException",
                     "1 validation error detected: Value null at 'eventPattern' failed to satisfy "
                     "constraint: Member must not be null",
                     request_id);
  }
  if (body.object["Event"].get(event_text) != simdjson::SUCCESS) {
    return aws_error(400, "ValidationException",
                     "1 validation error detected: Value null at 'event' failed to satisfy "
                     "constraint: Member must not be null",
                     request_id);
  }
  // The Event must be an envelope with AWS's mandatory fields (API_TestEventPattern).
  simdjson::dom::element event;
  simdjson::dom::object event_object;
  bool event_valid =
      nested_parser().parse(event_text.data(), event_text.size()).get(event) == simdjson::SUCCESS &&
      event.get(event_object) == simdjson::SUCCESS;
  if (event_valid) {
    for (std::string_view key :
         {"id", "account", "source", "time", "region", "resources", "detail-type"}) {
      simdjson::dom::element unused;
      if (event_object[key].get(unused) != simdjson::SUCCESS) {
        event_valid = false;
        break;
      }
    }
  }
  if (!event_valid) {
    return aws_error(400, "ValidationException", "Parameter Event is not valid.", request_id);
  }
  Status pattern_status = pattern::validate_pattern(pattern_text);
  if (!pattern_status.ok()) {
    return aws_error(400, "InvalidEventPatternException",
                     "Event pattern is not valid. Reason: " + pattern_status.message(), request_id);
  }
  Result<bool> matched = pattern::matches(pattern_text, event_text);
  if (!matched) {
    std::string_view message = matched.error().message();
    if (message.substr(0, 7) == "event: ") {
      return aws_error(400, "ValidationException", "Parameter Event is not valid.", request_id);
    }
    return aws_error(400, "InvalidEventPatternException",
                     "Event pattern is not valid. Reason: " + std::string(message), request_id);
  }
  return aws_json_response(*matched ? R"({"Result":true})" : R"({"Result":false})", request_id);
}

namespace {

std::string rule_arn(std::string_view region, std::string_view account, const config::Rule& rule) {
  if (rule.event_bus_name == "default") {
    return fmt::format("arn:aws:events:{}:{}:rule/{}", region, account, rule.name);
  }
  return fmt::format("arn:aws:events:{}:{}:rule/{}/{}", region, account, rule.event_bus_name,
                     rule.name);
}

std::string bus_arn(std::string_view region, std::string_view account, std::string_view bus) {
  return fmt::format("arn:aws:events:{}:{}:event-bus/{}", region, account, bus);
}

void write_rule(JsonWriter& writer, std::string_view region, std::string_view account,
                const config::Rule& rule, bool describe) {
  writer.begin_object();
  writer.key("Name");
  writer.string(rule.name);
  writer.key("Arn");
  writer.string(rule_arn(region, account, rule));
  if (!rule.event_pattern.empty()) {
    writer.key("EventPattern");
    writer.string(rule.event_pattern);
  }
  writer.key("State");
  writer.string(rule_state_name(rule.state));
  if (!rule.description.empty()) {
    writer.key("Description");
    writer.string(rule.description);
  }
  writer.key("EventBusName");
  writer.string(rule.event_bus_name);
  if (describe) {
    writer.key("CreatedBy");
    writer.string(account);
  }
  writer.end_object();
}

bool bus_exists(const config::Config& config, std::string_view bus) {
  if (bus == "default") {
    return true;
  }
  for (const auto& name : config.event_bus_names()) {
    if (name == bus) {
      return true;
    }
  }
  return false;
}

// Pagination over an index: NextToken is the decimal index of the next item.
size_t start_index(simdjson::dom::object object) {
  std::string token = optional_member(object, "NextToken");
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
  if (object["Limit"].get(limit) != simdjson::SUCCESS || limit <= 0 || limit > 100) {
    return 100;
  }
  return static_cast<size_t>(limit);
}

}  // namespace

HttpResponse Api::list_rules(const HttpRequest& request, const std::string& request_id,
                             std::string_view region) {
  ParsedBody body = parse_body_object(request.body);
  if (!body.error.empty()) {
    return aws_error(400, "SerializationException", body.error, request_id);
  }
  std::string bus = bus_name_of(optional_member(body.object, "EventBusName"));
  std::string prefix = optional_member(body.object, "NamePrefix");
  auto config = bus_.config();
  if (!bus_exists(*config, bus)) {
    return aws_error(400, "ResourceNotFoundException",
                     fmt::format("Event bus {} does not exist.", bus), request_id);
  }
  std::vector<const config::Rule*> rules;
  for (const auto& rule : config->rules) {
    if (rule.event_bus_name == bus &&
        std::string_view(rule.name).substr(0, prefix.size()) == prefix) {
      rules.push_back(&rule);
    }
  }
  size_t start = start_index(body.object);
  size_t limit = page_limit(body.object);
  JsonWriter writer;
  writer.begin_object();
  writer.key("Rules");
  writer.begin_array();
  size_t end = std::min(rules.size(), start + limit);
  for (size_t i = start; i < end; ++i) {
    write_rule(writer, region, config_.account, *rules[i], false);
  }
  writer.end_array();
  if (end < rules.size()) {
    writer.key("NextToken");
    writer.string(std::to_string(end));
  }
  writer.end_object();
  return aws_json_response(writer.take(), request_id);
}

HttpResponse Api::describe_rule(const HttpRequest& request, const std::string& request_id,
                                std::string_view region) {
  ParsedBody body = parse_body_object(request.body);
  if (!body.error.empty()) {
    return aws_error(400, "SerializationException", body.error, request_id);
  }
  std::string name = optional_member(body.object, "Name");
  if (name.empty()) {
    return aws_error(400, "ValidationException",
                     "1 validation error detected: Value null at 'name' failed to satisfy "
                     "constraint: Member must not be null",
                     request_id);
  }
  std::string bus = bus_name_of(optional_member(body.object, "EventBusName"));
  auto config = bus_.config();
  for (const auto& rule : config->rules) {
    if (rule.name == name && rule.event_bus_name == bus) {
      JsonWriter writer;
      write_rule(writer, region, config_.account, rule, true);
      return aws_json_response(writer.take(), request_id);
    }
  }
  return aws_error(400, "ResourceNotFoundException",
                   fmt::format("Rule {} does not exist on EventBus {}.", name, bus), request_id);
}

HttpResponse Api::list_targets_by_rule(const HttpRequest& request, const std::string& request_id,
                                       std::string_view region) {
  ParsedBody body = parse_body_object(request.body);
  if (!body.error.empty()) {
    return aws_error(400, "SerializationException", body.error, request_id);
  }
  std::string name = optional_member(body.object, "Rule");
  if (name.empty()) {
    return aws_error(400, "ValidationException",
                     "1 validation error detected: Value null at 'rule' failed to satisfy "
                     "constraint: Member must not be null",
                     request_id);
  }
  std::string bus = bus_name_of(optional_member(body.object, "EventBusName"));
  auto config = bus_.config();
  const config::Rule* found = nullptr;
  for (const auto& rule : config->rules) {
    if (rule.name == name && rule.event_bus_name == bus) {
      found = &rule;
      break;
    }
  }
  if (found == nullptr) {
    return aws_error(400, "ResourceNotFoundException",
                     fmt::format("Rule {} does not exist on EventBus {}.", name, bus), request_id);
  }
  size_t start = start_index(body.object);
  size_t limit = page_limit(body.object);
  size_t end = std::min(found->targets.size(), start + limit);
  JsonWriter writer;
  writer.begin_object();
  writer.key("Targets");
  writer.begin_array();
  for (size_t i = start; i < end; ++i) {
    const config::Target& target = found->targets[i];
    writer.begin_object();
    writer.key("Id");
    writer.string(target.id);
    writer.key("Arn");
    if (!target.api_destination.empty()) {
      writer.string(fmt::format("arn:aws:events:{}:{}:api-destination/{}", region, config_.account,
                                target.api_destination));
    } else {
      // Not an AWS resource: a local file target; the ARN only has to be unique and readable.
      writer.string(fmt::format("arn:hikyaku:log:{}:{}:target/{}/{}", region, config_.account,
                                found->name, target.id));
    }
    if (target.input) {
      writer.key("Input");
      writer.string(*target.input);
    }
    if (target.input_path) {
      writer.key("InputPath");
      writer.string(*target.input_path);
    }
    if (target.input_transformer) {
      writer.key("InputTransformer");
      writer.begin_object();
      if (!target.input_transformer->input_paths_map.empty()) {
        writer.key("InputPathsMap");
        writer.begin_object();
        for (const auto& [key, path] : target.input_transformer->input_paths_map) {
          writer.key(key);
          writer.string(path);
        }
        writer.end_object();
      }
      writer.key("InputTemplate");
      writer.string(target.input_transformer->input_template);
      writer.end_object();
    }
    writer.key("RetryPolicy");
    writer.begin_object();
    writer.key("MaximumRetryAttempts");
    writer.number(static_cast<int64_t>(target.retry_policy.maximum_retry_attempts));
    writer.key("MaximumEventAgeInSeconds");
    writer.number(static_cast<int64_t>(target.retry_policy.maximum_event_age_in_seconds));
    writer.end_object();
    if (target.dead_letter_config) {
      writer.key("DeadLetterConfig");
      writer.begin_object();
      writer.key("Arn");
      writer.string(target.dead_letter_config->arn);
      writer.end_object();
    }
    writer.end_object();
  }
  writer.end_array();
  if (end < found->targets.size()) {
    writer.key("NextToken");
    writer.string(std::to_string(end));
  }
  writer.end_object();
  return aws_json_response(writer.take(), request_id);
}

HttpResponse Api::list_event_buses(const HttpRequest& request, const std::string& request_id,
                                   std::string_view region) {
  ParsedBody body = parse_body_object(request.body);
  if (!body.error.empty()) {
    return aws_error(400, "SerializationException", body.error, request_id);
  }
  std::string prefix = optional_member(body.object, "NamePrefix");
  auto config = bus_.config();
  std::vector<std::string> buses = {"default"};
  for (const auto& name : config->event_bus_names()) {
    if (name != "default") {
      buses.push_back(name);
    }
  }
  JsonWriter writer;
  writer.begin_object();
  writer.key("EventBuses");
  writer.begin_array();
  for (const auto& bus : buses) {
    if (std::string_view(bus).substr(0, prefix.size()) != prefix) {
      continue;
    }
    writer.begin_object();
    writer.key("Name");
    writer.string(bus);
    writer.key("Arn");
    writer.string(bus_arn(region, config_.account, bus));
    writer.end_object();
  }
  writer.end_array();
  writer.end_object();
  return aws_json_response(writer.take(), request_id);
}

void Api::handle_webhook(const HttpRequest& request, std::string_view bus_name, Respond& respond) {
  auto error = [&](unsigned status, std::string_view type, std::string_view message) {
    metrics_->count_request_error(type);
    HttpResponse response;
    response.status = status;
    response.content_type = kJson;
    response.body = json_error_body(type, message);
    return response;
  };
  const config::ApiKeyCredential* credential = nullptr;
  if (config_.auth.configured()) {
    bool presented = false;
    for (const auto& key : config_.auth.api_keys) {
      const std::string* value = request.header(key.header_name);
      if (value == nullptr) {
        continue;
      }
      presented = true;
      // Comparing digests keeps the comparison constant-time whatever the lengths.
      std::string given = sigv4::sha256(*value);
      std::string expected = sigv4::sha256(key.value.reveal());
      if (CRYPTO_memcmp(given.data(), expected.data(), given.size()) == 0) {
        credential = &key;
        break;
      }
    }
    if (credential == nullptr) {
      respond(presented ? error(403, "AccessDeniedException", "The API key is not valid.")
                        : error(401, "MissingAuthenticationTokenException",
                                "Missing API key header (see Server.Auth.ApiKeys)."));
      return;
    }
  }
  Result<Envelope> envelope = parse_envelope(request.body);
  if (!envelope) {
    metrics_->count_entry_error(true, "InvalidArgument");
    respond(error(400, "ValidationException", envelope.error().message()));
    return;
  }
  if (credential != nullptr && !source_allowed(credential->allowed_sources, envelope->source)) {
    metrics_->count_entry_error(true, "NotAuthorizedForSourceException");
    respond(error(403, "NotAuthorizedForSourceException",
                  fmt::format("Not authorized for the source '{}': this API key may publish only "
                              "the sources in its AllowedSources.",
                              envelope->source)));
    return;
  }
  std::string event_id = envelope->id;
  std::vector<Envelope> batch;
  batch.push_back(std::move(*envelope));
  bus_.ingest(bus_name, std::move(batch),
              [metrics = metrics_, respond = std::move(respond),
               event_id = std::move(event_id)](std::vector<Status> statuses) {
                Status status = statuses.size() == 1
                                    ? statuses[0]
                                    : internal_error("the bus answered without a status");
                HttpResponse response;
                response.content_type = kJson;
                if (status.ok()) {
                  metrics->webhook_events_accepted.fetch_add(1, std::memory_order_relaxed);
                  JsonWriter writer;
                  writer.begin_object();
                  writer.key("EventId");
                  writer.string(event_id);
                  writer.end_object();
                  response.body = writer.take();
                } else {
                  std::string_view code = entry_error_code(status);
                  metrics->count_entry_error(true, code);
                  // EventBridge API destinations retry 429 and 5xx.
                  response.status = status.code() == StatusCode::kResourceExhausted ? 429 : 503;
                  response.body = json_error_body(code, status.message());
                  response.headers.emplace_back("Retry-After", "1");
                }
                respond(std::move(response));
              });
}

}  // namespace hikyaku::server
