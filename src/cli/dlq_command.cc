// `hikyaku dlq list|show|redrive|purge` and `hikyaku deliveries`: the dead-letter queue and the
// delivery log, through a running server (--endpoint) or on a stopped server's store (--config);
// cli/admin_connection.h says how, docs/operations.md what each prints.
//
//   hikyaku dlq list [--rule R] [--target T] [--error-code C] [--since T] [--until T] [--json]
//   hikyaku dlq show ID [--json]
//   hikyaku dlq redrive (ID... | --all [--rule R] [--target T] ...) [--as-recorded]
//   hikyaku dlq purge (ID... | --all [--rule R] [--target T] ...)
//   hikyaku deliveries [--last N] [--json]
//
// Exit codes: 0 done; 1 the API refused or some letters could not be redriven; 2 bad usage or
// no way in (the store of a running server, an unreachable endpoint).
#include <fmt/format.h>
#include <simdjson.h>

#include <charconv>
#include <memory>
#include <string>
#include <vector>

#include "cli/admin_connection.h"
#include "cli/commands.h"
#include "core/json_writer.h"
#include "core/url_encoding.h"

namespace hikyaku::cli {
namespace {

// Letters per page when listing them all.
constexpr int kPage = 200;

struct Filter {
  std::string rule;
  std::string target;
  std::string error_code;
  std::string since;
  std::string until;
};

void add_filter_options(CLI::App& command, Filter& filter) {
  command.add_option("--rule", filter.rule, "only letters of this rule");
  command.add_option("--target", filter.target, "only letters of this target (Id or key)");
  command.add_option("--error-code", filter.error_code, "only letters with this error code");
  command.add_option("--since", filter.since, "dead-lettered at or after (RFC 3339 or epoch s)");
  command.add_option("--until", filter.until, "dead-lettered before (RFC 3339 or epoch s)");
}

std::string filter_query(const Filter& filter) {
  std::string query;
  const auto add = [&](const char* name, const std::string& value) {
    if (!value.empty()) {
      query += fmt::format("{}{}={}", query.empty() ? "" : "&", name, form_encode(value));
    }
  };
  add("rule", filter.rule);
  add("target", filter.target);
  add("error_code", filter.error_code);
  add("since", filter.since);
  add("until", filter.until);
  return query;
}

// Opens the way in and says on stderr which one it is; prints the error and sets exit code 2
// when there is none.
std::unique_ptr<AdminConnection> connect(const AdminOptions& options, int& exit_code) {
  Result<std::unique_ptr<AdminConnection>> connection = AdminConnection::open(options);
  if (!connection.has_value()) {
    fmt::print(stderr, "error: {}\n", connection.error().message());
    exit_code = 2;
    return nullptr;
  }
  fmt::print(stderr, "using {}\n", (*connection)->description());
  return std::move(connection).value();
}

int fail(const Status& status) {
  fmt::print(stderr, "error: {}\n", status.message());
  return status.code() == StatusCode::kUnavailable ? 2 : 1;
}

std::string text_of(simdjson::dom::element element, std::string_view key) {
  std::string_view text;
  if (element[key].get(text) == simdjson::SUCCESS) {
    return std::string(text);
  }
  int64_t number = 0;
  if (element[key].get(number) == simdjson::SUCCESS) {
    return std::to_string(number);
  }
  return "-";
}

// One line of a table cell: no line breaks, at most `width` characters shown.
std::string cell(std::string text, size_t width) {
  for (char& c : text) {
    if (c == '\n' || c == '\r' || c == '\t') {
      c = ' ';
    }
  }
  if (text.size() > width) {
    text.resize(width - 3);
    text += "...";
  }
  return text;
}

int list(const AdminOptions& options, const Filter& filter, bool json, int& exit_code) {
  std::unique_ptr<AdminConnection> connection = connect(options, exit_code);
  if (connection == nullptr) {
    return exit_code;
  }
  // Every page, in order; the JSON form is one array of every letter.
  JsonWriter all;
  all.begin_array();
  if (!json) {
    fmt::print("{:<8} {:<24} {:<24} {:<20} {:<20} {:<8} {}\n", "ID", "DEAD-LETTERED AT", "RULE",
               "TARGET", "ERROR CODE", "ATTEMPTS", "MESSAGE");
  }
  int64_t count = 0;
  std::string token;
  simdjson::dom::parser parser;
  for (;;) {
    std::string query = filter_query(filter);
    query += fmt::format("{}limit={}", query.empty() ? "" : "&", kPage);
    if (!token.empty()) {
      query += "&next_token=" + form_encode(token);
    }
    Result<std::string> page = call_admin(*connection, "GET", "/dead-letters", query);
    if (!page.has_value()) {
      return fail(page.status());
    }
    simdjson::dom::element root = parser.parse(*page);
    for (simdjson::dom::element letter : root["DeadLetters"].get_array()) {
      ++count;
      if (json) {
        all.raw(simdjson::to_string(letter));
        continue;
      }
      fmt::print("{:<8} {:<24} {:<24} {:<20} {:<20} {:<8} {}\n", text_of(letter, "Id"),
                 text_of(letter, "DeadLetteredAt"), cell(text_of(letter, "Rule"), 24),
                 cell(text_of(letter, "Target"), 20), cell(text_of(letter, "ErrorCode"), 20),
                 text_of(letter, "Attempts"), cell(text_of(letter, "ErrorMessage"), 80));
    }
    std::string_view next;
    if (root["NextToken"].get(next) != simdjson::SUCCESS) {
      break;
    }
    token = std::string(next);
  }
  all.end_array();
  if (json) {
    fmt::print("{}\n", all.take());
  } else {
    fmt::print("{} dead letter{}\n", count, count == 1 ? "" : "s");
  }
  return 0;
}

int show(const AdminOptions& options, const std::string& id, bool json, int& exit_code) {
  std::unique_ptr<AdminConnection> connection = connect(options, exit_code);
  if (connection == nullptr) {
    return exit_code;
  }
  Result<std::string> letter = call_admin(*connection, "GET", "/dead-letters/" + form_encode(id));
  if (!letter.has_value()) {
    return fail(letter.status());
  }
  if (json) {
    fmt::print("{}\n", *letter);
    return 0;
  }
  simdjson::dom::parser parser;
  simdjson::dom::element root = parser.parse(*letter);
  for (const char* key : {"Id", "EventBusName", "Rule", "Target", "EventId", "ErrorCode",
                          "ErrorMessage", "ExhaustedRetryCondition", "Attempts", "HttpStatus",
                          "IngestedAt", "DeadLetteredAt", "ResponseExcerpt", "Body"}) {
    fmt::print("{:<24} {}\n", std::string(key) + ":", text_of(root, key));
  }
  for (const char* key : {"Headers", "Request", "Event"}) {
    fmt::print("{:<24} {}\n", std::string(key) + ":", simdjson::to_string(root[key]));
  }
  return 0;
}

// The body of a redrive or purge: the ids given, or every letter passing the filter.
Result<std::string> selection_body(const std::vector<std::string>& ids, bool all,
                                   const Filter& filter, bool as_recorded) {
  if (ids.empty() == !all) {
    return invalid_argument(ids.empty() ? "name the letters: ID... or --all (with --rule, "
                                          "--target, ... to narrow it)"
                                        : "give IDs or --all, not both");
  }
  JsonWriter writer;
  writer.begin_object();
  if (all) {
    writer.key("All");
    writer.boolean(true);
    const auto add = [&](const char* name, const std::string& value) {
      if (!value.empty()) {
        writer.key(name);
        writer.string(value);
      }
    };
    add("Rule", filter.rule);
    add("Target", filter.target);
    add("ErrorCode", filter.error_code);
    add("Since", filter.since);
    add("Until", filter.until);
  } else {
    writer.key("Ids");
    writer.begin_array();
    for (const std::string& id : ids) {
      int64_t number = 0;
      const auto [end, error] = std::from_chars(id.data(), id.data() + id.size(), number);
      if (error != std::errc() || end != id.data() + id.size() || number <= 0) {
        return invalid_argument(fmt::format("{} is not a dead-letter id", json_quote(id)));
      }
      writer.number(number);
    }
    writer.end_array();
  }
  if (as_recorded) {
    writer.key("AsRecorded");
    writer.boolean(true);
  }
  writer.end_object();
  return writer.take();
}

int change(const AdminOptions& options, const std::string& action,
           const std::vector<std::string>& ids, bool all, const Filter& filter, bool as_recorded,
           int& exit_code) {
  Result<std::string> body = selection_body(ids, all, filter, as_recorded);
  if (!body.has_value()) {
    fmt::print(stderr, "error: {}\n", body.error().message());
    return 2;
  }
  std::unique_ptr<AdminConnection> connection = connect(options, exit_code);
  if (connection == nullptr) {
    return exit_code;
  }
  Result<std::string> answer =
      call_admin(*connection, "POST", "/dead-letters/" + action, "", *body);
  if (!answer.has_value()) {
    return fail(answer.status());
  }
  simdjson::dom::parser parser;
  simdjson::dom::element root = parser.parse(*answer);
  if (action == "purge") {
    fmt::print("purged {}\n", text_of(root, "Purged"));
    return 0;
  }
  fmt::print("redriven {}\n", text_of(root, "Redriven"));
  const int64_t failed = root["FailedCount"].get_int64().value_unsafe();
  for (simdjson::dom::element failure : root["Failed"].get_array()) {
    fmt::print("not redriven {}: {}\n", text_of(failure, "Id"), text_of(failure, "Reason"));
  }
  if (failed > 0) {
    fmt::print("{} letter{} not redriven (they stay in the queue)\n", failed,
               failed == 1 ? "" : "s");
    return 1;
  }
  return 0;
}

int deliveries(const AdminOptions& options, int last, bool json, int& exit_code) {
  std::unique_ptr<AdminConnection> connection = connect(options, exit_code);
  if (connection == nullptr) {
    return exit_code;
  }
  Result<std::string> answer =
      call_admin(*connection, "GET", "/deliveries", fmt::format("limit={}", last));
  if (!answer.has_value()) {
    return fail(answer.status());
  }
  simdjson::dom::parser parser;
  simdjson::dom::element root = parser.parse(*answer);
  if (json) {
    fmt::print("{}\n", simdjson::to_string(root["Deliveries"]));
    return 0;
  }
  fmt::print("{:<24} {:<20} {:<16} {:<20} {:<7} {:<6} {:<8} {:<14} {}\n", "TIME", "RULE", "TARGET",
             "DESTINATION", "ATTEMPT", "STATUS", "LATENCY", "OUTCOME", "ERROR");
  for (simdjson::dom::element record : root["Deliveries"].get_array()) {
    const std::string latency = text_of(record, "LatencyMs");
    fmt::print("{:<24} {:<20} {:<16} {:<20} {:<7} {:<6} {:<8} {:<14} {}\n", text_of(record, "Time"),
               cell(text_of(record, "Rule"), 20), cell(text_of(record, "Target"), 16),
               cell(text_of(record, "Destination"), 20), text_of(record, "Attempt"),
               text_of(record, "HttpStatus"), latency == "-" ? latency : latency + "ms",
               text_of(record, "Outcome"), cell(text_of(record, "Error"), 80));
  }
  return 0;
}

}  // namespace

void add_dlq_command(CLI::App& app, int& exit_code) {
  auto* dlq = app.add_subcommand(
      "dlq",
      "The dead-letter queue: list, show, redrive (rendered again from the original event with "
      "the targets in force, or --as-recorded), purge. Through a running server (--endpoint) or "
      "on a stopped server's store (--config).");
  dlq->require_subcommand(1);

  auto* list_command = dlq->add_subcommand("list", "Dead letters, oldest first.");
  auto list_options = std::make_shared<AdminOptions>();
  auto list_filter = std::make_shared<Filter>();
  auto list_json = std::make_shared<bool>(false);
  add_admin_options(*list_command, *list_options);
  add_filter_options(*list_command, *list_filter);
  list_command->add_flag("--json", *list_json, "print a JSON array of letters, each with an Id");
  list_command->callback(
      [=, &exit_code] { exit_code = list(*list_options, *list_filter, *list_json, exit_code); });

  auto* show_command = dlq->add_subcommand(
      "show", "One dead letter whole: its event, body, recorded request and the answer.");
  auto show_options = std::make_shared<AdminOptions>();
  auto show_id = std::make_shared<std::string>();
  auto show_json = std::make_shared<bool>(false);
  add_admin_options(*show_command, *show_options);
  show_command->add_option("ID", *show_id, "the letter's Id")->required();
  show_command->add_flag("--json", *show_json, "print the letter as JSON");
  show_command->callback(
      [=, &exit_code] { exit_code = show(*show_options, *show_id, *show_json, exit_code); });

  for (const std::string action : {"redrive", "purge"}) {
    auto* command = dlq->add_subcommand(
        action, action == "redrive"
                    ? "Send dead letters again: rendered again from their original event with "
                      "the targets in force (a template fixed since applies), or as recorded."
                    : "Remove dead letters for good.");
    auto options = std::make_shared<AdminOptions>();
    auto ids = std::make_shared<std::vector<std::string>>();
    auto all = std::make_shared<bool>(false);
    auto filter = std::make_shared<Filter>();
    auto as_recorded = std::make_shared<bool>(false);
    add_admin_options(*command, *options);
    command->add_option("ID", *ids, "letters by Id");
    command->add_flag("--all", *all, "every letter (narrowed by --rule, --target, ...)");
    add_filter_options(*command, *filter);
    if (action == "redrive") {
      command->add_flag("--as-recorded", *as_recorded,
                        "resend the stored body instead of rendering it again");
    }
    command->callback([=, &exit_code] {
      exit_code = change(*options, action, *ids, *all, *filter, *as_recorded, exit_code);
    });
  }
}

void add_deliveries_command(CLI::App& app, int& exit_code) {
  auto* command = app.add_subcommand(
      "deliveries",
      "The delivery log: the latest attempts (time, rule, target, destination, status, "
      "latency, outcome), newest first. Through a running server (--endpoint) or on a stopped "
      "server's store (--config).");
  auto options = std::make_shared<AdminOptions>();
  auto last = std::make_shared<int>(20);
  auto json = std::make_shared<bool>(false);
  add_admin_options(*command, *options);
  command->add_option("--last", *last, "how many attempts")->check(CLI::Range(1, 1000));
  command->add_flag("--json", *json, "print a JSON array");
  command->callback([=, &exit_code] { exit_code = deliveries(*options, *last, *json, exit_code); });
}

}  // namespace hikyaku::cli
