#include "core/log.h"

#include <spdlog/spdlog.h>

#include <string_view>
#include <utility>

namespace hikyaku {
namespace {

std::shared_ptr<const Redactor> or_names_only(std::shared_ptr<const Redactor> redactor) {
  return redactor != nullptr ? std::move(redactor) : std::make_shared<const Redactor>();
}

}  // namespace

RedactingSink::RedactingSink(std::vector<spdlog::sink_ptr> sinks,
                             std::shared_ptr<const Redactor> redactor)
    : sinks_(std::move(sinks)), redactor_(or_names_only(std::move(redactor))) {}

void RedactingSink::set_redactor(std::shared_ptr<const Redactor> redactor) {
  redactor = or_names_only(std::move(redactor));
  MutexLock lock(mutex_);
  redactor_.swap(redactor);
}

void RedactingSink::log(const spdlog::details::log_msg& message) {
  std::shared_ptr<const Redactor> redactor;
  {
    MutexLock lock(mutex_);
    redactor = redactor_;
  }
  std::string redacted;
  const spdlog::details::log_msg* out = &message;
  spdlog::details::log_msg copy;
  if (redactor->redact_into(std::string_view(message.payload.data(), message.payload.size()),
                            redacted)) {
    copy = message;
    copy.payload = spdlog::string_view_t(redacted.data(), redacted.size());
    out = &copy;
  }
  for (const spdlog::sink_ptr& inner : sinks_) {
    if (inner->should_log(out->level)) {
      inner->log(*out);
    }
  }
}

void RedactingSink::flush() {
  for (const spdlog::sink_ptr& inner : sinks_) {
    inner->flush();
  }
}

void RedactingSink::set_pattern(const std::string& pattern) {
  for (const spdlog::sink_ptr& inner : sinks_) {
    inner->set_pattern(pattern);
  }
}

void RedactingSink::set_formatter(std::unique_ptr<spdlog::formatter> formatter) {
  for (const spdlog::sink_ptr& inner : sinks_) {
    inner->set_formatter(formatter->clone());
  }
}

void install_log_redactor(std::shared_ptr<const Redactor> redactor) {
  std::shared_ptr<spdlog::logger> logger = spdlog::default_logger();
  if (logger->sinks().size() == 1) {
    if (auto installed = std::dynamic_pointer_cast<RedactingSink>(logger->sinks().front())) {
      installed->set_redactor(std::move(redactor));
      return;
    }
  }
  auto sink = std::make_shared<RedactingSink>(logger->sinks(), std::move(redactor));
  auto wrapped = std::make_shared<spdlog::logger>(logger->name(), std::move(sink));
  wrapped->set_level(logger->level());
  wrapped->flush_on(logger->flush_level());
  spdlog::set_default_logger(std::move(wrapped));
}

}  // namespace hikyaku
