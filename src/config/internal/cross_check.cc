#include "config/internal/cross_check.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config/internal/config_warnings.h"
#include "config/internal/did_you_mean.h"
#include "config/internal/http_parameters_check.h"
#include "config/internal/path_check.h"

namespace hikyaku::config::internal {
namespace {

template <typename Items, typename Name>
void check_unique(YamlReader& reader, const Items& items, std::string_view section, Name name_of) {
  std::set<std::string> seen;
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string name = name_of(items[i]);
    if (!name.empty() && !seen.insert(name).second) {
      reader.add_error(items[i].location, fmt::format("{}[{}].Name", section, i),
                       fmt::format("duplicate name \"{}\"", name));
    }
  }
}

void check_connection_names(YamlReader& reader, const Config& config) {
  std::vector<std::string> connection_names;
  for (const Connection& connection : config.connections) {
    connection_names.push_back(connection.name);
  }
  for (size_t i = 0; i < config.api_destinations.size(); ++i) {
    const ApiDestination& destination = config.api_destinations[i];
    if (!config.find_connection(destination.connection_name)) {
      reader.add_error(destination.connection_location,
                       fmt::format("ApiDestinations[{}].ConnectionName", i),
                       fmt::format("no connection named \"{}\"{}", destination.connection_name,
                                   did_you_mean(destination.connection_name, connection_names)));
    }
  }
}

void check_targets(YamlReader& reader, const Config& config) {
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
        reader.add_error(
            target.location, target_path + ".Id",
            fmt::format(R"(duplicate target Id "{}" in rule "{}")", target.id, rule.name));
      }
      if (!target.log && !target.backlog && !config.find_api_destination(target.api_destination)) {
        reader.add_error(target.api_destination_location, target_path + ".ApiDestination",
                         fmt::format("no API destination named \"{}\"{}", target.api_destination,
                                     did_you_mean(target.api_destination, destination_names)));
      }
      const std::optional<DeadLetterConfig>& dlq = target.dead_letter_config;
      if (dlq && dlq->kind == DeadLetterConfig::Kind::kApiDestination &&
          !config.find_api_destination(dlq->api_destination)) {
        reader.add_error(dlq->location, target_path + ".DeadLetterConfig.Arn",
                         fmt::format("no API destination named \"{}\"{}", dlq->api_destination,
                                     did_you_mean(dlq->api_destination, destination_names)));
      }
    }
  }
}

void check_archives(YamlReader& reader, const Config& config) {
  std::vector<std::string> buses = config.event_bus_names();
  if (std::find(buses.begin(), buses.end(), "default") == buses.end()) {
    buses.insert(buses.begin(), "default");
  }
  std::set<std::string> names;
  for (size_t i = 0; i < config.archives.size(); ++i) {
    const Archive& archive = config.archives[i];
    if (!names.insert(archive.name).second) {
      reader.add_error(archive.location, fmt::format("Archives[{}].ArchiveName", i),
                       fmt::format("duplicate archive name \"{}\"", archive.name));
    }
    if (std::find(buses.begin(), buses.end(), archive.event_bus_name) == buses.end()) {
      reader.add_error(
          archive.location, fmt::format("Archives[{}].EventSourceArn", i),
          fmt::format("no event bus named \"{}\" (a bus exists when a rule uses "
                      "it){}",
                      archive.event_bus_name, did_you_mean(archive.event_bus_name, buses)));
    }
  }
}

// Store.Jetstream.AckWaitSeconds against the longest attempt: the delivery engine starts an
// attempt no later than two timeouts before its lease ends, so a lease of three timeouts leaves
// one for a job to wait its turn.
void check_ack_wait(YamlReader& reader, const Config& config) {
  if (!config.store.jetstream) {
    return;
  }
  // A Backlog request's timeout (integrations/backlog/client.h, Space::timeout_ms).
  constexpr int kBacklogTimeoutSeconds = 10;
  int longest = 0;
  std::string longest_what;
  for (const ApiDestination& destination : config.api_destinations) {
    if (destination.timeout_seconds > longest) {
      longest = destination.timeout_seconds;
      longest_what = fmt::format("ApiDestination {}", destination.name);
    }
  }
  for (const Rule& rule : config.rules) {
    for (const Target& target : rule.targets) {
      if (target.backlog && kBacklogTimeoutSeconds > longest) {
        longest = kBacklogTimeoutSeconds;
        longest_what = fmt::format("Backlog target {} of rule {}", target.id, rule.name);
      }
    }
  }
  const JetstreamStoreConfig& jetstream = *config.store.jetstream;
  if (jetstream.ack_wait_seconds < 3 * longest) {
    reader.add_error(jetstream.location, "Store.Jetstream.AckWaitSeconds",
                     fmt::format("{} s is too short for attempts of up to {} s ({}): give at "
                                 "least {} (three timeouts: an attempt starts no later than two "
                                 "before its lease ends)",
                                 jetstream.ack_wait_seconds, longest, longest_what, 3 * longest));
  }
}

}  // namespace

void cross_check(YamlReader& reader, const Config& config) {
  check_unique(reader, config.connections, "Connections",
               [](const Connection& c) { return c.name; });
  check_unique(reader, config.api_destinations, "ApiDestinations",
               [](const ApiDestination& d) { return d.name; });
  check_unique(reader, config.rules, "Rules",
               [](const Rule& r) { return r.event_bus_name + "/" + r.name; });
  check_connection_names(reader, config);
  check_targets(reader, config);
  check_archives(reader, config);
  check_log_paths(reader, config);
  check_ack_wait(reader, config);
  if (reader.error_count() == 0) {
    check_http_parameters(reader, config);  // needs every target's destination
  }
  if (reader.error_count() == 0) {
    warn_about_config(reader, config);
  }
}

}  // namespace hikyaku::config::internal
