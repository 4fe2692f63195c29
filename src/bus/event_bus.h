#pragma once
// The ingest seam between the HTTP server (and any other producer: the CLI's file/stdin ingest)
// and the pipeline: envelopes in -> match every rule of the bus -> render each matched target's
// body -> one durable store batch -> answer.
//
// The server validates requests, builds complete envelopes (id, time, account, region assigned)
// and calls ingest(); it never sees patterns, transformers or the store.
//
// Thread safety: every method is thread-safe.

#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "core/envelope.h"
#include "core/status.h"

namespace hikyaku::bus {

class EventBus {
 public:
  virtual ~EventBus() = default;

  // Called exactly once with one Status per envelope (same order): ok means every delivery the
  // event produced is committed to the store (the event is accepted: delivered at least once or
  // dead-lettered, never silently lost). kUnavailable / kResourceExhausted mean nothing of that
  // event was stored and the producer should retry. Runs on a bus-internal thread: keep it short
  // (post to your own executor).
  using IngestDone = std::function<void(std::vector<Status>)>;

  // Ingests `envelopes` on the bus named `bus_name`. An unknown bus is not an error (AWS accepts
  // and drops such entries): its events match nothing and are accepted.
  virtual void ingest(std::string_view bus_name, std::vector<Envelope> envelopes,
                      IngestDone done) = 0;

  // The config snapshot in force (for ListRules, DescribeRule, ListTargetsByRule,
  // ListEventBuses). Immutable; a reload publishes a new one.
  virtual std::shared_ptr<const config::Config> config() const = 0;
};

}  // namespace hikyaku::bus
