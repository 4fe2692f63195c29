// Store.Jetstream: the NATS JetStream store's settings, checked as far as they can be without
// connecting.

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "config/internal/readable_file.h"
#include "config/internal/sections.h"
#include "core/redact.h"

namespace hikyaku::config::internal {
namespace {

constexpr std::string_view kPath = "Store.Jetstream";
constexpr size_t kMaxServerUrlLength = 2048;
constexpr size_t kMaxStreamPrefixLength = 32;

bool is_port(std::string_view text) {
  if (text.empty() || text.size() > 5 ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  const int port = std::stoi(std::string(text));
  return port >= 1 && port <= 65535;
}

// A DNS name or dotted IPv4 address: labels of letters, digits and '-', none empty.
bool is_host_name(std::string_view host) {
  if (host.empty() || host.size() > 253 || host.front() == '.' || host.back() == '.' ||
      host.find("..") != std::string_view::npos) {
    return false;
  }
  return std::all_of(host.begin(), host.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.';
  });
}

bool is_ipv6_literal(std::string_view address) {
  in6_addr parsed{};
  return inet_pton(AF_INET6, std::string(address).c_str(), &parsed) == 1;
}

// The four-part dotted address that a shorthand IPv4 form ("127.1", hex or octal parts, a bare
// number) stands for, as Server.Listen refuses them: resolvers read them differently from people.
std::optional<std::string> shorthand_ipv4(std::string_view host) {
  const std::string text(host);
  in_addr address{};
  if (inet_pton(AF_INET, text.c_str(), &address) == 1 || inet_aton(text.c_str(), &address) == 0) {
    return std::nullopt;
  }
  char dotted[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &address, dotted, sizeof dotted);
  return std::string(dotted);
}

// "" when `url` is nats://HOST[:PORT] or tls://HOST[:PORT]; otherwise what is wrong. A URL is
// quoted only through redact_url(), and not at all when it carries userinfo.
std::string server_url_problem(std::string_view url) {
  std::string_view rest = url;
  if (rest.starts_with("nats://")) {
    rest.remove_prefix(7);
  } else if (rest.starts_with("tls://")) {
    rest.remove_prefix(6);
  } else {
    return fmt::format(R"(must be a nats:// or tls:// URL (nats://HOST:PORT), got "{}")",
                       redact_url(url));
  }
  if (url.size() > kMaxServerUrlLength) {
    return fmt::format("is {} characters; the limit is {}", url.size(), kMaxServerUrlLength);
  }
  const size_t authority_end = rest.find_first_of("/?#");
  if (rest.substr(0, authority_end).find('@') != std::string_view::npos) {
    return "must not carry credentials (user@ or user:password@): give them as User and "
           "Password, or Token";
  }
  if (authority_end != std::string_view::npos) {
    return fmt::format(R"(takes no path, query or fragment (nats://HOST:PORT), got "{}")",
                       redact_url(url));
  }
  std::string_view host = rest;
  std::optional<std::string_view> port;  // after a ':', possibly empty
  if (rest.starts_with('[')) {
    const size_t close = rest.find(']');
    host = close == std::string_view::npos ? std::string_view() : rest.substr(1, close - 1);
    const std::string_view after =
        close == std::string_view::npos ? std::string_view() : rest.substr(close + 1);
    if (after.starts_with(':')) {
      port = after.substr(1);
    } else if (!after.empty()) {
      host = std::string_view();
    }
  } else if (const size_t colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  const bool bracketed = rest.starts_with('[');
  if (bracketed ? !is_ipv6_literal(host) : !is_host_name(host)) {
    return fmt::format(
        R"(has no valid host (a name, a dotted IPv4 address or an IPv6 address in brackets), )"
        R"(got "{}")",
        redact_url(url));
  }
  if (!bracketed) {
    if (std::optional<std::string> dotted = shorthand_ipv4(host)) {
      return fmt::format(
          R"(has "{}", a shorthand IPv4 form that programs read differently; write the )"
          "four-part dotted address it stands for ({}) instead",
          host, *dotted);
    }
  }
  if (port && !is_port(*port)) {
    return fmt::format(R"(has no valid port (1 to 65535; left out = 4222), got "{}")",
                       redact_url(url));
  }
  return "";
}

void read_servers(YamlReader& reader, const YAML::Node& jetstream, JetstreamStoreConfig& out) {
  const std::string path = join(std::string(kPath), "Servers");
  if (!reader.require(jetstream, std::string(kPath), "Servers")) {
    return;
  }
  const YAML::Node servers = jetstream["Servers"];
  if (!reader.check_sequence(servers, path)) {
    return;
  }
  if (servers.size() == 0) {
    reader.add_error(servers, path, "must name at least one server (nats://HOST:PORT)");
    return;
  }
  for (size_t i = 0; i < servers.size(); ++i) {
    const std::string item = index(path, i);
    std::optional<std::string> url = reader.read_string(servers[i], item);
    if (!url) {
      continue;
    }
    if (std::string problem = server_url_problem(*url); !problem.empty()) {
      reader.add_error(servers[i], item, std::move(problem));
      continue;
    }
    if (const auto same = std::find(out.servers.begin(), out.servers.end(), *url);
        same != out.servers.end()) {
      reader.add_error(servers[i], item, fmt::format(R"("{}" is listed twice)", redact_url(*url)));
      continue;
    }
    out.servers.push_back(std::move(*url));
  }
}

void read_stream_prefix(YamlReader& reader, const YAML::Node& jetstream,
                        JetstreamStoreConfig& out) {
  std::string prefix;
  if (!reader.read_string_into(jetstream, std::string(kPath), "StreamPrefix", prefix)) {
    return;
  }
  const bool valid = !prefix.empty() && prefix.size() <= kMaxStreamPrefixLength &&
                     std::all_of(prefix.begin(), prefix.end(), [](char c) {
                       return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
                     });
  if (!valid) {
    reader.add_error(jetstream["StreamPrefix"], join(std::string(kPath), "StreamPrefix"),
                     fmt::format(R"("{}" must be 1 to {} characters of [A-Za-z0-9_-])", prefix,
                                 kMaxStreamPrefixLength));
    return;
  }
  out.stream_prefix = std::move(prefix);
}

// A file the NATS client will read: present, readable, a regular file.
void read_file_key(YamlReader& reader, const YAML::Node& parent, const std::string& path,
                   std::string_view key, std::string& out) {
  if (reader.read_string_into(parent, path, key, out)) {
    if (std::string problem = readable_file_problem(out); !problem.empty()) {
      reader.add_error(parent[std::string(key)], join(path, key), std::move(problem));
    }
  }
}

// A secret that must not be empty; its value is never part of a message.
void read_required_secret(YamlReader& reader, const YAML::Node& jetstream, std::string_view key,
                          Secret& out) {
  std::string value;
  if (!reader.read_string_into(jetstream, std::string(kPath), key, value)) {
    return;
  }
  out = Secret(std::move(value));
  if (out.empty()) {
    reader.add_error(jetstream[std::string(key)], join(std::string(kPath), key),
                     "must not be empty");
  }
}

// Credentials, Token or User with Password: at most one of them.
void read_auth(YamlReader& reader, const YAML::Node& jetstream, JetstreamStoreConfig& out) {
  const std::string path(kPath);
  std::vector<std::string_view> given;
  if (jetstream["Credentials"]) {
    given.emplace_back("Credentials");
    read_file_key(reader, jetstream, path, "Credentials", out.credentials_file);
  }
  if (jetstream["Token"]) {
    given.emplace_back("Token");
    read_required_secret(reader, jetstream, "Token", out.token);
  }
  const bool user = static_cast<bool>(jetstream["User"]);
  const bool password = static_cast<bool>(jetstream["Password"]);
  if (user || password) {
    given.emplace_back(user && password ? "User and Password" : user ? "User" : "Password");
  }
  if (user && reader.read_string_into(jetstream, path, "User", out.user) && out.user.empty()) {
    reader.add_error(jetstream["User"], join(path, "User"), "must not be empty");
  }
  if (password) {
    read_required_secret(reader, jetstream, "Password", out.password);
  }
  if (user && !password) {
    reader.add_error(jetstream["User"], join(path, "Password"), "is required with User");
  } else if (password && !user) {
    reader.add_error(jetstream["Password"], join(path, "User"), "is required with Password");
  }
  if (given.size() > 1) {
    std::string names;
    for (size_t i = 0; i < given.size(); ++i) {
      names += i == 0 ? "" : i + 1 == given.size() ? " and " : ", ";
      names += given[i];
    }
    reader.add_error(jetstream, path,
                     fmt::format("names {}: give one way to authenticate (Credentials, Token, or "
                                 "User with Password), or none",
                                 names));
  }
}

void read_tls(YamlReader& reader, const YAML::Node& tls, JetstreamStoreConfig& out) {
  const std::string path = join(std::string(kPath), "Tls");
  if (!reader.check_map(tls, path, {"CaFile", "CertFile", "KeyFile"})) {
    return;
  }
  JetstreamTlsConfig config;
  read_file_key(reader, tls, path, "CaFile", config.ca_file);
  read_file_key(reader, tls, path, "CertFile", config.cert_file);
  read_file_key(reader, tls, path, "KeyFile", config.key_file);
  if (tls["CertFile"] && !tls["KeyFile"]) {
    reader.add_error(tls, join(path, "KeyFile"),
                     "is required with CertFile (the client certificate's private key)");
  } else if (tls["KeyFile"] && !tls["CertFile"]) {
    reader.add_error(tls, join(path, "CertFile"), "is required with KeyFile");
  }
  out.tls = std::move(config);
}

}  // namespace

std::optional<JetstreamStoreConfig> read_jetstream(YamlReader& reader, const YAML::Node& node) {
  if (!reader.check_map(node, std::string(kPath),
                        {"Servers", "Replicas", "StreamPrefix", "Credentials", "Token", "User",
                         "Password", "Tls", "AckWaitSeconds"})) {
    return std::nullopt;
  }
  JetstreamStoreConfig out;
  out.location = location_of(node);
  read_servers(reader, node, out);
  if (const YAML::Node replicas = node["Replicas"]) {
    if (std::optional<int64_t> value =
            reader.read_integer(replicas, join(std::string(kPath), "Replicas"), 1, 5)) {
      out.replicas = static_cast<int>(*value);
    }
  }
  if (const YAML::Node ack_wait = node["AckWaitSeconds"]) {
    if (std::optional<int64_t> value =
            reader.read_integer(ack_wait, join(std::string(kPath), "AckWaitSeconds"), 10, 3600)) {
      out.ack_wait_seconds = static_cast<int>(*value);
    }
  }
  read_stream_prefix(reader, node, out);
  read_auth(reader, node, out);
  if (const YAML::Node tls = node["Tls"]) {
    read_tls(reader, tls, out);
  }
  return out;
}

}  // namespace hikyaku::config::internal
