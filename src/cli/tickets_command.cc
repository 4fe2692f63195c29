// `hikyaku tickets list|show`: the Backlog ticket ledger (integrations/backlog/ticket_target.h),
// read from the store of a config whose server is stopped (the store has one owner at a time).
#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "config/config.h"
#include "core/json_writer.h"
#include "integrations/backlog/ticket_target.h"
#include "integrations/securityhub/ticket_decision.h"
#include "store/sqlite/sqlite_store.h"

namespace hikyaku::cli {
namespace {

namespace securityhub = integrations::securityhub;

struct LedgerRow {
  std::string key;  // the ledger key: backlog/<host>/<project>/<finding key>
  securityhub::LedgerEntry entry;
};

// Every ledger entry of the config's store, in key order. Entries that do not parse are reported
// on stderr and skipped.
Result<std::vector<LedgerRow>> read_ledger(const std::string& config_path) {
  config::LoadResult loaded = config::load_config_file(config_path, {});
  if (!loaded.ok()) {
    // The config is read as `serve` reads it (the same ${...} references must resolve).
    return invalid_argument(loaded.errors.front().to_string());
  }
  Result<std::unique_ptr<store::SqliteStore>> opened =
      store::SqliteStore::open({.path = loaded.config->store.sqlite.path});
  if (!opened.has_value()) {
    return Status(
        opened.status().code(),
        opened.error().message() + " (the ledger is read from the store of a stopped server)");
  }
  std::vector<LedgerRow> rows;
  for (const std::string_view prefix :
       {integrations::backlog::kLedgerPrefix, integrations::backlog::kDryRunLedgerPrefix}) {
    std::string after;
    for (;;) {
      Result<std::vector<std::pair<std::string, store::KvEntry>>> page =
          (*opened)->kv_list(std::string(prefix), after, 500);
      if (!page.has_value()) {
        return page.status();
      }
      for (auto& [key, value] : *page) {
        Result<securityhub::LedgerEntry> entry = securityhub::ledger_entry_from_json(value.value);
        if (!entry.has_value()) {
          fmt::print(stderr, "warning: ledger entry {} is unreadable: {}\n", key,
                     entry.error().message());
          continue;
        }
        rows.push_back({key, std::move(entry).value()});
      }
      if (page->size() < 500) {
        break;
      }
      after = page->back().first;
    }
  }
  return rows;
}

void write_row(JsonWriter& writer, const LedgerRow& row) {
  const securityhub::LedgerEntry& entry = row.entry;
  writer.begin_object();
  writer.key("LedgerKey");
  writer.string(row.key);
  writer.key("FindingId");
  writer.string(entry.finding_id);
  writer.key("ProductArn");
  writer.string(entry.product_arn);
  writer.key("IssueKey");
  if (entry.issue_key.empty()) {
    writer.null();
  } else {
    writer.string(entry.issue_key);
  }
  writer.key("IssueId");
  if (entry.issue_id) {
    writer.number(*entry.issue_id);
  } else {
    writer.null();
  }
  writer.key("Ticket");
  writer.string(securityhub::ticket_state_name(entry.ticket));
  writer.key("CreationPending");
  writer.boolean(entry.creating.has_value());
  writer.key("UpdatedAt");
  writer.string(entry.last_updated_at);
  writer.key("Severity");
  writer.string(entry.snapshot.severity_label);
  writer.key("Workflow");
  writer.string(entry.snapshot.workflow_status);
  writer.key("RecordState");
  writer.string(entry.snapshot.record_state);
  writer.key("Compliance");
  if (entry.snapshot.compliance_status) {
    writer.string(*entry.snapshot.compliance_status);
  } else {
    writer.null();
  }
  writer.key("Ledger");
  writer.raw(securityhub::to_json(entry));
  writer.end_object();
}

void print_table(const std::vector<const LedgerRow*>& rows) {
  fmt::print("{:<16} {:<9} {:<13} {:<24} {}\n", "ISSUE", "TICKET", "SEVERITY", "UPDATED AT",
             "FINDING");
  for (const LedgerRow* row : rows) {
    const securityhub::LedgerEntry& entry = row->entry;
    fmt::print("{:<16} {:<9} {:<13} {:<24} {}\n",
               entry.issue_key.empty() ? (entry.creating ? "(creating)" : "-") : entry.issue_key,
               securityhub::ticket_state_name(entry.ticket), entry.snapshot.severity_label,
               entry.last_updated_at, entry.finding_id);
  }
  fmt::print("{} finding{}\n", rows.size(), rows.size() == 1 ? "" : "s");
}

int print_rows(const std::vector<const LedgerRow*>& rows, bool json) {
  if (!json) {
    print_table(rows);
    return 0;
  }
  JsonWriter writer;
  writer.begin_array();
  for (const LedgerRow* row : rows) {
    write_row(writer, *row);
  }
  writer.end_array();
  fmt::print("{}\n", writer.take());
  return 0;
}

}  // namespace

void add_tickets_command(CLI::App& app, int& exit_code) {
  auto* tickets = app.add_subcommand(
      "tickets",
      "The Backlog ticket ledger: which finding has which issue, in which state. Reads the store "
      "of the config's server, which must be stopped (a running server owns its store).");
  tickets->require_subcommand(1);

  auto* list = tickets->add_subcommand("list", "Every finding the Backlog targets have seen.");
  auto list_config = std::make_shared<std::string>();
  auto list_json = std::make_shared<bool>(false);
  list->add_option("-c,--config", *list_config, "config file")->required();
  list->add_flag("--json", *list_json, "print a JSON array, one object per finding and target");
  list->callback([list_config, list_json, &exit_code] {
    Result<std::vector<LedgerRow>> rows = read_ledger(*list_config);
    if (!rows.has_value()) {
      fmt::print(stderr, "error: {}\n", rows.error().message());
      exit_code = 1;
      return;
    }
    std::vector<const LedgerRow*> all;
    for (const LedgerRow& row : *rows) {
      all.push_back(&row);
    }
    exit_code = print_rows(all, *list_json);
  });

  auto* show = tickets->add_subcommand(
      "show", "One finding's ledger entries (by its Id, or the securityhub/... key).");
  auto show_config = std::make_shared<std::string>();
  auto finding = std::make_shared<std::string>();
  auto show_json = std::make_shared<bool>(false);
  show->add_option("-c,--config", *show_config, "config file")->required();
  show->add_option("FINDING_ID", *finding, "the finding's Id (ASFF) or ledger key")->required();
  show->add_flag("--json", *show_json, "print a JSON array");
  show->callback([show_config, finding, show_json, &exit_code] {
    Result<std::vector<LedgerRow>> rows = read_ledger(*show_config);
    if (!rows.has_value()) {
      fmt::print(stderr, "error: {}\n", rows.error().message());
      exit_code = 1;
      return;
    }
    std::vector<const LedgerRow*> matching;
    for (const LedgerRow& row : *rows) {
      if (row.entry.finding_id == *finding || row.entry.key.str() == *finding ||
          row.key == *finding) {
        matching.push_back(&row);
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
    for (const LedgerRow* row : matching) {
      const securityhub::LedgerEntry& entry = row->entry;
      fmt::print("ledger key:   {}\n", row->key);
      fmt::print("finding:      {}\n", entry.finding_id);
      fmt::print("product:      {}\n", entry.product_arn);
      fmt::print("issue:        {}{}\n", entry.issue_key.empty() ? "-" : entry.issue_key,
                 entry.issue_id ? fmt::format(" (id {})", *entry.issue_id) : "");
      fmt::print("ticket:       {}{}\n", securityhub::ticket_state_name(entry.ticket),
                 entry.creating ? " (a creation is pending)" : "");
      fmt::print("updated at:   {}\n", entry.last_updated_at);
      fmt::print("severity:     {}\n", entry.snapshot.severity_label);
      fmt::print("compliance:   {}\n", entry.snapshot.compliance_status.value_or("-"));
      fmt::print("workflow:     {}\n", entry.snapshot.workflow_status);
      fmt::print("record state: {}\n", entry.snapshot.record_state);
      for (const std::string& resource : entry.snapshot.resource_ids) {
        fmt::print("resource:     {}\n", resource);
      }
      fmt::print("\n");
    }
    exit_code = 0;
  });
}

}  // namespace hikyaku::cli
