#pragma once
// Naming and prioritizing hikyaku's own threads.
//
// Names (at most 15 characters are kept) show in `top -H`, `ps -L`, perf and gdb: hk-http,
// hk-commit, hk-sync, hk-checkpoint, hk-deliver.
//
// Background threads (checkpoints, deliveries) run at a lower CPU priority than the path every
// PutEvents answer waits on (HTTP and the group commit): on a small machine the commit thread is
// the one serial stage, and at equal priority it spends much of its time runnable but waiting for
// a CPU. Lowering a thread's priority needs no privilege.
//
// Thread safety: each function acts on the calling thread only.

#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace hikyaku {

inline void name_this_thread(const std::string& name) {
  (void)pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

// How much a background thread yields: the nice value added to the process's.
inline constexpr int kCheckpointNice = 10;
inline constexpr int kDeliveryNice = 5;

// Makes the calling thread nicer by `increment` (Linux applies nice values per thread). Failure
// leaves the priority as it was.
inline void lower_this_thread_priority(int increment) {
  const auto thread = static_cast<id_t>(syscall(SYS_gettid));
  errno = 0;
  const int current = getpriority(PRIO_PROCESS, thread);
  if (errno == 0) {
    (void)setpriority(PRIO_PROCESS, thread, current + increment);
  }
}

}  // namespace hikyaku
