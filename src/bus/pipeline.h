#pragma once
// The ingest pipeline: the EventBus every producer calls.
//
//   envelopes ─► serialize once ─► the bus's Matcher (all rules, one pass) ─► for each matched
//   enabled rule, each target's Transformer ─► one store::Batch ─► GroupCommitter ─► done(statuses)
//
// Matching and rendering run inline on the caller's thread (microseconds per event); only the
// commit is asynchronous. A target whose body cannot be rendered for an event (AWS silently drops
// such deliveries) gets a dead letter with the reason instead, in the same batch.
//
// A target's HttpParameters values that are JSONPaths (`$.detail.x`) are resolved here too, since
// only ingest has the event: the job's `headers` field carries them as one flat JSON object,
// {"path:<index>": "...", "header:<name>": "...", "query:<name>": "..."}, holding only the paths
// that matched (delivery/request.h reads it). Literal values are never stored: one may be a
// secret.
//
// Per-envelope problems stay with their envelope: an event the matcher cannot read (e.g. nested
// deeper than core/envelope.h's kMaxEventNestingDepth, which ingest should have refused) is
// answered kInvalidArgument alone, with nothing of it stored, and the call's other events go on.
//
// Memory: a call is admitted whole or not at all by the GroupCommitter's byte bound
// (GroupCommitter::Options::max_queued_bytes). A call finding no room is refused before any work;
// a call whose rendered deliveries outgrow the room left stops rendering and is refused; both
// answer kResourceExhausted for every envelope (nothing stored; the producer retries). A call
// whose deliveries exceed the whole bound can never fit and is answered kInvalidArgument. While a
// call renders, its bodies are not yet counted: the slack is one call (at most the room left,
// plus one event's deliveries) per thread inside ingest().
//
// A Backlog target (config.h's BacklogTarget) gets one job per finding, as if it had
// `SplitBy: $.detail.findings` and no input: each job's body is the whole one-finding event, each
// piece matched against the rule on its own; an event without findings is one job as it is. Its
// InputTransformer is left to delivery, which applies it per finding.
//
// Metrics count only what was stored: hikyaku_ingested_events_total,
// hikyaku_matched_events_total and hikyaku_render_failures_total once the commit succeeded;
// hikyaku_throttled_events_total and hikyaku_refused_events_total for refusals;
// hikyaku_ingest_queued_bytes is the committer's queued bytes.
//
// Config reload: build a new Snapshot off the hot path and publish() it; calls already inside
// ingest() finish with the snapshot they loaded.
//
// Thread safety: ingest(), config() and publish() are thread-safe.

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bus/event_bus.h"
#include "config/config.h"
#include "core/clock.h"
#include "core/metrics.h"
#include "pattern/pattern.h"
#include "store/group_commit.h"
#include "transform/event_splitter.h"
#include "transform/transformer.h"

namespace hikyaku::bus {

// "<bus>/<rule>/<target id>": how a delivery job names its target (names cannot contain '/').
std::string target_key(std::string_view bus, std::string_view rule, std::string_view target_id);

// A config compiled for ingest: per bus one Matcher, per enabled rule its compiled targets.
// Immutable.
class Snapshot {
 public:
  // Errors: kInvalidArgument naming the rule/target when a pattern or target input does not
  // compile (a validated config always compiles).
  static Result<std::shared_ptr<const Snapshot>> build(std::shared_ptr<const config::Config> config,
                                                       MetricsRegistry& metrics);

  const std::shared_ptr<const config::Config>& config() const { return config_; }

