#pragma once
// Invariant checks, and the one policy for what goes wrong (applied everywhere in src/):
//
// - Errors caused by untrusted input (requests, config files, events, CLI arguments) or by the
//   environment (disk, network, peers, clock) are values: Status / Result<T> (core/status.h),
//   answered or logged where they are understood. They never abort.
// - Boost/Asio errors are taken as error_code values (the non-throwing overloads), never as
//   exceptions. A library whose error channel is exceptions (yaml-cpp, CLI11) is caught at its
//   call site and turned into a Status there.
// - A broken invariant (a bug: a state our own code promised could not happen, or an unexpected
//   exception reaching a thread's loop) is not handled. It is logged at critical level with its
//   message and where it was found, and the process aborts, as Envoy does: limping on with
//   corrupt state would hide the bug and risk wrong deliveries; a crash leaves its message (and a
//   core only under `serve --allow-core-dumps`: a core holds every secret) and a restart recovers
//   from the durable store. Messages name counts and states, never request data or secrets:
//   they bypass the log's redaction.
//
// HK_CHECK(cond) and HK_CHECK_MSG(cond, fmt, args...) are always on; HK_DCHECK only in debug
// builds. fatal(message) is the same for code that has detected the broken invariant itself.
// Never use them to validate external input.
//
// Thread safety: safe from any thread.

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace hikyaku {

// Writes "[critical] file:line: message" to stderr (where the process's log goes) and aborts.
// The location defaults to the caller's (__builtin_FILE/LINE: clang 14 has no
// std::source_location).
[[noreturn]] inline void fatal(std::string_view message, const char* file = __builtin_FILE(),
                               int line = __builtin_LINE()) {
  std::fprintf(stderr, "[critical] %s:%d: %.*s\n", file, line, static_cast<int>(message.size()),
               message.data());
  std::fflush(stderr);
  std::abort();
}

}  // namespace hikyaku

#define HK_CHECK(condition)                          \
  do {                                               \
    if (!(condition)) {                              \
      ::hikyaku::fatal("check failed: " #condition); \
    }                                                \
  } while (false)

// HK_CHECK_MSG(statuses.size() == count, "the bus answered {} statuses for {}", a, b)
#define HK_CHECK_MSG(condition, ...)                                                               \
  do {                                                                                             \
    if (!(condition)) {                                                                            \
      ::hikyaku::fatal(fmt::format("check failed: {}: {}", #condition, fmt::format(__VA_ARGS__))); \
    }                                                                                              \
  } while (false)

#ifdef NDEBUG
#define HK_DCHECK(condition) \
  do {                       \
  } while (false && (condition))
#else
#define HK_DCHECK(condition) HK_CHECK(condition)
#endif
