#include "cli/wiring.h"

#include <fmt/format.h>

#include "bus/pipeline.h"
#include "core/url_encoding.h"
#include "delivery/oauth.h"
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

std::shared_ptr<const delivery::Endpoints> build_endpoints(
    const config::Config& config, std::shared_ptr<const Redactor> redactor) {
  auto endpoints = std::make_shared<delivery::Endpoints>();
  for (const config::Rule& rule : config.rules) {
    for (const config::Target& target : rule.targets) {
      if (target.backlog) {
        continue;  // Backlog targets: built by build_backlog_endpoints
      }
      delivery::Endpoint endpoint;
      endpoint.rule = rule.name;
      endpoint.target_id = target.id;
      endpoint.redactor = redactor;
      endpoint.retry_policy = {target.retry_policy.maximum_retry_attempts,
                               target.retry_policy.maximum_event_age_in_seconds};
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
        endpoints->emplace(endpoint.dead_letter_target, std::move(forward));
      }
      endpoints->emplace(key, std::move(endpoint));
    }
  }
  return endpoints;
}

}  // namespace hikyaku::cli
