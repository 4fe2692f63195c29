// Store.Jetstream: the NATS JetStream store's keys, their defaults, every check the loader makes
// offline with its message, and its Token and Password kept out of every message.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <map>
#include <string>
#include <vector>

#include "config/config.h"
#include "testing/temp_dir.h"

namespace hikyaku::config {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::string_view kRules = R"(Rules:
  - Name: r
    EventPattern: { source: [x] }
    Targets: [{ Id: t, Log: { Path: out.jsonl } }]
)";

constexpr std::string_view kToken = "nt-Zq9-token-secret-1234";
constexpr std::string_view kPassword = "np-Zq9-password-secret-5678";

class JetstreamConfigTest : public ::testing::Test {
 protected:
  // `jetstream` is the body of Store.Jetstream, each line indented by four spaces; the mapping
  // itself starts on line 2, so its first key is on line 3.
  LoadResult load(std::string_view jetstream, std::string_view store_extra = "") {
    LoadOptions options;
    options.environment = [](const std::string& name) -> std::optional<std::string> {
      if (name == "NATS_TOKEN") {
        return std::string(kToken);
      }
      if (name == "NATS_PASSWORD") {
        return std::string(kPassword);
      }
      return std::nullopt;
    };
    const std::string text = "Store:\n  Jetstream:\n" + std::string(jetstream) +
                             std::string(store_extra) + std::string(kRules);
    return load_config_text(text, "js.yaml", options);
  }

  // Loads, expects exactly one error and returns it formatted.
  std::string single_error(std::string_view jetstream, std::string_view store_extra = "") {
    LoadResult result = load(jetstream, store_extra);
    EXPECT_EQ(result.errors.size(), 1u) << all_errors(result);
    return result.errors.empty() ? "" : result.errors[0].to_string();
  }

  static std::string all_errors(const LoadResult& result) {
    std::string text;
    for (const ConfigError& error : result.errors) {
      text += error.to_string() + "\n";
    }
    return text;
  }

  testing::TempDir dir_{"jetstream-config"};
  const std::string creds_ = dir_.write("nats.creds", "-----BEGIN NATS USER JWT-----\n");
  const std::string ca_ = dir_.write("ca.pem", "ca");
  const std::string cert_ = dir_.write("client.pem", "cert");
  const std::string key_ = dir_.write("client-key.pem", "key");
};

constexpr std::string_view kServers = "    Servers: [nats://127.0.0.1:4222]\n";

TEST_F(JetstreamConfigTest, LoadsEveryKey) {
  LoadResult result = load(
      R"(    Servers: [nats://10.0.0.1:4222, "tls://nats-2.example:4223", "nats://[fd00::3]:4222"]
    Replicas: 5
    StreamPrefix: Hk_prod-1
    AckWaitSeconds: 120
    User: hikyaku
    Password: "${NATS_PASSWORD}"
    Tls: { CaFile: )" +
      ca_ + ", CertFile: " + cert_ + ", KeyFile: " + key_ + " }\n");
  ASSERT_TRUE(result.ok()) << all_errors(result);
  ASSERT_TRUE(result.config->store.jetstream.has_value());
  const JetstreamStoreConfig& jetstream = *result.config->store.jetstream;
  EXPECT_EQ(jetstream.servers,
            (std::vector<std::string>{"nats://10.0.0.1:4222", "tls://nats-2.example:4223",
                                      "nats://[fd00::3]:4222"}));
  EXPECT_EQ(jetstream.replicas, 5);
  EXPECT_EQ(jetstream.stream_prefix, "Hk_prod-1");
  EXPECT_EQ(jetstream.ack_wait_seconds, 120);
  EXPECT_EQ(jetstream.auth(), JetstreamAuth::kUserPassword);
  EXPECT_EQ(jetstream.user, "hikyaku");
  EXPECT_EQ(jetstream.password.reveal(), kPassword);
  ASSERT_TRUE(jetstream.tls.has_value());
  EXPECT_EQ(jetstream.tls->ca_file, ca_);
  EXPECT_EQ(jetstream.tls->cert_file, cert_);
  EXPECT_EQ(jetstream.tls->key_file, key_);
  EXPECT_EQ(jetstream.location.line, 3);
}

