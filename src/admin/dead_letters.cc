// The dead-letter routes: list, show, redrive (rendered again, or as recorded), purge.
#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "admin/internal/handlers.h"
#include "core/json_writer.h"

namespace hikyaku::admin::internal {
namespace {

// Letters per transaction of a redrive or purge, and per page of a listing when none is asked.
constexpr int kChunk = 250;
constexpr int kDefaultPage = 100;
constexpr int kMaxPage = 1000;
// How many failed letters a redrive answer lists one by one (the count is always whole).
constexpr size_t kMaxListedFailures = 100;

struct TargetKey {
  std::string_view bus;
  std::string_view rule;
  std::string_view target;
};

// "<bus>/<rule>/<target id>" (a dead-letter destination's key ends in "#dead-letters").
TargetKey split_key(std::string_view key) {
  const size_t first = key.find('/');
  const size_t second = first == std::string_view::npos ? first : key.find('/', first + 1);
  if (second == std::string_view::npos) {
    return {"", "", key};
  }
  return {key.substr(0, first), key.substr(first + 1, second - first - 1), key.substr(second + 1)};
}

// JSON text stored by hikyaku itself goes out as JSON; anything that does not parse (a row from
// a damaged database) goes out as a string rather than breaking the answer.
void write_json_or_string(JsonWriter& writer, const std::string& text) {
  simdjson::dom::parser parser;
  simdjson::dom::element ignored;
  if (!text.empty() && parser.parse(text).get(ignored) == simdjson::SUCCESS) {
    writer.raw(text);
  } else {
    writer.string(text);
  }
}

void write_letter(JsonWriter& writer, const store::DeadLetter& letter, bool whole) {
  const TargetKey key = split_key(letter.job.target);
  writer.begin_object();
  writer.key("Id");
  writer.number(letter.id);
  writer.key("EventBusName");
  writer.string(key.bus);
  writer.key("Rule");
  writer.string(key.rule);
  writer.key("Target");
  writer.string(key.target);
  writer.key("TargetKey");
  writer.string(letter.job.target);
  writer.key("EventId");
  writer.string(letter.job.event_id);
  writer.key("ErrorCode");
  writer.string(letter.reason.error_code);
  writer.key("ErrorMessage");
  writer.string(letter.reason.error_message);
  writer.key("ExhaustedRetryCondition");
  if (letter.reason.exhausted_retry_condition.empty()) {
    writer.null();
  } else {
    writer.string(letter.reason.exhausted_retry_condition);
  }
  writer.key("Attempts");
  writer.number(static_cast<int64_t>(letter.job.attempts));
  writer.key("HttpStatus");
  if (letter.reason.http_status == 0) {
    writer.null();
  } else {
    writer.number(static_cast<int64_t>(letter.reason.http_status));
  }
  writer.key("IngestedAt");
  writer.string(time_text(letter.job.ingested_at_ms));
  writer.key("DeadLetteredAt");
  writer.string(time_text(letter.dead_lettered_at_ms));
  writer.key("ResponseExcerpt");
  writer.string(letter.reason.response_excerpt);
  if (whole) {
    writer.key("Body");
    writer.string(letter.job.body);
    writer.key("Headers");
    write_json_or_string(writer, letter.job.headers.empty() ? "{}" : letter.job.headers);
    writer.key("Request");
    if (letter.reason.request.empty()) {
      writer.null();
    } else {
      write_json_or_string(writer, letter.reason.request);
    }
    writer.key("Event");
    if (letter.event) {
      write_json_or_string(writer, *letter.event);
    } else {
      writer.null();
    }
  }
  writer.end_object();
}

// The ids a selection names: as given, or every letter passing its filter (oldest first).
Result<std::vector<int64_t>> selected_ids(const Sources& sources, const Selection& selection) {
  if (!selection.all) {
    return selection.ids;
  }
  std::vector<int64_t> ids;
  int64_t after = 0;
  for (;;) {
    HK_ASSIGN_OR_RETURN(std::vector<store::DeadLetter> page,
                        sources.store->dlq_find(selection.filter, kMaxPage, after, true));
    for (const store::DeadLetter& letter : page) {
      ids.push_back(letter.id);
    }
    if (page.size() < static_cast<size_t>(kMaxPage)) {
      return ids;
    }
    after = page.back().id;
  }
}

// A dead letter's job once more: rendered again from its original event with the targets in
// force, or its recorded body and headers. The error says why it cannot be, for the operator.
Result<store::NewJob> job_again(const bus::Snapshot& snapshot, store::DeadLetter& dead,
                                bool as_recorded) {
  store::NewJob job{.target = std::move(dead.job.target),
                    .event_id = std::move(dead.job.event_id),
                    .body = std::move(dead.job.body),
                    .headers = std::move(dead.job.headers),
                    .ingested_at_ms = dead.job.ingested_at_ms};
  if (dead.event) {
    job.event = std::make_shared<const std::string>(std::move(*dead.event));
  }
  if (as_recorded) {
    if (dead.reason.error_code == store::kBodyUnreadableError) {
      return failed_precondition("its body was lost from the store: nothing to resend as recorded");
    }
    return job;
  }
  if (!job.event) {
    return failed_precondition("its original event was not kept; redrive it AsRecorded");
  }
  Result<bus::Snapshot::Rendered> again =
      snapshot.render_again(job.target, *job.event, job.ingested_at_ms);
  if (!again.has_value()) {
    return failed_precondition(again.error().code() == StatusCode::kNotFound
                                   ? again.error().message() +
                                         "; redrive it AsRecorded to resend its body"
                                   : "it still does not render: " + again.error().message());
  }
  job.body = std::move(again->body);
  job.headers = std::move(again->headers);
  return job;
}

struct Failure {
  int64_t id = 0;
  std::string reason;
};

// How long a redrive waits for room in a committer whose queue live ingest keeps full before it
// gives up and says so.
constexpr auto kCommitterFullFor = std::chrono::seconds(30);

// One chunk of a redrive: its letters read in one query, their jobs built, and all appended as
// one batch that also removes the letters.
struct ChunkOutcome {
  int64_t redriven = 0;
  std::vector<Failure> failures;  // letters left dead, with why
};

Result<ChunkOutcome> redrive_chunk(const Sources& sources, const bus::Snapshot& snapshot,
                                   const std::vector<int64_t>& chunk, bool as_recorded) {
  HK_ASSIGN_OR_RETURN(std::vector<store::DeadLetter> letters, sources.store->dlq_get_many(chunk));
  ChunkOutcome outcome;
  std::unordered_set<int64_t> found;
  store::Batch batch;
  for (store::DeadLetter& dead : letters) {
    found.insert(dead.id);
    Result<store::NewJob> job = job_again(snapshot, dead, as_recorded);
    if (!job.has_value()) {
      outcome.failures.push_back({dead.id, job.error().message()});
      continue;
    }
    batch.jobs.push_back(std::move(*job));
    batch.redriven.push_back(dead.id);
  }
  for (const int64_t id : chunk) {
    if (!found.contains(id)) {
      outcome.failures.push_back({id, "no such dead letter"});
    }
  }
  outcome.redriven = static_cast<int64_t>(batch.redriven.size());
  if (batch.redriven.empty()) {
    return outcome;
  }
  if (sources.committer == nullptr) {
    HK_RETURN_IF_ERROR(sources.store->append(batch));
    return outcome;
  }
  // Ingest comes first: the chunk waits while the committer's queue has no room for it.
  const int64_t bytes = store::batch_bytes(batch);
  const auto give_up_at = std::chrono::steady_clock::now() + kCommitterFullFor;
  auto backoff = std::chrono::milliseconds(2);
  while (sources.committer->room_bytes() < bytes) {
    if (std::chrono::steady_clock::now() >= give_up_at) {
      return resource_exhausted("the store's commit queue stayed full; redrive again later");
    }
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(100));
  }
  std::promise<Status> durable;
  std::future<Status> answer = durable.get_future();
  sources.committer->submit(std::move(batch),
                            [&durable](const Status& status) { durable.set_value(status); });
  HK_RETURN_IF_ERROR(answer.get());
  return outcome;
}

// A redrive's speed. Each redriven letter costs about what an ingested entry does (a render, a
// commit, a delivery), so a redrive at full speed on a busy server takes its share out of live
// ingest. While others submit to the committer beside the redrive (ingest, replays), letters
// move at most kBusyLettersPerSecond; on an idle server, or on a stopped one's store, as fast
// as they can. (SQS's dead-letter redrive has the same kind of velocity.)
class RedrivePace {
 public:
  static constexpr double kBusyLettersPerSecond = 1000;

