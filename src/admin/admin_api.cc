// Routing, the worker thread, and the readers every route shares.
#include "admin/admin_api.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <charconv>
#include <deque>
#include <thread>
#include <utility>

#include "admin/internal/handlers.h"
#include "core/check.h"
#include "core/json_writer.h"
#include "core/mutex.h"
#include "core/thread.h"
#include "core/time.h"
#include "core/url_encoding.h"

namespace hikyaku::admin {
namespace internal {

Result<Query> Query::parse(std::string_view query) {
  Query parsed;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) {
      continue;
    }
    const size_t equals = pair.find('=');
    std::string name = form_decode(pair.substr(0, equals));
    std::string value =
        equals == std::string_view::npos ? std::string() : form_decode(pair.substr(equals + 1));
    parsed.values_[std::move(name)] = std::move(value);
  }
  return parsed;
}

std::optional<std::string> Query::get(std::string_view name) const {
  const auto found = values_.find(name);
  return found == values_.end() ? std::nullopt : std::optional<std::string>(found->second);
}

Result<int64_t> Query::integer(std::string_view name, int64_t min, int64_t max,
                               int64_t fallback) const {
  const std::optional<std::string> text = get(name);
  if (!text) {
    return fallback;
  }
  int64_t value = 0;
  const auto [end, error] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (error != std::errc() || end != text->data() + text->size() || value < min || value > max) {
    return invalid_argument(fmt::format("{} must be an integer from {} to {}, got {}", name, min,
                                        max, json_quote(text->substr(0, 64))));
  }
  return value;
}

Result<int64_t> parse_time(std::string_view what, std::string_view text) {
  if (std::optional<int64_t> seconds = parse_rfc3339(text)) {
    return *seconds * 1000;  // to the second: a fraction is dropped
  }
  int64_t seconds = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), seconds);
  if (error == std::errc() && end == text.data() + text.size() && seconds > 0 &&
      seconds < int64_t{253'402'300'800}) {
    return seconds * 1000;
  }
  return invalid_argument(
      fmt::format("{} must be an RFC 3339 time (2026-12-04T01:02:03Z) or epoch seconds, got {}",
                  what, json_quote(text.substr(0, 64))));
}

Result<store::DeadLetterFilter> filter_from_query(const Query& query) {
  store::DeadLetterFilter filter;
  filter.rule = query.get("rule").value_or("");
  filter.target = query.get("target").value_or("");
  filter.error_code = query.get("error_code").value_or("");
  if (std::optional<std::string> since = query.get("since")) {
    HK_ASSIGN_OR_RETURN(filter.since_ms, parse_time("since", *since));
  }
  if (std::optional<std::string> until = query.get("until")) {
    HK_ASSIGN_OR_RETURN(filter.until_ms, parse_time("until", *until));
  }
  return filter;
}

Result<Selection> parse_selection(std::string_view body, bool allow_as_recorded) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  // (An empty view may have no data at all, which simdjson must not be handed: found by the
  // admin_query fuzz target.)
  if (body.empty() || parser.parse(body.data(), body.size()).get(root) != simdjson::SUCCESS ||
      !root.is_object()) {
    return invalid_argument(R"(the body must be a JSON object: {"Ids": [...]} or {"All": true})");
  }
  Selection selection;
  bool has_ids = false;
  for (const auto field : root.get_object()) {
    const std::string_view key = field.key;
    const simdjson::dom::element value = field.value;
    std::string_view text;
    if (key == "Ids") {
      simdjson::dom::array ids;
      if (value.get(ids) != simdjson::SUCCESS) {
        return invalid_argument("Ids must be an array of dead-letter ids");
      }
      for (const simdjson::dom::element id : ids) {
        int64_t number = 0;
        if (id.get(number) != simdjson::SUCCESS || number <= 0) {
          return invalid_argument("Ids must hold positive integers");
        }
        selection.ids.push_back(number);
      }
      has_ids = true;
    } else if (key == "All") {
      if (value.get(selection.all) != simdjson::SUCCESS) {
        return invalid_argument("All must be true or false");
      }
    } else if (key == "AsRecorded" && allow_as_recorded) {
      if (value.get(selection.as_recorded) != simdjson::SUCCESS) {
        return invalid_argument("AsRecorded must be true or false");
      }
    } else if (key == "Rule" || key == "Target" || key == "ErrorCode" || key == "Since" ||
               key == "Until") {
      if (value.get(text) != simdjson::SUCCESS) {
        return invalid_argument(fmt::format("{} must be a string", key));
      }
      if (key == "Rule") {
        selection.filter.rule = text;
      } else if (key == "Target") {
        selection.filter.target = text;
      } else if (key == "ErrorCode") {
        selection.filter.error_code = text;
      } else if (key == "Since") {
        HK_ASSIGN_OR_RETURN(selection.filter.since_ms, parse_time("Since", text));
      } else {
        HK_ASSIGN_OR_RETURN(selection.filter.until_ms, parse_time("Until", text));
      }
    } else {
      return invalid_argument(fmt::format(
          "unknown member {} (expected Ids, or All with Rule, Target, ErrorCode, Since, Until{})",
          json_quote(key.substr(0, 64)), allow_as_recorded ? "; AsRecorded" : ""));
    }
  }
  const bool filtered = !selection.filter.rule.empty() || !selection.filter.target.empty() ||
                        !selection.filter.error_code.empty() || selection.filter.since_ms != 0 ||
                        selection.filter.until_ms != 0;
  if (has_ids == selection.all) {
    return invalid_argument(has_ids
                                ? "give either Ids or All, not both"
                                : "say which letters: {\"Ids\": [...]} or {\"All\": true} "
                                  "(with Rule, Target, ErrorCode, Since or Until to narrow it)");
  }
  if (has_ids && filtered) {
    return invalid_argument("Rule, Target, ErrorCode, Since and Until go with All, not with Ids");
  }
  return selection;
}

