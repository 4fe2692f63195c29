#pragma once
// Opening the store a config names: the embedded SQLite file or the shared JetStream cluster.
// `serve` and the admin commands (`--config`) open it the same way.

#include <memory>
#include <string>

#include "config/config.h"
#include "core/status.h"
#include "store/jetstream/jetstream_store.h"
#include "store/store.h"

namespace hikyaku::cli {

// The store options that Store.Jetstream says (secrets revealed: they go to the client only).
store::JetStreamOptions jetstream_options(const config::JetstreamStoreConfig& config);

// Opens the configured store. SQLite: the file (created when missing), locked for this process.
// JetStream: connects, checks that JetStream answers and creates what is missing; kUnavailable,
// saying why, when the cluster cannot be reached.
Result<std::unique_ptr<store::Store>> open_configured_store(const config::StoreConfig& config);

// Which store, for logs and messages: "JetStream HIKYAKU on nats://a:4222, nats://b:4222" or the
// SQLite file's path. Never a credential (server URLs carry none: the loader refuses userinfo).
std::string store_description(const config::StoreConfig& config);

}  // namespace hikyaku::cli
