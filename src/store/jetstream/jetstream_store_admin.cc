// Dead letters, the key-value bucket, archives, the delivery log and the counts.
#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "store/jetstream/internal/codec.h"
#include "store/jetstream/internal/impl.h"
#include "store/jetstream/internal/naming.h"
#include "store/jetstream/jetstream_store.h"

namespace hikyaku::store {
namespace {

std::string_view data_of(natsMsg* message) {
  return {natsMsg_GetData(message), static_cast<size_t>(natsMsg_GetDataLength(message))};
}

// The part of a target key "<bus>/<rule>/<target id>" after the first and before the last '/'.
std::string_view rule_of(std::string_view target) {
  const size_t first = target.find('/');
  const size_t last = target.rfind('/');
  if (first == std::string_view::npos || last == first) {
    return {};
  }
  return target.substr(first + 1, last - first - 1);
}

bool passes(const DeadLetter& letter, const DeadLetterFilter& filter) {
  const std::string& target = letter.job.target;
  if (!filter.rule.empty() && rule_of(target) != filter.rule) {
    return false;
  }
  if (!filter.target.empty() && target != filter.target) {
    const size_t last = target.rfind('/');
    if (filter.target.find('/') != std::string::npos || last == std::string::npos ||
        target.compare(last + 1, std::string::npos, filter.target) != 0) {
      return false;
    }
  }
  if (!filter.error_code.empty() && letter.reason.error_code != filter.error_code) {
    return false;
  }
  if (filter.since_ms != 0 && letter.dead_lettered_at_ms < filter.since_ms) {
    return false;
  }
  if (filter.until_ms != 0 && letter.dead_lettered_at_ms >= filter.until_ms) {
    return false;
  }
  return true;
}

bool is_missing(natsStatus status, jsErrCode code) {
  return status == NATS_NOT_FOUND || code == JSNoMessageFoundErr || code == JSSequenceNotFoundErr;
}

// Whether cnats' last error says JetStream refused a write for its expected revision.
bool lost_compare_and_set(jsErrCode code) {
  if (code == JSStreamWrongLastSequenceErr) {
    return true;
  }
  const char* detail = nats_GetLastError(nullptr);
  return detail != nullptr &&
         std::string_view(detail).find("wrong last sequence") != std::string_view::npos;
}

}  // namespace

// --- Dead letters ------------------------------------------------------------------------------

Result<std::vector<DeadLetter>> JetStreamStore::dlq_find(const DeadLetterFilter& filter, int limit,
                                                         int64_t after_id, bool summaries) {
  std::vector<DeadLetter> found;
  if (limit <= 0) {
    return found;
  }
  Status decoded = ok_status();
  HK_RETURN_IF_ERROR(impl_->scan(
      impl_->dlq_stream, impl_->dlq_subject, static_cast<uint64_t>(after_id) + 1,
      [&](uint64_t sequence, natsMsg* message) {
        std::optional<DeadLetter> letter = internal::decode_dead_letter(data_of(message));
        if (!letter.has_value()) {
          decoded = internal_error(fmt::format("dead letter {} does not decode", sequence));
          return false;
        }
        if (!passes(*letter, filter)) {
          return true;
        }
        letter->id = static_cast<int64_t>(sequence);
        if (summaries) {
          letter->job.body.clear();
          letter->event.reset();
          letter->reason.request.clear();
        }
        found.push_back(std::move(*letter));
        return found.size() < static_cast<size_t>(limit);
      }));
  HK_RETURN_IF_ERROR(decoded);
  return found;
}

Result<std::vector<DeadLetter>> JetStreamStore::dlq_get_many(const std::vector<int64_t>& ids) {
  std::vector<int64_t> sorted = ids;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  std::vector<DeadLetter> letters;
  for (int64_t id : sorted) {
    if (id <= 0) {
      continue;
    }
    natsMsg* message = nullptr;
    auto code = static_cast<jsErrCode>(0);
    const natsStatus status = js_GetMsg(&message, impl_->js, impl_->dlq_stream.c_str(),
                                        static_cast<uint64_t>(id), nullptr, &code);
    if (status != NATS_OK) {
      if (is_missing(status, code)) {
        continue;
      }
      return nats_failure("reading dead letters", status);
    }
    std::optional<DeadLetter> letter = internal::decode_dead_letter(data_of(message));
    natsMsg_Destroy(message);
    if (!letter.has_value()) {
      return internal_error(fmt::format("dead letter {} does not decode", id));
    }
    letter->id = id;
    letters.push_back(std::move(*letter));
  }
  return letters;
}

Result<int64_t> JetStreamStore::dlq_purge(const std::vector<int64_t>& ids) {
  if (ids.empty()) {
    jsStreamInfo* info = nullptr;
    natsStatus status =
        js_GetStreamInfo(&info, impl_->js, impl_->dlq_stream.c_str(), nullptr, nullptr);
    const auto held = info != nullptr ? static_cast<int64_t>(info->State.Msgs) : 0;
    jsStreamInfo_Destroy(info);
    if (status == NATS_OK) {
      status = js_PurgeStream(impl_->js, impl_->dlq_stream.c_str(), nullptr, nullptr);
    }
    if (status != NATS_OK) {
      return nats_failure("purging dead letters", status);
    }
    return held;
  }
  int64_t removed = 0;
  for (int64_t id : ids) {
    auto code = static_cast<jsErrCode>(0);
    const natsStatus status = js_DeleteMsg(impl_->js, impl_->dlq_stream.c_str(),
                                           static_cast<uint64_t>(id), nullptr, &code);
    if (status == NATS_OK) {
      ++removed;
    } else if (!is_missing(status, code)) {
      return nats_failure("removing dead letters", status);
    }
  }
  return removed;
}

// --- Key-value ---------------------------------------------------------------------------------

Result<std::optional<KvEntry>> JetStreamStore::kv_get(const std::string& key) {
  if (key.empty()) {
    return invalid_argument("a key must not be empty");
  }
  kvEntry* entry = nullptr;
  const natsStatus status = kvStore_Get(&entry, impl_->kv, internal::escape_name(key).c_str());
  if (status == NATS_NOT_FOUND) {
    return std::optional<KvEntry>();
  }
  if (status != NATS_OK) {
    return nats_failure("reading key " + key, status);
  }
  KvEntry value{std::string(static_cast<const char*>(kvEntry_Value(entry)),
                            static_cast<size_t>(kvEntry_ValueLen(entry))),
                static_cast<int64_t>(kvEntry_Revision(entry))};
  kvEntry_Destroy(entry);
  return std::optional<KvEntry>(std::move(value));
}

Result<int64_t> JetStreamStore::kv_put_if(const std::string& key, const std::string& value,
                                          int64_t expected_revision) {
  if (key.empty()) {
    return invalid_argument("a key must not be empty");
  }
  const std::string name = internal::escape_name(key);
  uint64_t revision = 0;
  // kvStore_Create/Update report the server's error code only through the last error text.
  const natsStatus status = expected_revision == 0
                                ? kvStore_Create(&revision, impl_->kv, name.c_str(), value.data(),
                                                 static_cast<int>(value.size()))
                                : kvStore_Update(&revision, impl_->kv, name.c_str(), value.data(),
                                                 static_cast<int>(value.size()),
                                                 static_cast<uint64_t>(expected_revision));
  if (status != NATS_OK) {
    if (lost_compare_and_set(static_cast<jsErrCode>(0))) {
      return failed_precondition(
          fmt::format("key {} changed since revision {}", key, expected_revision));
    }
    return nats_failure("writing key " + key, status);
  }
  return static_cast<int64_t>(revision);
}

Result<std::vector<std::pair<std::string, KvEntry>>> JetStreamStore::kv_list(
    const std::string& prefix, const std::string& after_key, int limit) {
  std::vector<std::pair<std::string, KvEntry>> page;
  if (limit <= 0) {
    return page;
  }
  kvKeysList keys{};
  const natsStatus status = kvStore_Keys(&keys, impl_->kv, nullptr);
  if (status != NATS_OK && status != NATS_NOT_FOUND) {
    return nats_failure("listing keys", status);
  }
  std::vector<std::string> matching;
  for (int i = 0; i < keys.Count; ++i) {
    std::optional<std::string> key = internal::unescape_name(keys.Keys[i]);
    if (key.has_value() && key->compare(0, prefix.size(), prefix) == 0 && *key > after_key) {
      matching.push_back(std::move(*key));
    }
  }
  kvKeysList_Destroy(&keys);
  std::sort(matching.begin(), matching.end());
  for (const std::string& key : matching) {
    if (page.size() >= static_cast<size_t>(limit)) {
      break;
    }
    HK_ASSIGN_OR_RETURN(std::optional<KvEntry> entry, kv_get(key));
    if (entry.has_value()) {  // deleted meanwhile: left out
      page.emplace_back(key, std::move(*entry));
    }
  }
  return page;
}

// --- Archives ----------------------------------------------------------------------------------

namespace {

struct ArchivedMessage {
  uint64_t sequence = 0;
  StoredArchivedEvent event;
};

}  // namespace

static Result<std::vector<ArchivedMessage>> read_archive(JetStreamStore::Impl& impl,
                                                         const std::string& archive) {
  std::vector<ArchivedMessage> events;
  Status decoded = ok_status();
  HK_RETURN_IF_ERROR(impl.scan(
      impl.archive_stream, impl.archive_subject(archive), 1,
      [&](uint64_t sequence, natsMsg* message) {
        std::optional<StoredArchivedEvent> event = internal::decode_archived(data_of(message));
        if (!event.has_value()) {
          decoded = internal_error(fmt::format("archived event {} does not decode", sequence));
          return false;
        }
        event->id = static_cast<int64_t>(sequence);
        events.push_back({sequence, std::move(*event)});
        return true;
      }));
  HK_RETURN_IF_ERROR(decoded);
  return events;
}

Result<std::vector<StoredArchivedEvent>> JetStreamStore::archive_read(const std::string& archive,
                                                                      int64_t to_ms,
                                                                      ArchiveCursor after,
                                                                      int limit) {
  HK_ASSIGN_OR_RETURN(std::vector<ArchivedMessage> all, read_archive(*impl_, archive));
  std::vector<StoredArchivedEvent> page;
  for (ArchivedMessage& message : all) {
    const StoredArchivedEvent& event = message.event;
    const bool after_cursor = event.ingested_at_ms > after.ingested_at_ms ||
                              (event.ingested_at_ms == after.ingested_at_ms && event.id > after.id);
    if (after_cursor && event.ingested_at_ms < to_ms) {
      page.push_back(std::move(message.event));
    }
  }
  std::sort(page.begin(), page.end(), [](const auto& a, const auto& b) {
    return std::pair(a.ingested_at_ms, a.id) < std::pair(b.ingested_at_ms, b.id);
  });
  if (page.size() > static_cast<size_t>(std::max(limit, 0))) {
    page.resize(static_cast<size_t>(std::max(limit, 0)));
  }
  return page;
}

Result<ArchiveStats> JetStreamStore::archive_stats(const std::string& archive) {
  HK_ASSIGN_OR_RETURN(std::vector<ArchivedMessage> all, read_archive(*impl_, archive));
  ArchiveStats stats;
  for (const ArchivedMessage& message : all) {
    ++stats.event_count;
    stats.size_bytes += static_cast<int64_t>(message.event.envelope.size());
  }
  return stats;
}

Result<int64_t> JetStreamStore::archive_expire(const std::string& archive, int64_t before_ms,
                                               int limit) {
  HK_ASSIGN_OR_RETURN(std::vector<ArchivedMessage> all, read_archive(*impl_, archive));
  int64_t removed = 0;
  for (const ArchivedMessage& message : all) {
    if (removed >= limit) {
      break;
    }
    if (message.event.ingested_at_ms >= before_ms) {
      continue;
    }
    auto code = static_cast<jsErrCode>(0);
    const natsStatus status =
        js_DeleteMsg(impl_->js, impl_->archive_stream.c_str(), message.sequence, nullptr, &code);
    if (status == NATS_OK) {
      ++removed;
    } else if (!is_missing(status, code)) {
      return nats_failure("expiring archived events", status);
    }
  }
  return removed;
}

// --- The delivery log --------------------------------------------------------------------------

Status JetStreamStore::log_deliveries(const std::vector<DeliveryRecord>& records, int64_t keep) {
  std::vector<Impl::Outgoing> messages;
  messages.reserve(records.size());
  for (const DeliveryRecord& record : records) {
    messages.push_back({impl_->deliveries_subject, internal::encode_delivery(record)});
  }
  HK_RETURN_IF_ERROR(impl_->publish_all(messages).status());
  jsOptions purge;
  jsOptions_Init(&purge);
  purge.Wait = impl_->options.request_timeout_ms;
  purge.Stream.Purge.Keep = static_cast<uint64_t>(std::max<int64_t>(keep, 0));
  if (keep <= 0) {
    purge.Stream.Purge.Keep = 0;
  }
  const natsStatus status =
      js_PurgeStream(impl_->js, impl_->deliveries_stream.c_str(), &purge, nullptr);
  if (status != NATS_OK) {
    return nats_failure("trimming the delivery log", status);
  }
  return ok_status();
}

Result<std::vector<DeliveryRecord>> JetStreamStore::recent_deliveries(int limit,
                                                                      int64_t before_id) {
  std::vector<DeliveryRecord> records;
  if (limit <= 0) {
    return records;
  }
  jsStreamInfo* info = nullptr;
  const natsStatus status =
      js_GetStreamInfo(&info, impl_->js, impl_->deliveries_stream.c_str(), nullptr, nullptr);
  if (status != NATS_OK) {
    jsStreamInfo_Destroy(info);
    return nats_failure("reading the delivery log", status);
  }
  const uint64_t first = info->State.FirstSeq;
  const uint64_t last = info->State.LastSeq;
  const uint64_t messages = info->State.Msgs;
  jsStreamInfo_Destroy(info);
  if (messages == 0) {
    return records;
  }
  // Sequences are dense between first and last: the log is only ever trimmed from its start.
  const uint64_t end =
      before_id > 0 ? std::min<uint64_t>(static_cast<uint64_t>(before_id), last + 1) : last + 1;
  if (end <= first) {
    return records;
  }
  const uint64_t start = std::max<uint64_t>(
      first, end > static_cast<uint64_t>(limit) ? end - static_cast<uint64_t>(limit) : 1);
  Status decoded = ok_status();
  HK_RETURN_IF_ERROR(impl_->scan(
      impl_->deliveries_stream, impl_->deliveries_subject, start,
      [&](uint64_t sequence, natsMsg* message) {
        if (sequence >= end) {
          return false;
        }
        std::optional<DeliveryRecord> record = internal::decode_delivery(data_of(message));
        if (!record.has_value()) {
          decoded = internal_error(fmt::format("delivery record {} does not decode", sequence));
          return false;
        }
        record->id = static_cast<int64_t>(sequence);
        records.push_back(std::move(*record));
        return true;
      }));
  HK_RETURN_IF_ERROR(decoded);
  std::reverse(records.begin(), records.end());
  if (records.size() > static_cast<size_t>(limit)) {
    records.resize(static_cast<size_t>(limit));
  }
  return records;
}

// --- Counts ------------------------------------------------------------------------------------

static Result<uint64_t> stream_messages(JetStreamStore::Impl& impl, const std::string& stream) {
  jsStreamInfo* info = nullptr;
  const natsStatus status = js_GetStreamInfo(&info, impl.js, stream.c_str(), nullptr, nullptr);
  const uint64_t messages = info != nullptr ? info->State.Msgs : 0;
  jsStreamInfo_Destroy(info);
  if (status != NATS_OK) {
    return nats_failure("reading stream " + stream, status);
  }
  return messages;
}

Result<Counts> JetStreamStore::counts(int64_t /*now_ms*/) {
  jsConsumerInfo* info = nullptr;
  const natsStatus status = js_GetConsumerInfo(&info, impl_->js, impl_->jobs_stream.c_str(),
                                               impl_->consumer.c_str(), nullptr, nullptr);
  Counts counts;
  if (status == NATS_OK) {
    counts.pending = static_cast<int64_t>(info->NumPending);
    counts.leased = info->NumAckPending;
  }
  jsConsumerInfo_Destroy(info);
  if (status != NATS_OK) {
    return nats_failure("reading consumer " + impl_->consumer, status);
  }
  HK_ASSIGN_OR_RETURN(const uint64_t dead, stream_messages(*impl_, impl_->dlq_stream));
  HK_ASSIGN_OR_RETURN(const uint64_t archived, stream_messages(*impl_, impl_->archive_stream));
  counts.dead_letters = static_cast<int64_t>(dead);
  counts.archived_events = static_cast<int64_t>(archived);
  return counts;
}

Result<std::vector<TargetQueue>> JetStreamStore::queues() {
  jsOptions options;
  jsOptions_Init(&options);
  options.Wait = impl_->options.request_timeout_ms;
  options.Stream.Info.SubjectsFilter = impl_->jobs_subjects.c_str();
  jsStreamInfo* info = nullptr;
  const natsStatus status =
      js_GetStreamInfo(&info, impl_->js, impl_->jobs_stream.c_str(), &options, nullptr);
  if (status != NATS_OK) {
    jsStreamInfo_Destroy(info);
    return nats_failure("reading stream " + impl_->jobs_stream, status);
  }
  std::map<std::string, std::pair<std::string, uint64_t>> subjects;  // target -> subject, jobs
  const std::string prefix = impl_->options.stream_prefix + ".jobs.";
  if (info->State.Subjects != nullptr) {
    for (int i = 0; i < info->State.Subjects->Count; ++i) {
      const jsStreamStateSubject& subject = info->State.Subjects->List[i];
      const std::string_view name(subject.Subject);
      if (name.substr(0, prefix.size()) != prefix || subject.Msgs == 0) {
        continue;
      }
      std::optional<std::string> target = internal::unescape_name(name.substr(prefix.size()));
      if (target.has_value()) {
        subjects[*target] = {std::string(name), subject.Msgs};
      }
    }
  }
  jsStreamInfo_Destroy(info);
  std::vector<TargetQueue> queues;
  for (const auto& [target, subject] : subjects) {
    TargetQueue queue{target, static_cast<int64_t>(subject.second), 0};
    // The subject's first message: the oldest appended (a retried job counts from its retry).
    jsDirectGetMsgOptions get;
    jsDirectGetMsgOptions_Init(&get);
    get.Sequence = 1;
    get.NextBySubject = subject.first.c_str();
    natsMsg* message = nullptr;
    if (js_DirectGetMsg(&message, impl_->js, impl_->jobs_stream.c_str(), nullptr, &get) ==
        NATS_OK) {
      std::optional<internal::JobRecord> record = internal::decode_job(data_of(message));
      if (record.has_value()) {
        queue.oldest_ingested_at_ms = record->ingested_at_ms;
      }
    }
    natsMsg_Destroy(message);
    queues.push_back(std::move(queue));
  }
  return queues;
}

Status JetStreamStore::ping() {
  // A connection that is down answers at once rather than after the request timeout.
  if (const natsConnStatus connection = natsConnection_Status(impl_->connection);
      connection != NATS_CONN_STATUS_CONNECTED) {
    return unavailable(fmt::format("JetStream: not connected to any server ({})",
                                   connection == NATS_CONN_STATUS_RECONNECTING ? "reconnecting"
                                   : connection == NATS_CONN_STATUS_CLOSED     ? "closed"
                                                                               : "disconnected"));
  }
  jsAccountInfo* account = nullptr;
  const natsStatus status = js_GetAccountInfo(&account, impl_->js, nullptr, nullptr);
  jsAccountInfo_Destroy(account);
  if (status != NATS_OK) {
    return nats_failure("ping", status);
  }
  return ok_status();
}

}  // namespace hikyaku::store
