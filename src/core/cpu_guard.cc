// Refuses to start on a CPU that lacks the instructions the build was compiled for.
//
// A default build on a machine with AVX2 compiles hikyaku for Haswell-class CPUs (simdjson's
// On-Demand kernel is chosen at compile time; see cmake/HikyakuSettings.cmake). Copied to an
// older CPU such a binary would die with SIGILL somewhere in its first JSON parse. This file is
// compiled for baseline x86-64 whatever the rest of the build uses, and runs before any other
// static initializer of the program (constructor priority 101), so the user gets a sentence
// instead of a crash. `cmake -DHIKYAKU_PORTABLE=ON` builds a binary that runs on any x86-64.
//
// It is linked into programs only (the hikyaku executable, benchmarks), not into libraries.

#if defined(HIKYAKU_REQUIRES_AVX2) && (defined(__x86_64__) || defined(__i386__))

#include <unistd.h>

#include <cstring>

namespace {

__attribute__((constructor(101))) void refuse_unsupported_cpu() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi2") &&
      __builtin_cpu_supports("pclmul")) {
    return;
  }
  static constexpr char kMessage[] =
      "hikyaku: this binary was built for x86-64 CPUs with AVX2, BMI2 and PCLMUL (Haswell or "
      "newer), and this CPU lacks them. Rebuild it on this machine, or build a portable binary "
      "with cmake -DHIKYAKU_PORTABLE=ON.\n";
  // Nothing else is initialized yet: write(2) and _exit(2) only.
  [[maybe_unused]] const ssize_t written = ::write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
  ::_exit(70);  // EX_SOFTWARE
}

}  // namespace

#endif
