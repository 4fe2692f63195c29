#pragma once
// The readers of the config's top-level sections, each mapping one part of the YAML tree onto
// the structs of config.h and reporting every problem into the YamlReader. A reader returns what
// it could read even when it reported errors; the load fails as a whole when any was reported.
//
// Thread safety: as YamlReader (one load, one thread).

#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"
#include "config/internal/yaml_reader.h"

namespace hikyaku::config::internal {

// Server: Listen, Account, Region, Auth, Tls, Limits.
void read_server(YamlReader& reader, const YAML::Node& server, ServerConfig& out);
// Store: Sqlite (Path, Synchronous) or Jetstream, MaxQueuedBytes, DeliveryLog.
void read_store(YamlReader& reader, const YAML::Node& store, StoreConfig& out);
// Store.Jetstream: Servers, Replicas, StreamPrefix, one kind of auth, Tls; every file it names
// must be readable. nullopt when it is not a mapping (reported).
std::optional<JetstreamStoreConfig> read_jetstream(YamlReader& reader, const YAML::Node& node);
// Connections[i]: the fields of CreateConnection.
Connection read_connection(YamlReader& reader, const YAML::Node& node, const std::string& path);
// ApiDestinations[i]: the fields of CreateApiDestination.
ApiDestination read_api_destination(YamlReader& reader, const YAML::Node& node,
                                    const std::string& path);
// Rules[i] with its Targets; the pattern and each target's input are validated by the
// components that own them (validate_hooks.h).
Rule read_rule(YamlReader& reader, const YAML::Node& node, const std::string& path);
// Archives[i]: the fields of CreateArchive; the pattern is validated by `pattern`, the bus
// checked against the rules' buses by cross_check.
Archive read_archive(YamlReader& reader, const YAML::Node& node, const std::string& path);
// Rules[i].Targets[j].Backlog; `label` (`rule "r" target "t"`) leads every message. nullopt
// when it is not a mapping (reported).
std::optional<BacklogTarget> read_backlog(YamlReader& reader, const YAML::Node& node,
                                          const std::string& path, const std::string& label);

// --- Fields several sections share ----------------------------------------------------------

// 1 to 64 characters of [.-_A-Za-z0-9], as AWS names rules, buses, targets and connections.
bool is_resource_name(std::string_view name);
// node[Name]: required, a resource name.
void read_name(YamlReader& reader, const YAML::Node& node, const std::string& path,
               std::string& out);
// Reports `url` unless it is an http(s) URL with a host of at most 2048 characters.
void check_url(YamlReader& reader, const YAML::Node& node, const std::string& path,
               const std::string& url);
// arn:aws:events:REGION:ACCOUNT:KIND/NAME[/ID] -> NAME; reports anything else and returns "".
std::string name_from_arn(YamlReader& reader, const YAML::Node& node, const std::string& path,
                          const std::string& arn, std::string_view kind);

}  // namespace hikyaku::config::internal
