#include "testing/http_receiver.h"

namespace hikyaku::testing {

HttpReceiver::HttpReceiver() { set_status(200); }

void HttpReceiver::set_status(int status) {
  destination_.set_default({
      .status = status,
      .headers = {{"Content-Type", "application/json"}},
      .body = status >= 400 ? R"({"errors":[{"message":"test error"}]})" : "{}",
      .close = true,
  });
}

}  // namespace hikyaku::testing
