// PutEvents (docs/putevents.md §2): read the entries with their JSON types checked, apply the
// request limits (entry count, AWS's entry size), validate each entry, turn the valid ones into
// envelopes grouped by bus, ingest each group and answer in entry order once all have answered.
#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <optional>

#include "core/check.h"
#include "core/envelope.h"
#include "core/ids.h"
#include "core/json_writer.h"
#include "core/time.h"
#include "server/internal/api.h"
#include "server/internal/auth.h"
#include "server/internal/wire.h"

namespace hikyaku::server {
namespace {

constexpr size_t kMaxEntries = 10;
// 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z
constexpr int64_t kMinEventTime = -62135596800LL;
constexpr int64_t kMaxEventTime = 253402300799LL;
// A Time number beyond this cannot be a second count that fits int64_t.
constexpr double kMaxTimeNumber = 9.2e18;

// One PutEvents entry as sent (views into body_parser()'s document).
struct RawEntry {
  std::optional<int64_t> time;  // epoch seconds when Time was given and readable
  bool has_time = false;
  bool time_invalid = false;
  std::optional<std::string_view> source;
  std::optional<std::string_view> detail_type;
  std::optional<std::string_view> detail;
  std::optional<std::vector<std::string_view>> resources;
  std::optional<std::string_view> event_bus_name;
  std::optional<std::string_view> trace_header;
};

// The whole request is refused with HTTP 400 and this error.
struct RequestError {
  std::string_view type;  // SerializationException or ValidationException
  std::string message;
};

// One entry is refused: its ErrorCode and ErrorMessage.
struct EntryError {
  std::string_view code;
  std::string message;
};

RequestError serialization_error(std::string message) {
  return {"SerializationException", std::move(message)};
}

size_t utf8_chars(std::string_view text) {
  return static_cast<size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

// --- reading the entries ---

// Reads an optional string member; a null counts as absent.
std::optional<RequestError> read_string(simdjson::dom::object object, std::string_view key,
                                        const std::string& where,
                                        std::optional<std::string_view>& out) {
  simdjson::dom::element value;
  if (object[key].get(value) != simdjson::SUCCESS || value.is_null()) {
    return std::nullopt;
  }
  std::string_view text;
  if (value.get(text) != simdjson::SUCCESS) {
    return serialization_error(fmt::format("{}.{} must be a string", where, key));
  }
  out = text;
  return std::nullopt;
}

// Time: epoch seconds (an integer, or a number floored) or an RFC 3339 string. A readable Time
// out of range is an entry error later (time_invalid); a wrong JSON type refuses the request.
std::optional<RequestError> read_time(simdjson::dom::object object, const std::string& where,
                                      RawEntry& entry) {
  simdjson::dom::element time;
  if (object["Time"].get(time) != simdjson::SUCCESS || time.is_null()) {
    return std::nullopt;
  }
  entry.has_time = true;
  double number = 0;
  std::string_view text;
  if (time.is_int64()) {
    entry.time = time.get_int64().value_unsafe();
  } else if (time.get(number) == simdjson::SUCCESS) {
    if (number >= -kMaxTimeNumber && number <= kMaxTimeNumber) {
      entry.time = static_cast<int64_t>(std::floor(number));
    } else {
      entry.time_invalid = true;
    }
  } else if (time.get(text) == simdjson::SUCCESS) {
    entry.time = parse_rfc3339(text);
    entry.time_invalid = !entry.time.has_value();
  } else {
    return serialization_error(where +
                               ".Time must be epoch seconds (a number) or an ISO 8601 string.");
  }
  return std::nullopt;
}

std::optional<RequestError> read_resources(simdjson::dom::object object, const std::string& where,
                                           RawEntry& entry) {
  simdjson::dom::element resources;
  if (object["Resources"].get(resources) != simdjson::SUCCESS || resources.is_null()) {
    return std::nullopt;
  }
  simdjson::dom::array array;
  if (resources.get(array) != simdjson::SUCCESS) {
    return serialization_error(where + ".Resources must be an array.");
  }
  entry.resources.emplace();
  for (simdjson::dom::element resource : array) {
    std::string_view text;
    if (resource.get(text) != simdjson::SUCCESS) {
      return serialization_error(where + ".Resources must hold only strings.");
    }
    entry.resources->push_back(text);
  }
  return std::nullopt;
}

std::optional<RequestError> read_entry(simdjson::dom::element element, size_t index,
                                       RawEntry& entry) {
  // Fits the short-string buffer: no allocation per entry on the accepting path.
  const std::string where = "Entries[" + std::to_string(index) + "]";
  simdjson::dom::object object;
  if (element.get(object) != simdjson::SUCCESS) {
    return serialization_error(where + " must be a JSON object.");
  }
  std::optional<RequestError> error = read_string(object, "Source", where, entry.source);
  if (!error) {
    error = read_string(object, "DetailType", where, entry.detail_type);
  }
  if (!error) {
    error = read_string(object, "Detail", where, entry.detail);
  }
  if (!error) {
    error = read_string(object, "EventBusName", where, entry.event_bus_name);
  }
  if (!error) {
    error = read_string(object, "TraceHeader", where, entry.trace_header);
  }
  if (!error) {
    error = read_time(object, where, entry);
  }
  if (!error) {
    error = read_resources(object, where, entry);
  }
  return error;
}

// The protocol's deserialization step: the body's Entries, every member's JSON type checked.
std::optional<RequestError> read_entries(const std::string& body, std::vector<RawEntry>& entries) {
  simdjson::dom::element root;
  if (auto error = body_parser().parse(body.data(), body.size()).get(root)) {
    return serialization_error(
        fmt::format("Request body is not valid JSON: {}", simdjson::error_message(error)));
  }
  simdjson::dom::object object;
  if (root.get(object) != simdjson::SUCCESS) {
    return serialization_error("Request body must be a JSON object.");
  }
  simdjson::dom::element endpoint_id;
  if (object["EndpointId"].get(endpoint_id) == simdjson::SUCCESS && !endpoint_id.is_null()) {
    return RequestError{"ValidationException",
                        "EndpointId is not supported: hikyaku has no global endpoints (SigV4a); "
                        "send PutEvents without EndpointId."};
  }
  simdjson::dom::element entries_value;
  if (object["Entries"].get(entries_value) != simdjson::SUCCESS || entries_value.is_null()) {
    return RequestError{"ValidationException",
                        "1 validation error detected: Value null at 'entries' failed to satisfy "
                        "constraint: Member must not be null"};
  }
  simdjson::dom::array array;
  if (entries_value.get(array) != simdjson::SUCCESS) {
    return serialization_error("Entries must be a JSON array.");
  }
  size_t index = 0;
  for (simdjson::dom::element element : array) {
    RawEntry& entry = entries.emplace_back();
    if (std::optional<RequestError> error = read_entry(element, index++, entry)) {
      return error;
    }
  }
  return std::nullopt;
}

// --- request limits ---

// Java's Date.toString() in UTC, as AWS's ValidationException echoes PutEventsRequestEntry.time.
std::string java_date(int64_t epoch_seconds) {
  static constexpr std::array<std::string_view, 7> kDays = {"Thu", "Fri", "Sat", "Sun",
                                                            "Mon", "Tue", "Wed"};
  static constexpr std::array<std::string_view, 12> kMonths = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const auto seconds = std::chrono::sys_seconds(std::chrono::seconds(epoch_seconds));
  const auto days = std::chrono::floor<std::chrono::days>(seconds);
  const std::chrono::year_month_day ymd{days};
  const std::chrono::hh_mm_ss hms{seconds - days};
  const int64_t day_number = days.time_since_epoch().count();
  const auto weekday = static_cast<size_t>(((day_number % 7) + 7) % 7);
  return fmt::format("{} {} {:02} {:02}:{:02}:{:02} UTC {}", kDays[weekday],
                     kMonths[static_cast<unsigned>(ymd.month()) - 1],
                     static_cast<unsigned>(ymd.day()), hms.hours().count(), hms.minutes().count(),
                     hms.seconds().count(), static_cast<int>(ymd.year()));
}

// The entries as AWS's Java model prints them in the "too many entries" message.
std::string java_entry_list(const std::vector<RawEntry>& entries) {
  auto field = [](const std::optional<std::string_view>& value) {
    return value ? std::string(*value) : std::string("null");
  };
  std::string out = "[";
  for (size_t i = 0; i < entries.size(); ++i) {
    const RawEntry& e = entries[i];
    if (i > 0) {
      out += ", ";
    }
    std::string resources = "null";
    if (e.resources) {
      resources = "[";
      for (size_t r = 0; r < e.resources->size(); ++r) {
        if (r > 0) {
          resources += ", ";
        }
        resources += (*e.resources)[r];
      }
      resources += "]";
    }
    out += fmt::format(
        "PutEventsRequestEntry(time={}, source={}, resources={}, detailType={}, detail={}, "
        "eventBusName={}, traceHeader={}, kmsKeyIdentifier=null, internalMetadata=null)",
        e.time ? java_date(*e.time) : std::string("null"), field(e.source), resources,
        field(e.detail_type), field(e.detail), field(e.event_bus_name), field(e.trace_header));
  }
  out += "]";
  return out;
}

// 1..10 entries whose sizes add up to at most `max_entry_bytes` (docs/putevents.md §2.4, §2.5).
std::optional<RequestError> check_request_limits(const std::vector<RawEntry>& entries,
                                                 int64_t max_entry_bytes) {
  if (entries.size() > kMaxEntries) {
    return RequestError{"ValidationException",
                        fmt::format("1 validation error detected: Value '{}' at 'entries' failed "
                                    "to satisfy constraint: Member must have length less than or "
                                    "equal to 10",
                                    java_entry_list(entries))};
  }
  if (entries.empty()) {
    return RequestError{"ValidationException",
                        "1 validation error detected: Value '[]' at 'entries' failed to satisfy "
                        "constraint: Member must have length greater than or equal to 1"};
  }
  int64_t total = 0;
  for (const RawEntry& entry : entries) {
    EntrySizeInput size;
    size.has_time = entry.has_time;
    size.source = entry.source.value_or("");
    size.detail_type = entry.detail_type.value_or("");
    size.detail = entry.detail.value_or("");
    if (entry.resources) {
      size.resources = *entry.resources;
    }
    total += put_events_entry_size(size);
  }
  if (total > max_entry_bytes) {
    return RequestError{"ValidationException",
                        "Total size of the entries in the request is over the limit."};
  }
  return std::nullopt;
}

// --- one entry ---

EntryError invalid_argument_entry(std::string message) {
  return {"InvalidArgument", std::move(message)};
}

// Detail's own nesting limit: the envelope holding it is the event's first level.
constexpr size_t kMaxDetailDepth = kMaxEventNestingDepth - 1;

constexpr size_t kInitialDetailCapacity = 4096;  // grows with the largest Detail parsed

// Parses Detail: a parser that stops at kMaxDetailDepth, so that the depth costs nothing to check
// on ordinary events. simdjson does not count an empty innermost container towards its limit, so
// a refusal is only a hint that the exact count settles.
simdjson::dom::parser& detail_parser() {
  thread_local simdjson::dom::parser parser = [] {
    simdjson::dom::parser p;
    HK_CHECK(p.allocate(kInitialDetailCapacity, kMaxDetailDepth) == simdjson::SUCCESS);
    return p;
  }();
  return parser;
}

// MalformedDetail unless Detail is a JSON object nesting at most kMaxDetailDepth levels.
std::optional<EntryError> check_detail(std::string_view text) {
  simdjson::dom::element detail;
  simdjson::error_code error = detail_parser().parse(text.data(), text.size()).get(detail);
  if (error == simdjson::DEPTH_ERROR) {
    if (json_nests_deeper_than(text, kMaxDetailDepth)) {
      return EntryError{"MalformedDetail",
                        fmt::format("Detail is malformed. Reason: Detail nests objects and arrays "
                                    "deeper than {} levels (an event nests at most {}, the event "
                                    "itself being the first).",
                                    kMaxDetailDepth, kMaxEventNestingDepth)};
    }
    error = nested_parser().parse(text.data(), text.size()).get(detail);
  }
  if (error != simdjson::SUCCESS || !detail.is_object()) {
    return EntryError{"MalformedDetail", "Detail is malformed."};
  }
  return std::nullopt;
}

// The entry errors AWS reports before an event exists, in AWS's order.
std::optional<EntryError> validate_entry(const RawEntry& entry, const Caller& caller) {
  if (!entry.source || entry.source->empty()) {
    return invalid_argument_entry(
        "Parameter Source is not valid. Reason: Source is a required argument.");
  }
  if (!entry.detail_type || entry.detail_type->empty()) {
    return invalid_argument_entry(
        "Parameter DetailType is not valid. Reason: DetailType is a required argument.");
  }
  if (!entry.detail || entry.detail->empty()) {
    return invalid_argument_entry(
        "Parameter Detail is not valid. Reason: Detail is a required argument.");
  }
  if (utf8_chars(*entry.detail_type) > kMaxDetailTypeChars) {
    return invalid_argument_entry(
        fmt::format("Parameter DetailType is not valid. Reason: DetailType is longer than {} "
                    "characters.",
                    kMaxDetailTypeChars));
  }
  if (std::optional<EntryError> malformed = check_detail(*entry.detail)) {
    return malformed;
  }
  if (entry.time_invalid) {
    return invalid_argument_entry(
        "Parameter Time is not valid. Reason: Time must be epoch seconds or an ISO 8601 "
        "timestamp.");
  }
  if (caller.credential != nullptr &&
      !source_allowed(caller.credential->allowed_sources, *entry.source)) {
    return EntryError{"NotAuthorizedForSourceException",
                      fmt::format("Not authorized for the source '{}': access key {} may publish "
                                  "only the sources in its AllowedSources.",
                                  *entry.source, caller.credential->access_key_id)};
  }
  return std::nullopt;
}

// What an entry's envelope takes from the request rather than from the entry.
struct EnvelopeDefaults {
  std::string_view account;
  std::string_view region;
  const Result<std::string>& now_text;  // for entries without a Time: the arrival second
};

// The event of a validated entry; an EntryError when its Time is outside years 0001..9999.
std::optional<EntryError> make_envelope(const RawEntry& entry, const EnvelopeDefaults& defaults,
                                        Envelope& envelope) {
  Result<std::string> time = entry.time ? format_event_time(*entry.time) : defaults.now_text;
  if (!time) {
    return invalid_argument_entry(
        "Parameter Time is not valid. Reason: Time is outside years 0001 to 9999.");
  }
  std::string compact(entry.detail->size(), '\0');
  size_t compact_size = 0;
  if (simdjson::minify(entry.detail->data(), entry.detail->size(), compact.data(), compact_size) !=
      simdjson::SUCCESS) {
    return EntryError{"MalformedDetail", "Detail is malformed."};
  }
  compact.resize(compact_size);
  envelope.version = "0";
  envelope.id = new_uuid_v4();
  envelope.detail_type = *entry.detail_type;
  envelope.source = *entry.source;
  envelope.account = defaults.account;
  envelope.time = std::move(*time);
  envelope.region = defaults.region;
  if (entry.resources) {
    envelope.resources.assign(entry.resources->begin(), entry.resources->end());
  }
  envelope.detail_json = std::move(compact);
  return std::nullopt;
}

// --- answering ---

constexpr std::string_view kThrottling = "ThrottlingException";

// The answer being assembled: one outcome per entry, sent once every bus group's ingest has
// called back. Callbacks touch disjoint entries; the last one (by `remaining_`) answers.
class PendingAnswer {
 public:
  PendingAnswer(size_t entries, std::shared_ptr<ServerMetrics> metrics, Respond respond,
                std::string request_id)
      : outcomes_(entries),
        metrics_(std::move(metrics)),
        respond_(std::move(respond)),
        request_id_(std::move(request_id)) {}

  void accept(size_t index, std::string event_id) {
    outcomes_[index].event_id = std::move(event_id);
  }
  void reject(size_t index, std::string_view code, std::string message) {
    Outcome& outcome = outcomes_[index];
    outcome.event_id.clear();
    outcome.error_code = code;
    outcome.error_message = std::move(message);
    metrics_->count_entry_error(IngestPath::kPutEvents, code);
  }

  // Records one group's ingest statuses (for the entries at `indexes`); answers after the last.
  void settle(const std::vector<size_t>& indexes, const std::vector<Status>& statuses) {
    HK_CHECK_MSG(statuses.size() == indexes.size(),
                 "the bus answered {} statuses for {} events (EventBus::IngestDone)",
                 statuses.size(), indexes.size());
    for (size_t k = 0; k < indexes.size(); ++k) {
      if (statuses[k].ok()) {
        metrics_->count_entry_accepted(IngestPath::kPutEvents);
      } else {
        reject(indexes[k], entry_error_code(statuses[k]), statuses[k].message());
      }
    }
    if (remaining_.fetch_sub(1) == 1) {
      answer();
    }
  }

  void expect_groups(size_t groups) { remaining_.store(groups); }

  void answer() {
    const auto failed = std::count_if(outcomes_.begin(), outcomes_.end(),
                                      [](const Outcome& o) { return !o.error_code.empty(); });
    const auto throttled = std::count_if(outcomes_.begin(), outcomes_.end(), [](const Outcome& o) {
      return o.error_code == kThrottling;
    });
    if (throttled == static_cast<std::ptrdiff_t>(outcomes_.size())) {
      // Nothing was taken because the server is overloaded: the whole-request error is the one
      // SDKs and the AWS CLI back off and retry on (a per-entry code is resent at once, if ever).
      metrics_->count_request_error(kThrottling);
      metrics_->count_throttled_request(IngestPath::kPutEvents);
      respond_(aws_json_response(json_error_body(kThrottling, "Rate exceeded"), request_id_, 400));
      return;
    }
    JsonWriter writer;
    writer.begin_object();
    writer.key("FailedEntryCount");
    writer.number(static_cast<int64_t>(failed));
    writer.key("Entries");
    writer.begin_array();
    for (const Outcome& outcome : outcomes_) {
      writer.begin_object();
      if (outcome.error_code.empty()) {
        writer.key("EventId");
        writer.string(outcome.event_id);
      } else {
        writer.key("ErrorCode");
        writer.string(outcome.error_code);
        writer.key("ErrorMessage");
        writer.string(outcome.error_message);
      }
      writer.end_object();
    }
    writer.end_array();
    writer.end_object();
    respond_(aws_json_response(writer.take(), request_id_));
  }

 private:
  struct Outcome {
    std::string event_id;
    std::string error_code;
    std::string error_message;
  };
  std::vector<Outcome> outcomes_;
  std::shared_ptr<ServerMetrics> metrics_;
  Respond respond_;
  std::string request_id_;
  std::atomic<size_t> remaining_{0};
};

// The envelopes for one bus, in entry order, and the entries they came from.
struct BusGroup {
  std::string bus;
  std::vector<Envelope> envelopes;
  std::vector<size_t> indexes;
};

void add_to_group(std::vector<BusGroup>& groups, std::string bus, Envelope envelope, size_t index) {
  auto group =
      std::find_if(groups.begin(), groups.end(), [&](const BusGroup& g) { return g.bus == bus; });
  if (group == groups.end()) {
    group = groups.insert(groups.end(), BusGroup{std::move(bus), {}, {}});
  }
  group->envelopes.push_back(std::move(envelope));
  group->indexes.push_back(index);
}

}  // namespace

Result<std::string> format_event_time(int64_t epoch_seconds) {
  if (epoch_seconds < kMinEventTime || epoch_seconds > kMaxEventTime) {
    return invalid_argument("time out of range");
  }
  return format_rfc3339_seconds(epoch_seconds);
}

int64_t put_events_entry_size(const EntrySizeInput& entry) {
  auto size =
      static_cast<int64_t>(entry.source.size() + entry.detail_type.size() + entry.detail.size());
  if (entry.has_time) {
    size += 14;
  }
  for (std::string_view resource : entry.resources) {
    size += static_cast<int64_t>(resource.size());
  }
  return size;
}

void Api::put_events(const HttpRequest& request, const Caller& caller, std::string request_id,
                     Respond& respond) {
  std::vector<RawEntry> entries;
  std::optional<RequestError> error = read_entries(request.body, entries);
  if (!error) {
    error = check_request_limits(entries, config_.limits.max_entry_bytes);
  }
  if (error) {
    respond(aws_error(400, error->type, error->message, request_id));
    return;
  }

  auto answer = std::make_shared<PendingAnswer>(entries.size(), metrics_, std::move(respond),
                                                std::move(request_id));
  const Result<std::string> now_text = format_event_time(
      std::chrono::floor<std::chrono::seconds>(clock_.now()).time_since_epoch().count());
  const std::string region = region_for(caller.region);
  const EnvelopeDefaults defaults{config_.account, region, now_text};
  std::vector<BusGroup> groups;
  for (size_t i = 0; i < entries.size(); ++i) {
    const RawEntry& entry = entries[i];
    Envelope envelope;
    std::optional<EntryError> refused = validate_entry(entry, caller);
    if (!refused) {
      refused = make_envelope(entry, defaults, envelope);
    }
    if (refused) {
      answer->reject(i, refused->code, std::move(refused->message));
      continue;
    }
    answer->accept(i, envelope.id);
    add_to_group(groups, bus_name_of(entry.event_bus_name.value_or("")), std::move(envelope), i);
  }

  if (groups.empty()) {
    answer->answer();
    return;
  }
  answer->expect_groups(groups.size());
  for (BusGroup& group : groups) {
    bus_.ingest(group.bus, std::move(group.envelopes),
                [answer, indexes = std::move(group.indexes)](const std::vector<Status>& statuses) {
                  answer->settle(indexes, statuses);
                });
  }
}

}  // namespace hikyaku::server
