#include "integrations/backlog/ticket_target.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/ascii.h"
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
    if (key == "projectId") {
      // An issue filed in another project is one the marker search cannot find after a crash.
      return invalid_argument(
          "the InputTransformer sets \"projectId\": a Backlog target files in its Project only");
    }
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

std::string space_name(std::string_view url) {
  if (const size_t scheme = url.find("://"); scheme != std::string_view::npos) {
    url.remove_prefix(scheme + 3);
  }
  url = url.substr(0, url.find_first_of("?#"));
  const size_t slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : url.substr(slash);
  if (const size_t at = authority.rfind('@'); at != std::string_view::npos) {
    authority.remove_prefix(at + 1);  // never userinfo in a key
  }
  while (path.ends_with('/')) {
    path.remove_suffix(1);
  }
  if (path.ends_with("/api/v2")) {
    path.remove_suffix(7);
  }
  std::string name;
  for (char c : authority) {
    name += ascii_lower(c);
  }
  name += path;
  return name;
}

std::string ledger_key(const TicketSettings& settings, const securityhub::FindingKey& key) {
  if (settings.dry_run) {
    return fmt::format("{}{}/{}", kDryRunLedgerPrefix, settings.project_key, key.str());
  }
  return fmt::format("{}{}/{}/{}", kLedgerPrefix, space_name(settings.space.base_url),
                     settings.project_key, key.str());
}

TicketTarget::TicketTarget(store::Store& store, const Clock& clock, TicketSettings settings,
                           std::function<Transport()> transport)
    : store_(store),
      clock_(clock),
      base_(settings),
      transport_(std::move(transport)),
      resolved_(std::make_shared<const TicketSettings>(std::move(settings))) {}

TicketTarget::TicketTarget(store::Store& store, const Clock& clock, TicketNames names,
                           TicketSettings base, std::function<Transport()> transport)
    : store_(store),
      clock_(clock),
      names_(std::move(names)),
      base_(std::move(base)),
      transport_(std::move(transport)) {
  if (base_.dry_run) {
    resolved_ = std::make_shared<const TicketSettings>(dry_run_settings(names_, base_));
  }
}

TicketTarget::~TicketTarget() {
  MutexLock lock(mutex_);
  if (dry_run_fd_ >= 0) {
    ::close(dry_run_fd_);
  }
}

std::shared_ptr<const TicketSettings> TicketTarget::settings() const {
  MutexLock lock(mutex_);
  return resolved_;
}

Status TicketTarget::resolve_now() {
  {
    MutexLock lock(mutex_);
    if (resolved_ != nullptr) {
      return ok_status();
    }
    const int64_t now_ms = clock_.now_ms();
    if (now_ms < next_resolve_ms_) {
      return last_resolve_error_;
    }
    next_resolve_ms_ = now_ms + kResolveRetryMs;
  }
  std::unique_ptr<Client> client = take_client();
  Result<TicketSettings> settings = resolve_settings(*client, names_, base_);
  give_back(std::move(client));
  MutexLock lock(mutex_);
  if (!settings.has_value()) {
    last_resolve_error_ = settings.status();
    return last_resolve_error_;
  }
  resolved_ = std::make_shared<const TicketSettings>(std::move(settings).value());
  return ok_status();
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
  return std::make_unique<Client>(base_.space, transport_());
}

void TicketTarget::give_back(std::unique_ptr<Client> client) {
  if (client != nullptr) {
    MutexLock lock(mutex_);
    idle_clients_.push_back(std::move(client));
  }
}

