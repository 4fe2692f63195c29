// A request to the AWS JSON API, as the server hands it to the Api: the first line is the
// operation (X-Amz-Target "AWSEvents.<line>", mostly PutEvents), the rest the body, from a
// loopback caller without Server.Auth. Checks beyond "no crash, no leak, no hang": the Api
// answers exactly once, and every envelope PutEvents builds from hostile entries is one that
// serializes and parses back unchanged (what the pipeline and the store rely on).

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "bus/event_bus.h"
#include "config/config.h"
#include "core/clock.h"
#include "core/envelope.h"
#include "fuzz_input.h"
#include "server/internal/api.h"

namespace {

using hikyaku::Envelope;

void expect_round_trip(const Envelope& built) {
  const std::string text = hikyaku::serialize_envelope(built);
  hikyaku::Result<Envelope> parsed = hikyaku::parse_envelope(text);
  if (!parsed.has_value()) {
    std::fprintf(stderr, "an ingested envelope does not parse back: %s\n%s\n",
                 parsed.error().message().c_str(), text.c_str());
    std::abort();
  }
  if (parsed->id != built.id || parsed->source != built.source ||
      parsed->detail_type != built.detail_type || parsed->time != built.time ||
      parsed->resources != built.resources || hikyaku::serialize_envelope(*parsed) != text) {
    std::fprintf(stderr, "an ingested envelope changes when parsed back:\n%s\n", text.c_str());
    std::abort();
  }
}

// Accepts every event at once, on the caller's thread, after checking it.
class CheckingBus final : public hikyaku::bus::EventBus {
 public:
  void ingest(std::string_view /*bus_name*/, std::vector<Envelope> envelopes,
              IngestDone done) override {
    for (const Envelope& envelope : envelopes) {
      expect_round_trip(envelope);
    }
    done(std::vector<hikyaku::Status>(envelopes.size(), hikyaku::ok_status()));
  }
  std::shared_ptr<const hikyaku::config::Config> config() const override { return config_; }

 private:
  std::shared_ptr<const hikyaku::config::Config> config_ =
      std::make_shared<hikyaku::config::Config>();
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hikyaku;  // NOLINT(google-build-using-namespace): a fuzzer's entry point
  static CheckingBus bus;
  static server::Api api(
      [] {
        config::ServerConfig config;
        config.listen = "127.0.0.1:0";
        return config;
      }(),
      bus, SystemClock::instance(), {});
  const auto [operation, body] = fuzz::split_first_line(fuzz::as_text(data, size));
  server::HttpRequest request;
  request.method = "POST";
  request.target = "/";
  request.headers = {{"Content-Type", "application/x-amz-json-1.1"},
                     {"X-Amz-Target", "AWSEvents." + std::string(operation)}};
  request.body = std::string(body);
  int answers = 0;
  api.handle(request, [&answers](const server::HttpResponse& response) {
    ++answers;
    if (response.status < 200 || response.status > 599) {
      std::fprintf(stderr, "an answer with status %u\n", response.status);
      std::abort();
    }
  });
  if (answers != 1) {
    std::fprintf(stderr, "the Api answered %d times\n", answers);
    std::abort();
  }
  return 0;
}
