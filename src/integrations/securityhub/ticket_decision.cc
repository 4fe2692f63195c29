#include "integrations/securityhub/ticket_decision.h"

#include <fmt/format.h>
#include <simdjson.h>

#include "core/json_writer.h"

namespace hikyaku::integrations::securityhub {
namespace {

namespace od = simdjson::ondemand;

constexpr int64_t kLedgerFormatVersion = 1;

// The entry's version; an entry whose UpdatedAt does not parse (never written by to_json) is
// older than any finding rather than a reason to drop events forever.
FindingVersion version_of(const LedgerEntry& entry) {
  FindingVersion version{.updated_at = parse_instant(entry.last_updated_at).value_or(Instant{}),
                         .processed_at = std::nullopt};
  if (entry.last_processed_at) {
    version.processed_at = parse_instant(*entry.last_processed_at);
  }
  return version;
}

Decision nothing(NoActionReason reason, LifecycleState lifecycle,
                 std::vector<FieldChange> found = {}) {
  return Decision{.action = Action::kNone,
                  .reason = reason,
                  .changes = std::move(found),
                  .lifecycle = lifecycle};
}

Decision act(Action action, LifecycleState lifecycle, std::vector<FieldChange> found) {
  return Decision{.action = action,
                  .reason = NoActionReason::kNotApplicable,
                  .changes = std::move(found),
                  .lifecycle = lifecycle};
}

void write_optional_string(JsonWriter& writer, const std::optional<std::string>& value) {
  if (value) {
    writer.string(*value);
  } else {
    writer.null();
  }
}

Status malformed(std::string_view member, std::string_view expected) {
  return invalid_argument(fmt::format("ledger entry: {} must be {}", member, expected));
}

Status read_string(od::value value, std::string_view member, std::string& out) {
  std::string_view text;
  if (value.get_string().get(text) != simdjson::SUCCESS) {
    return malformed(member, "a string");
  }
  out.assign(text);
  return ok_status();
}

Status read_optional_string(od::value value, std::string_view member,
                            std::optional<std::string>& out) {
  bool null = false;
  if (value.is_null().get(null) == simdjson::SUCCESS && null) {
    out.reset();
    return ok_status();
  }
  out.emplace();
  return read_string(value, member, *out);
}

template <typename OnField>
Status for_each_field(od::object object, std::string_view what, OnField&& on_field) {
  for (auto member : object) {
    od::field field;
    std::string_view key;
    if (std::move(member).get(field) != simdjson::SUCCESS ||
        field.unescaped_key().get(key) != simdjson::SUCCESS) {
      return invalid_argument(fmt::format("ledger entry: {} is not valid JSON", what));
    }
    HK_RETURN_IF_ERROR(on_field(key, field.value()));
  }
  return ok_status();
}

Status read_snapshot(od::value value, FindingSnapshot& snapshot) {
  od::object object;
  if (value.get_object().get(object) != simdjson::SUCCESS) {
    return malformed("snapshot", "an object");
  }
  bool has_compliance = false;
  HK_RETURN_IF_ERROR(
      for_each_field(object, "snapshot", [&](std::string_view key, od::value member) -> Status {
        if (key == "severity") {
          return read_string(member, "snapshot.severity", snapshot.severity_label);
        }
        if (key == "compliance") {
          has_compliance = true;
          return read_optional_string(member, "snapshot.compliance", snapshot.compliance_status);
        }
        if (key == "workflow") {
          return read_string(member, "snapshot.workflow", snapshot.workflow_status);
        }
        if (key == "record_state") {
          return read_string(member, "snapshot.record_state", snapshot.record_state);
        }
        if (key == "resources") {
          od::array array;
          if (member.get_array().get(array) != simdjson::SUCCESS) {
            return malformed("snapshot.resources", "an array of strings");
          }
          for (auto element : array) {
            std::string_view id;
            if (element.get_string().get(id) != simdjson::SUCCESS) {
              return malformed("snapshot.resources", "an array of strings");
            }
            snapshot.resource_ids.emplace_back(id);
          }
        }
        return ok_status();
      }));
  if (!has_compliance) {
    return malformed("snapshot.compliance", "present (a string or null)");
  }
  if (snapshot.workflow_status.empty() || snapshot.record_state.empty()) {
    return malformed(
        snapshot.workflow_status.empty() ? "snapshot.workflow" : "snapshot.record_state",
        "a non-empty string");
  }
  return ok_status();
}

Result<TicketState> parse_ticket_state(std::string_view text) {
  for (TicketState state : {TicketState::kNone, TicketState::kOpen, TicketState::kResolved}) {
    if (text == ticket_state_name(state)) {
      return state;
    }
  }
  return malformed("ticket", R"("none", "open" or "resolved")");
}

}  // namespace

std::string_view ticket_state_name(TicketState state) {
  switch (state) {
    case TicketState::kNone:
      return "none";
    case TicketState::kOpen:
      return "open";
    case TicketState::kResolved:
      return "resolved";
  }
  return "none";
}

std::string_view action_name(Action action) {
  switch (action) {
    case Action::kNone:
      return "none";
    case Action::kCreate:
      return "create";
    case Action::kComment:
      return "comment";
    case Action::kResolve:
      return "resolve";
    case Action::kReopen:
      return "reopen";
  }
  return "none";
}

std::string_view no_action_reason_name(NoActionReason reason) {
  switch (reason) {
    case NoActionReason::kNotApplicable:
      return "not_applicable";
    case NoActionReason::kStale:
      return "stale";
    case NoActionReason::kUnchanged:
      return "unchanged";
    case NoActionReason::kResolvedWithoutTicket:
      return "resolved_without_ticket";
    case NoActionReason::kNotMatchingCreateWhen:
      return "not_matching_create_when";
    case NoActionReason::kUndeterminedWithoutTicket:
      return "undetermined_without_ticket";
    case NoActionReason::kTicketAlreadyResolved:
      return "ticket_already_resolved";
  }
  return "not_applicable";
}

namespace {

Status read_pending_create(od::value value, std::optional<PendingCreate>& out) {
  od::object object;
  if (value.get_object().get(object) != simdjson::SUCCESS) {
    return malformed("creating", "an object");
  }
  PendingCreate pending;
  HK_RETURN_IF_ERROR(
      for_each_field(object, "creating", [&](std::string_view key, od::value member) -> Status {
        if (key == "job") {
          if (member.get_int64().get(pending.job_id) != simdjson::SUCCESS) {
            return malformed("creating.job", "an integer");
          }
        } else if (key == "claim") {
          return read_string(member, "creating.claim", pending.claim);
        } else if (key == "until_ms") {
          if (member.get_int64().get(pending.until_ms) != simdjson::SUCCESS) {
            return malformed("creating.until_ms", "an integer");
          }
        }
        return ok_status();
      }));
  out = std::move(pending);
  return ok_status();
}

}  // namespace

std::string to_json(const LedgerEntry& entry) {
  JsonWriter writer;
  writer.begin_object();
  writer.key("v");
  writer.number(kLedgerFormatVersion);
  writer.key("key");
  writer.string(entry.key.str());
  writer.key("product_arn");
  writer.string(entry.product_arn);
  writer.key("finding_id");
  writer.string(entry.finding_id);
  writer.key("issue_key");
  writer.string(entry.issue_key);
  writer.key("issue_id");
  if (entry.issue_id) {
    writer.number(*entry.issue_id);
  } else {
    writer.null();
  }
  writer.key("ticket");
  writer.string(ticket_state_name(entry.ticket));
  writer.key("updated_at");
  writer.string(entry.last_updated_at);
  writer.key("processed_at");
  write_optional_string(writer, entry.last_processed_at);
  writer.key("snapshot");
  writer.begin_object();
  writer.key("severity");
  writer.string(entry.snapshot.severity_label);
  writer.key("compliance");
  write_optional_string(writer, entry.snapshot.compliance_status);
  writer.key("workflow");
  writer.string(entry.snapshot.workflow_status);
  writer.key("record_state");
  writer.string(entry.snapshot.record_state);
  writer.key("resources");
  writer.begin_array();
  for (const std::string& id : entry.snapshot.resource_ids) {
    writer.string(id);
  }
  writer.end_array();
  writer.end_object();
  if (entry.creating) {
    writer.key("creating");
    writer.begin_object();
    writer.key("job");
    writer.number(entry.creating->job_id);
    writer.key("claim");
    writer.string(entry.creating->claim);
    writer.key("until_ms");
    writer.number(entry.creating->until_ms);
    writer.end_object();
  }
  writer.end_object();
  return writer.take();
}

Result<LedgerEntry> ledger_entry_from_json(std::string_view json) {
  const simdjson::padded_string padded(json);
  od::parser parser;
  od::document document;
  od::object object;
  if (parser.iterate(padded).get(document) != simdjson::SUCCESS ||
      document.get_object().get(object) != simdjson::SUCCESS) {
    return invalid_argument("ledger entry: not a JSON object");
  }
  LedgerEntry entry;
  std::string key_text;
  std::string ticket_text;
  std::optional<int64_t> format_version;
  bool has_snapshot = false;
  HK_RETURN_IF_ERROR(
      for_each_field(object, "the entry", [&](std::string_view key, od::value member) -> Status {
        if (key == "v") {
          int64_t number = 0;
          if (member.get_int64().get(number) != simdjson::SUCCESS) {
            return malformed("v", "an integer");
          }
          format_version = number;
        } else if (key == "key") {
          return read_string(member, key, key_text);
        } else if (key == "product_arn") {
          return read_string(member, key, entry.product_arn);
        } else if (key == "finding_id") {
          return read_string(member, key, entry.finding_id);
        } else if (key == "issue_key") {
          return read_string(member, key, entry.issue_key);
        } else if (key == "issue_id") {
          bool null = false;
          if (member.is_null().get(null) == simdjson::SUCCESS && null) {
            return ok_status();
          }
          int64_t id = 0;
          if (member.get_int64().get(id) != simdjson::SUCCESS) {
            return malformed("issue_id", "an integer or null");
          }
          entry.issue_id = id;
        } else if (key == "ticket") {
          return read_string(member, key, ticket_text);
        } else if (key == "updated_at") {
          return read_string(member, key, entry.last_updated_at);
        } else if (key == "processed_at") {
          return read_optional_string(member, key, entry.last_processed_at);
        } else if (key == "snapshot") {
          has_snapshot = true;
          return read_snapshot(member, entry.snapshot);
        } else if (key == "creating") {
          return read_pending_create(member, entry.creating);
        }
        return ok_status();
      }));
  if (format_version != kLedgerFormatVersion) {
    return malformed("v", fmt::format("{}", kLedgerFormatVersion));
  }
  if (entry.product_arn.empty() || entry.finding_id.empty()) {
    return malformed(entry.product_arn.empty() ? "product_arn" : "finding_id",
                     "a non-empty string");
  }
  HK_ASSIGN_OR_RETURN(entry.key, FindingKey::parse(key_text));
  if (entry.key != FindingKey::of(entry.product_arn, entry.finding_id)) {
    return malformed("key", "the key of product_arn and finding_id");
  }
  HK_ASSIGN_OR_RETURN(entry.ticket, parse_ticket_state(ticket_text));
  if (!parse_instant(entry.last_updated_at)) {
    return malformed("updated_at", "an RFC 3339 timestamp");
  }
  if (entry.last_processed_at && !parse_instant(*entry.last_processed_at)) {
    return malformed("processed_at", "an RFC 3339 timestamp or null");
  }
  if (!has_snapshot) {
    return malformed("snapshot", "an object");
  }
  return entry;
}

Decision decide(const std::optional<LedgerEntry>& entry, const Finding& finding,
                bool matches_create_when) {
  const LifecycleState lifecycle = lifecycle_of(finding);
  const TicketState ticket = entry ? entry->ticket : TicketState::kNone;
  std::vector<FieldChange> found;
  if (entry) {
    const std::weak_ordering order = compare_versions(version_of(finding), version_of(*entry));
    if (std::is_lt(order)) {
      return nothing(NoActionReason::kStale, lifecycle);
    }
    found = changes(entry->snapshot, snapshot_of(finding));
    if (std::is_eq(order) && ticket != TicketState::kNone && found.empty()) {
      return nothing(NoActionReason::kUnchanged, lifecycle);
    }
  }

  switch (ticket) {
    case TicketState::kNone:
      switch (lifecycle.stage) {
        case Stage::kActive:
          return matches_create_when
                     ? act(Action::kCreate, lifecycle, std::move(found))
                     : nothing(NoActionReason::kNotMatchingCreateWhen, lifecycle, std::move(found));
        case Stage::kUndetermined:
          return nothing(NoActionReason::kUndeterminedWithoutTicket, lifecycle, std::move(found));
        case Stage::kResolved:
          return nothing(NoActionReason::kResolvedWithoutTicket, lifecycle, std::move(found));
      }
      break;
    case TicketState::kOpen:
      if (lifecycle.stage == Stage::kResolved) {
        return act(Action::kResolve, lifecycle, std::move(found));
      }
      return found.empty() ? nothing(NoActionReason::kUnchanged, lifecycle)
                           : act(Action::kComment, lifecycle, std::move(found));
    case TicketState::kResolved:
      if (lifecycle.stage == Stage::kActive) {
        return act(Action::kReopen, lifecycle, std::move(found));
      }
      return nothing(NoActionReason::kTicketAlreadyResolved, lifecycle, std::move(found));
  }
  return nothing(NoActionReason::kUnchanged, lifecycle);
}

LedgerEntry next_entry(const std::optional<LedgerEntry>& entry, const Finding& finding,
                       const Decision& decision) {
  if (entry && decision.reason == NoActionReason::kStale) {
    return *entry;
  }
  LedgerEntry next;
  if (entry) {
    next = *entry;
  } else {
    next.key = finding.key;
  }
  next.product_arn = finding.product_arn;
  next.finding_id = finding.id;
  next.last_updated_at = finding.updated_at;
  next.last_processed_at = finding.processed_at;
  next.snapshot = snapshot_of(finding);
  switch (decision.action) {
    case Action::kCreate:
    case Action::kComment:
    case Action::kReopen:
      next.ticket = TicketState::kOpen;
      break;
    case Action::kResolve:
      next.ticket = TicketState::kResolved;
      break;
    case Action::kNone:
      break;
  }
  return next;
}

}  // namespace hikyaku::integrations::securityhub
