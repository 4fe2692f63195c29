// A target's Backlog section: the shape of every key. Names (IssueType, statuses, priorities) are
// resolved against the space when serve starts; here they only have to be there.

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <string_view>
#include <utility>

#include "config/internal/config_warnings.h"
#include "config/internal/did_you_mean.h"
#include "config/internal/sections.h"
#include "config/internal/validate_hooks.h"
#include "config/internal/yaml_to_json.h"
#include "core/redact.h"

namespace hikyaku::config::internal {
namespace {

// Reads one section, every message led by `rule "r" target "t": ` so that it names them.
class BacklogReader {
 public:
  BacklogReader(YamlReader& reader, const YAML::Node& node, std::string path, std::string label)
      : reader_(reader), node_(node), path_(std::move(path)), label_(std::move(label)) {}

  void error(const YAML::Node& at, std::string_view key, std::string_view message) {
    reader_.add_error(at, join(path_, key), fmt::format("{}: {}", label_, message));
  }

  // node[key] as a string; nullopt when absent or unreadable (reported).
  std::optional<std::string> string(std::string_view key) {
    const YAML::Node value = node_[std::string(key)];
    if (!value) {
      return std::nullopt;
    }
    return reader_.read_string(value, join(path_, key));
  }

  // A name or id: absent keeps `out`; present must not be empty.
  void name_or_id(std::string_view key, std::string& out) {
    if (std::optional<std::string> value = string(key)) {
      if (value->empty()) {
        error(node_[std::string(key)], key, "must not be empty: give a name or an id");
      } else {
        out = std::move(*value);
      }
    }
  }

  // true or false in any case, as YAML writes it or as a ${...} reference resolves; nullopt
  // when it is neither (reported).
  std::optional<bool> dry_run() {
    const YAML::Node value = node_["DryRun"];
    if (!value) {
      return false;
    }
    std::optional<std::string> text = string("DryRun");
    if (!text) {
      return std::nullopt;
    }
    std::string lower = *text;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (lower == "true" || lower == "false") {
      return lower == "true";
    }
    const std::string written =
        value.Scalar().find("${") == std::string::npos ? *text : value.Scalar();
    error(value, "DryRun", fmt::format("must be true or false, got \"{}\"", written));
    return std::nullopt;
  }

  void endpoint(BacklogTarget& backlog) {
    const YAML::Node value = node_["Endpoint"];
    std::optional<std::string> url = string("Endpoint");
    if (!value) {
      if (!backlog.dry_run) {
        error(node_, "Endpoint",
              "is required: the space's base URL, e.g. https://example.backlog.com (only a "
              "DryRun target may leave it out)");
      }
      return;
    }
    if (!url) {
      return;
    }
    if (url->empty()) {
      if (!backlog.dry_run) {
        error(value, "Endpoint", "must not be empty (only a DryRun target may leave it empty)");
      }
      return;
    }
    const bool http = url->starts_with("http://");
    const bool https = url->starts_with("https://");
    const size_t host_start = https ? 8 : 7;
    const std::string_view authority =
        std::string_view(*url).substr(std::min(url->size(), host_start));
    const std::string_view host = authority.substr(0, authority.find_first_of("/?#"));
    if ((!http && !https) || host.empty()) {
      error(value, "Endpoint",
            fmt::format("must be an http:// or https:// URL, got \"{}\"", redact_url(*url)));
    } else if (host.find('@') != std::string_view::npos) {
      error(value, "Endpoint",
            "must not carry credentials before its host (user:password@): give the API key as "
            "ApiKey");
    } else if (url->find_first_of("?#") != std::string::npos) {
      error(value, "Endpoint",
            fmt::format("is a base URL and must have no query or fragment, got \"{}\" (give the "
                        "API key as ApiKey)",
                        redact_url(*url)));
    } else if (url->size() > 2048) {
      error(value, "Endpoint", fmt::format("is {} characters; the limit is 2048", url->size()));
    } else {
      backlog.endpoint = std::move(*url);
    }
  }

  void api_key(BacklogTarget& backlog) {
    std::optional<std::string> key = string("ApiKey");
    if (key && !key->empty()) {
      backlog.api_key = std::move(*key);
    } else if (!backlog.dry_run && (key || !node_["ApiKey"])) {
      error(node_["ApiKey"] ? node_["ApiKey"] : node_, "ApiKey",
            "is required and must not be empty (e.g. ApiKey: ${BACKLOG_API_KEY}); only a DryRun "
            "target may go without");
    }
  }

  void project(BacklogTarget& backlog) {
    if (!node_["Project"]) {
      error(node_, "Project", "is required: the project key (e.g. SEC) or its numeric id");
      return;
    }
    name_or_id("Project", backlog.project);
  }

