#include "bus/pipeline.h"

#include <fmt/format.h>

#include "core/arn.h"
#include "core/envelope.h"
#include "core/time.h"

namespace hikyaku::bus {

std::string target_key(std::string_view bus, std::string_view rule, std::string_view target_id) {
  return fmt::format("{}/{}/{}", bus, rule, target_id);
}

Result<std::shared_ptr<const Snapshot>> Snapshot::build(
    std::shared_ptr<const config::Config> config, MetricsRegistry& metrics) {
  std::shared_ptr<Snapshot> snapshot(new Snapshot());
  snapshot->config_ = config;
  const std::string region = config->server.region.value_or("us-east-1");
  for (const std::string& bus_name : config->event_bus_names()) {
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
        Result<transform::Transformer> transformer =
            transform::Transformer::compile(config::target_input(target));
        if (!transformer.has_value()) {
          return transformer.error().with_context(
              fmt::format("rule {} target {}", rule.name, target.id));
        }
        compiled.targets.push_back(
            {target_key(bus_name, rule.name, target.id), std::move(transformer).value()});
      }
      specs.push_back({static_cast<uint32_t>(bus.rules.size()), rule.event_pattern});
      bus.rules.push_back(std::move(compiled));
    }
    Result<std::unique_ptr<const pattern::Matcher>> matcher = pattern::Matcher::compile(specs);
    if (!matcher.has_value()) {
      return matcher.error().with_context(fmt::format("bus {}", bus_name));
    }
    bus.matcher = std::move(matcher).value();
    snapshot->buses_.emplace(bus_name, std::move(bus));
  }
  return std::shared_ptr<const Snapshot>(std::move(snapshot));
}

const Snapshot::CompiledBus* Snapshot::find_bus(std::string_view name) const {
  auto found = buses_.find(name);
  return found == buses_.end() ? nullptr : &found->second;
}

Pipeline::Pipeline(store::GroupCommitter& committer, MetricsRegistry& metrics, const Clock& clock,
                   std::shared_ptr<const Snapshot> snapshot, Options options)
    : committer_(committer),
      clock_(clock),
      options_(options),
      snapshot_(std::move(snapshot)),
      render_failures_(metrics.counter(
          "hikyaku_render_failures_total",
          "Deliveries whose body could not be rendered; recorded in the dead-letter queue")),
      unknown_bus_events_(
          metrics.counter("hikyaku_unknown_bus_events_total",
                          "Events accepted for a bus without rules (dropped, as AWS does)")) {}

std::shared_ptr<const config::Config> Pipeline::config() const {
  return snapshot_.load()->config();
}

void Pipeline::publish(std::shared_ptr<const Snapshot> snapshot) {
  snapshot_.store(std::move(snapshot));
}

void Pipeline::ingest(std::string_view bus_name, std::vector<Envelope> envelopes, IngestDone done) {
  const std::shared_ptr<const Snapshot> snapshot = snapshot_.load();
  const Snapshot::CompiledBus* bus = snapshot->find_bus(bus_name);
  const auto now = clock_.now();
  const int64_t now_ms = clock_.now_ms();
  const std::string ingestion_time = format_rfc3339_seconds(now);

  store::Batch batch;
  batch.jobs.reserve(envelopes.size());
  std::vector<uint32_t> matched;
  for (const Envelope& envelope : envelopes) {
    const std::string event_json = serialize_envelope(envelope);
    if (options_.archive_events) {
      batch.events.push_back({envelope.id, std::string(bus_name), event_json, now_ms});
    }
    if (bus == nullptr) {
      unknown_bus_events_.add();
      continue;
    }
    bus->ingested_events->add();
    // The caller built or validated the envelope, but with a different parser than the
    // matcher's scanner; should they ever disagree, the client's event is refused (a value,
    // retryable) rather than crashing the process on input a client controls.
    if (Status status = bus->matcher->match(event_json, matched); !status.ok()) {
      done(std::vector<Status>(envelopes.size(),
                               internal_error("matching failed: " + status.message())));
      return;
    }
    for (uint32_t rule_index : matched) {
      const Snapshot::CompiledRule& rule = bus->rules[rule_index];
      rule.matched_events->add();
      const transform::RenderContext context{rule.name, rule.arn, ingestion_time};
      for (const Snapshot::CompiledTarget& target : rule.targets) {
        std::string body;  // moved into the job: rendering is the only copy of the event
        Status rendered = target.transformer.render_to(event_json, context, body);
        if (rendered.ok()) {
          batch.jobs.push_back({target.key, envelope.id, std::move(body), "", now_ms});
        } else {
          render_failures_.add();
          batch.dead_letters.push_back({{target.key, envelope.id, event_json, "", now_ms},
                                        {"TRANSFORM_ERROR", rendered.message(), ""}});
        }
      }
    }
  }

  if (batch.empty()) {
    done(std::vector<Status>(envelopes.size()));  // nothing to make durable: accepted
    return;
  }
  const size_t count = envelopes.size();
  committer_.submit(std::move(batch), [done = std::move(done), count](const Status& status) {
    done(std::vector<Status>(count, status));
  });
}

}  // namespace hikyaku::bus
