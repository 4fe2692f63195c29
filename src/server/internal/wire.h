#pragma once
// What every API operation shares on the wire: content types, AWS JSON 1.1 responses and error
// bodies (docs/putevents.md §4), the per-thread simdjson parsers, and reading the small request
// bodies of the read operations.
//
// Thread safety: all functions are thread-safe; the parsers are per thread.

#include <simdjson.h>

#include <string>
#include <string_view>

#include "core/status.h"
#include "server/internal/api.h"

namespace hikyaku::server {

inline constexpr std::string_view kAmzJson = "application/x-amz-json-1.1";
inline constexpr std::string_view kJson = "application/json";
inline constexpr std::string_view kText = "text/plain; charset=utf-8";
inline constexpr std::string_view kDefaultRegion = "us-east-1";

HttpResponse text_response(unsigned status, std::string body);

// An AWS JSON 1.1 answer carrying the request id.
HttpResponse aws_json_response(std::string body, const std::string& request_id,
                               unsigned status = 200);

// {"__type": type, "message": message}
std::string json_error_body(std::string_view type, std::string_view message);

// One parser per thread for request bodies and one for JSON nested in them (Detail, Event, ...):
// elements of the first stay valid while the second parses.
simdjson::dom::parser& body_parser();
simdjson::dom::parser& nested_parser();

// The bus name of an EventBusName given as a name or an ARN ("arn:aws:events:r:a:event-bus/x");
// "" is the default bus.
std::string bus_name_of(std::string_view name_or_arn);

// A small JSON request body read as an object ("" counts as {}).
struct ParsedBody {
  simdjson::dom::object object;
  std::string error;  // the SerializationException message when not empty
};
ParsedBody parse_body_object(const std::string& body);

// The string member `key`, or "" when absent or not a string.
std::string optional_member(simdjson::dom::object object, std::string_view key);

// Paging of the List* operations, as AWS's: NextToken is the decimal index of the next item (an
// unreadable token starts over), Limit at most kMaxPageSize (anything else: kMaxPageSize).
inline constexpr size_t kMaxPageSize = 100;
size_t start_index(simdjson::dom::object object);
size_t page_limit(simdjson::dom::object object);

// What the bus said about one event (EventBus::IngestDone), as the wire says it.
enum class IngestFailure {
  kOverload,   // kResourceExhausted: nothing stored, retry later (ThrottlingException / 429)
  kRetryable,  // kUnavailable, kDeadlineExceeded, kInternal: nothing stored, retry (503)
  kRejected,   // anything else (kInvalidArgument, ...): this event can never be stored (400)
};
IngestFailure classify_ingest_failure(const Status& status);

// The PutEvents ErrorCode (and webhook __type) for a failed ingest: ThrottlingException (kOverload,
// retried by SDKs after a back-off), InternalFailure (kRetryable, retried) or InvalidArgument
// (kRejected, final).
std::string_view entry_error_code(const Status& status);

}  // namespace hikyaku::server
