#include "core/envelope.h"

#include <fmt/format.h>
#include <simdjson.h>

#include "core/json_writer.h"

namespace hikyaku {
namespace {

const char* json_type_name(simdjson::dom::element_type type) {
  switch (type) {
    case simdjson::dom::element_type::ARRAY:
      return "array";
    case simdjson::dom::element_type::OBJECT:
      return "object";
    case simdjson::dom::element_type::INT64:
    case simdjson::dom::element_type::UINT64:
    case simdjson::dom::element_type::DOUBLE:
      return "number";
    case simdjson::dom::element_type::STRING:
      return "string";
    case simdjson::dom::element_type::BOOL:
      return "boolean";
    case simdjson::dom::element_type::NULL_VALUE:
      return "null";
  }
  return "unknown";
}

Status wrong_type(std::string_view field, std::string_view expected, simdjson::dom::element value) {
  return invalid_argument(fmt::format("\"{}\" must be a JSON {}, got {}", field, expected,
                                      json_type_name(value.type())));
}

Result<std::string> required_string(simdjson::dom::object object, std::string_view field) {
  simdjson::dom::element value;
  if (object[field].get(value) != simdjson::SUCCESS) {
    return invalid_argument(fmt::format("missing required field \"{}\"", field));
  }
  std::string_view text;
  if (value.get(text) != simdjson::SUCCESS) {
    return wrong_type(field, "string", value);
  }
  return std::string(text);
}

// The `detail` object's own bytes, whitespace removed. Re-serializing the DOM would rewrite number
// tokens (1.50 -> 1.5), and patterns fall back to the literal text of numbers that a double
// cannot hold exactly, so the original tokens are kept.
Result<std::string> raw_detail_text(std::string_view json) {
  simdjson::padded_string padded(json);
  simdjson::ondemand::parser parser;
  simdjson::ondemand::document document;
  simdjson::ondemand::object detail;
  std::string_view raw;
  if (parser.iterate(padded).get(document) != simdjson::SUCCESS ||
      document.find_field_unordered("detail").get_object().get(detail) != simdjson::SUCCESS ||
      detail.raw_json().get(raw) != simdjson::SUCCESS) {
    return internal_error("could not re-read \"detail\" after validating it");
  }
  std::string compact(raw.size(), '\0');
  size_t compact_size = 0;
  if (simdjson::minify(raw.data(), raw.size(), compact.data(), compact_size) != simdjson::SUCCESS) {
    return internal_error("could not minify \"detail\"");
  }
  compact.resize(compact_size);
  return compact;
}

}  // namespace

bool json_nests_deeper_than(std::string_view json, size_t max_depth) {
  size_t depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character, a quote included
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > max_depth) {
        return true;
      }
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return false;
}