TEST_F(JetstreamConfigTest, DefaultsAreThreeReplicasPrefixHikyakuNoAuthNoTls) {
  LoadResult result = load(kServers);
  ASSERT_TRUE(result.ok()) << all_errors(result);
  const JetstreamStoreConfig& jetstream = *result.config->store.jetstream;
  EXPECT_EQ(jetstream.servers, std::vector<std::string>{"nats://127.0.0.1:4222"});
  EXPECT_EQ(jetstream.replicas, 3);
  EXPECT_EQ(jetstream.stream_prefix, "HIKYAKU");
  EXPECT_EQ(jetstream.ack_wait_seconds, 60);
  EXPECT_EQ(jetstream.auth(), JetstreamAuth::kNone);
  EXPECT_FALSE(jetstream.tls.has_value());
  // Store's other keys are the store's, whichever backend.
  LoadResult with_extra = load(kServers, "  MaxQueuedBytes: 2097152\n");
  ASSERT_TRUE(with_extra.ok()) << all_errors(with_extra);
  EXPECT_EQ(with_extra.config->store.max_queued_bytes, 2097152);
}

TEST_F(JetstreamConfigTest, NoJetstreamMeansSqliteAsBefore) {
  LoadResult result = load_config_text(std::string(kRules), "js.yaml");
  ASSERT_TRUE(result.ok()) << all_errors(result);
  EXPECT_FALSE(result.config->store.jetstream.has_value());
  EXPECT_EQ(result.config->store.sqlite.path, "var/hikyaku.db");
  EXPECT_THAT(describe(*result.config), HasSubstr("store: sqlite var/hikyaku.db\n"));
}

TEST_F(JetstreamConfigTest, EachKindOfAuth) {
  LoadResult credentials = load(std::string(kServers) + "    Credentials: " + creds_ + "\n");
  ASSERT_TRUE(credentials.ok()) << all_errors(credentials);
  EXPECT_EQ(credentials.config->store.jetstream->auth(), JetstreamAuth::kCredentials);
  EXPECT_EQ(credentials.config->store.jetstream->credentials_file, creds_);

  LoadResult token = load(std::string(kServers) + "    Token: \"${NATS_TOKEN}\"\n");
  ASSERT_TRUE(token.ok()) << all_errors(token);
  EXPECT_EQ(token.config->store.jetstream->auth(), JetstreamAuth::kToken);
  EXPECT_EQ(token.config->store.jetstream->token.reveal(), kToken);
}

TEST_F(JetstreamConfigTest, TokenAndPasswordAreSecretValuesAndDescribeMasksThem) {
  LoadResult token = load(std::string(kServers) + "    Token: \"${NATS_TOKEN}\"\n");
  ASSERT_TRUE(token.ok()) << all_errors(token);
  EXPECT_THAT(token.config->secret_values(), Contains(std::string(kToken)));
  const std::string token_summary = describe(*token.config);
  EXPECT_THAT(token_summary,
              HasSubstr("store: jetstream nats://127.0.0.1:4222 (3 replicas, stream prefix "
                        "HIKYAKU, token ***, no TLS)\n"));
  EXPECT_THAT(token_summary, Not(HasSubstr(kToken)));

  LoadResult password =
      load(std::string(kServers) + "    User: hikyaku\n    Password: \"${NATS_PASSWORD}\"\n");
  ASSERT_TRUE(password.ok()) << all_errors(password);
  EXPECT_THAT(password.config->secret_values(), Contains(std::string(kPassword)));
  EXPECT_THAT(password.config->secret_values(), Not(Contains(std::string("hikyaku"))));
  const std::string password_summary = describe(*password.config);
  EXPECT_THAT(password_summary, HasSubstr("user hikyaku, password ***"));
  EXPECT_THAT(password_summary, Not(HasSubstr(kPassword)));
}

// --- Errors, one at a time ----------------------------------------------------------------------

TEST_F(JetstreamConfigTest, SqliteAndJetstreamTogetherIsAnError) {
  EXPECT_EQ(single_error(kServers, "  Sqlite: { Path: var/x.db }\n"),
            "js.yaml:3:5: Store.Jetstream: Store names both Sqlite and Jetstream: give one of "
            "them (neither = SQLite at var/hikyaku.db)");
}

