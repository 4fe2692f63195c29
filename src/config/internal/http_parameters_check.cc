#include "config/internal/http_parameters_check.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <string_view>

#include "transform/transformer.h"

namespace hikyaku::config::internal {
namespace {

size_t path_wildcards(std::string_view url) {
  const size_t scheme = url.find("://");
  const size_t authority = scheme == std::string_view::npos ? 0 : scheme + 3;
  const size_t begin = std::min(url.find_first_of("/?#", authority), url.size());
  const size_t end = std::min(url.find_first_of("?#", begin), url.size());
  const std::string_view path = url.substr(begin, end - begin);
  return static_cast<size_t>(std::count(path.begin(), path.end(), '*'));
}

bool is_token(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) != 0 ||
           std::string_view("!#$%&'*+-.^_`|~").find(ch) != std::string_view::npos;
  });
}

bool has_control_character(std::string_view value) {
  return std::any_of(value.begin(), value.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return (c < 0x20 && c != '\t') || c == 0x7F;
  });
}

// Reports a JSONPath value the transform component cannot compile.
void check_path(YamlReader& reader, SourceLocation location, const std::string& key_path,
                const std::string& value) {
  if (!transform::is_event_path(value)) {
    return;
  }
  Result<transform::PathValues> compiled = transform::PathValues::compile({{"value", value}});
  if (!compiled.has_value()) {
    std::string message = compiled.error().message();
    if (message.starts_with("value: ")) {
      message.erase(0, 7);
    }
    reader.add_error(location, key_path, std::move(message));
  }
}

void check_target(YamlReader& reader, const Config& config, const Target& target,
                  const std::string& path) {
  static const TargetHttpParameters no_parameters;
  const TargetHttpParameters& parameters =
      target.http_parameters ? *target.http_parameters : no_parameters;
  const SourceLocation location = target.location;
  const std::string values_path = path + ".HttpParameters.PathParameterValues";
  if (const ApiDestination* destination = config.find_api_destination(target.api_destination)) {
    const size_t wildcards = path_wildcards(destination->invocation_endpoint);
    if (wildcards != parameters.path_parameter_values.size()) {
      reader.add_error(
          location, values_path,
          fmt::format("has {} value{} but API destination {}'s InvocationEndpoint path has {} `*` "
                      "wildcard{}; each `*` takes one value, in order",
                      parameters.path_parameter_values.size(),
                      parameters.path_parameter_values.size() == 1 ? "" : "s", destination->name,
                      wildcards, wildcards == 1 ? "" : "s"));
    }
  }
  for (size_t i = 0; i < parameters.path_parameter_values.size(); ++i) {
    const std::string& value = parameters.path_parameter_values[i];
    const std::string key_path = fmt::format("{}[{}]", values_path, i);
    if (value.empty() || value == "." || value == "..") {
      reader.add_error(location, key_path, "a path segment must not be empty, `.` or `..`");
    }
    check_path(reader, location, key_path, value);
  }
  for (const auto& [name, value] : parameters.header_parameters) {
    const std::string key_path = fmt::format("{}.HttpParameters.HeaderParameters.{}", path, name);
    if (!is_token(name)) {
      reader.add_error(location, key_path,
                       "a header name must be an HTTP token (letters, digits, !#$%&'*+-.^_`|~)");
    }
    if (!transform::is_event_path(value) && has_control_character(value)) {
      reader.add_error(location, key_path, "a header value must not hold control characters");
    }
    check_path(reader, location, key_path, value);
  }
  for (const auto& [name, value] : parameters.query_string_parameters) {
    check_path(reader, location,
               fmt::format("{}.HttpParameters.QueryStringParameters.{}", path, name), value);
  }
}

// Dead letters are sent as they are, with no target parameters.
void check_dead_letter_destination(YamlReader& reader, const Config& config, const Target& target,
                                   const std::string& path) {
  const std::optional<DeadLetterConfig>& dlq = target.dead_letter_config;
  if (!dlq || dlq->kind != DeadLetterConfig::Kind::kApiDestination) {
    return;
  }
  const ApiDestination* destination = config.find_api_destination(dlq->api_destination);
  if (destination != nullptr && path_wildcards(destination->invocation_endpoint) > 0) {
    reader.add_error(dlq->location, path + ".DeadLetterConfig.Arn",
                     fmt::format("API destination {}'s InvocationEndpoint path has `*` wildcards, "
                                 "but dead letters are sent with no PathParameterValues; name a "
                                 "destination without them",
                                 destination->name));
  }
}

}  // namespace

void check_http_parameters(YamlReader& reader, const Config& config) {
  for (size_t r = 0; r < config.rules.size(); ++r) {
    const Rule& rule = config.rules[r];
    for (size_t t = 0; t < rule.targets.size(); ++t) {
      const Target& target = rule.targets[t];
      const std::string path = fmt::format("Rules[{}].Targets[{}]", r, t);
      if (!target.log && !target.backlog) {
        check_target(reader, config, target, path);
      }
      check_dead_letter_destination(reader, config, target, path);
    }
  }
}

}  // namespace hikyaku::config::internal
