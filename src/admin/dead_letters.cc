// The dead-letter routes: list, show, redrive (rendered again, or as recorded), purge.
#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <string>
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

struct Failure {
  int64_t id = 0;
  std::string reason;
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
  for (size_t start = 0; start < ids->size(); start += kChunk) {
    const std::vector<int64_t> chunk(
        ids->begin() + static_cast<ptrdiff_t>(start),
        ids->begin() + static_cast<ptrdiff_t>(std::min(ids->size(), start + kChunk)));
    const int64_t now_ms = sources.clock->now_ms();
    if (selection->as_recorded) {
      Result<int64_t> moved = sources.store->dlq_redrive(chunk, now_ms);
      if (!moved.has_value()) {
        return status_response(moved.status());
      }
      redriven += *moved;
      continue;
    }
    std::vector<store::RenderedRedrive> rendered;
    for (const int64_t id : chunk) {
      Result<std::optional<store::DeadLetter>> letter = sources.store->dlq_get(id);
      if (!letter.has_value()) {
        return status_response(letter.status());
      }
      if (!letter->has_value()) {
        fail(id, "no such dead letter");
        continue;
      }
      const store::DeadLetter& dead = **letter;
      if (!dead.event) {
        fail(id, "its original event was not kept; redrive it AsRecorded");
        continue;
      }
      Result<bus::Snapshot::Rendered> again =
          snapshot->render_again(dead.job.target, *dead.event, dead.job.ingested_at_ms);
      if (!again.has_value()) {
        fail(id, again.error().code() == StatusCode::kNotFound
                     ? again.error().message() + "; redrive it AsRecorded to resend its body"
                     : "it still does not render: " + again.error().message());
        continue;
      }
      rendered.push_back({id, std::move(again->body), std::move(again->headers)});
    }
    Result<int64_t> moved = sources.store->dlq_redrive_rendered(rendered, now_ms);
    if (!moved.has_value()) {
      return status_response(moved.status());
    }
    redriven += *moved;
  }
  if (redriven > 0 && sources.jobs_added) {
    sources.jobs_added();
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
