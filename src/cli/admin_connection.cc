#include "cli/admin_connection.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <cstdlib>
#include <filesystem>
#include <optional>

#include "bus/pipeline.h"
#include "cli/store_opening.h"
#include "cli/wiring.h"
#include "config/config.h"
#include "core/clock.h"
#include "core/metrics.h"
#include "core/redact.h"
#include "delivery/http_client.h"
#include "store/sqlite/sqlite_store.h"

namespace hikyaku::cli {
namespace {

constexpr const char* kDefaultAdminHeader = "x-hikyaku-admin-key";
// A redrive of many letters takes a while: on a busy server it moves 1,000 letters a second.
constexpr long kCallTimeoutMs = 15L * 60 * 1000;

class ServerConnection final : public AdminConnection {
 public:
  ServerConnection(std::string endpoint, std::string header, std::optional<std::string> key)
      : endpoint_(std::move(endpoint)), header_(std::move(header)), key_(std::move(key)) {
    while (endpoint_.ends_with('/')) {
      endpoint_.pop_back();
    }
  }
  std::string description() const override {
    return "the running server at " + redact_url(endpoint_);
  }
  Result<admin::Response> call(const std::string& method, const std::string& path,
                               const std::string& query, const std::string& body) override {
    delivery::HttpRequest request;
    request.method = method;
    request.url = endpoint_ + "/admin/v1" + path + (query.empty() ? "" : "?" + query);
    request.body = body;
    request.timeout_ms = kCallTimeoutMs;
    if (!body.empty()) {
      request.headers.emplace_back("Content-Type", "application/json");
    }
    if (key_) {
      request.headers.emplace_back(header_, *key_);
    }
    std::string answer;
    const delivery::AttemptResult result = client_.send(request, nullptr, &answer);
    if (result.http_status == 0) {
      return unavailable(fmt::format("cannot reach {}: {}", redact_url(endpoint_),
                                     result.error.empty() ? "no answer" : result.error));
    }
    // Anything but the admin API's JSON (a proxy's page, another service) is not an answer.
    simdjson::dom::parser parser;
    simdjson::dom::element ignored;
    if (parser.parse(answer).get(ignored) != simdjson::SUCCESS) {
      return unavailable(
          fmt::format("{} answered HTTP {} with something that is not the admin "
                      "API's JSON (is it a hikyaku server?)",
                      redact_url(endpoint_), result.http_status));
    }
    return admin::Response{static_cast<unsigned>(result.http_status), std::move(answer)};
  }

 private:
  std::string endpoint_;
  std::string header_;
  std::optional<std::string> key_;
  delivery::HttpClient client_;
};

class StoreConnection final : public AdminConnection {
 public:
  StoreConnection(std::string description, std::unique_ptr<store::Store> store,
                  std::unique_ptr<MetricsRegistry> metrics,
                  std::shared_ptr<const bus::Snapshot> snapshot,
                  std::shared_ptr<const Redactor> redactor)
      : description_(std::move(description)),
        store_(std::move(store)),
        metrics_(std::move(metrics)),
        snapshot_(std::move(snapshot)),
        redactor_(std::move(redactor)),
        api_(admin::Sources{.store = store_.get(),
                            .clock = &SystemClock::instance(),
                            .snapshot = [this] { return snapshot_; },
                            .redactor = [this] { return redactor_; },
                            .metrics = nullptr,
                            .endpoints = {}}) {}
  std::string description() const override { return description_; }
  Result<admin::Response> call(const std::string& method, const std::string& path,
                               const std::string& query, const std::string& body) override {
    return api_.handle({method, path, query, body});
  }

