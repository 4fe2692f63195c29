// The archive and replay operations: ListArchives, DescribeArchive, StartReplay, DescribeReplay,
// ListReplays and CancelReplay, translated onto bus::Archives (ApiOptions::archives). Timestamps
// are epoch seconds (with a fraction for milliseconds), as AWS JSON 1.1 writes them.
#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <optional>

#include "core/arn.h"
#include "core/json_writer.h"
#include "server/internal/api.h"
#include "server/internal/wire.h"

namespace hikyaku::server {
namespace {

// The wire error of an Archives call.
std::pair<unsigned, std::string_view> wire_error(const Status& status) {
  switch (status.code()) {
    case StatusCode::kNotFound:
      return {400, "ResourceNotFoundException"};
    case StatusCode::kAlreadyExists:
      return {400, "ResourceAlreadyExistsException"};
    case StatusCode::kInvalidArgument:
      return {400, "ValidationException"};
    case StatusCode::kFailedPrecondition:
      return {400, "IllegalStatusException"};
    default:
      return {500, "InternalException"};
  }
}

void write_time(JsonWriter& writer, std::string_view key, int64_t epoch_ms) {
  writer.key(key);
  if (epoch_ms % 1000 == 0) {
    writer.number(epoch_ms / 1000);
  } else {
    writer.number(static_cast<double>(epoch_ms) / 1000.0);
  }
}

void write_text(JsonWriter& writer, std::string_view key, std::string_view value) {
  writer.key(key);
  writer.string(value);
}

void write_archive(JsonWriter& writer, const bus::ArchiveInfo& archive, bool describe) {
  writer.begin_object();
  if (describe) {
    write_text(writer, "ArchiveArn", archive.arn);
  }
  write_text(writer, "ArchiveName", archive.name);
  write_text(writer, "EventSourceArn", archive.event_source_arn);
  if (describe && !archive.description.empty()) {
    write_text(writer, "Description", archive.description);
  }
  if (describe && !archive.event_pattern.empty()) {
    write_text(writer, "EventPattern", archive.event_pattern);
  }
  write_text(writer, "State", "ENABLED");
  writer.key("RetentionDays");
  writer.number(archive.retention_days);
  writer.key("SizeBytes");
  writer.number(archive.size_bytes);
  writer.key("EventCount");
  writer.number(archive.event_count);
  write_time(writer, "CreationTime", archive.creation_time_ms);
  writer.end_object();
}

void write_replay(JsonWriter& writer, const bus::ReplayInfo& replay, bool describe) {
  writer.begin_object();
  write_text(writer, "ReplayName", replay.name);
  if (describe) {
    write_text(writer, "ReplayArn", replay.arn);
    if (!replay.description.empty()) {
      write_text(writer, "Description", replay.description);
    }
  }
  write_text(writer, "State", bus::replay_state_name(replay.state));
  if (!replay.state_reason.empty()) {
    write_text(writer, "StateReason", replay.state_reason);
  }
  write_text(writer, "EventSourceArn", replay.event_source_arn);
  if (describe) {
    writer.key("Destination");
    writer.begin_object();
    write_text(writer, "Arn", replay.destination_arn);
    if (!replay.filter_arns.empty()) {
      writer.key("FilterArns");
      writer.begin_array();
      for (const std::string& arn : replay.filter_arns) {
        writer.string(arn);
      }
      writer.end_array();
    }
    writer.end_object();
  }
  write_time(writer, "EventStartTime", replay.event_start_ms);
  write_time(writer, "EventEndTime", replay.event_end_ms);
  if (replay.event_last_replayed_ms) {
    write_time(writer, "EventLastReplayedTime", *replay.event_last_replayed_ms);
  }
  write_time(writer, "ReplayStartTime", replay.replay_start_ms);
  if (replay.replay_end_ms) {
    write_time(writer, "ReplayEndTime", *replay.replay_end_ms);
  }
  writer.end_object();
}

std::string missing_member(std::string_view wire_name) {
  return fmt::format(
      "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member "
      "must not be null",
      wire_name);
}

// A timestamp member (epoch seconds, maybe with a fraction) in milliseconds.
std::optional<int64_t> time_member(simdjson::dom::object object, std::string_view key) {
  double seconds = 0;
  if (object[key].get(seconds) != simdjson::SUCCESS || !std::isfinite(seconds) ||
      std::fabs(seconds) > 1e13) {
    return std::nullopt;
  }
  return static_cast<int64_t>(std::llround(seconds * 1000.0));
}

// Writes `items[start, start + limit)` as `key`, and NextToken when more follow.
template <typename Item, typename Write>
std::string page(simdjson::dom::object object, std::string_view key,
                 const std::vector<const Item*>& items, Write write) {
  const size_t start = std::min(start_index(object), items.size());
  const size_t end = std::min(items.size(), start + page_limit(object));
  JsonWriter writer;
  writer.begin_object();
  writer.key(key);
  writer.begin_array();
  for (size_t i = start; i < end; ++i) {
    write(writer, *items[i]);
  }
  writer.end_array();
  if (end < items.size()) {
    write_text(writer, "NextToken", std::to_string(end));
  }
  writer.end_object();
  return writer.take();
}

bool has_prefix(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

}  // namespace

std::optional<HttpResponse> Api::archive_operation(std::string_view operation,
                                                   const HttpRequest& request,
                                                   const std::string& request_id) {
  static constexpr std::string_view kOperations[] = {"ListArchives", "DescribeArchive",
                                                     "StartReplay",  "DescribeReplay",
                                                     "ListReplays",  "CancelReplay"};
  if (options_.archives == nullptr || std::find(std::begin(kOperations), std::end(kOperations),
                                                operation) == std::end(kOperations)) {
    return std::nullopt;
  }
  bus::Archives& archives = *options_.archives;
  ParsedBody body = parse_body_object(request.body);
  if (!body.error.empty()) {
    return aws_error(400, "SerializationException", body.error, request_id);
  }
  const auto failed = [&](const Status& status) {
    const auto [http_status, type] = wire_error(status);
    return aws_error(http_status, type, status.message(), request_id);
  };
  const simdjson::dom::object object = body.object;

  if (operation == "ListArchives") {
    Result<std::vector<bus::ArchiveInfo>> listed = archives.list_archives();
    if (!listed.has_value()) {
      return failed(listed.error());
    }
    const std::string prefix = optional_member(object, "NamePrefix");
    const std::string source = optional_member(object, "EventSourceArn");
    const std::string state = optional_member(object, "State");
    std::vector<const bus::ArchiveInfo*> matching;
    for (const bus::ArchiveInfo& archive : *listed) {
      const bool source_matches =
          source.empty() || arn_resource_name(source, "event-bus") ==
                                arn_resource_name(archive.event_source_arn, "event-bus");
      if (has_prefix(archive.name, prefix) && source_matches &&
          (state.empty() || state == "ENABLED")) {
        matching.push_back(&archive);
      }
    }
    return aws_json_response(page(object, "Archives", matching,
                                  [](JsonWriter& writer, const bus::ArchiveInfo& archive) {
                                    write_archive(writer, archive, false);
                                  }),
                             request_id);
  }
  if (operation == "ListReplays") {
    Result<std::vector<bus::ReplayInfo>> listed = archives.list_replays();
    if (!listed.has_value()) {
      return failed(listed.error());
    }
    const std::string prefix = optional_member(object, "NamePrefix");
    const std::string source = optional_member(object, "EventSourceArn");
    const std::string state = optional_member(object, "State");
    std::vector<const bus::ReplayInfo*> matching;
    for (const bus::ReplayInfo& replay : *listed) {
      const bool source_matches =
          source.empty() || arn_resource_name(source, "archive") ==
                                arn_resource_name(replay.event_source_arn, "archive");
      if (has_prefix(replay.name, prefix) && source_matches &&
          (state.empty() || state == bus::replay_state_name(replay.state))) {
        matching.push_back(&replay);
      }
    }
    return aws_json_response(page(object, "Replays", matching,
                                  [](JsonWriter& writer, const bus::ReplayInfo& replay) {
                                    write_replay(writer, replay, false);
                                  }),
                             request_id);
  }

  if (operation == "StartReplay") {
    bus::ReplayRequest replay;
    replay.name = optional_member(object, "ReplayName");
    replay.description = optional_member(object, "Description");
    replay.event_source_arn = optional_member(object, "EventSourceArn");
    const std::optional<int64_t> start = time_member(object, "EventStartTime");
    const std::optional<int64_t> end = time_member(object, "EventEndTime");
    simdjson::dom::object destination;
    const bool has_destination = object["Destination"].get(destination) == simdjson::SUCCESS;
    if (replay.name.empty()) {
      return aws_error(400, "ValidationException", missing_member("replayName"), request_id);
    }
    if (replay.event_source_arn.empty()) {
      return aws_error(400, "ValidationException", missing_member("eventSourceArn"), request_id);
    }
    if (!start) {
      return aws_error(400, "ValidationException", missing_member("eventStartTime"), request_id);
    }
    if (!end) {
      return aws_error(400, "ValidationException", missing_member("eventEndTime"), request_id);
    }
    if (!has_destination || optional_member(destination, "Arn").empty()) {
      return aws_error(400, "ValidationException", missing_member("destination.arn"), request_id);
    }
    replay.event_start_ms = *start;
    replay.event_end_ms = *end;
    replay.destination_arn = optional_member(destination, "Arn");
    simdjson::dom::array filters;
    if (destination["FilterArns"].get(filters) == simdjson::SUCCESS) {
      for (simdjson::dom::element filter : filters) {
        std::string_view arn;
        if (filter.get(arn) != simdjson::SUCCESS) {
          return aws_error(400, "SerializationException",
                           "Destination.FilterArns must be a list of strings.", request_id);
        }
        replay.filter_arns.emplace_back(arn);
      }
    }
    Result<bus::ReplayInfo> started = archives.start_replay(replay);
    if (!started.has_value()) {
      return failed(started.error());
    }
    JsonWriter writer;
    writer.begin_object();
    write_text(writer, "ReplayArn", started->arn);
    write_text(writer, "State", bus::replay_state_name(started->state));
    write_text(writer, "StateReason", started->state_reason);
    write_time(writer, "ReplayStartTime", started->replay_start_ms);
    writer.end_object();
    return aws_json_response(writer.take(), request_id);
  }

  // The three operations that name one archive or replay.
  const bool names_archive = operation == "DescribeArchive";
  const std::string name = optional_member(object, names_archive ? "ArchiveName" : "ReplayName");
  if (name.empty()) {
    return aws_error(400, "ValidationException",
                     missing_member(names_archive ? "archiveName" : "replayName"), request_id);
  }
  JsonWriter writer;
  if (names_archive) {
    Result<bus::ArchiveInfo> archive = archives.describe_archive(name);
    if (!archive.has_value()) {
      return failed(archive.error());
    }
    write_archive(writer, *archive, true);
  } else if (operation == "DescribeReplay") {
    Result<bus::ReplayInfo> replay = archives.describe_replay(name);
    if (!replay.has_value()) {
      return failed(replay.error());
    }
    write_replay(writer, *replay, true);
  } else {
    Result<bus::ReplayInfo> cancelled = archives.cancel_replay(name);
    if (!cancelled.has_value()) {
      return failed(cancelled.error());
    }
    writer.begin_object();
    write_text(writer, "ReplayArn", cancelled->arn);
    write_text(writer, "State", bus::replay_state_name(cancelled->state));
    write_text(writer, "StateReason", cancelled->state_reason);
    writer.end_object();
  }
  return aws_json_response(writer.take(), request_id);
}

}  // namespace hikyaku::server
