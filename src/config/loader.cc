// Loading: YAML nodes -> Config structs, collecting every error with its location and key path.

#include <fmt/format.h>
#include <simdjson.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <set>
#include <sstream>
#include <type_traits>

#include "config/config.h"
#include "config/internal/substitute.h"
#include "config/internal/validate_hooks.h"
#include "core/json_writer.h"
#include "core/redact.h"

namespace hikyaku::config {
namespace {

constexpr int kMaxPatternDepth = 64;
constexpr size_t kMaxTargetsPerRule = 5;  // AWS's limit per rule

// Case-insensitive edit distance, for "did you mean" hints.
size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> previous(b.size() + 1);
  std::vector<size_t> current(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) {
    previous[j] = j;
  }
  for (size_t i = 1; i <= a.size(); ++i) {
    current[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const bool same = std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                        std::tolower(static_cast<unsigned char>(b[j - 1]));
      current[j] =
          std::min({previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (same ? 0 : 1)});
    }
    std::swap(previous, current);
  }
  return previous[b.size()];
}

template <typename Names>
std::string did_you_mean(std::string_view given, const Names& candidates) {
  std::string best;
  size_t best_distance = std::max<size_t>(2, given.size() / 3) + 1;
  for (const auto& candidate : candidates) {
    const size_t distance = edit_distance(given, candidate);
    if (distance < best_distance) {
      best_distance = distance;
      best = std::string(candidate);
    }
  }
  return best.empty() ? "" : fmt::format(" (did you mean \"{}\"?)", best);
}

bool is_resource_name(std::string_view name) {
  if (name.empty() || name.size() > 64) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
  });
}

// A strict JSON number token (YAML's plain scalars that look like JSON numbers become numbers).
bool is_json_number(std::string_view text) {
  size_t i = 0;
  auto digit = [&](size_t k) { return k < text.size() && text[k] >= '0' && text[k] <= '9'; };
  if (i < text.size() && text[i] == '-') {
    ++i;
  }
  if (!digit(i)) {
    return false;
  }
  if (text[i] == '0') {
    ++i;
  } else {
    while (digit(i)) {
      ++i;
    }
  }
  if (i < text.size() && text[i] == '.') {
    ++i;
    if (!digit(i)) {
      return false;
    }
    while (digit(i)) {
      ++i;
    }
  }
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
      ++i;
    }
    if (!digit(i)) {
      return false;
    }
    while (digit(i)) {
      ++i;
    }
  }
  return i == text.size();
}

class Loader {
 public:
  Loader(std::string file, const LoadOptions& options) : file_(std::move(file)), options_(options) {
    if (options_.base_directory.empty() && !file_.empty()) {
      options_.base_directory = std::filesystem::path(file_).parent_path().string();
    }
  }

  LoadResult load(std::string_view text) {
    YAML::Node root;
    try {
      root = YAML::Load(std::string(text));
    } catch (const YAML::Exception& e) {
      ConfigError error{file_, {e.mark.line + 1, e.mark.column + 1}, "", "invalid YAML: " + e.msg};
      if (e.mark.is_null()) {
        error.location = {};
      }
      return {std::nullopt, {error}};
    }
    Config config;
    config.file = file_;
    if (root.IsNull()) {
      add_error(root, "", "the config is empty; it needs at least Rules");
    } else if (!root.IsMap()) {
      add_error(root, "",
                "the config must be a mapping with keys Server, Store, Connections, "
                "ApiDestinations, Rules");
    } else {
      read_root(root, config);
      if (errors_.empty()) {
        cross_check(config);
      }
    }
    LoadResult result;
    result.errors = std::move(errors_);
    if (result.errors.empty()) {
      result.config = std::move(config);
    }
    return result;
  }

 private:
  using Keys = std::initializer_list<std::string_view>;

  void add_error(const YAML::Node& node, const std::string& path, std::string message) {
    SourceLocation location;
    if (node.IsDefined() && !node.Mark().is_null()) {
      location = {node.Mark().line + 1, node.Mark().column + 1};
    }
    errors_.push_back({file_, location, path, std::move(message)});
  }

  void add_error(SourceLocation location, const std::string& path, std::string message) {
    errors_.push_back({file_, location, path, std::move(message)});
  }

  static SourceLocation location_of(const YAML::Node& node) {
    if (!node.IsDefined() || node.Mark().is_null()) {
      return {};
    }
    return {node.Mark().line + 1, node.Mark().column + 1};
  }

  static std::string join(const std::string& path, std::string_view key) {
    return path.empty() ? std::string(key) : path + "." + std::string(key);
  }

  static std::string index(const std::string& path, size_t i) {
    return fmt::format("{}[{}]", path, i);
  }

  static const char* kind_name(const YAML::Node& node) {
    switch (node.Type()) {
      case YAML::NodeType::Map:
        return "a mapping";
      case YAML::NodeType::Sequence:
        return "a list";
      case YAML::NodeType::Scalar:
        return "a scalar";
      case YAML::NodeType::Null:
        return "null";
      case YAML::NodeType::Undefined:
        return "nothing";
    }
    return "unknown";
  }

