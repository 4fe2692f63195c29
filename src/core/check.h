#pragma once
// Invariant checks. HK_CHECK is always on and aborts with the failed condition; HK_DCHECK only in
// debug builds. Use them for broken invariants only, never to validate external input (that gets
// a Status).

#include <cstdio>
#include <cstdlib>

#define HK_CHECK(condition)                                                              \
  do {                                                                                   \
    if (!(condition)) {                                                                  \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                      \
    }                                                                                    \
  } while (false)

#ifdef NDEBUG
#define HK_DCHECK(condition) \
  do {                       \
  } while (false && (condition))
#else
#define HK_DCHECK(condition) HK_CHECK(condition)
#endif
