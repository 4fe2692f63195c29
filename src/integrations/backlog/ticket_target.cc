#include "integrations/backlog/ticket_target.h"

#include <fmt/format.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/json_writer.h"
#include "core/time.h"
#include "integrations/securityhub/ticket_decision.h"

namespace hikyaku::integrations::backlog {

using delivery::HandlerOutcome;
using delivery::Outcome;
using securityhub::Action;
using securityhub::Decision;
using securityhub::Finding;
using securityhub::LedgerEntry;
using securityhub::TicketState;

namespace {

constexpr size_t kExcerptBytes = 512;
// Compare-and-set conflicts one delivery retries at once before it gives up for a while.
constexpr int kLedgerRounds = 8;

HandlerOutcome permanent(std::string code, std::string detail) {
  HandlerOutcome outcome;
  outcome.outcome = Outcome::kPermanent;
  outcome.error_code = std::move(code);
  outcome.detail = std::move(detail);
  return outcome;
}

HandlerOutcome retry_later(std::string code, std::string detail, int64_t not_before_ms) {
  HandlerOutcome outcome;
  outcome.outcome = Outcome::kRetry;
  outcome.error_code = std::move(code);
  outcome.detail = std::move(detail);
  outcome.not_before_ms = not_before_ms;
  return outcome;
}

// The host (and port) of an http(s) base URL: "https://acme.backlog.com/x" -> "acme.backlog.com".
std::string host_of(std::string_view url) {
  if (const size_t scheme = url.find("://"); scheme != std::string_view::npos) {
    url.remove_prefix(scheme + 3);
  }
  url = url.substr(0, url.find_first_of("/?#"));
  if (const size_t at = url.rfind('@'); at != std::string_view::npos) {
    url.remove_prefix(at + 1);  // never userinfo in a key
  }
  return std::string(url);
}

std::optional<int64_t> resolution_named(const std::vector<NamedId>& resolutions,
                                        std::initializer_list<std::string_view> names) {
  for (const NamedId& resolution : resolutions) {
    for (std::string_view name : names) {
      if (resolution.name == name) {
        return resolution.id;
      }
    }
  }
  return std::nullopt;
}

// Sets `key` to `value` in `fields`, replacing what was there.
void set_field(Fields& fields, const std::string& key, std::string value) {
  std::erase_if(fields, [&](const auto& field) { return field.first == key; });
  fields.emplace_back(key, std::move(value));
}

// The InputTransformer's object over the built-in fields: strings as they are, numbers and
// booleans as written, arrays as repeated `key[]` fields, null removes the field.
Status apply_overrides(std::string_view json, Fields& fields) {
  simdjson::dom::parser parser;
  simdjson::dom::element document;
  if (parser.parse(json.data(), json.size()).get(document) != simdjson::SUCCESS ||
      !document.is_object()) {
    return invalid_argument("the InputTransformer's output is not a JSON object");
  }
  const auto text_of = [](simdjson::dom::element value) -> std::optional<std::string> {
    switch (value.type()) {
      case simdjson::dom::element_type::STRING:
        return std::string(std::string_view(value));
      case simdjson::dom::element_type::INT64:
      case simdjson::dom::element_type::UINT64:
      case simdjson::dom::element_type::DOUBLE:
      case simdjson::dom::element_type::BOOL:
        return simdjson::minify(value);
      default:
        return std::nullopt;
    }
  };
  for (const auto [raw_key, value] : simdjson::dom::object(document)) {
    std::string key(raw_key);
    if (value.is_null()) {
      std::erase_if(fields, [&](const auto& field) { return field.first == key; });
      continue;
    }
    if (value.is_array()) {
      if (!key.ends_with("[]")) {
        key += "[]";
      }
      std::erase_if(fields, [&](const auto& field) { return field.first == key; });
      for (simdjson::dom::element item : simdjson::dom::array(value)) {
        std::optional<std::string> text = text_of(item);
        if (!text) {
          return invalid_argument(fmt::format(
              "the InputTransformer's member \"{}\" holds an array of other than strings, "
              "numbers or booleans",
              raw_key));
        }
        fields.emplace_back(key, std::move(*text));
      }
      continue;
    }
    std::optional<std::string> text = text_of(value);
    if (!text) {
      return invalid_argument(
          fmt::format("the InputTransformer's member \"{}\" is an object: Backlog takes strings, "
                      "numbers and arrays of them",
                      raw_key));
    }
    set_field(fields, key, std::move(*text));
  }
  return ok_status();
}

std::string issue_reference(const LedgerEntry& entry) {
  return entry.issue_id ? std::to_string(*entry.issue_id) : entry.issue_key;
}

}  // namespace

// One delivery attempt's context.
struct TicketTarget::Attempt {
  const store::Claim& claim;
  int64_t deadline_ms = 0;
  std::string_view event;
  Client* client = nullptr;  // null in a dry run
  // The hints of the last answer of the paced kind (update requests), or of any 429.
  delivery::ResponseHints hints;
};

Result<TicketSettings> resolve_settings(Client& client, const TicketNames& names,
                                        TicketSettings base) {
  HK_ASSIGN_OR_RETURN(Project project, client.project(names.project));
  TicketSettings settings = std::move(base);
  settings.dry_run = false;
  settings.project_key = project.key;
  settings.project_id = project.id;
  settings.format = text_format_of(project.text_formatting_rule);
  // Each error names the key it came from: "IssueType: no issue type 'Bug' in project SEC; ...".
  const auto resolved = [](std::string_view key, Result<int64_t> id) -> Result<int64_t> {
    if (!id.has_value()) {
      return Status(id.status().code(), fmt::format("{}: {}", key, id.error().message()));
    }
    return id;
  };
  const std::string in_project = fmt::format(" in project {}", project.key);
  HK_ASSIGN_OR_RETURN(settings.issue_type_id,
                      resolved("IssueType", resolve("issue type" + in_project, names.issue_type,
                                                    project.issue_types)));
  settings.priority_ids.clear();
  for (const auto& [label, name] : names.priority) {
    HK_ASSIGN_OR_RETURN(
        settings.priority_ids[label],
        resolved(fmt::format("Priority.{}", label), resolve("priority", name, project.priorities)));
  }
  HK_ASSIGN_OR_RETURN(settings.resolved_status_id,
                      resolved("ResolvedStatus", resolve("status" + in_project,
                                                         names.resolved_status, project.statuses)));
  HK_ASSIGN_OR_RETURN(settings.reopen_status_id,
                      resolved("ReopenStatus", resolve("status" + in_project, names.reopen_status,
                                                       project.statuses)));
  settings.resolution_fixed_id = resolution_named(project.resolutions, {"Fixed", "対応済み"});
  settings.resolution_wont_fix_id =
      resolution_named(project.resolutions, {"Won't Fix", "Won't fix", "対応しない"});
  return settings;
}

TicketSettings dry_run_settings(const TicketNames& names, TicketSettings base) {
  TicketSettings settings = std::move(base);
  settings.dry_run = true;
  settings.project_key = names.project;
  return settings;
}

std::string ledger_key(const TicketSettings& settings, const securityhub::FindingKey& key) {
  if (settings.dry_run) {
    return fmt::format("{}-dry-run/{}/{}", kLedgerPrefix, settings.project_key, key.str());
  }
  return fmt::format("{}/{}/{}/{}", kLedgerPrefix, host_of(settings.space.base_url),
                     settings.project_key, key.str());
}

TicketTarget::TicketTarget(store::Store& store, const Clock& clock, TicketSettings settings,
                           std::function<Transport()> transport)
    : store_(store),
      clock_(clock),
      settings_(std::move(settings)),
      transport_(std::move(transport)) {}

TicketTarget::~TicketTarget() {
  MutexLock lock(mutex_);
  if (dry_run_ != nullptr) {
    std::fclose(dry_run_);
  }
}

std::unique_ptr<Client> TicketTarget::take_client() {
  {
    MutexLock lock(mutex_);
    if (!idle_clients_.empty()) {
      std::unique_ptr<Client> client = std::move(idle_clients_.back());
      idle_clients_.pop_back();
      return client;
    }
  }
  return std::make_unique<Client>(settings_.space, transport_());
}

void TicketTarget::give_back(std::unique_ptr<Client> client) {
  if (client != nullptr) {
    MutexLock lock(mutex_);
    idle_clients_.push_back(std::move(client));
  }
}

Status TicketTarget::write_dry_run(std::string_view line) {
  MutexLock lock(mutex_);
  if (dry_run_ == nullptr) {
    const std::filesystem::path path(settings_.dry_run_file);
    std::error_code ignored;
    if (path.has_parent_path()) {
      std::filesystem::create_directories(path.parent_path(), ignored);
    }
    dry_run_ = std::fopen(settings_.dry_run_file.c_str(), "a");
    if (dry_run_ == nullptr) {
      return unavailable(
          fmt::format("cannot open {}: {}", settings_.dry_run_file, std::strerror(errno)));
    }
  }
  if (std::fwrite(line.data(), 1, line.size(), dry_run_) != line.size() ||
      std::fflush(dry_run_) != 0) {
    return unavailable(
        fmt::format("cannot write {}: {}", settings_.dry_run_file, std::strerror(errno)));
  }
  return ok_status();
}

HandlerOutcome TicketTarget::deliver(const store::Claim& claim, int64_t deadline_ms) {
  Result<std::vector<Result<Finding>>> findings = securityhub::parse_event_findings(claim.job.body);
  if (!findings.has_value()) {
    return permanent("INVALID_FINDING",
                     "not a Security Hub findings event: " + findings.error().message());
  }
  if (findings->empty()) {
    return permanent("INVALID_FINDING", "the event's detail.findings is empty");
  }
  std::unique_ptr<Client> client = settings_.dry_run ? nullptr : take_client();
  Attempt attempt{claim, deadline_ms, claim.job.body, client.get(), {}};
  HandlerOutcome outcome;
  for (const Result<Finding>& finding : *findings) {
    if (!finding.has_value()) {
      outcome = permanent("INVALID_FINDING", finding.error().message());
      break;
    }
    outcome = handle_finding(attempt, *finding);
    if (outcome.outcome != Outcome::kDelivered) {
      break;
    }
  }
  if (outcome.outcome == Outcome::kDelivered || outcome.hints.http_status == 0) {
    outcome.hints = attempt.hints;
  }
  give_back(std::move(client));
  return outcome;
}

namespace {

// What a failed Backlog call means for the delivery.
HandlerOutcome failure(const Client& client, const Status& status) {
  const Response& response = client.last_response();
  HandlerOutcome outcome;
  outcome.outcome =
      status.code() == StatusCode::kUnavailable ? Outcome::kRetry : Outcome::kPermanent;
  outcome.result = response.result;
  outcome.hints = response.hints;
  outcome.detail = status.message();
  outcome.response_excerpt = response.body.substr(0, kExcerptBytes);
  if (response.result.http_status >= 200 && response.result.http_status < 300) {
    outcome.error_code = "BACKLOG_UNREADABLE_ANSWER";
  }
  return outcome;
}

HandlerOutcome store_failure(const Status& status) {
  return retry_later("STORE_ERROR", "the ticket ledger: " + status.message(), 0);
}

struct LedgerRead {
  std::optional<LedgerEntry> entry;
  int64_t revision = 0;
};

}  // namespace

HandlerOutcome TicketTarget::handle_finding(Attempt& attempt, const Finding& finding) {
  const std::string key = ledger_key(settings_, finding.key);
  const store::Job& job = attempt.claim.job;
  Client* client = attempt.client;

  // The answers worth pacing by: update requests, and any 429.
  const auto note_hints = [&](bool update_kind) {
    if (client != nullptr && (update_kind || client->last_response().result.http_status == 429)) {
      attempt.hints = client->last_response().hints;
    }
  };
  const auto log_action = [&](std::string_view action, const std::string& issue,
                              std::string_view detail) {
    spdlog::info("backlog ticket {}{} target={} finding={} issue={}{}", action,
                 settings_.dry_run ? " (dry run)" : "", settings_.target, json_quote(finding.id),
                 issue.empty() ? "-" : issue, detail);
  };
  const auto dry_run_line = [&](std::string_view action, const std::string& issue,
                                const Fields& fields, std::string_view reason) -> Status {
    JsonWriter writer;
    writer.begin_object();
    writer.key("time");
    writer.string(format_rfc3339_millis(clock_.now()));
    writer.key("target");
    writer.string(settings_.target);
    writer.key("action");
    writer.string(action);
    if (!reason.empty()) {
      writer.key("reason");
      writer.string(reason);
    }
    writer.key("finding_id");
    writer.string(finding.id);
    writer.key("product_arn");
    writer.string(finding.product_arn);
    writer.key("issue");
    writer.string(issue);
    writer.key("request");
    writer.begin_object();
    for (const auto& [name, value] : fields) {
      writer.key(name);
      writer.string(value);
    }
    writer.end_object();
    writer.end_object();
    std::string line = writer.take();
    line += '\n';
    return write_dry_run(line);
  };

  for (int round = 0; round < kLedgerRounds; ++round) {
    Result<std::optional<store::KvEntry>> stored = store_.kv_get(key);
    if (!stored.has_value()) {
      return store_failure(stored.status());
    }
    LedgerRead read;
    if (stored->has_value()) {
      Result<LedgerEntry> parsed = securityhub::ledger_entry_from_json((*stored)->value);
      if (!parsed.has_value()) {
        return permanent("LEDGER_UNREADABLE", fmt::format("the ticket ledger's entry {} is "
                                                          "unreadable: {}",
                                                          key, parsed.error().message()));
      }
      read.entry = std::move(parsed).value();
      read.revision = (*stored)->revision;
    }
    const int64_t now_ms = clock_.now_ms();

    // A creation marked in the entry: wait for it, or take it over.
    if (read.entry && read.entry->creating) {
      const securityhub::PendingCreate& pending = *read.entry->creating;
      if (pending.job_id != job.id && now_ms < pending.until_ms) {
        return retry_later(
            "TICKET_BEING_CREATED",
            fmt::format("another delivery (job {}) is creating the ticket for this finding",
                        pending.job_id),
            pending.until_ms);
      }
      LedgerEntry cleared = *read.entry;
      cleared.creating.reset();
      if (client != nullptr) {
        const std::string marker = finding_marker(finding.key);
        Result<std::vector<Issue>> found = client->search_issues(settings_.project_id, marker);
        note_hints(false);
        if (!found.has_value()) {
          return failure(*client, found.status());
        }
        for (const Issue& issue : *found) {
          if (issue.description.find(marker) != std::string::npos) {
            cleared.issue_key = issue.key;
            cleared.issue_id = issue.id;
            cleared.ticket = issue.status_id == settings_.resolved_status_id
                                 ? TicketState::kResolved
                                 : TicketState::kOpen;
            spdlog::warn(
                "backlog ticket found by its marker after an interrupted creation target={} "
                "finding={} issue={}",
                settings_.target, json_quote(finding.id), issue.key);
            break;
          }
        }
      }
      Result<int64_t> written = store_.kv_put_if(key, to_json(cleared), read.revision);
      if (!written.has_value() && written.status().code() != StatusCode::kFailedPrecondition) {
        return store_failure(written.status());
      }
      continue;  // decide again from what the ledger says now
    }

    const bool wanted = settings_.create_when ? settings_.create_when(attempt.event) : true;
    Decision decision = securityhub::decide(read.entry, finding, wanted);
    if (decision.action == Action::kComment && !settings_.comment_on_update) {
      decision.action = Action::kNone;
      decision.reason = securityhub::NoActionReason::kUnchanged;
    }
    LedgerEntry next = securityhub::next_entry(read.entry, finding, decision);
    next.creating.reset();

    if (decision.action == Action::kNone) {
      if (!read.entry || next != *read.entry) {
        Result<int64_t> written = store_.kv_put_if(key, to_json(next), read.revision);
        if (!written.has_value()) {
          if (written.status().code() == StatusCode::kFailedPrecondition) {
            continue;
          }
          return store_failure(written.status());
        }
      }
      const std::string_view reason = securityhub::no_action_reason_name(decision.reason);
      spdlog::debug("backlog ticket unchanged target={} finding={} reason={}", settings_.target,
                    json_quote(finding.id), reason);
      if (settings_.dry_run) {
        if (Status written = dry_run_line("none", next.issue_key, {}, reason); !written.ok()) {
          return retry_later("DRY_RUN_FILE", written.message(), 0);
        }
      }
      return HandlerOutcome{};
    }

    if (decision.action == Action::kCreate) {
      const TicketText text = ticket_text(finding, settings_.format);
      Fields fields;
      if (!settings_.dry_run) {
        fields.emplace_back("projectId", std::to_string(settings_.project_id));
        fields.emplace_back("issueTypeId", std::to_string(settings_.issue_type_id));
        auto priority = settings_.priority_ids.find(finding.severity_label);
        if (priority == settings_.priority_ids.end()) {
          priority = settings_.priority_ids.find("MEDIUM");
        }
        if (priority != settings_.priority_ids.end()) {
          fields.emplace_back("priorityId", std::to_string(priority->second));
        }
      }
      fields.emplace_back("summary", text.summary);
      fields.emplace_back("description", text.description);
      if (settings_.render_overrides) {
        Result<std::string> overrides = settings_.render_overrides(attempt.event);
        if (!overrides.has_value()) {
          return permanent("INVALID_TEMPLATE", overrides.error().message());
        }
        if (Status applied = apply_overrides(*overrides, fields); !applied.ok()) {
          return permanent("INVALID_TEMPLATE", applied.message());
        }
      }
      // The marker stays, whatever the template wrote: it is how a crash is recovered from.
      const std::string marker = finding_marker(finding.key);
      auto description = std::find_if(fields.begin(), fields.end(), [](const auto& field) {
        return field.first == "description";
      });
      if (description == fields.end()) {
        fields.emplace_back("description", marker);
      } else if (description->second.find(marker) == std::string::npos) {
        description->second += "\n\n" + marker;
      }

      LedgerEntry pending = next;
      pending.ticket = read.entry ? read.entry->ticket : TicketState::kNone;
      pending.creating =
          securityhub::PendingCreate{job.id, attempt.claim.token, attempt.deadline_ms};
      Result<int64_t> marked = store_.kv_put_if(key, to_json(pending), read.revision);
      if (!marked.has_value()) {
        if (marked.status().code() == StatusCode::kFailedPrecondition) {
          continue;
        }
        return store_failure(marked.status());
      }
      if (settings_.dry_run) {
        next.issue_key = fmt::format("{}-dry-run-{}", settings_.project_key, job.id);
        if (Status written = dry_run_line("create", next.issue_key, fields, ""); !written.ok()) {
          return retry_later("DRY_RUN_FILE", written.message(), 0);
        }
      } else {
        Result<Issue> created = client->create_issue(fields);
        note_hints(true);
        if (!created.has_value()) {
          if (created.status().code() != StatusCode::kUnavailable) {
            // Refused: nothing was created, so the mark goes (best effort: a stale mark only
            // costs the next delivery a search).
            LedgerEntry undone = pending;
            undone.creating.reset();
            (void)store_.kv_put_if(key, to_json(undone), *marked);
          }
          // Retryable (a timeout may have created it): the mark stays for the retry to find.
          return failure(*client, created.status());
        }
        next.issue_key = created->key;
        next.issue_id = created->id;
      }
      Result<int64_t> recorded = store_.kv_put_if(key, to_json(next), *marked);
      if (!recorded.has_value()) {
        spdlog::warn(
            "backlog ticket created but the ledger changed meanwhile target={} "
            "finding={} issue={} error={}",
            settings_.target, json_quote(finding.id), next.issue_key,
            json_quote(recorded.status().message()));
      }
      log_action("created", next.issue_key, "");
      return HandlerOutcome{};
    }

    // Comment, resolve, reopen: an existing ticket.
    const std::string issue = issue_reference(next);
    std::string_view action;
    Fields fields;
    std::string detail;
    if (decision.action == Action::kComment) {
      action = "commented";
      fields.emplace_back("content", update_comment(finding, decision.changes, settings_.format));
    } else if (decision.action == Action::kResolve) {
      action = "resolved";
      fields.emplace_back("statusId", std::to_string(settings_.resolved_status_id));
      const std::optional<int64_t> resolution = finding.workflow_status == "SUPPRESSED"
                                                    ? settings_.resolution_wont_fix_id
                                                    : settings_.resolution_fixed_id;
      if (resolution) {
        fields.emplace_back("resolutionId", std::to_string(*resolution));
      }
      fields.emplace_back("comment", resolve_comment(finding, decision.lifecycle, decision.changes,
                                                     settings_.format));
      detail = fmt::format(" because={}", decision.lifecycle.explanation());
    } else {
      action = "reopened";
      fields.emplace_back("statusId", std::to_string(settings_.reopen_status_id));
      fields.emplace_back("comment", reopen_comment(finding, decision.changes, settings_.format));
    }
    if (settings_.dry_run) {
      const std::string_view name = decision.action == Action::kComment   ? "comment"
                                    : decision.action == Action::kResolve ? "resolve"
                                                                          : "reopen";
      if (Status written = dry_run_line(name, next.issue_key, fields, ""); !written.ok()) {
        return retry_later("DRY_RUN_FILE", written.message(), 0);
      }
    } else if (decision.action == Action::kComment) {
      Result<int64_t> commented = client->add_comment(issue, fields[0].second);
      note_hints(true);
      if (!commented.has_value()) {
        return failure(*client, commented.status());
      }
    } else {
      Result<Issue> updated = client->update_issue(issue, fields);
      note_hints(true);
      if (!updated.has_value()) {
        return failure(*client, updated.status());
      }
    }
    Result<int64_t> recorded = store_.kv_put_if(key, to_json(next), read.revision);
    if (!recorded.has_value()) {
      // Acted on, so not repeated: the next version of the finding is decided from whatever the
      // ledger holds then.
      spdlog::warn(
          "backlog ticket {} but the ledger changed meanwhile target={} finding={} "
          "issue={} error={}",
          action, settings_.target, json_quote(finding.id), next.issue_key,
          json_quote(recorded.status().message()));
    }
    log_action(action, next.issue_key, detail);
    return HandlerOutcome{};
  }
  return retry_later("LEDGER_CONTENDED",
                     fmt::format("the ticket ledger's entry {} kept changing", key), 0);
}

}  // namespace hikyaku::integrations::backlog
