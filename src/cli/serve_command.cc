// `hikyaku serve`: the router. Composition root for the long-running process:
//
//   config -> Store (SQLite or JetStream) -> GroupCommitter -> Pipeline (bus) -> Server (HTTP)
//                        \-> Dispatcher (delivery workers)
//                        \-> ArchiveService (replays and archive retention, hk-replay)
//
// Signals: SIGTERM/SIGINT stop accepting, drain in-flight requests and deliveries, close the
// store; SIGHUP reloads the config (a config that does not validate is refused and the running
// one kept).
//
// Secrets: every log line passes a Redactor installed at the logging sink (core/log.h) and every
// error the delivery engine records passes the same one (delivery/endpoint.h). It knows every
// secret value of every config loaded since start, so a secret rotated away by a reload stays
// masked in whatever still mentions it.

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <set>

#include "admin/admin_api.h"
#include "bus/archive_service.h"
#include "bus/pipeline.h"
#include "cli/commands.h"
#include "cli/store_opening.h"
#include "cli/wiring.h"
#include "config/config.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/redact.h"
#include "delivery/dispatcher.h"
#include "delivery/rate_share.h"
#include "server/server.h"
#include "store/group_commit.h"

namespace hikyaku::cli {
namespace {

constexpr auto kDrainDeadline = std::chrono::seconds(10);

void print_errors(const std::string& path, const std::vector<config::ConfigError>& errors) {
  for (const config::ConfigError& error : errors) {
    spdlog::error("config {}", error.to_string());
  }
  spdlog::error("config {}: {} error{}", path, errors.size(), errors.size() == 1 ? "" : "s");
}

struct Running {
  MetricsRegistry metrics;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<store::GroupCommitter> committer;
  std::unique_ptr<delivery::RateShare> rate_share;  // nodes sharing a JetStream store
  std::unique_ptr<bus::Pipeline> pipeline;
  std::unique_ptr<bus::ArchiveService> archives;
  std::unique_ptr<delivery::Dispatcher> dispatcher;
  std::unique_ptr<admin::AdminApi> admin;
  std::unique_ptr<server::Server> server;
  // What the admin API reads beside the store: the endpoints and redactor in force.
  std::atomic<std::shared_ptr<const delivery::Endpoints>> endpoints;
  std::atomic<std::shared_ptr<const Redactor>> redactor;
  Gauge* pending = nullptr;
  Gauge* leased = nullptr;
  Gauge* dead_letters = nullptr;
  Gauge* backlog_full = nullptr;
  std::set<std::string> secrets;  // of every config loaded since start
};

// Adds `config`'s secret values to those known, installs the redactor of them all at the
// logging sink and returns it for the endpoints.
std::shared_ptr<const Redactor> remember_secrets(Running& running, const config::Config& config) {
  for (std::string& value : secret_values(config)) {
    running.secrets.insert(std::move(value));
  }
  auto redactor = std::make_shared<const Redactor>(
      std::vector<std::string>(running.secrets.begin(), running.secrets.end()));
  install_log_redactor(redactor);
  running.redactor.store(redactor);
  return redactor;
}

std::string metrics_text(Running& running) {
  if (Result<store::Counts> counts = running.store->counts(SystemClock::instance().now_ms())) {
    running.pending->set(counts->pending);
    running.leased->set(counts->leased);
    running.dead_letters->set(counts->dead_letters);
  }
  return running.metrics.render() + running.server->server_metrics_text();
}

// Store.MaxPendingDeliveries: with the delivery backlog at its bound, ingest refuses (retryable
// throttling) until deliveries bring it below; read from the store's counts once a second, so the
// backlog can pass the bound by up to a second's ingest (docs/store.md, "Backpressure"). Counts
// that cannot be read leave the state as it was.
void watch_delivery_backlog(Running& running) {
  const int64_t bound = running.pipeline->config()->store.max_pending_deliveries;
  bool full = false;
  if (bound > 0) {
    Result<store::Counts> counts = running.store->counts(SystemClock::instance().now_ms());
    if (!counts.has_value()) {
      return;
    }
    const int64_t waiting = counts->pending + counts->leased;
    full = waiting >= bound;
    if (full != (running.backlog_full->value() != 0)) {
      if (full) {
        spdlog::warn(
            "delivery backlog full: {} jobs wait for their destinations "
            "(Store.MaxPendingDeliveries {}); ingest answers ThrottlingException",
            waiting, bound);
      } else {
        spdlog::info("delivery backlog below its bound again: {} jobs wait; ingest resumes",
                     waiting);
      }
    }
  }
  running.backlog_full->set(full ? 1 : 0);
  running.pipeline->set_delivery_backlog_full(full);
}

// DryRun Backlog targets write their actions beside the store's database.
BacklogWiring backlog_wiring(Running& running, const config::Config& config) {
  const std::filesystem::path store_path(config.store.sqlite.path);
  return BacklogWiring{*running.store, SystemClock::instance(),
                       (store_path.parent_path() / "backlog-dry-run.jsonl").string()};
}

void reload(Running& running, const std::string& path, const config::LoadOptions& load_options) {
  config::LoadResult loaded = config::load_config_file(path, load_options);
  if (!loaded.ok()) {
    print_errors(path, loaded.errors);
    spdlog::error("reload refused; the running config stays in force");
    return;
  }
  for (const config::ConfigError& warning : loaded.warnings) {
    spdlog::warn("config warning: {}", warning.to_string());  // never quotes a secret
  }
  auto config = std::make_shared<const config::Config>(std::move(*loaded.config));
  std::shared_ptr<const Redactor> redactor = remember_secrets(running, *config);
  Result<std::shared_ptr<const bus::Snapshot>> snapshot =
      bus::Snapshot::build(config, running.metrics);
  if (!snapshot.has_value()) {
    spdlog::error("reload refused: {}", snapshot.error().message());
    return;
  }
  auto endpoints = build_endpoints(*config, redactor);
  if (Status added =
          add_backlog_endpoints(*config, redactor, backlog_wiring(running, *config), *endpoints);
      !added.ok()) {
    spdlog::error("reload refused: {}", added.message());
    return;
  }
  running.pipeline->publish(*snapshot);
  running.endpoints.store(endpoints);
  running.dispatcher->publish(std::move(endpoints));
  spdlog::info("reloaded config={} rules={}", path, config->rules.size());
}

// HIKYAKU_REPLAY_MAX_EVENTS_PER_SECOND paces every replay (unset or 0: as fast as the room left
// by live traffic allows).
Result<bus::ArchiveService::Options> archive_service_options() {
  bus::ArchiveService::Options options;
  // NOLINTNEXTLINE(concurrency-mt-unsafe): nothing in hikyaku changes the environment
  if (const char* rate = std::getenv("HIKYAKU_REPLAY_MAX_EVENTS_PER_SECOND")) {
    char* end = nullptr;
    const long long value = std::strtoll(rate, &end, 10);
    if (end == rate || *end != '\0' || value < 0) {
      return invalid_argument(
          "HIKYAKU_REPLAY_MAX_EVENTS_PER_SECOND must be a whole number >= 0 (0: no limit)");
    }
    options.max_events_per_second = value;
    // A page never takes longer than a second at that pace.
    options.page_events = static_cast<int>(std::clamp<long long>(value, 1, options.page_events));
  }
  return options;
}

// A core dump holds in clear every secret the process knows (connection keys, OAuth tokens, SigV4
// secrets), so serve writes none unless asked (docs/operations.md, "Crashes"); not dumpable also
// keeps other processes of the same user from reading its memory through ptrace or /proc.
void forbid_core_dumps() {
  const rlimit none{0, 0};
  if (setrlimit(RLIMIT_CORE, &none) != 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    spdlog::warn("could not turn core dumps off: {}", std::strerror(errno));
  }
}

// Every connection is a file descriptor: take the hard limit (as Go and nginx do), and say so when
// even that is below Server.Limits.MaxConnections plus what the store and destinations need.
void raise_open_file_limit(int max_connections) {
  constexpr rlim_t kOtherFiles = 256;
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) != 0) {
    return;
  }
  if (files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
    getrlimit(RLIMIT_NOFILE, &files);
  }
  const auto wanted = static_cast<rlim_t>(max_connections) + kOtherFiles;
  if (files.rlim_cur != RLIM_INFINITY && files.rlim_cur < wanted) {
    spdlog::warn(
        "the open-file limit ({}) is below Server.Limits.MaxConnections ({}) plus {} for the store "
        "and destinations: connections beyond it are refused (raise `ulimit -n` or LimitNOFILE=)",
        files.rlim_cur, max_connections, kOtherFiles);
  }
}

