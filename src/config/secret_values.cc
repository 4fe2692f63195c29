// Config::secret_values(): every configured secret value, for redaction by value.

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "core/redact.h"
#include "core/url_encoding.h"

namespace hikyaku::config {
namespace {

class Collector {
 public:
  void add(std::string_view value) {
    if (!value.empty()) {
      values_.emplace_back(value);
      const std::string decoded = percent_decode(value);
      if (decoded != value) {
        values_.push_back(decoded);
      }
    }
  }
  void add(const Secret& secret) { add(secret.reveal()); }

  void add_parameters(const std::vector<HttpParameter>& parameters) {
    for (const HttpParameter& parameter : parameters) {
      if (parameter.is_value_secret || is_secret_parameter_name(parameter.key)) {
        add(parameter.value);
      }
    }
  }
  void add_parameters(const HttpParameterSet& set) {
    add_parameters(set.header_parameters);
    add_parameters(set.query_string_parameters);
    add_parameters(set.body_parameters);
  }

  // Userinfo (user and password) and secret-named `name=value` pieces after ? & ; #.
  void add_url(std::string_view url) {
    const size_t scheme = url.find("://");
    const size_t authority_begin = scheme == std::string_view::npos ? 0 : scheme + 3;
    const size_t authority_end = url.find_first_of("/?#", authority_begin);
    const std::string_view authority = url.substr(
        authority_begin, authority_end == std::string_view::npos ? std::string_view::npos
                                                                 : authority_end - authority_begin);
    if (const size_t at = authority.rfind('@'); at != std::string_view::npos) {
      const std::string_view userinfo = authority.substr(0, at);
      const size_t colon = userinfo.find(':');
      add(userinfo.substr(0, colon));
      if (colon != std::string_view::npos) {
        add(userinfo.substr(colon + 1));
      }
    }
    if (authority_end == std::string_view::npos) {
      return;
    }
    std::string_view rest = url.substr(authority_end);
    while (!rest.empty()) {
      const size_t end = rest.find_first_of("?&;#", 1);
      std::string_view piece = rest.substr(0, end);
      if (!piece.empty() &&
          std::string_view("?&;#/").find(piece.front()) != std::string_view::npos) {
        piece.remove_prefix(1);
      }
      if (const size_t equals = piece.find('='); equals != std::string_view::npos) {
        const std::string_view name = piece.substr(0, equals);
        if (is_secret_parameter_name(name) || is_secret_parameter_name(percent_decode(name))) {
          add(piece.substr(equals + 1));
        }
      }
      rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);
    }
  }

  std::vector<std::string> take() {
    std::sort(values_.begin(), values_.end(), [](const std::string& a, const std::string& b) {
      return a.size() != b.size() ? a.size() > b.size() : a < b;
    });
    values_.erase(std::unique(values_.begin(), values_.end()), values_.end());
    return std::move(values_);
  }

 private:
  std::vector<std::string> values_;
};

}  // namespace

std::vector<std::string> Config::secret_values() const {
  Collector collector;
  for (const SigV4Credential& credential : server.auth.sigv4_credentials) {
    collector.add(credential.secret_access_key);
  }
  for (const ApiKeyCredential& credential : server.auth.api_keys) {
    collector.add(credential.value);
  }
  for (const ApiKeyCredential& credential : server.auth.admin_api_keys) {
    collector.add(credential.value);
  }
  if (store.jetstream) {
    collector.add(store.jetstream->token);
    collector.add(store.jetstream->password);
  }
  for (const Connection& connection : connections) {
    collector.add(connection.api_key_value);
    collector.add(connection.password);
    collector.add(connection.client_secret);
    collector.add_parameters(connection.oauth_http_parameters);
    collector.add_parameters(connection.invocation_http_parameters);
    collector.add_url(connection.authorization_endpoint);
  }
  for (const ApiDestination& destination : api_destinations) {
    collector.add_url(destination.invocation_endpoint);
  }
  for (const Rule& rule : rules) {
    for (const Target& target : rule.targets) {
      if (target.backlog) {
        collector.add(target.backlog->api_key);
        collector.add_url(target.backlog->endpoint);
      }
      if (!target.http_parameters) {
        continue;
      }
      for (const auto* list : {&target.http_parameters->header_parameters,
                               &target.http_parameters->query_string_parameters}) {
        for (const auto& [name, value] : *list) {
          if (is_secret_parameter_name(name) && !value.starts_with("$.")) {
            collector.add(value);
          }
        }
      }
    }
  }
  return collector.take();
}

}  // namespace hikyaku::config