Response error_response(unsigned status, std::string_view code, std::string_view message) {
  return {status, fmt::format(R"({{"Error":{{"Code":{},"Message":{}}}}})", json_quote(code),
                              json_quote(message))};
}

Response status_response(const Status& status) {
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
      return error_response(400, "InvalidParameter", status.message());
    case StatusCode::kNotFound:
      return error_response(404, "NotFound", status.message());
    default:
      return error_response(503, "Unavailable", status.message());
  }
}

std::string time_text(int64_t epoch_ms) {
  return format_rfc3339_millis(
      std::chrono::system_clock::time_point(std::chrono::milliseconds(epoch_ms)));
}

}  // namespace internal

namespace {

using internal::error_response;

// "/dead-letters/42" -> 42; nullopt when the rest is not a positive integer.
std::optional<int64_t> id_after(std::string_view path, std::string_view prefix) {
  if (path.substr(0, prefix.size()) != prefix) {
    return std::nullopt;
  }
  const std::string_view rest = path.substr(prefix.size());
  int64_t id = 0;
  const auto [end, error] = std::from_chars(rest.data(), rest.data() + rest.size(), id);
  if (rest.empty() || error != std::errc() || end != rest.data() + rest.size() || id <= 0) {
    return std::nullopt;
  }
  return id;
}

Response route(const Sources& sources, const Request& request) {
  const std::string_view path = request.path;
  const bool get = request.method == "GET";
  const bool post = request.method == "POST";
  Result<internal::Query> query = internal::Query::parse(request.query);
  if (!query.has_value()) {
    return internal::status_response(query.status());
  }
  const auto wrong_method = [&](std::string_view allowed) {
    return error_response(405, "MethodNotAllowed",
                          fmt::format("{} takes {}", path.substr(0, 128), allowed));
  };
  if (path == "/dead-letters") {
    return get ? internal::list_dead_letters(sources, *query) : wrong_method("GET");
  }
  if (path == "/dead-letters/redrive") {
    return post ? internal::redrive_dead_letters(sources, request.body) : wrong_method("POST");
  }
  if (path == "/dead-letters/purge") {
    return post ? internal::purge_dead_letters(sources, request.body) : wrong_method("POST");
  }
  if (std::optional<int64_t> id = id_after(path, "/dead-letters/")) {
    return get ? internal::show_dead_letter(sources, *id) : wrong_method("GET");
  }
  if (path == "/deliveries") {
    return get ? internal::list_deliveries(sources, *query) : wrong_method("GET");
  }
  if (path == "/destinations") {
    return get ? internal::list_destinations(sources) : wrong_method("GET");
  }
  if (path == "/tickets") {
    return get ? internal::list_tickets(sources, *query) : wrong_method("GET");
  }
  if (path == "/rules") {
    return get ? internal::list_rules(sources) : wrong_method("GET");
  }
  if (path == "/counts") {
    return get ? internal::show_counts(sources) : wrong_method("GET");
  }
  if (path == "/test-event") {
    return post ? internal::test_event(sources, *query, request.body) : wrong_method("POST");
  }
  return error_response(
      404, "NotFound",
      fmt::format("no admin route {} (see docs/operations.md)", json_quote(path.substr(0, 128))));
}

}  // namespace

struct AdminApi::Worker {
  struct Call {
    Request request;
    std::function<void(Response)> done;
  };
  Mutex mutex;
  CondVar wake;
  std::deque<Call> calls HK_GUARDED_BY(mutex);
  bool stopping HK_GUARDED_BY(mutex) = false;
  std::thread thread;
};

AdminApi::AdminApi(Sources sources)
    : sources_(std::move(sources)), worker_(std::make_unique<Worker>()) {
  HK_CHECK(sources_.store != nullptr && sources_.clock != nullptr && sources_.snapshot);
  worker_->thread = std::thread([this] {
    name_this_thread("hk-admin");
    lower_this_thread_priority(kCheckpointNice);  // an operator waits; ingest does not
    Worker& worker = *worker_;
    for (;;) {
      Worker::Call call;
      {
        MutexLock lock(worker.mutex);
        worker.wake.wait(lock, [&]() HK_REQUIRES(worker.mutex) {
          return !worker.calls.empty() || worker.stopping;
        });
        if (worker.stopping) {
          return;
        }
        call = std::move(worker.calls.front());
        worker.calls.pop_front();
      }
      call.done(handle(call.request));
    }
  });
}

AdminApi::~AdminApi() {
  std::deque<Worker::Call> left;
  {
    MutexLock lock(worker_->mutex);
    worker_->stopping = true;
    left.swap(worker_->calls);
  }
  worker_->wake.notify_all();
  worker_->thread.join();
  for (Worker::Call& call : left) {
    call.done(error_response(503, "Unavailable", "the server is stopping"));
  }
}

Response AdminApi::handle(const Request& request) {
  Response response = route(sources_, request);
  // Whatever a route put together, no configured secret leaves in it.
  std::shared_ptr<const Redactor> redactor =
      sources_.redactor ? sources_.redactor() : std::shared_ptr<const Redactor>();
  response.body = redactor != nullptr ? redactor->redact(response.body) : redact_url(response.body);
  return response;
}

void AdminApi::handle_async(Request request, std::function<void(Response)> done) {
  {
    MutexLock lock(worker_->mutex);
    if (worker_->calls.size() < kMaxQueued) {
      worker_->calls.push_back({std::move(request), std::move(done)});
      worker_->wake.notify_one();
      return;
    }
  }
  done(error_response(503, "Unavailable", "too many admin calls at once; try again"));
}

}  // namespace hikyaku::admin
