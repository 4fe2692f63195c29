// Routing: which path and X-Amz-Target go to which operation, health, readiness and metrics.
#include "server/internal/api.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "core/ascii.h"
#include "core/ids.h"
#include "core/json_writer.h"
#include "server/internal/auth.h"
#include "server/internal/console.h"
#include "server/internal/wire.h"

namespace hikyaku::server {
namespace {

// /events/{bus} takes a bus name of [.-_A-Za-z0-9], at most 256 characters.
bool valid_webhook_bus(std::string_view bus) {
  return !bus.empty() && bus.size() <= 256 && std::all_of(bus.begin(), bus.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_';
  });
}

constexpr std::string_view kAwsTargetPrefix = "AWSEvents.";

// GET /metrics names rules, targets and destinations: anyone who can reach a loopback listener is
// on this host already, anyone else must show one of Server.Auth.ApiKeys. Without Server.Auth the
// server listens only on loopback (config::check_server_config).
bool loopback_listener(const config::ServerConfig& config) {
  const Result<config::ListenAddress> listen = config::parse_listen(config.listen);
  return listen && listen->loopback;
}

bool metrics_need_key(const config::ServerConfig& config) {
  return config.auth.configured() && !loopback_listener(config);
}

constexpr std::string_view kAdminPrefix = "/admin/v1/";

}  // namespace

const std::string* HttpRequest::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (equals_ignoring_ascii_case(key, name)) {
      return &value;
    }
  }
  return nullptr;
}

Api::Api(config::ServerConfig config, bus::EventBus& bus, const Clock& clock, ApiOptions options)
    : config_(std::move(config)),
      bus_(bus),
      clock_(clock),
      options_(std::move(options)),
      metrics_(std::make_shared<ServerMetrics>()),
      metrics_need_key_(metrics_need_key(config_)),
      loopback_listener_(loopback_listener(config_)) {}

std::string Api::region_for(std::string_view signing_region) const {
  if (config_.region) {
    return *config_.region;
  }
  return signing_region.empty() ? std::string(kDefaultRegion) : std::string(signing_region);
}

HttpResponse Api::aws_error(unsigned status, std::string_view type, std::string_view message,
                            const std::string& request_id) {
  metrics_->count_request_error(type);
  return aws_json_response(json_error_body(type, message), request_id, status);
}

HttpResponse Api::too_busy(std::string_view target) {
  metrics_->requests_total.add();
  const std::string_view path = target.substr(0, target.find('?'));
  constexpr std::string_view kThrottling = "ThrottlingException";
  if (path == "/") {
    metrics_->count_throttled_request(IngestPath::kPutEvents);
    return aws_error(400, kThrottling, "Rate exceeded", new_uuid_v4());
  }
  constexpr std::string_view kMessage = "Too many requests in flight; retry shortly.";
  HttpResponse response;
  response.content_type = kJson;
  response.headers.emplace_back("Retry-After", "1");
  if (path.substr(0, 8) == "/events/") {
    metrics_->count_request_error(kThrottling);
    metrics_->count_throttled_request(IngestPath::kWebhook);
    response.status = 429;
    response.body = json_error_body(kThrottling, kMessage);
  } else {
    metrics_->count_request_error("ServiceUnavailable");
    response.status = 503;
    response.body = json_error_body("ServiceUnavailable", kMessage);
  }
  return response;
}

void Api::handle(const HttpRequest& request, Respond respond) {
  metrics_->requests_total.add();
  const std::string_view target = request.target;
  const std::string_view path = target.substr(0, target.find('?'));

  if (path == "/") {
    if (request.method != "POST") {
      respond(aws_error(405, "UnknownOperationException",
                        "The AWS JSON API takes POST / with an X-Amz-Target header.",
                        new_uuid_v4()));
      return;
    }
    handle_aws_json(request, respond);
    return;
  }
  if (path.substr(0, 8) == "/events/") {
    const std::string_view bus = path.substr(8);
    if (!valid_webhook_bus(bus)) {
      respond(text_response(404, "not found: /events/{bus} takes a bus name of [.-_A-Za-z0-9]\n"));
      return;
    }
    if (request.method != "POST") {
      HttpResponse response = text_response(405, "method not allowed: use POST\n");
      response.headers.emplace_back("Allow", "POST");
      respond(std::move(response));
      return;
    }
    handle_webhook(request, bus, respond);
    return;
  }
  if (path.substr(0, kAdminPrefix.size()) == kAdminPrefix) {
    handle_admin(request, respond);
    return;
  }
  if (options_.admin && is_console_path(path)) {
    respond(console_response(request.method, path, config_.auth));
    return;
  }
  if (request.method == "GET") {
    if (path == "/healthz") {
      respond(text_response(200, "ok\n"));
      return;
    }
    if (path == "/readyz") {
      const Status ready = options_.readiness ? options_.readiness() : Status();
      respond(ready.ok() ? text_response(200, "ready\n")
                         : text_response(503, "not ready: " + ready.message() + "\n"));
      return;
    }
    if (path == "/metrics") {
      if (metrics_need_key_) {
        const Authenticated<const config::ApiKeyCredential*> key =
            authenticate_api_key(request, config_.auth);
        if (key.refusal) {
          metrics_->count_request_error(key.refusal->type);
          respond(text_response(key.refusal->status, key.refusal->message + "\n"));
          return;
        }
      }
      HttpResponse response;
      response.content_type = "text/plain; version=0.0.4";
      response.body = options_.metrics_text ? options_.metrics_text() : metrics_->render();
      respond(std::move(response));
      return;
    }
  }
  respond(text_response(404, "not found\n"));
}

