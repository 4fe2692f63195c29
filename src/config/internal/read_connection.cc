// The Connections section: CreateConnection's fields, one AuthParameters block per type.

#include <fmt/format.h>

#include <utility>
#include <vector>

#include "config/internal/sections.h"

namespace hikyaku::config::internal {
namespace {

constexpr size_t kMaxHttpParameters = 100;  // AWS's limit per list

void read_http_parameter_list(YamlReader& reader, const YAML::Node& node, const std::string& path,
                              std::vector<HttpParameter>& out) {
  if (!reader.check_sequence(node, path)) {
    return;
  }
  if (node.size() > kMaxHttpParameters) {
    reader.add_error(node, path,
                     fmt::format("has {} items; the limit is {}", node.size(), kMaxHttpParameters));
  }
  for (size_t i = 0; i < node.size(); ++i) {
    const std::string item_path = index(path, i);
    if (!reader.check_map(node[i], item_path, {"Key", "Value", "IsValueSecret"})) {
      continue;
    }
    HttpParameter parameter;
    if (reader.require(node[i], item_path, "Key")) {
      reader.read_string_into(node[i], item_path, "Key", parameter.key);
    }
    if (reader.require(node[i], item_path, "Value")) {
      reader.read_secret_into(node[i], item_path, "Value", parameter.value);
    }
    if (const YAML::Node secret = node[i]["IsValueSecret"]) {
      parameter.is_value_secret =
          reader.read_bool(secret, join(item_path, "IsValueSecret")).value_or(false);
    }
    out.push_back(std::move(parameter));
  }
}

void read_http_parameter_set(YamlReader& reader, const YAML::Node& node, const std::string& path,
                             HttpParameterSet& out) {
  if (!reader.check_map(node, path,
                        {"HeaderParameters", "QueryStringParameters", "BodyParameters"})) {
    return;
  }
  if (const YAML::Node list = node["HeaderParameters"]) {
    read_http_parameter_list(reader, list, join(path, "HeaderParameters"), out.header_parameters);
  }
  if (const YAML::Node list = node["QueryStringParameters"]) {
    read_http_parameter_list(reader, list, join(path, "QueryStringParameters"),
                             out.query_string_parameters);
  }
  if (const YAML::Node list = node["BodyParameters"]) {
    read_http_parameter_list(reader, list, join(path, "BodyParameters"), out.body_parameters);
  }
}

void read_api_key_block(YamlReader& reader, const YAML::Node& block, const std::string& path,
                        Connection& connection) {
  if (!reader.check_map(block, path, {"ApiKeyName", "ApiKeyValue"})) {
    return;
  }
  if (reader.require(block, path, "ApiKeyName")) {
    reader.read_string_into(block, path, "ApiKeyName", connection.api_key_name);
  }
  if (reader.require(block, path, "ApiKeyValue")) {
    reader.read_secret_into(block, path, "ApiKeyValue", connection.api_key_value);
  }
}

void read_basic_block(YamlReader& reader, const YAML::Node& block, const std::string& path,
                      Connection& connection) {
  if (!reader.check_map(block, path, {"Username", "Password"})) {
    return;
  }
  if (reader.require(block, path, "Username")) {
    reader.read_string_into(block, path, "Username", connection.username);
  }
  if (reader.require(block, path, "Password")) {
    reader.read_secret_into(block, path, "Password", connection.password);
  }
}

void read_client_parameters(YamlReader& reader, const YAML::Node& client,
                            const std::string& client_path, Connection& connection) {
  if (!reader.check_map(client, client_path, {"ClientID", "ClientSecret"})) {
    return;
  }
  if (reader.require(client, client_path, "ClientID")) {
    reader.read_string_into(client, client_path, "ClientID", connection.client_id);
  }
  if (reader.require(client, client_path, "ClientSecret")) {
    reader.read_secret_into(client, client_path, "ClientSecret", connection.client_secret);
  }
}

void read_oauth_block(YamlReader& reader, const YAML::Node& block, const std::string& path,
                      Connection& connection) {
  if (!reader.check_map(
          block, path,
          {"ClientParameters", "AuthorizationEndpoint", "HttpMethod", "OAuthHttpParameters"})) {
    return;
  }
  if (reader.require(block, path, "ClientParameters")) {
    read_client_parameters(reader, block["ClientParameters"], join(path, "ClientParameters"),
                           connection);
  }
  if (reader.require(block, path, "AuthorizationEndpoint") &&
      reader.read_string_into(block, path, "AuthorizationEndpoint",
                              connection.authorization_endpoint)) {
    check_url(reader, block["AuthorizationEndpoint"], join(path, "AuthorizationEndpoint"),
              connection.authorization_endpoint);
  }
  if (reader.require(block, path, "HttpMethod")) {
    connection.oauth_http_method =
        reader.read_enum(block["HttpMethod"], join(path, "HttpMethod"), {"GET", "POST", "PUT"})
            .value_or("");
  }
  if (const YAML::Node parameters = block["OAuthHttpParameters"]) {
    read_http_parameter_set(reader, parameters, join(path, "OAuthHttpParameters"),
                            connection.oauth_http_parameters);
  }
}

// AuthParameters: InvocationHttpParameters, and exactly the block that matches `type`, as
// CreateConnection requires.
void read_auth_parameters(YamlReader& reader, const YAML::Node& auth, const std::string& auth_path,
                          const std::string& type, Connection& connection) {
  if (!reader.check_map(auth, auth_path,
                        {"ApiKeyAuthParameters", "BasicAuthParameters", "OAuthParameters",
                         "InvocationHttpParameters"})) {
    return;
  }
  if (const YAML::Node parameters = auth["InvocationHttpParameters"]) {
    read_http_parameter_set(reader, parameters, join(auth_path, "InvocationHttpParameters"),
                            connection.invocation_http_parameters);
  }
  const std::string_view wanted = type == "API_KEY" ? "ApiKeyAuthParameters"
                                  : type == "BASIC" ? "BasicAuthParameters"
                                                    : "OAuthParameters";
  bool wrong_block = false;
  for (std::string_view block :
       {"ApiKeyAuthParameters", "BasicAuthParameters", "OAuthParameters"}) {
    if (block != wanted && auth[std::string(block)]) {
      reader.add_error(auth[std::string(block)], join(auth_path, block),
                       fmt::format("does not apply to AuthorizationType {}; use {}", type, wanted));
      wrong_block = true;
    }
  }
  if (wrong_block && !auth[std::string(wanted)]) {
    return;  // one message says both what is wrong and what is expected
  }
  if (!reader.require(auth, auth_path, wanted)) {
    return;
  }
  const YAML::Node block = auth[std::string(wanted)];
  const std::string block_path = join(auth_path, wanted);
  if (type == "API_KEY") {
    read_api_key_block(reader, block, block_path, connection);
  } else if (type == "BASIC") {
    read_basic_block(reader, block, block_path, connection);
  } else {
    read_oauth_block(reader, block, block_path, connection);
  }
}

}  // namespace

Connection read_connection(YamlReader& reader, const YAML::Node& node, const std::string& path) {
  Connection connection;
  connection.location = location_of(node);
  if (!reader.check_map(node, path,
                        {"Name", "Description", "AuthorizationType", "AuthParameters"})) {
    return connection;
  }
  read_name(reader, node, path, connection.name);
  reader.read_string_into(node, path, "Description", connection.description);
  std::optional<std::string> type;
  if (reader.require(node, path, "AuthorizationType")) {
    type = reader.read_enum(node["AuthorizationType"], join(path, "AuthorizationType"),
                            {"API_KEY", "BASIC", "OAUTH_CLIENT_CREDENTIALS"});
  }
  if (type == "BASIC") {
    connection.authorization_type = AuthorizationType::kBasic;
  } else if (type == "OAUTH_CLIENT_CREDENTIALS") {
    connection.authorization_type = AuthorizationType::kOAuthClientCredentials;
  }
  if (!reader.require(node, path, "AuthParameters") || !type) {
    return connection;
  }
  read_auth_parameters(reader, node["AuthParameters"], join(path, "AuthParameters"), *type,
                       connection);
  return connection;
}

}  // namespace hikyaku::config::internal