Status TicketTarget::write_dry_run(const std::string& path, std::string_view line) {
  MutexLock lock(mutex_);
  if (dry_run_fd_ < 0) {
    const std::filesystem::path file(path);
    std::error_code ignored;
    if (file.has_parent_path()) {
      std::filesystem::create_directories(file.parent_path(), ignored);
    }
    // The actions hold finding details (accounts, resources): private, as Log targets' files.
    dry_run_fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (dry_run_fd_ < 0) {
      return unavailable(fmt::format("cannot open {}: {}", path, std::strerror(errno)));
    }
  }
  // One write per line: lines of several targets sharing the file never interleave.
  if (::write(dry_run_fd_, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    return unavailable(fmt::format("cannot write {}: {}", path, std::strerror(errno)));
  }
  return ok_status();
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
  outcome.response_excerpt = response.body.substr(0, kExcerptBytes);  // the client redacted it
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

// The finding's ledger entry and its revision (0: none).
Result<LedgerRead> read_ledger(store::Store& store, const std::string& key) {
  HK_ASSIGN_OR_RETURN(std::optional<store::KvEntry> stored, store.kv_get(key));
  LedgerRead read;
  if (stored.has_value()) {
    Result<LedgerEntry> parsed = securityhub::ledger_entry_from_json(stored->value);
    if (!parsed.has_value()) {
      return Status(StatusCode::kInternal,
                    fmt::format("the ticket ledger's entry {} is unreadable: {}", key,
                                parsed.error().message()));
    }
    read.entry = std::move(parsed).value();
    read.revision = stored->revision;
  }
  return read;
}

HandlerOutcome ledger_failure(const Status& status) {
  return status.code() == StatusCode::kInternal ? permanent("LEDGER_UNREADABLE", status.message())
                                                : store_failure(status);
}

}  // namespace

// One delivery attempt's context.
struct TicketTarget::Attempt {
  const store::Claim& claim;
  // No request starts after it: each ends within the space's timeout, so the attempt ends within
  // its lease, and no other claim of the job can run beside it.
  int64_t deadline_ms = 0;
  std::string_view event;
  const TicketSettings& settings;
  Client* client = nullptr;  // null in a dry run
  // The hints of the last answer of the paced kind (update requests), or of any 429.
  delivery::ResponseHints hints;
};

HandlerOutcome TicketTarget::deliver(const store::Claim& claim, int64_t deadline_ms) {
  Result<std::vector<Result<Finding>>> findings = securityhub::parse_event_findings(claim.job.body);
  if (!findings.has_value()) {
    return permanent("INVALID_FINDING",
                     "not a Security Hub findings event: " + findings.error().message());
  }
  if (findings->empty()) {
    return permanent("INVALID_FINDING", "the event's detail.findings is empty");
  }
  std::shared_ptr<const TicketSettings> settings = this->settings();
  if (settings == nullptr) {
    if (Status resolved = resolve_now(); !resolved.ok()) {
      int64_t next_ms = 0;
      {
        MutexLock lock(mutex_);
        next_ms = next_resolve_ms_;
      }
      HandlerOutcome outcome =
          resolved.code() == StatusCode::kUnavailable
              ? retry_later("BACKLOG_UNREACHABLE",
                            "the project's names are not looked up yet: " + resolved.message(),
                            next_ms)
              : permanent("BACKLOG_SETTINGS", resolved.message());
      return outcome;
    }
    settings = this->settings();
  }
  std::unique_ptr<Client> client = settings->dry_run ? nullptr : take_client();
  Attempt attempt{claim, deadline_ms, claim.job.body, *settings, client.get(), {}};
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

HandlerOutcome TicketTarget::handle_finding(Attempt& attempt, const Finding& finding) {
  const TicketSettings& settings = attempt.settings;
  const std::string key = ledger_key(settings, finding.key);
  const store::Job& job = attempt.claim.job;
  Client* client = attempt.client;

  // The answers worth pacing by: update requests, and any 429.
  const auto note_hints = [&](bool update_kind) {
    if (client != nullptr && (update_kind || client->last_response().result.http_status == 429)) {
      attempt.hints = client->last_response().hints;
    }
  };
  const auto dry_run_line = [&](std::string_view action, const std::string& issue,
                                const Fields& fields, std::string_view reason) -> HandlerOutcome {
    JsonWriter writer;
    writer.begin_object();
    writer.key("time");
    writer.string(format_rfc3339_millis(clock_.now()));
    writer.key("target");
    writer.string(settings.target);
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
    if (Status written = write_dry_run(settings.dry_run_file, line); !written.ok()) {
      return retry_later("DRY_RUN_FILE", written.message(), 0);
    }
    return HandlerOutcome{};
  };
  // Before each request: one that could outlast the lease is not started (the job is retried).
  const auto out_of_time = [&]() -> std::optional<HandlerOutcome> {
    if (clock_.now_ms() < attempt.deadline_ms) {
      return std::nullopt;
    }
    return retry_later("LEASE_ENDING",
                       "the attempt's lease ends before another Backlog request could", 0);
  };
  // Looks for the issue a creation may have filed: by the marker, first through Backlog's
  // keyword search, then among the project's newest issues (a search index may lag behind).
  const auto find_by_marker = [&](std::optional<Issue>& found) -> std::optional<HandlerOutcome> {
    const std::string marker = finding_marker(finding.key);
    for (const bool newest : {false, true}) {
      if (std::optional<HandlerOutcome> late = out_of_time()) {
        return late;
      }
      Result<std::vector<Issue>> issues =
          client->search_issues(settings.project_id, newest ? "" : marker, 100, newest);
      note_hints(false);
      if (!issues.has_value()) {
        return failure(*client, issues.status());
      }
      for (const Issue& issue : *issues) {
        if (issue.description.find(marker) != std::string::npos) {
          found = issue;
          return std::nullopt;
        }
      }
    }
    return std::nullopt;
  };

  for (int round = 0; round < kLedgerRounds; ++round) {
    Result<LedgerRead> read = read_ledger(store_, key);
    if (!read.has_value()) {
      return ledger_failure(read.status());
    }
    const int64_t now_ms = clock_.now_ms();

    // A creation marked in the entry: wait for it, or take it over.
    if (read->entry && read->entry->creating) {
      const securityhub::PendingCreate& pending = *read->entry->creating;
      if (pending.job_id != job.id && now_ms < pending.until_ms) {
        return retry_later(
            "TICKET_BEING_CREATED",
            fmt::format("job {} is creating the issue for finding {} (until {}); this delivery "
                        "decides after it",
                        pending.job_id, finding.id,
                        format_rfc3339_millis(std::chrono::system_clock::time_point(
                            std::chrono::milliseconds(pending.until_ms)))),
            pending.until_ms);
      }
      // Its own earlier attempt (a crash, a timeout: this is another claim of the job), or
      // another job's that is over.
      LedgerEntry cleared = *read->entry;
      cleared.creating.reset();
      if (client != nullptr) {
        std::optional<Issue> found;
        if (std::optional<HandlerOutcome> failed = find_by_marker(found)) {
          return *failed;
        }
        if (found) {
          cleared.issue_key = found->key;
          cleared.issue_id = found->id;
          cleared.ticket = found->status_id == settings.resolved_status_id ? TicketState::kResolved
                                                                           : TicketState::kOpen;
          spdlog::warn(
              "backlog ticket found by its marker after an interrupted creation target={} "
              "finding={} issue={} ledger_key={}",
              settings.target, json_quote(finding.id), found->key, key);
        } else {
          spdlog::warn(
              "backlog ticket creation was interrupted before Backlog filed it; filing it now "
              "target={} finding={} ledger_key={}",
              settings.target, json_quote(finding.id), key);
        }
      }
      Result<int64_t> written = store_.kv_put_if(key, to_json(cleared), read->revision);
      if (!written.has_value() && written.status().code() != StatusCode::kFailedPrecondition) {
        return store_failure(written.status());
      }
      continue;  // decide again from what the ledger says now
    }

    const bool wanted = settings.create_when ? settings.create_when(attempt.event) : true;
    Decision decision = securityhub::decide(read->entry, finding, wanted);
    if (decision.action == Action::kComment && !settings.comment_on_update) {
      decision.action = Action::kNone;
      decision.reason = securityhub::NoActionReason::kUnchanged;
    }
    LedgerEntry next = securityhub::next_entry(read->entry, finding, decision);
    next.creating.reset();

    if (decision.action == Action::kNone) {
      if (!read->entry || next != *read->entry) {
        Result<int64_t> written = store_.kv_put_if(key, to_json(next), read->revision);
        if (!written.has_value()) {
          if (written.status().code() == StatusCode::kFailedPrecondition) {
            continue;
          }
          return store_failure(written.status());
        }
      }
      const std::string_view reason = securityhub::no_action_reason_name(decision.reason);
      spdlog::debug("backlog ticket unchanged target={} finding={} reason={}", settings.target,
                    json_quote(finding.id), reason);
      return settings.dry_run ? dry_run_line("none", next.issue_key, {}, reason) : HandlerOutcome{};
    }

    if (decision.action == Action::kCreate) {
      const TicketText text = ticket_text(finding, settings.format);
      Fields fields;
      if (!settings.dry_run) {
        fields.emplace_back("projectId", std::to_string(settings.project_id));
        fields.emplace_back("issueTypeId", std::to_string(settings.issue_type_id));
        auto priority = settings.priority_ids.find(finding.severity_label);
        if (priority == settings.priority_ids.end()) {
          priority = settings.priority_ids.find("MEDIUM");
        }
        if (priority != settings.priority_ids.end()) {
          fields.emplace_back("priorityId", std::to_string(priority->second));
        }
      }
      fields.emplace_back("summary", text.summary);
      fields.emplace_back("description", text.description);
      if (settings.render_overrides) {
        Result<std::string> overrides = settings.render_overrides(attempt.event);
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

      if (!settings.dry_run) {
        if (std::optional<HandlerOutcome> late = out_of_time()) {
          return *late;
        }
      }
      // The mark holds while the create request may run: its timeout, and a grace for the
      // record after it.
      LedgerEntry pending = next;
      pending.ticket = read->entry ? read->entry->ticket : TicketState::kNone;
      pending.creating = securityhub::PendingCreate{
          job.id, attempt.claim.token, now_ms + settings.space.timeout_ms + kCreateGraceMs};
      Result<int64_t> marked = store_.kv_put_if(key, to_json(pending), read->revision);
      if (!marked.has_value()) {
        if (marked.status().code() == StatusCode::kFailedPrecondition) {
          continue;
        }
        return store_failure(marked.status());
      }
      if (settings.dry_run) {
        // Named after the finding (its key is a hash of its identity), not the job: job ids
        // can come back once their rows are gone, and two findings must never share a key.
        next.issue_key = fmt::format("{}-dry-run-{}", settings.project_key,
                                     std::string_view(finding.key.str())
                                         .substr(securityhub::FindingKey::kPrefix.size(), 12));
        if (HandlerOutcome written = dry_run_line("create", next.issue_key, fields, "");
            written.outcome != Outcome::kDelivered) {
          return written;
        }
      } else {
        Result<Issue> created = client->create_issue(fields);
        note_hints(true);
        if (!created.has_value()) {
          if (created.status().code() != StatusCode::kUnavailable) {
            // Refused: nothing was filed, so the mark goes (best effort: a stale mark costs the
            // next delivery a search, no more).
            LedgerEntry undone = pending;
            undone.creating.reset();
            (void)store_.kv_put_if(key, to_json(undone), *marked);
          }
          // Retryable (a timeout may have filed it): the mark stays for the retry to find it.
          return failure(*client, created.status());
        }
        next.issue_key = created->key;
        next.issue_id = created->id;
      }
      Result<int64_t> recorded = store_.kv_put_if(key, to_json(next), *marked);
      if (!recorded.has_value()) {
        // The mark stays (or someone took it over): the next delivery of the finding looks for
        // the issue by its marker and records it.
        spdlog::warn(
            "backlog ticket created, but recording it in the ledger failed: the next delivery "
            "of this finding finds it by its marker target={} finding={} issue={} ledger_key={} "
            "error={}",
            settings.target, json_quote(finding.id), next.issue_key, key,
            json_quote(recorded.status().message()));
      }
      spdlog::info("backlog ticket created{} target={} finding={} issue={}",
                   settings.dry_run ? " (dry run)" : "", settings.target, json_quote(finding.id),
                   next.issue_key);
      return HandlerOutcome{};
    }

    // Comment, resolve, reopen: an existing issue.
    const std::string issue = issue_reference(next);
    std::string_view action;
    std::string_view dry_run_action;
    Fields fields;
    std::string because;
    if (decision.action == Action::kComment) {
      action = "commented";
      dry_run_action = "comment";
      fields.emplace_back("content", update_comment(finding, decision.changes, settings.format));
    } else if (decision.action == Action::kResolve) {
      action = "resolved";
      dry_run_action = "resolve";
      fields.emplace_back("statusId", std::to_string(settings.resolved_status_id));
      const std::optional<int64_t> resolution = finding.workflow_status == "SUPPRESSED"
                                                    ? settings.resolution_wont_fix_id
                                                    : settings.resolution_fixed_id;
      if (resolution) {
        fields.emplace_back("resolutionId", std::to_string(*resolution));
      }
      fields.emplace_back("comment", resolve_comment(finding, decision.lifecycle, decision.changes,
                                                     settings.format));
      because = fmt::format(" because={}", decision.lifecycle.explanation());
    } else {
      action = "reopened";
      dry_run_action = "reopen";
      fields.emplace_back("statusId", std::to_string(settings.reopen_status_id));
      fields.emplace_back("comment", reopen_comment(finding, decision.changes, settings.format));
    }
    if (settings.dry_run) {
      if (HandlerOutcome written = dry_run_line(dry_run_action, next.issue_key, fields, "");
          written.outcome != Outcome::kDelivered) {
        return written;
      }
    } else {
      if (std::optional<HandlerOutcome> late = out_of_time()) {
        return *late;
      }
      Status sent = ok_status();
      if (decision.action == Action::kComment) {
        sent = client->add_comment(issue, fields[0].second).status();
      } else {
        sent = client->update_issue(issue, fields).status();
      }
      note_hints(true);
      if (!sent.ok() && sent.code() == StatusCode::kNotFound) {
        // The issue was deleted (or moved out of reach): the ledger forgets it, and the finding
        // is decided again as one without an issue.
        LedgerEntry forgotten = *read->entry;
        forgotten.issue_key.clear();
        forgotten.issue_id.reset();
        forgotten.ticket = TicketState::kNone;
        spdlog::warn(
            "backlog issue is gone (404); the ledger forgets it target={} finding={} "
            "issue={} ledger_key={}",
            settings.target, json_quote(finding.id), next.issue_key, key);
        Result<int64_t> written = store_.kv_put_if(key, to_json(forgotten), read->revision);
        if (!written.has_value() && written.status().code() != StatusCode::kFailedPrecondition) {
          return store_failure(written.status());
        }
        continue;
      }
      if (!sent.ok()) {
        return failure(*client, sent);
      }
    }
    if (HandlerOutcome recorded = record_action(attempt, key, next, read->revision, action);
        recorded.outcome != Outcome::kDelivered) {
      return recorded;
    }
    spdlog::info("backlog ticket {}{} target={} finding={} issue={}{}", action,
                 settings.dry_run ? " (dry run)" : "", settings.target, json_quote(finding.id),
                 next.issue_key.empty() ? "-" : next.issue_key, because);
    return HandlerOutcome{};
  }
  return retry_later("LEDGER_CONTENDED",
                     fmt::format("the ticket ledger's entry {} kept changing", key), 0);
}

HandlerOutcome TicketTarget::record_action(Attempt& attempt, const std::string& key,
                                           const LedgerEntry& next, int64_t revision,
                                           std::string_view action) {
  LedgerEntry entry = next;
  for (int round = 0; round < kLedgerRounds; ++round) {
    Result<int64_t> written = store_.kv_put_if(key, to_json(entry), revision);
    if (written.has_value()) {
      return HandlerOutcome{};
    }
    if (written.status().code() != StatusCode::kFailedPrecondition) {
      // Retried: the action is repeated (a second comment at worst) rather than the ledger left
      // saying the issue is in its old state, which would misdirect the finding's next version.
      return store_failure(written.status());
    }
    // Another delivery wrote meanwhile: keep its version if it is newer, with this action's
    // outcome for the issue.
    Result<LedgerRead> read = read_ledger(store_, key);
    if (!read.has_value()) {
      return ledger_failure(read.status());
    }
    if (!read->entry) {
      revision = 0;
      continue;
    }
    LedgerEntry merged = *read->entry;
    if (securityhub::parse_instant(merged.last_updated_at) <
        securityhub::parse_instant(next.last_updated_at)) {
      merged = next;
      merged.creating = read->entry->creating;
    }
    merged.ticket = next.ticket;
    merged.issue_key = next.issue_key;
    merged.issue_id = next.issue_id;
    entry = std::move(merged);
    revision = read->revision;
  }
  spdlog::warn("backlog ticket {} but the ledger kept changing target={} ledger_key={}", action,
               attempt.settings.target, key);
  return HandlerOutcome{};
}

}  // namespace hikyaku::integrations::backlog
