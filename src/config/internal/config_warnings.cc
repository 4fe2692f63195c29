#include "config/internal/config_warnings.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <array>
#include <set>
#include <span>
#include <utility>
#include <vector>

#include "core/redact.h"
#include "core/url_encoding.h"
#include "pattern/pattern.h"

namespace hikyaku::config::internal {
namespace {

// --- InvocationEndpoint ---------------------------------------------------------------------

// The names of the credential-like parameters in `url`'s query, as written, without repeats.
std::vector<std::string_view> secret_query_parameter_names(std::string_view url) {
  std::vector<std::string_view> names;
  const size_t question = url.find('?');
  if (question == std::string_view::npos) {
    return names;
  }
  std::string_view query = url.substr(question + 1);
  query = query.substr(0, query.find('#'));  // a fragment is not sent
  std::set<std::string_view> seen;
  while (!query.empty()) {
    const size_t end = query.find_first_of("&;");
    const std::string_view pair = query.substr(0, end);
    const std::string_view name = pair.substr(0, pair.find('='));
    if (!name.empty() && is_secret_parameter_name(name) && seen.insert(name).second) {
      names.push_back(name);
    }
    query = end == std::string_view::npos ? std::string_view() : query.substr(end + 1);
  }
  return names;
}

bool has_userinfo(std::string_view url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) {
    return false;
  }
  const std::string_view rest = url.substr(scheme_end + 3);
  return rest.substr(0, rest.find_first_of("/?#")).find('@') != std::string_view::npos;
}

void warn_about_endpoint(YamlReader& reader, const Config& config, size_t i) {
  const ApiDestination& destination = config.api_destinations[i];
  const std::string path = fmt::format("ApiDestinations[{}].InvocationEndpoint", i);
  for (const std::string_view name :
       secret_query_parameter_names(destination.invocation_endpoint)) {
    reader.add_warning(
        destination.location, path,
        fmt::format(
            "the URL carries the credential-like query parameter \"{}\", and a URL is not a "
            "secret: it is shown wherever the endpoint is (EventBridge's console and API too). "
            "Remove it from the endpoint and give it to connection \"{}\" instead, which sends "
            "the same query: AuthParameters: {{ InvocationHttpParameters: {{ "
            "QueryStringParameters: [{{ Key: {}, Value: \"${{YOUR_SECRET_VARIABLE}}\", "
            "IsValueSecret: true }}] }} }}",
            name, destination.connection_name, percent_decode(name)));
  }
  const Connection* connection = config.find_connection(destination.connection_name);
  if (connection != nullptr && !connection->invocation_http_parameters.body_parameters.empty() &&
      (destination.http_method == "GET" || destination.http_method == "HEAD")) {
    reader.add_warning(
        destination.location, fmt::format("ApiDestinations[{}].HttpMethod", i),
        fmt::format("{} requests have no body, so connection \"{}\"'s "
                    "InvocationHttpParameters.BodyParameters are not sent to this destination; "
                    "use QueryStringParameters or HeaderParameters for it",
                    destination.http_method, connection->name));
  }
  if (has_userinfo(destination.invocation_endpoint)) {
    reader.add_warning(
        destination.location, path,
        fmt::format("the URL carries credentials before its host (user:password@), and a URL is "
                    "not a secret; remove them and give connection \"{}\" AuthorizationType: "
                    "BASIC with BasicAuthParameters: {{ Username: ..., Password: "
                    "\"${{YOUR_SECRET_VARIABLE}}\" }} instead",
                    destination.connection_name));
  }
}

// --- Security Hub findings and Compliance.Status --------------------------------------------

constexpr std::array<std::string_view, 4> kCompliancePath = {"detail", "findings", "Compliance",
                                                             "Status"};

bool is_exists_false(simdjson::dom::element condition) {
  simdjson::dom::element exists;
  bool value = true;
  return condition.at_key("exists").get(exists) == simdjson::SUCCESS &&
         exists.get_bool().get(value) == simdjson::SUCCESS && !value;
}

// A condition list that an event without the field cannot pass, and that only because of an
// anything-but (a list of plain values says so plainly; anything-but reads as "everything but").
bool anything_but_refuses_missing(simdjson::dom::array conditions) {
  bool anything_but = false;
  for (simdjson::dom::element condition : conditions) {
    if (is_exists_false(condition)) {
      return false;
    }
    simdjson::dom::element ignored;
    anything_but =
        anything_but || condition.at_key("anything-but").get(ignored) == simdjson::SUCCESS;
  }
  return anything_but;
}

// The condition list at `path` below `object` that every way through `object` (its fields, and
// one alternative of each $or) must pass and that refuses a missing field through anything-but;
// nullopt when some way lets an event without the field through.
std::optional<simdjson::dom::array> refusing_list(simdjson::dom::object object,
                                                  std::span<const std::string_view> path) {
  simdjson::dom::element child;
  if (object.at_key(path.front()).get(child) == simdjson::SUCCESS) {
    simdjson::dom::array conditions;
    simdjson::dom::object next;
    if (path.size() == 1) {
      if (child.get_array().get(conditions) == simdjson::SUCCESS &&
          anything_but_refuses_missing(conditions)) {
        return conditions;
      }
    } else if (child.get_object().get(next) == simdjson::SUCCESS) {
      if (std::optional<simdjson::dom::array> found = refusing_list(next, path.subspan(1))) {
        return found;
      }
    }
  }
  simdjson::dom::array alternatives;
  if (object.at_key("$or").get_array().get(alternatives) != simdjson::SUCCESS ||
      alternatives.size() == 0) {
    return std::nullopt;
  }
  std::optional<simdjson::dom::array> first;
  for (simdjson::dom::element alternative : alternatives) {
    simdjson::dom::object branch;
    if (alternative.get_object().get(branch) != simdjson::SUCCESS) {
      return std::nullopt;
    }
    std::optional<simdjson::dom::array> found = refusing_list(branch, path);
    if (!found) {
      return std::nullopt;  // this alternative lets a finding without Compliance through
    }
    first = first ? first : found;
  }
  return first;
}

// Whether the pattern's top-level source and detail-type (when given) accept Security Hub's
// finding events; asked of the real matcher, so prefixes, wildcards and the like count.
bool admits_security_hub_findings(simdjson::dom::object pattern) {
  std::string envelope_pattern;
  for (const std::string_view key : {"source", "detail-type"}) {
    simdjson::dom::element value;
    if (pattern.at_key(key).get(value) == simdjson::SUCCESS) {
      envelope_pattern += envelope_pattern.empty() ? "{" : ",";
      envelope_pattern += fmt::format("\"{}\":{}", key, simdjson::minify(value));
    }
  }
  if (envelope_pattern.empty()) {
    return true;
  }
  envelope_pattern += "}";
  for (const std::string_view detail_type :
       {"Security Hub Findings - Imported", "Security Hub Findings - Custom Action"}) {
    const Result<bool> matched = pattern::matches(
        envelope_pattern,
        fmt::format(R"({{"source":"aws.securityhub","detail-type":"{}"}})", detail_type));
    if (!matched.has_value() || *matched) {
      return true;  // a pattern the matcher cannot judge here is warned about rather than not
    }
  }
  return false;
}

}  // namespace

