#pragma once
// The archive seam between the server's AWS JSON operations (ListArchives, DescribeArchive,
// StartReplay, DescribeReplay, ListReplays, CancelReplay) and what keeps archives and runs
// replays (bus/archive_service.h, over the store and the pipeline). The server translates
// requests and errors; it never sees the store.
//
// Archives come from the config (Archives[]); they cannot be created over the API. A replay reads
// the events its archive kept in [EventStartTime, EventEndTime) and ingests them again on the
// archive's bus with "replay-name" set, matched only against the rules Destination.FilterArns
// names (every rule of the bus when empty). Replays are durable: a restart resumes them.
//
// Errors (the server maps them onto EventBridge's): kNotFound (ResourceNotFoundException),
// kAlreadyExists (ResourceAlreadyExistsException), kInvalidArgument (ValidationException),
// kFailedPrecondition (IllegalStatusException: cancelling a replay that has ended),
// kUnavailable (InternalException: the store failed).
//
// Thread safety: implementations are thread-safe.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace hikyaku::bus {

enum class ReplayState { kStarting, kRunning, kCancelling, kCompleted, kCancelled, kFailed };

inline std::string_view replay_state_name(ReplayState state) {
  switch (state) {
    case ReplayState::kStarting:
      return "STARTING";
    case ReplayState::kRunning:
      return "RUNNING";
    case ReplayState::kCancelling:
      return "CANCELLING";
    case ReplayState::kCompleted:
      return "COMPLETED";
    case ReplayState::kCancelled:
      return "CANCELLED";
    case ReplayState::kFailed:
      return "FAILED";
  }
  return "FAILED";
}

inline std::optional<ReplayState> parse_replay_state(std::string_view name) {
  for (ReplayState state :
       {ReplayState::kStarting, ReplayState::kRunning, ReplayState::kCancelling,
        ReplayState::kCompleted, ReplayState::kCancelled, ReplayState::kFailed}) {
    if (replay_state_name(state) == name) {
      return state;
    }
  }
  return std::nullopt;
}

// True once a replay can change no more.
inline bool replay_ended(ReplayState state) {
  return state == ReplayState::kCompleted || state == ReplayState::kCancelled ||
         state == ReplayState::kFailed;
}

// One archive as DescribeArchive shows it (State is always ENABLED: archives live in the config).
struct ArchiveInfo {
  std::string name;
  std::string arn;               // arn:aws:events:REGION:ACCOUNT:archive/NAME
  std::string event_source_arn;  // the bus's ARN
  std::string description;
  std::string event_pattern;  // "" = every event of the bus
  int64_t retention_days = 0;
  int64_t event_count = 0;
  int64_t size_bytes = 0;
  int64_t creation_time_ms = 0;  // when the serving process first saw the archive
};

// StartReplay's request, times in epoch milliseconds.
struct ReplayRequest {
  std::string name;
  std::string description;
  std::string event_source_arn;  // the archive's ARN
  int64_t event_start_ms = 0;
  int64_t event_end_ms = 0;
  std::string destination_arn;           // the archive's bus's ARN
  std::vector<std::string> filter_arns;  // rule ARNs; empty = every rule of the bus
};

struct ReplayInfo {
  std::string name;
  std::string arn;  // arn:aws:events:REGION:ACCOUNT:replay/NAME
  std::string description;
  ReplayState state = ReplayState::kStarting;
  std::string state_reason;
  std::string event_source_arn;
  std::string destination_arn;
  std::vector<std::string> filter_arns;
  int64_t event_start_ms = 0;
  int64_t event_end_ms = 0;
  std::optional<int64_t> event_last_replayed_ms;
  int64_t replay_start_ms = 0;
  std::optional<int64_t> replay_end_ms;
  int64_t replayed_events = 0;  // hikyaku's: how many events the replay has ingested so far
};

class Archives {
 public:
  virtual ~Archives() = default;

  // Every configured archive, in config order, with its count and size.
  virtual Result<std::vector<ArchiveInfo>> list_archives() = 0;
  virtual Result<ArchiveInfo> describe_archive(std::string_view name) = 0;

  // Records the replay (STARTING) and has it run in the background.
  virtual Result<ReplayInfo> start_replay(const ReplayRequest& request) = 0;
  virtual Result<ReplayInfo> describe_replay(std::string_view name) = 0;
  // Every replay ever started (ended ones too), by name.
  virtual Result<std::vector<ReplayInfo>> list_replays() = 0;
  // Marks the replay CANCELLING; it stops at its next page and becomes CANCELLED.
  virtual Result<ReplayInfo> cancel_replay(std::string_view name) = 0;
};

}  // namespace hikyaku::bus
