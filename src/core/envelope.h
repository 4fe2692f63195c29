#pragma once
// The EventBridge event envelope: the JSON object every event on a bus is.
//
//   {"version":"0","id":"...","detail-type":"...","source":"...","account":"...",
//    "time":"2026-03-01T09:15:02Z","region":"...","resources":[...],"detail":{...}}
//
// parse_envelope() validates a complete envelope as received on the webhook path (an AWS API
// destination forwarding events, or an event file): at most kMaxEnvelopeBytes and
// kMaxEventNestingDepth levels deep, every field present with its JSON type, `detail` an object,
// `time` an RFC 3339 UTC timestamp. Errors name the field and what was expected, e.g. `"detail"
// must be a JSON object, got string`. Unknown top-level keys are ignored, as AWS adds fields over
// time (`replay-name` is kept).
//
// serialize_envelope() writes AWS's field order, which is what a target receives when a rule has
// no input setting.
//
// Thread safety: plain values and stateless functions (a parser per call).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/time.h"  // is_rfc3339_timestamp, used with envelope times

namespace hikyaku {

struct Envelope {
  std::string version;
  std::string id;
  std::string detail_type;
  std::string source;
  std::string account;
  std::string time;
  std::string region;
  std::vector<std::string> resources;
  std::string detail_json;  // the `detail` object, as compact JSON text
  std::optional<std::string> replay_name;
};

// Limits applied by parse_envelope(): AWS's 256 KiB PutEvents entry limit leaves envelopes well
// below this; the cap only keeps a hostile body from costing unbounded memory.
inline constexpr size_t kMaxEnvelopeBytes = size_t{1024} * 1024;
inline constexpr size_t kMaxDetailTypeChars = 128;
// How deep an event's JSON may nest (objects and arrays, the envelope itself counting as level 1):
// AWS documents 1,000 for PutEvents. Ingest refuses a deeper entry on its own; the matcher and the
// transformer accept everything up to this depth, so an accepted event never fails there.
inline constexpr size_t kMaxEventNestingDepth = 1000;

// True when `json` (JSON text, not necessarily valid) opens more than `max_depth` nested objects
// and arrays, counted as kMaxEventNestingDepth counts them: `{}` is 1 level, `{"a":[]}` 2.
// Linear, no allocation; only brackets outside strings count.
bool json_nests_deeper_than(std::string_view json, size_t max_depth);

Result<Envelope> parse_envelope(std::string_view json);

std::string serialize_envelope(const Envelope& envelope);

}  // namespace hikyaku
