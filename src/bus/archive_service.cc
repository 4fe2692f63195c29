#include "bus/archive_service.h"

#include <fmt/format.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <future>

#include "core/arn.h"
#include "core/envelope.h"
#include "core/json_writer.h"
#include "core/thread.h"

namespace hikyaku::bus {

namespace {

constexpr std::string_view kReplayKeyPrefix = "replay/";
// When an archive was first seen by a serving process (its CreationTime).
constexpr std::string_view kArchiveCreatedPrefix = "archive-created/";
constexpr int64_t kMillisPerDay = int64_t{86'400'000};
constexpr int kExpireChunk = 5000;
constexpr size_t kMaxReplayNameChars = 64;
constexpr size_t kMaxDescriptionChars = 512;
// How long the thread waits with nothing to do, and for room in the committer.
constexpr auto kIdleWait = std::chrono::seconds(1);
constexpr auto kRoomWait = std::chrono::milliseconds(20);
// After a page refused for want of room (the committer filled meanwhile): try again after this.
constexpr auto kRetryWait = std::chrono::milliseconds(100);

std::string replay_key(std::string_view name) {
  return std::string(kReplayKeyPrefix) + std::string(name);
}

bool is_replay_name(std::string_view name) {
  return !name.empty() && name.size() <= kMaxReplayNameChars &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-' || c == '_';
         });
}

// arn:...:rule/NAME (default bus) or arn:...:rule/BUS/NAME -> {bus, name}.
std::optional<std::pair<std::string, std::string>> rule_of_arn(std::string_view arn) {
  constexpr std::string_view kMarker = ":rule/";
  const size_t start = arn.find(kMarker);
  if (arn.substr(0, 4) != "arn:" || start == std::string_view::npos) {
    return std::nullopt;
  }
  const std::string_view rest = arn.substr(start + kMarker.size());
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos) {
    return std::make_pair(std::string("default"), std::string(rest));
  }
  return std::make_pair(std::string(rest.substr(0, slash)), std::string(rest.substr(slash + 1)));
}

std::string archive_arn(std::string_view region, std::string_view account, std::string_view name) {
  return fmt::format("arn:aws:events:{}:{}:archive/{}", region, account, name);
}

std::string replay_arn(std::string_view region, std::string_view account, std::string_view name) {
  return fmt::format("arn:aws:events:{}:{}:replay/{}", region, account, name);
}

}  // namespace

// A replay as kept in the KV: what DescribeReplay shows, and what the runner needs.
struct ArchiveService::Record {
  ReplayInfo info;
  std::string archive;
  std::string bus;
  std::vector<std::string> rules;  // names; empty = every rule of the bus
  store::ArchiveCursor cursor;

  std::string to_json() const {
    JsonWriter writer;
    writer.begin_object();
    const auto text = [&](std::string_view key, std::string_view value) {
      writer.key(key);
      writer.string(value);
    };
    const auto number = [&](std::string_view key, int64_t value) {
      writer.key(key);
      writer.number(value);
    };
    text("ReplayName", info.name);
    text("ReplayArn", info.arn);
    text("Description", info.description);
    text("State", replay_state_name(info.state));
    text("StateReason", info.state_reason);
    text("EventSourceArn", info.event_source_arn);
    text("DestinationArn", info.destination_arn);
    writer.key("FilterArns");
    writer.begin_array();
    for (const std::string& arn : info.filter_arns) {
      writer.string(arn);
    }
    writer.end_array();
    number("EventStartTimeMs", info.event_start_ms);
    number("EventEndTimeMs", info.event_end_ms);
    number("EventLastReplayedTimeMs", info.event_last_replayed_ms.value_or(-1));
    number("ReplayStartTimeMs", info.replay_start_ms);
    number("ReplayEndTimeMs", info.replay_end_ms.value_or(-1));
    number("ReplayedEvents", info.replayed_events);
    text("Archive", archive);
    text("Bus", bus);
    writer.key("Rules");
    writer.begin_array();
    for (const std::string& rule : rules) {
      writer.string(rule);
    }
    writer.end_array();
    number("CursorMs", cursor.ingested_at_ms);
    number("CursorId", cursor.id);
    writer.end_object();
    return writer.take();
  }

