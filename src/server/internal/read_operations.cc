// The operations that only read: ListRules, DescribeRule, ListTargetsByRule, ListEventBuses over
// the config snapshot in force, and TestEventPattern.
#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <memory>
#include <optional>

#include "core/arn.h"
#include "core/json_writer.h"
#include "pattern/pattern.h"
#include "server/internal/api.h"
#include "server/internal/wire.h"

namespace hikyaku::server {
namespace {

const char* rule_state_name(config::RuleState state) {
  return state == config::RuleState::kEnabled ? "ENABLED" : "DISABLED";
}

void write_rule(JsonWriter& writer, std::string_view region, std::string_view account,
                const config::Rule& rule, bool describe) {
  writer.begin_object();
  writer.key("Name");
  writer.string(rule.name);
  writer.key("Arn");
  writer.string(rule_arn(region, account, rule.event_bus_name, rule.name));
  if (!rule.event_pattern.empty()) {
    writer.key("EventPattern");
    writer.string(rule.event_pattern);
  }
  writer.key("State");
  writer.string(rule_state_name(rule.state));
  if (!rule.description.empty()) {
    writer.key("Description");
    writer.string(rule.description);
  }
  writer.key("EventBusName");
  writer.string(rule.event_bus_name);
  if (describe) {
    writer.key("CreatedBy");
    writer.string(account);
  }
  writer.end_object();
}

void write_input_transformer(JsonWriter& writer, const config::InputTransformer& transformer) {
  writer.begin_object();
  if (!transformer.input_paths_map.empty()) {
    writer.key("InputPathsMap");
    writer.begin_object();
    for (const auto& [key, path] : transformer.input_paths_map) {
      writer.key(key);
      writer.string(path);
    }
    writer.end_object();
  }
  writer.key("InputTemplate");
  writer.string(transformer.input_template);
  writer.end_object();
}

void write_target(JsonWriter& writer, std::string_view region, std::string_view account,
                  const config::Rule& rule, const config::Target& target) {
  writer.begin_object();
  writer.key("Id");
  writer.string(target.id);
  writer.key("Arn");
  if (!target.api_destination.empty()) {
    writer.string(api_destination_arn(region, account, target.api_destination));
  } else {
    // Not an AWS resource: a local file or Backlog target; the ARN only has to be unique and
    // readable.
    writer.string(fmt::format("arn:hikyaku:{}:{}:{}:target/{}/{}",
                              target.backlog ? "backlog" : "log", region, account, rule.name,
                              target.id));
  }
  if (target.input) {
    writer.key("Input");
    writer.string(*target.input);
  }
  if (target.input_path) {
    writer.key("InputPath");
    writer.string(*target.input_path);
  }
  if (target.input_transformer) {
    writer.key("InputTransformer");
    write_input_transformer(writer, *target.input_transformer);
  }
  writer.key("RetryPolicy");
  writer.begin_object();
  writer.key("MaximumRetryAttempts");
  writer.number(static_cast<int64_t>(target.retry_policy.maximum_retry_attempts));
  writer.key("MaximumEventAgeInSeconds");
  writer.number(static_cast<int64_t>(target.retry_policy.maximum_event_age_in_seconds));
  writer.end_object();
  if (target.dead_letter_config) {
    writer.key("DeadLetterConfig");
    writer.begin_object();
    writer.key("Arn");
    writer.string(target.dead_letter_config->arn);
    writer.end_object();
  }
  writer.end_object();
}

bool bus_exists(const config::Config& config, std::string_view bus) {
  if (bus == "default") {
    return true;
  }
  const auto names = config.event_bus_names();
  return std::find(names.begin(), names.end(), bus) != names.end();
}

const config::Rule* find_rule(const config::Config& config, std::string_view name,
                              std::string_view bus) {
  for (const config::Rule& rule : config.rules) {
    if (rule.name == name && rule.event_bus_name == bus) {
      return &rule;
    }
  }
  return nullptr;
}

// The rule a DescribeRule or ListTargetsByRule request names, with the config snapshot that owns
// it, or the error AWS answers when the name is missing or no such rule is on the bus.
struct RequestedRule {
  std::shared_ptr<const config::Config> config;
  const config::Rule* rule = nullptr;
  // The HTTP 400 error to answer (Api::aws_error counts it) when the rule cannot be named.
  struct Error {
    std::string_view type;
    std::string message;
  };
  std::optional<Error> error;
};

RequestedRule find_requested_rule(const bus::EventBus& event_bus, simdjson::dom::object object,
                                  std::string_view member, std::string_view wire_name) {
  RequestedRule found;
  const std::string name = optional_member(object, member);
  if (name.empty()) {
    found.error = RequestedRule::Error{
        "ValidationException", fmt::format("1 validation error detected: Value null at '{}' "
                                           "failed to satisfy constraint: Member must not be null",
                                           wire_name)};
    return found;
  }
  const std::string bus = bus_name_of(optional_member(object, "EventBusName"));
  found.config = event_bus.config();
  found.rule = find_rule(*found.config, name, bus);
  if (found.rule == nullptr) {
    found.error =
        RequestedRule::Error{"ResourceNotFoundException",
                             fmt::format("Rule {} does not exist on EventBus {}.", name, bus)};
  }
  return found;
}

// True when `event_text` is an envelope with AWS's mandatory fields (API_TestEventPattern).
bool valid_test_event(std::string_view event_text) {
  simdjson::dom::element event;
  simdjson::dom::object event_object;
  if (nested_parser().parse(event_text.data(), event_text.size()).get(event) != simdjson::SUCCESS ||
      event.get(event_object) != simdjson::SUCCESS) {
    return false;
  }
  for (std::string_view key :
       {"id", "account", "source", "time", "region", "resources", "detail-type"}) {
    simdjson::dom::element unused;
    if (event_object[key].get(unused) != simdjson::SUCCESS) {
      return false;
    }
  }
  return true;
}

}  // namespace

HttpResponse Api::test_event_pattern(const HttpRequest& request, const std::string& request_id) {
  ParsedBody body = parse_body_object(request.body);
  if (!body.error.empty()) {
    return aws_error(400, "SerializationException", body.error, request_id);
  }
  std::string_view pattern_text;
  std::string_view event_text;
  if (body.object["EventPattern"].get(pattern_text) != simdjson::SUCCESS) {
    return aws_error(400, "ValidationException",
                     "1 validation error detected: Value null at 'eventPattern' failed to satisfy "
                     "constraint: Member must not be null",
                     request_id);
  }
  if (body.object["Event"].get(event_text) != simdjson::SUCCESS) {
    return aws_error(400, "ValidationException",
                     "1 validation error detected: Value null at 'event' failed to satisfy "
                     "constraint: Member must not be null",
                     request_id);
  }
  if (!valid_test_event(event_text)) {
    return aws_error(400, "ValidationException", "Parameter Event is not valid.", request_id);
  }
  const Status pattern_status = pattern::validate_pattern(pattern_text);
  if (!pattern_status.ok()) {
    return aws_error(400, "InvalidEventPatternException",
                     "Event pattern is not valid. Reason: " + pattern_status.message(), request_id);
  }
  const Result<bool> matched = pattern::matches(pattern_text, event_text);
  if (!matched) {
    const std::string_view message = matched.error().message();
    if (message.substr(0, 7) == "event: ") {
      return aws_error(400, "ValidationException", "Parameter Event is not valid.", request_id);
    }
    return aws_error(400, "InvalidEventPatternException",
                     "Event pattern is not valid. Reason: " + std::string(message), request_id);
  }
  return aws_json_response(*matched ? R"({"Result":true})" : R"({"Result":false})", request_id);
}

HttpResponse Api::list_rules(const HttpRequest& request, const std::string& request_id,
                             std::string_view region) {
  ParsedBody body = parse_body_object(request.body);
  if (!body.error.empty()) {
    return aws_error(400, "SerializationException", body.error, request_id);
  }
  const std::string bus = bus_name_of(optional_member(body.object, "EventBusName"));
  const std::string prefix = optional_member(body.object, "NamePrefix");
  const auto config = bus_.config();
  if (!bus_exists(*config, bus)) {
    return aws_error(400, "ResourceNotFoundException",
                     fmt::format("Event bus {} does not exist.", bus), request_id);
  }
  std::vector<const config::Rule*> rules;
  for (const config::Rule& rule : config->rules) {
    if (rule.event_bus_name == bus &&
        std::string_view(rule.name).substr(0, prefix.size()) == prefix) {
      rules.push_back(&rule);
    }
  }
  const size_t start = start_index(body.object);
  const size_t end = std::min(rules.size(), start + page_limit(body.object));
  JsonWriter writer;
  writer.begin_object();
  writer.key("Rules");
  writer.begin_array();
  for (size_t i = start; i < end; ++i) {
    write_rule(writer, region, config_.account, *rules[i], false);
  }
  writer.end_array();
  if (end < rules.size()) {
    writer.key("NextToken");
    writer.string(std::to_string(end));
  }
  writer.end_object();
  return aws_json_response(writer.take(), request_id);
}

HttpResponse Api::describe_rule(const HttpRequest& request, const std::string& request_id,
                                std::string_view region) {
  ParsedBody body = parse_body_object(request.body);
  if (!body.error.empty()) {
    return aws_error(400, "SerializationException", body.error, request_id);
  }
  const RequestedRule requested = find_requested_rule(bus_, body.object, "Name", "name");
  if (requested.error) {
    return aws_error(400, requested.error->type, requested.error->message, request_id);
  }
  JsonWriter writer;
  write_rule(writer, region, config_.account, *requested.rule, true);
  return aws_json_response(writer.take(), request_id);
}

HttpResponse Api::list_targets_by_rule(const HttpRequest& request, const std::string& request_id,
                                       std::string_view region) {
  ParsedBody body = parse_body_object(request.body);
  if (!body.error.empty()) {
    return aws_error(400, "SerializationException", body.error, request_id);
  }
  const RequestedRule requested = find_requested_rule(bus_, body.object, "Rule", "rule");
  if (requested.error) {
    return aws_error(400, requested.error->type, requested.error->message, request_id);
  }
  const config::Rule* rule = requested.rule;
  const size_t start = start_index(body.object);
  const size_t end = std::min(rule->targets.size(), start + page_limit(body.object));
  JsonWriter writer;
  writer.begin_object();
  writer.key("Targets");
  writer.begin_array();
  for (size_t i = start; i < end; ++i) {
    write_target(writer, region, config_.account, *rule, rule->targets[i]);
  }
  writer.end_array();
  if (end < rule->targets.size()) {
    writer.key("NextToken");
    writer.string(std::to_string(end));
  }
  writer.end_object();
  return aws_json_response(writer.take(), request_id);
}

HttpResponse Api::list_event_buses(const HttpRequest& request, const std::string& request_id,
                                   std::string_view region) {
  ParsedBody body = parse_body_object(request.body);
  if (!body.error.empty()) {
    return aws_error(400, "SerializationException", body.error, request_id);
  }
  const std::string prefix = optional_member(body.object, "NamePrefix");
  const auto config = bus_.config();
  std::vector<std::string> buses = {"default"};
  for (const auto& name : config->event_bus_names()) {
    if (name != "default") {
      buses.push_back(name);
    }
  }
  JsonWriter writer;
  writer.begin_object();
  writer.key("EventBuses");
  writer.begin_array();
  for (const std::string& bus : buses) {
    if (std::string_view(bus).substr(0, prefix.size()) != prefix) {
      continue;
    }
    writer.begin_object();
    writer.key("Name");
    writer.string(bus);
    writer.key("Arn");
    writer.string(event_bus_arn(region, config_.account, bus));
    writer.end_object();
  }
  writer.end_array();
  writer.end_object();
  return aws_json_response(writer.take(), request_id);
}

}  // namespace hikyaku::server
