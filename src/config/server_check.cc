// check_server_config() and parse_listen(): the checks `serve` makes on the Server section, made
// by `validate` too (config.h states the rules).

#include "config/internal/server_check.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "config/config.h"
#include "config/internal/readable_file.h"

namespace hikyaku::config {
namespace {

constexpr std::string_view kHostHint = "use e.g. 127.0.0.1, 0.0.0.0, [::1] or [::]";

bool all_digits(std::string_view text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

Result<uint16_t> parse_port(std::string_view listen, std::string_view port) {
  // Five digits at most, so the value cannot overflow before it is compared.
  if (!all_digits(port) || port.size() > 5 || std::stoul(std::string(port)) > 65535) {
    return invalid_argument(fmt::format(
        R"(Server.Listen: "{}": the port must be a decimal number from 0 to 65535)", listen));
  }
  return static_cast<uint16_t>(std::stoul(std::string(port)));
}

Result<ListenAddress> parse_ipv6_host(std::string_view listen, std::string_view host) {
  in6_addr address{};
  if (inet_pton(AF_INET6, std::string(host).c_str(), &address) != 1) {
    return invalid_argument(fmt::format(
        R"(Server.Listen: "{}": "[{}]" is not an IPv6 address (zone ids such as %eth0 are not )"
        "supported; {})",
        listen, host, kHostHint));
  }
  if (IN6_IS_ADDR_V4MAPPED(&address)) {
    char ipv4[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &address.s6_addr[12], ipv4, sizeof ipv4);
    return invalid_argument(fmt::format(
        R"(Server.Listen: "{}": "[{}]" is an IPv4-mapped IPv6 address; write the IPv4 address )"
        "{} instead",
        listen, host, ipv4));
  }
  ListenAddress result;
  result.host = std::string(host);
  result.loopback = IN6_IS_ADDR_LOOPBACK(&address) != 0;
  return result;
}

Result<ListenAddress> parse_ipv4_host(std::string_view listen, std::string_view host) {
  ListenAddress result;
  if (host == "localhost") {
    result.host = "127.0.0.1";
    result.loopback = true;
    return result;
  }
  const std::string text(host);
  in_addr address{};
  // inet_pton takes exactly four decimal parts without leading zeros; inet_aton also takes
  // "127.1", hex and octal parts, and a bare 32-bit number, each meaning something else than it
  // seems to.
  if (inet_pton(AF_INET, text.c_str(), &address) == 1) {
    result.host = text;
    result.loopback = (ntohl(address.s_addr) >> 24) == 127;
    return result;
  }
  if (inet_aton(text.c_str(), &address) != 0) {
    char dotted[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &address, dotted, sizeof dotted);
    return invalid_argument(fmt::format(
        R"(Server.Listen: "{}": "{}" is a shorthand IPv4 form that programs read differently; )"
        "write the four-part dotted address it stands for ({}) instead",
        listen, host, dotted));
  }
  return invalid_argument(fmt::format(
      R"(Server.Listen: "{}": "{}" is not an IP address or localhost (host names are not )"
      "resolved; {})",
      listen, host, kHostHint));
}

}  // namespace

Result<ListenAddress> parse_listen(std::string_view listen) {
  std::string_view host;
  std::string_view port;
  const bool bracketed = listen.starts_with('[');
  if (bracketed) {
    const size_t close = listen.find(']');
    if (close == std::string_view::npos || listen.substr(close + 1, 1) != ":") {
      return invalid_argument(
          fmt::format(R"(Server.Listen: "{}" must be [IPV6]:PORT, e.g. [::1]:4010)", listen));
    }
    host = listen.substr(1, close - 1);
    port = listen.substr(close + 2);
  } else {
    const size_t colon = listen.find(':');
    if (colon == std::string_view::npos) {
      return invalid_argument(
          fmt::format(R"(Server.Listen: "{}" must be HOST:PORT, e.g. 127.0.0.1:4010)", listen));
    }
    if (listen.find(':', colon + 1) != std::string_view::npos) {
      return invalid_argument(fmt::format(
          R"(Server.Listen: "{}": an IPv6 address must be in brackets, e.g. [::1]:4010)", listen));
    }
    host = listen.substr(0, colon);
    port = listen.substr(colon + 1);
    if (host.empty()) {
      return invalid_argument(
          fmt::format(R"(Server.Listen: "{}" has no host; {})", listen, kHostHint));
    }
  }
  HK_ASSIGN_OR_RETURN(uint16_t number, parse_port(listen, port));
  HK_ASSIGN_OR_RETURN(ListenAddress address,
                      bracketed ? parse_ipv6_host(listen, host) : parse_ipv4_host(listen, host));
  address.port = number;
  return address;
}

namespace internal {

std::vector<ServerProblem> server_config_problems(const ServerConfig& server) {
  std::vector<ServerProblem> problems;
  // Messages of parse_listen() start with the key; the loader wants it apart.
  auto add = [&problems](std::string key, const Status& status) {
    std::string message = status.message();
    const std::string prefix = key + ": ";
    if (message.starts_with(prefix)) {
      message.erase(0, prefix.size());
    }
    problems.push_back({std::move(key), std::move(message)});
  };
  Result<ListenAddress> listen = parse_listen(server.listen);
  if (!listen.has_value()) {
    add("Server.Listen", listen.error());
  } else if (!listen->loopback && !server.auth.configured()) {
    problems.push_back(
        {"Server.Listen",
         fmt::format("refusing to listen on {}: it is not a loopback address and Server.Auth is "
                     "not configured, so anyone who can reach it could publish events. Add "
                     "Server.Auth.SigV4.Credentials (and Server.Auth.ApiKeys for /events/{{bus}}), "
                     "or listen on 127.0.0.1",
                     server.listen)});
  }
  if (server.tls) {
    if (std::string problem = internal::readable_file_problem(server.tls->cert_file);
        !problem.empty()) {
      problems.push_back({"Server.Tls.CertFile", std::move(problem)});
    }
    if (std::string problem = internal::readable_file_problem(server.tls->key_file);
        !problem.empty()) {
      problems.push_back({"Server.Tls.KeyFile", std::move(problem)});
    }
  }
  return problems;
}

}  // namespace internal

Status check_server_config(const ServerConfig& server) {
  std::string message;
  for (const internal::ServerProblem& problem : internal::server_config_problems(server)) {
    message += message.empty() ? "" : "\n";
    message += problem.key + ": " + problem.message;
  }
  return message.empty() ? Status() : invalid_argument(std::move(message));
}

}  // namespace hikyaku::config