  // Checks that `node` is a mapping whose keys are all in `allowed`, reporting unknown and
  // duplicate keys. Returns false when it is not a mapping.
  bool check_map(const YAML::Node& node, const std::string& path, Keys allowed) {
    if (!node.IsMap()) {
      add_error(node, path, fmt::format("must be a mapping, got {}", kind_name(node)));
      return false;
    }
    std::set<std::string> seen;
    for (const auto& entry : node) {
      const std::string key = entry.first.Scalar();
      if (!seen.insert(key).second) {
        add_error(entry.first, join(path, key), "duplicate key");
        continue;
      }
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        std::string allowed_list;
        for (std::string_view name : allowed) {
          allowed_list += allowed_list.empty() ? "" : ", ";
          allowed_list += name;
        }
        add_error(entry.first, join(path, key),
                  fmt::format("unknown key{}; allowed here: {}", did_you_mean(key, allowed),
                              allowed_list));
      }
    }
    return true;
  }

  bool require(const YAML::Node& parent, const std::string& path, std::string_view key) {
    if (parent[std::string(key)]) {
      return true;
    }
    add_error(parent, join(path, key), "is required");
    return false;
  }

  // A scalar as a string with ${...} resolved. `secret` keeps resolved values out of messages.
  std::optional<std::string> read_string(const YAML::Node& node, const std::string& path) {
    if (!node.IsScalar()) {
      add_error(node, path, fmt::format("must be a string, got {}", kind_name(node)));
      return std::nullopt;
    }
    Result<internal::Substitution> resolved =
        internal::substitute(node.Scalar(), options_.environment, options_.base_directory);
    if (!resolved.has_value()) {
      add_error(node, path, resolved.error().message());
      return std::nullopt;
    }
    return std::move(resolved->value);
  }

  // Returns false when the key is absent or its value could not be read (already reported).
  bool read_string_into(const YAML::Node& parent, const std::string& path, std::string_view key,
                        std::string& out) {
    const YAML::Node node = parent[std::string(key)];
    if (!node) {
      return false;
    }
    if (auto value = read_string(node, join(path, key))) {
      out = std::move(*value);
      return true;
    }
    return false;
  }

  void read_secret_into(const YAML::Node& parent, const std::string& path, std::string_view key,
                        Secret& out) {
    std::string value;
    read_string_into(parent, path, key, value);
    out = Secret(std::move(value));
  }

  std::optional<int64_t> read_integer(const YAML::Node& node, const std::string& path,
                                      int64_t minimum, int64_t maximum) {
    std::optional<std::string> text = read_string(node, path);
    if (!text) {
      return std::nullopt;
    }
    int64_t value = 0;
    const char* begin = text->c_str();
    char* end = nullptr;
    errno = 0;
    value = std::strtoll(begin, &end, 10);
    if (text->empty() || *end != '\0' || errno != 0) {
      add_error(node, path, fmt::format("must be an integer, got \"{}\"", *text));
      return std::nullopt;
    }
    if (value < minimum || value > maximum) {
      add_error(node, path,
                fmt::format("must be between {} and {}, got {}", minimum, maximum, value));
      return std::nullopt;
    }
    return value;
  }

  std::optional<bool> read_bool(const YAML::Node& node, const std::string& path) {
    std::optional<std::string> text = read_string(node, path);
    if (!text) {
      return std::nullopt;
    }
    if (*text == "true" || *text == "True" || *text == "TRUE") {
      return true;
    }
    if (*text == "false" || *text == "False" || *text == "FALSE") {
      return false;
    }
    add_error(node, path, fmt::format("must be true or false, got \"{}\"", *text));
    return std::nullopt;
  }

  // One of `choices`, exactly (AWS's enums are case-sensitive).
  std::optional<std::string> read_enum(const YAML::Node& node, const std::string& path,
                                       Keys choices) {
    std::optional<std::string> text = read_string(node, path);
    if (!text) {
      return std::nullopt;
    }
    if (std::find(choices.begin(), choices.end(), *text) != choices.end()) {
      return text;
    }
    std::string list;
    for (std::string_view choice : choices) {
      list += list.empty() ? "" : " | ";
      list += choice;
    }
    add_error(
        node, path,
        fmt::format("must be one of {}, got \"{}\"{}", list, *text, did_you_mean(*text, choices)));
    return std::nullopt;
  }

  // Returns the sequence's items, or reports that `node` is not a list.
  bool check_sequence(const YAML::Node& node, const std::string& path) {
    if (node.IsSequence()) {
      return true;
    }
    add_error(node, path, fmt::format("must be a list, got {}", kind_name(node)));
    return false;
  }

  // --- JSON text from YAML (EventPattern mappings, Input) ---------------------------------------

  bool append_json(const YAML::Node& node, const std::string& path, int depth, std::string& out) {
    if (depth > kMaxPatternDepth) {
      add_error(node, path, fmt::format("nested deeper than {} levels", kMaxPatternDepth));
      return false;
    }
    switch (node.Type()) {
      case YAML::NodeType::Map: {
        out += '{';
        bool first = true;
        for (const auto& entry : node) {
          if (!entry.first.IsScalar()) {
            add_error(entry.first, path, "keys must be strings");
            return false;
          }
          out += first ? "" : ",";
          first = false;
          append_json_string(out, entry.first.Scalar());
          out += ':';
          if (!append_json(entry.second, join(path, entry.first.Scalar()), depth + 1, out)) {
            return false;
          }
        }
        out += '}';
        return true;
      }
      case YAML::NodeType::Sequence: {
        out += '[';
        for (size_t i = 0; i < node.size(); ++i) {
          out += i == 0 ? "" : ",";
          if (!append_json(node[i], index(path, i), depth + 1, out)) {
            return false;
          }
        }
        out += ']';
        return true;
      }
      case YAML::NodeType::Null:
        out += "null";
        return true;
      case YAML::NodeType::Scalar: {
        const bool quoted = node.Tag() == "!";
        std::optional<std::string> value = read_string(node, path);
        if (!value) {
          return false;
        }
        if (!quoted) {
          if (*value == "null" || *value == "~") {
            out += "null";
            return true;
          }
          if (*value == "true" || *value == "false") {
            out += *value;
            return true;
          }
          if (is_json_number(*value)) {
            out += *value;
            return true;
          }
        }
        append_json_string(out, *value);
        return true;
      }
      case YAML::NodeType::Undefined:
        break;
    }
    add_error(node, path, "has no value");
    return false;
  }

  // A value that AWS takes as a JSON string (EventPattern, Input): a JSON string in the file, or
  // a YAML mapping/list converted to JSON text. Checked to be well-formed JSON.
  std::optional<std::string> read_json_text(const YAML::Node& node, const std::string& path) {
    std::string json;
    if (node.IsScalar() && node.Tag() == "!") {
      std::optional<std::string> text = read_string(node, path);
      if (!text) {
        return std::nullopt;
      }
      json = std::move(*text);
    } else if (!append_json(node, path, 0, json)) {
      return std::nullopt;
    }
    simdjson::dom::parser parser;
    simdjson::dom::element element;
    if (auto error = parser.parse(json).get(element); error != simdjson::SUCCESS) {
      add_error(node, path, fmt::format("is not valid JSON: {}", simdjson::error_message(error)));
      return std::nullopt;
    }
    return json;
  }

  // --- Sections ----------------------------------------------------------------------------------

  void read_root(const YAML::Node& root, Config& config) {
    check_map(root, "", {"Server", "Store", "Connections", "ApiDestinations", "Rules"});
    if (const YAML::Node server = root["Server"]) {
      read_server(server, config.server);
    }
    if (const YAML::Node store = root["Store"]) {
      if (check_map(store, "Store", {"Sqlite"})) {
        if (const YAML::Node sqlite = store["Sqlite"]) {
          if (check_map(sqlite, "Store.Sqlite", {"Path", "Synchronous"})) {
            read_string_into(sqlite, "Store.Sqlite", "Path", config.store.sqlite.path);
            if (config.store.sqlite.path.empty()) {
              add_error(sqlite, "Store.Sqlite.Path", "must not be empty");
            }
            if (const YAML::Node synchronous = sqlite["Synchronous"]) {
              if (read_enum(synchronous, "Store.Sqlite.Synchronous", {"FULL", "NORMAL"}) ==
                  "NORMAL") {
                config.store.sqlite.synchronous = SqliteSynchronous::kNormal;
              }
            }
          }
        }
      }
    }
    if (const YAML::Node connections = root["Connections"]) {
      if (check_sequence(connections, "Connections")) {
        for (size_t i = 0; i < connections.size(); ++i) {
          config.connections.push_back(read_connection(connections[i], index("Connections", i)));
        }
      }
    }
    if (const YAML::Node destinations = root["ApiDestinations"]) {
      if (check_sequence(destinations, "ApiDestinations")) {
        for (size_t i = 0; i < destinations.size(); ++i) {
          config.api_destinations.push_back(
              read_api_destination(destinations[i], index("ApiDestinations", i)));
        }
      }
    }
    const YAML::Node rules = root["Rules"];
    if (!rules) {
      add_error(root, "Rules", "is required: a router without rules delivers nothing");
    } else if (check_sequence(rules, "Rules")) {
      for (size_t i = 0; i < rules.size(); ++i) {
        config.rules.push_back(read_rule(rules[i], index("Rules", i)));
      }
    }
  }

  std::vector<std::string> read_string_list(const YAML::Node& node, const std::string& path) {
    std::vector<std::string> values;
    if (!check_sequence(node, path)) {
      return values;
    }
    for (size_t i = 0; i < node.size(); ++i) {
      if (auto value = read_string(node[i], index(path, i))) {
        values.push_back(std::move(*value));
      }
    }
    return values;
  }

  void read_server(const YAML::Node& server, ServerConfig& out) {
    if (!check_map(server, "Server", {"Listen", "Account", "Region", "Auth", "Tls", "Limits"})) {
      return;
    }
    if (read_string_into(server, "Server", "Listen", out.listen)) {
      check_listen(server["Listen"], out.listen);
    }
    if (read_string_into(server, "Server", "Account", out.account) &&
        (out.account.size() != 12 || !std::all_of(out.account.begin(), out.account.end(),
                                                  [](char c) { return c >= '0' && c <= '9'; }))) {
      add_error(server["Account"], "Server.Account",
                fmt::format("must be a 12-digit AWS account id, got \"{}\"", out.account));
    }
    if (server["Region"]) {
      std::string region;
      if (read_string_into(server, "Server", "Region", region)) {
        out.region = std::move(region);
      }
    }
    if (const YAML::Node auth = server["Auth"]) {
      read_server_auth(auth, out.auth);
    }
    if (const YAML::Node tls = server["Tls"]) {
      if (check_map(tls, "Server.Tls", {"CertFile", "KeyFile"})) {
        TlsConfig config;
        if (require(tls, "Server.Tls", "CertFile")) {
          read_string_into(tls, "Server.Tls", "CertFile", config.cert_file);
        }
        if (require(tls, "Server.Tls", "KeyFile")) {
          read_string_into(tls, "Server.Tls", "KeyFile", config.key_file);
        }
        out.tls = std::move(config);
      }
    }
    if (const YAML::Node limits = server["Limits"]) {
      const std::string path = "Server.Limits";
      if (check_map(limits, path,
                    {"MaxEntryBytes", "MaxBodyBytes", "MaxHeaderBytes", "MaxConnections",
                     "RequestTimeoutSeconds"})) {
        ServerLimits& l = out.limits;
        auto integer = [&](std::string_view key, int64_t minimum, int64_t maximum, auto& field) {
          if (const YAML::Node node = limits[std::string(key)]) {
            if (auto value = read_integer(node, join(path, key), minimum, maximum)) {
              field = static_cast<std::remove_reference_t<decltype(field)>>(*value);
            }
          }
        };
        integer("MaxEntryBytes", 1, 16 << 20, l.max_entry_bytes);
        integer("MaxBodyBytes", 1024, 64 << 20, l.max_body_bytes);
        integer("MaxHeaderBytes", 1024, 1 << 20, l.max_header_bytes);
        integer("MaxConnections", 1, 1'000'000, l.max_connections);
        integer("RequestTimeoutSeconds", 1, 3600, l.request_timeout_seconds);
      }
    }
  }

  void read_server_auth(const YAML::Node& auth, ServerAuthConfig& out) {
    const std::string path = "Server.Auth";
    if (!check_map(auth, path, {"SigV4", "ApiKeys"})) {
      return;
    }
    if (const YAML::Node sigv4 = auth["SigV4"]) {
      const std::string sigv4_path = join(path, "SigV4");
      if (check_map(sigv4, sigv4_path, {"Credentials"}) &&
          require(sigv4, sigv4_path, "Credentials")) {
        const YAML::Node list = sigv4["Credentials"];
        const std::string list_path = join(sigv4_path, "Credentials");
        if (check_sequence(list, list_path)) {
          for (size_t i = 0; i < list.size(); ++i) {
            const std::string item = index(list_path, i);
            if (!check_map(list[i], item, {"AccessKeyId", "SecretAccessKey", "AllowedSources"})) {
              continue;
            }
            SigV4Credential credential;
            if (require(list[i], item, "AccessKeyId")) {
              read_string_into(list[i], item, "AccessKeyId", credential.access_key_id);
            }
            if (require(list[i], item, "SecretAccessKey")) {
              read_secret_into(list[i], item, "SecretAccessKey", credential.secret_access_key);
            }
            if (const YAML::Node sources = list[i]["AllowedSources"]) {
              credential.allowed_sources = read_string_list(sources, join(item, "AllowedSources"));
            }
            out.sigv4_credentials.push_back(std::move(credential));
          }
        }
      }
    }
    if (const YAML::Node keys = auth["ApiKeys"]) {
      const std::string list_path = join(path, "ApiKeys");
      if (check_sequence(keys, list_path)) {
        for (size_t i = 0; i < keys.size(); ++i) {
          const std::string item = index(list_path, i);
          if (!check_map(keys[i], item, {"HeaderName", "Value", "AllowedSources"})) {
            continue;
          }
          ApiKeyCredential credential;
          if (require(keys[i], item, "HeaderName")) {
            read_string_into(keys[i], item, "HeaderName", credential.header_name);
          }
          if (require(keys[i], item, "Value")) {
            read_secret_into(keys[i], item, "Value", credential.value);
            if (credential.value.empty()) {
              add_error(keys[i]["Value"], join(item, "Value"),
                        "must not be empty (an empty key would let anyone in)");
            }
          }
          if (const YAML::Node sources = keys[i]["AllowedSources"]) {
            credential.allowed_sources = read_string_list(sources, join(item, "AllowedSources"));
          }
          out.api_keys.push_back(std::move(credential));
        }
      }
    }
  }

  void check_listen(const YAML::Node& node, const std::string& listen) {
    if (!node) {
      return;
    }
    const size_t colon = listen.rfind(':');
    const std::string port = colon == std::string::npos ? "" : listen.substr(colon + 1);
    char* end = nullptr;
    const long number = port.empty() ? -1 : std::strtol(port.c_str(), &end, 10);
    if (colon == std::string::npos || colon == 0 || port.empty() || *end != '\0' || number < 0 ||
        number > 65535) {
      add_error(node, "Server.Listen",
                fmt::format("must be HOST:PORT with a port from 0 to 65535, got \"{}\"", listen));
    }
  }

  void read_http_parameter_list(const YAML::Node& node, const std::string& path,
                                std::vector<HttpParameter>& out) {
    if (!check_sequence(node, path)) {
      return;
    }
    if (node.size() > 100) {
      add_error(node, path, fmt::format("has {} items; the limit is 100", node.size()));
    }
    for (size_t i = 0; i < node.size(); ++i) {
      const std::string item_path = index(path, i);
      if (!check_map(node[i], item_path, {"Key", "Value", "IsValueSecret"})) {
        continue;
      }
      HttpParameter parameter;
      if (require(node[i], item_path, "Key")) {
        read_string_into(node[i], item_path, "Key", parameter.key);
      }
      if (require(node[i], item_path, "Value")) {
        read_secret_into(node[i], item_path, "Value", parameter.value);
      }
      if (const YAML::Node secret = node[i]["IsValueSecret"]) {
        parameter.is_value_secret =
            read_bool(secret, join(item_path, "IsValueSecret")).value_or(false);
      }
      out.push_back(std::move(parameter));
    }
  }

  void read_http_parameter_set(const YAML::Node& node, const std::string& path,
                               HttpParameterSet& out) {
    if (!check_map(node, path, {"HeaderParameters", "QueryStringParameters", "BodyParameters"})) {
      return;
    }
    if (const YAML::Node list = node["HeaderParameters"]) {
      read_http_parameter_list(list, join(path, "HeaderParameters"), out.header_parameters);
    }
    if (const YAML::Node list = node["QueryStringParameters"]) {
      read_http_parameter_list(list, join(path, "QueryStringParameters"),
                               out.query_string_parameters);
    }
    if (const YAML::Node list = node["BodyParameters"]) {
      read_http_parameter_list(list, join(path, "BodyParameters"), out.body_parameters);
    }
  }

  void read_name(const YAML::Node& node, const std::string& path, std::string& out) {
    if (!require(node, path, "Name")) {
      return;
    }
    read_string_into(node, path, "Name", out);
    if (!out.empty() && !is_resource_name(out)) {
      add_error(node["Name"], join(path, "Name"),
                fmt::format("\"{}\" must be 1 to 64 characters of [.-_A-Za-z0-9]", out));
    }
  }

  Connection read_connection(const YAML::Node& node, const std::string& path) {
    Connection connection;
    connection.location = location_of(node);
    if (!check_map(node, path, {"Name", "Description", "AuthorizationType", "AuthParameters"})) {
      return connection;
    }
    read_name(node, path, connection.name);
    read_string_into(node, path, "Description", connection.description);
    std::optional<std::string> type;
    if (require(node, path, "AuthorizationType")) {
      type = read_enum(node["AuthorizationType"], join(path, "AuthorizationType"),
                       {"API_KEY", "BASIC", "OAUTH_CLIENT_CREDENTIALS"});
    }
    if (type == "BASIC") {
      connection.authorization_type = AuthorizationType::kBasic;
    } else if (type == "OAUTH_CLIENT_CREDENTIALS") {
      connection.authorization_type = AuthorizationType::kOAuthClientCredentials;
    }
    if (!require(node, path, "AuthParameters") || !type) {
      return connection;
    }
    const YAML::Node auth = node["AuthParameters"];
    const std::string auth_path = join(path, "AuthParameters");
    if (!check_map(auth, auth_path,
                   {"ApiKeyAuthParameters", "BasicAuthParameters", "OAuthParameters",
                    "InvocationHttpParameters"})) {
      return connection;
    }
    if (const YAML::Node parameters = auth["InvocationHttpParameters"]) {
      read_http_parameter_set(parameters, join(auth_path, "InvocationHttpParameters"),
                              connection.invocation_http_parameters);
    }
    // Exactly the block that matches the type, as CreateConnection requires.
    const std::string_view wanted = *type == "API_KEY" ? "ApiKeyAuthParameters"
                                    : *type == "BASIC" ? "BasicAuthParameters"
                                                       : "OAuthParameters";
    bool wrong_block = false;
    for (std::string_view block :
         {"ApiKeyAuthParameters", "BasicAuthParameters", "OAuthParameters"}) {
      if (block != wanted && auth[std::string(block)]) {
        add_error(auth[std::string(block)], join(auth_path, block),
                  fmt::format("does not apply to AuthorizationType {}; use {}", *type, wanted));
        wrong_block = true;
      }
    }
    if (wrong_block && !auth[std::string(wanted)]) {
      return connection;  // one message says both what is wrong and what is expected
    }
    if (!require(auth, auth_path, wanted)) {
      return connection;
    }
    const YAML::Node block = auth[std::string(wanted)];
    const std::string block_path = join(auth_path, wanted);
    if (*type == "API_KEY") {
      if (check_map(block, block_path, {"ApiKeyName", "ApiKeyValue"})) {
        if (require(block, block_path, "ApiKeyName")) {
          read_string_into(block, block_path, "ApiKeyName", connection.api_key_name);
        }
        if (require(block, block_path, "ApiKeyValue")) {
          read_secret_into(block, block_path, "ApiKeyValue", connection.api_key_value);
        }
      }
    } else if (*type == "BASIC") {
      if (check_map(block, block_path, {"Username", "Password"})) {
        if (require(block, block_path, "Username")) {
          read_string_into(block, block_path, "Username", connection.username);
        }
        if (require(block, block_path, "Password")) {
          read_secret_into(block, block_path, "Password", connection.password);
        }
      }
    } else if (check_map(block, block_path,
                         {"ClientParameters", "AuthorizationEndpoint", "HttpMethod",
                          "OAuthHttpParameters"})) {
      if (require(block, block_path, "ClientParameters")) {
        const YAML::Node client = block["ClientParameters"];
        const std::string client_path = join(block_path, "ClientParameters");
        if (check_map(client, client_path, {"ClientID", "ClientSecret"})) {
          if (require(client, client_path, "ClientID")) {
            read_string_into(client, client_path, "ClientID", connection.client_id);
          }
          if (require(client, client_path, "ClientSecret")) {
            read_secret_into(client, client_path, "ClientSecret", connection.client_secret);
          }
        }
      }
      if (require(block, block_path, "AuthorizationEndpoint")) {
        if (read_string_into(block, block_path, "AuthorizationEndpoint",
                             connection.authorization_endpoint)) {
          check_url(block["AuthorizationEndpoint"], join(block_path, "AuthorizationEndpoint"),
                    connection.authorization_endpoint);
        }
      }
      if (require(block, block_path, "HttpMethod")) {
        connection.oauth_http_method =
            read_enum(block["HttpMethod"], join(block_path, "HttpMethod"), {"GET", "POST", "PUT"})
                .value_or("");
      }
      if (const YAML::Node parameters = block["OAuthHttpParameters"]) {
        read_http_parameter_set(parameters, join(block_path, "OAuthHttpParameters"),
                                connection.oauth_http_parameters);
      }
    }
    return connection;
  }

  void check_url(const YAML::Node& node, const std::string& path, const std::string& url) {
    const bool http = url.rfind("http://", 0) == 0;
    const bool https = url.rfind("https://", 0) == 0;
    const size_t host_start = https ? 8 : 7;
    if ((!http && !https) || url.size() <= host_start || url[host_start] == '/') {
      add_error(node, path,
                fmt::format("must be an http:// or https:// URL, got \"{}\"", redact_url(url)));
    } else if (url.size() > 2048) {
      add_error(node, path, fmt::format("is {} characters; the limit is 2048", url.size()));
    }
  }

  ApiDestination read_api_destination(const YAML::Node& node, const std::string& path) {
    ApiDestination destination;
    destination.location = location_of(node);
    if (!check_map(node, path,
                   {"Name", "Description", "ConnectionName", "ConnectionArn", "InvocationEndpoint",
                    "HttpMethod", "InvocationRateLimitPerSecond"})) {
      return destination;
    }
    read_name(node, path, destination.name);
    read_string_into(node, path, "Description", destination.description);
    if (node["ConnectionName"] && node["ConnectionArn"]) {
      add_error(node["ConnectionArn"], join(path, "ConnectionArn"),
                "give ConnectionName or ConnectionArn, not both");
    } else if (node["ConnectionArn"]) {
      std::string arn;
      read_string_into(node, path, "ConnectionArn", arn);
      destination.connection_name =
          name_from_arn(node["ConnectionArn"], join(path, "ConnectionArn"), arn, "connection");
    } else if (require(node, path, "ConnectionName")) {
      read_string_into(node, path, "ConnectionName", destination.connection_name);
    }
    destination.connection_location =
        location_of(node["ConnectionName"] ? node["ConnectionName"] : node["ConnectionArn"]);
    if (require(node, path, "InvocationEndpoint")) {
      if (read_string_into(node, path, "InvocationEndpoint", destination.invocation_endpoint)) {
        check_url(node["InvocationEndpoint"], join(path, "InvocationEndpoint"),
                  destination.invocation_endpoint);
      }
    }
    if (require(node, path, "HttpMethod")) {
      destination.http_method =
          read_enum(node["HttpMethod"], join(path, "HttpMethod"),
                    {"POST", "GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})
              .value_or("");
    }
    if (const YAML::Node rate = node["InvocationRateLimitPerSecond"]) {
      destination.invocation_rate_limit_per_second = static_cast<int>(
          read_integer(rate, join(path, "InvocationRateLimitPerSecond"), 1, 1'000'000)
              .value_or(destination.invocation_rate_limit_per_second));
    }
    return destination;
  }

  // arn:aws:events:REGION:ACCOUNT:KIND/NAME[/UUID] -> NAME
  std::string name_from_arn(const YAML::Node& node, const std::string& path, const std::string& arn,
                            std::string_view kind) {
    const std::string marker = fmt::format(":{}/", kind);
    const size_t start = arn.find(marker);
    if (arn.rfind("arn:", 0) != 0 || start == std::string::npos) {
      add_error(node, path,
                fmt::format("\"{}\" is not an EventBridge {} ARN "
                            "(arn:aws:events:REGION:ACCOUNT:{}/NAME/ID)",
                            arn, kind, kind));
      return "";
    }
    const std::string rest = arn.substr(start + marker.size());
    return rest.substr(0, rest.find('/'));
  }

  Rule read_rule(const YAML::Node& node, const std::string& path) {
    Rule rule;
    rule.location = location_of(node);
    if (!check_map(node, path,
                   {"Name", "Description", "EventBusName", "State", "EventPattern", "Targets"})) {
      return rule;
    }
    read_name(node, path, rule.name);
    read_string_into(node, path, "Description", rule.description);
    if (node["EventBusName"]) {
      read_string_into(node, path, "EventBusName", rule.event_bus_name);
      if (!is_resource_name(rule.event_bus_name)) {
        add_error(node["EventBusName"], join(path, "EventBusName"),
                  fmt::format("\"{}\" must be 1 to 64 characters of [.-_A-Za-z0-9]",
                              rule.event_bus_name));
      }
    }
    if (const YAML::Node state = node["State"]) {
      if (read_enum(state, join(path, "State"), {"ENABLED", "DISABLED"}) == "DISABLED") {
        rule.state = RuleState::kDisabled;
      }
    }
    if (require(node, path, "EventPattern")) {
      const YAML::Node pattern = node["EventPattern"];
      const std::string pattern_path = join(path, "EventPattern");
      if (std::optional<std::string> json = read_json_text(pattern, pattern_path)) {
        rule.event_pattern = std::move(*json);
        const Status status = internal::validate_event_pattern(rule.event_pattern);
        if (!status.ok()) {
          add_error(pattern, pattern_path,
                    fmt::format("invalid pattern in rule \"{}\": {}", rule.name, status.message()));
        }
      }
    }
    if (require(node, path, "Targets")) {
      const YAML::Node targets = node["Targets"];
      const std::string targets_path = join(path, "Targets");
      if (check_sequence(targets, targets_path)) {
        if (targets.size() == 0) {
          add_error(targets, targets_path, "must list at least one target");
        } else if (targets.size() > kMaxTargetsPerRule) {
          add_error(targets, targets_path,
                    fmt::format("has {} targets; a rule may have at most {}", targets.size(),
                                kMaxTargetsPerRule));
        }
        for (size_t i = 0; i < targets.size(); ++i) {
          const size_t errors_before = errors_.size();
          rule.targets.push_back(read_target(targets[i], index(targets_path, i)));
          const Target& target = rule.targets.back();
          const std::string target_path = index(targets_path, i);
          // Compile the input only when the target itself read cleanly (one message per fault).
          const Status status = errors_.size() == errors_before
                                    ? internal::validate_target_input(target)
                                    : ok_status();
          if (!status.ok()) {
            // The message starts with the offending member ("InputTransformer.InputTemplate: ...");
            // fold that into the key path.
            const std::string& message = status.message();
            const size_t colon = message.find(": ");
            const bool member_first = message.rfind("Input", 0) == 0 &&
                                      colon != std::string::npos && message.find(' ') > colon;
            add_error(target.location,
                      member_first ? target_path + "." + message.substr(0, colon) : target_path,
                      fmt::format("rule \"{}\" target \"{}\": {}", rule.name, target.id,
                                  member_first ? message.substr(colon + 2) : message));
          }
        }
      }
    }
    return rule;
  }

  Target read_target(const YAML::Node& node, const std::string& path) {
    Target target;
    target.location = location_of(node);
    if (!check_map(
            node, path,
            {"Id", "ApiDestination", "Arn", "Log", "Input", "InputPath", "InputTransformer",
             "BodyEncoding", "HttpParameters", "RetryPolicy", "DeadLetterConfig", "RoleArn"})) {
      return target;
    }
    if (require(node, path, "Id")) {
      read_string_into(node, path, "Id", target.id);
      if (!is_resource_name(target.id)) {
        add_error(node["Id"], join(path, "Id"),
                  fmt::format("\"{}\" must be 1 to 64 characters of [.-_A-Za-z0-9]", target.id));
      }
    }
    const int destinations =
        (node["ApiDestination"] ? 1 : 0) + (node["Arn"] ? 1 : 0) + (node["Log"] ? 1 : 0);
    if (destinations > 1) {
      add_error(node, path, "give exactly one of ApiDestination, Arn or Log");
    } else if (const YAML::Node log = node["Log"]) {
      const std::string log_path = join(path, "Log");
      if (check_map(log, log_path, {"Path"}) && require(log, log_path, "Path")) {
        LogTarget log_target;
        read_string_into(log, log_path, "Path", log_target.path);
        target.log = std::move(log_target);
      }
    } else if (node["ApiDestination"] || node["Arn"]) {
      const std::string key = node["ApiDestination"] ? "ApiDestination" : "Arn";
      target.api_destination_location = location_of(node[key]);
      std::string value;
      read_string_into(node, path, key, value);
      target.api_destination =
          value.rfind("arn:", 0) == 0
              ? name_from_arn(node[key], join(path, key), value, "api-destination")
              : value;
    } else {
      add_error(node, join(path, "ApiDestination"),
                "is required: name the API destination this target delivers to (or give Log)");
    }
    read_target_input(node, path, target);
    if (const YAML::Node encoding = node["BodyEncoding"]) {
      if (read_enum(encoding, join(path, "BodyEncoding"), {"JSON", "FORM"}) == "FORM") {
        target.body_encoding = BodyEncoding::kForm;
      }
    }
    if (const YAML::Node http = node["HttpParameters"]) {
      target.http_parameters = read_target_http_parameters(http, join(path, "HttpParameters"));
    }
    if (const YAML::Node retry = node["RetryPolicy"]) {
      const std::string retry_path = join(path, "RetryPolicy");
      if (check_map(retry, retry_path, {"MaximumRetryAttempts", "MaximumEventAgeInSeconds"})) {
        if (const YAML::Node attempts = retry["MaximumRetryAttempts"]) {
          target.retry_policy.maximum_retry_attempts = static_cast<int>(
              read_integer(attempts, join(retry_path, "MaximumRetryAttempts"), 0, 185)
                  .value_or(185));
        }
        if (const YAML::Node age = retry["MaximumEventAgeInSeconds"]) {
          target.retry_policy.maximum_event_age_in_seconds = static_cast<int>(
              read_integer(age, join(retry_path, "MaximumEventAgeInSeconds"), 60, 86400)
                  .value_or(86400));
        }
      }
    }
    if (const YAML::Node dlq = node["DeadLetterConfig"]) {
      const std::string dlq_path = join(path, "DeadLetterConfig");
      if (check_map(dlq, dlq_path, {"Arn"})) {
        DeadLetterConfig config;
        read_string_into(dlq, dlq_path, "Arn", config.arn);
        target.dead_letter_config = std::move(config);
      }
    }
    return target;
  }

  void read_target_input(const YAML::Node& node, const std::string& path, Target& target) {
    const int inputs =
        (node["Input"] ? 1 : 0) + (node["InputPath"] ? 1 : 0) + (node["InputTransformer"] ? 1 : 0);
    if (inputs > 1) {
      // AWS's PutTargets message for the same mistake.
      add_error(node, path,
                fmt::format("Only one of Input, InputPath, or InputTransformer must be provided "
                            "for target {}.",
                            target.id));
      return;
    }
    if (const YAML::Node input = node["Input"]) {
      target.input = read_json_text(input, join(path, "Input"));
    }
    if (node["InputPath"]) {
      std::string input_path;
      read_string_into(node, path, "InputPath", input_path);
      target.input_path = std::move(input_path);
    }
    if (const YAML::Node transformer = node["InputTransformer"]) {
      const std::string transformer_path = join(path, "InputTransformer");
      if (!check_map(transformer, transformer_path, {"InputPathsMap", "InputTemplate"})) {
        return;
      }
      InputTransformer result;
      if (const YAML::Node paths = transformer["InputPathsMap"]) {
        const std::string paths_path = join(transformer_path, "InputPathsMap");
        if (!paths.IsMap()) {
          add_error(paths, paths_path, fmt::format("must be a mapping, got {}", kind_name(paths)));
        } else {
          for (const auto& entry : paths) {
            const std::string key = entry.first.Scalar();
            if (std::optional<std::string> value =
                    read_string(entry.second, join(paths_path, key))) {
              result.input_paths_map.emplace_back(key, std::move(*value));
            }
          }
        }
      }
      if (require(transformer, transformer_path, "InputTemplate")) {
        read_string_into(transformer, transformer_path, "InputTemplate", result.input_template);
      }
      target.input_transformer = std::move(result);
    }
  }

  TargetHttpParameters read_target_http_parameters(const YAML::Node& node,
                                                   const std::string& path) {
    TargetHttpParameters parameters;
    if (!check_map(node, path,
                   {"PathParameterValues", "HeaderParameters", "QueryStringParameters"})) {
      return parameters;
    }
    if (const YAML::Node values = node["PathParameterValues"]) {
      const std::string values_path = join(path, "PathParameterValues");
      if (check_sequence(values, values_path)) {
        for (size_t i = 0; i < values.size(); ++i) {
          if (auto value = read_string(values[i], index(values_path, i))) {
            parameters.path_parameter_values.push_back(std::move(*value));
          }
        }
      }
    }
    auto read_pairs = [&](std::string_view key,
                          std::vector<std::pair<std::string, std::string>>& out) {
      const YAML::Node map = node[std::string(key)];
      if (!map) {
        return;
      }
      const std::string map_path = join(path, key);
      if (!map.IsMap()) {
        add_error(map, map_path, fmt::format("must be a mapping, got {}", kind_name(map)));
        return;
      }
      for (const auto& entry : map) {
        if (auto value = read_string(entry.second, join(map_path, entry.first.Scalar()))) {
          out.emplace_back(entry.first.Scalar(), std::move(*value));
        }
      }
    };
    read_pairs("HeaderParameters", parameters.header_parameters);
    read_pairs("QueryStringParameters", parameters.query_string_parameters);
    return parameters;
  }

  // --- Checks across sections --------------------------------------------------------------------

  template <typename Items, typename Name>
  void check_unique(const Items& items, std::string_view section, Name name_of) {
    std::set<std::string> seen;
    for (size_t i = 0; i < items.size(); ++i) {
      const std::string name = name_of(items[i]);
      if (!name.empty() && !seen.insert(name).second) {
        add_error(items[i].location, fmt::format("{}[{}].Name", section, i),
                  fmt::format("duplicate name \"{}\"", name));
      }
    }
  }

  void cross_check(Config& config) {
    check_unique(config.connections, "Connections", [](const Connection& c) { return c.name; });
    check_unique(config.api_destinations, "ApiDestinations",
                 [](const ApiDestination& d) { return d.name; });
    check_unique(config.rules, "Rules",
                 [](const Rule& r) { return r.event_bus_name + "/" + r.name; });

    std::vector<std::string> connection_names;
    for (const Connection& connection : config.connections) {
      connection_names.push_back(connection.name);
    }
    for (size_t i = 0; i < config.api_destinations.size(); ++i) {
      const ApiDestination& destination = config.api_destinations[i];
      if (!config.find_connection(destination.connection_name)) {
        add_error(destination.connection_location,
                  fmt::format("ApiDestinations[{}].ConnectionName", i),
                  fmt::format("no connection named \"{}\"{}", destination.connection_name,
                              did_you_mean(destination.connection_name, connection_names)));
      }
    }

    std::vector<std::string> destination_names;
    for (const ApiDestination& destination : config.api_destinations) {
      destination_names.push_back(destination.name);
    }
    for (size_t i = 0; i < config.rules.size(); ++i) {
      const Rule& rule = config.rules[i];
      std::set<std::string> target_ids;
      for (size_t j = 0; j < rule.targets.size(); ++j) {
        const Target& target = rule.targets[j];
        const std::string target_path = fmt::format("Rules[{}].Targets[{}]", i, j);
        if (!target_ids.insert(target.id).second) {
          add_error(target.location, target_path + ".Id",
                    fmt::format("duplicate target Id \"{}\" in rule \"{}\"", target.id, rule.name));
        }
        if (!target.log && !config.find_api_destination(target.api_destination)) {
          add_error(target.api_destination_location, target_path + ".ApiDestination",
                    fmt::format("no API destination named \"{}\"{}", target.api_destination,
                                did_you_mean(target.api_destination, destination_names)));
        }
      }
    }
  }

  std::string file_;
  LoadOptions options_;
  std::vector<ConfigError> errors_;
};

}  // namespace

