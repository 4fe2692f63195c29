#pragma once
// hikyaku's configuration: the file users write, with AWS's own property names so that what they
// had in EventBridge pastes in (EventPattern, InputTransformer, InvocationEndpoint, ...).
//
//   Result<Config> config = load_config_file("examples/securityhub-backlog.yaml");
//
// Loading parses YAML (JSON is accepted too: it is YAML), resolves ${...} references, maps the
// PascalCase keys onto the structs below and validates everything before anything starts. It does
// not stop at the first problem: every error is reported, each with file, line, column and key
// path, e.g.
//   examples/x.yaml:14:9: Rules[0].Targets[0].ApiDestination: no API destination named
//   "backlog-add-isue" (did you mean "backlog-add-issue"?)
// Unknown keys are errors with a "did you mean" hint.
//
// References in string values (resolved after YAML parsing, so a value can never inject YAML):
//   ${NAME}            the environment variable NAME; unset is an error naming it
//   ${NAME:-default}   NAME, or `default` when NAME is unset or empty
//   ${file:PATH}       the contents of PATH (relative to the config file's folder), one trailing
//                      newline removed: for secrets mounted as files; at most
//                      kMaxReferenceFileBytes. PATH must lead to a file inside that folder
//                      (absolute paths, `..` and symbolic links out of it are refused) unless
//                      LoadOptions::allow_file_references_outside_config_dir is set
//   $${                a literal "${"
// Errors name a reference as written, never what it resolved to (internal/yaml_reader.h says how
// every message is masked).
//
// Bounds while loading: the file is at most kMaxConfigFileBytes; YAML aliases may not expand it
// beyond that, nor number more than 10,000, nor form a cycle (internal/yaml_expansion.h), checked
// before anything walks the tree. Files hikyaku will write (Store.Sqlite.Path, Log paths) must be
// ones it may create or append to (internal/path_check.h), and check_server_config() below makes
// every check `serve` makes on the Server section.
//
// Secrets (ApiKeyValue, Password, ClientSecret, parameters with IsValueSecret, the query
// string of InvocationEndpoint, a Backlog target's ApiKey, Store.Jetstream's Token and
// Password) are held as Secret, shown through
// redact_url() or never shown; describe() masks them.
//
// The loaded Config is an immutable value; a reload builds a new one.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/secret.h"
#include "core/status.h"
#include "transform/transformer.h"

