#pragma once
// The simplest delivery target: an HTTP destination on 127.0.0.1:<ephemeral port> that records
// every request and answers each with the status the test sets (default 200) and a JSON body
// ({} on success, an "errors" document from 400 on), closing the connection after each answer.
// A thin face of ScriptableDestination, which the tests that need more (scripts, delays, resets,
// keep-alive, TLS) use directly.
//
// Thread safety: all methods are thread-safe.

#include <cstdint>
#include <string>
#include <vector>

#include "testing/scriptable_destination.h"

namespace hikyaku::testing {

using ReceivedRequest = RecordedRequest;

class HttpReceiver {
 public:
  HttpReceiver();

  uint16_t port() const { return destination_.port(); }
  std::string url(const std::string& path = "/") const { return destination_.url(path); }

  void set_status(int status);
  std::vector<ReceivedRequest> requests() const { return destination_.requests(); }
  size_t request_count() const { return destination_.request_count(); }

  ScriptableDestination& destination() { return destination_; }

 private:
  ScriptableDestination destination_;
};

}  // namespace hikyaku::testing