  // One scalar for every label, or a mapping of labels.
  void priority(BacklogTarget& backlog) {
    const YAML::Node value = node_["Priority"];
    if (!value) {
      return;
    }
    if (value.IsScalar()) {
      std::optional<std::string> name = reader_.read_string(value, join(path_, "Priority"));
      if (name && name->empty()) {
        error(value, "Priority", "must not be empty: give a priority name or id");
      } else if (name) {
        for (auto& [label, priority] : backlog.priority) {
          priority = *name;
        }
      }
      return;
    }
    const std::string priority_path = join(path_, "Priority");
    if (!value.IsMap()) {
      error(value, "Priority",
            fmt::format("must be a priority name or id, or a mapping of severity labels "
                        "(CRITICAL, HIGH, MEDIUM, LOW, INFORMATIONAL) to them; got {}",
                        kind_name(value)));
      return;
    }
    if (!reader_.check_map(value, priority_path,
                           {"CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL"})) {
      return;
    }
    for (const auto& entry : value) {
      const std::string label = entry.first.Scalar();
      if (!backlog.priority.contains(label)) {
        continue;  // reported by check_map
      }
      const std::string label_path = join(priority_path, label);
      if (std::optional<std::string> name = reader_.read_string(entry.second, label_path)) {
        if (name->empty()) {
          reader_.add_error(
              entry.second, label_path,
              fmt::format("{}: must not be empty: give a priority name or id", label_));
        } else {
          backlog.priority[label] = std::move(*name);
        }
      }
    }
  }

  // An event pattern, as EventPattern is checked, with the same warnings.
  void create_when(BacklogTarget& backlog) {
    const YAML::Node value = node_["CreateWhen"];
    if (!value) {
      return;
    }
    const std::string create_path = join(path_, "CreateWhen");
    std::optional<std::string> json = read_json_text(reader_, value, create_path);
    if (!json) {
      return;
    }
    if (const Status status = validate_event_pattern(*json); !status.ok()) {
      error(value, "CreateWhen", fmt::format("invalid pattern: {}", status.message()));
      return;
    }
    for (std::string& warning : lint_event_pattern(*json)) {
      reader_.add_warning(value, create_path, std::move(warning));
    }
    if (std::optional<std::string> warning = security_hub_compliance_warning(*json)) {
      reader_.add_warning(value, create_path, std::move(*warning));
    }
    backlog.create_when = std::move(*json);
  }

  void on_update(BacklogTarget& backlog) {
    const YAML::Node value = node_["OnUpdate"];
    std::optional<std::string> text = string("OnUpdate");
    if (!text) {
      return;
    }
    if (*text == "IGNORE") {
      backlog.on_update = BacklogTarget::OnUpdate::kIgnore;
    } else if (*text != "COMMENT") {
      constexpr std::string_view kChoices[] = {"COMMENT", "IGNORE"};
      const std::string written =
          value.Scalar().find("${") == std::string::npos ? *text : value.Scalar();
      error(value, "OnUpdate",
            fmt::format("must be COMMENT or IGNORE, got \"{}\"{}", written,
                        did_you_mean(*text, kChoices)));
    }
  }

 private:
  YamlReader& reader_;
  const YAML::Node& node_;
  std::string path_;
  std::string label_;
};

}  // namespace

std::optional<BacklogTarget> read_backlog(YamlReader& reader, const YAML::Node& node,
                                          const std::string& path, const std::string& label) {
  if (!reader.check_map(node, path,
                        {"Endpoint", "ApiKey", "Project", "IssueType", "Priority", "CreateWhen",
                         "ResolvedStatus", "ReopenStatus", "OnUpdate", "DryRun"})) {
    return std::nullopt;
  }
  BacklogTarget backlog;
  backlog.location = location_of(node);
  BacklogReader fields(reader, node, path, label);
  // First: it decides whether Endpoint and ApiKey are needed. When it cannot be read, their
  // absence is not reported on top of it.
  const std::optional<bool> dry_run = fields.dry_run();
  backlog.dry_run = dry_run.value_or(true);
  fields.endpoint(backlog);
  fields.api_key(backlog);
  backlog.dry_run = dry_run.value_or(false);
  fields.project(backlog);
  fields.name_or_id("IssueType", backlog.issue_type);
  fields.priority(backlog);
  fields.create_when(backlog);
  fields.name_or_id("ResolvedStatus", backlog.resolved_status);
  fields.name_or_id("ReopenStatus", backlog.reopen_status);
  fields.on_update(backlog);
  return backlog;
}

}  // namespace hikyaku::config::internal
