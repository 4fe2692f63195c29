// What only the JetStream backend shows (the Store contract itself is store_contract_test.cc):
// failing fast at open, servers that require a token, a password or TLS, leases that are the
// consumer's AckWait, several nodes sharing one consumer, a three-node cluster losing servers,
// and the message encoding and subject names.
#include "store/jetstream/jetstream_store.h"

#include <gtest/gtest.h>

#include <chrono>
#include <set>

#include "store/jetstream/internal/codec.h"
#include "store/jetstream/internal/naming.h"
#include "testing/nats_cluster.h"
#include "testing/tls_certificate.h"
#include "testing/wait.h"

namespace hikyaku::store {
namespace {

NewJob job(std::string body, int64_t at = 1000) {
  return {"default/rule/target", "event-" + body, std::move(body), "", at};
}

std::unique_ptr<JetStreamStore> open_store(const JetStreamOptions& options) {
  Result<std::unique_ptr<JetStreamStore>> opened = JetStreamStore::open(options);
  EXPECT_TRUE(opened.has_value()) << opened.error().message();
  return opened.has_value() ? std::move(opened).value() : nullptr;
}

TEST(JetStreamStoreTest, OpenFailsAtOnceWhenNoServerAnswers) {
  testing::NatsCluster unused(1);  // reserves a port nobody listens on: never started
  Result<std::unique_ptr<JetStreamStore>> opened =
      JetStreamStore::open({.servers = {unused.urls()}, .replicas = 1});
  ASSERT_FALSE(opened.has_value());
  EXPECT_EQ(opened.error().code(), StatusCode::kUnavailable);
  EXPECT_NE(opened.error().message().find("cannot connect to " + unused.urls()), std::string::npos)
      << opened.error().message();
}

TEST(JetStreamStoreTest, OpenSaysWhenTheServerHasNoJetStream) {
  testing::NatsCluster plain(1, /*jetstream=*/false);
  ASSERT_EQ(plain.start(), "");
  Result<std::unique_ptr<JetStreamStore>> opened =
      JetStreamStore::open({.servers = {plain.urls()}, .replicas = 1});
  ASSERT_FALSE(opened.has_value());
  EXPECT_EQ(opened.error().code(), StatusCode::kUnavailable);
  EXPECT_NE(opened.error().message().find("JetStream is not enabled"), std::string::npos)
      << opened.error().message();
}

TEST(JetStreamStoreTest, ServerListsKeepTheirPasswordsOutOfMessages) {
  Result<std::unique_ptr<JetStreamStore>> opened = JetStreamStore::open(
      {.servers = {"nats://hikyaku:s3cret@127.0.0.1:1"}, .replicas = 1, .connect_timeout_ms = 200});
  ASSERT_FALSE(opened.has_value());
  EXPECT_EQ(opened.error().message().find("s3cret"), std::string::npos) << opened.error().message();
}

// Servers that require a token, a user and password, or TLS: the right ones open the store, wrong
// ones are refused with a clear message that does not quote them.
TEST(JetStreamStoreTest, ServersThatRequireATokenOrAPassword) {
  const std::string token = "nats-token-5d2f81";
  testing::NatsCluster with_token(1, true, {.token = token});
  ASSERT_EQ(with_token.start(), "");
  EXPECT_NE(open_store({.servers = {with_token.urls()}, .replicas = 1, .token = token}), nullptr);
  for (const std::string& wrong : {std::string("wrong-token-77a0"), std::string()}) {
    Result<std::unique_ptr<JetStreamStore>> refused =
        JetStreamStore::open({.servers = {with_token.urls()}, .replicas = 1, .token = wrong});
    ASSERT_FALSE(refused.has_value());
    EXPECT_EQ(refused.error().code(), StatusCode::kUnavailable);
    EXPECT_NE(refused.error().message().find("cannot connect to " + with_token.urls()),
              std::string::npos)
        << refused.error().message();
    EXPECT_NE(refused.error().message().find("uthoriz"), std::string::npos)
        << refused.error().message();
    EXPECT_EQ(refused.error().message().find("token-"), std::string::npos)
        << refused.error().message();
  }

  const std::string password = "nats-password-90c4e2";
  testing::NatsCluster with_password(1, true, {.user = "hikyaku", .password = password});
  ASSERT_EQ(with_password.start(), "");
  EXPECT_NE(open_store({.servers = {with_password.urls()},
                        .replicas = 1,
                        .user = "hikyaku",
                        .password = password}),
            nullptr);
  Result<std::unique_ptr<JetStreamStore>> refused =
      JetStreamStore::open({.servers = {with_password.urls()},
                            .replicas = 1,
                            .user = "hikyaku",
                            .password = "wrong-password-31b9"});
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.error().message().find("uthoriz"), std::string::npos)
      << refused.error().message();
  EXPECT_EQ(refused.error().message().find("password-"), std::string::npos)
      << refused.error().message();
}

TEST(JetStreamStoreTest, AServerThatRequiresTls) {
  const testing::TestCertificate certificate;
  testing::NatsCluster secure(1, true, {.tls = certificate.files()});
  ASSERT_EQ(secure.start(), "");
  // Trusting the server's CA: it opens, and works.
  std::unique_ptr<JetStreamStore> store =
      open_store({.servers = {secure.urls()},
                  .replicas = 1,
                  .tls = JetStreamOptions::Tls{.ca_file = certificate.ca_file()}});
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(store->append({{job("over-tls")}, {}, {}, {}}).ok());
  // Without a TLS section, or trusting only the system's CAs: refused, saying why.
  Result<std::unique_ptr<JetStreamStore>> plain =
      JetStreamStore::open({.servers = {secure.urls()}, .replicas = 1});
  ASSERT_FALSE(plain.has_value());
  EXPECT_NE(plain.error().message().find("cannot connect to " + secure.urls()), std::string::npos)
      << plain.error().message();
  Result<std::unique_ptr<JetStreamStore>> untrusted = JetStreamStore::open(
      {.servers = {secure.urls()}, .replicas = 1, .tls = JetStreamOptions::Tls{}});
  ASSERT_FALSE(untrusted.has_value());
  EXPECT_NE(untrusted.error().message().find("cannot connect to " + secure.urls()),
            std::string::npos)
      << untrusted.error().message();
  // (cnats takes up TLS when a server requires it, then cannot verify the certificate.)
  for (const Status& refused : {plain.error(), untrusted.error()}) {
    EXPECT_NE(refused.message().find("SSL handshake error"), std::string::npos)
        << refused.message();
  }
}

class JetStreamNodesTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(cluster_.start(), ""); }
  JetStreamOptions options() const {
    return {.servers = {cluster_.urls()}, .replicas = 1, .recheck_not_due_ms = 0};
  }
  testing::NatsCluster cluster_{1};
};

