#include "core/time.h"

#include <fmt/format.h>

#include <ctime>

namespace hikyaku {
namespace {

std::tm utc(std::chrono::system_clock::time_point time) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(time);
  std::tm parts{};
  gmtime_r(&seconds, &parts);
  return parts;
}

bool digits(std::string_view text, size_t position, size_t count) {
  if (position + count > text.size()) {
    return false;
  }
  for (size_t i = position; i < position + count; ++i) {
    if (text[i] < '0' || text[i] > '9') {
      return false;
    }
  }
  return true;
}

int number_at(std::string_view text, size_t position, size_t count) {
  int value = 0;
  for (size_t i = position; i < position + count; ++i) {
    value = value * 10 + (text[i] - '0');
  }
  return value;
}

}  // namespace

std::string format_rfc3339_seconds(std::chrono::system_clock::time_point time) {
  return format_rfc3339_seconds(static_cast<int64_t>(std::chrono::system_clock::to_time_t(time)));
}

std::string format_rfc3339_seconds(int64_t epoch_seconds) {
  const auto seconds = static_cast<std::time_t>(epoch_seconds);
  std::tm parts{};
  gmtime_r(&seconds, &parts);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", parts.tm_year + 1900, parts.tm_mon + 1,
                     parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec);
}

std::string format_rfc3339_millis(std::chrono::system_clock::time_point time) {
  const std::tm parts = utc(time);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count() % 1000;
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", parts.tm_year + 1900,
                     parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec,
                     millis < 0 ? millis + 1000 : millis);
}

bool is_rfc3339_timestamp(std::string_view text) {
  // 2026-03-01T09:15:02Z
  // 0123456789012345678
  if (text.size() < 20 || !digits(text, 0, 4) || text[4] != '-' || !digits(text, 5, 2) ||
      text[7] != '-' || !digits(text, 8, 2) || (text[10] != 'T' && text[10] != 't') ||
      !digits(text, 11, 2) || text[13] != ':' || !digits(text, 14, 2) || text[16] != ':' ||
      !digits(text, 17, 2)) {
    return false;
  }
  const int month = number_at(text, 5, 2);
  const int day = number_at(text, 8, 2);
  if (month < 1 || month > 12 || day < 1 || day > 31 || number_at(text, 11, 2) > 23 ||
      number_at(text, 14, 2) > 59 || number_at(text, 17, 2) > 60) {
    return false;
  }
  size_t position = 19;
  if (text[position] == '.') {
    ++position;
    const size_t fraction_start = position;
    while (position < text.size() && text[position] >= '0' && text[position] <= '9') {
      ++position;
    }
    if (position == fraction_start) {
      return false;
    }
  }
  const std::string_view zone = text.substr(position);
  if (zone == "Z" || zone == "z") {
    return true;
  }
  return zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && digits(zone, 1, 2) &&
         zone[3] == ':' && digits(zone, 4, 2) && number_at(zone, 1, 2) <= 23 &&
         number_at(zone, 4, 2) <= 59;
}

std::optional<int64_t> parse_rfc3339(std::string_view text) {
  if (!is_rfc3339_timestamp(text)) {
    return std::nullopt;
  }
  const std::chrono::year_month_day ymd{
      std::chrono::year(number_at(text, 0, 4)),
      std::chrono::month(static_cast<unsigned>(number_at(text, 5, 2))),
      std::chrono::day(static_cast<unsigned>(number_at(text, 8, 2)))};
  if (!ymd.ok()) {
    return std::nullopt;
  }
  int64_t seconds = std::chrono::sys_days(ymd).time_since_epoch() / std::chrono::seconds(1);
  seconds += number_at(text, 11, 2) * 3600 + number_at(text, 14, 2) * 60 + number_at(text, 17, 2);
  // is_rfc3339_timestamp() admitted the text, so the zone is "Z" or a full "+hh:mm" at the end.
  const std::string_view zone = text.substr(text.size() - 6);
  if (zone[0] == '+' || zone[0] == '-') {
    const int offset = number_at(zone, 1, 2) * 3600 + number_at(zone, 4, 2) * 60;
    seconds += zone[0] == '+' ? -offset : offset;
  }
  return seconds;
}

}  // namespace hikyaku
