#pragma once
// One API destination's sending schedule (docs/api-destinations.md §2.3): when may the next
// request to it start?
//
//   - InvocationRateLimitPerSecond is a token bucket: a steady `rate` per second with a burst of
//     at most one second's worth (GCRA: one theoretical arrival time, no timer per token).
//   - At most `max_in_flight` requests are outstanding at once.
//   - Responses teach it pauses: a 429 or 503 with `Retry-After` (delta seconds or an HTTP date)
//     pauses the destination until then; a 429 without it pauses for a back-off that doubles
//     with each 429 in a row (1 s .. 60 s) and resets on the next success; Backlog-style
//     `X-RateLimit-Remaining` / `X-RateLimit-Reset` (epoch seconds) keep a request budget, so
//     that when the window's budget is spent the destination waits for the reset instead of
//     collecting 429s.
//
// The budget, whatever order the server took the requests in and the answers are read in: the
// lowest Remaining of the window's answers counts every request the server took up to the last
// one it answered; each request still unanswered may come after that one. So the budget is that
// lowest Remaining minus the requests in flight: never more than is left, and exact once they are
// answered (it rises again as answers show that requests in flight had been counted already).
// A window is named by its Reset: an answer with a later Reset starts a new window, one
// with an earlier Reset (or one already past) is stale and ignored. The reset is waited for to
// the millisecond rounded up plus kResetMargin: servers count whole seconds, and a request a
// hair early costs a 429. A 429 that carries these headers is the budget's, not an overload: it
// waits for the reset (at once when the window has just ended) without the 429 back-off. Once the
// reset has passed, the new window's budget is unknown until its first answer.
//
// Time comes from the caller: monotonic time for the schedule, wall time only to read HTTP dates
// and epoch resets. Pure logic: the engine owns one per destination, on its own thread.
//
// Thread safety: none (one owner thread).

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "delivery/request.h"

namespace hikyaku::delivery::internal {

using SteadyTime = std::chrono::steady_clock::time_point;
using WallTime = std::chrono::system_clock::time_point;
using delivery::ResponseHints;

// How long `Retry-After` asks to wait, from `wall_now`: delta seconds or an HTTP date (a date
// in the past is 0). Negative delta seconds (EventBridge: stop retrying this event) give a
// negative duration. nullopt when the value is absent or unreadable.
std::optional<std::chrono::milliseconds> parse_retry_after(const std::string& value,
                                                           WallTime wall_now);

class Pacer {
 public:
  static constexpr std::chrono::milliseconds kFirst429Pause{1000};
  static constexpr std::chrono::milliseconds kMax429Pause{60'000};
  static constexpr std::chrono::milliseconds kResetMargin{10};

  Pacer(int rate_per_second, int max_in_flight);

  // A reload may change the rate; the schedule so far is kept.
  void set_limits(int rate_per_second, int max_in_flight);

  // The earliest time a request may start, as far as time goes (now or later); nullopt when
  // only a request in flight finishing can make room.
  std::optional<SteadyTime> next_start(SteadyTime now) const;
  // Takes a send slot if one is free at `now`.
  bool try_start(SteadyTime now);
  // A request started with try_start() ended (with or without a response); learns from
  // `hints`. Returns how long the response asked this destination to wait (Retry-After, the
  // 429 back-off or the rate-limit reset), zero when it did not.
  std::chrono::milliseconds finish(const ResponseHints& hints, SteadyTime now, WallTime wall_now);

  SteadyTime paused_until() const { return paused_until_; }
  // The steady spacing of sends: 1 s / rate.
  std::chrono::nanoseconds interval() const { return interval_; }
  int in_flight() const { return in_flight_; }
  // Requests the current rate-limit window still allows, as far as its answers tell (nullopt:
  // none told yet).
  std::optional<int64_t> budget() const {
    return lowest_remaining_ ? std::optional<int64_t>(*lowest_remaining_ - in_flight_)
                             : std::nullopt;
  }

 private:
  void pause_until(SteadyTime until);

  std::chrono::nanoseconds interval_{};   // 1 s / rate
  std::chrono::nanoseconds tolerance_{};  // (burst - 1) x interval
  int max_in_flight_ = 1;
  SteadyTime theoretical_arrival_{};  // GCRA
  SteadyTime paused_until_{};
  int in_flight_ = 0;
  std::chrono::milliseconds next_429_pause_ = kFirst429Pause;
  // The lowest X-RateLimit-Remaining of the window's answers; none: no answer yet.
  std::optional<int64_t> lowest_remaining_;
  int64_t window_reset_epoch_ = 0;  // the window's X-RateLimit-Reset
  SteadyTime budget_resets_at_{};
};

}  // namespace hikyaku::delivery::internal
