#include "bus/pipeline.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/arn.h"
#include "core/envelope.h"
#include "core/time.h"

namespace hikyaku::bus {

std::string target_key(std::string_view bus, std::string_view rule, std::string_view target_id) {
  return fmt::format("{}/{}/{}", bus, rule, target_id);
}

namespace {

// A Backlog target handles every finding of an event on its own.
constexpr std::string_view kBacklogSplitPath = "$.detail.findings";

// The JSONPath values of a target's HttpParameters, named as delivery/request.h reads them.
Result<transform::PathValues> compile_http_parameters(const config::Target& target) {
  std::vector<std::pair<std::string, std::string>> named;
  if (target.http_parameters) {
    const config::TargetHttpParameters& parameters = *target.http_parameters;
    for (size_t i = 0; i < parameters.path_parameter_values.size(); ++i) {
      if (transform::is_event_path(parameters.path_parameter_values[i])) {
        named.emplace_back(fmt::format("path:{}", i), parameters.path_parameter_values[i]);
      }
    }
    for (const auto& [name, value] : parameters.header_parameters) {
      if (transform::is_event_path(value)) {
        named.emplace_back("header:" + name, value);
      }
    }
    for (const auto& [name, value] : parameters.query_string_parameters) {
      if (transform::is_event_path(value)) {
        named.emplace_back("query:" + name, value);
      }
    }
  }
  return transform::PathValues::compile(named);
}

}  // namespace

Result<std::shared_ptr<const Snapshot>> Snapshot::build(
    std::shared_ptr<const config::Config> config, MetricsRegistry& metrics) {
  std::shared_ptr<Snapshot> snapshot(new Snapshot());
  snapshot->config_ = config;
  const std::string region = config->server.region.value_or("us-east-1");
  std::vector<std::string> bus_names = config->event_bus_names();
  for (const config::Archive& archive : config->archives) {
    if (std::find(bus_names.begin(), bus_names.end(), archive.event_bus_name) == bus_names.end()) {
      bus_names.push_back(archive.event_bus_name);
    }
  }
  for (const std::string& bus_name : bus_names) {
    CompiledBus bus;
    bus.ingested_events = &metrics.counter("hikyaku_ingested_events_total",
                                           "Events accepted on a bus", {{"bus", bus_name}});
    std::vector<pattern::RuleSpec> specs;
    for (const config::Rule& rule : config->rules) {
      if (rule.event_bus_name != bus_name || rule.state != config::RuleState::kEnabled) {
        continue;
      }
      CompiledRule compiled;
      compiled.name = rule.name;
      compiled.arn = rule_arn(region, config->server.account, bus_name, rule.name);
      compiled.matched_events = &metrics.counter("hikyaku_matched_events_total",
                                                 "Events that matched a rule (MatchedEvents)",
                                                 {{"bus", bus_name}, {"rule", rule.name}});
      for (const config::Target& target : rule.targets) {
        // A Backlog target takes each finding's whole one-finding event: its InputTransformer
        // is applied per finding when the issue is written, not here.
        Result<transform::Transformer> transformer = transform::Transformer::compile(
            target.backlog ? transform::TargetInput{} : config::target_input(target));
        if (!transformer.has_value()) {
          return transformer.error().with_context(
              fmt::format("rule {} target {}", rule.name, target.id));
        }
        Result<transform::PathValues> parameters = compile_http_parameters(target);
        if (!parameters.has_value()) {
          return parameters.error().with_context(
              fmt::format("rule {} target {}: HttpParameters", rule.name, target.id));
        }
        std::optional<transform::EventSplitter> split_by;
        const std::optional<std::string> split_path =
            target.backlog ? std::optional<std::string>(kBacklogSplitPath) : target.split_by;
        if (split_path) {
          Result<transform::EventSplitter> splitter =
              transform::EventSplitter::compile(*split_path);
          if (!splitter.has_value()) {
            return splitter.error().with_context(
                fmt::format("rule {} target {}: SplitBy", rule.name, target.id));
          }
          split_by = std::move(splitter).value();
        }
        compiled.targets.push_back({target_key(bus_name, rule.name, target.id),
                                    std::move(transformer).value(), std::move(parameters).value(),
                                    std::move(split_by)});
      }
      specs.push_back({static_cast<uint32_t>(bus.rules.size()), rule.event_pattern});
      bus.rules.push_back(std::move(compiled));
    }
    Result<std::unique_ptr<const pattern::Matcher>> matcher = pattern::Matcher::compile(specs);
    if (!matcher.has_value()) {
      return matcher.error().with_context(fmt::format("bus {}", bus_name));
    }
    bus.matcher = std::move(matcher).value();
    std::vector<pattern::RuleSpec> archive_specs;
    for (const config::Archive& archive : config->archives) {
      if (archive.event_bus_name != bus_name) {
        continue;
      }
      if (archive.event_pattern.empty()) {
        bus.archives_of_every_event.push_back(archive.name);
        continue;
      }
      archive_specs.push_back(
          {static_cast<uint32_t>(bus.archive_names.size()), archive.event_pattern});
      bus.archive_names.push_back(archive.name);
    }
    if (!archive_specs.empty()) {
      Result<std::unique_ptr<const pattern::Matcher>> archive_matcher =
          pattern::Matcher::compile(archive_specs);
      if (!archive_matcher.has_value()) {
        return archive_matcher.error().with_context(fmt::format("bus {} archives", bus_name));
      }
      bus.archive_matcher = std::move(archive_matcher).value();
    }
    snapshot->buses_.emplace(bus_name, std::move(bus));
  }
  return std::shared_ptr<const Snapshot>(std::move(snapshot));
}

const Snapshot::CompiledBus* Snapshot::find_bus(std::string_view name) const {
  auto found = buses_.find(name);
  return found == buses_.end() ? nullptr : &found->second;
}

namespace {

// The bus, the rule's index in it and the target a key names; nulls when none does.
struct FoundTarget {
  const Snapshot::CompiledBus* bus = nullptr;
  uint32_t rule_index = 0;
  const Snapshot::CompiledTarget* target = nullptr;
};

FoundTarget find_target(const Snapshot& snapshot, std::string_view target_key) {
  const size_t first = target_key.find('/');
  const Snapshot::CompiledBus* bus =
      first == std::string_view::npos ? nullptr : snapshot.find_bus(target_key.substr(0, first));
  if (bus == nullptr) {
    return {};
  }
  for (uint32_t index = 0; index < bus->rules.size(); ++index) {
    for (const Snapshot::CompiledTarget& target : bus->rules[index].targets) {
      if (target.key == target_key) {
        return {bus, index, &target};
      }
    }
  }
  return {};
}

Status render_one(const Snapshot::CompiledRule& rule, const Snapshot::CompiledTarget& target,
                  std::string_view event_json, int64_t ingested_at_ms,
                  Snapshot::Rendered& rendered) {
  const std::string ingestion_time = format_rfc3339_seconds(
      std::chrono::system_clock::time_point(std::chrono::milliseconds(ingested_at_ms)));
  const transform::RenderContext context{rule.name, rule.arn, ingestion_time};
  HK_RETURN_IF_ERROR(target.transformer.render_to(event_json, context, rendered.body));
  return target.http_parameters.render_to(event_json, rendered.headers)
      .with_context("HttpParameters");
}

Status no_target(std::string_view target_key) {
  return not_found(
      fmt::format("no target {} in the config in force (removed, renamed, or its rule is disabled)",
                  target_key));
}

}  // namespace

Result<Snapshot::Rendered> Snapshot::render_again(std::string_view target_key,
                                                  std::string_view event_json,
                                                  int64_t ingested_at_ms) const {
  const FoundTarget found = find_target(*this, target_key);
  if (found.target == nullptr) {
    return no_target(target_key);
  }
  Rendered rendered;
  HK_RETURN_IF_ERROR(render_one(found.bus->rules[found.rule_index], *found.target, event_json,
                                ingested_at_ms, rendered));
  return rendered;
}

Result<std::vector<Snapshot::Rendered>> Snapshot::render_for_test(std::string_view target_key,
                                                                  std::string_view event_json,
                                                                  int64_t ingested_at_ms) const {
  const FoundTarget found = find_target(*this, target_key);
  if (found.target == nullptr) {
    return no_target(target_key);
  }
  const CompiledRule& rule = found.bus->rules[found.rule_index];
  std::vector<Rendered> all;
  if (!found.target->split_by) {
    HK_RETURN_IF_ERROR(
        render_one(rule, *found.target, event_json, ingested_at_ms, all.emplace_back()));
    return all;
  }
  std::vector<std::string> pieces;
  HK_RETURN_IF_ERROR(found.target->split_by->split(event_json, pieces)
                         .with_context("SplitBy " + found.target->split_by->path()));
  std::vector<uint32_t> matched;
  for (const std::string& piece : pieces) {
    if (!found.bus->matcher->match(piece, matched).ok() ||
        std::find(matched.begin(), matched.end(), found.rule_index) == matched.end()) {
      continue;
    }
    HK_RETURN_IF_ERROR(render_one(rule, *found.target, piece, ingested_at_ms, all.emplace_back()));
  }
  return all;
}

Pipeline::Pipeline(store::GroupCommitter& committer, MetricsRegistry& metrics, const Clock& clock,
                   std::shared_ptr<const Snapshot> snapshot)
    : committer_(committer),
      clock_(clock),
      snapshot_(std::move(snapshot)),
      render_failures_(metrics.counter(
          "hikyaku_render_failures_total",
          "Deliveries whose body could not be rendered; recorded in the dead-letter queue")),
      unknown_bus_events_(
          metrics.counter("hikyaku_unknown_bus_events_total",
                          "Events accepted for a bus without rules (dropped, as AWS does)")),
      throttled_events_(metrics.counter(
          "hikyaku_throttled_events_total",
          "Events refused because the ingest queue's byte bound was reached (clients retry)")),
      refused_events_(metrics.counter(
          "hikyaku_refused_events_total",
          "Events refused on their own (e.g. nested too deep to match); nothing of them stored")) {
  committer_.set_queued_bytes_gauge(&metrics.gauge(
      "hikyaku_ingest_queued_bytes",
      "Bytes of rendered deliveries and events accepted for commit and not yet durable"));
}

std::shared_ptr<const config::Config> Pipeline::config() const {
  return snapshot_.load()->config();
}

void Pipeline::publish(std::shared_ptr<const Snapshot> snapshot) {
  snapshot_.store(std::move(snapshot));
}

namespace {

// What a call adds to the metrics, counted only once its events are stored. Holds the counters
// themselves: the answer may come after the Pipeline is gone (the registry outlives both).
struct Tally {
  Counter* ingested = nullptr;  // the bus's; null for a bus without rules
  Counter* unknown_bus = nullptr;
  Counter* render_failures = nullptr;
  Counter* throttled = nullptr;
  Counter* refused = nullptr;
  int64_t ingested_events = 0;
  int64_t unknown_bus_events = 0;
  int64_t render_failure_count = 0;
  std::vector<Counter*> matched;  // one entry per (event, matched rule)
};

Status queue_full() {
  return resource_exhausted("too many events are waiting to be stored; retry shortly");
}

// Gives every envelope not refused alone the commit's `status`, and counts the call.
void answer(const Status& status, const Tally& tally, std::vector<Status>& statuses) {
  int64_t refused_alone = 0;
  for (Status& entry : statuses) {
    if (entry.ok()) {
      entry = status;
    } else {
      ++refused_alone;
    }
  }
  tally.refused->add(refused_alone);
  if (status.code() == StatusCode::kResourceExhausted) {
    tally.throttled->add(static_cast<int64_t>(statuses.size()) - refused_alone);
  }
  if (!status.ok()) {
    return;
  }
  if (tally.ingested != nullptr) {
    tally.ingested->add(tally.ingested_events);
  }
  tally.unknown_bus->add(tally.unknown_bus_events);
  tally.render_failures->add(tally.render_failure_count);
  for (Counter* counter : tally.matched) {
    counter->add();
  }
}

}  // namespace

void Pipeline::ingest(std::string_view bus_name, std::vector<Envelope> envelopes, IngestDone done) {
  ingest_events(bus_name, std::move(envelopes), nullptr, std::move(done));
}

void Pipeline::replay(std::string_view bus_name, std::vector<Envelope> envelopes,
                      const std::vector<std::string>& rules, IngestDone done) {
  ingest_events(bus_name, std::move(envelopes), &rules, std::move(done));
}

void Pipeline::ingest_events(std::string_view bus_name, std::vector<Envelope> envelopes,
                             const std::vector<std::string>* replay_rules, IngestDone done) {
  const size_t count = envelopes.size();
  if (backlog_full_.load(std::memory_order_relaxed)) {
    throttled_events_.add(static_cast<int64_t>(count));
    done(std::vector<Status>(
        count, resource_exhausted("the delivery backlog is at its bound "
                                  "(Store.MaxPendingDeliveries); retry once deliveries catch up")));
    return;
  }
  // Full already: refuse before spending any work on the call.
  const int64_t room = committer_.room_bytes();
  if (room <= 0) {
    throttled_events_.add(static_cast<int64_t>(count));
    done(std::vector<Status>(count, queue_full()));
    return;
  }
  const std::shared_ptr<const Snapshot> snapshot = snapshot_.load();
  const Snapshot::CompiledBus* bus = snapshot->find_bus(bus_name);
  const auto now = clock_.now();
  const int64_t now_ms = clock_.now_ms();
  const std::string ingestion_time = format_rfc3339_seconds(now);

  store::Batch batch;
  batch.jobs.reserve(count);
  std::vector<Status> statuses(count);  // ok until the commit says otherwise
  Tally tally{.ingested = bus != nullptr ? bus->ingested_events : nullptr,
              .unknown_bus = &unknown_bus_events_,
              .render_failures = &render_failures_,
              .throttled = &throttled_events_,
              .refused = &refused_events_,
              .matched = {}};
  int64_t bytes = 0;
  std::vector<uint32_t> matched;
  std::vector<uint32_t> archives_matched;
  std::vector<uint32_t> piece_matched;  // SplitBy: the rules one piece of an event matches
  std::vector<std::string> pieces;
  const std::string* last_event = nullptr;
  for (size_t i = 0; i < count; ++i) {
    const Envelope& envelope = envelopes[i];
    // Shared by the jobs it produces, which keep it for their dead letters.
    const auto event = std::make_shared<const std::string>(serialize_envelope(envelope));
    const std::string& event_json = *event;
    if (bus != nullptr) {
      // The caller validated the envelope with a different parser than the matcher's scanner;
      // should they disagree (an event nested deeper than the matcher reads, say), that event
      // alone is refused, as a value: the rest of the call goes on.
      if (Status status = bus->matcher->match(event_json, matched); !status.ok()) {
        statuses[i] = invalid_argument("the event cannot be matched: " + status.message());
        continue;
      }
    }
    if (bus != nullptr && replay_rules == nullptr) {
      const auto archive = [&](const std::string& name) {
        batch.events.push_back({envelope.id, std::string(bus_name), event_json, now_ms, name});
        bytes += store::entry_bytes(batch.events.back());
      };
      archives_matched.clear();
      if (bus->archive_matcher != nullptr) {
        if (Status status = bus->archive_matcher->match(event_json, archives_matched);
            !status.ok()) {
          statuses[i] = invalid_argument("the event cannot be matched: " + status.message());
          continue;
        }
      }
      for (const std::string& name : bus->archives_of_every_event) {
        archive(name);
      }
      for (uint32_t archive_index : archives_matched) {
        archive(bus->archive_names[archive_index]);
      }
    }
    if (bus == nullptr) {
      ++tally.unknown_bus_events;
      continue;
    }
    ++tally.ingested_events;
    for (uint32_t rule_index : matched) {
      const Snapshot::CompiledRule& rule = bus->rules[rule_index];
      if (replay_rules != nullptr && !replay_rules->empty() &&
          std::find(replay_rules->begin(), replay_rules->end(), rule.name) == replay_rules->end()) {
        continue;
      }
      tally.matched.push_back(rule.matched_events);
      const transform::RenderContext context{rule.name, rule.arn, ingestion_time};
      // One job of `target` for `source` (the event, or one piece of it).
      const auto add_job = [&](const Snapshot::CompiledTarget& target,
                               const std::shared_ptr<const std::string>& source) {
        std::string body;  // moved into the job: rendering is the only copy of the event
        std::string headers;
        Status rendered = target.transformer.render_to(*source, context, body);
        if (rendered.ok()) {
          rendered =
              target.http_parameters.render_to(*source, headers).with_context("HttpParameters");
        }
        if (rendered.ok()) {
          batch.jobs.push_back(
              {target.key, envelope.id, std::move(body), std::move(headers), now_ms, source});
          bytes += store::entry_bytes(batch.jobs.back()) +
                   store::shared_event_bytes(batch.jobs.back(), last_event);
        } else {
          ++tally.render_failure_count;
          batch.dead_letters.push_back({{target.key, envelope.id, *source, "", now_ms, source},
                                        {"TRANSFORM_ERROR", rendered.message(), ""}});
          bytes += store::entry_bytes(batch.dead_letters.back());
        }
      };
      for (const Snapshot::CompiledTarget& target : rule.targets) {
        if (!target.split_by) {
          add_job(target, event);
          continue;
        }
        // Each piece on its own must still match the rule: an event matches when any element
        // matches each field, and a piece holding another element need not.
        if (Status split = target.split_by->split(event_json, pieces); !split.ok()) {
          ++tally.render_failure_count;
          batch.dead_letters.push_back(
              {{target.key, envelope.id, event_json, "", now_ms, event},
               {"TRANSFORM_ERROR", "SplitBy " + target.split_by->path() + ": " + split.message(),
                ""}});
          bytes += store::entry_bytes(batch.dead_letters.back());
          continue;
        }
        for (std::string& piece : pieces) {
          if (!bus->matcher->match(piece, piece_matched).ok() ||
              std::find(piece_matched.begin(), piece_matched.end(), rule_index) ==
                  piece_matched.end()) {
            continue;
          }
          add_job(target, std::make_shared<const std::string>(std::move(piece)));
        }
      }
    }
    // Past the room left, the call cannot be admitted: stop rendering (memory stays bounded by
    // the room plus one body per ingesting thread) and refuse it whole.
    if (bytes > room) {
      refuse_too_large(bytes, count, done);
      return;
    }
  }

  if (batch.empty()) {  // nothing to make durable: accepted (or refused alone)
    answer(ok_status(), tally, statuses);
    done(std::move(statuses));
    return;
  }
  committer_.submit(std::move(batch), [done = std::move(done), statuses = std::move(statuses),
                                       tally = std::move(tally)](const Status& status) mutable {
    answer(status, tally, statuses);
    done(std::move(statuses));
  });
}

void Pipeline::refuse_too_large(int64_t bytes, size_t count, const IngestDone& done) {
  if (bytes > committer_.max_queued_bytes()) {
    // It would never fit: a client error, not a reason to retry.
    refused_events_.add(static_cast<int64_t>(count));
    done(std::vector<Status>(
        count, invalid_argument(fmt::format(
                   "the deliveries of this request take more than {} bytes, the most the ingest "
                   "queue holds; send fewer or smaller entries per request",
                   committer_.max_queued_bytes()))));
    return;
  }
  throttled_events_.add(static_cast<int64_t>(count));
  done(std::vector<Status>(count, queue_full()));
}

}  // namespace hikyaku::bus