  static Result<Record> from_json(std::string_view json) {
    simdjson::dom::parser parser;
    simdjson::dom::object object;
    if (parser.parse(json.data(), json.size()).get(object) != simdjson::SUCCESS) {
      return internal_error("a replay record is not a JSON object");
    }
    Record record;
    bool ok = true;
    const auto text = [&](std::string_view key, std::string& out) {
      std::string_view value;
      ok = ok && object[key].get(value) == simdjson::SUCCESS;
      out = std::string(value);
    };
    const auto number = [&](std::string_view key) {
      int64_t value = 0;
      ok = ok && object[key].get(value) == simdjson::SUCCESS;
      return value;
    };
    const auto list = [&](std::string_view key, std::vector<std::string>& out) {
      simdjson::dom::array array;
      ok = ok && object[key].get(array) == simdjson::SUCCESS;
      if (ok) {
        for (simdjson::dom::element element : array) {
          std::string_view value;
          ok = ok && element.get(value) == simdjson::SUCCESS;
          out.emplace_back(value);
        }
      }
    };
    std::string state;
    text("ReplayName", record.info.name);
    text("ReplayArn", record.info.arn);
    text("Description", record.info.description);
    text("State", state);
    text("StateReason", record.info.state_reason);
    text("EventSourceArn", record.info.event_source_arn);
    text("DestinationArn", record.info.destination_arn);
    list("FilterArns", record.info.filter_arns);
    record.info.event_start_ms = number("EventStartTimeMs");
    record.info.event_end_ms = number("EventEndTimeMs");
    if (const int64_t last = number("EventLastReplayedTimeMs"); last >= 0) {
      record.info.event_last_replayed_ms = last;
    }
    record.info.replay_start_ms = number("ReplayStartTimeMs");
    if (const int64_t end = number("ReplayEndTimeMs"); end >= 0) {
      record.info.replay_end_ms = end;
    }
    record.info.replayed_events = number("ReplayedEvents");
    text("Archive", record.archive);
    text("Bus", record.bus);
    list("Rules", record.rules);
    record.cursor.ingested_at_ms = number("CursorMs");
    record.cursor.id = number("CursorId");
    const std::optional<ReplayState> parsed = parse_replay_state(state);
    if (!ok || !parsed) {
      return internal_error("a replay record lacks a field or has a wrong type");
    }
    record.info.state = *parsed;
    return record;
  }
};

ArchiveService::ArchiveService(store::Store& store, store::GroupCommitter& committer,
                               Pipeline& pipeline, const Clock& clock, Options options)
    : store_(store), committer_(committer), pipeline_(pipeline), clock_(clock), options_(options) {}

ArchiveService::~ArchiveService() { stop(); }

Status ArchiveService::resume() {
  std::string after;
  for (;;) {
    HK_ASSIGN_OR_RETURN(auto entries, store_.kv_list(std::string(kReplayKeyPrefix), after, 100));
    for (const auto& [key, entry] : entries) {
      Result<Record> record = Record::from_json(entry.value);
      if (!record.has_value()) {
        spdlog::error("replay record {} is unreadable: {}", key, record.error().message());
        continue;
      }
      if (!replay_ended(record->info.state)) {
        spdlog::info("replay resumes name={} state={}", record->info.name,
                     replay_state_name(record->info.state));
        activate(record->info.name);
      }
    }
    if (entries.size() < 100) {
      return ok_status();
    }
    after = entries.back().first;
  }
}

Status ArchiveService::start() {
  HK_RETURN_IF_ERROR(resume());
  MutexLock lock(mutex_);
  if (started_) {
    return failed_precondition("the archive service is started already");
  }
  started_ = true;
  thread_ = std::thread([this] { run(); });
  return ok_status();
}

void ArchiveService::stop() {
  {
    MutexLock lock(mutex_);
    stopping_ = true;
    wake_.notify_all();
  }
  if (thread_.joinable()) {
    thread_.join();
  }
}

