// The operators' tools against the real server: the admin API over HTTP with its key, and the
// `hikyaku dlq` / `deliveries` commands through the running server and then on its stopped
// store, giving the same answers. A failing destination makes the dead letters; fixing it and the
// template, then redriving, delivers the fixed body.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "testing/http_client.h"
#include "testing/http_receiver.h"
#include "testing/process.h"
#include "testing/securityhub_samples.h"
#include "testing/temp_dir.h"
#include "testing/wait.h"

namespace hikyaku {
namespace {

using testing::ChildProcess;
using testing::CommandResult;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::run_command;
using testing::wait_for;

constexpr const char* kAdminKey = "admin-key-4d8e1f";
constexpr const char* kDestinationKey = "destination-key-b61c07";
constexpr const char* kConnectionKey = "connection-key-0a9f33";

class AdminTest : public ::testing::Test {
 protected:
  void TearDown() override { server_.reset(); }

  // A rule sending each finding's title to `url`, rendered with `version` in the template.
  void write_config(const std::string& url, int version) {
    std::ofstream(directory_ / "hikyaku.yaml") << R"(Server:
  Listen: 127.0.0.1:0
  Auth:
    AdminApiKeys: [{ HeaderName: x-hikyaku-admin-key, Value: "${TEST_ADMIN_KEY}" }]
Store:
  Sqlite: { Path: var/hikyaku.db, Synchronous: NORMAL }
Connections:
  - Name: hooks
    AuthorizationType: API_KEY
    AuthParameters:
      ApiKeyAuthParameters: { ApiKeyName: x-api-key, ApiKeyValue: "${TEST_CONNECTION_KEY}" }
ApiDestinations:
  - Name: tickets
    ConnectionName: hooks
    InvocationEndpoint: ")" << url << R"(/hook?apiKey=${TEST_DESTINATION_KEY}"
    HttpMethod: POST
    InvocationRateLimitPerSecond: 100
Rules:
  - Name: findings
    EventPattern: { source: [aws.securityhub] }
    Targets:
      - Id: tickets
        ApiDestination: tickets
        RetryPolicy: { MaximumRetryAttempts: 0 }
        InputTransformer:
          InputPathsMap: { title: "$.detail.findings[0].Title" }
          InputTemplate: '{"title": <title>, "version": )"
                                               << version << R"(}'
)";
  }

  std::vector<std::pair<std::string, std::string>> environment() const {
    return {{"TEST_ADMIN_KEY", kAdminKey},
            {"TEST_DESTINATION_KEY", kDestinationKey},
            {"TEST_CONNECTION_KEY", kConnectionKey},
            {"HIKYAKU_ADMIN_KEY", kAdminKey}};
  }

  void start_server() {
    server_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{HIKYAKU_BINARY, "serve", "--config", "hikyaku.yaml"},
        environment(), directory_.string());
    const std::string address = server_->wait_for_line("listening ");
    ASSERT_FALSE(address.empty()) << "server did not start:\n" << server_->err();
    url_ = address;
  }

  CommandResult hikyaku(std::vector<std::string> arguments) {
    arguments.insert(arguments.begin(), HIKYAKU_BINARY);
    // The commands run in the config's folder, as an operator beside it would.
    std::vector<std::string> argv = {"/usr/bin/env", "-C", directory_.string()};
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    return run_command(argv, environment());
  }

  testing::Response admin(const std::string& method, const std::string& path,
                          const std::string& body = "", const char* key = kAdminKey) {
    testing::HttpClient http = testing::HttpClient::from_url(url_);
    testing::Headers headers;
    if (key != nullptr) {
      headers.emplace("x-hikyaku-admin-key", key);
    }
    if (!body.empty()) {
      headers.emplace("Content-Type", "application/json");
    }
    return http.request(method, "/admin/v1" + path, headers, body);
  }

  size_t letters_listed() {
    testing::Response response = admin("GET", "/dead-letters");
    simdjson::dom::element root;
    if (response.status != 200 || parser_.parse(response.body).get(root) != simdjson::SUCCESS) {
      return 0;
    }
    return root["DeadLetters"].get_array().size();
  }

  // Every secret the config holds, none of which may appear in what the tools print.
  static void expect_no_secret(const std::string& text) {
    for (const char* secret : {kAdminKey, kDestinationKey, kConnectionKey}) {
      EXPECT_THAT(text, Not(HasSubstr(secret)));
    }
  }

