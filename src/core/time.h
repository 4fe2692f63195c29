#pragma once
// RFC 3339 timestamps as EventBridge writes and reads them.
//
// Thread safety: all functions are pure.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hikyaku {

// "2026-03-01T09:15:02Z": UTC, whole seconds, as EventBridge writes an event's `time` and the
// input transformer's <aws.events.event.ingestion-time>.
std::string format_rfc3339_seconds(std::chrono::system_clock::time_point time);
// The same from seconds since the epoch, for any year a std::tm holds (a system_clock time point
// counts nanoseconds and overflows after 2262; PutEvents accepts times up to year 9999).
std::string format_rfc3339_seconds(int64_t epoch_seconds);
// "2026-03-01T09:15:02.118Z": with milliseconds, for logs and delivery records.
std::string format_rfc3339_millis(std::chrono::system_clock::time_point time);

// True for "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+hh:mm|-hh:mm)" with plausible field ranges.
bool is_rfc3339_timestamp(std::string_view text);

// Seconds since the epoch of such a timestamp (fraction dropped, offset applied); nullopt when
// `text` is not one or names a day that does not exist (2026-02-30).
std::optional<int64_t> parse_rfc3339(std::string_view text);

}  // namespace hikyaku
