#include "config/config.h"

#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "core/redact.h"

namespace hikyaku::config {

transform::TargetInput target_input(const Target& target) {
  transform::TargetInput input;
  input.input = target.input;
  input.input_path = target.input_path;
  if (target.input_transformer) {
    input.input_transformer = transform::InputTransformerSpec{
        target.input_transformer->input_paths_map, target.input_transformer->input_template};
  }
  input.body_encoding = target.body_encoding == BodyEncoding::kForm
                            ? transform::BodyEncoding::kForm
                            : transform::BodyEncoding::kJson;
  return input;
}

std::string_view authorization_type_name(AuthorizationType type) {
  switch (type) {
    case AuthorizationType::kApiKey:
      return "API_KEY";
    case AuthorizationType::kBasic:
      return "BASIC";
    case AuthorizationType::kOAuthClientCredentials:
      return "OAUTH_CLIENT_CREDENTIALS";
  }
  return "UNKNOWN";
}

JetstreamAuth JetstreamStoreConfig::auth() const {
  if (!credentials_file.empty()) {
    return JetstreamAuth::kCredentials;
  }
  if (!token.empty()) {
    return JetstreamAuth::kToken;
  }
  if (!user.empty()) {
    return JetstreamAuth::kUserPassword;
  }
  return JetstreamAuth::kNone;
}

const Archive* Config::find_archive(std::string_view name) const {
  for (const Archive& archive : archives) {
    if (archive.name == name) {
      return &archive;
    }
  }
  return nullptr;
}

const Connection* Config::find_connection(std::string_view name) const {
  for (const Connection& connection : connections) {
    if (connection.name == name) {
      return &connection;
    }
  }
  return nullptr;
}

const ApiDestination* Config::find_api_destination(std::string_view name) const {
  for (const ApiDestination& destination : api_destinations) {
    if (destination.name == name) {
      return &destination;
    }
  }
  return nullptr;
}

std::vector<std::string> Config::event_bus_names() const {
  std::vector<std::string> names;
  for (const Rule& rule : rules) {
    if (std::find(names.begin(), names.end(), rule.event_bus_name) == names.end()) {
      names.push_back(rule.event_bus_name);
    }
  }
  auto default_bus = std::find(names.begin(), names.end(), "default");
  if (default_bus != names.end()) {
    std::rotate(names.begin(), default_bus, default_bus + 1);
  }
  return names;
}

namespace {

std::string describe_parameters(std::string_view kind, const std::vector<HttpParameter>& list) {
  std::string text;
  for (const HttpParameter& parameter : list) {
    text += fmt::format("\n      {} {}: {}", kind, parameter.key,
                        parameter.is_value_secret || is_secret_parameter_name(parameter.key)
                            ? std::string(Secret::kMask)
                            : parameter.value.reveal());
  }
  return text;
}

std::string describe_destination(const Target& target) {
  if (target.log) {
    return "log file " + target.log->path;
  }
  if (target.backlog) {
    const BacklogTarget& backlog = *target.backlog;
    return fmt::format("backlog {} project {}{}",
                       backlog.endpoint.empty() ? "(no endpoint)" : redact_url(backlog.endpoint),
                       backlog.project, backlog.dry_run ? " (dry run)" : "");
  }
  return "api destination " + target.api_destination;
}

std::string describe_target_input(const Target& target) {
  if (target.backlog) {
    // The ingest side splits every event; each finding is its own issue.
    return target.input_transformer ? "one issue per finding, fields overridden by "
                                      "InputTransformer"
                                    : "one issue per finding";
  }
  if (target.input) {
    return "constant Input";
  }
  if (target.input_path) {
    return fmt::format("InputPath {}", *target.input_path);
  }
  if (target.input_transformer) {
    return fmt::format("InputTransformer with {} input path{}",
                       target.input_transformer->input_paths_map.size(),
                       target.input_transformer->input_paths_map.size() == 1 ? "" : "s");
  }
  return "the whole event";
}

std::string describe_store(const StoreConfig& store) {
  if (!store.jetstream) {
    return fmt::format("store: sqlite {}\n", store.sqlite.path);
  }
  const JetstreamStoreConfig& jetstream = *store.jetstream;
  std::string servers;
  for (const std::string& server : jetstream.servers) {
    servers += servers.empty() ? "" : ", ";
    servers += redact_url(server);
  }
  std::string auth;
  switch (jetstream.auth()) {
    case JetstreamAuth::kNone:
      auth = "no auth";
      break;
    case JetstreamAuth::kCredentials:
      auth = fmt::format("credentials file {}", jetstream.credentials_file);
      break;
    case JetstreamAuth::kToken:
      auth = "token ***";
      break;
    case JetstreamAuth::kUserPassword:
      auth = fmt::format("user {}, password ***", jetstream.user);
      break;
  }
  const bool tls_url =
      std::any_of(jetstream.servers.begin(), jetstream.servers.end(),
                  [](const std::string& url) { return url.starts_with("tls://"); });
  std::string tls = tls_url ? "TLS with the system's CAs" : "no TLS";
  if (jetstream.tls) {
    tls = fmt::format("TLS with {}{}",
                      jetstream.tls->ca_file.empty() ? std::string("the system's CAs")
                                                     : "CA file " + jetstream.tls->ca_file,
                      jetstream.tls->cert_file.empty()
                          ? std::string()
                          : ", client certificate " + jetstream.tls->cert_file);
  }
  return fmt::format("store: jetstream {} ({} replica{}, stream prefix {}, {}, {})\n", servers,
                     jetstream.replicas, jetstream.replicas == 1 ? "" : "s",
                     jetstream.stream_prefix, auth, tls);
}

}  // namespace

std::string describe(const Config& config) {
  std::string text;
  const ServerConfig& server = config.server;
  text += fmt::format("server: listen {}{}, account {}, region {}\n", server.listen,
                      server.tls ? " (https)" : "", server.account, server.region.value_or("any"));
  text += fmt::format("auth: {} SigV4 credential{}, {} webhook API key{}{}\n",
                      server.auth.sigv4_credentials.size(),
                      server.auth.sigv4_credentials.size() == 1 ? "" : "s",
                      server.auth.api_keys.size(), server.auth.api_keys.size() == 1 ? "" : "s",
                      server.auth.configured() ? "" : " (loopback only)");
  for (const SigV4Credential& credential : server.auth.sigv4_credentials) {
    text += fmt::format("  sigv4 {}: secret {}\n", credential.access_key_id,
                        credential.secret_access_key);
  }
  for (const ApiKeyCredential& credential : server.auth.api_keys) {
    text += fmt::format("  api key header {}: {}\n", credential.header_name, credential.value);
  }
  text += fmt::format("admin: {} API key{}{}\n", server.auth.admin_api_keys.size(),
                      server.auth.admin_api_keys.size() == 1 ? "" : "s",
                      server.auth.admin_api_keys.empty() ? " (loopback listener only)" : "");
  for (const ApiKeyCredential& credential : server.auth.admin_api_keys) {
    text += fmt::format("  admin key header {}: {}\n", credential.header_name, credential.value);
  }
  text += describe_store(config.store);

  const std::vector<std::string> buses = config.event_bus_names();
  text += fmt::format("buses ({}):\n", buses.size());
  for (const std::string& bus : buses) {
    const auto count = std::count_if(config.rules.begin(), config.rules.end(),
                                     [&](const Rule& rule) { return rule.event_bus_name == bus; });
    text += fmt::format("  {}: {} rule{}\n", bus, count, count == 1 ? "" : "s");
  }

  text += fmt::format("rules ({}):\n", config.rules.size());
  for (const Rule& rule : config.rules) {
    text += fmt::format("  {} (bus {}, {})\n", rule.name, rule.event_bus_name,
                        rule.state == RuleState::kEnabled ? "ENABLED" : "DISABLED");
    for (const Target& target : rule.targets) {
      text += fmt::format("    target {} -> {}, input: {}{}\n", target.id,
                          describe_destination(target), describe_target_input(target),
                          target.body_encoding == BodyEncoding::kForm ? ", sent as form" : "");
    }
  }

  text += fmt::format("connections ({}):\n", config.connections.size());
  for (const Connection& connection : config.connections) {
    text += fmt::format("  {} ({})", connection.name,
                        authorization_type_name(connection.authorization_type));
    switch (connection.authorization_type) {
      case AuthorizationType::kApiKey:
        text +=
            fmt::format("\n      header {}: {}", connection.api_key_name, connection.api_key_value);
        break;
      case AuthorizationType::kBasic:
        text +=
            fmt::format("\n      user {}, password {}", connection.username, connection.password);
        break;
      case AuthorizationType::kOAuthClientCredentials:
        text += fmt::format("\n      client {}, secret {}, token {} {}", connection.client_id,
                            connection.client_secret, connection.oauth_http_method,
                            redact_url(connection.authorization_endpoint));
        break;
    }
    const HttpParameterSet& extra = connection.invocation_http_parameters;
    text += describe_parameters("header", extra.header_parameters);
    text += describe_parameters("query", extra.query_string_parameters);
    text += describe_parameters("body", extra.body_parameters);
    text += "\n";
  }

  text += fmt::format("api destinations ({}):\n", config.api_destinations.size());
  for (const ApiDestination& destination : config.api_destinations) {
    text += fmt::format("  {}: {} {} (connection {}, {}/s)\n", destination.name,
                        destination.http_method, redact_url(destination.invocation_endpoint),
                        destination.connection_name, destination.invocation_rate_limit_per_second);
  }
  if (!config.archives.empty()) {
    text += fmt::format("archives ({}):\n", config.archives.size());
    for (const Archive& archive : config.archives) {
      text += fmt::format(
          "  {} (bus {}): {}, {}\n", archive.name, archive.event_bus_name,
          archive.event_pattern.empty() ? "every event" : "events matching its pattern",
          archive.retention_days == 0 ? std::string("kept indefinitely")
                                      : fmt::format("kept {} day{}", archive.retention_days,
                                                    archive.retention_days == 1 ? "" : "s"));
    }
  }
  // The name rules above miss a secret reused under an ordinary name, or in a URL piece they do
  // not parse: every configured value is masked wherever it appears, in any encoding.
  return Redactor(config.secret_values()).redact(text);
}

}  // namespace hikyaku::config
