// check_server_config() / parse_listen(): the table of listen strings `serve` and `validate` both
// judge with it, and the loader reporting its problems at their keys.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "config/config.h"
#include "testing/temp_dir.h"

namespace hikyaku::config {
namespace {

using ::testing::HasSubstr;

struct ListenCase {
  const char* listen;
  bool with_auth;
  const char* expected_error;  // "" = accepted; else a substring of the message
};

ServerConfig server_with(const ListenCase& c) {
  ServerConfig server;
  server.listen = c.listen;
  if (c.with_auth) {
    server.auth.api_keys.push_back({"x-key", Secret("k"), {}});
  }
  return server;
}

TEST(CheckServerConfigTest, ListenTable) {
  const ListenCase cases[] = {
      {"127.0.0.1:4010", false, ""},
      {"127.0.0.1:0", false, ""},
      {"127.0.0.1:65535", false, ""},
      {"127.9.8.7:1", false, ""},  // all of 127/8 is loopback
      {"localhost:4010", false, ""},
      {"[::1]:4010", false, ""},
      {"0.0.0.0:4010", true, ""},
      {"[::]:4010", true, ""},
      {"192.0.2.1:80", true, ""},
      {"[2001:db8::1]:443", true, ""},
      // Not loopback without Server.Auth.
      {"0.0.0.0:4010", false, "not a loopback address and Server.Auth is not configured"},
      {"[::]:4010", false, "not a loopback address and Server.Auth is not configured"},
      {"192.0.2.1:80", false, "not a loopback address"},
      {"[::2]:80", false, "not a loopback address"},
      {"[::127.0.0.1]:80", false, "not a loopback address"},  // IPv4-compatible is not mapped
      // IPv4-mapped: refused either way, with the address to write.
      {"[::ffff:127.0.0.1]:4010", false,
       "IPv4-mapped IPv6 address; write the IPv4 address 127.0.0.1"},
      {"[::ffff:127.0.0.1]:4010", true, "IPv4-mapped"},
      {"[::FFFF:7f00:1]:4010", true, "write the IPv4 address 127.0.0.1"},
      // inet_aton shorthands.
      {"127.1:4010", false, "shorthand IPv4 form"},
      {"127.1:4010", true, "(127.0.0.1)"},
      {"0x7f.1:4010", true, "(127.0.0.1)"},
      {"017.0.0.1:4010", true, "(15.0.0.1)"},
      {"2130706433:4010", true, "(127.0.0.1)"},
      {"127.000.000.001:4010", true, "shorthand"},
      {"0:4010", true, "(0.0.0.0)"},
      // Not an address.
      {"example.com:80", true, "not an IP address or localhost"},
      {"LOCALHOST:80", true, "not an IP address"},
      {"127.0.0.1.:80", true, "not an IP address"},
      {"[127.0.0.1]:80", true, "is not an IPv6 address"},
      {"[fe80::1%eth0]:80", true, "zone ids"},
      {"[::1]", true, "must be [IPV6]:PORT"},
      {"[::1]4010", true, "must be [IPV6]:PORT"},
      {"[::1:4010", true, "must be [IPV6]:PORT"},
      {"::1:4010", true, "must be in brackets"},
      {"::", true, "must be in brackets"},
      {":4010", true, "has no host"},
      {"4010", true, "must be HOST:PORT"},
      {"", true, "must be HOST:PORT"},
      // Ports.
      {"127.0.0.1:", false, "port must be a decimal number from 0 to 65535"},
      {"127.0.0.1:65536", false, "port must be"},
      {"127.0.0.1:99999999999999999999", false, "port must be"},
      {"127.0.0.1:-1", false, "port must be"},
      {"127.0.0.1:+80", false, "port must be"},
      {"127.0.0.1: 80", false, "port must be"},
      {"127.0.0.1:0x50", false, "port must be"},
      {"127.0.0.1:80 ", false, "port must be"},
  };
  for (const ListenCase& c : cases) {
    SCOPED_TRACE(std::string(c.listen) + (c.with_auth ? " with auth" : " without auth"));
    const Status status = check_server_config(server_with(c));
    if (*c.expected_error == '\0') {
      EXPECT_TRUE(status.ok()) << status.message();
    } else {
      EXPECT_FALSE(status.ok());
      EXPECT_THAT(status.message(), HasSubstr(c.expected_error));
      EXPECT_TRUE(status.message().starts_with("Server.Listen: ")) << status.message();
    }
  }
}

TEST(CheckServerConfigTest, ParseListenGivesWhatToBind) {
  Result<ListenAddress> v4 = parse_listen("localhost:8080");
  ASSERT_TRUE(v4.has_value()) << v4.error().message();
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 8080);
  EXPECT_TRUE(v4->loopback);
  Result<ListenAddress> v6 = parse_listen("[::]:0");
  ASSERT_TRUE(v6.has_value()) << v6.error().message();
  EXPECT_EQ(v6->host, "::");
  EXPECT_EQ(v6->port, 0);
  EXPECT_FALSE(v6->loopback);
}

TEST(CheckServerConfigTest, TlsFilesMustBeReadableRegularFiles) {
  const testing::TempDir dir("server-check");
  ServerConfig server;
  server.tls = TlsConfig{dir.write("cert.pem", "x"), dir.write("key.pem", "x")};
  EXPECT_TRUE(check_server_config(server).ok());

  server.tls = TlsConfig{dir.file("missing.pem"), dir.path()};
  const Status status = check_server_config(server);
  EXPECT_THAT(status.message(), HasSubstr("Server.Tls.CertFile: \"" + dir.file("missing.pem") +
                                          "\": No such file or directory"));
  EXPECT_THAT(status.message(),
              HasSubstr("Server.Tls.KeyFile: \"" + dir.path() + "\" is not a regular file"));

  server.tls = TlsConfig{"", "/dev/null"};
  const Status empty = check_server_config(server);
  EXPECT_THAT(empty.message(), HasSubstr("Server.Tls.CertFile: must not be empty"));
  EXPECT_THAT(empty.message(),
              HasSubstr("Server.Tls.KeyFile: \"/dev/null\" is not a regular file"));
}

TEST(CheckServerConfigTest, LoaderReportsEachProblemAtItsKey) {
  const std::string text = R"(Server:
  Listen: "127.1:4010"
  Tls: { CertFile: /nonexistent/cert.pem, KeyFile: /nonexistent/key.pem }
Rules:
  - Name: r
    EventPattern: { source: [x] }
    Targets: [{ Id: t, Log: { Path: out.jsonl } }]
)";
  LoadResult result = load_config_text(text, "c.yaml");
  ASSERT_EQ(result.errors.size(), 3u);
  EXPECT_EQ(result.errors[0].key_path, "Server.Listen");
  EXPECT_EQ(result.errors[0].location.line, 2);
  EXPECT_THAT(result.errors[0].message, HasSubstr("shorthand"));
  EXPECT_EQ(result.errors[1].key_path, "Server.Tls.CertFile");
  EXPECT_EQ(result.errors[1].location.line, 3);
  EXPECT_EQ(result.errors[2].key_path, "Server.Tls.KeyFile");

  LoadResult open = load_config_text(
      "Server: { Listen: \"0.0.0.0:4010\" }\n" + text.substr(text.find("Rules:")), "c.yaml");
  ASSERT_EQ(open.errors.size(), 1u);
  EXPECT_THAT(open.errors[0].to_string(),
              HasSubstr("c.yaml:1:19: Server.Listen: refusing to listen on 0.0.0.0:4010"));
}

}  // namespace
}  // namespace hikyaku::config
