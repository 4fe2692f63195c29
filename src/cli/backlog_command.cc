// `hikyaku backlog lookup --endpoint URL --project KEY [--json]`: the ids a Backlog target's
// configuration needs (the project's id, issue types, priorities, statuses, resolutions and
// custom fields), read from the space with the API key in BACKLOG_API_KEY.
//
// Prints a table, or with --json one object:
//   {"project":{"id","key","name","textFormattingRule"},"issueTypes":[{"id","name"}],
//    "priorities":[...],"statuses":[...],"resolutions":[...],
//    "customFields":[{"id","name","typeId","required"}]}
// Exit 0 on success, 1 when Backlog refused or could not be reached ("error: <why>"), 2 on bad
// input (no API key).

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "core/json_writer.h"
#include "integrations/backlog/client.h"

namespace hikyaku::cli {
namespace {

namespace backlog = integrations::backlog;

void write_named_ids(JsonWriter& json, std::string_view key,
                     const std::vector<backlog::NamedId>& entries) {
  json.key(key);
  json.begin_array();
  for (const backlog::NamedId& entry : entries) {
    json.begin_object();
    json.key("id");
    json.number(entry.id);
    json.key("name");
    json.string(entry.name);
    json.end_object();
  }
  json.end_array();
}

std::string project_json(const backlog::Project& project) {
  JsonWriter json;
  json.begin_object();
  json.key("project");
  json.begin_object();
  json.key("id");
  json.number(project.id);
  json.key("key");
  json.string(project.key);
  json.key("name");
  json.string(project.name);
  json.key("textFormattingRule");
  json.string(project.text_formatting_rule);
  json.end_object();
  write_named_ids(json, "issueTypes", project.issue_types);
  write_named_ids(json, "priorities", project.priorities);
  write_named_ids(json, "statuses", project.statuses);
  write_named_ids(json, "resolutions", project.resolutions);
  json.key("customFields");
  json.begin_array();
  for (const backlog::CustomField& field : project.custom_fields) {
    json.begin_object();
    json.key("id");
    json.number(field.id);
    json.key("name");
    json.string(field.name);
    json.key("typeId");
    json.number(int64_t{field.type_id});
    json.key("required");
    json.boolean(field.required);
    json.end_object();
  }
  json.end_array();
  json.end_object();
  return json.take();
}

// One section: its title, then an id column right-aligned to the widest id.
template <typename Entry, typename Describe>
void print_section(std::string_view title, const std::vector<Entry>& entries, Describe describe) {
  fmt::print("\n{}:\n", title);
  if (entries.empty()) {
    fmt::print("  (none)\n");
    return;
  }
  size_t width = 0;
  for (const Entry& entry : entries) {
    width = std::max(width, std::to_string(entry.id).size());
  }
  for (const Entry& entry : entries) {
    fmt::print("  {:>{}}  {}\n", entry.id, width, describe(entry));
  }
}

void print_table(const backlog::Project& project) {
  fmt::print("Project {} (id {}): {}\n", project.key, project.id, project.name);
  fmt::print("Text formatting rule: {}\n", project.text_formatting_rule);
  const auto name = [](const backlog::NamedId& entry) { return entry.name; };
  print_section("Issue types", project.issue_types, name);
  print_section("Priorities", project.priorities, name);
  print_section("Statuses", project.statuses, name);
  print_section("Resolutions", project.resolutions, name);
  print_section("Custom fields", project.custom_fields, [](const backlog::CustomField& field) {
    return fmt::format("{} (type {}{})", field.name, field.type_id,
                       field.required ? ", required" : "");
  });
}

int lookup(const std::string& endpoint, const std::string& project_key, bool json) {
  const char* key = std::getenv("BACKLOG_API_KEY");  // NOLINT(concurrency-mt-unsafe)
  if (key == nullptr || *key == '\0') {
    fmt::print(stderr,
               "error: set BACKLOG_API_KEY to the API key of the Backlog user to act as "
               "(Backlog: Personal settings > API)\n");
    return 2;
  }
  backlog::Client client({.base_url = endpoint, .api_key = Secret(key)}, backlog::http_transport());
  Result<backlog::Project> project = client.project(project_key);
  if (!project.has_value()) {
    fmt::print(stderr, "error: {}\n", project.error().message());
    return 1;
  }
  if (json) {
    fmt::print("{}\n", project_json(*project));
  } else {
    print_table(*project);
  }
  return 0;
}

}  // namespace

void add_backlog_command(CLI::App& app, int& exit_code) {
  auto* command = app.add_subcommand("backlog", "Talk to a Backlog space (Nulab's issue tracker).");
  command->require_subcommand(1);
  auto* lookup_command = command->add_subcommand(
      "lookup",
      "Print a Backlog project's id and the ids of its issue types, priorities, statuses, "
      "resolutions and custom fields, for a Backlog target's configuration. The API key is read "
      "from BACKLOG_API_KEY.");
  auto endpoint = std::make_shared<std::string>();
  auto project = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  lookup_command
      ->add_option("--endpoint", *endpoint, "the space's URL, e.g. https://example.backlog.com")
      ->required();
  lookup_command->add_option("--project", *project, "the project's key (or numeric id)")
      ->required();
  lookup_command->add_flag("--json", *json, "print one JSON object instead of a table");
  lookup_command->callback(
      [endpoint, project, json, &exit_code] { exit_code = lookup(*endpoint, *project, *json); });
}

}  // namespace hikyaku::cli
