#pragma once
// hikyaku::admin — the operators' API: dead letters (list, show, redrive, purge), the delivery
// log, destinations' queues and pacing, the Backlog ticket ledger, the rules with their counts,
// and a rule tester. docs/operations.md is the reference for every route and field.
//
// It is served over HTTP by the server (/admin/v1/..., authenticated there) and called in
// process by the CLI on the store of a stopped server, so both give the same JSON:
//
//   admin::AdminApi api({.store = &store, .clock = &clock, .snapshot = [&] { return snapshot; }});
//   admin::Response answer = api.handle({"GET", "/dead-letters", "rule=orders&limit=50", ""});
//
// Routes (paths after /admin/v1; JSON in and out; errors {"Error": {"Code", "Message"}} with
// 400 InvalidParameter, 404 NotFound, 405 MethodNotAllowed, 503 Unavailable):
//   GET  /dead-letters        ?rule=&target=&error_code=&since=&until=&limit=&next_token=
//   GET  /dead-letters/{Id}   the letter whole: its event, body, recorded request, answer
//   POST /dead-letters/redrive  {"Ids": [...]} | {"All": true, filter...}, "AsRecorded": bool
//   POST /dead-letters/purge    {"Ids": [...]} | {"All": true, filter...}
//   GET  /deliveries          ?limit=&next_token=   the delivery log, newest first
//   GET  /destinations        queue depth, oldest job, pacing and pauses per destination
//   GET  /tickets             ?limit=&next_token=   the Backlog ticket ledger
//   GET  /rules               the rules in force with their match and delivery counts
//   GET  /counts              jobs pending and leased, dead letters, archived events (exact)
//   POST /test-event          ?bus=   which rules an event matches, why the others do not, and
//                             the bodies the matched targets would receive
// Redrive renders each letter again from its original event with the targets in force (a
// template fixed since applies); AsRecorded resends the stored body. A letter that cannot be
// rendered again (no event kept, target gone, still failing) stays, and the answer says why.
//
// Secrets: every answer passes the redactor of the config's secret values (Sources::redactor)
// and the name rules of core/redact.h; dead letters hold no secret to begin with (their recorded
// requests are masked when recorded).
//
// Cost: a page of dead letters is one indexed query reading no bodies. A redrive reads a few
// hundred letters at a time in one query and appends them as one batch (their new jobs, the
// letters removed) through the server's group committer, like ingest; a purge removes as many
// per short transaction. Live ingest keeps its turns at the store.
//
// Thread safety: handle() is thread-safe; handle_async() runs calls one at a time on the API's
// own thread ("hk-admin"), off the server's io threads.

#include <functional>
#include <memory>
#include <string>

#include "bus/pipeline.h"
#include "core/clock.h"
#include "core/metrics.h"
#include "core/redact.h"
#include "delivery/endpoint.h"
#include "store/group_commit.h"
#include "store/store.h"

namespace hikyaku::admin {

struct Request {
  std::string method;
  std::string path;   // after /admin/v1, e.g. "/dead-letters/42"
  std::string query;  // undecoded, without '?'
  std::string body;
};

struct Response {
  unsigned status = 200;
  std::string body;  // JSON
};

// What the API reads and changes. store, clock and snapshot are required.
struct Sources {
  store::Store* store = nullptr;
  const Clock* clock = nullptr;
  // The compiled config in force (redrive and the rule tester render with it).
  std::function<std::shared_ptr<const bus::Snapshot>()> snapshot;
  // The redactor of every secret value of the configs in force since start; empty = the name
  // rules only.
  std::function<std::shared_ptr<const Redactor>()> redactor;
  // A running server's: its metrics (match and delivery counts, destination gauges) and
  // delivery endpoints (destinations). Null / empty on a stopped server's store: counts are
  // null and destinations come from the config alone.
  const MetricsRegistry* metrics = nullptr;
  std::function<std::shared_ptr<const delivery::Endpoints>()> endpoints;
  // A running server's group committer: a redrive's chunks ride along with ingest's commits
  // (no transaction or disk sync of their own) and their jobs go straight to the dispatcher.
  // Null on a stopped server's store: chunks are appended to the store directly.
  store::GroupCommitter* committer = nullptr;
};

class AdminApi {
 public:
  explicit AdminApi(Sources sources);
  ~AdminApi();  // answers calls still queued with 503, then joins the thread
  AdminApi(const AdminApi&) = delete;
  AdminApi& operator=(const AdminApi&) = delete;

  Response handle(const Request& request);
  // handle() on the API's thread; `done` is called there (or at once with 503 when kMaxQueued
  // calls already wait).
  static constexpr size_t kMaxQueued = 64;
  void handle_async(Request request, std::function<void(Response)> done);

 private:
  struct Worker;
  Sources sources_;
  std::unique_ptr<Worker> worker_;
};

}  // namespace hikyaku::admin
