#include "delivery/internal/http_multi.h"

#include <gtest/gtest.h>

#include <chrono>
#include <vector>

#include "testing/scriptable_destination.h"

namespace hikyaku::delivery::internal {
namespace {

using std::chrono::milliseconds;

// The bound on kept connections is on idle ones: more exchanges than it running all the time
// reuse their connections rather than each closing its own as it finishes (with a bound of 2 and
// 8 running, 32 exchanges opened about 30 connections).
TEST(HttpMultiTest, ExchangesRunningBeyondTheIdleBoundReuseTheirConnections) {
  constexpr int kRunning = 8;
  constexpr int kExchanges = 32;
  testing::ScriptableDestination destination;
  // Each answer waits a little, so that the exchanges overlap.
  destination.set_default({.status = 200, .delay = milliseconds(20)});
  HttpMulti http(/*max_connections=*/2);
  uint64_t started = 0;
  const auto start = [&] {
    HttpRequest request;
    request.url = destination.url("/");
    request.body = "{}";
    http.start(++started, std::move(request), {milliseconds(10'000), ""});
  };
  for (int i = 0; i < kRunning; ++i) {
    start();
  }
  std::vector<FinishedExchange> finished;
  for (size_t seen = 0; finished.size() < kExchanges;) {
    http.perform(milliseconds(1000), finished);
    for (; seen < finished.size(); ++seen) {
      EXPECT_EQ(finished[seen].result.http_status, 200) << finished[seen].result.error;
      if (started < kExchanges) {
        start();
      }
    }
  }
  EXPECT_LE(destination.connections_accepted(), kRunning);
}

}  // namespace
}  // namespace hikyaku::delivery::internal