int serve(const std::string& path, const config::LoadOptions& load_options, bool allow_core_dumps) {
  if (!allow_core_dumps) {
    forbid_core_dumps();
  }
  // Signals are taken synchronously by this thread; every thread started below inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // Before anything logs and before any other thread exists: the name rules from the start,
  // the config's values once it is loaded.
  install_log_redactor(nullptr);

  config::LoadResult loaded = config::load_config_file(path, load_options);
  if (!loaded.ok()) {
    print_errors(path, loaded.errors);
    return 1;
  }
  for (const config::ConfigError& warning : loaded.warnings) {
    spdlog::warn("config warning: {}", warning.to_string());  // never quotes a secret
  }
  auto config = std::make_shared<const config::Config>(std::move(*loaded.config));
  raise_open_file_limit(config->server.limits.max_connections);

  Running running;
  std::shared_ptr<const Redactor> redactor = remember_secrets(running, *config);
  running.pending = &running.metrics.gauge("hikyaku_queue_pending_jobs",
                                           "Delivery jobs waiting (due now or later)");
  running.leased = &running.metrics.gauge("hikyaku_queue_leased_jobs", "Delivery jobs in flight");
  running.dead_letters =
      &running.metrics.gauge("hikyaku_dead_letter_jobs", "Jobs in the dead-letter queue");
  running.backlog_full = &running.metrics.gauge(
      "hikyaku_delivery_backlog_full",
      "1 while ingest is refused because Store.MaxPendingDeliveries jobs wait for delivery");

  Result<std::unique_ptr<store::Store>> store = open_configured_store(config->store);
  if (!store.has_value()) {
    spdlog::error("store {}: {}", store_description(config->store), store.error().message());
    return 1;
  }
  running.store = std::move(store).value();
  store::GroupCommitter::Options commit_options;
  commit_options.max_queued_bytes = config->store.max_queued_bytes;
  running.committer = std::make_unique<store::GroupCommitter>(*running.store, commit_options);

  Result<std::shared_ptr<const bus::Snapshot>> snapshot =
      bus::Snapshot::build(config, running.metrics);
  if (!snapshot.has_value()) {
    spdlog::error("{}", snapshot.error().message());
    return 1;
  }
  running.pipeline = std::make_unique<bus::Pipeline>(*running.committer, running.metrics,
                                                     SystemClock::instance(), *snapshot);
  auto endpoints = build_endpoints(*config, redactor);
  if (Status added =
          add_backlog_endpoints(*config, redactor, backlog_wiring(running, *config), *endpoints);
      !added.ok()) {
    spdlog::error("{}", added.message());
    return 1;
  }
  running.endpoints.store(endpoints);
  delivery::Dispatcher::Options dispatch_options;
  dispatch_options.delivery_log_entries = config->store.delivery_log_entries;
  if (config->store.jetstream) {
    // Destination rate limits and pauses hold for the cluster, not for each node.
    running.rate_share =
        std::make_unique<delivery::RateShare>(*running.store, SystemClock::instance());
    dispatch_options.rate_share = running.rate_share.get();
  }
  running.dispatcher = std::make_unique<delivery::Dispatcher>(
      *running.store, running.metrics, SystemClock::instance(), std::move(endpoints),
      dispatch_options);
  running.dispatcher->attach(*running.committer);
  running.dispatcher->start();

  Result<bus::ArchiveService::Options> archive_options = archive_service_options();
  if (!archive_options.has_value()) {
    spdlog::error("{}", archive_options.error().message());
    running.dispatcher->stop();
    return 1;
  }
  running.archives =
      std::make_unique<bus::ArchiveService>(*running.store, *running.committer, *running.pipeline,
                                            SystemClock::instance(), *archive_options);
  if (Status started = running.archives->start(); !started.ok()) {
    spdlog::error("archives: {}", started.message());
    running.dispatcher->stop();
    return 1;
  }
  running.admin = std::make_unique<admin::AdminApi>(admin::Sources{
      .store = running.store.get(),
      .clock = &SystemClock::instance(),
      .snapshot = [&running] { return running.pipeline->snapshot(); },
      .redactor = [&running] { return running.redactor.load(); },
      .metrics = &running.metrics,
      .endpoints = [&running] { return running.endpoints.load(); },
      .committer = running.committer.get(),
  });

  server::ServerOptions options;
  options.archives = running.archives.get();
  options.readiness = [&running] { return running.store->ping(); };
  options.metrics_text = [&running] { return metrics_text(running); };
  options.admin = [&running](server::AdminRequest request,
                             std::function<void(server::AdminAnswer)> answer) {
    running.admin->handle_async(
        {std::move(request.method), std::move(request.path), std::move(request.query),
         std::move(request.body)},
        [answer = std::move(answer)](admin::Response response) {
          answer({response.status, "application/json", std::move(response.body)});
        });
  };
  running.server = std::make_unique<server::Server>(config->server, *running.pipeline, options);
  Result<uint16_t> port = running.server->start();
  if (!port.has_value()) {
    spdlog::error("server: {}", port.error().message());
    running.archives->stop();
    running.dispatcher->stop();
    return 1;
  }
  const std::string listen = config->server.listen;
  const std::string host = listen.substr(0, listen.rfind(':'));
  const std::string scheme = config->server.tls ? "https" : "http";
  spdlog::info("hikyaku serving listen={}:{} store={} rules={}", host, *port,
               store_description(config->store), config->rules.size());
  // A machine-readable line for scripts and tests that start the server on port 0.
  fmt::print("listening {}://{}:{}\n", scheme, host, *port);
  std::fflush(stdout);

  watch_delivery_backlog(running);
  for (;;) {
    constexpr timespec kBacklogWatchPeriod{1, 0};
    const int signal = sigtimedwait(&signals, nullptr, &kBacklogWatchPeriod);
    if (signal < 0) {  // the period passed (EAGAIN), or EINTR
      watch_delivery_backlog(running);
      continue;
    }
    if (signal == SIGHUP) {
      reload(running, path, load_options);
      continue;
    }
    spdlog::info("stopping signal={}", signal == SIGTERM ? "SIGTERM" : "SIGINT");
    break;
  }
  running.server->stop(SystemClock::instance().steady_now() + kDrainDeadline);
  running.archives->stop();    // a replay stops after its page; it resumes at the next start
  running.admin.reset();       // an admin call in progress finishes first
  running.committer->stop();   // everything answered is committed
  running.dispatcher->stop();  // attempts in flight finish; the rest stays pending
  running.rate_share.reset();
  running.server.reset();
  running.archives.reset();
  running.pipeline.reset();
  running.committer.reset();
  running.store.reset();
  spdlog::info("stopped");
  return 0;
}

}  // namespace

void add_serve_command(CLI::App& app, int& exit_code) {
  auto* command = app.add_subcommand(
      "serve",
      "Run the router: PutEvents/TestEventPattern over the AWS protocol, webhook ingest, "
      "durable delivery. Prints \"listening URL\" once ready. SIGTERM/SIGINT drain and stop; "
      "SIGHUP reloads the config.");
  auto config_path = std::make_shared<std::string>();
  auto load_options = std::make_shared<config::LoadOptions>();
  command->add_option("-c,--config", *config_path, "config file (YAML or JSON)")->required();
  command->add_flag("--allow-file-references-outside-config-dir",
                    load_options->allow_file_references_outside_config_dir,
                    "let ${file:PATH} read absolute paths and paths outside the config's folder "
                    "(at start and on every reload)");
  auto allow_core_dumps = std::make_shared<bool>(false);
  command->add_flag("--allow-core-dumps", *allow_core_dumps,
                    "let a crash write a core dump (it holds every secret in clear; for debugging "
                    "on a machine whose dumps stay private)");
  command->callback([config_path, load_options, allow_core_dumps, &exit_code] {
    exit_code = serve(*config_path, *load_options, *allow_core_dumps);
  });
}

}  // namespace hikyaku::cli
