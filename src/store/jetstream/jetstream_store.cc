#include "store/jetstream/jetstream_store.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <thread>
#include <tuple>

#include "store/jetstream/internal/codec.h"
#include "store/jetstream/internal/impl.h"
#include "store/jetstream/internal/naming.h"

namespace hikyaku::store {
namespace {

using internal::decode_job;
using internal::encode_job;
using internal::JobRecord;

constexpr int64_t kNanosPerMs = 1'000'000;
// How long open() keeps trying setup calls that time out (a cluster electing leaders), and how
// long it waits between tries.
constexpr auto kPrepareRetryFor = std::chrono::seconds(30);
constexpr auto kPrepareRetryPause = std::chrono::milliseconds(500);

// A server list for messages: "user:password@" taken out of every URL.
std::string redacted_servers(const std::vector<std::string>& servers) {
  std::string list;
  for (const std::string& entry : servers) {
    std::string url = entry;
    for (size_t scheme = url.find("://"); scheme != std::string::npos;
         scheme = url.find("://", scheme + 3)) {
      const size_t at = url.find('@', scheme);
      const size_t next = url.find(',', scheme);
      if (at != std::string::npos && (next == std::string::npos || at < next)) {
        url.erase(scheme + 3, at + 1 - (scheme + 3));
      }
    }
    list += (list.empty() ? "" : ",") + url;
  }
  return list;
}

std::vector<std::string> split_servers(const std::vector<std::string>& servers) {
  std::vector<std::string> urls;
  for (const std::string& entry : servers) {
    size_t start = 0;
    while (start <= entry.size()) {
      const size_t comma = std::min(entry.find(',', start), entry.size());
      if (comma > start) {
        urls.push_back(entry.substr(start, comma - start));
      }
      start = comma + 1;
    }
  }
  return urls;
}

std::string random_node_id() {
  std::random_device device;
  std::mt19937_64 generator((static_cast<uint64_t>(device()) << 32) ^ device());
  return fmt::format("{:016x}", generator());
}

void on_publish_acknowledged(jsCtx* /*js*/, natsMsg* message, jsPubAck* ack, jsPubAckErr* error,
                             void* closure) {
  // The message is ours to destroy once its answer came, whatever the answer.
  const std::unique_ptr<natsMsg, decltype(&natsMsg_Destroy)> owned(message, &natsMsg_Destroy);
  auto* impl = static_cast<JetStreamStore::Impl*>(closure);
  const char* id = nullptr;
  if (natsMsgHeader_Get(message, "Nats-Msg-Id", &id) != NATS_OK || id == nullptr) {
    return;
  }
  MutexLock lock(impl->batch_mutex);
  const auto found = impl->awaiting.find(id);
  if (found == impl->awaiting.end()) {
    return;  // a batch that gave up waiting already
  }
  if (ack != nullptr) {
    impl->sequences[found->second] = ack->Sequence;
  } else if (impl->first_error.empty() && error != nullptr && error->Err == NATS_NO_RESPONDERS) {
    impl->first_error =
        "no server answers for the stream (is a quorum of its replicas up, and has it a leader?)";
  } else if (impl->first_error.empty() && error != nullptr && error->Err == NATS_TIMEOUT) {
    impl->first_error =
        "no acknowledgement in time (is a quorum of the stream's replicas up, and has it a "
        "leader?)";
  } else if (impl->first_error.empty()) {
    impl->first_error = fmt::format(
        "{}{}", natsStatus_GetText(error != nullptr ? error->Err : NATS_ERR),
        error != nullptr && error->ErrText != nullptr ? std::string(": ") + error->ErrText : "");
  }
  impl->awaiting.erase(found);
}

// `failed` says which NATS status it failed with (NATS_OK when it did not).
Status ensure_stream(jsCtx* js, const std::string& name, const std::vector<std::string>& subjects,
                     jsRetentionPolicy retention, int replicas, natsStatus& failed) {
  failed = NATS_OK;
  jsStreamInfo* info = nullptr;
  auto code = static_cast<jsErrCode>(0);
  natsStatus status = js_GetStreamInfo(&info, js, name.c_str(), nullptr, &code);
  jsStreamInfo_Destroy(info);
  if (status == NATS_OK) {
    return ok_status();
  }
  if (status != NATS_NOT_FOUND) {
    failed = status;
    return nats_failure("reading stream " + name, status);
  }
  std::vector<const char*> subject_names;
  subject_names.reserve(subjects.size());
  for (const std::string& subject : subjects) {
    subject_names.push_back(subject.c_str());
  }
  jsStreamConfig config;
  jsStreamConfig_Init(&config);
  config.Name = name.c_str();
  config.Subjects = subject_names.data();
  config.SubjectsLen = static_cast<int>(subject_names.size());
  config.Retention = retention;
  config.Storage = js_FileStorage;
  config.Replicas = replicas;
  config.AllowDirect = true;
  status = js_AddStream(&info, js, &config, nullptr, &code);
  jsStreamInfo_Destroy(info);
  if (status != NATS_OK) {
    // "No suitable peers": a cluster whose servers have not all met yet; it passes, as a
    // timeout does, so open() tries again.
    failed = code == JSClusterNoPeersErr ? NATS_TIMEOUT : status;
    return nats_failure("creating stream " + name, status);
  }
  return ok_status();
}

JobRecord new_job_record(const NewJob& job) {
  return {0,
          job.target,
          job.event_id,
          job.body,
          job.headers,
          job.ingested_at_ms,
          0,
          "",
          job.ingested_at_ms,
          job.event ? std::optional<std::string>(*job.event) : std::nullopt};
}

int64_t system_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string_view data_of(natsMsg* message) {
  return {natsMsg_GetData(message), static_cast<size_t>(natsMsg_GetDataLength(message))};
}

}  // namespace

std::chrono::milliseconds local_lease(int64_t ack_wait_ms) {
  return std::chrono::milliseconds(ack_wait_ms - std::min<int64_t>(1000, ack_wait_ms / 10));
}

Status nats_failure(std::string_view what, natsStatus status) {
  const char* detail = nats_GetLastError(nullptr);
  std::string message = fmt::format("JetStream: {}: {}", what, natsStatus_GetText(status));
  if (detail != nullptr && *detail != '\0' &&
      std::string_view(detail) != natsStatus_GetText(status)) {
    message += fmt::format(" ({})", detail);
  }
  return unavailable(std::move(message));
}

JetStreamStore::Impl::~Impl() {
  {
    MutexLock lock(held_mutex);
    // Back to the others at once rather than after AckWait, oldest first so that they come
    // back in their order.
    std::vector<std::pair<uint64_t, natsMsg*>> messages;
    for (auto& [token, entry] : held) {
      messages.emplace_back(natsMsg_GetSequence(entry.message), entry.message);
    }
    std::sort(messages.begin(), messages.end());
    for (auto& [sequence, message] : messages) {
      (void)internal::nak(connection, message);
      natsMsg_Destroy(message);
    }
    held.clear();
    held_sequences.clear();
  }
  {
    MutexLock lock(claim_mutex);
    for (Fetched& kept : not_yet_due) {
      (void)internal::nak(connection, kept.message);
      natsMsg_Destroy(kept.message);
    }
    not_yet_due.clear();
  }
  workers.reset();  // hands back what arrived unpulled
  if (connection != nullptr) {
    natsConnection_FlushTimeout(connection, 1000);
  }
  kvStore_Destroy(kv);
  jsCtx_Destroy(publisher);
  jsCtx_Destroy(js);
  natsConnection_Destroy(connection);
}

std::string JetStreamStore::Impl::job_subject(std::string_view target) const {
  return options.stream_prefix + ".jobs." + internal::escape_name(target);
}

std::string JetStreamStore::Impl::archive_subject(std::string_view archive) const {
  return options.stream_prefix + ".archive." + internal::escape_name(archive);
}

std::string JetStreamStore::Impl::next_message_id() {
  return fmt::format("{}-{}", node_id, next_id.fetch_add(1, std::memory_order_relaxed));
}

Result<std::vector<uint64_t>> JetStreamStore::Impl::publish_all(
    const std::vector<Outgoing>& messages) {
  if (messages.empty()) {
    return std::vector<uint64_t>{};
  }
  MutexLock serial(append_mutex);
  std::vector<std::string> ids;
  ids.reserve(messages.size());
  {
    MutexLock lock(batch_mutex);
    awaiting.clear();
    first_error.clear();
    sequences.assign(messages.size(), 0);
    for (size_t i = 0; i < messages.size(); ++i) {
      ids.push_back(next_message_id());
      awaiting.emplace(ids.back(), i);
    }
  }
  jsPubOptions publish_options;
  jsPubOptions_Init(&publish_options);
  publish_options.MaxWait = options.request_timeout_ms;
  natsStatus status = NATS_OK;
  for (size_t i = 0; i < messages.size() && status == NATS_OK; ++i) {
    natsMsg* message = nullptr;
    status = natsMsg_Create(&message, messages[i].subject.c_str(), nullptr, messages[i].data.data(),
                            static_cast<int>(messages[i].data.size()));
    if (status == NATS_OK) {
      status = natsMsgHeader_Set(message, "Nats-Msg-Id", ids[i].c_str());
    }
    if (status == NATS_OK) {
      status = js_PublishMsgAsync(publisher, &message, &publish_options);
    }
    natsMsg_Destroy(message);  // null once the library took it
  }
  if (status == NATS_OK) {
    status = js_PublishAsyncComplete(publisher, &publish_options);
  }
  MutexLock lock(batch_mutex);
  const size_t unacknowledged = awaiting.size();
  awaiting.clear();  // late acknowledgements of this batch are ignored
  if (status != NATS_OK || unacknowledged > 0 || !first_error.empty()) {
    if (!first_error.empty()) {
      return unavailable(fmt::format("JetStream refused a publish: {}", first_error));
    }
    if (status == NATS_OK || status == NATS_TIMEOUT) {
      return unavailable(fmt::format(
          "JetStream did not acknowledge {} of {} messages within {} ms (is a quorum of the "
          "streams' replicas up?)",
          unacknowledged, messages.size(), options.request_timeout_ms));
    }
    return nats_failure("publishing", status);
  }
  return sequences;
}

Result<std::vector<uint64_t>> JetStreamStore::Impl::publish_each(
    const std::vector<Outgoing>& messages) {
  std::vector<uint64_t> published;
  published.reserve(messages.size());
  for (const Outgoing& outgoing : messages) {
    const std::string id = next_message_id();
    jsPubOptions publish_options;
    jsPubOptions_Init(&publish_options);
    publish_options.MaxWait = options.request_timeout_ms;
    publish_options.MsgId = id.c_str();
    jsPubAck* ack = nullptr;
    auto code = static_cast<jsErrCode>(0);
    const natsStatus status =
        js_Publish(&ack, js, outgoing.subject.c_str(), outgoing.data.data(),
                   static_cast<int>(outgoing.data.size()), &publish_options, &code);
    if (status == NATS_OK) {
      published.push_back(ack->Sequence);
    }
    jsPubAck_Destroy(ack);
    if (status == NATS_NO_RESPONDERS) {
      return unavailable(
          "JetStream: no server answers for the stream (is a quorum of its replicas up, and has "
          "it a leader?)");
    }
    if (status != NATS_OK) {
      return nats_failure("publishing", status);
    }
  }
  return published;
}

Result<JetStreamStore::Impl::Held> JetStreamStore::Impl::take(const Claim& claim) {
  MutexLock lock(held_mutex);
  const auto found = held.find(claim.token);
  if (found == held.end()) {
    return failed_precondition(fmt::format(
        "job {} is not leased by this claim (settled, or held elsewhere)", claim.job.id));
  }
  const Held taken = found->second;
  held.erase(found);
  if (const auto copies = held_sequences.find(taken.sequence);
      copies != held_sequences.end() && --copies->second.count <= 0) {
    held_sequences.erase(copies);
  }
  if (std::chrono::steady_clock::now() >= taken.expires) {
    natsMsg_Destroy(taken.message);
    return failed_precondition(
        fmt::format("job {}: its lease ran out (JetStream redelivers it)", claim.job.id));
  }
  return taken;
}

void JetStreamStore::Impl::put_back(const Claim& claim, Held taken) {
  MutexLock lock(held_mutex);
  if (held.insert_or_assign(claim.token, taken).second) {
    Copies& copies = held_sequences[taken.sequence];
    copies.count += 1;
    copies.latest_expiry = std::max(copies.latest_expiry, taken.expires);
  }
}

Result<int64_t> JetStreamStore::Impl::ack_all(const std::vector<Claim>& claims) {
  std::vector<natsMsg*> messages;
  messages.reserve(claims.size());
  for (const Claim& claim : claims) {
    Result<Held> taken = take(claim);
    if (taken.has_value()) {
      messages.push_back(taken->message);
    }
  }
  if (messages.empty()) {
    return 0;
  }
  // Every acknowledgement as a request on one inbox, all sent before any answer is awaited: one
  // round trip for the batch (natsMsg_AckSync would be one each), and the answers say the
  // server has applied them.
  natsInbox* inbox = nullptr;
  natsSubscription* answers = nullptr;
  natsStatus status = natsInbox_Create(&inbox);
  const std::string prefix = status == NATS_OK ? std::string(inbox) : std::string();
  if (status == NATS_OK) {
    status = natsConnection_SubscribeSync(&answers, connection, (prefix + ".*").c_str());
  }
  for (size_t i = 0; i < messages.size() && status == NATS_OK; ++i) {
    status =
        natsConnection_PublishRequestString(connection, natsMsg_GetReply(messages[i]),
                                            (prefix + "." + std::to_string(i)).c_str(), "+ACK");
  }
  if (status == NATS_OK) {
    status = natsConnection_FlushTimeout(connection, options.request_timeout_ms);
  }
  size_t answered = 0;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(options.request_timeout_ms);
  while (status == NATS_OK && answered < messages.size()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    natsMsg* answer = nullptr;
    status = natsSubscription_NextMsg(&answer, answers, std::max<int64_t>(left, 1));
    natsMsg_Destroy(answer);
    answered += status == NATS_OK ? 1 : 0;
  }
  natsSubscription_Destroy(answers);
  natsInbox_Destroy(inbox);
  for (natsMsg* message : messages) {
    natsMsg_Destroy(message);
  }
  if (status != NATS_OK) {
    // Some may have been applied: the others come back after AckWait, delivered once more.
    return nats_failure(
        fmt::format("acknowledging deliveries ({} of {} confirmed)", answered, messages.size()),
        status);
  }
  return static_cast<int64_t>(messages.size());
}

Status JetStreamStore::Impl::scan(
    const std::string& stream, const std::string& subject, uint64_t from,
    const std::function<bool(uint64_t sequence, natsMsg* message)>& visit) {
  // An ephemeral consumer of this stream from `from` on, read in batches and deleted after.
  jsConsumerConfig config;
  jsConsumerConfig_Init(&config);
  config.AckPolicy = js_AckNone;
  config.DeliverPolicy = js_DeliverByStartSequence;
  config.OptStartSeq = std::max<uint64_t>(from, 1);
  config.FilterSubject = subject.c_str();
  config.InactiveThreshold = 60'000 * kNanosPerMs;  // gone by itself should this node die
  config.MemoryStorage = true;
  config.Replicas = 1;
  jsConsumerInfo* info = nullptr;
  auto code = static_cast<jsErrCode>(0);
  natsStatus status = js_AddConsumer(&info, js, stream.c_str(), &config, nullptr, &code);
  if (status != NATS_OK || info == nullptr || info->Name == nullptr) {
    jsConsumerInfo_Destroy(info);
    return nats_failure("reading stream " + stream, status == NATS_OK ? NATS_ERR : status);
  }
  const std::string reader_name = info->Name;
  const uint64_t pending = info->NumPending;
  jsConsumerInfo_Destroy(info);
  Status result = ok_status();
  if (pending > 0) {
    Result<std::unique_ptr<internal::Puller>> reader =
        internal::Puller::open(connection, stream, reader_name);
    if (!reader.has_value()) {
      result = reader.status();
    }
    bool more = reader.has_value();
    while (more) {
      Result<internal::Puller::Pulled> pulled =
          (*reader)->pull(256, options.claim_wait_ms, options.fetch_grace_ms);
      if (!pulled.has_value()) {
        result = pulled.status();
        break;
      }
      more = !pulled->messages.empty();
      for (natsMsg* message : pulled->messages) {
        jsMsgMetaData* meta = nullptr;
        if (more && natsMsg_GetMetaData(&meta, message) == NATS_OK) {
          more = visit(meta->Sequence.Stream, message) && meta->NumPending > 0;
        }
        jsMsgMetaData_Destroy(meta);
        natsMsg_Destroy(message);
      }
    }
  }
  js_DeleteConsumer(js, stream.c_str(), reader_name.c_str(), nullptr, &code);
  return result;
}

Result<std::vector<JetStreamStore::Impl::Fetched>> JetStreamStore::Impl::fetch(int limit,
                                                                               int64_t wait_ms,
                                                                               int64_t grace_ms) {
  std::vector<Fetched> fetched;
  HK_ASSIGN_OR_RETURN(internal::Puller::Pulled pulled, workers->pull(limit, wait_ms, grace_ms));
  fetched.reserve(pulled.messages.size());
  for (natsMsg* pulled_message : pulled.messages) {
    Fetched message;
    message.fetched_at = pulled.requested_at;
    message.message = pulled_message;
    jsMsgMetaData* meta = nullptr;
    if (natsMsg_GetMetaData(&meta, message.message) == NATS_OK) {
      message.sequence = meta->Sequence.Stream;
      message.delivered = meta->NumDelivered;
      message.record = decode_job(data_of(message.message));
    }
    jsMsgMetaData_Destroy(meta);
    fetched.push_back(std::move(message));
  }
  return fetched;
}

std::string JetStreamStore::Impl::token_of(const Fetched& fetched) const {
  return fmt::format("{}/{}/{}", node_id, fetched.sequence, fetched.delivered);
}

bool JetStreamStore::Impl::already_held(const Fetched& fetched) {
  MutexLock lock(held_mutex);
  const auto found = held_sequences.find(fetched.sequence);
  if (found == held_sequences.end() ||
      found->second.latest_expiry <= std::chrono::steady_clock::now()) {
    return false;  // not held, or only under a lease run out (this is JetStream's redelivery)
  }
  spdlog::info(
      "JetStream: message {} of {} came again while this node holds it; the copy is "
      "dropped",
      fetched.sequence, jobs_stream);
  natsMsg_Destroy(fetched.message);
  return true;
}

bool JetStreamStore::Impl::already_kept(const Fetched& fetched) {
  for (const Fetched& kept : not_yet_due) {
    if (kept.sequence == fetched.sequence) {
      natsMsg_Destroy(fetched.message);
      return true;
    }
  }
  return false;
}

Claim JetStreamStore::Impl::hold(Fetched&& fetched, int64_t now_ms) {
  JobRecord& record = *fetched.record;
  Claim claim;
  claim.job.id = record.job_id != 0 ? record.job_id : static_cast<int64_t>(fetched.sequence);
  claim.job.target = std::move(record.target);
  claim.job.event_id = std::move(record.event_id);
  claim.job.body = std::move(record.body);
  claim.job.headers = std::move(record.headers);
  claim.job.attempts = record.attempts;
  claim.job.ingested_at_ms = record.ingested_at_ms;
  claim.job.last_error = std::move(record.last_error);
  claim.token = token_of(fetched);
  const std::chrono::milliseconds lease = local_lease(options.lease_ms);
  claim.lease_expires_at_ms = now_ms + lease.count();
  put_back(claim, {fetched.message, fetched.fetched_at + lease, fetched.sequence});
  return claim;
}

JetStreamStore::JetStreamStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
JetStreamStore::~JetStreamStore() = default;

Result<std::unique_ptr<JetStreamStore>> JetStreamStore::open(const JetStreamOptions& options) {
  const std::vector<std::string> urls = split_servers(options.servers);
  if (urls.empty()) {
    return invalid_argument("JetStream: no server given");
  }
  if (options.replicas < 1 || options.replicas > 5 || options.stream_prefix.empty() ||
      options.stream_prefix.find_first_of(".*> \t") != std::string::npos) {
    return invalid_argument(
        "JetStream: replicas must be 1 to 5 and the stream prefix a name without '.', '*', '>' "
        "or spaces");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  const std::string& prefix = options.stream_prefix;
  impl->jobs_stream = prefix + "_JOBS";
  impl->dlq_stream = prefix + "_DLQ";
  impl->archive_stream = prefix + "_ARCHIVE";
  impl->deliveries_stream = prefix + "_DELIVERIES";
  impl->kv_bucket = prefix + "_KV";
  impl->consumer = prefix + "_WORKERS";
  impl->jobs_subjects = prefix + ".jobs.>";
  impl->dlq_subject = prefix + ".dlq";
  impl->deliveries_subject = prefix + ".deliveries";
  impl->node_id = random_node_id();
  const std::string where = redacted_servers(options.servers);

  natsOptions* nats_options = nullptr;
  std::vector<const char*> url_list;
  url_list.reserve(urls.size());
  for (const std::string& url : urls) {
    url_list.push_back(url.c_str());
  }
  natsStatus status = natsOptions_Create(&nats_options);
  if (status == NATS_OK) {
    status = natsOptions_SetServers(nats_options, url_list.data(), static_cast<int>(urls.size()));
  }
  if (status == NATS_OK) {
    status = natsOptions_SetTimeout(nats_options, options.connect_timeout_ms);
  }
  if (status == NATS_OK) {
    status = natsOptions_SetName(nats_options, "hikyaku");
  }
  if (status == NATS_OK) {
    status = natsOptions_SetMaxReconnect(nats_options, -1);  // requests time out meanwhile
  }
  if (status == NATS_OK) {
    status = natsOptions_SetReconnectWait(nats_options, 250);
  }
  if (status == NATS_OK && !options.credentials_file.empty()) {
    status = natsOptions_SetUserCredentialsFromFiles(nats_options, options.credentials_file.c_str(),
                                                     nullptr);
  }
  if (status == NATS_OK && !options.token.empty()) {
    status = natsOptions_SetToken(nats_options, options.token.c_str());
  }
  if (status == NATS_OK && !options.user.empty()) {
    status = natsOptions_SetUserInfo(nats_options, options.user.c_str(), options.password.c_str());
  }
  if (status == NATS_OK && options.tls.has_value()) {
    status = natsOptions_SetSecure(nats_options, true);
    if (status == NATS_OK && !options.tls->ca_file.empty()) {
      status = natsOptions_LoadCATrustedCertificates(nats_options, options.tls->ca_file.c_str());
    }
    if (status == NATS_OK && !options.tls->cert_file.empty()) {
      status = natsOptions_LoadCertificatesChain(nats_options, options.tls->cert_file.c_str(),
                                                 options.tls->key_file.c_str());
    }
  }
  if (status != NATS_OK) {
    natsOptions_Destroy(nats_options);
    return nats_failure("connection options (credentials or TLS files)", status);
  }
  status = natsConnection_Connect(&impl->connection, nats_options);
  natsOptions_Destroy(nats_options);
  if (status != NATS_OK) {
    return nats_failure("cannot connect to " + where, status);
  }

  jsOptions js_options;
  jsOptions_Init(&js_options);
  js_options.Wait = options.request_timeout_ms;
  status = natsConnection_JetStream(&impl->js, impl->connection, &js_options);
  if (status == NATS_OK) {
    jsAccountInfo* account = nullptr;
    auto code = static_cast<jsErrCode>(0);
    status = js_GetAccountInfo(&account, impl->js, nullptr, &code);
    jsAccountInfo_Destroy(account);
    if (status == NATS_NO_RESPONDERS || code == JSNotEnabledErr ||
        code == JSNotEnabledForAccountErr) {
      return unavailable("JetStream: " + where +
                         " answers, but JetStream is not enabled there (start nats-server with "
                         "-js, and enable it for this account)");
    }
    if (status != NATS_OK) {
      return nats_failure("JetStream on " + where + " does not answer", status);
    }
  }
  jsOptions publisher_options;
  jsOptions_Init(&publisher_options);
  publisher_options.Wait = options.request_timeout_ms;
  publisher_options.PublishAsync.AckHandler = on_publish_acknowledged;
  publisher_options.PublishAsync.AckHandlerClosure = impl.get();
  publisher_options.PublishAsync.MaxPending = 1 << 16;
  if (status == NATS_OK) {
    status = natsConnection_JetStream(&impl->publisher, impl->connection, &publisher_options);
  }
  if (status != NATS_OK) {
    return nats_failure("JetStream context", status);
  }

  // Right after a server of the cluster (re)started, its streams may still be electing leaders
  // or catching up: setup calls that time out are tried again for a while before giving up.
  const auto give_up_at = std::chrono::steady_clock::now() + kPrepareRetryFor;
  for (;;) {
    Status prepared = impl->prepare();
    if (prepared.ok()) {
      break;
    }
    if (!impl->last_failure_was_timeout || std::chrono::steady_clock::now() >= give_up_at) {
      return prepared;
    }
    spdlog::warn("JetStream: {}; trying again", prepared.message());
    std::this_thread::sleep_for(kPrepareRetryPause);  // the cluster's own recovery, not a test
  }
  return std::unique_ptr<JetStreamStore>(new JetStreamStore(std::move(impl)));
}

Status JetStreamStore::Impl::prepare() {
  last_failure_was_timeout = false;
  const auto failure = [this](std::string_view what, natsStatus status) {
    last_failure_was_timeout = status == NATS_TIMEOUT || status == NATS_NO_RESPONDERS;
    return nats_failure(what, status);
  };
  const int replicas = options.replicas;
  const std::vector<std::tuple<const std::string&, std::string, jsRetentionPolicy>> streams = {
      {jobs_stream, jobs_subjects, js_WorkQueuePolicy},
      {dlq_stream, dlq_subject, js_LimitsPolicy},
      {archive_stream, options.stream_prefix + ".archive.>", js_LimitsPolicy},
      {deliveries_stream, deliveries_subject, js_LimitsPolicy}};
  for (const auto& [name, subject, retention] : streams) {
    natsStatus failed = NATS_OK;
    if (Status made = ensure_stream(js, name, {subject}, retention, replicas, failed); !made.ok()) {
      last_failure_was_timeout = failed == NATS_TIMEOUT || failed == NATS_NO_RESPONDERS;
      return made;
    }
  }

  jsConsumerInfo* consumer_info = nullptr;
  auto code = static_cast<jsErrCode>(0);
  natsStatus status =
      js_GetConsumerInfo(&consumer_info, js, jobs_stream.c_str(), consumer.c_str(), nullptr, &code);
  if (status == NATS_NOT_FOUND) {
    jsConsumerConfig config;
    jsConsumerConfig_Init(&config);
    config.Durable = consumer.c_str();
    config.AckPolicy = js_AckExplicit;
    config.AckWait = options.lease_ms * kNanosPerMs;
    config.MaxDeliver = -1;
    config.MaxAckPending = -1;  // not-yet-due jobs wait as "delivered, not acknowledged"
    config.FilterSubject = jobs_subjects.c_str();
    config.DeliverPolicy = js_DeliverAll;
    status = js_AddConsumer(&consumer_info, js, jobs_stream.c_str(), &config, nullptr, &code);
  }
  if (status == NATS_OK && consumer_info != nullptr && consumer_info->Config != nullptr) {
    // A consumer made earlier keeps its AckWait; the leases follow it.
    const int64_t ack_wait_ms = consumer_info->Config->AckWait / kNanosPerMs;
    if (ack_wait_ms != options.lease_ms) {
      spdlog::warn(
          "JetStream consumer {} has AckWait {} ms, not the {} ms configured: the consumer's "
          "stands (delete the consumer while no node runs to change it)",
          consumer, ack_wait_ms, options.lease_ms);
    }
    options.lease_ms = ack_wait_ms;
  }
  jsConsumerInfo_Destroy(consumer_info);
  if (status != NATS_OK) {
    return failure("consumer " + consumer, status);
  }
  if (workers == nullptr) {
    Result<std::unique_ptr<internal::Puller>> puller =
        internal::Puller::open(connection, jobs_stream, consumer);
    if (!puller.has_value()) {
      return puller.status();
    }
    workers = std::move(puller).value();
  }
  if (kv != nullptr) {
    return ok_status();
  }
  status = js_KeyValue(&kv, js, kv_bucket.c_str());
  if (status == NATS_NOT_FOUND) {
    kvConfig config;
    kvConfig_Init(&config);
    config.Bucket = kv_bucket.c_str();
    config.History = 1;
    config.Replicas = replicas;
    config.StorageType = js_FileStorage;
    status = js_CreateKeyValue(&kv, js, &config);
  }
  if (status != NATS_OK) {
    return failure("key-value bucket " + kv_bucket, status);
  }
  return ok_status();
}

Status JetStreamStore::append(const Batch& batch) { return append_jobs(batch).status(); }

Result<std::vector<uint64_t>> JetStreamStore::append_jobs(const Batch& batch) {
  std::vector<Impl::Outgoing> messages;
  messages.reserve(batch.jobs.size() + batch.events.size() + batch.dead_letters.size());
  for (const NewJob& job : batch.jobs) {
    messages.push_back({impl_->job_subject(job.target), encode_job(new_job_record(job))});
  }
  for (const NewDeadLetter& letter : batch.dead_letters) {
    messages.push_back(
        {impl_->dlq_subject, internal::encode_dead_letter(new_job_record(letter.job), letter.reason,
                                                          letter.job.ingested_at_ms)});
  }
  for (const ArchivedEvent& event : batch.events) {
    messages.push_back({impl_->archive_subject(event.archive), internal::encode_archived(event)});
  }
  HK_ASSIGN_OR_RETURN(std::vector<uint64_t> sequences, impl_->publish_all(messages));
  sequences.resize(batch.jobs.size());
  if (!batch.completed.empty()) {
    HK_RETURN_IF_ERROR(impl_->ack_all(batch.completed).status());
  }
  for (int64_t letter : batch.redriven) {
    auto code = static_cast<jsErrCode>(0);
    const natsStatus status = js_DeleteMsg(impl_->js, impl_->dlq_stream.c_str(),
                                           static_cast<uint64_t>(letter), nullptr, &code);
    if (status != NATS_OK && status != NATS_NOT_FOUND && code != JSSequenceNotFoundErr) {
      return nats_failure("removing redriven dead letters", status);
    }
  }
  return sequences;
}

Result<std::vector<Claim>> JetStreamStore::append_and_lease(Batch& batch, int limit,
                                                            int64_t lease_expires_at_ms,
                                                            bool /*defer_sync*/) {
  HK_ASSIGN_OR_RETURN(const std::vector<uint64_t> sequences, append_jobs(batch));
  const size_t wanted = std::min(batch.jobs.size(), static_cast<size_t>(std::max(limit, 0)));
  std::vector<Claim> leased;
  if (wanted == 0) {
    return leased;
  }
  // Leased through the shared consumer like any claim: only a message this node fetched is
  // held (and redelivered to another node when this one dies). The batch's messages are the
  // newest in the stream; older ones fetched on the way are handed straight back.
  const std::set<uint64_t> ours(sequences.begin(), sequences.begin() + static_cast<long>(wanted));
  std::map<uint64_t, Claim> fetched;
  const int64_t now_ms = system_now_ms();
  // A claim of this node fetching now (waiting up to claim_wait_ms for work) takes the batch as
  // it arrives: the commit leaves it pending rather than wait behind that fetch, as ingest would.
  if (impl_->claim_mutex.try_lock()) {
    MutexLock serial(impl_->claim_mutex, std::adopt_lock);
    // Stops at the first message of another batch: older jobs wait ahead of this batch (a
    // backlog, or other nodes' appends), and fetching through them would only churn; the batch
    // is then left pending for claims, which take jobs in stream order anyway.
    bool others_ahead = false;
    while (!others_ahead && fetched.size() < wanted) {
      Result<std::vector<Impl::Fetched>> got =
          impl_->fetch(static_cast<int>(wanted - fetched.size()), impl_->options.lease_wait_ms,
                       impl_->options.lease_wait_ms);
      if (!got.has_value() || got->empty()) {
        break;  // the jobs are stored: they are claimed later
      }
      for (Impl::Fetched& message : *got) {
        if (impl_->already_held(message)) {
          continue;
        }
        if (ours.count(message.sequence) == 0 || !message.record.has_value()) {
          others_ahead = true;
          (void)internal::nak(impl_->connection, message.message);
          natsMsg_Destroy(message.message);
          continue;
        }
        const uint64_t sequence = message.sequence;
        fetched.emplace(sequence, impl_->hold(std::move(message), now_ms));
      }
    }
  }
  size_t prefix = 0;
  while (prefix < wanted && fetched.count(sequences[prefix]) != 0) {
    ++prefix;
  }
  for (size_t i = 0; i < wanted; ++i) {
    auto found = fetched.find(sequences[i]);
    if (found == fetched.end()) {
      continue;
    }
    if (i >= prefix) {  // not a prefix of the batch: left pending for a claim
      Result<Impl::Held> taken = impl_->take(found->second);
      if (taken.has_value()) {
        (void)internal::nak(impl_->connection, taken->message);
        natsMsg_Destroy(taken->message);
      }
      continue;
    }
    Claim claim = std::move(found->second);
    NewJob& job = batch.jobs[i];
    claim.job.target = std::move(job.target);
    claim.job.event_id = std::move(job.event_id);
    claim.job.body = std::move(job.body);
    claim.job.headers = std::move(job.headers);
    claim.lease_expires_at_ms = std::min(claim.lease_expires_at_ms, lease_expires_at_ms);
    leased.push_back(std::move(claim));
  }
  return leased;
}

Status JetStreamStore::sync() { return ok_status(); }

}  // namespace hikyaku::store
