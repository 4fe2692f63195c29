// Puller against a real nats-server: answers that come after a pull gave up are taken by the next
// pull, a pull never returns more than its batch however many such answers wait (the case that
// overran cnats 3.4.1's own fetch), and what was never pulled goes back at once when the Puller
// goes.
#include "store/jetstream/internal/pull.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>

#include "testing/nats_cluster.h"
#include "testing/wait.h"

namespace hikyaku::store::internal {
namespace {

constexpr int64_t kNanosPerMs = 1'000'000;

class PullerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(server_.start(), "");
    ASSERT_EQ(natsConnection_ConnectTo(&connection_, server_.urls().c_str()), NATS_OK);
    ASSERT_EQ(natsConnection_JetStream(&js_, connection_, nullptr), NATS_OK);
    jsStreamConfig stream;
    jsStreamConfig_Init(&stream);
    stream.Name = "PULL";
    const char* subjects[] = {"pull.>"};
    stream.Subjects = subjects;
    stream.SubjectsLen = 1;
    stream.Retention = js_WorkQueuePolicy;
    auto code = static_cast<jsErrCode>(0);
    ASSERT_EQ(js_AddStream(nullptr, js_, &stream, nullptr, &code), NATS_OK);
    jsConsumerConfig consumer;
    jsConsumerConfig_Init(&consumer);
    consumer.Durable = "workers";
    consumer.AckPolicy = js_AckExplicit;
    consumer.AckWait = 60'000 * kNanosPerMs;  // longer than the test: nothing comes back by it
    consumer.MaxAckPending = -1;
    ASSERT_EQ(js_AddConsumer(nullptr, js_, "PULL", &consumer, nullptr, &code), NATS_OK);
  }
  void TearDown() override {
    jsCtx_Destroy(js_);
    natsConnection_Destroy(connection_);
  }

  void publish(int count) {
    auto code = static_cast<jsErrCode>(0);
    for (int i = 0; i < count; ++i) {
      const std::string data = "job-" + std::to_string(i);
      ASSERT_EQ(js_Publish(nullptr, js_, "pull.jobs", data.data(), static_cast<int>(data.size()),
                           nullptr, &code),
                NATS_OK);
    }
  }

  std::unique_ptr<Puller> open_puller() {
    Result<std::unique_ptr<Puller>> opened = Puller::open(connection_, "PULL", "workers");
    EXPECT_TRUE(opened.has_value()) << opened.error().message();
    return opened.has_value() ? std::move(opened).value() : nullptr;
  }

  // Stream sequence -> delivery count of each message pulled, acknowledged as they come.
  void pull_into(Puller& puller, int batch, std::map<uint64_t, uint64_t>& seen) {
    Result<Puller::Pulled> pulled = puller.pull(batch, 200, 250);
    ASSERT_TRUE(pulled.has_value()) << pulled.error().message();
    EXPECT_LE(static_cast<int>(pulled->messages.size()), batch);
    for (natsMsg* message : pulled->messages) {
      jsMsgMetaData* meta = nullptr;
      ASSERT_EQ(natsMsg_GetMetaData(&meta, message), NATS_OK);
      EXPECT_EQ(seen.count(meta->Sequence.Stream), 0u) << meta->Sequence.Stream;
      seen[meta->Sequence.Stream] = meta->NumDelivered;
      jsMsgMetaData_Destroy(meta);
      EXPECT_TRUE(ack_sync(connection_, message, 5000).ok());
      natsMsg_Destroy(message);
    }
  }

  testing::NatsCluster server_{1};
  natsConnection* connection_ = nullptr;
  jsCtx* js_ = nullptr;
};

TEST_F(PullerTest, AnswersThatCameTooLateGoToTheNextPullNeverMoreThanItsBatch) {
  publish(40);
  std::unique_ptr<Puller> puller = open_puller();
  ASSERT_NE(puller, nullptr);
  // Gives up at once: the server's 30 messages come after it, to this node.
  Result<Puller::Pulled> abandoned = puller->pull(30, 0, 0);
  ASSERT_TRUE(abandoned.has_value());
  EXPECT_TRUE(abandoned->messages.empty());

  std::map<uint64_t, uint64_t> seen;
  for (int pulls = 0; pulls < 20 && seen.size() < 40; ++pulls) {
    pull_into(*puller, 20, seen);  // 30 waiting, 20 wanted: more than half already here
  }
  ASSERT_EQ(seen.size(), 40u);
  for (const auto& [sequence, delivered] : seen) {
    EXPECT_EQ(delivered, 1u) << "message " << sequence << " came back by AckWait";
  }
}

TEST_F(PullerTest, WhatWasNeverPulledGoesBackWhenThePullerGoes) {
  publish(10);
  {
    std::unique_ptr<Puller> leaving = open_puller();
    ASSERT_NE(leaving, nullptr);
    ASSERT_TRUE(leaving->pull(10, 0, 0).has_value());  // the answer arrives after it gave up
    // Wait for it to arrive: the consumer counts the 10 as delivered, none acknowledged.
    ASSERT_TRUE(testing::wait_for([&] {
      jsConsumerInfo* info = nullptr;
      auto code = static_cast<jsErrCode>(0);
      if (js_GetConsumerInfo(&info, js_, "PULL", "workers", nullptr, &code) != NATS_OK) {
        return false;
      }
      const bool delivered = info->NumAckPending == 10;
      jsConsumerInfo_Destroy(info);
      return delivered;
    }));
  }
  // Handed back by the destructor: here at once, well before the minute of AckWait.
  std::unique_ptr<Puller> staying = open_puller();
  ASSERT_NE(staying, nullptr);
  std::map<uint64_t, uint64_t> seen;
  ASSERT_TRUE(testing::wait_for([&] {
    pull_into(*staying, 10, seen);
    return seen.size() == 10;
  }));
  for (const auto& [sequence, delivered] : seen) {
    EXPECT_EQ(delivered, 2u) << sequence;
  }
}

TEST_F(PullerTest, APullOfAnEmptyConsumerEndsWithItsExpiry) {
  std::unique_ptr<Puller> puller = open_puller();
  ASSERT_NE(puller, nullptr);
  const auto started = std::chrono::steady_clock::now();
  Result<Puller::Pulled> pulled = puller->pull(5, 100, 5000);
  ASSERT_TRUE(pulled.has_value()) << pulled.error().message();
  EXPECT_TRUE(pulled->messages.empty());
  // Closed by the server's status at its expiry, not by the client's grace.
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(4));
}

}  // namespace
}  // namespace hikyaku::store::internal
