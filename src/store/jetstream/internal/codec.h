#pragma once
// The messages' encoding: a version byte, then the fields in a fixed order, integers as
// LEB128 varints (signed ones zigzagged) and strings as a varint length and the bytes. Compact,
// binary-safe (bodies may hold any byte) and cheap to write and read; docs/jetstream.md lists
// the fields. A message that does not decode is reported, never guessed at.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "store/store.h"

namespace hikyaku::store::internal {

// A delivery job as it travels in <prefix>_JOBS.
struct JobRecord {
  int64_t job_id = 0;  // 0: the message's own stream sequence (its first publication)
  std::string target;
  std::string event_id;
  std::string body;
  std::string headers;
  int64_t ingested_at_ms = 0;
  int attempts = 0;
  std::string last_error;
  int64_t due_at_ms = 0;
  std::optional<std::string> event;
};

std::string encode_job(const JobRecord& job);
std::optional<JobRecord> decode_job(std::string_view data);

// A dead letter in <prefix>_DLQ (its id is the message's sequence).
std::string encode_dead_letter(const JobRecord& job, const DeadLetterReason& reason,
                               int64_t dead_lettered_at_ms);
std::optional<DeadLetter> decode_dead_letter(std::string_view data);

std::string encode_archived(const ArchivedEvent& event);
// The event's envelope and ingest time (its id is the message's sequence).
std::optional<StoredArchivedEvent> decode_archived(std::string_view data);

std::string encode_delivery(const DeliveryRecord& record);
std::optional<DeliveryRecord> decode_delivery(std::string_view data);

}  // namespace hikyaku::store::internal