TEST_F(JetstreamConfigTest, ServersAreRequiredAndNotEmpty) {
  EXPECT_EQ(single_error("    Replicas: 3\n"), "js.yaml:3:5: Store.Jetstream.Servers: is required");
  EXPECT_EQ(single_error("    Servers: []\n"),
            "js.yaml:3:14: Store.Jetstream.Servers: must name at least one server "
            "(nats://HOST:PORT)");
  EXPECT_EQ(single_error("    Servers: nats://127.0.0.1:4222\n"),
            "js.yaml:3:14: Store.Jetstream.Servers: must be a list, got a scalar");
  EXPECT_EQ(single_error("    Servers: [[nats://a:1]]\n"),
            "js.yaml:3:15: Store.Jetstream.Servers[0]: must be a string, got a list");
}

TEST_F(JetstreamConfigTest, ServerUrlsMustBeNatsOrTlsWithHostAndPort) {
  const std::map<std::string, std::string> cases = {
      {"http://h:4222",
       R"(must be a nats:// or tls:// URL (nats://HOST:PORT), got "http://h:4222")"},
      {"h:4222", R"(must be a nats:// or tls:// URL (nats://HOST:PORT), got "h:4222")"},
      {"nats://", R"(has no valid host (a name, a dotted IPv4 address or an IPv6 address in )"
                  R"(brackets), got "nats://")"},
      {"nats://:4222", R"(has no valid host (a name, a dotted IPv4 address or an IPv6 address )"
                       R"(in brackets), got "nats://:4222")"},
      {"nats://a..b:4222", R"(has no valid host (a name, a dotted IPv4 address or an IPv6 )"
                           R"(address in brackets), got "nats://a..b:4222")"},
      {"nats://::1:4222", R"(has no valid host (a name, a dotted IPv4 address or an IPv6 )"
                          R"(address in brackets), got "nats://::1:4222")"},
      {"nats://[fd00::1]x", R"(has no valid host (a name, a dotted IPv4 address or an IPv6 )"
                            R"(address in brackets), got "nats://[fd00::1]x")"},
      {"nats://[fd00::1::2]", R"(has no valid host (a name, a dotted IPv4 address or an IPv6 )"
                              R"(address in brackets), got "nats://[fd00::1::2]")"},
      {"nats://127.1:4222", R"(has "127.1", a shorthand IPv4 form that programs read )"
                            R"(differently; write the four-part dotted address it stands for )"
                            R"((127.0.0.1) instead)"},
      {"nats://0x7f.1", R"(has "0x7f.1", a shorthand IPv4 form that programs read differently; )"
                        R"(write the four-part dotted address it stands for (127.0.0.1) instead)"},
      {"nats://h:0", R"(has no valid port (1 to 65535; left out = 4222), got "nats://h:0")"},
      {"nats://h:65536",
       R"(has no valid port (1 to 65535; left out = 4222), got "nats://h:65536")"},
      {"nats://h:", R"(has no valid port (1 to 65535; left out = 4222), got "nats://h:")"},
      {"nats://h:42x", R"(has no valid port (1 to 65535; left out = 4222), got "nats://h:42x")"},
      {"nats://h:4222/js",
       R"(takes no path, query or fragment (nats://HOST:PORT), got "nats://h:4222/js")"},
      {"nats://h:4222?x=1",
       R"(takes no path, query or fragment (nats://HOST:PORT), got "nats://h:4222?x=1")"},
  };
  for (const auto& [url, message] : cases) {
    SCOPED_TRACE(url);
    EXPECT_EQ(single_error("    Servers: [nats://ok:4222, \"" + url + "\"]\n"),
              "js.yaml:3:31: Store.Jetstream.Servers[1]: " + message);
  }
  // The port may be left out (4222), and hosts may be names, IPv4 or bracketed IPv6.
  LoadResult fine =
      load("    Servers: [nats://a, tls://b.example, \"nats://[::1]\", nats://c:1]\n");
  EXPECT_TRUE(fine.ok()) << all_errors(fine);
}

TEST_F(JetstreamConfigTest, ServersAreListedOnce) {
  EXPECT_EQ(single_error("    Servers: [nats://a:4222, nats://b:4222, nats://a:4222]\n"),
            R"(js.yaml:3:45: Store.Jetstream.Servers[2]: "nats://a:4222" is listed twice)");
}

TEST_F(JetstreamConfigTest, ReplicasFromOneToFive) {
  for (int replicas : {1, 5}) {
    LoadResult result =
        load(std::string(kServers) + "    Replicas: " + std::to_string(replicas) + "\n");
    ASSERT_TRUE(result.ok()) << all_errors(result);
    EXPECT_EQ(result.config->store.jetstream->replicas, replicas);
  }
  EXPECT_EQ(single_error(std::string(kServers) + "    Replicas: 0\n"),
            "js.yaml:4:15: Store.Jetstream.Replicas: must be between 1 and 5, got 0");
  EXPECT_EQ(single_error(std::string(kServers) + "    Replicas: 6\n"),
            "js.yaml:4:15: Store.Jetstream.Replicas: must be between 1 and 5, got 6");
  EXPECT_EQ(single_error(std::string(kServers) + "    Replicas: three\n"),
            R"(js.yaml:4:15: Store.Jetstream.Replicas: must be an integer, got "three")");
}

TEST_F(JetstreamConfigTest, AckWaitSecondsFromTenToAnHourAndThreeAttemptTimeouts) {
  EXPECT_THAT(single_error(std::string(kServers) + "    AckWaitSeconds: 9\n"),
              HasSubstr("Store.Jetstream.AckWaitSeconds: "));
  EXPECT_THAT(single_error(std::string(kServers) + "    AckWaitSeconds: 3601\n"),
              HasSubstr("Store.Jetstream.AckWaitSeconds: "));
  // An attempt starts no later than two timeouts before its lease ends: three at least.
  const std::string destination = R"(Connections:
  - Name: c
    AuthorizationType: API_KEY
    AuthParameters: { ApiKeyAuthParameters: { ApiKeyName: k, ApiKeyValue: v } }
ApiDestinations:
  - { Name: slow, ConnectionName: c, InvocationEndpoint: "https://example.com/", HttpMethod: POST,
      TimeoutSeconds: 20 }
)";
  EXPECT_EQ(single_error(std::string(kServers) + "    AckWaitSeconds: 59\n", destination),
            "js.yaml:3:5: Store.Jetstream.AckWaitSeconds: 59 s is too short for attempts of up "
            "to 20 s (ApiDestination slow): give at least 60 (three timeouts: an attempt starts "
            "no later than two before its lease ends)");
  LoadResult enough = load(std::string(kServers) + "    AckWaitSeconds: 60\n", destination);
  EXPECT_TRUE(enough.ok()) << all_errors(enough);
  const std::string backlog_rule = R"(  - Name: b
    EventPattern: { source: [aws.securityhub] }
    Targets: [{ Id: tickets, Backlog: { DryRun: true, Project: SEC, IssueType: Task } }]
)";
  LoadResult with_backlog =
      load_config_text("Store:\n  Jetstream:\n" + std::string(kServers) +
                           "    AckWaitSeconds: 29\n" + std::string(kRules) + backlog_rule,
                       "js.yaml");
  ASSERT_FALSE(with_backlog.ok());
  EXPECT_THAT(all_errors(with_backlog),
              HasSubstr("29 s is too short for attempts of up to 10 s (Backlog target tickets of "
                        "rule b): give at least 30"));
}

TEST_F(JetstreamConfigTest, StreamPrefixIsLettersDigitsUnderscoreAndHyphen) {
  for (const char* prefix :
       {"HIKYAKU.PROD", "a b", "x*", "a>", "\"\"", "x/y", "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456"}) {
    SCOPED_TRACE(prefix);
    const std::string shown = std::string(prefix) == "\"\"" ? "" : prefix;
    EXPECT_EQ(single_error(std::string(kServers) + "    StreamPrefix: " + prefix + "\n"),
              "js.yaml:4:19: Store.Jetstream.StreamPrefix: \"" + shown +
                  "\" must be 1 to 32 characters of [A-Za-z0-9_-]");
  }
}

TEST_F(JetstreamConfigTest, OneKindOfAuthAtMost) {
  EXPECT_EQ(single_error(std::string(kServers) + "    Credentials: " + creds_ +
                         "\n    Token: \"${NATS_TOKEN}\"\n"),
            "js.yaml:3:5: Store.Jetstream: names Credentials and Token: give one way to "
            "authenticate (Credentials, Token, or User with Password), or none");
  EXPECT_EQ(single_error(std::string(kServers) + "    Credentials: " + creds_ +
                         "\n    Token: \"${NATS_TOKEN}\"\n    User: u\n    Password: p\n"),
            "js.yaml:3:5: Store.Jetstream: names Credentials, Token and User and Password: give "
            "one way to authenticate (Credentials, Token, or User with Password), or none");
}

TEST_F(JetstreamConfigTest, UserAndPasswordGoTogether) {
  EXPECT_EQ(single_error(std::string(kServers) + "    User: hikyaku\n"),
            "js.yaml:4:11: Store.Jetstream.Password: is required with User");
  EXPECT_EQ(single_error(std::string(kServers) + "    Password: \"${NATS_PASSWORD}\"\n"),
            "js.yaml:4:15: Store.Jetstream.User: is required with Password");
  // Either one beside a Token is both incomplete and a second kind.
  LoadResult mixed =
      load(std::string(kServers) + "    Token: \"${NATS_TOKEN}\"\n    User: hikyaku\n");
  EXPECT_THAT(all_errors(mixed), HasSubstr("Store.Jetstream.Password: is required with User"));
  EXPECT_THAT(all_errors(mixed), HasSubstr("names Token and User: give one way"));
}

TEST_F(JetstreamConfigTest, SecretsAndUserMustNotBeEmpty) {
  EXPECT_EQ(single_error(std::string(kServers) + "    Token: \"\"\n"),
            "js.yaml:4:12: Store.Jetstream.Token: must not be empty");
  EXPECT_EQ(single_error(std::string(kServers) + "    User: hikyaku\n    Password: \"\"\n"),
            "js.yaml:5:15: Store.Jetstream.Password: must not be empty");
  EXPECT_EQ(single_error(std::string(kServers) + "    User: \"\"\n    Password: p\n"),
            "js.yaml:4:11: Store.Jetstream.User: must not be empty");
}

TEST_F(JetstreamConfigTest, FilesNamedMustBeReadableRegularFiles) {
  const std::string missing = dir_.file("missing.creds");
  EXPECT_EQ(
      single_error(std::string(kServers) + "    Credentials: " + missing + "\n"),
      "js.yaml:4:18: Store.Jetstream.Credentials: \"" + missing + "\": No such file or directory");
  EXPECT_EQ(
      single_error(std::string(kServers) + "    Credentials: " + dir_.path() + "\n"),
      "js.yaml:4:18: Store.Jetstream.Credentials: \"" + dir_.path() + "\" is not a regular file");
  EXPECT_EQ(
      single_error(std::string(kServers) + "    Tls: { CaFile: " + missing + " }\n"),
      "js.yaml:4:20: Store.Jetstream.Tls.CaFile: \"" + missing + "\": No such file or directory");
  EXPECT_EQ(single_error(std::string(kServers) + "    Tls: { CaFile: \"\" }\n"),
            "js.yaml:4:20: Store.Jetstream.Tls.CaFile: must not be empty");
  if (::geteuid() != 0) {  // root reads any file
    const std::string unreadable = dir_.write("unreadable.pem", "x");
    ::chmod(unreadable.c_str(), 0);
    EXPECT_THAT(
        single_error(std::string(kServers) + "    Tls: { CertFile: " + unreadable +
                     ", KeyFile: " + key_ + " }\n"),
        HasSubstr("Store.Jetstream.Tls.CertFile: \"" + unreadable + "\": Permission denied"));
  }
}

TEST_F(JetstreamConfigTest, CertFileAndKeyFileGoTogether) {
  EXPECT_EQ(single_error(std::string(kServers) + "    Tls: { CertFile: " + cert_ + " }\n"),
            "js.yaml:4:10: Store.Jetstream.Tls.KeyFile: is required with CertFile (the client "
            "certificate's private key)");
  EXPECT_EQ(single_error(std::string(kServers) + "    Tls: { KeyFile: " + key_ + " }\n"),
            "js.yaml:4:10: Store.Jetstream.Tls.CertFile: is required with KeyFile");
  LoadResult ca_only = load(std::string(kServers) + "    Tls: { CaFile: " + ca_ + " }\n");
  ASSERT_TRUE(ca_only.ok()) << all_errors(ca_only);
  EXPECT_EQ(ca_only.config->store.jetstream->tls->cert_file, "");
}

TEST_F(JetstreamConfigTest, UnknownKeysAreRefusedWithAHint) {
  EXPECT_EQ(single_error(std::string(kServers) + "    Replica: 3\n"),
            "js.yaml:4:5: Store.Jetstream.Replica: unknown key (did you mean \"Replicas\"?); "
            "allowed here: Servers, Replicas, StreamPrefix, Credentials, Token, User, Password, "
            "Tls, AckWaitSeconds");
  EXPECT_THAT(single_error(std::string(kServers) + "    Tls: { CAFile: " + ca_ + " }\n"),
              HasSubstr("Store.Jetstream.Tls.CAFile: unknown key (did you mean \"CaFile\"?)"));
  EXPECT_THAT(single_error(std::string(kServers) + "  Jetstrem: {}\n"),
              HasSubstr("Store.Jetstrem: unknown key (did you mean \"Jetstream\"?)"));
  LoadResult not_a_map = load("    - nats://a:4222\n");
  ASSERT_EQ(not_a_map.errors.size(), 1u) << all_errors(not_a_map);
  EXPECT_EQ(not_a_map.errors[0].to_string(),
            "js.yaml:3:5: Store.Jetstream: must be a mapping, got a list");
}

TEST_F(JetstreamConfigTest, LogTargetsMayNotAppendToItsFilesButMayUseTheUnusedSqlitePath) {
  const std::string text = "Store:\n  Jetstream:\n" + std::string(kServers) +
                           "    Credentials: " + creds_ + R"(
Rules:
  - Name: r
    EventPattern: { source: [x] }
    Targets: [{ Id: t, Log: { Path: )" +
                           creds_ + " } }, { Id: u, Log: { Path: var/hikyaku.db } }]\n";
  LoadResult result = load_config_text(text, "js.yaml");
  ASSERT_EQ(result.errors.size(), 1u) << all_errors(result);
  EXPECT_EQ(result.errors[0].key_path, "Rules[0].Targets[0].Log.Path");
  EXPECT_THAT(result.errors[0].message, HasSubstr("is Store.Jetstream.Credentials"));
}

// --- Secrets ------------------------------------------------------------------------------------

// Configs with errors everywhere, the Token and Password from the environment and written inline:
// no message shows either, whatever else is wrong.
TEST_F(JetstreamConfigTest, NoErrorShowsTheTokenOrPassword) {
  const std::string inline_token = "it-Zq9-inline-token-0000";
  const std::string inline_password = "ip-Zq9-inline-password-0000";
  const std::vector<std::string> configs = {
      // Every kind of auth at once, and every other key wrong.
      "    Servers: [http://h, \"nats://u:" + std::string(kPassword) + "@h:4222\", \"nats://" +
          inline_token +
          "@h\"]\n    Replicas: 9\n    StreamPrefix: "
          "\"a.b\"\n    Credentials: /nonexistent.creds\n    Token: \"${NATS_TOKEN}\"\n    User: "
          "\"\"\n    Password: \"${NATS_PASSWORD}\"\n    Tls: { CertFile: /nonexistent.pem }\n",
      "    Servers: []\n    Token: " + inline_token + "\n    Password: " + inline_password + "\n",
      "    Servers: [\"${NATS_TOKEN}\", \"nats://${NATS_PASSWORD}\", \"tls://h:${NATS_TOKEN}\"]\n"
      "    StreamPrefix: \"${NATS_TOKEN}\"\n    Replicas: \"${NATS_PASSWORD}\"\n",
      "    Servers: [nats://h]\n    Token: [" + inline_token + "]\n    User: [" + inline_password +
          "]\n    Tls: { CaFile: \"${NATS_TOKEN}\", KeyFile: \"${NATS_PASSWORD}\" }\n",
  };
  size_t errors = 0;
  for (const std::string& jetstream : configs) {
    LoadResult result = load(jetstream, "  Sqlite: { Path: var/x.db }\n");
    EXPECT_FALSE(result.ok());
    errors += result.errors.size();
    const std::string text = all_errors(result);
    for (std::string_view secret :
         {kToken, kPassword, std::string_view(inline_token), std::string_view(inline_password)}) {
      EXPECT_THAT(text, Not(HasSubstr(secret))) << jetstream;
    }
  }
  EXPECT_GT(errors, 20u);  // the configs are as wrong as they claim
}

}  // namespace
}  // namespace hikyaku::config