namespace hikyaku::config {

// Where a value came from, for messages printed after loading (1-based; 0 = unknown).
struct SourceLocation {
  int line = 0;
  int column = 0;
};

// Server.Auth.SigV4.Credentials[]: who may call the AWS JSON API (PutEvents, ...).
struct SigV4Credential {
  std::string access_key_id;
  Secret secret_access_key;
  std::vector<std::string> allowed_sources;  // empty = any Source, aws.* included
};

// Server.Auth.ApiKeys[]: who may POST raw envelopes to /events/{bus} (the webhook path).
struct ApiKeyCredential {
  std::string header_name;  // e.g. x-hikyaku-key, as an EventBridge API_KEY connection sends it
  Secret value;
  std::vector<std::string> allowed_sources;
};

struct ServerAuthConfig {
  std::vector<SigV4Credential> sigv4_credentials;
  std::vector<ApiKeyCredential> api_keys;
  // Server.Auth.AdminApiKeys[]: who may call the admin API (/admin/v1/) and sign in to the
  // console; separate from the ingest keys (no AllowedSources). None: the admin API answers only
  // on a loopback listener.
  std::vector<ApiKeyCredential> admin_api_keys;
  // Whether ingest is authenticated (SigV4 or webhook keys); admin keys alone do not count.
  bool configured() const { return !sigv4_credentials.empty() || !api_keys.empty(); }
};

struct TlsConfig {
  std::string cert_file;
  std::string key_file;
};

// Server.Limits: what one client may cost. Defaults follow AWS where AWS has a limit.
struct ServerLimits {
  int64_t max_entry_bytes = int64_t{256} * 1024;  // PutEvents entry size, computed as AWS does
  int64_t max_body_bytes = int64_t{1024} * 1024;  // whole request body
  int64_t max_header_bytes = int64_t{16} * 1024;
  int max_connections = 1024;
  // Requests read and being handled at once (headers in, answer not yet sent), across all
  // connections: what bounds the memory request bodies take. Beyond it a request is answered at
  // once without its body being kept: PutEvents ThrottlingException, the webhook 429.
  int max_concurrent_requests = 256;
  int request_timeout_seconds = 30;  // reading one whole request, slowloris included
};

struct ServerConfig {
  std::string listen = "127.0.0.1:4010";  // Server.Listen: host:port
  // The envelope's account and region for events ingested through PutEvents. When Region is set
  // it is also the only SigV4 signing region accepted.
  std::string account = "000000000000";
  std::optional<std::string> region;
  ServerAuthConfig auth;
  std::optional<TlsConfig> tls;
  ServerLimits limits;
};

enum class SqliteSynchronous { kFull, kNormal };

struct SqliteStoreConfig {
  std::string path = "var/hikyaku.db";  // Store.Sqlite.Path, relative to the working directory
  // FULL: an accepted event survives power loss. NORMAL (WAL): survives a crash of hikyaku but
  // not of the machine; faster.
  SqliteSynchronous synchronous = SqliteSynchronous::kFull;
};

// Store.Jetstream.Tls: TLS to the NATS servers (also implied by tls:// server URLs). Files are
// readable regular files, relative to the working directory.
struct JetstreamTlsConfig {
  std::string ca_file;    // CaFile: PEM CAs trusted instead of the system store; "" = system store
  std::string cert_file;  // CertFile and KeyFile: a client certificate, both or neither
  std::string key_file;
};

// How hikyaku authenticates to the NATS servers: at most one kind.
enum class JetstreamAuth { kNone, kCredentials, kToken, kUserPassword };

// Store.Jetstream: the cluster store, kept in NATS JetStream streams so that several hikyaku
// processes can share it (scale-out). The loader checks everything that can be checked offline
// (docs/store.md, "Store.Jetstream"); nothing here connects.
struct JetstreamStoreConfig {
  // Servers: nats://HOST[:PORT] or tls://HOST[:PORT] (port 4222 when left out), without
  // userinfo, path or query; at least one, no repeats. A seed list: the client learns the rest
  // of the cluster from them.
  std::vector<std::string> servers;
  int replicas = 3;  // Replicas: copies of each stream, 1 to 5
  // StreamPrefix: what every stream hikyaku creates is named after; 1 to 32 of [A-Za-z0-9_-].
  std::string stream_prefix = "HIKYAKU";
  std::string credentials_file;  // Credentials: a NATS .creds file (user JWT and NKey seed)
  Secret token;                  // Token: a secret (Config::secret_values() lists it)
  std::string user;              // User and Password, together
  Secret password;               // a secret (Config::secret_values() lists it)
  std::optional<JetstreamTlsConfig> tls;
  // AckWaitSeconds: how long a node holds a job before the cluster gives it to another (the
  // shared consumer's AckWait, fixed when the first node creates it); 10 to 3600, and at least
  // three of the longest attempt timeout (an attempt starts no later than two before it ends).
  int ack_wait_seconds = 60;
  SourceLocation location;  // of the Jetstream mapping

