// The archive and replay operations on the wire, over a scripted bus::Archives: request members
// in, AWS's response shapes out (epoch-second timestamps), filters and pages, and every error
// mapped onto EventBridge's type.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <optional>
#include <string>
#include <vector>

#include "server/internal/api.h"
#include "server/internal/test_support.h"
#include "testing/fake_clock.h"

namespace hikyaku::server {
namespace {

using test::amz_headers;
using test::Json;

class ScriptedArchives : public bus::Archives {
 public:
  Result<std::vector<bus::ArchiveInfo>> list_archives() override { return archives; }
  Result<bus::ArchiveInfo> describe_archive(std::string_view name) override {
    for (const bus::ArchiveInfo& archive : archives) {
      if (archive.name == name) {
        return archive;
      }
    }
    return not_found("Archive " + std::string(name) + " does not exist.");
  }
  Result<bus::ReplayInfo> start_replay(const bus::ReplayRequest& request) override {
    started = request;
    if (!failure.ok()) {
      return failure;
    }
    bus::ReplayInfo info = replay;
    info.name = request.name;
    return info;
  }
  Result<bus::ReplayInfo> describe_replay(std::string_view name) override {
    if (name != replay.name) {
      return not_found("Replay " + std::string(name) + " does not exist.");
    }
    return replay;
  }
  Result<std::vector<bus::ReplayInfo>> list_replays() override {
    return std::vector<bus::ReplayInfo>{replay};
  }
  Result<bus::ReplayInfo> cancel_replay(std::string_view name) override {
    if (!failure.ok()) {
      return failure;
    }
    bus::ReplayInfo info = replay;
    info.name = std::string(name);
    info.state = bus::ReplayState::kCancelling;
    return info;
  }

  std::vector<bus::ArchiveInfo> archives;
  bus::ReplayInfo replay;
  std::optional<bus::ReplayRequest> started;
  Status failure;
};

class ArchiveOperationsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"findings", "findings-old", "orders"}) {
      bus::ArchiveInfo archive;
      archive.name = name;
      archive.arn = std::string("arn:aws:events:us-east-1:123456789012:archive/") + name;
      archive.event_source_arn = "arn:aws:events:us-east-1:123456789012:event-bus/default";
      archive.event_pattern = R"({"source":["aws.securityhub"]})";
      archive.retention_days = 7;
      archive.event_count = 12;
      archive.size_bytes = 3456;
      archive.creation_time_ms = 1'767'322'800'000;
      archives_.archives.push_back(archive);
    }
    archives_.replay.name = "r1";
    archives_.replay.arn = "arn:aws:events:us-east-1:123456789012:replay/r1";
    archives_.replay.state = bus::ReplayState::kRunning;
    archives_.replay.state_reason = "Replay is running";
    archives_.replay.event_source_arn = archives_.archives[0].arn;
    archives_.replay.destination_arn = archives_.archives[0].event_source_arn;
    archives_.replay.filter_arns = {"arn:aws:events:us-east-1:123456789012:rule/a"};
    archives_.replay.event_start_ms = 1'767'322'800'000;
    archives_.replay.event_end_ms = 1'767'326'400'000;
    archives_.replay.event_last_replayed_ms = 1'767'322'801'500;
    archives_.replay.replay_start_ms = 1'767'330'000'000;
    ApiOptions options;
    options.archives = &archives_;
    api_ = std::make_unique<Api>(test::loopback_config(), bus_, clock_, std::move(options));
  }

  test::Reply call(std::string_view operation, std::string body, Api* api = nullptr) {
    std::optional<HttpResponse> answer;
    HttpRequest request;
    request.method = "POST";
    request.target = "/";
    request.headers = {{"Host", std::string(test::kHost)}};
    for (auto& header : amz_headers(operation)) {
      request.headers.push_back(header);
    }
    request.body = std::move(body);
    (api != nullptr ? api : api_.get())->handle(request, [&](HttpResponse response) {
      answer = std::move(response);
    });
    test::Reply reply;
    if (answer) {  // the archive operations answer on the calling thread
      reply.status = answer->status;
      reply.body = answer->body;
    }
    return reply;
  }

  ScriptedArchives archives_;
  test::FakeBus bus_;
  testing::FakeClock clock_;
  std::unique_ptr<Api> api_;
};

TEST_F(ArchiveOperationsTest, DescribeArchiveAnswersAwsShape) {
  test::Reply reply = call("DescribeArchive", R"({"ArchiveName":"findings"})");
  ASSERT_EQ(reply.status, 200u) << reply.body;
  Json json(reply.body);
  EXPECT_EQ(std::string_view(json.root["ArchiveArn"]),
            "arn:aws:events:us-east-1:123456789012:archive/findings");
  EXPECT_EQ(std::string_view(json.root["State"]), "ENABLED");
  EXPECT_EQ(std::string_view(json.root["EventPattern"]), R"({"source":["aws.securityhub"]})");
  EXPECT_EQ(int64_t(json.root["EventCount"]), 12);
  EXPECT_EQ(int64_t(json.root["SizeBytes"]), 3456);
  EXPECT_EQ(int64_t(json.root["RetentionDays"]), 7);
  EXPECT_EQ(int64_t(json.root["CreationTime"]), 1'767'322'800);
}

TEST_F(ArchiveOperationsTest, ListArchivesFiltersByPrefixAndPages) {
  test::Reply first = call("ListArchives", R"({"NamePrefix":"findings","Limit":1})");
  ASSERT_EQ(first.status, 200u) << first.body;
  Json page(first.body);
  EXPECT_EQ(simdjson::dom::array(page.root["Archives"]).size(), 1u);
  EXPECT_EQ(std::string_view(page.root["Archives"].at(0)["ArchiveName"]), "findings");
  EXPECT_TRUE(page.root["Archives"].at(0)["ArchiveArn"].error() != simdjson::SUCCESS);
  const std::string token(std::string_view(page.root["NextToken"]));
  test::Reply second =
      call("ListArchives", R"({"NamePrefix":"findings","NextToken":")" + token + "\"}");
  Json rest(second.body);
  EXPECT_EQ(std::string_view(rest.root["Archives"].at(0)["ArchiveName"]), "findings-old");
  EXPECT_TRUE(rest.root["NextToken"].error() != simdjson::SUCCESS);
  EXPECT_EQ(simdjson::dom::array(
                Json(call("ListArchives", R"({"State":"DISABLED"})").body).root["Archives"])
                .size(),
            0u);
}