void ArchiveService::activate(const std::string& name) {
  MutexLock lock(mutex_);
  if (std::find(active_.begin(), active_.end(), name) == active_.end()) {
    active_.push_back(name);
  }
  wake_.notify_all();
}

void ArchiveService::run() {
  name_this_thread("hk-replay");
  lower_this_thread_priority(kCheckpointNice);
  auto next_sweep = std::chrono::steady_clock::now();
  auto next_page = std::chrono::steady_clock::now();
  for (;;) {
    if (std::chrono::steady_clock::now() >= next_sweep) {
      if (Result<int64_t> removed = sweep_retention(); !removed.has_value()) {
        spdlog::error("archive retention: {}", removed.error().message());
      } else if (*removed > 0) {
        spdlog::info("archive retention removed={}", *removed);
      }
      next_sweep = std::chrono::steady_clock::now() + options_.retention_sweep_interval;
    }
    std::chrono::steady_clock::time_point wake_at = next_sweep;
    if (std::chrono::steady_clock::now() >= next_page) {
      Result<Step> step = run_once();
      if (!step.has_value()) {
        spdlog::error("replay: {}", step.error().message());
        wake_at = std::min(wake_at, std::chrono::steady_clock::now() + kRetryWait);
      } else if (step->kind == Step::kWorked) {
        if (options_.max_events_per_second > 0 && step->events > 0) {
          next_page =
              std::chrono::steady_clock::now() +
              std::chrono::milliseconds(step->events * 1000 / options_.max_events_per_second);
        }
        wake_at = std::min(wake_at, next_page);
      } else if (step->kind == Step::kWaitingForRoom) {
        wake_at = std::min(wake_at, std::chrono::steady_clock::now() + kRoomWait);
      } else {
        wake_at = std::min(wake_at, std::chrono::steady_clock::now() + kIdleWait);
      }
    } else {
      wake_at = std::min(wake_at, next_page);
    }
    MutexLock lock(mutex_);
    if (stopping_) {
      return;
    }
    const bool idle_wait = wake_at > std::chrono::steady_clock::now();
    if (idle_wait) {
      // A new replay or a cancel wakes the thread early, but never before a paced page.
      wake_.wait_until(lock, wake_at);
    }
    if (stopping_) {
      return;
    }
  }
}

Result<ArchiveService::Step> ArchiveService::run_once() {
  std::string name;
  {
    MutexLock lock(mutex_);
    if (active_.empty()) {
      return Step{Step::kIdle, 0};
    }
    name = active_.front();
  }
  if (static_cast<double>(committer_.room_bytes()) <
      options_.min_free_fraction * static_cast<double>(committer_.max_queued_bytes())) {
    return Step{Step::kWaitingForRoom, 0};
  }
  int64_t events = 0;
  bool finished = false;
  const Status status = step(name, events, finished);
  // A record that cannot be read or written will not get better by trying again at once: the
  // replay leaves the rotation (a restart tries it again). Unavailable stores and full queues are
  // retried.
  if (!status.ok() && status.code() != StatusCode::kResourceExhausted &&
      status.code() != StatusCode::kUnavailable) {
    spdlog::error("replay {} stops until the next start: {}", name, status.message());
    finished = true;
  }
  {
    MutexLock lock(mutex_);
    auto found = std::find(active_.begin(), active_.end(), name);
    if (found != active_.end()) {
      active_.erase(found);
      if (!finished) {
        active_.push_back(name);  // the next active replay's turn
      }
    }
  }
  if (!status.ok()) {
    if (status.code() == StatusCode::kResourceExhausted) {
      return Step{Step::kWaitingForRoom, 0};
    }
    return status;
  }
  return Step{Step::kWorked, events};
}

