// Loading: YAML text -> Config, collecting every error with its location and key path. The
// section readers are in internal/sections.h, the checks across sections in
// internal/cross_check.h.

#include <fmt/format.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <utility>

#include "config/config.h"
#include "config/internal/cross_check.h"
#include "config/internal/sections.h"
#include "config/internal/yaml_expansion.h"
#include "config/internal/yaml_reader.h"
#include "core/file.h"

namespace hikyaku::config {
namespace {

using internal::YamlReader;

void read_root(YamlReader& reader, const YAML::Node& root, Config& config) {
  reader.check_map(root, "",
                   {"Server", "Store", "Connections", "ApiDestinations", "Rules", "Archives"});
  if (const YAML::Node server = root["Server"]) {
    internal::read_server(reader, server, config.server);
  }
  if (const YAML::Node store = root["Store"]) {
    internal::read_store(reader, store, config.store);
  }
  if (const YAML::Node connections = root["Connections"]) {
    if (reader.check_sequence(connections, "Connections")) {
      for (size_t i = 0; i < connections.size(); ++i) {
        config.connections.push_back(
            internal::read_connection(reader, connections[i], internal::index("Connections", i)));
      }
    }
  }
  if (const YAML::Node destinations = root["ApiDestinations"]) {
    if (reader.check_sequence(destinations, "ApiDestinations")) {
      for (size_t i = 0; i < destinations.size(); ++i) {
        config.api_destinations.push_back(internal::read_api_destination(
            reader, destinations[i], internal::index("ApiDestinations", i)));
      }
    }
  }
  const YAML::Node rules = root["Rules"];
  if (!rules) {
    reader.add_error(root, "Rules", "is required: a router without rules delivers nothing");
  } else if (reader.check_sequence(rules, "Rules")) {
    for (size_t i = 0; i < rules.size(); ++i) {
      config.rules.push_back(internal::read_rule(reader, rules[i], internal::index("Rules", i)));
    }
  }
  if (const YAML::Node archives = root["Archives"]) {
    if (reader.check_sequence(archives, "Archives")) {
      for (size_t i = 0; i < archives.size(); ++i) {
        config.archives.push_back(
            internal::read_archive(reader, archives[i], internal::index("Archives", i)));
      }
    }
  }
}

LoadResult load(std::string_view text, const std::string& file, const LoadOptions& options) {
  if (std::optional<internal::ExpansionProblem> problem = internal::check_yaml_expansion(text)) {
    return {std::nullopt,
            {{file, problem->location, std::move(problem->key_path), std::move(problem->message)}},
            {}};
  }
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    ConfigError error{file, {e.mark.line + 1, e.mark.column + 1}, "", "invalid YAML: " + e.msg};
    if (e.mark.is_null()) {
      error.location = {};
    }
    return {std::nullopt, {error}, {}};
  }
  YamlReader reader(file, options);
  Config config;
  config.file = file;
  if (root.IsNull()) {
    reader.add_error(root, "", "the config is empty; it needs at least Rules");
  } else if (!root.IsMap()) {
    reader.add_error(root, "",
                     "the config must be a mapping with keys Server, Store, Connections, "
                     "ApiDestinations, Rules");
  } else {
    read_root(reader, root, config);
    if (reader.error_count() == 0) {
      internal::cross_check(reader, config);
    }
  }
  LoadResult result;
  result.errors = reader.take_errors();
  result.warnings = reader.take_warnings();
  if (result.errors.empty()) {
    result.config = std::move(config);
  }
  return result;
}

// A file that cannot be opened keeps its short message; otherwise read_file's reason (a folder,
// larger than the cap) without the path it repeats.
std::string config_file_error(const std::string& path, const Status& status) {
  if (::access(path.c_str(), R_OK) != 0) {
    return "cannot open the config file";
  }
  const std::string prefix = "cannot read " + path + ": ";
  const std::string& message = status.message();
  return "cannot read the config file: " +
         (message.starts_with(prefix) ? message.substr(prefix.size()) : message);
}

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
  return load(text, file_name, options);
}

LoadResult load_config_file(const std::string& path, const LoadOptions& options) {
  Result<std::string> text = read_file(path, kMaxConfigFileBytes);
  if (!text.has_value()) {
    return {std::nullopt, {{path, {}, "", config_file_error(path, text.error())}}, {}};
  }
  return load_config_text(*text, path, options);
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