std::optional<std::string> security_hub_compliance_warning(std::string_view pattern_json) {
  simdjson::dom::parser parser;
  simdjson::dom::object pattern;
  if (parser.parse(pattern_json.data(), pattern_json.size()).get_object().get(pattern) !=
      simdjson::SUCCESS) {
    return std::nullopt;
  }
  const std::optional<simdjson::dom::array> conditions = refusing_list(pattern, kCompliancePath);
  if (!conditions || !admits_security_hub_findings(pattern)) {
    return std::nullopt;
  }
  std::string suggestion = "[";
  for (simdjson::dom::element condition : *conditions) {
    suggestion += simdjson::minify(condition);
    suggestion += ", ";
  }
  suggestion += R"({"exists": false}])";
  return fmt::format(
      "detail.findings.Compliance.Status: anything-but never matches a missing field, and only "
      "control findings have Compliance: findings of GuardDuty, Inspector, Macie, Access Analyzer "
      "and custom products never match this rule. If they should, let a missing Compliance "
      "through: \"Status\": {} (docs/securityhub-findings.md)",
      suggestion);
}

void warn_about_config(YamlReader& reader, const Config& config) {
  for (size_t i = 0; i < config.api_destinations.size(); ++i) {
    warn_about_endpoint(reader, config, i);
  }
  for (size_t i = 0; i < config.rules.size(); ++i) {
    for (size_t j = 0; j < config.rules[i].targets.size(); ++j) {
      const Target& target = config.rules[i].targets[j];
      const std::optional<DeadLetterConfig>& dlq = target.dead_letter_config;
      const std::string path = fmt::format("Rules[{}].Targets[{}].DeadLetterConfig.Arn", i, j);
      if (dlq && dlq->kind == DeadLetterConfig::Kind::kSqsQueue) {
        reader.add_warning(
            dlq->location, path,
            "names an SQS queue: hikyaku sends nothing to SQS and keeps this target's dead "
            "letters in its own store (docs/api-destinations.md §6); to be told of them "
            "elsewhere, name an API destination here instead (e.g. a chat webhook)");
      } else if (dlq && !target.api_destination.empty() &&
                 dlq->api_destination == target.api_destination) {
        reader.add_warning(dlq->location, path,
                           fmt::format("names the target's own API destination \"{}\": its dead "
                                       "letters are what that destination refused or could not "
                                       "take, so they would most likely fail there again; name "
                                       "another destination (e.g. a chat webhook)",
                                       dlq->api_destination));
      }
    }
  }
}

}  // namespace hikyaku::config::internal