  explicit RedrivePace(const store::GroupCommitter* committer) : committer_(committer) {}

  void before_chunk() {
    if (committer_ == nullptr) {
      return;
    }
    if (busy_) {
      std::this_thread::sleep_until(next_chunk_at_);
    }
    submissions_before_ = committer_->submissions();
    chunk_started_ = std::chrono::steady_clock::now();
  }

  void after_chunk(int64_t letters) {
    if (committer_ == nullptr) {
      return;
    }
    // The chunk's own batch is one submission; more means someone else submitted meanwhile.
    busy_ = committer_->submissions() - submissions_before_ > 1;
    next_chunk_at_ =
        chunk_started_ +
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
            std::chrono::duration<double>(static_cast<double>(letters) / kBusyLettersPerSecond));
  }

 private:
  const store::GroupCommitter* committer_;
  bool busy_ = false;
  int64_t submissions_before_ = 0;
  std::chrono::steady_clock::time_point chunk_started_;
  std::chrono::steady_clock::time_point next_chunk_at_;
};

}  // namespace

Response list_dead_letters(const Sources& sources, const Query& query) {
  Result<store::DeadLetterFilter> filter = filter_from_query(query);
  if (!filter.has_value()) {
    return status_response(filter.status());
  }
  Result<int64_t> limit = query.integer("limit", 1, kMaxPage, kDefaultPage);
  Result<int64_t> after = query.integer("next_token", 0, INT64_MAX, 0);
  if (!limit.has_value() || !after.has_value()) {
    return status_response(!limit.has_value() ? limit.status() : after.status());
  }
  Result<std::vector<store::DeadLetter>> page =
      sources.store->dlq_find(*filter, static_cast<int>(*limit), *after, true);
  if (!page.has_value()) {
    return status_response(page.status());
  }
  JsonWriter writer;
  writer.begin_object();
  writer.key("DeadLetters");
  writer.begin_array();
  for (const store::DeadLetter& letter : *page) {
    write_letter(writer, letter, false);
  }
  writer.end_array();
  if (page->size() == static_cast<size_t>(*limit)) {
    writer.key("NextToken");
    writer.string(std::to_string(page->back().id));
  }
  writer.end_object();
  return {200, writer.take()};
}

