#pragma once
// A minimal HTTP/1.1 server on 127.0.0.1:<ephemeral port> for tests: it records every request
// and answers with the status the test sets (default 200). One connection at a time, one request
// per connection (it answers with Connection: close), as a delivery target sees it.
//
// Thread safety: all methods are thread-safe.

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace hikyaku::testing {

struct ReceivedRequest {
  std::string method;
  std::string target;                          // path and query
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

class HttpReceiver {
 public:
  HttpReceiver();
  ~HttpReceiver();

  uint16_t port() const { return port_; }
  std::string url(const std::string& path = "/") const;

  void set_status(int status);
  std::vector<ReceivedRequest> requests() const;
  size_t request_count() const;

 private:
  void serve();

  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> status_{200};
  mutable std::mutex mutex_;
  std::vector<ReceivedRequest> requests_;
  std::thread thread_;
};

}  // namespace hikyaku::testing