TEST_F(JetStreamNodesTest, ALeaseEndsAfterAckWaitAndItsClaimIsStaleThen) {
  JetStreamOptions short_lease = options();
  short_lease.lease_ms = 1000;
  std::unique_ptr<JetStreamStore> store = open_store(short_lease);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->append({{job("a")}, {}, {}, {}}).ok());
  Result<std::vector<Claim>> first = store->claim(1000, 10, 1000);
  ASSERT_TRUE(first.has_value());
  ASSERT_EQ(first->size(), 1u);
  // The worker "hangs": once AckWait passes, JetStream hands the job out again.
  std::vector<Claim> second;
  ASSERT_TRUE(testing::wait_for([&] {
    Result<std::vector<Claim>> claimed = store->claim(1000, 10, 1000);
    second = claimed.has_value() ? *claimed : std::vector<Claim>{};
    return !second.empty();
  }));
  EXPECT_NE(second[0].token, (*first)[0].token);
  EXPECT_EQ(second[0].job.id, (*first)[0].job.id);
  EXPECT_EQ(store->complete((*first)[0]).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(store->retry((*first)[0], 0, "late").code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(store->complete(second[0]).ok());
  EXPECT_EQ(store->counts(1000)->pending + store->counts(1000)->leased, 0);
}

TEST_F(JetStreamNodesTest, NodesShareOneQueueAndSettleOnlyTheirOwnClaims) {
  std::unique_ptr<JetStreamStore> one = open_store(options());
  std::unique_ptr<JetStreamStore> two = open_store(options());
  ASSERT_NE(one, nullptr);
  ASSERT_NE(two, nullptr);
  Batch batch;
  for (int i = 0; i < 10; ++i) {
    batch.jobs.push_back(job("job-" + std::to_string(i)));
  }
  ASSERT_TRUE(one->append(batch).ok());
  std::vector<Claim> first = one->claim(1000, 4, 60'000).value();
  std::vector<Claim> second = two->claim(1000, 100, 60'000).value();
  ASSERT_EQ(first.size(), 4u);
  ASSERT_EQ(second.size(), 6u);
  std::set<std::string> bodies;
  for (const std::vector<Claim>* claims : {&first, &second}) {
    for (const Claim& claim : *claims) {
      bodies.insert(claim.job.body);
    }
  }
  EXPECT_EQ(bodies.size(), 10u);  // each job went to one node
  // A node settles only what it holds.
  EXPECT_EQ(two->complete(first[0]).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(two->complete_all(first).value(), 0);
  EXPECT_EQ(one->complete_all(first).value(), 4);
  EXPECT_EQ(two->complete_all(second).value(), 6);
  EXPECT_EQ(one->counts(1000)->pending + one->counts(1000)->leased, 0);
  // Job ids stay with a job across a retry, whichever node claims it next.
  ASSERT_TRUE(one->append({{job("retried")}, {}, {}, {}}).ok());
  std::vector<Claim> claimed = one->claim(1000, 1, 60'000).value();
  ASSERT_EQ(claimed.size(), 1u);
  ASSERT_TRUE(one->retry(claimed[0], 2000, "HTTP_503").ok());
  std::vector<Claim> again = two->claim(2000, 1, 60'000).value();
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].job.id, claimed[0].job.id);
  EXPECT_EQ(again[0].job.attempts, 1);
}

TEST(JetStreamClusterTest, AppendsSurviveOneLostServerAndFailPromptlyWithoutAQuorum) {
  testing::NatsCluster cluster(3);
  ASSERT_EQ(cluster.start(), "");
  JetStreamOptions options{.servers = {cluster.urls()}, .replicas = 3};
  options.request_timeout_ms = 2000;
  options.recheck_not_due_ms = 0;
  std::unique_ptr<JetStreamStore> store = open_store(options);
  ASSERT_NE(store, nullptr);
  std::set<std::string> accepted;
  int next = 0;
  const auto append_one = [&] {
    const std::string body = "job-" + std::to_string(next++);
    Status appended = store->append({{job(body)}, {}, {}, {}});
    if (appended.ok()) {
      accepted.insert(body);
    }
    return appended;
  };
  ASSERT_TRUE(append_one().ok());

  // One server down: the other two are a quorum. (If it led the stream, the two elect a new
  // leader first; appends fail meanwhile, which is why this waits for one to succeed.)
  cluster.kill(0);
  EXPECT_TRUE(testing::wait_for([&] { return append_one().ok(); }, std::chrono::seconds(30)));
  ASSERT_TRUE(append_one().ok());

  // Two down: no quorum. An append answers kUnavailable (after request_timeout_ms), not never.
  cluster.kill(1);
  Status lost = append_one();
  EXPECT_EQ(lost.code(), StatusCode::kUnavailable) << lost.to_string();
  EXPECT_NE(lost.message().find("quorum"), std::string::npos) << lost.message();

  // One back: a quorum again, and appends succeed again.
  ASSERT_EQ(cluster.restart(1), "");
  EXPECT_TRUE(testing::wait_for([&] { return append_one().ok(); }, std::chrono::seconds(60)));

  // Every accepted job is there (at least once: a refused append may have stored some).
  std::set<std::string> claimed;
  ASSERT_TRUE(testing::wait_for(
      [&] {
        Result<std::vector<Claim>> claims = store->claim(1000, 100, 60'000);
        if (claims.has_value()) {
          for (const Claim& claim : *claims) {
            claimed.insert(claim.job.body);
          }
        }
        return std::includes(claimed.begin(), claimed.end(), accepted.begin(), accepted.end());
      },
      std::chrono::seconds(30)));
}

TEST(JetStreamEncodingTest, JobsRoundTripWithAnyBytes) {
  internal::JobRecord job{7, "bus/rule/target", "event-1", std::string("b\0dy\xff", 5), "{}", 1000,
                          3, "HTTP_503",        5000,      std::string("{\"id\":1}")};
  std::optional<internal::JobRecord> decoded = internal::decode_job(internal::encode_job(job));
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->job_id, 7);
  EXPECT_EQ(decoded->body, job.body);
  EXPECT_EQ(decoded->attempts, 3);
  EXPECT_EQ(decoded->due_at_ms, 5000);
  EXPECT_EQ(decoded->event, job.event);
  // An event that is the body is written once and read back as the body.
  job.event = job.body;
  const std::string once = internal::encode_job(job);
  EXPECT_EQ(internal::decode_job(once)->event, job.body);
  EXPECT_EQ(once.find(job.body), once.rfind(job.body));
  // Truncated or foreign data is refused, not guessed at.
  EXPECT_FALSE(internal::decode_job(once.substr(0, once.size() - 1)).has_value());
  EXPECT_FALSE(internal::decode_job("not a job").has_value());
}

TEST(JetStreamEncodingTest, DeadLettersAndDeliveryRecordsRoundTrip) {
  DeadLetterReason reason{"HTTP_400", "bad", "MaximumRetryAttempts"};
  reason.http_status = 400;
  const std::optional<DeadLetter> letter = internal::decode_dead_letter(
      internal::encode_dead_letter({1, "t", "e", "body", "", 10, 2, "x", 20, {}}, reason, 30));
  ASSERT_TRUE(letter.has_value());
  EXPECT_EQ(letter->job.body, "body");
  EXPECT_EQ(letter->reason.exhausted_retry_condition, "MaximumRetryAttempts");
  EXPECT_EQ(letter->reason.http_status, 400);
  EXPECT_EQ(letter->dead_lettered_at_ms, 30);
  EXPECT_FALSE(letter->event.has_value());
  const std::optional<DeliveryRecord> record = internal::decode_delivery(
      internal::encode_delivery({.at_ms = 5, .target = "t", .latency_ms = -1}));
  ASSERT_TRUE(record.has_value());
  EXPECT_EQ(record->latency_ms, -1);
}

TEST(JetStreamNamingTest, NamesBecomeSubjectTokensAndComeBack) {
  EXPECT_EQ(internal::escape_name("default/orders/slack-1_x"), "default/orders/slack-1_x");
  EXPECT_EQ(internal::escape_name("a.b c*>="), "a=2Eb=20c=2A=3E=3D");
  EXPECT_EQ(internal::escape_name(""), "=");
  for (const std::string& name :
       std::vector<std::string>{"", "a.b c*>=", "ünï/çødé", std::string("\0\xff", 2)}) {
    const std::string token = internal::escape_name(name);
    EXPECT_EQ(token.find('.'), std::string::npos);
    EXPECT_EQ(internal::unescape_name(token), std::optional<std::string>(name));
  }
  EXPECT_FALSE(internal::unescape_name("a=2").has_value());
  EXPECT_FALSE(internal::unescape_name("a.b").has_value());
}

}  // namespace
}  // namespace hikyaku::store
