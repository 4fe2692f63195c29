#pragma once
// Asynchronous HTTP for the delivery engine, on libcurl's multi interface: many requests in
// flight on one thread, connections kept alive and reused per host (HTTP/2 multiplexed where a
// TLS server offers it through ALPN), certificates always verified (against the system trust
// store, or a destination's own CA file), redirects not followed, at most 1 MiB of a response
// read (as EventBridge), each exchange bounded by its timeout. libcurl takes proxies from the
// standard environment variables (http_proxy, https_proxy, no_proxy; docs/api-destinations.md).
//
//   HttpMulti http(64);
//   http.start(tag, std::move(request), options);
//   for (;;) { http.perform(100ms, finished); ... }   // finished exchanges, by tag
//
// Why libcurl's multi interface rather than Asio + Beast: HTTP/2, proxies, TLS session reuse and
// the connection cache come with it; the engine's loop stays one thread with no callbacks into
// foreign code but perform().
//
// Thread safety: one owner thread calls everything except wakeup(), which any thread may call
// (to end a perform() wait early).

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "delivery/internal/pacer.h"
#include "delivery/request.h"
#include "delivery/retry_policy.h"

namespace hikyaku::delivery::internal {

struct TransferOptions {
  std::chrono::milliseconds timeout{5000};
  std::string ca_file;  // "" = the system trust store
};

struct FinishedExchange {
  uint64_t tag = 0;
  AttemptResult result;  // status, or the transport error with the name rules applied
  ResponseHints hints;
  std::string body;  // at most kMaxResponseBytes, not redacted
};

class HttpMulti {
 public:
  static constexpr size_t kMaxResponseBytes = size_t{1024} * 1024;

  // `max_connections`: idle connections kept open for reuse, across all hosts.
  explicit HttpMulti(int max_connections);
  ~HttpMulti();
  HttpMulti(const HttpMulti&) = delete;
  HttpMulti& operator=(const HttpMulti&) = delete;

  void start(uint64_t tag, HttpRequest request, const TransferOptions& options);
  // Moves data for up to `wait` (less when something finishes or wakeup() is called) and
  // appends the exchanges that finished to `finished`.
  void perform(std::chrono::milliseconds wait, std::vector<FinishedExchange>& finished);
  void wakeup();
  size_t active() const { return running_.size(); }

 private:
  struct Transfer;
  // Sets libcurl's connection bound from the exchanges running now.
  void bound_idle_connections();
  const int max_idle_connections_;
  void* multi_;                                                   // CURLM*
  std::unordered_map<void*, std::unique_ptr<Transfer>> running_;  // by easy handle
  std::vector<std::unique_ptr<Transfer>> idle_;  // finished transfers, their handles reused
  std::vector<std::pair<void*, int>> done_;      // perform(): finished handles, CURLcode
};

}  // namespace hikyaku::delivery::internal
