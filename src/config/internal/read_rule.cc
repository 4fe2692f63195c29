// The Rules section and each rule's Targets.

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "config/internal/config_warnings.h"
#include "config/internal/sections.h"
#include "config/internal/validate_hooks.h"
#include "config/internal/yaml_to_json.h"
#include "core/arn.h"

namespace hikyaku::config::internal {
namespace {

constexpr size_t kMaxTargetsPerRule = 5;  // AWS's limit per rule

// `rule "r" target "t"`, which leads the messages about a target's settings.
std::string target_label(const std::string& rule_name, const std::string& target_id) {
  return fmt::format(R"(rule "{}" target "{}")", rule_name, target_id);
}

// Exactly one of ApiDestination, Arn (reduced to the destination's name), Log or Backlog.
void read_target_destination(YamlReader& reader, const YAML::Node& node, const std::string& path,
                             const std::string& rule_name, Target& target) {
  const int destinations = (node["ApiDestination"] ? 1 : 0) + (node["Arn"] ? 1 : 0) +
                           (node["Log"] ? 1 : 0) + (node["Backlog"] ? 1 : 0);
  if (destinations > 1) {
    reader.add_error(node, path,
                     fmt::format("{}: give exactly one of ApiDestination, Arn, Log or Backlog",
                                 target_label(rule_name, target.id)));
  } else if (const YAML::Node backlog = node["Backlog"]) {
    target.backlog =
        read_backlog(reader, backlog, join(path, "Backlog"), target_label(rule_name, target.id));
  } else if (const YAML::Node log = node["Log"]) {
    const std::string log_path = join(path, "Log");
    if (reader.check_map(log, log_path, {"Path"}) && reader.require(log, log_path, "Path")) {
      LogTarget log_target;
      reader.read_string_into(log, log_path, "Path", log_target.path);
      target.log = std::move(log_target);
    }
  } else if (node["ApiDestination"] || node["Arn"]) {
    const std::string key = node["ApiDestination"] ? "ApiDestination" : "Arn";
    target.api_destination_location = location_of(node[key]);
    std::string value;
    reader.read_string_into(node, path, key, value);
    target.api_destination =
        value.rfind("arn:", 0) == 0
            ? name_from_arn(reader, node[key], join(path, key), value, "api-destination")
            : value;
  } else {
    reader.add_error(node, join(path, "ApiDestination"),
                     "is required: name the API destination this target delivers to (or give "
                     "Log or Backlog)");
  }
}

void read_input_transformer(YamlReader& reader, const YAML::Node& transformer,
                            const std::string& transformer_path, Target& target) {
  if (!reader.check_map(transformer, transformer_path, {"InputPathsMap", "InputTemplate"})) {
    return;
  }
  InputTransformer result;
  if (const YAML::Node paths = transformer["InputPathsMap"]) {
    const std::string paths_path = join(transformer_path, "InputPathsMap");
    if (!paths.IsMap()) {
      reader.add_error(paths, paths_path,
                       fmt::format("must be a mapping, got {}", kind_name(paths)));
    } else {
      for (const auto& entry : paths) {
        const std::string key = entry.first.Scalar();
        if (std::optional<std::string> value =
                reader.read_string(entry.second, join(paths_path, key))) {
          result.input_paths_map.emplace_back(key, std::move(*value));
        }
      }
    }
  }
  if (reader.require(transformer, transformer_path, "InputTemplate")) {
    reader.read_string_into(transformer, transformer_path, "InputTemplate", result.input_template);
  }
  target.input_transformer = std::move(result);
}

// At most one of Input, InputPath and InputTransformer.
void read_target_input(YamlReader& reader, const YAML::Node& node, const std::string& path,
                       Target& target) {
  const int inputs =
      (node["Input"] ? 1 : 0) + (node["InputPath"] ? 1 : 0) + (node["InputTransformer"] ? 1 : 0);
  if (inputs > 1) {
    // AWS's PutTargets message for the same mistake.
    reader.add_error(node, path,
                     fmt::format("Only one of Input, InputPath, or InputTransformer must be "
                                 "provided for target {}.",
                                 target.id));
    return;
  }
  if (const YAML::Node input = node["Input"]) {
    target.input = read_json_text(reader, input, join(path, "Input"));
  }
  if (node["InputPath"]) {
    std::string input_path;
    reader.read_string_into(node, path, "InputPath", input_path);
    target.input_path = std::move(input_path);
  }
  if (const YAML::Node transformer = node["InputTransformer"]) {
    read_input_transformer(reader, transformer, join(path, "InputTransformer"), target);
  }
}

// A mapping of name -> string (HeaderParameters, QueryStringParameters), in file order.
void read_string_pairs(YamlReader& reader, const YAML::Node& node, const std::string& path,
                       std::string_view key,
                       std::vector<std::pair<std::string, std::string>>& out) {
  const YAML::Node map = node[std::string(key)];
  if (!map) {
    return;
  }
  const std::string map_path = join(path, key);
  if (!map.IsMap()) {
    reader.add_error(map, map_path, fmt::format("must be a mapping, got {}", kind_name(map)));
    return;
  }
  for (const auto& entry : map) {
    if (auto value = reader.read_string(entry.second, join(map_path, entry.first.Scalar()))) {
      out.emplace_back(entry.first.Scalar(), std::move(*value));
    }
  }
}

TargetHttpParameters read_target_http_parameters(YamlReader& reader, const YAML::Node& node,
                                                 const std::string& path) {
  TargetHttpParameters parameters;
  if (!reader.check_map(node, path,
                        {"PathParameterValues", "HeaderParameters", "QueryStringParameters"})) {
    return parameters;
  }
  if (const YAML::Node values = node["PathParameterValues"]) {
    const std::string values_path = join(path, "PathParameterValues");
    if (reader.check_sequence(values, values_path)) {
      for (size_t i = 0; i < values.size(); ++i) {
        if (auto value = reader.read_string(values[i], index(values_path, i))) {
          parameters.path_parameter_values.push_back(std::move(*value));
        }
      }
    }
  }
  read_string_pairs(reader, node, path, "HeaderParameters", parameters.header_parameters);
  read_string_pairs(reader, node, path, "QueryStringParameters",
                    parameters.query_string_parameters);
  return parameters;
}

void read_retry_policy(YamlReader& reader, const YAML::Node& retry, const std::string& retry_path,
                       RetryPolicy& out) {
  if (!reader.check_map(retry, retry_path, {"MaximumRetryAttempts", "MaximumEventAgeInSeconds"})) {
    return;
  }
  if (const YAML::Node attempts = retry["MaximumRetryAttempts"]) {
    out.maximum_retry_attempts = static_cast<int>(
        reader.read_integer(attempts, join(retry_path, "MaximumRetryAttempts"), 0, 185)
            .value_or(185));
  }
  if (const YAML::Node age = retry["MaximumEventAgeInSeconds"]) {
    out.maximum_event_age_in_seconds = static_cast<int>(
        reader.read_integer(age, join(retry_path, "MaximumEventAgeInSeconds"), 60, 86400)
            .value_or(86400));
  }
}

// "arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE" split at its first five colons (RESOURCE may
// hold more); fewer than six parts when it is not shaped like an ARN.
std::vector<std::string_view> arn_parts(std::string_view arn) {
  std::vector<std::string_view> parts;
  while (parts.size() < 5) {
    const size_t colon = arn.find(':');
    if (colon == std::string_view::npos) {
      break;
    }
    parts.push_back(arn.substr(0, colon));
    arn.remove_prefix(colon + 1);
  }
  parts.push_back(arn);
  return parts;
}

// arn:PARTITION:sqs:REGION:ACCOUNT:NAME, as AWS writes a queue's ARN (NAME: 1 to 80 of
// [-_A-Za-z0-9], plus ".fifo" for a FIFO queue).
bool is_sqs_queue_arn(const std::vector<std::string_view>& parts) {
  const auto all = [](std::string_view text, auto predicate) {
    return std::all_of(text.begin(), text.end(),
                       [&](char c) { return predicate(static_cast<unsigned char>(c)); });
  };
  if (parts.size() != 6 || parts[0] != "arn" || parts[1].empty() || parts[2] != "sqs" ||
      parts[3].empty() || parts[4].size() != 12 ||
      !all(parts[4], [](unsigned char c) { return std::isdigit(c) != 0; })) {
    return false;
  }
  std::string_view name = parts[5];
  if (name.ends_with(".fifo")) {
    name.remove_suffix(5);
  }
  return !name.empty() && name.size() <= 80 &&
         all(name, [](unsigned char c) { return std::isalnum(c) != 0 || c == '-' || c == '_'; });
}

// DeadLetterConfig.Arn: an SQS queue ARN (accepted for compatibility), or an API destination by
// name or by ARN; cross_check() makes sure the destination exists.
void read_dead_letter_config(YamlReader& reader, const YAML::Node& dlq, const std::string& path,
                             Target& target) {
  if (!reader.check_map(dlq, path, {"Arn"}) || !reader.require(dlq, path, "Arn")) {
    return;
  }
  DeadLetterConfig config;
  config.location = location_of(dlq["Arn"]);
  if (!reader.read_string_into(dlq, path, "Arn", config.arn)) {
    return;
  }
  const std::vector<std::string_view> parts = arn_parts(config.arn);
  const std::optional<std::string_view> destination =
      parts.size() == 6 && parts[2] == "events" ? arn_resource_name(config.arn, "api-destination")
                                                : std::nullopt;
  if (is_sqs_queue_arn(parts)) {
    config.kind = DeadLetterConfig::Kind::kSqsQueue;
  } else if (destination && is_resource_name(*destination)) {
    config.kind = DeadLetterConfig::Kind::kApiDestination;
    config.api_destination = std::string(*destination);
  } else if (is_resource_name(config.arn)) {
    config.kind = DeadLetterConfig::Kind::kApiDestination;
    config.api_destination = config.arn;
  } else {
    reader.add_error(dlq["Arn"], join(path, "Arn"),
                     fmt::format("\"{}\" is neither an SQS queue ARN "
                                 "(arn:aws:sqs:REGION:ACCOUNT:NAME) nor an API destination (its "
                                 "Name, or arn:aws:events:REGION:ACCOUNT:api-destination/NAME/ID)",
                                 config.arn));
    return;
  }
  target.dead_letter_config = std::move(config);
}

// A Backlog target renders its own requests from each finding: of the input settings only an
// InputTransformer whose JSON object overrides the issue's fields applies.
void check_backlog_target(YamlReader& reader, const YAML::Node& node, const std::string& path,
                          const std::string& label, const Target& target) {
  for (const std::string_view key :
       {"Input", "InputPath", "HttpParameters", "SplitBy", "BodyEncoding"}) {
    if (const YAML::Node value = node[std::string(key)]) {
      reader.add_error(
          value, join(path, key),
          fmt::format("{}: does not apply to a Backlog target, which always handles every "
                      "finding of the event on its own (one issue per finding) and makes its own "
                      "requests; to change the issue's fields, give an InputTransformer whose "
                      "InputTemplate is a JSON object",
                      label));
    }
  }
  if (target.input_transformer && node["InputTransformer"]["InputTemplate"]) {
    const std::string& text = target.input_transformer->input_template;
    const size_t first = text.find_first_not_of(" \t\r\n");
    if (first == std::string::npos || text[first] != '{') {
      reader.add_error(node["InputTransformer"]["InputTemplate"],
                       join(path, "InputTransformer.InputTemplate"),
                       fmt::format("{}: must be a JSON object template (starting with `{{`) for "
                                   "a Backlog target: its members override the issue's fields",
                                   label));
    }
  }
}

Target read_target(YamlReader& reader, const YAML::Node& node, const std::string& path,
                   const std::string& rule_name) {
  Target target;
  target.location = location_of(node);
  if (!reader.check_map(node, path,
                        {"Id", "ApiDestination", "Arn", "Log", "Backlog", "Input", "InputPath",
                         "InputTransformer", "BodyEncoding", "HttpParameters", "RetryPolicy",
                         "DeadLetterConfig", "RoleArn", "SplitBy"})) {
    return target;
  }
  if (reader.require(node, path, "Id")) {
    reader.read_string_into(node, path, "Id", target.id);
    if (!is_resource_name(target.id)) {
      reader.add_error(
          node["Id"], join(path, "Id"),
          fmt::format("\"{}\" must be 1 to 64 characters of [.-_A-Za-z0-9]", target.id));
    }
  }
  read_target_destination(reader, node, path, rule_name, target);
  read_target_input(reader, node, path, target);
  if (node["Backlog"]) {
    check_backlog_target(reader, node, path, target_label(rule_name, target.id), target);
  }
  if (const YAML::Node encoding = node["BodyEncoding"]) {
    if (reader.read_enum(encoding, join(path, "BodyEncoding"), {"JSON", "FORM"}) == "FORM") {
      target.body_encoding = BodyEncoding::kForm;
    }
  }
  if (const YAML::Node http = node["HttpParameters"]) {
    target.http_parameters =
        read_target_http_parameters(reader, http, join(path, "HttpParameters"));
  }
  if (const YAML::Node retry = node["RetryPolicy"]) {
    read_retry_policy(reader, retry, join(path, "RetryPolicy"), target.retry_policy);
  }
  if (const YAML::Node split_by = node["SplitBy"]) {
    std::string text;
    reader.read_string_into(node, path, "SplitBy", text);
    if (const Status valid = validate_split_by(text); !valid.ok()) {
      reader.add_error(split_by, join(path, "SplitBy"), valid.message());
    }
    target.split_by = std::move(text);
  }
  if (const YAML::Node dlq = node["DeadLetterConfig"]) {
    read_dead_letter_config(reader, dlq, join(path, "DeadLetterConfig"), target);
  }
  return target;
}

// Reports a target whose input the transform component rejects. Its message starts with the
// offending member ("InputTransformer.InputTemplate: ...") when it can: that goes into the key
// path.
void report_target_input(YamlReader& reader, const Rule& rule, const Target& target,
                         const std::string& target_path, const Status& status) {
  const std::string& message = status.message();
  const size_t colon = message.find(": ");
  const bool member_first =
      message.rfind("Input", 0) == 0 && colon != std::string::npos && message.find(' ') > colon;
  reader.add_error(target.location,
                   member_first ? target_path + "." + message.substr(0, colon) : target_path,
                   fmt::format(R"(rule "{}" target "{}": {})", rule.name, target.id,
                               member_first ? message.substr(colon + 2) : message));
}

void read_rule_targets(YamlReader& reader, const YAML::Node& targets,
                       const std::string& targets_path, Rule& rule) {
  if (!reader.check_sequence(targets, targets_path)) {
    return;
  }
  if (targets.size() == 0) {
    reader.add_error(targets, targets_path, "must list at least one target");
  } else if (targets.size() > kMaxTargetsPerRule) {
    reader.add_error(targets, targets_path,
                     fmt::format("has {} targets; a rule may have at most {}", targets.size(),
                                 kMaxTargetsPerRule));
  }
  for (size_t i = 0; i < targets.size(); ++i) {
    const size_t errors_before = reader.error_count();
    const std::string target_path = index(targets_path, i);
    rule.targets.push_back(read_target(reader, targets[i], target_path, rule.name));
    // Compile the input only when the target itself read cleanly (one message per fault).
    if (reader.error_count() != errors_before) {
      continue;
    }
    const Status status = validate_target_input(rule.targets.back());
    if (!status.ok()) {
      report_target_input(reader, rule, rule.targets.back(), target_path, status);
    }
  }
}

void read_event_pattern(YamlReader& reader, const YAML::Node& pattern,
                        const std::string& pattern_path, Rule& rule) {
  if (std::optional<std::string> json = read_json_text(reader, pattern, pattern_path)) {
    rule.event_pattern = std::move(*json);
    const Status status = validate_event_pattern(rule.event_pattern);
    if (!status.ok()) {
      reader.add_error(
          pattern, pattern_path,
          fmt::format("invalid pattern in rule \"{}\": {}", rule.name, status.message()));
      return;
    }
    for (std::string& warning : lint_event_pattern(rule.event_pattern)) {
      reader.add_warning(pattern, pattern_path, std::move(warning));
    }
    if (std::optional<std::string> warning = security_hub_compliance_warning(rule.event_pattern)) {
      reader.add_warning(pattern, pattern_path, std::move(*warning));
    }
  }
}

}  // namespace

Rule read_rule(YamlReader& reader, const YAML::Node& node, const std::string& path) {
  Rule rule;
  rule.location = location_of(node);
  if (!reader.check_map(
          node, path,
          {"Name", "Description", "EventBusName", "State", "EventPattern", "Targets"})) {
    return rule;
  }
  read_name(reader, node, path, rule.name);
  reader.read_string_into(node, path, "Description", rule.description);
  if (node["EventBusName"]) {
    reader.read_string_into(node, path, "EventBusName", rule.event_bus_name);
    if (!is_resource_name(rule.event_bus_name)) {
      reader.add_error(
          node["EventBusName"], join(path, "EventBusName"),
          fmt::format("\"{}\" must be 1 to 64 characters of [.-_A-Za-z0-9]", rule.event_bus_name));
    }
  }
  if (const YAML::Node state = node["State"]) {
    if (reader.read_enum(state, join(path, "State"), {"ENABLED", "DISABLED"}) == "DISABLED") {
      rule.state = RuleState::kDisabled;
    }
  }
  if (reader.require(node, path, "EventPattern")) {
    read_event_pattern(reader, node["EventPattern"], join(path, "EventPattern"), rule);
  }
  if (reader.require(node, path, "Targets")) {
    read_rule_targets(reader, node["Targets"], join(path, "Targets"), rule);
  }
  return rule;
}

}  // namespace hikyaku::config::internal