void Api::handle_admin(const HttpRequest& request, Respond& respond) {
  const auto json_error = [](unsigned status, std::string_view code, std::string_view message) {
    HttpResponse response;
    response.status = status;
    response.content_type = "application/json";
    response.body = fmt::format(R"({{"Error":{{"Code":{},"Message":{}}}}})", json_quote(code),
                                json_quote(message));
    return response;
  };
  if (!options_.admin) {
    respond(json_error(404, "NotFound", "This server has no admin API."));
    return;
  }
  if (std::optional<Refusal> refusal =
          authenticate_admin(request, config_.auth, loopback_listener_)) {
    metrics_->count_request_error(refusal->type);
    respond(json_error(refusal->status, refusal->type, refusal->message));
    return;
  }
  const std::string_view target = request.target;
  const size_t question = target.find('?');
  AdminRequest call;
  call.method = request.method;
  call.path = std::string(
      target.substr(kAdminPrefix.size() - 1, question == std::string_view::npos
                                                 ? std::string_view::npos
                                                 : question - (kAdminPrefix.size() - 1)));
  if (question != std::string_view::npos) {
    call.query = std::string(target.substr(question + 1));
  }
  call.body = request.body;
  options_.admin(std::move(call), [respond](AdminAnswer answer) {
    HttpResponse response;
    response.status = answer.status;
    response.content_type = std::move(answer.content_type);
    response.body = std::move(answer.body);
    response.headers.emplace_back("Cache-Control", "no-store");
    respond(std::move(response));
  });
}

void Api::handle_aws_json(const HttpRequest& request, Respond& respond) {
  std::string request_id = new_uuid_v4();
  Authenticated<Caller> caller = authenticate_aws(request, config_, clock_.now());
  if (caller.refusal) {
    respond(aws_error(caller.refusal->status, caller.refusal->type, caller.refusal->message,
                      request_id));
    return;
  }
  const std::string* target_header = request.header("X-Amz-Target");
  if (target_header == nullptr) {
    respond(aws_error(400, "UnknownOperationException",
                      "Missing X-Amz-Target header: expected AWSEvents.<Operation>.", request_id));
    return;
  }
  std::string_view operation = *target_header;
  if (operation.substr(0, kAwsTargetPrefix.size()) != kAwsTargetPrefix) {
    respond(aws_error(400, "UnknownOperationException",
                      fmt::format("Unknown operation {}: this endpoint serves AWSEvents.*.",
                                  operation.substr(0, 128)),
                      request_id));
    return;
  }
  operation.remove_prefix(kAwsTargetPrefix.size());
  if (operation == "PutEvents") {
    put_events(request, caller.who, std::move(request_id), respond);
    return;
  }
  respond(dispatch_read_operation(operation, request, request_id, region_for(caller.who.region)));
}

HttpResponse Api::dispatch_read_operation(std::string_view operation, const HttpRequest& request,
                                          const std::string& request_id, std::string_view region) {
  if (operation == "TestEventPattern") {
    return test_event_pattern(request, request_id);
  }
  if (operation == "ListRules") {
    return list_rules(request, request_id, region);
  }
  if (operation == "DescribeRule") {
    return describe_rule(request, request_id, region);
  }
  if (operation == "ListTargetsByRule") {
    return list_targets_by_rule(request, request_id, region);
  }
  if (operation == "ListEventBuses") {
    return list_event_buses(request, request_id, region);
  }
  if (std::optional<HttpResponse> response = archive_operation(operation, request, request_id)) {
    return std::move(*response);
  }
  return aws_error(400, "UnknownOperationException",
                   fmt::format("Operation {} is not supported by hikyaku (supported: "
                               "PutEvents, TestEventPattern, ListRules, DescribeRule, "
                               "ListTargetsByRule, ListEventBuses, ListArchives, "
                               "DescribeArchive, StartReplay, DescribeReplay, ListReplays, "
                               "CancelReplay).",
                               operation.substr(0, 128)),
                   request_id);
}

}  // namespace hikyaku::server
