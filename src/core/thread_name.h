#pragma once
// Names the calling thread (at most 15 characters are kept), so that `top -H`, `ps -L`, perf and
// gdb show which part of hikyaku a thread belongs to: hk-http, hk-commit, hk-checkpoint,
// hk-deliver.

#include <pthread.h>

#include <string>

namespace hikyaku {

inline void name_this_thread(const std::string& name) {
  (void)pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

}  // namespace hikyaku
