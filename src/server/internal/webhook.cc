// POST /events/{bus}: one whole envelope, as an EventBridge API destination sends it
// (docs/api-destinations.md). Answers {"EventId": ...}; an event that can never be stored (too
// deep, refused by the bus) 400; overload 429 and store trouble 503, both with Retry-After, which
// API destinations retry.
#include <fmt/format.h>

#include "core/check.h"
#include "core/envelope.h"
#include "core/json_writer.h"
#include "server/internal/api.h"
#include "server/internal/auth.h"
#include "server/internal/wire.h"

namespace hikyaku::server {
namespace {

// Seconds a 429 or 503 asks the sender to wait: overload and store trouble clear within about a
// second (the bus refuses while its queue is full; the queue drains at the commit rate).
constexpr const char* kRetryAfterSeconds = "1";

HttpResponse json_error(unsigned status, std::string_view type, std::string_view message) {
  HttpResponse response;
  response.status = status;
  response.content_type = kJson;
  response.body = json_error_body(type, message);
  return response;
}

// The answer to the ingest of the webhook's one event.
HttpResponse webhook_answer(const Status& status, const std::string& event_id,
                            ServerMetrics& metrics) {
  if (!status.ok()) {
    const std::string_view code = entry_error_code(status);
    metrics.count_entry_error(IngestPath::kWebhook, code);
    switch (classify_ingest_failure(status)) {
      case IngestFailure::kOverload: {
        metrics.count_throttled_request(IngestPath::kWebhook);
        HttpResponse response = json_error(429, code, status.message());
        response.headers.emplace_back("Retry-After", kRetryAfterSeconds);
        return response;
      }
      case IngestFailure::kRetryable: {
        HttpResponse response = json_error(503, code, status.message());
        response.headers.emplace_back("Retry-After", kRetryAfterSeconds);
        return response;
      }
      case IngestFailure::kRejected:
        break;
    }
    // This event can never be stored: a retry would fail the same way.
    metrics.count_request_error("ValidationException");
    return json_error(400, "ValidationException", status.message());
  }
  metrics.count_entry_accepted(IngestPath::kWebhook);
  JsonWriter writer;
  writer.begin_object();
  writer.key("EventId");
  writer.string(event_id);
  writer.end_object();
  HttpResponse response;
  response.content_type = kJson;
  response.body = writer.take();
  return response;
}

}  // namespace

void Api::handle_webhook(const HttpRequest& request, std::string_view bus_name, Respond& respond) {
  const Authenticated<const config::ApiKeyCredential*> key =
      authenticate_api_key(request, config_.auth);
  if (key.refusal) {
    metrics_->count_request_error(key.refusal->type);
    respond(json_error(key.refusal->status, key.refusal->type, key.refusal->message));
    return;
  }
  Result<Envelope> envelope = parse_envelope(request.body);
  if (!envelope) {
    metrics_->count_entry_error(IngestPath::kWebhook, "InvalidArgument");
    metrics_->count_request_error("ValidationException");
    respond(json_error(400, "ValidationException", envelope.error().message()));
    return;
  }
  if (key.who != nullptr && !source_allowed(key.who->allowed_sources, envelope->source)) {
    metrics_->count_entry_error(IngestPath::kWebhook, "NotAuthorizedForSourceException");
    metrics_->count_request_error("NotAuthorizedForSourceException");
    respond(json_error(403, "NotAuthorizedForSourceException",
                       fmt::format("Not authorized for the source '{}': this API key may publish "
                                   "only the sources in its AllowedSources.",
                                   envelope->source)));
    return;
  }
  std::string event_id = envelope->id;
  std::vector<Envelope> batch;
  batch.push_back(std::move(*envelope));
  bus_.ingest(bus_name, std::move(batch),
              [metrics = metrics_, respond = std::move(respond),
               event_id = std::move(event_id)](std::vector<Status> statuses) {
                HK_CHECK_MSG(statuses.size() == 1,
                             "the bus answered {} statuses for 1 event (EventBus::IngestDone)",
                             statuses.size());
                respond(webhook_answer(statuses[0], event_id, *metrics));
              });
}

}  // namespace hikyaku::server