Result<Envelope> parse_envelope(std::string_view json) {
  if (json.size() > kMaxEnvelopeBytes) {
    return invalid_argument(
        fmt::format("event is {} bytes; the limit is {} bytes", json.size(), kMaxEnvelopeBytes));
  }
  if (json_nests_deeper_than(json, kMaxEventNestingDepth)) {
    return invalid_argument(
        fmt::format("event nests objects and arrays deeper than {} levels, the "
                    "limit (the event itself is the first level)",
                    kMaxEventNestingDepth));
  }
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto error = parser.parse(json.data(), json.size()).get(root); error != simdjson::SUCCESS) {
    return invalid_argument(
        fmt::format("event is not valid JSON: {}", simdjson::error_message(error)));
  }
  simdjson::dom::object object;
  if (root.get(object) != simdjson::SUCCESS) {
    return invalid_argument(
        fmt::format("event must be a JSON object, got {}", json_type_name(root.type())));
  }

  Envelope envelope;
  HK_ASSIGN_OR_RETURN(envelope.version, required_string(object, "version"));
  HK_ASSIGN_OR_RETURN(envelope.id, required_string(object, "id"));
  HK_ASSIGN_OR_RETURN(envelope.detail_type, required_string(object, "detail-type"));
  HK_ASSIGN_OR_RETURN(envelope.source, required_string(object, "source"));
  HK_ASSIGN_OR_RETURN(envelope.account, required_string(object, "account"));
  HK_ASSIGN_OR_RETURN(envelope.time, required_string(object, "time"));
  HK_ASSIGN_OR_RETURN(envelope.region, required_string(object, "region"));

  if (envelope.id.empty()) {
    return invalid_argument("\"id\" must not be empty");
  }
  if (envelope.source.empty()) {
    return invalid_argument("\"source\" must not be empty");
  }
  if (envelope.detail_type.empty()) {
    return invalid_argument("\"detail-type\" must not be empty");
  }
  if (envelope.detail_type.size() > kMaxDetailTypeChars) {
    return invalid_argument(fmt::format("\"detail-type\" is {} bytes; the limit is {}",
                                        envelope.detail_type.size(), kMaxDetailTypeChars));
  }
  if (!is_rfc3339_timestamp(envelope.time)) {
    return invalid_argument(
        fmt::format("\"time\" must be an RFC 3339 timestamp like 2026-03-01T09:15:02Z, got {}",
                    json_quote(envelope.time)));
  }

  simdjson::dom::element resources;
  if (object["resources"].get(resources) != simdjson::SUCCESS) {
    return invalid_argument("missing required field \"resources\"");
  }
  simdjson::dom::array resource_array;
  if (resources.get(resource_array) != simdjson::SUCCESS) {
    return wrong_type("resources", "array of strings", resources);
  }
  size_t index = 0;
  for (simdjson::dom::element resource : resource_array) {
    std::string_view text;
    if (resource.get(text) != simdjson::SUCCESS) {
      return invalid_argument(fmt::format("\"resources[{}]\" must be a JSON string, got {}", index,
                                          json_type_name(resource.type())));
    }
    envelope.resources.emplace_back(text);
    ++index;
  }

  simdjson::dom::element detail;
  if (object["detail"].get(detail) != simdjson::SUCCESS) {
    return invalid_argument("missing required field \"detail\"");
  }
  if (detail.type() != simdjson::dom::element_type::OBJECT) {
    return wrong_type("detail", "object", detail);
  }
  HK_ASSIGN_OR_RETURN(envelope.detail_json, raw_detail_text(json));

  simdjson::dom::element replay_name;
  if (object["replay-name"].get(replay_name) == simdjson::SUCCESS) {
    std::string_view text;
    if (replay_name.get(text) != simdjson::SUCCESS) {
      return wrong_type("replay-name", "string", replay_name);
    }
    envelope.replay_name = std::string(text);
  }
  return envelope;
}

std::string serialize_envelope(const Envelope& envelope) {
  JsonWriter writer;
  // The detail is most of an event: one allocation instead of a string doubling its way up.
  writer.reserve(envelope.detail_json.size() + 320 + envelope.detail_type.size() +
                 envelope.source.size() + 64 * envelope.resources.size());
  writer.begin_object();
  writer.key("version");
  writer.string(envelope.version);
  writer.key("id");
  writer.string(envelope.id);
  writer.key("detail-type");
  writer.string(envelope.detail_type);
  writer.key("source");
  writer.string(envelope.source);
  writer.key("account");
  writer.string(envelope.account);
  writer.key("time");
  writer.string(envelope.time);
  writer.key("region");
  writer.string(envelope.region);
  writer.key("resources");
  writer.begin_array();
  for (const std::string& resource : envelope.resources) {
    writer.string(resource);
  }
  writer.end_array();
  writer.key("detail");
  writer.raw(envelope.detail_json);
  if (envelope.replay_name) {
    writer.key("replay-name");
    writer.string(*envelope.replay_name);
  }
  writer.end_object();
  return writer.take();
}

}  // namespace hikyaku
