// The read-only routes: the delivery log, destinations, the ticket ledger, the rules, and the
// rule tester.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "admin/internal/handlers.h"
#include "core/json_writer.h"
#include "integrations/backlog/ticket_target.h"
#include "integrations/securityhub/ticket_decision.h"
#include "pattern/pattern.h"

namespace hikyaku::admin::internal {
namespace {

namespace securityhub = integrations::securityhub;
namespace backlog = integrations::backlog;

constexpr int kDefaultPage = 100;
constexpr int kMaxPage = 1000;

void optional_number(JsonWriter& writer, std::optional<int64_t> value) {
  if (value) {
    writer.number(*value);
  } else {
    writer.null();
  }
}

std::string_view rule_of(std::string_view key) {
  const size_t first = key.find('/');
  const size_t second = first == std::string_view::npos ? first : key.find('/', first + 1);
  return second == std::string_view::npos ? std::string_view()
                                          : key.substr(first + 1, second - first - 1);
}

std::string_view target_of(std::string_view key) {
  const size_t last = key.rfind('/');
  return last == std::string_view::npos ? key : key.substr(last + 1);
}

std::string_view target_kind(const config::Target& target) {
  return target.backlog ? "Backlog" : target.log ? "Log" : "ApiDestination";
}

// Where a Backlog ledger key's issue is seen in a browser: the configured space's address.
std::string issue_url(const config::Config& config, std::string_view ledger_key,
                      std::string_view issue_key) {
  if (issue_key.empty() || !ledger_key.starts_with(backlog::kLedgerPrefix)) {
    return "";
  }
  std::string_view rest = ledger_key.substr(backlog::kLedgerPrefix.size());
  const std::string_view space = rest.substr(0, rest.find('/'));
  for (const config::Rule& rule : config.rules) {
    for (const config::Target& target : rule.targets) {
      if (!target.backlog || target.backlog->endpoint.empty() ||
          backlog::space_name(target.backlog->endpoint) != space) {
        continue;
      }
      std::string base = target.backlog->endpoint.substr(0, target.backlog->endpoint.find('?'));
      while (base.ends_with('/')) {
        base.pop_back();
      }
      if (base.ends_with("/api/v2")) {
        base.resize(base.size() - 7);
      }
      return base + "/view/" + std::string(issue_key);
    }
  }
  return "";
}

void write_ticket(JsonWriter& writer, const config::Config& config, const std::string& key,
                  const securityhub::LedgerEntry& entry) {
  writer.begin_object();
  writer.key("LedgerKey");
  writer.string(key);
  writer.key("DryRun");
  writer.boolean(key.starts_with(backlog::kDryRunLedgerPrefix));
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
  optional_number(writer, entry.issue_id);
  writer.key("IssueUrl");
  if (const std::string url = issue_url(config, key, entry.issue_key); !url.empty()) {
    writer.string(url);
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
  writer.key("Resources");
  writer.begin_array();
  for (const std::string& resource : entry.snapshot.resource_ids) {
    writer.string(resource);
  }
  writer.end_array();
  writer.key("Ledger");
  writer.raw(securityhub::to_json(entry));
  writer.end_object();
}

}  // namespace

Response list_deliveries(const Sources& sources, const Query& query) {
  Result<int64_t> limit = query.integer("limit", 1, kMaxPage, kDefaultPage);
  Result<int64_t> before = query.integer("next_token", 0, INT64_MAX, 0);
  if (!limit.has_value() || !before.has_value()) {
    return status_response(!limit.has_value() ? limit.status() : before.status());
  }
  Result<std::vector<store::DeliveryRecord>> records =
      sources.store->recent_deliveries(static_cast<int>(*limit), *before);
  if (!records.has_value()) {
    return status_response(records.status());
  }
  JsonWriter writer;
  writer.begin_object();
  writer.key("Deliveries");
  writer.begin_array();
  for (const store::DeliveryRecord& record : *records) {
    writer.begin_object();
    writer.key("Id");
    writer.number(record.id);
    writer.key("Time");
    writer.string(time_text(record.at_ms));
    writer.key("Rule");
    writer.string(rule_of(record.target));
    writer.key("Target");
    writer.string(target_of(record.target));
    writer.key("TargetKey");
    writer.string(record.target);
    writer.key("Destination");
    writer.string(record.destination);
    writer.key("EventId");
    writer.string(record.event_id);
    writer.key("Attempt");
    writer.number(static_cast<int64_t>(record.attempt));
    writer.key("HttpStatus");
    optional_number(writer, record.http_status == 0 ? std::nullopt
                                                    : std::optional<int64_t>(record.http_status));
    writer.key("LatencyMs");
    optional_number(
        writer, record.latency_ms < 0 ? std::nullopt : std::optional<int64_t>(record.latency_ms));
    writer.key("Outcome");
    writer.string(record.outcome);
    writer.key("Error");
    writer.string(record.error);
    writer.end_object();
  }
  writer.end_array();
  if (records->size() == static_cast<size_t>(*limit)) {
    writer.key("NextToken");
    writer.string(std::to_string(records->back().id));
  }
  writer.end_object();
  return {200, writer.take()};
}

Response show_counts(const Sources& sources) {
  Result<store::Counts> counts = sources.store->counts(sources.clock->now_ms());
  if (!counts.has_value()) {
    return status_response(counts.status());
  }
  return {200, fmt::format(
                   R"({{"PendingJobs":{},"LeasedJobs":{},"DeadLetters":{},"ArchivedEvents":{}}})",
                   counts->pending, counts->leased, counts->dead_letters, counts->archived_events)};
}

Response list_destinations(const Sources& sources) {
  struct Destination {
    std::string kind;
    std::set<std::string> targets;
    std::optional<int64_t> rate_limit;
    int64_t queued = 0;
    std::optional<int64_t> oldest_ms;
  };
  std::map<std::string, Destination> destinations;
  const std::shared_ptr<const delivery::Endpoints> endpoints =
      sources.endpoints ? sources.endpoints() : nullptr;
  std::map<std::string, std::string> destination_of;  // target key -> destination
  if (endpoints != nullptr) {
    for (const auto& [key, endpoint] : *endpoints) {
      if (endpoint.kind == delivery::Endpoint::Kind::kLog) {
        continue;
      }
      Destination& destination = destinations[endpoint.destination];
      destination.kind =
          endpoint.kind == delivery::Endpoint::Kind::kHandler ? "Backlog" : "ApiDestination";
      destination.targets.insert(key);
      destination.rate_limit = endpoint.rate_limit_per_second;
      destination_of[key] = endpoint.destination;
    }
  } else {
    // A stopped server: what the config names.
    const std::shared_ptr<const bus::Snapshot> snapshot = sources.snapshot();
    const config::Config& config = *snapshot->config();
    for (const config::ApiDestination& api : config.api_destinations) {
      destinations[api.name].kind = "ApiDestination";
      destinations[api.name].rate_limit = api.invocation_rate_limit_per_second;
    }
    for (const config::Rule& rule : config.rules) {
      for (const config::Target& target : rule.targets) {
        const std::string key = bus::target_key(rule.event_bus_name, rule.name, target.id);
        std::string name;
        if (!target.api_destination.empty()) {
          name = target.api_destination;
        } else if (target.backlog) {
          name = "backlog:" + (target.backlog->dry_run
                                   ? std::string("dry-run")
                                   : backlog::space_name(target.backlog->endpoint));
          destinations[name].kind = "Backlog";
        } else {
          continue;
        }
        destinations[name].targets.insert(key);
        destination_of[key] = name;
      }
    }
  }
  Result<std::vector<store::TargetQueue>> queues = sources.store->queues();
  if (!queues.has_value()) {
    return status_response(queues.status());
  }
  for (const store::TargetQueue& queue : *queues) {
    const auto found = destination_of.find(queue.target);
    if (found == destination_of.end()) {
      continue;
    }
    Destination& destination = destinations[found->second];
    destination.queued += queue.jobs;
    destination.oldest_ms =
        std::min(destination.oldest_ms.value_or(INT64_MAX), queue.oldest_ingested_at_ms);
  }
  const int64_t now_ms = sources.clock->now_ms();
  const auto gauge = [&](const char* name, const std::string& destination) {
    return sources.metrics != nullptr ? sources.metrics->value(name, {{"destination", destination}})
                                      : std::nullopt;
  };
  JsonWriter writer;
  writer.begin_object();
  writer.key("Destinations");
  writer.begin_array();
  for (const auto& [name, destination] : destinations) {
    writer.begin_object();
    writer.key("Name");
    writer.string(name);
    writer.key("Kind");
    writer.string(destination.kind);
    writer.key("Targets");
    writer.begin_array();
    for (const std::string& target : destination.targets) {
      writer.string(target);
    }
    writer.end_array();
    writer.key("RateLimitPerSecond");
    if (destination.rate_limit) {
      writer.number(*destination.rate_limit);
    } else {
      writer.null();
    }
    writer.key("QueuedJobs");
    writer.number(destination.queued);
    writer.key("OldestJobAgeSeconds");
    optional_number(writer, destination.oldest_ms
                                ? std::optional<int64_t>(
                                      std::max<int64_t>(0, now_ms - *destination.oldest_ms) / 1000)
                                : std::nullopt);
    writer.key("WaitingForTurn");
    optional_number(writer, gauge("hikyaku_destination_queued_jobs", name));
    writer.key("InFlight");
    optional_number(writer, gauge("hikyaku_destination_in_flight_requests", name));
    writer.key("PausedUntil");
    const std::optional<int64_t> paused = gauge("hikyaku_destination_paused_until_seconds", name);
    if (paused && *paused * 1000 > now_ms) {
      writer.string(time_text(*paused * 1000));
    } else {
      writer.null();
    }
    writer.end_object();
  }
  writer.end_array();
  writer.end_object();
  return {200, writer.take()};
}

Response list_tickets(const Sources& sources, const Query& query) {
  Result<int64_t> limit = query.integer("limit", 1, kMaxPage, 500);
  if (!limit.has_value()) {
    return status_response(limit.status());
  }
  // The token is the last ledger key of the previous page; both ledgers, in key order
  // ("backlog-dry-run/" sorts before "backlog/").
  const std::string after = query.get("next_token").value_or("");
  const std::shared_ptr<const bus::Snapshot> snapshot = sources.snapshot();
  JsonWriter writer;
  writer.begin_object();
  writer.key("Tickets");
  writer.begin_array();
  int64_t written = 0;
  std::string last_key;
  for (const std::string_view prefix : {backlog::kDryRunLedgerPrefix, backlog::kLedgerPrefix}) {
    if (written == *limit) {
      break;
    }
    const std::string from = after.starts_with(prefix) ? after : "";
    if (!after.empty() && from.empty() && after > std::string(prefix)) {
      continue;  // this ledger was read whole on earlier pages
    }
    Result<std::vector<std::pair<std::string, store::KvEntry>>> page =
        sources.store->kv_list(std::string(prefix), from, static_cast<int>(*limit - written));
    if (!page.has_value()) {
      return status_response(page.status());
    }
    for (const auto& [key, value] : *page) {
      Result<securityhub::LedgerEntry> entry = securityhub::ledger_entry_from_json(value.value);
      last_key = key;
      ++written;
      if (!entry.has_value()) {
        writer.begin_object();
        writer.key("LedgerKey");
        writer.string(key);
        writer.key("Unreadable");
        writer.string(entry.error().message());
        writer.end_object();
        continue;
      }
      write_ticket(writer, *snapshot->config(), key, *entry);
    }
  }
  writer.end_array();
  if (written == *limit) {
    writer.key("NextToken");
    writer.string(last_key);
  }
  writer.end_object();
  return {200, writer.take()};
}

Response list_rules(const Sources& sources) {
  const std::shared_ptr<const bus::Snapshot> snapshot = sources.snapshot();
  const config::Config& config = *snapshot->config();
  const auto counter = [&](const char* name, const MetricLabels& labels) {
    return sources.metrics != nullptr ? sources.metrics->value(name, labels) : std::nullopt;
  };
  JsonWriter writer;
  writer.begin_object();
  writer.key("Rules");
  writer.begin_array();
  for (const config::Rule& rule : config.rules) {
    const bool enabled = rule.state == config::RuleState::kEnabled;
    writer.begin_object();
    writer.key("Name");
    writer.string(rule.name);
    writer.key("EventBusName");
    writer.string(rule.event_bus_name);
    writer.key("State");
    writer.string(enabled ? "ENABLED" : "DISABLED");
    writer.key("Description");
    writer.string(rule.description);
    writer.key("EventPattern");
    writer.string(rule.event_pattern);
    writer.key("MatchedEvents");
    optional_number(writer, counter("hikyaku_matched_events_total",
                                    {{"bus", rule.event_bus_name}, {"rule", rule.name}}));
    writer.key("Targets");
    writer.begin_array();
    for (const config::Target& target : rule.targets) {
      const std::string key = bus::target_key(rule.event_bus_name, rule.name, target.id);
      const auto outcome = [&](const char* name) {
        return counter("hikyaku_invocation_attempts_total", {{"target", key}, {"outcome", name}});
      };
      writer.begin_object();
      writer.key("Id");
      writer.string(target.id);
      writer.key("Key");
      writer.string(key);
      writer.key("Kind");
      writer.string(target_kind(target));
      writer.key("Destination");
      writer.string(target.backlog ? "backlog"
                    : target.log   ? target.log->path
                                   : target.api_destination);
      writer.key("Delivered");
      optional_number(writer, outcome("delivered"));
      writer.key("FailedRetryable");
      optional_number(writer, outcome("failed_retryable"));
      writer.key("FailedPermanent");
      optional_number(writer, outcome("failed_permanent"));
      writer.key("SentToDlq");
      optional_number(writer, counter("hikyaku_invocations_sent_to_dlq_total", {{"target", key}}));
      writer.end_object();
    }
    writer.end_array();
    writer.end_object();
  }
  writer.end_array();
  writer.end_object();
  return {200, writer.take()};
}

Response test_event(const Sources& sources, const Query& query, std::string_view body) {
  const std::string bus = query.get("bus").value_or("default");
  if (Status valid = pattern::validate_event(body); !valid.ok()) {
    return error_response(400, "InvalidParameter", "the event: " + valid.message());
  }
  const std::shared_ptr<const bus::Snapshot> snapshot = sources.snapshot();
  const int64_t now_ms = sources.clock->now_ms();
  JsonWriter writer;
  writer.begin_object();
  writer.key("EventBusName");
  writer.string(bus);
  writer.key("Rules");
  writer.begin_array();
  for (const config::Rule& rule : snapshot->config()->rules) {
    if (rule.event_bus_name != bus) {
      continue;
    }
    const bool enabled = rule.state == config::RuleState::kEnabled;
    Result<pattern::Explanation> explanation = pattern::explain(rule.event_pattern, body);
    writer.begin_object();
    writer.key("Name");
    writer.string(rule.name);
    writer.key("State");
    writer.string(enabled ? "ENABLED" : "DISABLED");
    writer.key("Matched");
    writer.boolean(explanation.has_value() && explanation->matched);
    writer.key("Reason");
    writer.string(!explanation.has_value() ? explanation.error().message()
                  : explanation->matched   ? ""
                                           : explanation->reason);
    writer.key("Targets");
    writer.begin_array();
    if (enabled && explanation.has_value() && explanation->matched) {
      for (const config::Target& target : rule.targets) {
        const std::string key = bus::target_key(rule.event_bus_name, rule.name, target.id);
        Result<std::vector<bus::Snapshot::Rendered>> bodies =
            snapshot->render_for_test(key, body, now_ms);
        writer.begin_object();
        writer.key("Id");
        writer.string(target.id);
        writer.key("Kind");
        writer.string(target_kind(target));
        writer.key("Bodies");
        writer.begin_array();
        if (bodies.has_value()) {
          for (const bus::Snapshot::Rendered& rendered : *bodies) {
            writer.string(rendered.body);
          }
        }
        writer.end_array();
        writer.key("Error");
        writer.string(bodies.has_value() ? "" : bodies.error().message());
        writer.end_object();
      }
    }
    writer.end_array();
    writer.end_object();
  }
  writer.end_array();
  writer.end_object();
  return {200, writer.take()};
}

}  // namespace hikyaku::admin::internal
