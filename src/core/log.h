#pragma once
// Redaction at the logging sink: every message of spdlog's default logger passes a Redactor
// (core/redact.h) before any sink formats or writes it, so no call site can forget to redact.
//
//   install_log_redactor(std::make_shared<const Redactor>(config.secret_values()));
//   ...
//   install_log_redactor(rebuilt);  // config reload: only the redactor is swapped
//
// A null redactor applies the name rules only. The first call replaces the default logger (same
// name, level, flush level and sinks, now behind a RedactingSink): make it before other threads
// log. Later calls only swap the redactor and may be made at any time.
//
// Thread safety: RedactingSink is thread-safe (its inner sinks must be too: the *_mt ones);
// install_log_redactor may be called from any thread once installed.

#include <spdlog/sinks/sink.h>

#include <memory>
#include <string>
#include <vector>

#include "core/mutex.h"
#include "core/redact.h"

namespace hikyaku {

class RedactingSink final : public spdlog::sinks::sink {
 public:
  RedactingSink(std::vector<spdlog::sink_ptr> sinks, std::shared_ptr<const Redactor> redactor);

  void set_redactor(std::shared_ptr<const Redactor> redactor) HK_EXCLUDES(mutex_);

  void log(const spdlog::details::log_msg& message) override HK_EXCLUDES(mutex_);
  void flush() override;
  void set_pattern(const std::string& pattern) override;
  void set_formatter(std::unique_ptr<spdlog::formatter> formatter) override;

 private:
  const std::vector<spdlog::sink_ptr> sinks_;
  Mutex mutex_;
  std::shared_ptr<const Redactor> redactor_ HK_GUARDED_BY(mutex_);  // never null
};

void install_log_redactor(std::shared_ptr<const Redactor> redactor);

}  // namespace hikyaku
