// match() does not allocate once its per-thread scratch has grown to the events it sees (the
// contract in pattern.h). Counted with a replacement of the global operator new in this binary.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "pattern/pattern.h"

// AddressSanitizer brings its own operator new; counting is done in the plain builds.
#if !defined(__SANITIZE_ADDRESS__)
#define HK_COUNT_ALLOCATIONS 1
// The replacement pairs malloc with free; GCC cannot see that once it inlines the operators.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace {
std::atomic<bool> counting{false};
std::atomic<long> allocations{0};
}  // namespace

void* operator new(std::size_t size) {
  if (counting.load(std::memory_order_relaxed)) {
    allocations.fetch_add(1, std::memory_order_relaxed);
  }
  if (void* p = std::malloc(size == 0 ? 1 : size)) {
    return p;
  }
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#endif

namespace hikyaku::pattern {
namespace {

TEST(NoAllocationTest, MatchDoesNotAllocateAfterWarmUp) {
#if !defined(HK_COUNT_ALLOCATIONS)
  GTEST_SKIP() << "allocations are counted in builds without AddressSanitizer";
#else
  const char* patterns[] = {
      R"({"source":["aws.securityhub"],"detail":{"findings":{"Severity":{"Label":["HIGH","CRITICAL"]}}}})",
      R"({"detail":{"findings":{"Resources":{"Id":[{"prefix":"arn:aws:s3"}]}}}})",
      R"({"detail":{"findings":{"Title":[{"suffix":"enabled"},{"wildcard":"*MFA*"}]}}})",
      R"({"detail":{"findings":{"Severity":{"Normalized":[{"numeric":[">=",40,"<",90]}]}}}})",
      R"({"detail":{"findings":{"Workflow":{"Status":[{"anything-but":["SUPPRESSED","RESOLVED"]}]}}}})",
      R"({"detail":{"findings":{"Compliance":{"Status":[{"equals-ignore-case":"failed"}]}}}})",
      R"({"detail":{"findings":{"Note":[{"exists":false}]}},"region":[{"anything-but":{"prefix":"cn-"}}]})",
      R"({"detail":{"ip":[{"cidr":"10.0.0.0/8"}]},"$or":[{"account":["1"]},{"account":["2"]}]})",
  };
  std::vector<RuleSpec> specs;
  for (uint32_t i = 0; i < std::size(patterns); ++i) {
    specs.push_back({i, patterns[i]});
  }
  auto m = Matcher::compile(specs);
  ASSERT_TRUE(m.has_value()) << m.status().to_string();
  const std::vector<std::string> events = {
      R"({"source":"aws.securityhub","account":"1","region":"us-east-1","detail":{"ip":"10.1.2.3",
         "findings":[{"Severity":{"Label":"HIGH","Normalized":70},"Title":"S3 MFA delete enabled",
         "Resources":[{"Id":"arn:aws:s3:::bucket"}],"Workflow":{"Status":"NEW"},
         "Compliance":{"Status":"FAILED"}},{"Severity":{"Label":"LOW","Normalized":1.5e1},
         "Title":"caf\u00e9 \"quoted\"","Workflow":{"Status":"SUPPRESSED"},"Note":{"Text":"x"}}]}})",
      R"({"source":"other","region":"cn-north-1","detail":{"findings":[]},"tail":[1,2,{"a":"b"}]})",
  };
  std::vector<uint32_t> ids;
  for (int warm = 0; warm < 3; ++warm) {
    for (const std::string& e : events) {
      ASSERT_TRUE((*m)->match(e, ids).ok());
    }
  }
  // The counter sees allocations (the check below could fail).
  counting = true;
  auto probe = std::make_unique<std::string>(100, 'x');
  counting = false;
  ASSERT_GT(allocations.exchange(0), 0);

  size_t matched = 0;
  counting = true;
  for (int round = 0; round < 100; ++round) {
    for (const std::string& e : events) {
      if ((*m)->match(e, ids).ok()) {
        matched += ids.size();
      }
    }
  }
  counting = false;
  EXPECT_EQ(allocations.load(), 0);
  EXPECT_GT(matched, 0u);  // the events do match rules: the loop did real work
#endif
}

}  // namespace
}  // namespace hikyaku::pattern