  struct CompiledTarget {
    std::string key;
    transform::Transformer transformer;
    // The target's HttpParameters values that are JSONPaths, resolved per event into the job's
    // `headers` (the shape is delivery/request.h's); literals stay in the delivery endpoint.
    transform::PathValues http_parameters;
    // SplitBy (always $.detail.findings for Backlog): one job per element of the array, each
    // element alone matched and rendered.
    std::optional<transform::EventSplitter> split_by;
  };
  struct CompiledRule {
    std::string name;
    std::string arn;
    std::vector<CompiledTarget> targets;
    Counter* matched_events = nullptr;
  };
  struct CompiledBus {
    std::unique_ptr<const pattern::Matcher> matcher;
    std::vector<CompiledRule> rules;  // indexed by the matcher's rule ids
    Counter* ingested_events = nullptr;
    // The bus's archives with an EventPattern, all in one matcher (ids index `archive_names`),
    // and those that keep every event of the bus.
    std::unique_ptr<const pattern::Matcher> archive_matcher;
    std::vector<std::string> archive_names;
    std::vector<std::string> archives_of_every_event;
  };

  // nullptr for a bus no rule or archive uses.
  const CompiledBus* find_bus(std::string_view name) const;

  // A delivery job's body and headers rendered again from its event (the one-element event of a
  // split target) with the target `target_key` names in this snapshot, as ingest renders them:
  // an operator redriving a dead letter after fixing its target's template. Errors:
  // kNotFound when the key names no target of an enabled rule; kInvalidArgument when the event
  // does not render (the transformer's message).
  struct Rendered {
    std::string body;
    std::string headers;
  };
  Result<Rendered> render_again(std::string_view target_key, std::string_view event_json,
                                int64_t ingested_at_ms) const;
  // What ingest would make of `event_json` for that target: one body, or for a split target one
  // per element whose one-element event still matches the rule (none when none does). For the
  // rule tester; errors as render_again.
  Result<std::vector<Rendered>> render_for_test(std::string_view target_key,
                                                std::string_view event_json,
                                                int64_t ingested_at_ms) const;

 private:
  Snapshot() = default;
  std::shared_ptr<const config::Config> config_;
  std::map<std::string, CompiledBus, std::less<>> buses_;
};

// Archiving: an ingested event goes, in the same batch as its deliveries, into every archive of
// its bus whose pattern it matches (config.h's Archive; store::ArchivedEvent). Replayed events
// (replay()) are never archived again.
class Pipeline final : public EventBus {
 public:
  Pipeline(store::GroupCommitter& committer, MetricsRegistry& metrics, const Clock& clock,
           std::shared_ptr<const Snapshot> snapshot);

  void ingest(std::string_view bus_name, std::vector<Envelope> envelopes, IngestDone done) override;
  // ingest() for a replay's events (which carry their replay_name): matched only against the
  // enabled rules of the bus named in `rules` (every rule of the bus when empty), and not
  // archived. Answers as ingest() does.
  void replay(std::string_view bus_name, std::vector<Envelope> envelopes,
              const std::vector<std::string>& rules, IngestDone done);
  std::shared_ptr<const config::Config> config() const override;

  // Backpressure from delivery (serve sets it from the store's counts against
  // Store.MaxPendingDeliveries): while the backlog is full, every call is refused
  // kResourceExhausted before any work, as when the commit queue has no room.
  void set_delivery_backlog_full(bool full) {
    backlog_full_.store(full, std::memory_order_relaxed);
  }

  void publish(std::shared_ptr<const Snapshot> snapshot);
  std::shared_ptr<const Snapshot> snapshot() const { return snapshot_.load(); }

 private:
  // Both ingest() and replay(); `replay_rules` is null for live events.
  void ingest_events(std::string_view bus_name, std::vector<Envelope> envelopes,
                     const std::vector<std::string>* replay_rules, IngestDone done);

  store::GroupCommitter& committer_;
  const Clock& clock_;
  // Answers a call whose deliveries (`bytes`) outgrew the room left in the commit queue.
  void refuse_too_large(int64_t bytes, size_t count, const IngestDone& done);

  std::atomic<std::shared_ptr<const Snapshot>> snapshot_;
  std::atomic<bool> backlog_full_{false};
  Counter& render_failures_;
  Counter& unknown_bus_events_;
  Counter& throttled_events_;
  Counter& refused_events_;
};

}  // namespace hikyaku::bus
