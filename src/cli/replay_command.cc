// `hikyaku replay start|status|cancel --endpoint URL ...`: replays of an archive through the AWS
// JSON API of a running server (StartReplay, DescribeReplay, CancelReplay; DescribeArchive to
// find the archive's ARN and bus), for operators without the AWS CLI. Requests are signed with
// SigV4 when AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are set (region from AWS_REGION or
// AWS_DEFAULT_REGION, else us-east-1), as `send` does.
//
//   hikyaku replay start NAME --archive A --from T --to T [--rule R]... [--description D]
//   hikyaku replay status NAME
//   hikyaku replay cancel NAME
//
// T is epoch seconds or an RFC 3339 timestamp. Prints "NAME STATE" and, for status, the window,
// the time of the last event replayed and the replay's start and end. Exit 0, 1 when the server
// refused (its error type and message on stderr), 2 on bad input or an unreachable endpoint.

#include <fmt/format.h>
#include <simdjson.h>

#include <cstdlib>
#include <memory>

#include "cli/aws_signing.h"
#include "cli/commands.h"
#include "core/clock.h"
#include "core/json_writer.h"
#include "core/redact.h"
#include "core/time.h"
#include "delivery/http_client.h"
#include "server/sigv4.h"

namespace hikyaku::cli {
namespace {

struct Options {
  std::string endpoint;
  std::string name;
  std::string archive;
  std::string from;
  std::string to;
  std::vector<std::string> rules;
  std::string description;
};

// One AWS JSON call; the answer's text, or the exit code to leave with (the error printed).
struct Answer {
  std::string body;
  int exit_code = 0;
};

Answer call(const std::string& endpoint, std::string_view operation, std::string body) {
  if (endpoint.rfind("http://", 0) != 0 && endpoint.rfind("https://", 0) != 0) {
    fmt::print(stderr, "error: --endpoint must be an http:// or https:// URL, got {}\n",
               redact_url(endpoint));
    return {"", 2};
  }
  const size_t host_start = endpoint.find("://") + 3;
  const size_t path_start = endpoint.find('/', host_start);
  const std::string host = endpoint.substr(host_start, path_start - host_start);
  delivery::HttpRequest request;
  request.method = "POST";
  request.url = endpoint.substr(0, path_start) + "/";
  request.timeout_ms = 30'000;
  request.body = std::move(body);
  request.headers = {{"Content-Type", "application/x-amz-json-1.1"},
                     {"X-Amz-Target", fmt::format("AWSEvents.{}", operation)}};
  sign_from_environment(request, host);
  delivery::HttpClient http;
  std::string response;
  const delivery::AttemptResult result = http.send(request, nullptr, &response);
  if (result.http_status == 0) {
    fmt::print(stderr, "error: {}: {}\n", redact_url(endpoint), result.error);
    return {"", 2};
  }
  if (result.http_status != 200) {
    simdjson::dom::parser parser;
    simdjson::dom::element answer;
    std::string_view type = "";
    std::string_view message = "";
    if (parser.parse(response).get(answer) == simdjson::SUCCESS) {
      if (answer["__type"].get(type) != simdjson::SUCCESS) {
        type = "";
      }
      if (answer["message"].get(message) != simdjson::SUCCESS) {
        message = "";
      }
    }
    fmt::print(stderr, "error: HTTP {} {}: {}\n", result.http_status, type, message);
    return {"", 1};
  }
  return {std::move(response), 0};
}

std::string name_body(std::string_view key, std::string_view name) {
  JsonWriter writer;
  writer.begin_object();
  writer.key(key);
  writer.string(name);
  writer.end_object();
  return writer.take();
}

// Epoch seconds or RFC 3339 -> epoch seconds.
std::optional<int64_t> parse_time(const std::string& text) {
  if (!text.empty() && text.find_first_not_of("0123456789") == std::string::npos &&
      text.size() < 12) {
    return std::stoll(text);
  }
  return parse_rfc3339(text);
}

std::string_view string_of(simdjson::dom::element element, std::string_view key) {
  std::string_view value = "";
  if (element[key].get(value) != simdjson::SUCCESS) {
    value = "";
  }
  return value;
}

// A timestamp member (epoch seconds) as RFC 3339, "-" when absent.
std::string time_of(simdjson::dom::element element, std::string_view key) {
  double seconds = 0;
  if (element[key].get(seconds) != simdjson::SUCCESS) {
    return "-";
  }
  return format_rfc3339_seconds(std::chrono::system_clock::time_point(
      std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000))));
}

