#include "cli/wiring.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "bus/pipeline.h"
#include "core/arn.h"
#include "core/json_writer.h"
#include "core/time.h"
#include "core/url_encoding.h"
#include "delivery/oauth.h"
#include "integrations/backlog/ticket_target.h"
#include "pattern/pattern.h"
#include "transform/transformer.h"

namespace hikyaku::cli {
namespace {

std::vector<delivery::OAuthParameter> oauth_parameters(
    const std::vector<config::HttpParameter>& parameters) {
  std::vector<delivery::OAuthParameter> out;
  out.reserve(parameters.size());
  for (const config::HttpParameter& parameter : parameters) {
    out.push_back({parameter.key, parameter.value, parameter.is_value_secret});
  }
  return out;
}

delivery::OAuthSettings oauth_settings(const config::Connection& connection) {
  delivery::OAuthSettings settings;
  settings.connection = connection.name;
  settings.client_id = connection.client_id;
  settings.client_secret = connection.client_secret;
  settings.authorization_endpoint = connection.authorization_endpoint;
  settings.http_method = connection.oauth_http_method;
  const config::HttpParameterSet& parameters = connection.oauth_http_parameters;
  settings.header_parameters = oauth_parameters(parameters.header_parameters);
  settings.query_string_parameters = oauth_parameters(parameters.query_string_parameters);
  settings.body_parameters = oauth_parameters(parameters.body_parameters);
  return settings;
}

void apply_connection(const config::Connection& connection, delivery::Endpoint& endpoint) {
  switch (connection.authorization_type) {
    case config::AuthorizationType::kApiKey:
      endpoint.headers.emplace_back(connection.api_key_name, connection.api_key_value);
      break;
    case config::AuthorizationType::kBasic:
      endpoint.headers.emplace_back("Authorization",
                                    Secret("Basic " + base64_encode(connection.username + ":" +
                                                                    connection.password.reveal())));
      break;
    case config::AuthorizationType::kOAuthClientCredentials:
      endpoint.oauth = std::make_shared<const delivery::OAuthSettings>(oauth_settings(connection));
      break;
  }
  // Applied at send time (delivery/request.h), never written into a stored job.
  const config::HttpParameterSet& parameters = connection.invocation_http_parameters;
  for (const config::HttpParameter& header : parameters.header_parameters) {
    endpoint.headers.emplace_back(header.key, header.value);
  }
  for (const config::HttpParameter& query : parameters.query_string_parameters) {
    endpoint.query_parameters.emplace_back(query.key, query.value);
  }
  for (const config::HttpParameter& body : parameters.body_parameters) {
    endpoint.body_parameters.emplace_back(body.key, body.value);
  }
}

// An API destination and its connection, as every request to it applies them.
void apply_destination(const config::Config& config, const config::ApiDestination& destination,
                       delivery::Endpoint& endpoint) {
  endpoint.destination = destination.name;
  endpoint.method = destination.http_method;
  endpoint.url = destination.invocation_endpoint;
  endpoint.rate_limit_per_second = destination.invocation_rate_limit_per_second;
  endpoint.timeout_ms = destination.timeout_seconds * 1000L;
  endpoint.ca_file = destination.ca_file;
  if (const config::Connection* connection = config.find_connection(destination.connection_name)) {
    // GET and HEAD send no body, hence no BodyParameters: the config's warnings say so.
    apply_connection(*connection, endpoint);
  }
}

// The API destination a target's DeadLetterConfig names; null for none (or an SQS queue).
const config::ApiDestination* dead_letter_destination(const config::Config& config,
                                                      const config::Target& target) {
  if (!target.dead_letter_config ||
      target.dead_letter_config->kind != config::DeadLetterConfig::Kind::kApiDestination) {
    return nullptr;
  }
  return config.find_api_destination(target.dead_letter_config->api_destination);
}

// A target value: a JSONPath (resolved at ingest, bus/pipeline.h) or a literal kept here.
delivery::TargetParameter target_parameter(std::string key, const std::string& value) {
  if (transform::is_event_path(value)) {
    return {std::move(key), Secret(), value};
  }
  return {std::move(key), Secret(value), ""};
}

void apply_target_parameters(const config::TargetHttpParameters& parameters,
                             delivery::Endpoint& endpoint) {
  for (const std::string& value : parameters.path_parameter_values) {
    endpoint.path_parameters.push_back(target_parameter("", value));
  }
  for (const auto& [name, value] : parameters.header_parameters) {
    endpoint.header_parameters.push_back(target_parameter(name, value));
  }
  for (const auto& [name, value] : parameters.query_string_parameters) {
    endpoint.query_string_parameters.push_back(target_parameter(name, value));
  }
}

// A target's endpoint under its key, with the forward of its dead letters when its
// DeadLetterConfig names an API destination.
void add_endpoint(const config::Config& config, const config::Rule& rule,
                  const config::Target& target, const std::shared_ptr<const Redactor>& redactor,
                  delivery::Endpoint endpoint, delivery::Endpoints& endpoints) {
  const std::string key = bus::target_key(rule.event_bus_name, rule.name, target.id);
  if (const config::ApiDestination* dead_letters = dead_letter_destination(config, target)) {
    // The letters go as JSON documents, with the destination's own connection and settings
    // and the default retry policy; their own failures stay in the store's queue.
    delivery::Endpoint forward;
    forward.kind = delivery::Endpoint::Kind::kHttp;
    forward.rule = rule.name;
    forward.target_id = target.id + kDeadLetterTargetSuffix;
    forward.redactor = redactor;
    apply_destination(config, *dead_letters, forward);
    endpoint.dead_letter_target = key + kDeadLetterTargetSuffix;
    endpoints.emplace(endpoint.dead_letter_target, std::move(forward));
  }
  endpoints.emplace(key, std::move(endpoint));
}

// Backlog's pacing is one request at a time and the budget its X-RateLimit-* answers tell; the
// token bucket only bounds the turns, which no-op decisions (a re-imported, unchanged finding)
// take too without sending anything.
constexpr int kBacklogRequestsPerSecond = 1000;

}  // namespace

std::vector<std::string> secret_values(const config::Config& config) {
  std::vector<std::string> values = config.secret_values();
  for (const config::Connection& connection : config.connections) {
    if (connection.authorization_type == config::AuthorizationType::kBasic &&
        !connection.password.empty()) {
      values.push_back(connection.username + ":" + connection.password.reveal());
    }
    if (connection.authorization_type == config::AuthorizationType::kOAuthClientCredentials) {
      // The encoded forms the token request carries (the Basic credentials).
      for (std::string& value : delivery::oauth_redaction_values(oauth_settings(connection))) {
        values.push_back(std::move(value));
      }
    }
  }
  return values;
}

std::shared_ptr<delivery::Endpoints> build_endpoints(const config::Config& config,
                                                     std::shared_ptr<const Redactor> redactor) {
  auto endpoints = std::make_shared<delivery::Endpoints>();
  for (const config::Rule& rule : config.rules) {
    for (const config::Target& target : rule.targets) {
      delivery::Endpoint endpoint;
      endpoint.rule = rule.name;
      endpoint.target_id = target.id;
      endpoint.redactor = redactor;
      endpoint.retry_policy = {target.retry_policy.maximum_retry_attempts,
                               target.retry_policy.maximum_event_age_in_seconds};
      if (target.backlog) {
        continue;  // add_backlog_endpoints
      }
      if (target.log) {
        endpoint.kind = delivery::Endpoint::Kind::kLog;
        endpoint.log_path = target.log->path;
      } else {
        const config::ApiDestination* destination =
            config.find_api_destination(target.api_destination);
        if (destination == nullptr) {
          continue;  // a validated config always has it
        }
        apply_destination(config, *destination, endpoint);
        if (target.body_encoding == config::BodyEncoding::kForm) {
          endpoint.body_encoding = delivery::Endpoint::BodyEncoding::kForm;
        }
        if (target.http_parameters) {
          apply_target_parameters(*target.http_parameters, endpoint);
        }
      }
      add_endpoint(config, rule, target, redactor, std::move(endpoint), *endpoints);
    }
  }
  return endpoints;
}

namespace {

// A Backlog target's handler, its names looked up now (unless DryRun). A Backlog that cannot be
// reached is no reason to stop routing: the target then looks up again on its deliveries.
Result<std::shared_ptr<integrations::backlog::TicketTarget>> backlog_target(
    const config::Config& config, const config::Rule& rule, const config::Target& target,
    const BacklogWiring& wiring) {
  namespace backlog = integrations::backlog;
  const config::BacklogTarget& settings = *target.backlog;
  backlog::TicketNames names{settings.project, settings.issue_type, settings.priority,
                             settings.resolved_status, settings.reopen_status};
  backlog::TicketSettings base;
  base.target = bus::target_key(rule.event_bus_name, rule.name, target.id);
  base.space.base_url = settings.endpoint;
  base.space.api_key = Secret(settings.api_key);
  base.dry_run = settings.dry_run;
  base.dry_run_file = wiring.dry_run_file;
  base.comment_on_update = settings.on_update == config::BacklogTarget::OnUpdate::kComment;
  std::shared_ptr<const pattern::Matcher> create_when;
  {
    Result<std::unique_ptr<const pattern::Matcher>> compiled =
        pattern::Matcher::compile({{0, settings.create_when}});
    if (!compiled.has_value()) {
      return invalid_argument("Backlog.CreateWhen: " + compiled.error().message());
    }
    create_when = std::move(compiled).value();
  }
  base.create_when = [create_when](std::string_view event) {
    std::vector<uint32_t> ids;
    return create_when->match(event, ids).ok() && !ids.empty();
  };
  if (target.input_transformer) {
    Result<transform::Transformer> transformer =
        transform::Transformer::compile(config::target_input(target));
    if (!transformer.has_value()) {
      return invalid_argument(transformer.error().message());
    }
    const std::string rule_name = rule.name;
    const std::string arn = rule_arn(config.server.region.value_or("us-east-1"),
                                     config.server.account, rule.event_bus_name, rule.name);
    base.render_overrides = [transformer = std::move(transformer).value(), rule_name,
                             arn](std::string_view event) -> Result<std::string> {
      const std::string now = format_rfc3339_seconds(std::chrono::system_clock::now());
      return transformer.render(event, {rule_name, arn, now});
    };
  }
  auto handler = std::make_shared<backlog::TicketTarget>(
      wiring.store, wiring.clock, std::move(names), std::move(base), wiring.transport);
  if (Status resolved = handler->resolve_now(); !resolved.ok()) {
    if (resolved.code() != StatusCode::kUnavailable) {
      return resolved;  // a wrong key, project or name: the config's to fix
    }
    spdlog::warn(
        "backlog space unreachable rule={} target={} error={}: routing starts anyway; the "
        "target's deliveries wait and look the project up again",
        rule.name, target.id, json_quote(resolved.message()));
  }
  return handler;
}

}  // namespace

Status add_backlog_endpoints(const config::Config& config,
                             const std::shared_ptr<const Redactor>& redactor,
                             const BacklogWiring& wiring, delivery::Endpoints& endpoints) {
  for (const config::Rule& rule : config.rules) {
    for (const config::Target& target : rule.targets) {
      // Disabled rules too, as build_endpoints does: their jobs still waiting are delivered.
      if (!target.backlog) {
        continue;
      }
      Result<std::shared_ptr<integrations::backlog::TicketTarget>> handler =
          backlog_target(config, rule, target, wiring);
      if (!handler.has_value()) {
        const std::string message = handler.error().message();
        return Status(handler.status().code(),
                      fmt::format("rule {} target {}: {}", rule.name, target.id,
                                  redactor != nullptr ? redactor->redact(message)
                                                      : delivery::redacted(nullptr, message)));
      }
      delivery::Endpoint endpoint;
      endpoint.kind = delivery::Endpoint::Kind::kHandler;
      endpoint.rule = rule.name;
      endpoint.target_id = target.id;
      endpoint.redactor = redactor;
      endpoint.retry_policy = {target.retry_policy.maximum_retry_attempts,
                               target.retry_policy.maximum_event_age_in_seconds};
      const config::BacklogTarget& backlog = *target.backlog;
      // One pacing queue per Backlog space (its rate limits are per user; targets of one space
      // share the queue, which errs on the safe side), one request at a time as Nulab asks; the
      // budget itself comes from the X-RateLimit-* answers.
      endpoint.destination = backlog.dry_run
                                 ? "backlog-dry-run:" + target.id
                                 : "backlog:" + integrations::backlog::space_name(backlog.endpoint);
      endpoint.url = backlog.dry_run ? "dry-run" : backlog.endpoint;
      endpoint.rate_limit_per_second = kBacklogRequestsPerSecond;
      endpoint.max_in_flight = 1;
      endpoint.timeout_ms = integrations::backlog::Space{}.timeout_ms;
      endpoint.handler = std::move(handler).value();
      add_endpoint(config, rule, target, redactor, std::move(endpoint), endpoints);
    }
  }
  return ok_status();
}

}  // namespace hikyaku::cli
