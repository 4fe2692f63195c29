#include "store/jetstream/internal/codec.h"

namespace hikyaku::store::internal {
namespace {

constexpr char kJobVersion = 1;
constexpr char kDeadLetterVersion = 1;
constexpr char kArchivedVersion = 1;
constexpr char kDeliveryVersion = 1;

class Writer {
 public:
  explicit Writer(char version) { out_ += version; }
  Writer& integer(int64_t value) {
    // Zigzag, so that small negative numbers (a latency of -1) stay one byte.
    uint64_t bits = (static_cast<uint64_t>(value) << 1) ^ static_cast<uint64_t>(value >> 63);
    while (bits >= 0x80) {
      out_ += static_cast<char>((bits & 0x7F) | 0x80);
      bits >>= 7;
    }
    out_ += static_cast<char>(bits);
    return *this;
  }
  Writer& text(std::string_view value) {
    integer(static_cast<int64_t>(value.size()));
    out_.append(value);
    return *this;
  }
  Writer& optional_text(const std::optional<std::string>& value) {
    integer(value.has_value() ? 1 : 0);
    if (value.has_value()) {
      text(*value);
    }
    return *this;
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  Reader(std::string_view data, char version) : data_(data) {
    ok_ = !data_.empty() && data_[0] == version;
    at_ = 1;
  }
  bool ok() const { return ok_ && at_ == data_.size(); }
  int64_t integer() {
    uint64_t bits = 0;
    for (int shift = 0; ok_; shift += 7) {
      if (at_ >= data_.size() || shift > 63) {
        ok_ = false;
        break;
      }
      const auto byte = static_cast<unsigned char>(data_[at_++]);
      bits |= static_cast<uint64_t>(byte & 0x7F) << shift;
      if ((byte & 0x80) == 0) {
        break;
      }
    }
    return static_cast<int64_t>(bits >> 1) ^ -static_cast<int64_t>(bits & 1);
  }
  std::string text() {
    const int64_t size = integer();
    if (!ok_ || size < 0 || static_cast<uint64_t>(size) > data_.size() - at_) {
      ok_ = false;
      return {};
    }
    std::string value(data_.substr(at_, static_cast<size_t>(size)));
    at_ += static_cast<size_t>(size);
    return value;
  }

 private:
  std::string_view data_;
  size_t at_ = 0;
  bool ok_ = false;
};

void write_job(Writer& writer, const JobRecord& job) {
  writer.integer(job.job_id)
      .text(job.target)
      .text(job.event_id)
      .text(job.body)
      .text(job.headers)
      .integer(job.ingested_at_ms)
      .integer(job.attempts)
      .text(job.last_error)
      .integer(job.due_at_ms);
  // An event that is the body itself (a target sent the event as it is) is not written twice.
  if (job.event.has_value() && *job.event == job.body) {
    writer.integer(2);
  } else {
    writer.optional_text(job.event);
  }
}

JobRecord read_job(Reader& reader) {
  JobRecord job;
  job.job_id = reader.integer();
  job.target = reader.text();
  job.event_id = reader.text();
  job.body = reader.text();
  job.headers = reader.text();
  job.ingested_at_ms = reader.integer();
  job.attempts = static_cast<int>(reader.integer());
  job.last_error = reader.text();
  job.due_at_ms = reader.integer();
  const int64_t event = reader.integer();
  if (event == 2) {
    job.event = job.body;
  } else if (event == 1) {
    job.event = reader.text();
  }
  return job;
}

}  // namespace

std::string encode_job(const JobRecord& job) {
  Writer writer(kJobVersion);
  write_job(writer, job);
  return writer.take();
}

std::optional<JobRecord> decode_job(std::string_view data) {
  Reader reader(data, kJobVersion);
  JobRecord job = read_job(reader);
  return reader.ok() ? std::optional<JobRecord>(std::move(job)) : std::nullopt;
}

std::string encode_dead_letter(const JobRecord& job, const DeadLetterReason& reason,
                               int64_t dead_lettered_at_ms) {
  Writer writer(kDeadLetterVersion);
  write_job(writer, job);
  writer.text(reason.error_code)
      .text(reason.error_message)
      .text(reason.exhausted_retry_condition)
      .text(reason.request)
      .integer(reason.http_status)
      .text(reason.response_excerpt)
      .integer(dead_lettered_at_ms);
  return writer.take();
}

std::optional<DeadLetter> decode_dead_letter(std::string_view data) {
  Reader reader(data, kDeadLetterVersion);
  JobRecord job = read_job(reader);
  DeadLetter letter;
  letter.job = {job.job_id,          std::move(job.target),    std::move(job.event_id),
                std::move(job.body), std::move(job.headers),   job.attempts,
                job.ingested_at_ms,  std::move(job.last_error)};
  letter.event = std::move(job.event);
  letter.reason.error_code = reader.text();
  letter.reason.error_message = reader.text();
  letter.reason.exhausted_retry_condition = reader.text();
  letter.reason.request = reader.text();
  letter.reason.http_status = static_cast<int>(reader.integer());
  letter.reason.response_excerpt = reader.text();
  letter.dead_lettered_at_ms = reader.integer();
  return reader.ok() ? std::optional<DeadLetter>(std::move(letter)) : std::nullopt;
}

std::string encode_archived(const ArchivedEvent& event) {
  Writer writer(kArchivedVersion);
  writer.text(event.event_id).text(event.bus).text(event.envelope).integer(event.ingested_at_ms);
  return writer.take();
}

std::optional<StoredArchivedEvent> decode_archived(std::string_view data) {
  Reader reader(data, kArchivedVersion);
  StoredArchivedEvent event;
  reader.text();  // the event id and bus: for people reading the stream with other tools
  reader.text();
  event.envelope = reader.text();
  event.ingested_at_ms = reader.integer();
  return reader.ok() ? std::optional<StoredArchivedEvent>(std::move(event)) : std::nullopt;
}

std::string encode_delivery(const DeliveryRecord& record) {
  Writer writer(kDeliveryVersion);
  writer.integer(record.at_ms)
      .text(record.target)
      .text(record.destination)
      .text(record.event_id)
      .integer(record.job_id)
      .integer(record.attempt)
      .integer(record.http_status)
      .integer(record.latency_ms)
      .text(record.outcome)
      .text(record.error);
  return writer.take();
}

std::optional<DeliveryRecord> decode_delivery(std::string_view data) {
  Reader reader(data, kDeliveryVersion);
  DeliveryRecord record;
  record.at_ms = reader.integer();
  record.target = reader.text();
  record.destination = reader.text();
  record.event_id = reader.text();
  record.job_id = reader.integer();
  record.attempt = static_cast<int>(reader.integer());
  record.http_status = static_cast<int>(reader.integer());
  record.latency_ms = reader.integer();
  record.outcome = reader.text();
  record.error = reader.text();
  return reader.ok() ? std::optional<DeliveryRecord>(std::move(record)) : std::nullopt;
}

}  // namespace hikyaku::store::internal