  JetstreamAuth auth() const;
};

struct StoreConfig {
  // Used when `jetstream` is not set; the loader refuses a config that names both.
  SqliteStoreConfig sqlite;
  std::optional<JetstreamStoreConfig> jetstream;
  // Store.MaxQueuedBytes: how much accepted work (rendered bodies, archived events, dead letters)
  // may wait in memory for its commit; past it PutEvents answers ThrottlingException and the
  // webhook 429 (docs/store.md, "Memory under load"). 1 MiB .. 64 GiB.
  int64_t max_queued_bytes = int64_t{256} * 1024 * 1024;
  // Store.MaxPendingDeliveries: how many delivery jobs (pending or in flight) may wait for their
  // destinations; at it, ingest answers ThrottlingException / 429 until deliveries catch up
  // (docs/store.md, "Backpressure"). 0 = no bound; at most 1,000,000,000.
  int64_t max_pending_deliveries = 1'000'000;
  // Store.DeliveryLog.MaxEntries: how many of the latest delivery attempts the store keeps for
  // operators (GET /admin/v1/deliveries, `hikyaku deliveries`). 0 .. 10,000,000; 0 = none.
  int64_t delivery_log_entries = 10'000;
};

// One {Key, Value, IsValueSecret} of a connection's InvocationHttpParameters / OAuthHttpParameters.
struct HttpParameter {
  std::string key;
  Secret value;  // held as Secret always; is_value_secret decides whether displays mask it
  bool is_value_secret = false;
};

struct HttpParameterSet {
  std::vector<HttpParameter> header_parameters;
  std::vector<HttpParameter> query_string_parameters;
  std::vector<HttpParameter> body_parameters;
};

enum class AuthorizationType { kApiKey, kBasic, kOAuthClientCredentials };
std::string_view authorization_type_name(AuthorizationType type);  // "API_KEY", ...

struct Connection {
  std::string name;
  std::string description;
  AuthorizationType authorization_type = AuthorizationType::kApiKey;
  // API_KEY: the header name and value sent with every invocation.
  std::string api_key_name;
  Secret api_key_value;
  // BASIC
  std::string username;
  Secret password;
  // OAUTH_CLIENT_CREDENTIALS
  std::string client_id;
  Secret client_secret;
  std::string authorization_endpoint;
  std::string oauth_http_method;  // GET | POST | PUT
  HttpParameterSet oauth_http_parameters;
  // Any type: added to every invocation.
  HttpParameterSet invocation_http_parameters;
  SourceLocation location;
};

struct ApiDestination {
  std::string name;
  std::string description;
  std::string connection_name;
  // May embed a secret (Backlog's ?apiKey=...): display only through redact_url().
  std::string invocation_endpoint;
  std::string http_method;                     // POST, GET, HEAD, OPTIONS, PUT, PATCH, DELETE
  int invocation_rate_limit_per_second = 300;  // AWS's default
  // TimeoutSeconds (hikyaku's key): the whole exchange of one attempt; EventBridge's fixed 5 s.
  int timeout_seconds = 5;
  // Tls.CaFile (hikyaku's key): a PEM bundle of CAs trusted instead of the system store, for a
  // private CA; a readable regular file, relative to the working directory. "" = system store.
  std::string ca_file;
  SourceLocation location;
  SourceLocation connection_location;
};

struct InputTransformer {
  std::vector<std::pair<std::string, std::string>> input_paths_map;  // in file order
  std::string input_template;
};

enum class BodyEncoding { kJson, kForm };

// A target's HttpParameters; values may be JSONPaths into the event ("$.detail.x").
struct TargetHttpParameters {
  std::vector<std::string> path_parameter_values;
  std::vector<std::pair<std::string, std::string>> header_parameters;
  std::vector<std::pair<std::string, std::string>> query_string_parameters;
};

struct RetryPolicy {
  int maximum_retry_attempts = 185;  // AWS's defaults
  int maximum_event_age_in_seconds = 86400;
};

// Targets[].DeadLetterConfig.Arn: where a target's dead letters go besides the store's own
// dead-letter queue, which keeps every one of them regardless.
struct DeadLetterConfig {
  enum class Kind {
    kSqsQueue,        // arn:aws:sqs:REGION:ACCOUNT:NAME: accepted; hikyaku sends nothing to SQS
    kApiDestination,  // an API destination, by name or api-destination ARN
  };
  std::string arn;  // as written (after ${...} references)
  Kind kind = Kind::kSqsQueue;
  std::string api_destination;  // kApiDestination: the destination's name, checked to exist
  SourceLocation location;      // of Arn
};

// Targets[].Log: append one JSON line per delivery to a file (for tests, audits and dry runs).
struct LogTarget {
  std::string path;
};

// Backlog.CreateWhen when not given: an active, NEW, CRITICAL or HIGH finding. It does not test
// Compliance.Status: only control findings have Compliance, and anything-but never matches a
// missing field.
inline constexpr std::string_view kDefaultBacklogCreateWhen =
    R"({"detail":{"findings":{"RecordState":["ACTIVE"],"Workflow":{"Status":["NEW"]},"Severity":{"Label":["CRITICAL","HIGH"]}}}})";

// Targets[].Backlog (hikyaku's): one Backlog issue per Security Hub finding, kept through the
// finding's lifecycle (created, commented, resolved, reopened; docs/backlog.md). Ingest splits
// every event by $.detail.findings for it (bus/pipeline.h); names (IssueType, statuses,
// priorities) are resolved against the space when serve starts, the loader checks their shape
// only.
struct BacklogTarget {
  std::string endpoint;  // base URL (https://space.backlog.com); "" allowed only with DryRun
  std::string api_key;   // a secret (Config::secret_values() lists it); "" allowed only with DryRun
  std::string project;   // project key or numeric id
  std::string issue_type = "Task";  // name or id
  // Every severity label (CRITICAL HIGH MEDIUM LOW INFORMATIONAL) -> priority name or id. One
  // scalar in the file fills all five; a mapping may leave labels out, which keep these defaults.
  std::map<std::string, std::string> priority = {{"CRITICAL", "High"},
                                                 {"HIGH", "High"},
                                                 {"MEDIUM", "Normal"},
                                                 {"LOW", "Low"},
                                                 {"INFORMATIONAL", "Low"}};
  // An event pattern (JSON text) over the one-finding event: which findings get a new issue.
  std::string create_when = std::string(kDefaultBacklogCreateWhen);
  std::string resolved_status = "Closed";  // name or id
  std::string reopen_status = "Open";      // name or id
  enum class OnUpdate { kComment, kIgnore };
  OnUpdate on_update = OnUpdate::kComment;
  bool dry_run = false;
  SourceLocation location;  // of the Backlog mapping
};

struct Target {
  std::string id;
  // Exactly one destination: an API destination (by name; an ARN in the file is reduced to it),
  // a Log file or Backlog.
  std::string api_destination;
  std::optional<LogTarget> log;
  // Input, InputPath, BodyEncoding, HttpParameters and SplitBy are refused with Backlog; its
  // InputTransformer (a JSON object template) is applied per finding at delivery, not at ingest.
  std::optional<BacklogTarget> backlog;
  // At most one of input / input_path / input_transformer; none = the whole event.
  std::optional<std::string> input;  // JSON text
  std::optional<std::string> input_path;
  std::optional<InputTransformer> input_transformer;
  BodyEncoding body_encoding = BodyEncoding::kJson;
  std::optional<TargetHttpParameters> http_parameters;
  // SplitBy (hikyaku's): a `$.a.b` path to an array; one delivery per element, each rendered from
  // the event with that element as the array's only one (transform/event_splitter.h).
  std::optional<std::string> split_by;
  RetryPolicy retry_policy;
  std::optional<DeadLetterConfig> dead_letter_config;
  SourceLocation location;
  SourceLocation api_destination_location;
};

enum class RuleState { kEnabled, kDisabled };

struct Rule {
  std::string name;
  std::string description;
  std::string event_bus_name = "default";
  RuleState state = RuleState::kEnabled;
  std::string event_pattern;  // JSON text (a mapping in the file is converted)
  std::vector<Target> targets;
  SourceLocation location;
};

// Archives[]: CreateArchive's fields. The events of the bus that match EventPattern (every event
// of the bus when there is none) are kept RetentionDays for replays (docs/archive-replay.md).
struct Archive {
  std::string name;  // ArchiveName: 1 to 48 characters of [.-_A-Za-z0-9]
  // EventSourceArn (arn:aws:events:REGION:ACCOUNT:event-bus/NAME, reduced to NAME) or
  // EventBusName; a bus some rule uses (or "default").
  std::string event_bus_name = "default";
  std::string event_pattern;   // JSON text; "" = every event of the bus
  int64_t retention_days = 0;  // 0 = kept indefinitely
  std::string description;
  SourceLocation location;
};

struct Config {
  std::string file;  // the path it was loaded from ("" for text)
  ServerConfig server;
  StoreConfig store;
  std::vector<Connection> connections;
  std::vector<ApiDestination> api_destinations;
  std::vector<Rule> rules;
  std::vector<Archive> archives;