int start(const Options& options) {
  const std::optional<int64_t> from = parse_time(options.from);
  const std::optional<int64_t> to = parse_time(options.to);
  if (!from || !to) {
    fmt::print(stderr, "error: --from and --to take epoch seconds or RFC 3339 timestamps\n");
    return 2;
  }
  Answer archive =
      call(options.endpoint, "DescribeArchive", name_body("ArchiveName", options.archive));
  if (archive.exit_code != 0) {
    return archive.exit_code;
  }
  simdjson::dom::parser parser;
  simdjson::dom::element described;
  if (parser.parse(archive.body).get(described) != simdjson::SUCCESS) {
    fmt::print(stderr, "error: DescribeArchive answered something that is not JSON\n");
    return 2;
  }
  const std::string bus_arn(string_of(described, "EventSourceArn"));
  const size_t bus_at = bus_arn.find(":event-bus/");
  if (bus_at == std::string::npos) {
    fmt::print(stderr, "error: DescribeArchive answered no event bus ARN\n");
    return 2;
  }
  const std::string bus = bus_arn.substr(bus_at + 11);
  JsonWriter writer;
  writer.begin_object();
  writer.key("ReplayName");
  writer.string(options.name);
  if (!options.description.empty()) {
    writer.key("Description");
    writer.string(options.description);
  }
  writer.key("EventSourceArn");
  writer.string(string_of(described, "ArchiveArn"));
  writer.key("EventStartTime");
  writer.number(*from);
  writer.key("EventEndTime");
  writer.number(*to);
  writer.key("Destination");
  writer.begin_object();
  writer.key("Arn");
  writer.string(bus_arn);
  if (!options.rules.empty()) {
    writer.key("FilterArns");
    writer.begin_array();
    for (const std::string& rule : options.rules) {
      // arn:...:rule/NAME on the default bus, arn:...:rule/BUS/NAME on another.
      std::string rule_arn = bus_arn.substr(0, bus_at) + ":rule/";
      if (bus != "default") {
        rule_arn += bus;
        rule_arn += '/';
      }
      rule_arn += rule;
      writer.string(rule_arn);
    }
    writer.end_array();
  }
  writer.end_object();
  writer.end_object();
  Answer started = call(options.endpoint, "StartReplay", writer.take());
  if (started.exit_code != 0) {
    return started.exit_code;
  }
  simdjson::dom::element answer;
  if (parser.parse(started.body).get(answer) != simdjson::SUCCESS) {
    fmt::print(stderr, "error: StartReplay answered something that is not JSON\n");
    return 2;
  }
  fmt::print("{} {}\n", options.name, string_of(answer, "State"));
  return 0;
}

int status(const Options& options) {
  Answer described =
      call(options.endpoint, "DescribeReplay", name_body("ReplayName", options.name));
  if (described.exit_code != 0) {
    return described.exit_code;
  }
  simdjson::dom::parser parser;
  simdjson::dom::element replay;
  if (parser.parse(described.body).get(replay) != simdjson::SUCCESS) {
    fmt::print(stderr, "error: DescribeReplay answered something that is not JSON\n");
    return 2;
  }
  fmt::print("{} {}\n", options.name, string_of(replay, "State"));
  fmt::print("  reason:        {}\n", string_of(replay, "StateReason"));
  fmt::print("  archive:       {}\n", string_of(replay, "EventSourceArn"));
  fmt::print("  window:        {} .. {}\n", time_of(replay, "EventStartTime"),
             time_of(replay, "EventEndTime"));
  fmt::print("  last replayed: {}\n", time_of(replay, "EventLastReplayedTime"));
  fmt::print("  started:       {}\n", time_of(replay, "ReplayStartTime"));
  fmt::print("  ended:         {}\n", time_of(replay, "ReplayEndTime"));
  return 0;
}

int cancel(const Options& options) {
  Answer cancelled = call(options.endpoint, "CancelReplay", name_body("ReplayName", options.name));
  if (cancelled.exit_code != 0) {
    return cancelled.exit_code;
  }
  simdjson::dom::parser parser;
  simdjson::dom::element answer;
  if (parser.parse(cancelled.body).get(answer) != simdjson::SUCCESS) {
    fmt::print(stderr, "error: CancelReplay answered something that is not JSON\n");
    return 2;
  }
  fmt::print("{} {}\n", options.name, string_of(answer, "State"));
  return 0;
}

}  // namespace

void add_replay_command(CLI::App& app, int& exit_code) {
  auto* command = app.add_subcommand(
      "replay",
      "Replay an archive's events through a running server's AWS API (StartReplay, "
      "DescribeReplay, CancelReplay); signed with SigV4 when AWS credentials are set.");
  command->require_subcommand(1);
  auto options = std::make_shared<Options>();
  const auto common = [&](CLI::App* sub) {
    sub->add_option("--endpoint", options->endpoint, "e.g. http://127.0.0.1:4010")->required();
    sub->add_option("name", options->name, "the replay's name")->required();
  };
  auto* start_command =
      command->add_subcommand("start", "Start a replay of an archive's events in [--from, --to)");
  common(start_command);
  start_command->add_option("--archive", options->archive, "the archive's name")->required();
  start_command->add_option("--from", options->from, "epoch seconds or RFC 3339")->required();
  start_command->add_option("--to", options->to, "epoch seconds or RFC 3339")->required();
  start_command->add_option("--rule", options->rules,
                            "a rule of the archive's bus to replay to (repeatable; default: all)");
  start_command->add_option("--description", options->description, "the replay's description");
  start_command->callback([options, &exit_code] { exit_code = start(*options); });
  auto* status_command = command->add_subcommand("status", "Show a replay's state and progress");
  common(status_command);
  status_command->callback([options, &exit_code] { exit_code = status(*options); });
  auto* cancel_command = command->add_subcommand("cancel", "Cancel a replay");
  common(cancel_command);
  cancel_command->callback([options, &exit_code] { exit_code = cancel(*options); });
}

}  // namespace hikyaku::cli
