#include "delivery/dead_letter.h"

#include <chrono>
#include <string_view>

#include "core/ascii.h"
#include "core/json_writer.h"
#include "core/redact.h"
#include "core/time.h"
#include "delivery/request.h"

namespace hikyaku::delivery {
namespace {

// A header whose value is a credential: the connection's own (authorization, header
// parameters), or one named like a credential.
bool is_masked_header(const Endpoint& endpoint, std::string_view name) {
  if (is_secret_parameter_name(name)) {
    return true;
  }
  for (const auto& [connection_name, value] : endpoint.headers) {
    if (equals_ignoring_ascii_case(connection_name, name)) {
      return true;
    }
  }
  return false;
}

}  // namespace

std::string recorded_request(const Endpoint& endpoint, const store::Job& job) {
  JsonWriter out;
  out.begin_object();
  Result<HttpRequest> request = build_request(endpoint, job, nullptr);
  out.key("Method");
  out.string(request.has_value() ? request->method : endpoint.method);
  out.key("Url");
  out.string(request.has_value() ? request->url : endpoint.url);
  if (request.has_value()) {
    out.key("Headers");
    out.begin_object();
    if (endpoint.oauth != nullptr) {
      out.key("Authorization");
      out.string("Bearer ***");
    }
    for (const auto& [name, value] : request->headers) {
      out.key(name);
      out.string(is_masked_header(endpoint, name) ? Redactor::kMask : std::string_view(value));
    }
    out.end_object();
    out.key("Body");
    out.string(request->body);
  }
  out.end_object();
  return redacted(&endpoint, out.str());
}

std::string dead_letter_document(const DeadLetterFacts& facts) {
  const Endpoint* endpoint = facts.endpoint;
  const store::Job& job = *facts.job;
  const store::DeadLetterReason& reason = *facts.reason;
  JsonWriter out;
  out.reserve(512 + job.body.size() + reason.request.size() +
              (facts.event ? facts.event->size() : 0));
  out.begin_object();
  const auto text = [&](std::string_view key, std::string_view value) {
    out.key(key);
    out.string(redacted(endpoint, value));
  };
  text("Rule", endpoint != nullptr ? endpoint->rule : "");
  text("Target", endpoint != nullptr ? endpoint->target_id : "");
  text("TargetKey", job.target);
  text("Destination", endpoint != nullptr ? endpoint->destination : "");
  text("EventId", job.event_id);
  out.key("ErrorCode");
  out.string(reason.error_code);
  out.key("ErrorMessage");
  out.string(reason.error_message);
  out.key("ExhaustedRetryCondition");
  out.string(reason.exhausted_retry_condition);
  out.key("RetryAttempts");
  out.number(int64_t{facts.attempts > 0 ? facts.attempts - 1 : 0});
  out.key("HttpStatus");
  if (reason.http_status != 0) {
    out.number(int64_t{reason.http_status});
  } else {
    out.null();
  }
  out.key("ResponseExcerpt");
  out.string(reason.response_excerpt);
  out.key("DeadLetteredAt");
  out.string(format_rfc3339_millis(
      std::chrono::system_clock::time_point(std::chrono::milliseconds(facts.dead_lettered_at_ms))));
  out.key("Request");
  if (reason.request.empty()) {
    out.null();
  } else {
    out.raw(reason.request);  // recorded_request()'s JSON
  }
  text("Body", job.body);
  out.key("Event");
  if (facts.event.has_value()) {
    out.raw(*facts.event);  // the envelope as ingest serialized it
  } else {
    out.null();
  }
  out.end_object();
  return out.take();
}

}  // namespace hikyaku::delivery