  const Archive* find_archive(std::string_view name) const;
  const Connection* find_connection(std::string_view name) const;
  const ApiDestination* find_api_destination(std::string_view name) const;
  // Bus names in first-use order ("default" first when any rule uses it).
  std::vector<std::string> event_bus_names() const;

  // Every configured secret VALUE, for redaction by value wherever text leaves the process
  // (logs, errors, dead letters, metrics, admin output): connection API key values, Basic
  // passwords, OAuth client secrets, every HttpParameter marked IsValueSecret or with a
  // secret-like name (headers, query strings and bodies of both InvocationHttpParameters and
  // OAuthHttpParameters), Server.Auth webhook key values and SigV4 secret access keys, the
  // values of secret-named parameters in a target's HttpParameters, each Backlog target's ApiKey,
  // Store.Jetstream's Token and Password, and, in every endpoint URL (InvocationEndpoint,
  // AuthorizationEndpoint, Backlog's Endpoint), userinfo credentials (user and password) and the
  // values of secret-named parameters after `?`, `&`, `;` or `#` (both as written and
  // percent-decoded). Non-empty, without duplicates, longest first (so that a redactor
  // replacing them in order never leaves the tail of a longer secret that contains a shorter
  // one).
  std::vector<std::string> secret_values() const;
};

// Every check `serve` makes on the Server section before it listens, in one place so that
// `validate` (the loader calls it) refuses exactly what `serve` refuses:
//   - Listen is HOST:PORT; PORT is 0 to 65535 in decimal (0 = any free port);
//   - HOST is `localhost` (= 127.0.0.1), a four-part dotted IPv4 address, or an IPv6 address in
//     brackets ([::1], [::]). Host names are not resolved. Shorthand IPv4 forms that inet_aton
//     reads differently from how people read them (127.1, 0x7f.1, 017.0.0.1, 2130706433) are
//     refused with the dotted form they stand for; IPv6 zone ids (%eth0) are not supported;
//   - IPv4-mapped IPv6 addresses ([::ffff:127.0.0.1]) are refused, with the IPv4 address to write
//     instead: whether they are loopback depends on the socket options of the day, and the
//     IPv4 form says the same thing unambiguously;
//   - an address that is not loopback (127.0.0.0/8, [::1], localhost) requires Server.Auth: without
//     it anyone who can reach the port could publish events;
//   - Tls.CertFile and Tls.KeyFile name readable regular files (their PEM content is checked when
//     serve loads them).
// kInvalidArgument lists every problem, one per line, each starting with its key
// ("Server.Listen: ..."). Never quotes a secret.
Status check_server_config(const ServerConfig& server);

// Server.Listen taken apart, after check_server_config() accepted it.
struct ListenAddress {
  std::string host;  // an IP literal without brackets ("localhost" is given as "127.0.0.1")
  uint16_t port = 0;
  bool loopback = false;
};
// Parses Server.Listen with the rules above (not the Auth or Tls ones); the error names the key.
Result<ListenAddress> parse_listen(std::string_view listen);

// The transform component's view of a target's input settings (Input, InputPath,
// InputTransformer, BodyEncoding), for compiling it.
transform::TargetInput target_input(const Target& target);

// Looks up an environment variable; std::nullopt when unset. Injected so tests are hermetic.
using EnvironmentLookup = std::function<std::optional<std::string>(const std::string& name)>;
EnvironmentLookup process_environment();

struct LoadOptions {
  EnvironmentLookup environment = process_environment();
  // Folder that ${file:relative/path} is resolved against ("" = the config file's folder; the
  // working directory for text without a file).
  std::string base_directory;
  // ${file:PATH} must name a file inside base_directory: absolute paths, `..` and symbolic links
  // that lead outside it are refused unless this is set (the command line's
  // --allow-file-references-outside-config-dir), so a config cannot read arbitrary files of the
  // machine it is loaded on.
  bool allow_file_references_outside_config_dir = false;
};

// One problem found while loading, already formatted "FILE:LINE:COL: KEY.PATH: message".
struct ConfigError {
  std::string file;
  SourceLocation location;
  std::string key_path;
  std::string message;
  std::string to_string() const;
};

// The outcome of a load: a Config when errors is empty. Warnings (e.g. an event pattern that
// names a field like an operator) never fail the load; they come in the same form as errors.
struct LoadResult {
  std::optional<Config> config;
  std::vector<ConfigError> errors;
  std::vector<ConfigError> warnings;
  bool ok() const { return errors.empty(); }
};

// Size caps for whole-file reads, so that a path naming /dev/zero or a huge log is an error, not
// unbounded memory: the config file itself, and each ${file:PATH} value (a secret, a key).
inline constexpr size_t kMaxConfigFileBytes = size_t{4} * 1024 * 1024;
inline constexpr size_t kMaxReferenceFileBytes = size_t{64} * 1024;

// Loads and validates a config file. A file that cannot be read (or is larger than
// kMaxConfigFileBytes) is one error.
LoadResult load_config_file(const std::string& path, const LoadOptions& options = {});

// Loads from text; `file_name` is used in messages only.
LoadResult load_config_text(std::string_view text, const std::string& file_name,
                            const LoadOptions& options = {});

// Convenience: the Config, or kInvalidArgument whose message lists every error, one per line.
Result<Config> load_config(const std::string& path, const LoadOptions& options = {});

// A human summary of a valid config (buses, rules and their targets, connections, destinations),
// with every secret masked; what `hikyaku validate` prints.
std::string describe(const Config& config);

}  // namespace hikyaku::config
