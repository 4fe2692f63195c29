// `hikyaku send --endpoint URL [--bus NAME] FILE...`: publish event files through PutEvents, ten
// entries per call, for users without the AWS CLI. Each FILE holds one event envelope (JSON).
// Requests are signed with SigV4 when AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are set
// (region from AWS_REGION or AWS_DEFAULT_REGION, else us-east-1).
//
// Prints one line per file: "FILE EVENT_ID" or "FILE ERROR_CODE: message". Exit 0 when every
// event was accepted, 1 when some were refused, 2 on bad input or when the endpoint is
// unreachable.

#include <fmt/format.h>
#include <simdjson.h>

#include <cstdlib>

#include "cli/aws_signing.h"
#include "cli/commands.h"
#include "core/clock.h"
#include "core/envelope.h"
#include "core/file.h"
#include "core/json_writer.h"
#include "core/redact.h"
#include "delivery/http_client.h"
#include "server/sigv4.h"

namespace hikyaku::cli {
namespace {

constexpr size_t kEntriesPerCall = 10;

struct Event {
  std::string file;
  Envelope envelope;
};

std::string_view string_field(simdjson::dom::element element, std::string_view key) {
  std::string_view value;
  if (element[key].get(value) != simdjson::SUCCESS) {
    return "";
  }
  return value;
}

std::string put_events_body(const std::vector<Event>& events, size_t begin, size_t end,
                            const std::string& bus) {
  JsonWriter writer;
  writer.begin_object();
  writer.key("Entries");
  writer.begin_array();
  for (size_t i = begin; i < end; ++i) {
    const Envelope& envelope = events[i].envelope;
    writer.begin_object();
    writer.key("Source");
    writer.string(envelope.source);
    writer.key("DetailType");
    writer.string(envelope.detail_type);
    writer.key("Detail");
    writer.string(envelope.detail_json);
    writer.key("Resources");
    writer.begin_array();
    for (const std::string& resource : envelope.resources) {
      writer.string(resource);
    }
    writer.end_array();
    writer.key("Time");
    writer.string(envelope.time);
    if (!bus.empty()) {
      writer.key("EventBusName");
      writer.string(bus);
    }
    writer.end_object();
  }
  writer.end_array();
  writer.end_object();
  return writer.take();
}

// One event file: at most kMaxEnvelopeBytes (no envelope is larger), refused before parsing when
// bigger; errors name the file.
Result<Event> read_event(const std::string& file) {
  HK_ASSIGN_OR_RETURN(std::string text, read_file(file, kMaxEnvelopeBytes));
  Result<Envelope> envelope = parse_envelope(text);
  if (!envelope.has_value()) {
    return invalid_argument(fmt::format("{}: {}", file, envelope.error().message()));
  }
  return Event{file, std::move(envelope).value()};
}

int send(const std::string& endpoint, const std::string& bus,
         const std::vector<std::string>& files) {
  // Every file is checked before anything is sent (bad input sends nothing), then read again ten
  // at a time: memory holds one call's events, however many files are named.
  for (const std::string& file : files) {
    if (Result<Event> event = read_event(file); !event.has_value()) {
      fmt::print(stderr, "error: {}\n", event.error().message());
      return 2;
    }
  }
  const size_t scheme_end = endpoint.find("://");
  if (endpoint.rfind("http://", 0) != 0 && endpoint.rfind("https://", 0) != 0) {
    fmt::print(stderr, "error: --endpoint must be an http:// or https:// URL, got {}\n",
               redact_url(endpoint));
    return 2;
  }
  const std::string host =
      endpoint.substr(scheme_end + 3, endpoint.find('/', scheme_end + 3) - scheme_end - 3);

  delivery::HttpClient http;
  bool all_accepted = true;
  std::vector<Event> events;
  for (size_t first = 0; first < files.size(); first += kEntriesPerCall) {
    events.clear();
    for (size_t i = first; i < std::min(files.size(), first + kEntriesPerCall); ++i) {
      Result<Event> event = read_event(files[i]);
      if (!event.has_value()) {  // changed since it was checked
        fmt::print(stderr, "error: {}\n", event.error().message());
        return 2;
      }
      events.push_back(std::move(event).value());
    }
    const size_t begin = 0;
    const size_t end = events.size();
    delivery::HttpRequest request;
    request.method = "POST";
    request.url =
        endpoint.find('/', scheme_end + 3) == std::string::npos ? endpoint + "/" : endpoint;
    request.timeout_ms = 30'000;
    request.body = put_events_body(events, begin, end, bus);
    request.headers = {{"Content-Type", "application/x-amz-json-1.1"},
                       {"X-Amz-Target", "AWSEvents.PutEvents"}};
    sign_from_environment(request, host);
    std::string response;
    delivery::AttemptResult result = http.send(request, nullptr, &response);
    if (result.http_status == 0) {
      fmt::print(stderr, "error: {}: {}\n", redact_url(endpoint), result.error);
      return 2;
    }
    simdjson::dom::parser parser;
    simdjson::dom::element answer;
    if (parser.parse(response).get(answer) != simdjson::SUCCESS) {
      fmt::print(stderr, "error: HTTP {} with a body that is not JSON\n", result.http_status);
      return 2;
    }
    if (result.http_status != 200) {
      fmt::print(stderr, "error: HTTP {} {}: {}\n", result.http_status,
                 string_field(answer, "__type"), string_field(answer, "message"));
      return 2;
    }
    simdjson::dom::array entries;
    if (answer["Entries"].get(entries) != simdjson::SUCCESS || entries.size() != end - begin) {
      fmt::print(stderr, "error: PutEvents answered without one entry per event\n");
      return 2;
    }
    size_t i = begin;
    for (simdjson::dom::element entry : entries) {
      std::string_view event_id;
      if (entry["EventId"].get(event_id) == simdjson::SUCCESS && entry["ErrorCode"].error()) {
        fmt::print("{} {}\n", events[i].file, event_id);
      } else {
        fmt::print("{} {}: {}\n", events[i].file, string_field(entry, "ErrorCode"),
                   string_field(entry, "ErrorMessage"));
        all_accepted = false;
      }
      ++i;
    }
  }
  return all_accepted ? 0 : 1;
}

}  // namespace

void add_send_command(CLI::App& app, int& exit_code) {
  auto* command = app.add_subcommand(
      "send",
      "Publish event files (one envelope each) to a hikyaku or EventBridge endpoint "
      "through PutEvents, 10 per call; signed with SigV4 when AWS credentials are set.");
  auto endpoint = std::make_shared<std::string>();
  auto bus = std::make_shared<std::string>();
  auto files = std::make_shared<std::vector<std::string>>();
  command->add_option("--endpoint", *endpoint, "e.g. http://127.0.0.1:4010")->required();
  command->add_option("--bus", *bus, "event bus name (default: the default bus)");
  command->add_option("files", *files, "event files")->required();
  command->callback(
      [endpoint, bus, files, &exit_code] { exit_code = send(*endpoint, *bus, *files); });
}

}  // namespace hikyaku::cli
