#include "delivery/internal/pacer.h"

#include <curl/curl.h>

#include <algorithm>
#include <charconv>
#include <limits>

namespace hikyaku::delivery::internal {
namespace {

using std::chrono::milliseconds;

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  return text;
}

std::optional<int64_t> parse_integer(std::string_view text) {
  text = trimmed(text);
  int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || text.empty()) {
    return std::nullopt;
  }
  return value;
}

// Bounds what a response may ask for: a day (a destination cannot park deliveries for longer
// than their maximum age anyway), so that arithmetic on it cannot overflow.
constexpr int64_t kMaxWaitSeconds = 86'400;

}  // namespace

std::optional<milliseconds> parse_retry_after(const std::string& value, WallTime wall_now) {
  if (value.empty()) {
    return std::nullopt;
  }
  if (std::optional<int64_t> seconds = parse_integer(value)) {
    return milliseconds(std::clamp(*seconds, -kMaxWaitSeconds, kMaxWaitSeconds) * 1000);
  }
  // An HTTP date (IMF-fixdate, or the obsolete RFC 850 and asctime forms, as RFC 9110 asks a
  // recipient to accept): libcurl's parser reads all three.
  const time_t at = curl_getdate(value.c_str(), nullptr);
  if (at == -1) {
    return std::nullopt;
  }
  const auto wait = std::chrono::duration_cast<milliseconds>(
      std::chrono::system_clock::from_time_t(at) - wall_now);
  return std::clamp(wait, milliseconds(0), milliseconds(kMaxWaitSeconds * 1000));
}

Pacer::Pacer(int rate_per_second, int max_in_flight) { set_limits(rate_per_second, max_in_flight); }

void Pacer::set_limits(int rate_per_second, int max_in_flight) {
  const int rate = std::max(rate_per_second, 1);
  interval_ = std::chrono::nanoseconds(1'000'000'000 / rate);
  tolerance_ = interval_ * (rate - 1);  // a burst of one second's worth
  max_in_flight_ = std::max(max_in_flight, 1);
}

std::optional<SteadyTime> Pacer::next_start(SteadyTime now) const {
  if (in_flight_ >= max_in_flight_) {
    return std::nullopt;
  }
  SteadyTime at = std::max({now, paused_until_, theoretical_arrival_ - tolerance_});
  if (const std::optional<int64_t> left = budget(); left && *left <= 0) {
    at = std::max(at, budget_resets_at_);
  }
  return at;
}

bool Pacer::try_start(SteadyTime now) {
  if (lowest_remaining_ && now >= budget_resets_at_) {
    lowest_remaining_.reset();  // a new window: its budget is learnt from its first answer
  }
  const std::optional<SteadyTime> at = next_start(now);
  if (!at || *at > now) {
    return false;
  }
  theoretical_arrival_ = std::max(theoretical_arrival_, now) + interval_;
  ++in_flight_;
  return true;
}

std::chrono::milliseconds Pacer::finish(const ResponseHints& hints, SteadyTime now,
                                        WallTime wall_now) {
  in_flight_ = std::max(in_flight_ - 1, 0);
  milliseconds wait{0};

  const std::optional<int64_t> remaining = parse_integer(hints.rate_limit_remaining);
  const std::optional<int64_t> reset = parse_integer(hints.rate_limit_reset);
  const bool budget_answer = remaining && reset;
  if (budget_answer) {
    const auto until_reset = std::clamp(
        std::chrono::ceil<milliseconds>(std::chrono::system_clock::from_time_t(*reset) - wall_now) +
            kResetMargin,
        milliseconds(0), milliseconds(kMaxWaitSeconds * 1000));
    const bool window_over = until_reset <= kResetMargin;
    if (!window_over && *reset >= window_reset_epoch_) {
      if (*reset > window_reset_epoch_ || !lowest_remaining_) {
        window_reset_epoch_ = *reset;
        budget_resets_at_ = now + until_reset;
        lowest_remaining_ = *remaining;
      } else {
        lowest_remaining_ = std::min(*lowest_remaining_, *remaining);
      }
    }
    if (const std::optional<int64_t> left = budget(); left && *left <= 0 && !window_over) {
      wait = until_reset;  // not a pause: next_start() holds back until the reset by itself
    }
    if (hints.http_status == 429 && window_over) {
      wait = until_reset;  // the window just ended: the retry may go at once
    }
  }

  const bool throttled = hints.http_status == 429 || hints.http_status == 503;
  const std::optional<milliseconds> retry_after =
      throttled ? parse_retry_after(hints.retry_after, wall_now) : std::nullopt;
  if (retry_after && *retry_after > milliseconds(0)) {
    pause_until(now + *retry_after);
    wait = std::max(wait, *retry_after);
  } else if (hints.http_status == 429 && !retry_after && !budget_answer) {
    // Throttled without a word on how long: back off, longer with each 429 in a row.
    pause_until(now + next_429_pause_);
    wait = std::max(wait, next_429_pause_);
    next_429_pause_ = std::min(next_429_pause_ * 2, kMax429Pause);
  }
  if (hints.http_status >= 200 && hints.http_status < 300) {
    next_429_pause_ = kFirst429Pause;
  }
  return wait;
}

void Pacer::pause_until(SteadyTime until) { paused_until_ = std::max(paused_until_, until); }

}  // namespace hikyaku::delivery::internal
