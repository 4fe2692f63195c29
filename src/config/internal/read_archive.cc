// The Archives section: CreateArchive's fields (ArchiveName, EventSourceArn, EventPattern,
// RetentionDays, Description), plus EventBusName as a shorter way to name the source bus.

#include <fmt/format.h>

#include <algorithm>
#include <string_view>

#include "config/internal/sections.h"
#include "config/internal/validate_hooks.h"
#include "config/internal/yaml_to_json.h"

namespace hikyaku::config::internal {
namespace {

constexpr size_t kMaxArchiveNameChars = 48;     // AWS's ArchiveName
constexpr size_t kMaxDescriptionChars = 512;    // AWS's ArchiveDescription
constexpr size_t kMaxEventPatternChars = 4096;  // AWS's EventPattern of an archive

bool is_archive_name(std::string_view name) {
  return !name.empty() && name.size() <= kMaxArchiveNameChars && is_resource_name(name);
}

}  // namespace

Archive read_archive(YamlReader& reader, const YAML::Node& node, const std::string& path) {
  Archive archive;
  archive.location = location_of(node);
  if (!reader.check_map(node, path,
                        {"ArchiveName", "EventSourceArn", "EventBusName", "EventPattern",
                         "RetentionDays", "Description"})) {
    return archive;
  }
  if (reader.require(node, path, "ArchiveName")) {
    reader.read_string_into(node, path, "ArchiveName", archive.name);
    if (!archive.name.empty() && !is_archive_name(archive.name)) {
      reader.add_error(node["ArchiveName"], join(path, "ArchiveName"),
                       fmt::format("\"{}\" must be 1 to {} characters of [.-_A-Za-z0-9]",
                                   archive.name, kMaxArchiveNameChars));
    }
  }
  if (node["EventSourceArn"] && node["EventBusName"]) {
    reader.add_error(node, path, "give one of EventSourceArn and EventBusName, not both");
  } else if (node["EventSourceArn"]) {
    std::string arn;
    reader.read_string_into(node, path, "EventSourceArn", arn);
    archive.event_bus_name = name_from_arn(reader, node["EventSourceArn"],
                                           join(path, "EventSourceArn"), arn, "event-bus");
  } else if (node["EventBusName"]) {
    reader.read_string_into(node, path, "EventBusName", archive.event_bus_name);
    if (!is_resource_name(archive.event_bus_name)) {
      reader.add_error(node["EventBusName"], join(path, "EventBusName"),
                       fmt::format("\"{}\" must be 1 to 64 characters of [.-_A-Za-z0-9]",
                                   archive.event_bus_name));
    }
  } else {
    reader.add_error(node, join(path, "EventSourceArn"),
                     "is required: the ARN of the event bus to archive "
                     "(arn:aws:events:REGION:ACCOUNT:event-bus/NAME), or give EventBusName");
  }
  if (const YAML::Node pattern = node["EventPattern"]) {
    const std::string pattern_path = join(path, "EventPattern");
    if (std::optional<std::string> json = read_json_text(reader, pattern, pattern_path)) {
      archive.event_pattern = std::move(*json);
      if (archive.event_pattern.size() > kMaxEventPatternChars) {
        reader.add_error(pattern, pattern_path,
                         fmt::format("is {} characters; an archive's pattern may have at most {}",
                                     archive.event_pattern.size(), kMaxEventPatternChars));
      } else if (const Status status = validate_event_pattern(archive.event_pattern);
                 !status.ok()) {
        reader.add_error(
            pattern, pattern_path,
            fmt::format("invalid pattern in archive \"{}\": {}", archive.name, status.message()));
      }
    }
  }
  if (const YAML::Node days = node["RetentionDays"]) {
    archive.retention_days =
        reader.read_integer(days, join(path, "RetentionDays"), 0, 36500).value_or(0);
  }
  reader.read_string_into(node, path, "Description", archive.description);
  if (archive.description.size() > kMaxDescriptionChars) {
    reader.add_error(node["Description"], join(path, "Description"),
                     fmt::format("is {} characters; at most {}", archive.description.size(),
                                 kMaxDescriptionChars));
  }
  return archive;
}

}  // namespace hikyaku::config::internal