Status ArchiveService::step(const std::string& name, int64_t& events, bool& finished) {
  const std::string key = replay_key(name);
  HK_ASSIGN_OR_RETURN(std::optional<store::KvEntry> entry, store_.kv_get(key));
  if (!entry) {
    finished = true;
    return ok_status();
  }
  HK_ASSIGN_OR_RETURN(Record record, Record::from_json(entry->value));
  int64_t revision = entry->revision;
  // Writes `record`; when a cancel came in meanwhile, keeps its state and writes again.
  const auto save = [&](Record& changed) -> Status {
    for (;;) {
      Result<int64_t> written = store_.kv_put_if(key, changed.to_json(), revision);
      if (written.has_value()) {
        revision = *written;
        return ok_status();
      }
      if (written.error().code() != StatusCode::kFailedPrecondition) {
        return written.error();
      }
      HK_ASSIGN_OR_RETURN(std::optional<store::KvEntry> fresh, store_.kv_get(key));
      if (!fresh) {
        return not_found("replay " + name + " was removed");
      }
      HK_ASSIGN_OR_RETURN(Record current, Record::from_json(fresh->value));
      revision = fresh->revision;
      if (current.info.state == ReplayState::kCancelling && !replay_ended(changed.info.state)) {
        changed.info.state = ReplayState::kCancelling;
      }
    }
  };
  if (replay_ended(record.info.state)) {
    finished = true;
    return ok_status();
  }
  const auto end = [&](ReplayState state, std::string reason) -> Status {
    record.info.state = state;
    record.info.state_reason = std::move(reason);
    record.info.replay_end_ms = clock_.now_ms();
    finished = true;
    spdlog::info("replay ended name={} state={} events={}", name, replay_state_name(state),
                 record.info.replayed_events);
    return save(record);
  };
  if (record.info.state == ReplayState::kCancelling) {
    return end(ReplayState::kCancelled, "Replay cancelled");
  }
  const std::shared_ptr<const config::Config> config = pipeline_.config();
  if (config->find_archive(record.archive) == nullptr) {
    return end(ReplayState::kFailed,
               fmt::format("Archive {} is no longer in the configuration", record.archive));
  }
  if (record.info.state == ReplayState::kStarting) {
    record.info.state = ReplayState::kRunning;
    record.info.state_reason = "Replay is running";
  }
  HK_ASSIGN_OR_RETURN(std::vector<store::StoredArchivedEvent> page,
                      store_.archive_read(record.archive, record.info.event_end_ms, record.cursor,
                                          options_.page_events));
  if (page.empty()) {
    return end(ReplayState::kCompleted, "Replay completed");
  }
  std::vector<Envelope> envelopes;
  envelopes.reserve(page.size());
  for (const store::StoredArchivedEvent& stored : page) {
    Result<Envelope> envelope = parse_envelope(stored.envelope);
    if (!envelope.has_value()) {
      spdlog::warn("replay {}: archived event {} is unreadable and skipped: {}", name, stored.id,
                   envelope.error().message());
      continue;
    }
    envelope->replay_name = name;
    envelopes.push_back(std::move(envelope).value());
  }
  const size_t count = envelopes.size();
  if (!envelopes.empty()) {
    std::promise<std::vector<Status>> answered;
    pipeline_.replay(
        record.bus, std::move(envelopes), record.rules,
        [&answered](std::vector<Status> statuses) { answered.set_value(std::move(statuses)); });
    for (const Status& status : answered.get_future().get()) {
      // Nothing of the page was stored: the same page again later.
      if (status.code() == StatusCode::kResourceExhausted ||
          status.code() == StatusCode::kUnavailable ||
          status.code() == StatusCode::kDeadlineExceeded ||
          status.code() == StatusCode::kInternal) {
        HK_RETURN_IF_ERROR(save(record));  // the state change, not the cursor
        return status;
      }
    }
  }
  record.cursor = {page.back().ingested_at_ms, page.back().id};
  record.info.event_last_replayed_ms = page.back().ingested_at_ms;
  record.info.replayed_events += static_cast<int64_t>(count);
  events = static_cast<int64_t>(count);
  return save(record);
}

Result<int64_t> ArchiveService::sweep_retention() {
  const std::shared_ptr<const config::Config> config = pipeline_.config();
  int64_t removed = 0;
  const int64_t now_ms = clock_.now_ms();
  for (const config::Archive& archive : config->archives) {
    if (archive.retention_days <= 0) {
      continue;
    }
    const int64_t before_ms = now_ms - archive.retention_days * kMillisPerDay;
    for (;;) {
      HK_ASSIGN_OR_RETURN(int64_t chunk,
                          store_.archive_expire(archive.name, before_ms, kExpireChunk));
      removed += chunk;
      if (chunk < kExpireChunk) {
        break;
      }
    }
  }
  return removed;
}