TEST_F(ArchiveOperationsTest, StartReplayPassesTheRequestAndAnswersItsState) {
  archives_.replay.state = bus::ReplayState::kStarting;
  test::Reply reply = call(
      "StartReplay",
      R"({"ReplayName":"r2","EventSourceArn":"arn:aws:events:us-east-1:123456789012:archive/findings",)"
      R"("EventStartTime":1767322800,"EventEndTime":1767326400.25,"Description":"again",)"
      R"("Destination":{"Arn":"arn:aws:events:us-east-1:123456789012:event-bus/default",)"
      R"("FilterArns":["arn:aws:events:us-east-1:123456789012:rule/a"]}})");
  ASSERT_EQ(reply.status, 200u) << reply.body;
  ASSERT_TRUE(archives_.started.has_value());
  EXPECT_EQ(archives_.started->name, "r2");
  EXPECT_EQ(archives_.started->description, "again");
  EXPECT_EQ(archives_.started->event_start_ms, 1'767'322'800'000);
  EXPECT_EQ(archives_.started->event_end_ms, 1'767'326'400'250);
  EXPECT_EQ(archives_.started->filter_arns,
            std::vector<std::string>{"arn:aws:events:us-east-1:123456789012:rule/a"});
  Json json(reply.body);
  EXPECT_EQ(std::string_view(json.root["State"]), "STARTING");
  EXPECT_EQ(int64_t(json.root["ReplayStartTime"]), 1'767'330'000);
}

TEST_F(ArchiveOperationsTest, DescribeReplayAnswersAwsShapeWithFractionalSeconds) {
  test::Reply reply = call("DescribeReplay", R"({"ReplayName":"r1"})");
  ASSERT_EQ(reply.status, 200u) << reply.body;
  Json json(reply.body);
  EXPECT_EQ(std::string_view(json.root["State"]), "RUNNING");
  EXPECT_EQ(std::string_view(json.root["Destination"]["FilterArns"].at(0)),
            "arn:aws:events:us-east-1:123456789012:rule/a");
  EXPECT_EQ(double(json.root["EventLastReplayedTime"]), 1'767'322'801.5);
  EXPECT_TRUE(json.root["ReplayEndTime"].error() != simdjson::SUCCESS);
  Json list(call("ListReplays", R"({"State":"RUNNING"})").body);
  EXPECT_EQ(std::string_view(list.root["Replays"].at(0)["ReplayName"]), "r1");
  Json none(call("ListReplays", R"({"State":"COMPLETED"})").body);
  EXPECT_EQ(simdjson::dom::array(none.root["Replays"]).size(), 0u);
}

TEST_F(ArchiveOperationsTest, ErrorsAreEventBridgesTypes) {
  const auto type_of = [](const test::Reply& reply) {
    return std::string(std::string_view(Json(reply.body).root["__type"]));
  };
  EXPECT_EQ(type_of(call("DescribeArchive", R"({"ArchiveName":"nope"})")),
            "ResourceNotFoundException");
  EXPECT_EQ(type_of(call("DescribeReplay", "{}")), "ValidationException");
  EXPECT_EQ(type_of(call("StartReplay", R"({"ReplayName":"x"})")), "ValidationException");
  archives_.failure = already_exists("Replay r1 already exists.");
  EXPECT_EQ(
      type_of(call("StartReplay", R"({"ReplayName":"r1","EventSourceArn":"a","EventStartTime":1,)"
                                  R"("EventEndTime":2,"Destination":{"Arn":"b"}})")),
      "ResourceAlreadyExistsException");
  archives_.failure = failed_precondition("Replay r1 is COMPLETED and cannot be cancelled.");
  test::Reply cancel = call("CancelReplay", R"({"ReplayName":"r1"})");
  EXPECT_EQ(cancel.status, 400u);
  EXPECT_EQ(type_of(cancel), "IllegalStatusException");
  archives_.failure = unavailable("disk");
  test::Reply internal = call("CancelReplay", R"({"ReplayName":"r1"})");
  EXPECT_EQ(internal.status, 500u);
  EXPECT_EQ(type_of(internal), "InternalException");
  archives_.failure = Status();
  Json cancelling(call("CancelReplay", R"({"ReplayName":"r1"})").body);
  EXPECT_EQ(std::string_view(cancelling.root["State"]), "CANCELLING");
}

TEST_F(ArchiveOperationsTest, WithoutArchivesTheOperationsAreUnknown) {
  Api plain(test::loopback_config(), bus_, clock_, {});
  test::Reply reply = call("ListArchives", "{}", &plain);
  EXPECT_EQ(reply.status, 400u);
  EXPECT_EQ(std::string_view(Json(reply.body).root["__type"]), "UnknownOperationException");
}

}  // namespace
}  // namespace hikyaku::server