EnvironmentLookup process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe): read at load
    if (value == nullptr) {
      return std::nullopt;
    }
    return std::string(value);
  };
}

std::string ConfigError::to_string() const {
  std::string text = file.empty() ? "<config>" : file;
  if (location.line > 0) {
    text += fmt::format(":{}:{}", location.line, location.column);
  }
  text += ": ";
  if (!key_path.empty()) {
    text += key_path;
    text += ": ";
  }
  text += message;
  return text;
}

LoadResult load_config_text(std::string_view text, const std::string& file_name,
                            const LoadOptions& options) {
  return Loader(file_name, options).load(text);
}

LoadResult load_config_file(const std::string& path, const LoadOptions& options) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return {std::nullopt, {{path, {}, "", "cannot open the config file"}}};
  }
  std::stringstream text;
  text << file.rdbuf();
  return load_config_text(text.str(), path, options);
}

Result<Config> load_config(const std::string& path, const LoadOptions& options) {
  LoadResult result = load_config_file(path, options);
  if (result.ok()) {
    return std::move(*result.config);
  }
  std::string message;
  for (const ConfigError& error : result.errors) {
    message += message.empty() ? "" : "\n";
    message += error.to_string();
  }
  return invalid_argument(std::move(message));
}

}  // namespace hikyaku::config