Result<ArchiveInfo> ArchiveService::archive_info(const config::Config& config,
                                                 const config::Archive& archive) {
  const std::string region = config.server.region.value_or("us-east-1");
  ArchiveInfo info;
  info.name = archive.name;
  info.arn = archive_arn(region, config.server.account, archive.name);
  info.event_source_arn = event_bus_arn(region, config.server.account, archive.event_bus_name);
  info.description = archive.description;
  info.event_pattern = archive.event_pattern;
  info.retention_days = archive.retention_days;
  HK_ASSIGN_OR_RETURN(store::ArchiveStats stats, store_.archive_stats(archive.name));
  info.event_count = stats.event_count;
  info.size_bytes = stats.size_bytes;
  const std::string created_key = std::string(kArchiveCreatedPrefix) + archive.name;
  HK_ASSIGN_OR_RETURN(std::optional<store::KvEntry> created, store_.kv_get(created_key));
  if (created) {
    info.creation_time_ms = std::strtoll(created->value.c_str(), nullptr, 10);
  } else {
    info.creation_time_ms = clock_.now_ms();
    // Losing the race to another caller only means its time is kept.
    (void)store_.kv_put_if(created_key, std::to_string(info.creation_time_ms), 0);
  }
  return info;
}

Result<std::vector<ArchiveInfo>> ArchiveService::list_archives() {
  const std::shared_ptr<const config::Config> config = pipeline_.config();
  std::vector<ArchiveInfo> archives;
  for (const config::Archive& archive : config->archives) {
    HK_ASSIGN_OR_RETURN(ArchiveInfo info, archive_info(*config, archive));
    archives.push_back(std::move(info));
  }
  return archives;
}

Result<ArchiveInfo> ArchiveService::describe_archive(std::string_view name) {
  const std::shared_ptr<const config::Config> config = pipeline_.config();
  const config::Archive* archive = config->find_archive(name);
  if (archive == nullptr) {
    return not_found(fmt::format("Archive {} does not exist.", name));
  }
  return archive_info(*config, *archive);
}

