#pragma once
// Clang thread-safety annotations (https://clang.llvm.org/docs/ThreadSafetyAnalysis.html).
// A clang build with -Wthread-safety (`make check` runs one through clang-tidy) proves that every
// member marked HK_GUARDED_BY(mu) is touched only with `mu` held. Under GCC they expand to nothing.

#if defined(__clang__)
#define HK_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define HK_THREAD_ANNOTATION(x)
#endif

#define HK_CAPABILITY(x) HK_THREAD_ANNOTATION(capability(x))
#define HK_SCOPED_CAPABILITY HK_THREAD_ANNOTATION(scoped_lockable)
#define HK_GUARDED_BY(x) HK_THREAD_ANNOTATION(guarded_by(x))
#define HK_PT_GUARDED_BY(x) HK_THREAD_ANNOTATION(pt_guarded_by(x))
#define HK_ACQUIRED_BEFORE(...) HK_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#define HK_ACQUIRED_AFTER(...) HK_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
#define HK_REQUIRES(...) HK_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define HK_ACQUIRE(...) HK_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define HK_RELEASE(...) HK_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define HK_TRY_ACQUIRE(...) HK_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define HK_EXCLUDES(...) HK_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define HK_RETURN_CAPABILITY(x) HK_THREAD_ANNOTATION(lock_returned(x))
#define HK_NO_THREAD_SAFETY_ANALYSIS HK_THREAD_ANNOTATION(no_thread_safety_analysis)
