// The Server and Store sections.

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <type_traits>
#include <utility>

#include "config/internal/path_check.h"
#include "config/internal/sections.h"
#include "config/internal/server_check.h"

namespace hikyaku::config::internal {
namespace {

void read_sigv4(YamlReader& reader, const YAML::Node& sigv4, const std::string& sigv4_path,
                ServerAuthConfig& out) {
  if (!reader.check_map(sigv4, sigv4_path, {"Credentials"}) ||
      !reader.require(sigv4, sigv4_path, "Credentials")) {
    return;
  }
  const YAML::Node list = sigv4["Credentials"];
  const std::string list_path = join(sigv4_path, "Credentials");
  if (!reader.check_sequence(list, list_path)) {
    return;
  }
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string item = index(list_path, i);
    if (!reader.check_map(list[i], item, {"AccessKeyId", "SecretAccessKey", "AllowedSources"})) {
      continue;
    }
    SigV4Credential credential;
    if (reader.require(list[i], item, "AccessKeyId")) {
      reader.read_string_into(list[i], item, "AccessKeyId", credential.access_key_id);
    }
    if (reader.require(list[i], item, "SecretAccessKey")) {
      reader.read_secret_into(list[i], item, "SecretAccessKey", credential.secret_access_key);
    }
    if (const YAML::Node sources = list[i]["AllowedSources"]) {
      credential.allowed_sources = reader.read_string_list(sources, join(item, "AllowedSources"));
    }
    out.sigv4_credentials.push_back(std::move(credential));
  }
}

// ApiKeys (with AllowedSources) or AdminApiKeys (without).
void read_api_keys(YamlReader& reader, const YAML::Node& keys, const std::string& list_path,
                   bool with_sources, std::vector<ApiKeyCredential>& out) {
  if (!reader.check_sequence(keys, list_path)) {
    return;
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    const std::string item = index(list_path, i);
    if (!(with_sources ? reader.check_map(keys[i], item, {"HeaderName", "Value", "AllowedSources"})
                       : reader.check_map(keys[i], item, {"HeaderName", "Value"}))) {
      continue;
    }
    ApiKeyCredential credential;
    if (reader.require(keys[i], item, "HeaderName")) {
      reader.read_string_into(keys[i], item, "HeaderName", credential.header_name);
    }
    if (reader.require(keys[i], item, "Value")) {
      reader.read_secret_into(keys[i], item, "Value", credential.value);
      if (credential.value.empty()) {
        reader.add_error(keys[i]["Value"], join(item, "Value"),
                         "must not be empty (an empty key would let anyone in)");
      }
    }
    if (const YAML::Node sources = keys[i]["AllowedSources"]) {
      credential.allowed_sources = reader.read_string_list(sources, join(item, "AllowedSources"));
    }
    out.push_back(std::move(credential));
  }
}

void read_server_auth(YamlReader& reader, const YAML::Node& auth, ServerAuthConfig& out) {
  const std::string path = "Server.Auth";
  if (!reader.check_map(auth, path, {"SigV4", "ApiKeys", "AdminApiKeys"})) {
    return;
  }
  if (const YAML::Node sigv4 = auth["SigV4"]) {
    read_sigv4(reader, sigv4, join(path, "SigV4"), out);
  }
  if (const YAML::Node keys = auth["ApiKeys"]) {
    read_api_keys(reader, keys, join(path, "ApiKeys"), true, out.api_keys);
  }
  if (const YAML::Node keys = auth["AdminApiKeys"]) {
    read_api_keys(reader, keys, join(path, "AdminApiKeys"), false, out.admin_api_keys);
  }
}

void read_tls(YamlReader& reader, const YAML::Node& tls, std::optional<TlsConfig>& out) {
  if (!reader.check_map(tls, "Server.Tls", {"CertFile", "KeyFile"})) {
    return;
  }
  TlsConfig config;
  if (reader.require(tls, "Server.Tls", "CertFile")) {
    reader.read_string_into(tls, "Server.Tls", "CertFile", config.cert_file);
  }
  if (reader.require(tls, "Server.Tls", "KeyFile")) {
    reader.read_string_into(tls, "Server.Tls", "KeyFile", config.key_file);
  }
  out = std::move(config);
}

void read_limits(YamlReader& reader, const YAML::Node& limits, ServerLimits& out) {
  const std::string path = "Server.Limits";
  if (!reader.check_map(limits, path,
                        {"MaxEntryBytes", "MaxBodyBytes", "MaxHeaderBytes", "MaxConnections",
                         "MaxConcurrentRequests", "RequestTimeoutSeconds"})) {
    return;
  }
  auto integer = [&](std::string_view key, int64_t minimum, int64_t maximum, auto& field) {
    if (const YAML::Node node = limits[std::string(key)]) {
      if (auto value = reader.read_integer(node, join(path, key), minimum, maximum)) {
        field = static_cast<std::remove_reference_t<decltype(field)>>(*value);
      }
    }
  };
  integer("MaxEntryBytes", 1, 16 << 20, out.max_entry_bytes);
  integer("MaxBodyBytes", 1024, 64 << 20, out.max_body_bytes);
  integer("MaxHeaderBytes", 1024, 1 << 20, out.max_header_bytes);
  integer("MaxConnections", 1, 1'000'000, out.max_connections);
  integer("MaxConcurrentRequests", 1, 1'000'000, out.max_concurrent_requests);
  integer("RequestTimeoutSeconds", 1, 3600, out.request_timeout_seconds);
}

bool is_account_id(const std::string& account) {
  return account.size() == 12 &&
         std::all_of(account.begin(), account.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// check_server_config()'s problems, each at the line of its key (the listen address for the
// Auth requirement: that is what the user would change, or add Auth next to).
void report_server_problems(YamlReader& reader, const YAML::Node& server,
                            const ServerConfig& config) {
  for (ServerProblem& problem : server_config_problems(config)) {
    // Looked up afresh, never assigned: assigning a YAML::Node rewrites the node it refers to.
    const bool tls = problem.key.starts_with("Server.Tls.");
    const YAML::Node node =
        tls ? server["Tls"][problem.key.substr(problem.key.rfind('.') + 1)] : server["Listen"];
    reader.add_error(node ? location_of(node) : location_of(server), problem.key,
                     std::move(problem.message));
  }
}

}  // namespace

void read_server(YamlReader& reader, const YAML::Node& server, ServerConfig& out) {
  if (!reader.check_map(server, "Server",
                        {"Listen", "Account", "Region", "Auth", "Tls", "Limits"})) {
    return;
  }
  const size_t errors_before = reader.error_count();
  reader.read_string_into(server, "Server", "Listen", out.listen);
  if (reader.read_string_into(server, "Server", "Account", out.account) &&
      !is_account_id(out.account)) {
    reader.add_error(server["Account"], "Server.Account",
                     fmt::format("must be a 12-digit AWS account id, got \"{}\"", out.account));
  }
  if (server["Region"]) {
    std::string region;
    if (reader.read_string_into(server, "Server", "Region", region)) {
      out.region = std::move(region);
    }
  }
  if (const YAML::Node auth = server["Auth"]) {
    read_server_auth(reader, auth, out.auth);
  }
  if (const YAML::Node tls = server["Tls"]) {
    read_tls(reader, tls, out.tls);
  }
  if (const YAML::Node limits = server["Limits"]) {
    read_limits(reader, limits, out.limits);
  }
  if (reader.error_count() == errors_before) {
    report_server_problems(reader, server, out);
  }
}

void read_store(YamlReader& reader, const YAML::Node& store, StoreConfig& out) {
  if (!reader.check_map(
          store, "Store",
          {"Sqlite", "Jetstream", "MaxQueuedBytes", "MaxPendingDeliveries", "DeliveryLog"})) {
    return;
  }
  if (const YAML::Node jetstream = store["Jetstream"]) {
    if (store["Sqlite"]) {
      reader.add_error(jetstream, "Store.Jetstream",
                       "Store names both Sqlite and Jetstream: give one of them (neither = SQLite "
                       "at var/hikyaku.db)");
    }
    out.jetstream = read_jetstream(reader, jetstream);
  }
  if (const YAML::Node log = store["DeliveryLog"];
      log && reader.check_map(log, "Store.DeliveryLog", {"MaxEntries"})) {
    if (const YAML::Node entries = log["MaxEntries"]) {
      if (std::optional<int64_t> value =
              reader.read_integer(entries, "Store.DeliveryLog.MaxEntries", 0, 10'000'000)) {
        out.delivery_log_entries = *value;
      }
    }
  }
  if (const YAML::Node max_queued = store["MaxQueuedBytes"]) {
    constexpr int64_t kMiB = int64_t{1024} * 1024;
    if (std::optional<int64_t> bytes =
            reader.read_integer(max_queued, "Store.MaxQueuedBytes", kMiB, kMiB * 64 * 1024)) {
      out.max_queued_bytes = *bytes;
    }
  }
  if (const YAML::Node max_pending = store["MaxPendingDeliveries"]) {
    if (std::optional<int64_t> jobs =
            reader.read_integer(max_pending, "Store.MaxPendingDeliveries", 0, 1'000'000'000)) {
      out.max_pending_deliveries = *jobs;
    }
  }
  const YAML::Node sqlite = store["Sqlite"];
  if (!sqlite || !reader.check_map(sqlite, "Store.Sqlite", {"Path", "Synchronous"})) {
    return;
  }
  if (reader.read_string_into(sqlite, "Store.Sqlite", "Path", out.sqlite.path) || !sqlite["Path"]) {
    if (std::string problem = writable_file_problem(out.sqlite.path); !problem.empty()) {
      reader.add_error(sqlite["Path"] ? location_of(sqlite["Path"]) : location_of(sqlite),
                       "Store.Sqlite.Path", std::move(problem));
    }
  }
  if (const YAML::Node synchronous = sqlite["Synchronous"]) {
    if (reader.read_enum(synchronous, "Store.Sqlite.Synchronous", {"FULL", "NORMAL"}) == "NORMAL") {
      out.sqlite.synchronous = SqliteSynchronous::kNormal;
    }
  }
}

}  // namespace hikyaku::config::internal