Result<ReplayInfo> ArchiveService::start_replay(const ReplayRequest& request) {
  if (!is_replay_name(request.name)) {
    return invalid_argument(
        fmt::format("1 validation error detected: Value '{}' at 'replayName' failed to satisfy "
                    "constraint: Member must have length between 1 and 64 and match pattern "
                    "[\\.\\-_A-Za-z0-9]+",
                    request.name.substr(0, 128)));
  }
  if (request.description.size() > kMaxDescriptionChars) {
    return invalid_argument(
        "1 validation error detected: Value at 'description' failed to satisfy constraint: "
        "Member must have length less than or equal to 512");
  }
  const std::shared_ptr<const config::Config> config = pipeline_.config();
  const std::optional<std::string_view> archive_name =
      arn_resource_name(request.event_source_arn, "archive");
  const config::Archive* archive = archive_name ? config->find_archive(*archive_name) : nullptr;
  if (archive == nullptr) {
    return not_found(
        fmt::format("Archive {} does not exist.", archive_name.value_or(request.event_source_arn)));
  }
  if (request.event_start_ms >= request.event_end_ms) {
    return invalid_argument(
        "Parameter EventStartTime is not valid. Reason: EventStartTime must be before "
        "EventEndTime.");
  }
  if (request.event_end_ms > clock_.now_ms()) {
    return invalid_argument(
        "Parameter EventEndTime is not valid. Reason: EventEndTime cannot be in the future.");
  }
  const std::optional<std::string_view> destination_bus =
      arn_resource_name(request.destination_arn, "event-bus");
  if (!destination_bus || *destination_bus != archive->event_bus_name) {
    return invalid_argument(
        fmt::format("Parameter Destination.Arn is not valid. Reason: Cross event bus replay is not "
                    "permitted: the destination must be the archive's event bus {}.",
                    archive->event_bus_name));
  }
  Record record;
  for (const std::string& arn : request.filter_arns) {
    const auto rule = rule_of_arn(arn);
    const bool exists =
        rule && rule->first == archive->event_bus_name &&
        std::any_of(config->rules.begin(), config->rules.end(), [&](const config::Rule& r) {
          return r.event_bus_name == rule->first && r.name == rule->second;
        });
    if (!exists) {
      return invalid_argument(fmt::format(
          "Parameter Destination.FilterArns is not valid. Reason: {} is not a rule of event bus "
          "{}.",
          arn.substr(0, 256), archive->event_bus_name));
    }
    record.rules.push_back(rule->second);
  }
  const std::string region = config->server.region.value_or("us-east-1");
  record.info.name = request.name;
  record.info.arn = replay_arn(region, config->server.account, request.name);
  record.info.description = request.description;
  record.info.state = ReplayState::kStarting;
  record.info.state_reason = "Replay is starting";
  record.info.event_source_arn = archive_arn(region, config->server.account, archive->name);
  record.info.destination_arn = request.destination_arn;
  record.info.filter_arns = request.filter_arns;
  record.info.event_start_ms = request.event_start_ms;
  record.info.event_end_ms = request.event_end_ms;
  record.info.replay_start_ms = clock_.now_ms();
  record.archive = archive->name;
  record.bus = archive->event_bus_name;
  record.cursor = {request.event_start_ms, 0};
  Result<int64_t> written = store_.kv_put_if(replay_key(request.name), record.to_json(), 0);
  if (!written.has_value()) {
    if (written.error().code() == StatusCode::kFailedPrecondition) {
      return already_exists(fmt::format("Replay {} already exists.", request.name));
    }
    return written.error();
  }
  spdlog::info("replay started name={} archive={} rules={}", request.name, archive->name,
               record.rules.empty() ? std::string("all") : fmt::format("{}", record.rules.size()));
  activate(request.name);
  return record.info;
}

Result<ReplayInfo> ArchiveService::describe_replay(std::string_view name) {
  HK_ASSIGN_OR_RETURN(std::optional<store::KvEntry> entry, store_.kv_get(replay_key(name)));
  if (!entry) {
    return not_found(fmt::format("Replay {} does not exist.", name));
  }
  HK_ASSIGN_OR_RETURN(Record record, Record::from_json(entry->value));
  return record.info;
}

Result<std::vector<ReplayInfo>> ArchiveService::list_replays() {
  std::vector<ReplayInfo> replays;
  std::string after;
  for (;;) {
    HK_ASSIGN_OR_RETURN(auto entries, store_.kv_list(std::string(kReplayKeyPrefix), after, 100));
    for (const auto& [key, entry] : entries) {
      HK_ASSIGN_OR_RETURN(Record record, Record::from_json(entry.value));
      replays.push_back(std::move(record.info));
    }
    if (entries.size() < 100) {
      return replays;
    }
    after = entries.back().first;
  }
}

Result<ReplayInfo> ArchiveService::cancel_replay(std::string_view name) {
  const std::string key = replay_key(name);
  for (;;) {
    HK_ASSIGN_OR_RETURN(std::optional<store::KvEntry> entry, store_.kv_get(key));
    if (!entry) {
      return not_found(fmt::format("Replay {} does not exist.", name));
    }
    HK_ASSIGN_OR_RETURN(Record record, Record::from_json(entry->value));
    if (replay_ended(record.info.state) || record.info.state == ReplayState::kCancelling) {
      return failed_precondition(fmt::format("Replay {} is {} and cannot be cancelled.", name,
                                             replay_state_name(record.info.state)));
    }
    record.info.state = ReplayState::kCancelling;
    record.info.state_reason = "Replay is being cancelled";
    Result<int64_t> written = store_.kv_put_if(key, record.to_json(), entry->revision);
    if (written.has_value()) {
      spdlog::info("replay cancelling name={}", name);
      activate(std::string(name));
      return record.info;
    }
    if (written.error().code() != StatusCode::kFailedPrecondition) {
      return written.error();
    }
  }
}

}  // namespace hikyaku::bus