Response show_dead_letter(const Sources& sources, int64_t id) {
  Result<std::optional<store::DeadLetter>> letter = sources.store->dlq_get(id);
  if (!letter.has_value()) {
    return status_response(letter.status());
  }
  if (!letter->has_value()) {
    return error_response(404, "NotFound", fmt::format("no dead letter {}", id));
  }
  JsonWriter writer;
  write_letter(writer, **letter, true);
  return {200, writer.take()};
}

Response redrive_dead_letters(const Sources& sources, std::string_view body) {
  Result<Selection> selection = parse_selection(body, true);
  if (!selection.has_value()) {
    return status_response(selection.status());
  }
  Result<std::vector<int64_t>> ids = selected_ids(sources, *selection);
  if (!ids.has_value()) {
    return status_response(ids.status());
  }
  const std::shared_ptr<const bus::Snapshot> snapshot = sources.snapshot();
  int64_t redriven = 0;
  std::vector<Failure> failures;
  int64_t failed = 0;
  const auto fail = [&](int64_t id, std::string reason) {
    ++failed;
    if (failures.size() < kMaxListedFailures) {
      failures.push_back({id, std::move(reason)});
    }
  };
  RedrivePace pace(sources.committer);
  for (size_t start = 0; start < ids->size(); start += kChunk) {
    const std::vector<int64_t> chunk(
        ids->begin() + static_cast<ptrdiff_t>(start),
        ids->begin() + static_cast<ptrdiff_t>(std::min(ids->size(), start + kChunk)));
    pace.before_chunk();
    Result<ChunkOutcome> outcome = redrive_chunk(sources, *snapshot, chunk, selection->as_recorded);
    if (!outcome.has_value()) {
      return status_response(outcome.status());
    }
    redriven += outcome->redriven;
    pace.after_chunk(outcome->redriven);
    for (Failure& failure : outcome->failures) {
      fail(failure.id, std::move(failure.reason));
    }
  }
  JsonWriter writer;
  writer.begin_object();
  writer.key("Redriven");
  writer.number(redriven);
  writer.key("FailedCount");
  writer.number(failed);
  writer.key("Failed");
  writer.begin_array();
  for (const Failure& failure : failures) {
    writer.begin_object();
    writer.key("Id");
    writer.number(failure.id);
    writer.key("Reason");
    writer.string(failure.reason);
    writer.end_object();
  }
  writer.end_array();
  writer.end_object();
  return {200, writer.take()};
}

Response purge_dead_letters(const Sources& sources, std::string_view body) {
  Result<Selection> selection = parse_selection(body, false);
  if (!selection.has_value()) {
    return status_response(selection.status());
  }
  Result<std::vector<int64_t>> ids = selected_ids(sources, *selection);
  if (!ids.has_value()) {
    return status_response(ids.status());
  }
  int64_t purged = 0;
  for (size_t start = 0; start < ids->size(); start += kChunk) {
    const std::vector<int64_t> chunk(
        ids->begin() + static_cast<ptrdiff_t>(start),
        ids->begin() + static_cast<ptrdiff_t>(std::min(ids->size(), start + kChunk)));
    Result<int64_t> removed = sources.store->dlq_purge(chunk);
    if (!removed.has_value()) {
      return status_response(removed.status());
    }
    purged += *removed;
  }
  return {200, fmt::format(R"({{"Purged":{}}})", purged)};
}

}  // namespace hikyaku::admin::internal
