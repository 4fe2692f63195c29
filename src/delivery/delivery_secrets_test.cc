// What the delivery engine writes about a failed delivery (retry and dead-letter error messages,
// metrics) must hold no secret, whatever a destination answers; Log target files are private.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "delivery/dispatcher.h"
#include "store/sqlite/sqlite_store.h"
#include "testing/encodings.h"
#include "testing/scriptable_destination.h"
#include "testing/temp_dir.h"
#include "testing/wait.h"

namespace hikyaku::delivery {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::wait_for;

std::string percent(std::string_view text, bool lower) {
  return testing::percent_encoded(text, lower);
}
std::string base64(std::string_view bytes) { return testing::base64_encoded(bytes); }

// PHP's json_encode escapes `/`; so do some web frameworks in their error pages.
std::string json_with_escaped_slashes(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '/' || c == '"' || c == '\\') {
      out += '\\';
    }
    out += c;
  }
  return out;
}

// The secrets of one connection: a query parameter marked IsValueSecret whose name says nothing
// ("project"), an API key header, a Basic password.
const std::string kQuerySecret = "Qv@l 7f3a9+secret";
const std::string kHeaderSecret = "HKEY-0c1d2e-secret";
const std::string kUser = "alice";
const std::string kPassword = "PASS-w0rd/+x";

std::vector<std::string> forms_of(const std::string& secret) {
  return {secret, percent(secret, false), percent(secret, true), base64(secret)};
}

class DeliverySecretsTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    auto opened =
        store::SqliteStore::open({.path = (directory_ / "db").string(), .synchronous_full = false});
    ASSERT_TRUE(opened.has_value()) << opened.error().message();
    store_ = std::move(opened).value();
  }
  void TearDown() override {
    dispatcher_.reset();
    store_.reset();
  }

  void start(Endpoints endpoints) {
    Dispatcher::Options options;
    options.idle_poll_ms = 20;
    options.backoff = {1, 4};
    dispatcher_ = std::make_unique<Dispatcher>(
        *store_, metrics_, SystemClock::instance(),
        std::make_shared<const Endpoints>(std::move(endpoints)), options);
    dispatcher_->start();
  }

  void append(const std::string& target, const std::string& body) {
    ASSERT_TRUE(
        store_
            ->append(
                {{{target, "event-1", body, "", SystemClock::instance().now_ms()}}, {}, {}, {}})
            .ok());
    dispatcher_->notify();
  }

  std::vector<store::DeadLetter> dead_letters() { return store_->dlq_list(100, 0).value(); }

  testing::TempDir dir_{"delivery-secrets"};
  const std::filesystem::path directory_{dir_.path()};
  MetricsRegistry metrics_;
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<Dispatcher> dispatcher_;
};

TEST_P(DeliverySecretsTest, DestinationEchoingTheRequestPutsNoSecretInTheStore) {
  const int status = GetParam();
  testing::ScriptableDestination destination;
  const std::string path_and_query = "/hook?project=" + percent(kQuerySecret, false) + "&n=1";
  const std::string basic = "Basic " + base64(kUser + ":" + kPassword);
  // What the destination will receive, echoed back in every way an error page shows a request:
  // as text, as JSON with escaped slashes, percent-encoded again with lower-case hex, and with
  // one secret straddling the cut the error message makes at 512 bytes.
  const std::string request_text = fmt::format(
      "POST {} HTTP/1.1\r\nx-api-key: {}\r\nauthorization: {}\r\n\r\n{{\"summary\":\"s\"}}",
      path_and_query, kHeaderSecret, basic);
  const std::string shown =
      request_text + "\n" + R"({"url":")" +
      json_with_escaped_slashes(destination.url(path_and_query)) + R"(","auth":")" +
      json_with_escaped_slashes(basic) + "\"}\n" +
      "again: " + percent(destination.url("/hook?project=") + kQuerySecret, true) + "\n";
  ASSERT_LT(shown.size(), 505U);
  const std::string echo = shown + std::string(505 - shown.size(), '.') + kHeaderSecret + " end";
  destination.set_default({.status = status, .body = echo});

  Endpoint endpoint;
  endpoint.kind = Endpoint::Kind::kHttp;
  endpoint.destination = "echo";
  endpoint.url = destination.url(path_and_query);
  endpoint.headers.emplace_back("x-api-key", Secret(kHeaderSecret));
  endpoint.headers.emplace_back("Authorization", Secret(basic));
  endpoint.retry_policy.maximum_retry_attempts = 1;
  endpoint.rate_limit_per_second = 1000;
  // What the composition root builds from the config's secret values.
  endpoint.redactor = std::make_shared<const Redactor>(
      std::vector<std::string>{kQuerySecret, kHeaderSecret, kPassword, kUser + ":" + kPassword});
  start({{"b/r/t", endpoint}});
  append("b/r/t", R"({"summary":"s"})");
  ASSERT_TRUE(wait_for([&] { return dead_letters().size() == 1; }));

  // The destination did receive the secrets (the echo above is what it got).
  const std::vector<testing::RecordedRequest> requests = destination.requests();
  ASSERT_FALSE(requests.empty());
  EXPECT_EQ(requests[0].target, path_and_query);
  EXPECT_EQ(requests[0].header("x-api-key"), kHeaderSecret);
  EXPECT_EQ(requests[0].header("authorization"), basic);

  const store::DeadLetter letter = dead_letters()[0];
  EXPECT_EQ(letter.reason.error_code, fmt::format("HTTP_{}", status));
  EXPECT_THAT(letter.reason.error_message, HasSubstr("***"));
  EXPECT_THAT(letter.reason.error_message, HasSubstr("POST /hook?project=***"));
  const std::string metrics = metrics_.render();
  for (const std::string& secret : {kQuerySecret, kHeaderSecret, kPassword}) {
    for (const std::string& form : forms_of(secret)) {
      EXPECT_THAT(letter.reason.error_message, Not(HasSubstr(form))) << secret << " as " << form;
      EXPECT_THAT(letter.reason.response_excerpt, Not(HasSubstr(form))) << secret << " as " << form;
      EXPECT_THAT(letter.reason.request, Not(HasSubstr(form))) << secret << " as " << form;
      EXPECT_THAT(letter.job.last_error, Not(HasSubstr(form))) << secret << " as " << form;
      EXPECT_THAT(metrics, Not(HasSubstr(form))) << secret << " as " << form;
    }
  }
  EXPECT_THAT(letter.reason.error_message, Not(HasSubstr(basic.substr(6))));
  EXPECT_THAT(letter.reason.error_message, Not(HasSubstr("HKEY-")));  // not even cut in two
  EXPECT_THAT(letter.reason.response_excerpt, Not(HasSubstr("HKEY-")));
  // The recorded request shows where it went and which headers it had, not their values.
  EXPECT_THAT(letter.reason.request, HasSubstr("/hook?project=***&n=1"));
  EXPECT_THAT(letter.reason.request, HasSubstr(R"("x-api-key":"***")"));
  EXPECT_THAT(letter.reason.request, HasSubstr(R"("Authorization":"***")"));
  EXPECT_THAT(letter.reason.request, Not(HasSubstr(basic.substr(6))));
}

