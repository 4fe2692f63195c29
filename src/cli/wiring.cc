#include "cli/wiring.h"

#include <fmt/format.h>
#include <openssl/evp.h>

#include "bus/pipeline.h"

namespace hikyaku::cli {
namespace {

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                      reinterpret_cast<const unsigned char*>(bytes.data()),
                                      static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(written));
  return out;
}

std::string percent_encode(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

void apply_connection(const config::Connection& connection, delivery::Endpoint& endpoint,
                      std::vector<std::string>& warnings) {
  switch (connection.authorization_type) {
    case config::AuthorizationType::kApiKey:
      endpoint.headers.emplace_back(connection.api_key_name, connection.api_key_value);
      break;
    case config::AuthorizationType::kBasic:
      endpoint.headers.emplace_back(
          "Authorization",
          Secret("Basic " + base64(connection.username + ":" + connection.password.reveal())));
      break;
    case config::AuthorizationType::kOAuthClientCredentials:
      warnings.push_back(fmt::format(
          "connection {}: OAUTH_CLIENT_CREDENTIALS is not implemented yet; requests are sent "
          "without a token",
          connection.name));
      break;
  }
  const config::HttpParameterSet& parameters = connection.invocation_http_parameters;
  for (const config::HttpParameter& header : parameters.header_parameters) {
    endpoint.headers.emplace_back(header.key, header.value);
  }
  for (const config::HttpParameter& query : parameters.query_string_parameters) {
    endpoint.url += endpoint.url.find('?') == std::string::npos ? '?' : '&';
    endpoint.url += percent_encode(query.key) + "=" + percent_encode(query.value.reveal());
  }
  // When BodyParameters are implemented they must be merged into the body at send time (in
  // delivery), never into the rendered body the store keeps.
  if (!parameters.body_parameters.empty()) {
    warnings.push_back(
        fmt::format("connection {}: InvocationHttpParameters.BodyParameters are not applied yet",
                    connection.name));
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
  }
  return values;
}

std::shared_ptr<const delivery::Endpoints> build_endpoints(const config::Config& config,
                                                           std::shared_ptr<const Redactor> redactor,
                                                           std::vector<std::string>& warnings) {
  auto endpoints = std::make_shared<delivery::Endpoints>();
  for (const config::Rule& rule : config.rules) {
    for (const config::Target& target : rule.targets) {
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
        endpoint.kind = delivery::Endpoint::Kind::kHttp;
        endpoint.destination = destination->name;
        endpoint.method = destination->http_method;
        endpoint.url = destination->invocation_endpoint;
        endpoint.rate_limit_per_second = destination->invocation_rate_limit_per_second;
        if (target.body_encoding == config::BodyEncoding::kForm) {
          endpoint.content_type = "application/x-www-form-urlencoded";
        }
        if (const config::Connection* connection =
                config.find_connection(destination->connection_name)) {
          apply_connection(*connection, endpoint, warnings);
        }
        if (target.http_parameters) {
          warnings.push_back(fmt::format("rule {} target {}: HttpParameters are not applied yet",
                                         rule.name, target.id));
        }
      }
      endpoints->emplace(bus::target_key(rule.event_bus_name, rule.name, target.id),
                         std::move(endpoint));
    }
  }
  return endpoints;
}

}  // namespace hikyaku::cli
