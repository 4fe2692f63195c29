#include "core/log.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <sstream>
#include <thread>
#include <vector>

namespace hikyaku {
namespace {

// Puts a logger writing to `out` in place as the default, and the previous one back afterwards.
class LogRedactionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    previous_ = spdlog::default_logger();
    auto logger = std::make_shared<spdlog::logger>(
        "test", std::make_shared<spdlog::sinks::ostream_sink_mt>(out_));
    logger->set_pattern("%l %v");
    logger->set_level(spdlog::level::info);
    spdlog::set_default_logger(logger);
  }
  void TearDown() override { spdlog::set_default_logger(previous_); }

  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> previous_;
};

TEST_F(LogRedactionTest, EveryMessageIsRedactedAtTheSink) {
  install_log_redactor(
      std::make_shared<const Redactor>(std::vector<std::string>{"hunter2hunter2"}));
  spdlog::info("plain {}", "hunter2hunter2");
  spdlog::warn("encoded {} in a url https://h/?q={}", "hunter2%68unter2", "hunter2hunter2");
  spdlog::error("by name https://TOKEN@h/?apiKey=k1&pwd=k2");
  spdlog::debug("below the level hunter2hunter2");
  spdlog::info("nothing to hide");
  EXPECT_EQ(out_.str(),
            "info plain ***\n"
            "warning encoded *** in a url https://h/?q=***\n"
            "error by name https://***@h/?apiKey=***&pwd=***\n"
            "info nothing to hide\n");
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::info);
}

TEST_F(LogRedactionTest, ReinstallingSwapsTheRedactorOnly) {
  install_log_redactor(std::make_shared<const Redactor>(std::vector<std::string>{"old-secret"}));
  auto* installed = spdlog::default_logger_raw();
  install_log_redactor(std::make_shared<const Redactor>(std::vector<std::string>{"new-secret"}));
  EXPECT_EQ(spdlog::default_logger_raw(), installed);  // not wrapped twice
  spdlog::info("old-secret new-secret");
  install_log_redactor(nullptr);  // names only
  spdlog::info("new-secret token=x");
  EXPECT_EQ(out_.str(), "info old-secret ***\ninfo new-secret token=***\n");
}

TEST_F(LogRedactionTest, LoggingWhileTheRedactorIsSwapped) {
  install_log_redactor(std::make_shared<const Redactor>(std::vector<std::string>{"swapsecret"}));
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([] {
      for (int i = 0; i < 500; ++i) {
        spdlog::info("line {} swapsecret", i);
      }
    });
  }
  for (int i = 0; i < 200; ++i) {
    install_log_redactor(
        std::make_shared<const Redactor>(std::vector<std::string>{"swapsecret", "other-value"}));
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  const std::string text = out_.str();
  EXPECT_EQ(text.find("swapsecret"), std::string::npos);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1500);
}

}  // namespace
}  // namespace hikyaku
