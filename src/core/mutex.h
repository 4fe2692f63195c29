#pragma once
// A std::mutex that clang's thread-safety analysis understands (libstdc++'s is not annotated),
// its scoped lock, and a condition variable that waits on it.
//
//   Mutex mutex_;
//   std::deque<Job> queue_ HK_GUARDED_BY(mutex_);
//   CondVar ready_;
//   ...
//   MutexLock lock(mutex_);
//   ready_.wait(lock, [&]() HK_REQUIRES(mutex_) { return !queue_.empty(); });
//
// Thread safety: as std::mutex and std::condition_variable.

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "core/thread_annotations.h"

namespace hikyaku {

class HK_CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() HK_ACQUIRE() { mutex_.lock(); }
  void unlock() HK_RELEASE() { mutex_.unlock(); }
  bool try_lock() HK_TRY_ACQUIRE(true) { return mutex_.try_lock(); }

 private:
  friend class MutexLock;
  std::mutex mutex_;
};

// Holds `mutex` for its scope; unlock()/lock() let a scope drop it around slow work.
class HK_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mutex) HK_ACQUIRE(mutex) : lock_(mutex.mutex_) {}
  // Takes over a mutex the caller locked already (after a successful try_lock()).
  MutexLock(Mutex& mutex, std::adopt_lock_t adopt) HK_REQUIRES(mutex)
      : lock_(mutex.mutex_, adopt) {}
  ~MutexLock() HK_RELEASE() = default;
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void unlock() HK_RELEASE() { lock_.unlock(); }
  void lock() HK_ACQUIRE() { lock_.lock(); }

 private:
  friend class CondVar;
  std::unique_lock<std::mutex> lock_;
};

// std::condition_variable over a MutexLock. The analysis cannot see that wait() releases and
// re-takes the mutex; to it the lock is held throughout, which is what the caller observes.
class CondVar {
 public:
  void notify_one() noexcept { cv_.notify_one(); }
  void notify_all() noexcept { cv_.notify_all(); }

  void wait(MutexLock& lock) { cv_.wait(lock.lock_); }
  template <typename Predicate>
  void wait(MutexLock& lock, Predicate ready) {
    cv_.wait(lock.lock_, std::move(ready));
  }
  template <typename Clock, typename Duration>
  std::cv_status wait_until(MutexLock& lock,
                            const std::chrono::time_point<Clock, Duration>& deadline) {
    return cv_.wait_until(lock.lock_, deadline);
  }
  template <typename Clock, typename Duration, typename Predicate>
  bool wait_until(MutexLock& lock, const std::chrono::time_point<Clock, Duration>& deadline,
                  Predicate ready) {
    return cv_.wait_until(lock.lock_, deadline, std::move(ready));
  }
  template <typename Rep, typename Period, typename Predicate>
  bool wait_for(MutexLock& lock, const std::chrono::duration<Rep, Period>& timeout,
                Predicate ready) {
    return cv_.wait_for(lock.lock_, timeout, std::move(ready));
  }

 private:
  std::condition_variable cv_;
};

}  // namespace hikyaku