 private:
  std::string description_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<MetricsRegistry> metrics_;  // the snapshot's counters; nothing reads them
  std::shared_ptr<const bus::Snapshot> snapshot_;
  std::shared_ptr<const Redactor> redactor_;
  admin::AdminApi api_;
};

Result<std::unique_ptr<AdminConnection>> open_store(const std::string& config_path) {
  // The config is read as `serve` reads it (the same ${...} references must resolve): redrive
  // renders with its targets.
  config::LoadResult loaded = config::load_config_file(config_path, {});
  if (!loaded.ok()) {
    return invalid_argument(loaded.errors.front().to_string());
  }
  auto config = std::make_shared<const config::Config>(std::move(*loaded.config));
  std::unique_ptr<store::Store> opened;
  std::string description;
  if (config->store.jetstream) {
    // The cluster is shared: opening it beside running servers is what every node does.
    HK_ASSIGN_OR_RETURN(opened, open_configured_store(config->store));
    description = fmt::format("the store {}, shared with its running servers",
                              store_description(config->store));
  } else {
    const std::string path = config->store.sqlite.path;
    if (!std::filesystem::exists(path)) {
      return failed_precondition(
          fmt::format("there is no store at {} (the Store.Sqlite.Path of {}); has its server run?",
                      path, config_path));
    }
    Result<std::unique_ptr<store::SqliteStore>> sqlite = store::SqliteStore::open({.path = path});
    if (!sqlite.has_value()) {
      if (sqlite.error().code() == StatusCode::kFailedPrecondition) {
        return failed_precondition(fmt::format(
            "the store {} belongs to a running server; go through it with --endpoint URL "
            "(and HIKYAKU_ADMIN_KEY) instead of --config",
            path));
      }
      return sqlite.status();
    }
    opened = std::move(sqlite).value();
    description = fmt::format("the store {} of a stopped server", path);
  }
  auto metrics = std::make_unique<MetricsRegistry>();
  Result<std::shared_ptr<const bus::Snapshot>> snapshot = bus::Snapshot::build(config, *metrics);
  if (!snapshot.has_value()) {
    return snapshot.status();
  }
  auto redactor = std::make_shared<const Redactor>(secret_values(*config));
  return std::unique_ptr<AdminConnection>(
      std::make_unique<StoreConnection>(description, std::move(opened), std::move(metrics),
                                        std::move(snapshot).value(), std::move(redactor)));
}

}  // namespace

void add_admin_options(CLI::App& command, AdminOptions& options) {
  auto* endpoint = command.add_option(
      "--endpoint", options.endpoint,
      "a running server (http://127.0.0.1:4010); its admin key from HIKYAKU_ADMIN_KEY");
  auto* config = command.add_option("-c,--config", options.config,
                                    "the config of a stopped server: works on its store");
  endpoint->excludes(config);
  command
      .add_option("--admin-header", options.admin_header,
                  "the header carrying HIKYAKU_ADMIN_KEY (one of Server.Auth.AdminApiKeys' "
                  "HeaderName)")
      ->default_val(kDefaultAdminHeader);
}

Result<std::unique_ptr<AdminConnection>> AdminConnection::open(const AdminOptions& options) {
  if (options.endpoint.empty() == options.config.empty()) {
    return invalid_argument(
        "say where: --endpoint URL (a running server) or --config FILE (a stopped one's store)");
  }
  if (!options.endpoint.empty()) {
    if (!options.endpoint.starts_with("http://") && !options.endpoint.starts_with("https://")) {
      return invalid_argument("--endpoint must be an http:// or https:// URL");
    }
    const char* key = std::getenv("HIKYAKU_ADMIN_KEY");
    return std::unique_ptr<AdminConnection>(std::make_unique<ServerConnection>(
        options.endpoint, options.admin_header.empty() ? kDefaultAdminHeader : options.admin_header,
        key != nullptr && *key != '\0' ? std::optional<std::string>(key) : std::nullopt));
  }
  return open_store(options.config);
}

Result<std::string> call_admin(AdminConnection& connection, const std::string& method,
                               const std::string& path, const std::string& query,
                               const std::string& body) {
  HK_ASSIGN_OR_RETURN(admin::Response answer, connection.call(method, path, query, body));
  if (answer.status == 200) {
    return std::move(answer.body);
  }
  simdjson::dom::parser parser;
  std::string_view message;
  if (parser.parse(answer.body)["Error"]["Message"].get(message) != simdjson::SUCCESS) {
    message = answer.body;
  }
  const std::string text = fmt::format("{} (HTTP {})", message, answer.status);
  switch (answer.status) {
    case 400:
      return invalid_argument(text);
    case 404:
      return not_found(text);
    case 401:
    case 403:
      return failed_precondition(text + "; is HIKYAKU_ADMIN_KEY set, and --admin-header right?");
    default:
      return unavailable(text);
  }
}

}  // namespace hikyaku::cli
