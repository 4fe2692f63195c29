#include "delivery/internal/http_multi.h"

#include <gtest/gtest.h>

#include <chrono>
#include <vector>

#include "testing/scriptable_destination.h"

namespace hikyaku::delivery::internal {
namespace {

using std::chrono::milliseconds;

// Runs `count` exchanges at once (the destination answers each after a delay, so that they
// overlap) and waits for all of them.
void exchange_at_once(HttpMulti& http, const testing::ScriptableDestination& destination, int count,
                      uint64_t& next_tag) {
  for (int i = 0; i < count; ++i) {
    HttpRequest request;
    request.url = destination.url("/");
    request.body = "{}";
    http.start(next_tag++, std::move(request), {milliseconds(10'000), ""});
  }
  std::vector<FinishedExchange> finished;
  while (finished.size() < static_cast<size_t>(count)) {
    http.perform(milliseconds(1000), finished);
  }
  for (const FinishedExchange& exchange : finished) {
    EXPECT_EQ(exchange.result.http_status, 200) << exchange.result.error;
  }
}

// The bound on kept connections is on idle ones: more exchanges than it running at once still
// reuse their connections afterwards instead of closing all but the bound's worth.
TEST(HttpMultiTest, ExchangesRunningBeyondTheIdleBoundKeepTheirConnections) {
  testing::ScriptableDestination destination;
  destination.set_default({.status = 200, .delay = milliseconds(200)});
  HttpMulti http(/*max_connections=*/2);
  uint64_t tag = 1;
  exchange_at_once(http, destination, 8, tag);
  exchange_at_once(http, destination, 8, tag);
  EXPECT_LE(destination.connections_accepted(), 8);
}

}  // namespace
}  // namespace hikyaku::delivery::internal
