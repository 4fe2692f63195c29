// The config loader on hostile YAML: every ${...} reference kind resolves against a fixed
// environment (no file is read: file references are refused outside an empty base folder), and
// the loader answers errors, never crashes; a config it accepts can be described.

#include "config/config.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hikyaku;  // NOLINT(google-build-using-namespace): a fuzzer's entry point
  config::LoadOptions options;
  options.environment = [](const std::string& name) -> std::optional<std::string> {
    if (name == "BACKLOG_API_KEY" || name == "TOKEN") {
      return std::string("fuzz-secret-value");
    }
    return std::nullopt;
  };
  options.base_directory = "/nonexistent-hikyaku-fuzz";
  config::LoadResult loaded =
      config::load_config_text(fuzz::as_text(data, size), "fuzz.yaml", options);
  if (loaded.ok()) {
    (void)config::describe(*loaded.config);
  }
  return 0;
}
