// `hikyaku tickets list|show`: the Backlog ticket ledger (integrations/backlog/ticket_target.h),
// read through the admin API's GET /tickets (docs/operations.md §3.6): from a running server
// (--endpoint) or the store of a stopped one (--config), as cli/admin_connection.h says.
#include <fmt/format.h>
#include <simdjson.h>

#include <memory>
#include <string>
#include <vector>

#include "cli/admin_connection.h"
#include "cli/commands.h"
#include "core/json_writer.h"
#include "core/url_encoding.h"

namespace hikyaku::cli {
namespace {

// Every ledger row, a page at a time, as JSON texts.
Result<std::vector<std::string>> read_ledger(const AdminOptions& options) {
  HK_ASSIGN_OR_RETURN(std::unique_ptr<AdminConnection> connection, AdminConnection::open(options));
  fmt::print(stderr, "using {}\n", connection->description());
  std::vector<std::string> rows;
  std::string token;
  simdjson::dom::parser parser;
  for (;;) {
    HK_ASSIGN_OR_RETURN(
        std::string page,
        call_admin(*connection, "GET", "/tickets",
                   "limit=1000" + (token.empty() ? "" : "&next_token=" + form_encode(token))));
    simdjson::dom::element root = parser.parse(page);
    for (simdjson::dom::element row : root["Tickets"].get_array()) {
      std::string_view unreadable;
      if (row["Unreadable"].get(unreadable) == simdjson::SUCCESS) {
        fmt::print(stderr, "warning: ledger entry {} is unreadable: {}\n",
                   std::string_view(row["LedgerKey"]), unreadable);
        continue;
      }
      rows.push_back(simdjson::to_string(row));
    }
    std::string_view next;
    if (root["NextToken"].get(next) != simdjson::SUCCESS) {
      return rows;
    }
    token = std::string(next);
  }
}

std::string text_of(simdjson::dom::element row, std::string_view key) {
  std::string_view text;
  if (row[key].get(text) == simdjson::SUCCESS) {
    return std::string(text);
  }
  int64_t number = 0;
  if (row[key].get(number) == simdjson::SUCCESS) {
    return std::to_string(number);
  }
  return "-";
}

int print_rows(const std::vector<std::string>& rows, bool json) {
  if (json) {
    JsonWriter writer;
    writer.begin_array();
    for (const std::string& row : rows) {
      writer.raw(row);
    }
    writer.end_array();
    fmt::print("{}\n", writer.take());
    return 0;
  }
  simdjson::dom::parser parser;
  fmt::print("{:<16} {:<9} {:<13} {:<24} {}\n", "ISSUE", "TICKET", "SEVERITY", "UPDATED AT",
             "FINDING");
  for (const std::string& text : rows) {
    simdjson::dom::element row = parser.parse(text);
    const std::string issue = text_of(row, "IssueKey");
    fmt::print("{:<16} {:<9} {:<13} {:<24} {}\n",
               issue == "-" && bool(row["CreationPending"]) ? "(creating)" : issue,
               text_of(row, "Ticket"), text_of(row, "Severity"), text_of(row, "UpdatedAt"),
               text_of(row, "FindingId"));
  }
  fmt::print("{} finding{}\n", rows.size(), rows.size() == 1 ? "" : "s");
  return 0;
}

void print_one(const std::string& text) {
  simdjson::dom::parser parser;
  simdjson::dom::element row = parser.parse(text);
  const std::string issue_id = text_of(row, "IssueId");
  fmt::print("ledger key:   {}\n", text_of(row, "LedgerKey"));
  fmt::print("finding:      {}\n", text_of(row, "FindingId"));
  fmt::print("product:      {}\n", text_of(row, "ProductArn"));
  fmt::print("issue:        {}{}\n", text_of(row, "IssueKey"),
             issue_id == "-" ? "" : " (id " + issue_id + ")");
  fmt::print("link:         {}\n", text_of(row, "IssueUrl"));
  fmt::print("ticket:       {}{}\n", text_of(row, "Ticket"),
             bool(row["CreationPending"]) ? " (a creation is pending)" : "");
  fmt::print("updated at:   {}\n", text_of(row, "UpdatedAt"));
  fmt::print("severity:     {}\n", text_of(row, "Severity"));
  fmt::print("compliance:   {}\n", text_of(row, "Compliance"));
  fmt::print("workflow:     {}\n", text_of(row, "Workflow"));
  fmt::print("record state: {}\n", text_of(row, "RecordState"));
  for (simdjson::dom::element resource : row["Resources"].get_array()) {
    fmt::print("resource:     {}\n", std::string_view(resource));
  }
  fmt::print("\n");
}

}  // namespace

void add_tickets_command(CLI::App& app, int& exit_code) {
  auto* tickets = app.add_subcommand(
      "tickets",
      "The Backlog ticket ledger: which finding has which issue, in which state. Through a "
      "running server (--endpoint) or on a stopped server's store (--config).");
  tickets->require_subcommand(1);

  auto* list = tickets->add_subcommand("list", "Every finding the Backlog targets have seen.");
  auto list_options = std::make_shared<AdminOptions>();
  auto list_json = std::make_shared<bool>(false);
  add_admin_options(*list, *list_options);
  list->add_flag("--json", *list_json, "print a JSON array, one object per finding and target");
  list->callback([list_options, list_json, &exit_code] {
    Result<std::vector<std::string>> rows = read_ledger(*list_options);
    if (!rows.has_value()) {
      fmt::print(stderr, "error: {}\n", rows.error().message());
      exit_code = 1;
      return;
    }
    exit_code = print_rows(*rows, *list_json);
  });

  auto* show = tickets->add_subcommand(
      "show", "One finding's ledger entries (by its Id, or the securityhub/... key).");
  auto show_options = std::make_shared<AdminOptions>();
  auto finding = std::make_shared<std::string>();
  auto show_json = std::make_shared<bool>(false);
  add_admin_options(*show, *show_options);
  show->add_option("FINDING_ID", *finding, "the finding's Id (ASFF) or ledger key")->required();
  show->add_flag("--json", *show_json, "print a JSON array");
  show->callback([show_options, finding, show_json, &exit_code] {
    Result<std::vector<std::string>> rows = read_ledger(*show_options);
    if (!rows.has_value()) {
      fmt::print(stderr, "error: {}\n", rows.error().message());
      exit_code = 1;
      return;
    }
    std::vector<std::string> matching;
    simdjson::dom::parser parser;
    for (const std::string& text : *rows) {
      simdjson::dom::element row = parser.parse(text);
      const std::string key = text_of(row, "LedgerKey");
      if (text_of(row, "FindingId") == *finding || key == *finding ||
          key.ends_with("/" + *finding)) {
        matching.push_back(text);
      }
    }
    if (matching.empty()) {
      fmt::print(stderr, "error: no ledger entry for finding {}\n", *finding);
      exit_code = 1;
      return;
    }
    if (*show_json) {
      exit_code = print_rows(matching, true);
      return;
    }
    for (const std::string& row : matching) {
      print_one(row);
    }
    exit_code = 0;
  });
}

}  // namespace hikyaku::cli
