#include "cli/store_opening.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "store/sqlite/sqlite_store.h"

namespace hikyaku::cli {

store::JetStreamOptions jetstream_options(const config::JetstreamStoreConfig& config) {
  store::JetStreamOptions options;
  options.servers = config.servers;
  options.replicas = config.replicas;
  options.stream_prefix = config.stream_prefix;
  options.lease_ms = int64_t{config.ack_wait_seconds} * 1000;
  switch (config.auth()) {
    case config::JetstreamAuth::kCredentials:
      options.credentials_file = config.credentials_file;
      break;
    case config::JetstreamAuth::kToken:
      options.token = config.token.reveal();
      break;
    case config::JetstreamAuth::kUserPassword:
      options.user = config.user;
      options.password = config.password.reveal();
      break;
    case config::JetstreamAuth::kNone:
      break;
  }
  if (config.tls) {
    options.tls = store::JetStreamOptions::Tls{.ca_file = config.tls->ca_file,
                                               .cert_file = config.tls->cert_file,
                                               .key_file = config.tls->key_file};
  }
  return options;
}

Result<std::unique_ptr<store::Store>> open_configured_store(const config::StoreConfig& config) {
  if (config.jetstream) {
    HK_ASSIGN_OR_RETURN(std::unique_ptr<store::JetStreamStore> store,
                        store::JetStreamStore::open(jetstream_options(*config.jetstream)));
    return std::unique_ptr<store::Store>(std::move(store));
  }
  HK_ASSIGN_OR_RETURN(
      std::unique_ptr<store::SqliteStore> store,
      store::SqliteStore::open(
          {.path = config.sqlite.path,
           .synchronous_full = config.sqlite.synchronous == config::SqliteSynchronous::kFull}));
  return std::unique_ptr<store::Store>(std::move(store));
}

std::string store_description(const config::StoreConfig& config) {
  if (config.jetstream) {
    return fmt::format("JetStream {} on {}", config.jetstream->stream_prefix,
                       fmt::join(config.jetstream->servers, ", "));
  }
  return config.sqlite.path;
}

}  // namespace hikyaku::cli