INSTANTIATE_TEST_SUITE_P(ClientAndServerErrors, DeliverySecretsTest, ::testing::Values(400, 500));

class LogTargetFileTest : public DeliverySecretsTest {};

TEST_F(LogTargetFileTest, IsCreatedPrivateWhateverTheUmask) {
  const mode_t previous = ::umask(0);  // the most permissive umask
  const std::string path = (directory_ / "private.jsonl").string();
  Endpoint log;
  log.kind = Endpoint::Kind::kLog;
  log.rule = "r";
  log.target_id = "t";
  log.log_path = path;
  start({{"b/r/t", log}});
  append("b/r/t", "{}");
  ASSERT_TRUE(wait_for([&] { return dispatcher_->attempts() == 1; }));
  ::umask(previous);
  struct stat status {};
  ASSERT_EQ(::stat(path.c_str(), &status), 0);
  EXPECT_EQ(status.st_mode & 07777, 0600U);
  EXPECT_TRUE(dead_letters().empty());
}

TEST_F(LogTargetFileTest, AnExistingFileKeepsItsModeAndGetsAppended) {
  const std::string path = (directory_ / "shared.jsonl").string();
  {
    std::FILE* file = std::fopen(path.c_str(), "w");
    ASSERT_NE(file, nullptr);
    std::fputs("first\n", file);
    std::fclose(file);
  }
  ASSERT_EQ(::chmod(path.c_str(), 0640), 0);
  Endpoint log;
  log.kind = Endpoint::Kind::kLog;
  log.log_path = path;
  start({{"b/r/t", log}});
  append("b/r/t", "{}");
  ASSERT_TRUE(wait_for([&] { return dispatcher_->attempts() == 1; }));
  struct stat status {};
  ASSERT_EQ(::stat(path.c_str(), &status), 0);
  EXPECT_EQ(status.st_mode & 07777, 0640U);
  EXPECT_GT(status.st_size, 6);
}

TEST_F(LogTargetFileTest, NotARegularFileIsRefusedWithoutHanging) {
  // A FIFO with no reader would block a plain open forever; a directory cannot be appended to.
  const std::string fifo = (directory_ / "fifo").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const std::string folder = (directory_ / "folder").string();
  std::filesystem::create_directory(folder);
  Endpoint to_fifo;
  to_fifo.kind = Endpoint::Kind::kLog;
  to_fifo.log_path = fifo;
  to_fifo.retry_policy.maximum_retry_attempts = 0;
  Endpoint to_folder = to_fifo;
  to_folder.log_path = folder;
  start({{"b/r/fifo", to_fifo}, {"b/r/folder", to_folder}});
  append("b/r/fifo", "{}");
  append("b/r/folder", "{}");
  ASSERT_TRUE(wait_for([&] { return dead_letters().size() == 2; }));
  for (const store::DeadLetter& letter : dead_letters()) {
    EXPECT_THAT(letter.reason.error_message, HasSubstr("cannot"));
  }
}

}  // namespace
}  // namespace hikyaku::delivery