  testing::TempDir temp_dir_{"admin"};
  const std::filesystem::path directory_{temp_dir_.path()};
  std::unique_ptr<ChildProcess> server_;
  std::string url_;
  simdjson::dom::parser parser_;
};

TEST_F(AdminTest, DeadLettersFromAFailingDestinationAreInspectedRedrivenAndPurged) {
  testing::HttpReceiver destination;
  destination.set_status(400);  // permanent: each delivery is dead-lettered at once
  write_config(destination.url(""), 1);
  start_server();
  CommandResult sent = hikyaku(
      {"send", "--endpoint", url_, testing::sample_path("01-fsbp-ec2-19-critical-failed.json"),
       testing::sample_path("02-fsbp-s3-8-high-failed.json"),
       testing::sample_path("13-custom-unicode-japanese-quotes-newlines.json")});
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  ASSERT_TRUE(wait_for([&] { return letters_listed() == 3; }));

  // The admin key is needed, compared in full.
  EXPECT_EQ(admin("GET", "/dead-letters", "", nullptr).status, 401U);
  EXPECT_EQ(admin("GET", "/dead-letters", "", "admin-key-4d8e1e").status, 403U);

  // Through the running server, each command says so.
  CommandResult list = hikyaku({"dlq", "list", "--endpoint", url_, "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_THAT(list.err, HasSubstr("using the running server at " + url_));
  simdjson::dom::element letters = parser_.parse(list.out);
  ASSERT_EQ(letters.get_array().size(), 3u);
  const std::string first_id = std::to_string(int64_t(letters.at(0)["Id"]));
  EXPECT_EQ(std::string_view(letters.at(0)["ErrorCode"]), "HTTP_400");
  EXPECT_EQ(std::string_view(letters.at(0)["Rule"]), "findings");

  // The store of a running server is not opened behind its back.
  CommandResult behind = hikyaku({"dlq", "list", "--config", "hikyaku.yaml"});
  EXPECT_EQ(behind.exit_code, 2);
  EXPECT_THAT(behind.err, HasSubstr("belongs to a running server"));
  EXPECT_THAT(behind.err, HasSubstr("--endpoint"));

  // One letter whole: the event, the request as sent with its secrets masked, the answer.
  CommandResult show = hikyaku({"dlq", "show", first_id, "--endpoint", url_, "--json"});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  simdjson::dom::element letter = parser_.parse(show.out);
  EXPECT_EQ(std::string_view(letter["Event"]["source"]), "aws.securityhub");
  EXPECT_THAT(std::string(letter["Request"]["Url"].get_string().value()),
              HasSubstr("/hook?apiKey=***"));
  EXPECT_THAT(std::string(letter["Body"].get_string().value()), HasSubstr("\"version\": 1"));
  expect_no_secret(show.out);

  // The table form.
  CommandResult table = hikyaku({"dlq", "list", "--endpoint", url_});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(table.out, HasSubstr("3 dead letters"));

  // The delivery log has the three attempts.
  CommandResult deliveries = hikyaku({"deliveries", "--endpoint", url_, "--json"});
  ASSERT_EQ(deliveries.exit_code, 0) << deliveries.err;
  ASSERT_TRUE(wait_for([&] {
    deliveries = hikyaku({"deliveries", "--endpoint", url_, "--json"});
    return parser_.parse(deliveries.out).get_array().size() == 3;
  }));
  simdjson::dom::element records = parser_.parse(deliveries.out);
  EXPECT_EQ(std::string_view(records.at(0)["Outcome"]), "dead-lettered");
  EXPECT_EQ(int64_t(records.at(0)["HttpStatus"]), 400);
  EXPECT_EQ(std::string_view(records.at(0)["Destination"]), "tickets");

  // No answer of the API holds a secret.
  for (const char* path : {"/dead-letters", "/deliveries", "/rules", "/destinations", "/tickets"}) {
    testing::Response response = admin("GET", path);
    EXPECT_EQ(response.status, 200U) << path;
    expect_no_secret(response.body);
  }
  expect_no_secret(admin("GET", "/dead-letters/" + first_id).body);

  // Fix the destination and the template (version 2), reload, and redrive one letter: the body
  // is rendered again from the event with the template in force.
  destination.set_status(200);
  write_config(destination.url(""), 2);
  server_->signal(SIGHUP);
  ASSERT_TRUE(wait_for([&] { return server_->err().find("reloaded") != std::string::npos; }));
  CommandResult redrive = hikyaku({"dlq", "redrive", first_id, "--endpoint", url_});
  ASSERT_EQ(redrive.exit_code, 0) << redrive.err;
  EXPECT_THAT(redrive.out, HasSubstr("redriven 1"));
  ASSERT_TRUE(wait_for([&] { return destination.request_count() == 4; }));
  EXPECT_THAT(destination.requests().back().body, HasSubstr("\"version\": 2"));
  EXPECT_EQ(destination.requests().back().headers.at("x-api-key"), kConnectionKey);
  EXPECT_EQ(letters_listed(), 2u);

  // The CLI on the stopped server's store gives the same list as the server did.
  CommandResult before_stop = hikyaku({"dlq", "list", "--endpoint", url_, "--json"});
  ASSERT_EQ(before_stop.exit_code, 0);
  server_->signal(SIGTERM);
  ASSERT_EQ(server_->wait(), 0) << server_->err();
  CommandResult stopped = hikyaku({"dlq", "list", "--config", "hikyaku.yaml", "--json"});
  ASSERT_EQ(stopped.exit_code, 0) << stopped.err;
  EXPECT_THAT(stopped.err, HasSubstr("using the store var/hikyaku.db of a stopped server"));
  EXPECT_EQ(stopped.out, before_stop.out);
  CommandResult log = hikyaku({"deliveries", "--config", "hikyaku.yaml", "--last", "10"});
  ASSERT_EQ(log.exit_code, 0) << log.err;
  EXPECT_THAT(log.out, HasSubstr("delivered"));
  EXPECT_THAT(log.out, HasSubstr("dead-lettered"));

  // Redrive as recorded on the stopped store: the old body goes back to the queue, and the
  // restarted server delivers it unchanged.
  CommandResult as_recorded = hikyaku({"dlq", "redrive", "--all", "--rule", "findings",
                                       "--as-recorded", "--config", "hikyaku.yaml"});
  ASSERT_EQ(as_recorded.exit_code, 0) << as_recorded.err;
  EXPECT_THAT(as_recorded.out, HasSubstr("redriven 2"));
  start_server();
  ASSERT_TRUE(wait_for([&] { return destination.request_count() == 6; }));
  EXPECT_THAT(destination.requests().back().body, HasSubstr("\"version\": 1"));
  EXPECT_EQ(letters_listed(), 0u);
}

TEST_F(AdminTest, PurgeRemovesLettersByIdOrFilterAndBadUsageSaysWhy) {
  testing::HttpReceiver destination;
  destination.set_status(400);
  write_config(destination.url(""), 1);
  start_server();
  CommandResult sent = hikyaku({"send", "--endpoint", url_,
                                testing::sample_path("01-fsbp-ec2-19-critical-failed.json"),
                                testing::sample_path("02-fsbp-s3-8-high-failed.json")});
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  ASSERT_TRUE(wait_for([&] { return letters_listed() == 2; }));

  CommandResult neither = hikyaku({"dlq", "purge", "--endpoint", url_});
  EXPECT_EQ(neither.exit_code, 2);
  EXPECT_THAT(neither.err, HasSubstr("ID... or --all"));
  CommandResult nowhere = hikyaku({"dlq", "list"});
  EXPECT_EQ(nowhere.exit_code, 2);
  EXPECT_THAT(nowhere.err, HasSubstr("--endpoint URL"));
  CommandResult missing = hikyaku({"dlq", "show", "999", "--endpoint", url_});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("no dead letter 999"));
  CommandResult no_key =
      run_command({HIKYAKU_BINARY, "dlq", "list", "--endpoint", url_}, {{"HIKYAKU_ADMIN_KEY", ""}});
  EXPECT_EQ(no_key.exit_code, 1);
  EXPECT_THAT(no_key.err, HasSubstr("HIKYAKU_ADMIN_KEY"));

  testing::Response purge = admin("POST", "/dead-letters/purge", R"({"All": true, "Rule": "x"})");
  EXPECT_THAT(purge.body, HasSubstr(R"("Purged":0)"));
  CommandResult purged =
      hikyaku({"dlq", "purge", "--all", "--target", "tickets", "--endpoint", url_});
  ASSERT_EQ(purged.exit_code, 0) << purged.err;
  EXPECT_THAT(purged.out, HasSubstr("purged 2"));
  EXPECT_EQ(letters_listed(), 0u);
}

}  // namespace
}  // namespace hikyaku
