#include "transform/transformer.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <array>
#include <cstring>

#include "core/check.h"
#include "core/envelope.h"
#include "core/json_number.h"
#include "core/json_writer.h"
#include "transform/internal/form_encoding.h"
#include "transform/internal/input_template.h"
#include "transform/internal/json_path.h"

namespace hikyaku::transform {
namespace {

namespace od = simdjson::ondemand;
using internal::JsonPath;
using internal::PathStep;
using internal::Position;
using internal::TemplateSegment;

// Predefined variables, in the order of their fixed slots.
constexpr std::array<std::string_view, 5> kPredefinedNames = {
    "aws.events.rule-arn", "aws.events.rule-name", "aws.events.event.ingestion-time",
    "aws.events.event", "aws.events.event.json"};
constexpr int kSlotRuleArn = 0;
constexpr int kSlotRuleName = 1;
constexpr int kSlotIngestionTime = 2;
constexpr int kSlotEvent = 3;
constexpr int kFirstPathSlot = 4;

// <aws.events.event>: the envelope without detail, detail-type renamed, in AWS's order
// (docs/input-transformer.md §4).
struct EventField {
  std::string_view output_key;
  std::string_view path;  // empty: the ingestion time
};
constexpr std::array<EventField, 8> kEventFields = {{{"id", "$.id"},
                                                     {"account", "$.account"},
                                                     {"detailType", "$.detail-type"},
                                                     {"time", ""},
                                                     {"source", "$.source"},
                                                     {"region", "$.region"},
                                                     {"resources", "$.resources"},
                                                     {"version", "$.version"}}};

enum class ValueKind : uint8_t {
  kMissing,
  kString,
  kNumber,
  kTrue,
  kFalse,
  kNull,
  kObject,
  kArray
};

// One variable's value for the event being rendered. Strings and numbers are views into the
// parser's buffers (valid until the next iterate/rewind); objects and arrays are compact JSON
// text at [begin, end) of the scratch arena.
struct SlotValue {
  ValueKind kind = ValueKind::kMissing;
  std::string_view text;
  size_t begin = 0;
  size_t end = 0;
  bool plain = false;  // kString: nothing in `text` needs JSON escaping
};

// One open object or array of a value being copied (Evaluator::copy_value).
struct CopyLevel {
  od::object_iterator field;
  od::object_iterator fields_end;
  od::array_iterator element;
  od::array_iterator elements_end;
  bool is_object = false;
  bool visited = false;  // the current member was copied: advance before reading the next
  bool empty = true;     // nothing written yet (no comma before the next member)
};

// Per-thread render state, reused across events and transformers.
struct Scratch {
  od::parser parser;
  std::vector<CopyLevel> copy_stack;
  std::string padded;     // the event, with SIMDJSON_PADDING spare capacity
  std::string arena;      // compact JSON of captured objects and arrays
  std::string json_body;  // JSON output before form encoding
  std::vector<SlotValue> slots;
};

Scratch& thread_scratch() {
  thread_local Scratch scratch;
  return scratch;
}

simdjson::padded_string_view pad(std::string& buffer, std::string_view text) {
  buffer.reserve(text.size() + simdjson::SIMDJSON_PADDING);
  buffer.assign(text.data(), text.size());
  return simdjson::padded_string_view(buffer.data(), buffer.size(), buffer.capacity());
}

Status event_error(simdjson::error_code error) {
  return invalid_argument(
      fmt::format("event is not valid JSON: {}", simdjson::error_message(error)));
}

std::string_view trim_token(std::string_view token) {
  while (!token.empty() && (token.back() == ' ' || token.back() == '\t' || token.back() == '\n' ||
                            token.back() == '\r')) {
    token.remove_suffix(1);
  }
  return token;
}

// Whether core's append_json_escaped would change `text`: it holds `"`, `\`, a control character
// or the lead byte of U+2028/U+2029 (0xE2; other 0xE2 characters give false positives, which only
// cost the slow path). Tested 8 bytes at a time: the common case is long text with none of them.
bool needs_json_escape(std::string_view text) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  auto has_zero_byte = [](uint64_t v) { return ((v - kOnes) & ~v & kHigh) != 0; };
  size_t i = 0;
  for (; i + 8 <= text.size(); i += 8) {
    uint64_t word = 0;
    std::memcpy(&word, text.data() + i, 8);
    const bool control = ((word - kOnes * 0x20) & ~word & kHigh) != 0;
    if (control || has_zero_byte(word ^ (kOnes * '"')) || has_zero_byte(word ^ (kOnes * '\\')) ||
        has_zero_byte(word ^ (kOnes * 0xE2))) {
      return true;
    }
  }
  for (; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte < 0x20 || byte == '"' || byte == '\\' || byte == 0xE2) {
      return true;
    }
  }
  return false;
}

// A JSON string token `"..."` (possibly followed by spaces) whose content has no backslash is its
// own value: return the content without unescaping. Stage 1 has already rejected invalid UTF-8 and
// unescaped control characters. Empty result with `ok == false` means "unescape it properly".
std::string_view unescaped_fast_path(std::string_view token, bool& ok) {
  token = trim_token(token);
  ok = token.size() >= 2 && token.front() == '"' && token.back() == '"' &&
       std::memchr(token.data() + 1, '\\', token.size() - 2) == nullptr;
  return ok ? token.substr(1, token.size() - 2) : std::string_view();
}

// Whether a raw object key (pointing just after its opening quote) contains an escape.
bool raw_key_has_escape(const char* key) {
  for (;; ++key) {
    if (*key == '"') {
      return false;
    }
    if (*key == '\\') {
      return true;
    }
  }
}

// A trie over the InputPathsMap paths without wildcards, walked once per event.
struct TrieNode {
  std::vector<std::pair<std::string, int>> members;
  std::vector<std::pair<uint32_t, int>> indexes;
  uint32_t max_index = 0;
  std::vector<int> slots;  // variables whose path ends here
};

struct WildcardPath {
  JsonPath path;
  int slot = 0;
};

}  // namespace

namespace internal {

struct CompiledInput {
  using Kind = Transformer::Kind;
  Kind kind = Kind::kWholeEvent;
  BodyEncoding encoding = BodyEncoding::kJson;
  bool json_template = false;
  std::string text;                       // Input (already form-encoded for kForm) or InputTemplate
  std::vector<TemplateSegment> segments;  // name_index holds the slot
  std::vector<TrieNode> nodes;            // [0] is `$`; a single node means "nothing to read"
  std::vector<WildcardPath> wildcard_paths;
  int num_slots = kFirstPathSlot;
  bool uses_event_object = false;
  std::array<int, kEventFields.size()> event_field_slots{};

  CompiledInput() : nodes(1) {}

  int add_path(const JsonPath& path) {
    const int slot = num_slots++;
    if (path.has_wildcard) {
      wildcard_paths.push_back({path, slot});
      return slot;
    }
    int node = 0;
    for (const PathStep& step : path.steps) {
      int child = -1;
      if (step.kind == PathStep::Kind::kMember) {
        for (const auto& [name, index] : nodes[node].members) {
          if (name == step.name) {
            child = index;
          }
        }
        if (child < 0) {
          child = static_cast<int>(nodes.size());
          nodes[node].members.emplace_back(step.name, child);
          nodes.emplace_back();
        }
      } else {
        for (const auto& [position, index] : nodes[node].indexes) {
          if (position == step.index) {
            child = index;
          }
        }
        if (child < 0) {
          child = static_cast<int>(nodes.size());
          nodes[node].indexes.emplace_back(step.index, child);
          nodes[node].max_index = std::max(nodes[node].max_index, step.index);
          nodes.emplace_back();
        }
      }
      node = child;
    }
    nodes[node].slots.push_back(slot);
    return slot;
  }

  bool reads_event() const {
    return nodes.size() > 1 || !nodes[0].slots.empty() || !wildcard_paths.empty();
  }
};

}  // namespace internal

namespace {

// Evaluates paths against one event: one pass over the trie, plus one pass per wildcard path.
class Evaluator {
 public:
  Evaluator(const internal::CompiledInput& impl, Scratch& scratch)
      : impl_(impl), arena_(scratch.arena), slots_(scratch.slots), stack_(scratch.copy_stack) {}

  Status run(od::document& doc) {
    bool rewind = false;
    for (const WildcardPath& wildcard : impl_.wildcard_paths) {
      if (rewind) {
        doc.rewind();
      }
      rewind = true;
      od::value root;
      if (auto error = doc.get_value().get(root)) {
        return event_error(error);
      }
      const size_t begin = arena_.size();
      arena_ += '[';
      bool first = true;
      HK_RETURN_IF_ERROR(walk_path(root, wildcard.path, 0, first, 0));
      arena_ += ']';
      slots_[wildcard.slot] = {ValueKind::kArray, {}, begin, arena_.size()};
    }
    // The trie pass runs last: its string views must survive until rendering, and a rewind
    // would let later strings overwrite them.
    if (impl_.nodes.size() > 1 || !impl_.nodes[0].slots.empty()) {
      if (rewind) {
        doc.rewind();
      }
      od::value root;
      if (auto error = doc.get_value().get(root)) {
        return event_error(error);
      }
      HK_RETURN_IF_ERROR(walk(root, 0, false, 0));
    }
    return ok_status();
  }

  // Visits `value` at trie node `node` (-1: none; then `serialize` is set). With `serialize`,
  // appends its compact JSON to the arena. Captures the value for every slot ending at `node`.
  // `depth` is the value's depth below the envelope (0: the envelope). The recursion follows the
  // trie only, so it is bounded by the configured paths (kMaxPathChars), never by the event: what
  // no path looks into is copied by copy_value(), which keeps its own stack.
  Status walk(od::value& value, int node, bool serialize, int depth) {
    if (node < 0) {
      return copy_value(value, depth);
    }
    od::json_type type;
    if (auto error = value.type().get(type)) {
      return event_error(error);
    }
    const TrieNode* trie = &impl_.nodes[static_cast<size_t>(node)];
    const bool capture = !trie->slots.empty();
    switch (type) {
      case od::json_type::object:
        HK_RETURN_IF_ERROR(check_depth(depth));
        return walk_object(value, trie, serialize || capture, capture, depth);
      case od::json_type::array:
        HK_RETURN_IF_ERROR(check_depth(depth));
        return walk_array(value, trie, serialize || capture, capture, depth);
      default:
        return scalar(value, type, trie, serialize, capture);
    }
  }

 private:
  // An object or array at `depth` below the envelope is at nesting level depth + 1 (the
  // envelope is level 1): core/envelope.h's limit, which ingest enforces, holds here too.
  static Status check_depth(int depth) {
    if (static_cast<size_t>(depth) + 1 > kMaxEventNestingDepth) {
      return invalid_argument(
          fmt::format("event nests deeper than {} levels", kMaxEventNestingDepth));
    }
    return ok_status();
  }

  // A string, number, boolean or null: appended with `serialize`, captured for `trie`'s slots
  // with `capture`.
  Status scalar(od::value& value, od::json_type type, const TrieNode* trie, bool serialize,
                bool capture) {
    switch (type) {
      case od::json_type::string: {
        bool raw = false;
        std::string_view text = unescaped_fast_path(value.raw_json_token(), raw);
        if (!raw) {
          if (auto error = value.get_string().get(text)) {
            return event_error(error);
          }
        }
        const bool plain = !needs_json_escape(text);
        if (serialize) {
          if (plain) {
            arena_ += '"';
            arena_ += text;
            arena_ += '"';
          } else {
            append_json_string(arena_, text);
          }
        }
        if (capture) {
          set(*trie, {ValueKind::kString, text, 0, 0, plain});
        }
        return ok_status();
      }
      case od::json_type::number: {
        // On-demand only looks at a number's first character when typing it.
        const std::string_view token = trim_token(value.raw_json_token());
        if (!is_json_number(token)) {
          return event_error(simdjson::NUMBER_ERROR);
        }
        if (serialize) {
          arena_ += token;
        }
        if (capture) {
          set(*trie, {ValueKind::kNumber, token, 0, 0});
        }
        return ok_status();
      }
      case od::json_type::boolean: {
        bool b = false;
        if (auto error = value.get_bool().get(b)) {
          return event_error(error);
        }
        if (serialize) {
          arena_ += b ? "true" : "false";
        }
        if (capture) {
          set(*trie, {b ? ValueKind::kTrue : ValueKind::kFalse, {}, 0, 0});
        }
        return ok_status();
      }
      case od::json_type::null: {
        bool is_null = false;
        if (auto error = value.is_null().get(is_null)) {
          return event_error(error);
        }
        if (!is_null) {
          return event_error(simdjson::N_ATOM_ERROR);
        }
        if (serialize) {
          arena_ += "null";
        }
        if (capture) {
          set(*trie, {ValueKind::kNull, {}, 0, 0});
        }
        return ok_status();
      }
      default:
        return event_error(simdjson::INCORRECT_TYPE);
    }
  }

  // Appends the compact JSON of `value` (at `depth` below the envelope) to the arena, without
  // recursion: an event may nest kMaxEventNestingDepth levels, more than a thread's stack should
  // hold frames for (on any stack size, and with a sanitizer's larger frames).
  Status copy_value(od::value& value, int depth) {
    const size_t base = stack_.size();  // copy_value is not reentered; base is 0 in practice
    HK_RETURN_IF_ERROR(copy_open(value, depth));
    while (stack_.size() > base) {
      CopyLevel& level = stack_.back();
      if (level.visited) {
        if (level.is_object) {
          ++level.field;
        } else {
          ++level.element;
        }
      }
      level.visited = true;
      const bool more =
          level.is_object ? level.field != level.fields_end : level.element != level.elements_end;
      if (!more) {
        arena_ += level.is_object ? '}' : ']';
        stack_.pop_back();
        continue;
      }
      if (!level.empty) {
        arena_ += ',';
      }
      level.empty = false;
      const int child_depth = depth + static_cast<int>(stack_.size() - base);
      if (level.is_object) {
        od::field field;
        if (auto error = (*level.field).get(field)) {
          return event_error(error);
        }
        std::string_view key;
        if (auto error = field.unescaped_key().get(key)) {
          return event_error(error);
        }
        append_json_string(arena_, key);
        arena_ += ':';
        // May push a level: `level` is not used again in this round.
        HK_RETURN_IF_ERROR(copy_open(field.value(), child_depth));
      } else {
        od::value element;
        if (auto error = (*level.element).get(element)) {
          return event_error(error);
        }
        HK_RETURN_IF_ERROR(copy_open(element, child_depth));
      }
    }
    return ok_status();
  }

  // copy_value()'s step: appends a scalar, or opens an object or array (pushing its level).
  Status copy_open(od::value& value, int depth) {
    od::json_type type;
    if (auto error = value.type().get(type)) {
      return event_error(error);
    }
    if (type != od::json_type::object && type != od::json_type::array) {
      return scalar(value, type, nullptr, true, false);
    }
    HK_RETURN_IF_ERROR(check_depth(depth));
    CopyLevel level;
    level.is_object = type == od::json_type::object;
    if (level.is_object) {
      od::object object;
      if (auto error = value.get_object().get(object)) {
        return event_error(error);
      }
      if (auto error = object.begin().get(level.field)) {
        return event_error(error);
      }
      if (auto error = object.end().get(level.fields_end)) {
        return event_error(error);
      }
      arena_ += '{';
    } else {
      od::array array;
      if (auto error = value.get_array().get(array)) {
        return event_error(error);
      }
      if (auto error = array.begin().get(level.element)) {
        return event_error(error);
      }
      if (auto error = array.end().get(level.elements_end)) {
        return event_error(error);
      }
      arena_ += '[';
    }
    stack_.push_back(level);
    return ok_status();
  }

  void set(const TrieNode& trie, const SlotValue& value) {
    for (int slot : trie.slots) {
      // First occurrence wins when an object repeats a key.
      if (slots_[static_cast<size_t>(slot)].kind == ValueKind::kMissing) {
        slots_[static_cast<size_t>(slot)] = value;
      }
    }
  }

  Status walk_object(od::value& value, const TrieNode* trie, bool serialize, bool capture,
                     int depth) {
    const bool has_members = trie != nullptr && !trie->members.empty();
    if (!serialize && !has_members) {
      return ok_status();  // left unread; on-demand skips it
    }
    od::object object;
    if (auto error = value.get_object().get(object)) {
      return event_error(error);
    }
    if (!serialize && trie->members.size() == 1) {
      return lookup_member(object, *trie, depth);
    }
    const size_t begin = arena_.size();
    if (serialize) {
      arena_ += '{';
    }
    // Stop early (when not copying) once every wanted member was seen.
    const size_t wanted = has_members ? trie->members.size() : 0;
    uint64_t seen_mask = 0;
    size_t seen = 0;
    bool first = true;
    for (auto field_result : object) {
      od::field field;
      if (auto error = std::move(field_result).get(field)) {
        return event_error(error);
      }
      int child = -1;
      size_t child_position = 0;
      std::string_view key;
      // Match on the raw key (no copy); unescape only keys that hold escapes, or to copy them.
      const od::raw_json_string raw_key = field.key();
      bool unescape = serialize;
      if (has_members && !serialize) {
        for (size_t i = 0; i < trie->members.size(); ++i) {
          if (raw_key.unsafe_is_equal(trie->members[i].first)) {
            child = trie->members[i].second;
            child_position = i;
            break;
          }
        }
        unescape = child < 0 && raw_key_has_escape(raw_key.raw());
      }
      if (unescape) {
        if (auto error = field.unescaped_key().get(key)) {
          return event_error(error);
        }
        for (size_t i = 0; has_members && i < trie->members.size(); ++i) {
          if (trie->members[i].first == key) {
            child = trie->members[i].second;
            child_position = i;
            break;
          }
        }
      }
      if (serialize) {
        if (!first) {
          arena_ += ',';
        }
        first = false;
        append_json_string(arena_, key);
        arena_ += ':';
      }
      if (child >= 0 || serialize) {
        HK_RETURN_IF_ERROR(walk(field.value(), child, serialize, depth + 1));
      }
      if (child >= 0 && child_position < 64 && (seen_mask & (uint64_t{1} << child_position)) == 0) {
        seen_mask |= uint64_t{1} << child_position;
        if (++seen == wanted && !serialize) {
          break;
        }
      }
    }
    if (serialize) {
      arena_ += '}';
    }
    if (capture) {
      set(*trie, {ValueKind::kObject, {}, begin, arena_.size()});
    }
    return ok_status();
  }

  // One wanted member (the common case: `$.detail`, `Severity.Label`): simdjson's raw-key lookup
  // skips the other fields without materialising them, and from a fresh object it never wraps
  // around. A key written with escapes ("Ti\u0074le") is invisible to a raw lookup, so when the
  // member is not found the object is scanned again, unescaping keys that contain a backslash.
  Status lookup_member(od::object& object, const TrieNode& trie, int depth) {
    const auto& [name, child] = trie.members.front();
    od::value member;
    const auto error = object.find_field_unordered(name).get(member);
    if (error == simdjson::SUCCESS) {
      return walk(member, child, false, depth + 1);
    }
    if (error != simdjson::NO_SUCH_FIELD) {
      return event_error(error);
    }
    bool has_fields = false;
    if (auto reset_error = object.reset().get(has_fields)) {
      return event_error(reset_error);
    }
    for (auto field_result : object) {
      od::field field;
      if (auto field_error = std::move(field_result).get(field)) {
        return event_error(field_error);
      }
      if (!raw_key_has_escape(field.key().raw())) {
        continue;
      }
      std::string_view key;
      if (auto key_error = field.unescaped_key().get(key)) {
        return event_error(key_error);
      }
      if (key == name) {
        return walk(field.value(), child, false, depth + 1);
      }
    }
    return ok_status();
  }

  Status walk_array(od::value& value, const TrieNode* trie, bool serialize, bool capture,
                    int depth) {
    const bool has_indexes = trie != nullptr && !trie->indexes.empty();
    if (!serialize && !has_indexes) {
      return ok_status();
    }
    od::array array;
    if (auto error = value.get_array().get(array)) {
      return event_error(error);
    }
    const size_t begin = arena_.size();
    if (serialize) {
      arena_ += '[';
    }
    uint32_t index = 0;
    for (auto element_result : array) {
      od::value element;
      if (auto error = element_result.get(element)) {
        return event_error(error);
      }
      int child = -1;
      if (has_indexes) {
        for (const auto& [position, node] : trie->indexes) {
          if (position == index) {
            child = node;
            break;
          }
        }
      }
      if (serialize && index > 0) {
        arena_ += ',';
      }
      if (child >= 0 || serialize) {
        HK_RETURN_IF_ERROR(walk(element, child, serialize, depth + 1));
      }
      if (!serialize && index >= trie->max_index) {
        break;
      }
      ++index;
    }
    if (serialize) {
      arena_ += ']';
    }
    if (capture) {
      set(*trie, {ValueKind::kArray, {}, begin, arena_.size()});
    }
    return ok_status();
  }

  // Appends every match of path.steps[step...] under `value` to the arena, comma-separated.
  Status walk_path(od::value& value, const JsonPath& path, size_t step, bool& first, int depth) {
    if (step == path.steps.size()) {
      if (!first) {
        arena_ += ',';
      }
      first = false;
      return walk(value, -1, true, depth);
    }
    // Recursion follows the path's steps (at most kMaxPathChars of them), whatever the event.
    const PathStep& s = path.steps[step];
    od::json_type type;
    if (auto error = value.type().get(type)) {
      return event_error(error);
    }
    if (type == od::json_type::object && s.kind != PathStep::Kind::kIndex) {
      od::object object;
      if (auto error = value.get_object().get(object)) {
        return event_error(error);
      }
      for (auto field_result : object) {
        od::field field;
        if (auto error = std::move(field_result).get(field)) {
          return event_error(error);
        }
        if (s.kind == PathStep::Kind::kMember) {
          std::string_view key;
          if (auto error = field.unescaped_key().get(key)) {
            return event_error(error);
          }
          if (key == s.name) {
            return walk_path(field.value(), path, step + 1, first, depth + 1);
          }
        } else {
          HK_RETURN_IF_ERROR(walk_path(field.value(), path, step + 1, first, depth + 1));
        }
      }
    } else if (type == od::json_type::array && s.kind != PathStep::Kind::kMember) {
      od::array array;
      if (auto error = value.get_array().get(array)) {
        return event_error(error);
      }
      uint32_t index = 0;
      for (auto element_result : array) {
        od::value element;
        if (auto error = element_result.get(element)) {
          return event_error(error);
        }
        if (s.kind == PathStep::Kind::kWildcard) {
          HK_RETURN_IF_ERROR(walk_path(element, path, step + 1, first, depth + 1));
        } else if (index == s.index) {
          return walk_path(element, path, step + 1, first, depth + 1);
        }
        ++index;
      }
    }
    return ok_status();
  }

  const internal::CompiledInput& impl_;
  std::string& arena_;
  std::vector<SlotValue>& slots_;
  std::vector<CopyLevel>& stack_;
};

void append_without_quotes(std::string& out, std::string_view json) {
  size_t start = 0;
  for (size_t i = 0; i < json.size(); ++i) {
    if (json[i] == '"') {
      out.append(json.data() + start, i - start);
      start = i + 1;
    }
  }
  out.append(json.data() + start, json.size() - start);
}

// Appends `value` rendered at `position` (the table of docs/input-transformer.md §5; text inside
// a JSON string escaped per §3.2).
void append_value(std::string& out, const SlotValue& value, Position position,
                  std::string_view arena) {
  std::string_view literal;
  switch (value.kind) {
    case ValueKind::kMissing:
      if (position == Position::kJsonValue) {
        out += "\"\"";
      }
      return;
    case ValueKind::kString:
      if (position == Position::kText) {
        out += value.text;
      } else if (value.plain) {
        if (position == Position::kJsonValue) {
          out += '"';
          out += value.text;
          out += '"';
        } else {
          out += value.text;
        }
      } else if (position == Position::kJsonValue) {
        append_json_string(out, value.text);
      } else {
        append_json_escaped(out, value.text);
      }
      return;
    case ValueKind::kNumber:
      out += value.text;
      return;
    case ValueKind::kTrue:
      literal = "true";
      break;
    case ValueKind::kFalse:
      literal = "false";
      break;
    case ValueKind::kNull:
      literal = "null";
      break;
    case ValueKind::kObject:
    case ValueKind::kArray: {
      const std::string_view json = arena.substr(value.begin, value.end - value.begin);
      if (position == Position::kJsonValue) {
        out += json;
      } else if (position == Position::kJsonInString) {
        append_json_escaped(out, json);
      } else {
        append_without_quotes(out, json);
      }
      return;
    }
  }
  out += literal;
}

}  // namespace

Result<BodyEncoding> parse_body_encoding(std::string_view text) {
  if (text == "JSON") {
    return BodyEncoding::kJson;
  }
  if (text == "FORM") {
    return BodyEncoding::kForm;
  }
  return invalid_argument(fmt::format("BodyEncoding: \"{}\" is not one of JSON, FORM", text));
}

std::string_view content_type(BodyEncoding encoding) {
  return encoding == BodyEncoding::kForm ? "application/x-www-form-urlencoded"
                                         : "application/json; charset=utf-8";
}

Result<Transformer> Transformer::compile(const TargetInput& spec) {
  const int members = static_cast<int>(spec.input.has_value()) +
                      static_cast<int>(spec.input_path.has_value()) +
                      static_cast<int>(spec.input_transformer.has_value());
  if (members > 1) {
    return invalid_argument("Only one of Input, InputPath, or InputTransformer must be provided");
  }
  auto impl = std::make_shared<internal::CompiledInput>();
  impl->encoding = spec.body_encoding;
  const bool form = spec.body_encoding == BodyEncoding::kForm;

  if (spec.input) {
    impl->kind = Kind::kInput;
    const size_t length = internal::utf16_length(*spec.input);
    if (length > kMaxInputChars) {
      return invalid_argument(
          fmt::format("Input: {} characters long; the limit is {}", length, kMaxInputChars));
    }
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (auto error = parser.parse(*spec.input).get(root)) {
      return invalid_argument(
          fmt::format("Input: not valid JSON ({})", simdjson::error_message(error)));
    }
    if (form) {
      HK_RETURN_IF_ERROR(internal::check_form_shape(root).with_context("Input"));
      od::parser form_parser;
      std::string padded;
      std::string body;
      HK_RETURN_IF_ERROR(internal::form_encode_json(form_parser, pad(padded, *spec.input), body)
                             .with_context("Input"));
      impl->text = std::move(body);
    } else {
      impl->text = *spec.input;
    }
  } else if (spec.input_path) {
    impl->kind = Kind::kInputPath;
    if (spec.input_path->size() > kMaxPathChars) {
      return invalid_argument(fmt::format("InputPath: {} characters long; the limit is {}",
                                          spec.input_path->size(), kMaxPathChars));
    }
    Result<JsonPath> path = internal::parse_json_path(*spec.input_path);
    if (!path) {
      return path.error().with_context("InputPath");
    }
    const int slot = impl->add_path(*path);
    impl->segments.push_back({0, 0, slot, Position::kJsonValue});
  } else if (spec.input_transformer) {
    impl->kind = Kind::kInputTransformer;
    const InputTransformerSpec& transformer = *spec.input_transformer;
    const auto& paths_map = transformer.input_paths_map;
    if (paths_map.size() > kMaxInputPathsMapEntries) {
      return invalid_argument(
          fmt::format("InputTransformer.InputPathsMap: {} entries; the limit is {}",
                      paths_map.size(), kMaxInputPathsMapEntries));
    }
    std::vector<std::string_view> names(kPredefinedNames.begin(), kPredefinedNames.end());
    std::vector<JsonPath> paths;
    paths.reserve(paths_map.size());
    for (const auto& [key, path_text] : paths_map) {
      const std::string where = fmt::format("InputTransformer.InputPathsMap.{}", key);
      if (key.empty() || key.size() > kMaxInputPathsMapKeyChars) {
        return invalid_argument(fmt::format(
            "InputTransformer.InputPathsMap: key \"{}\" must be 1 to {} characters long", key,
            kMaxInputPathsMapKeyChars));
      }
      for (char c : key) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (!ok) {
          return invalid_argument(fmt::format(
              "InputTransformer.InputPathsMap: key \"{}\" must match [A-Za-z0-9_-]+{}", key,
              c == '.' ? " (no dots: use '_' or '-'; the aws.events.* names are predefined)" : ""));
        }
      }
      if (std::find(names.begin(), names.end(), key) != names.end()) {
        return invalid_argument(
            fmt::format("InputTransformer.InputPathsMap: key \"{}\" is defined twice", key));
      }
      if (path_text.size() > kMaxPathChars) {
        return invalid_argument(fmt::format("{}: path is {} characters long; the limit is {}",
                                            where, path_text.size(), kMaxPathChars));
      }
      Result<JsonPath> path = internal::parse_json_path(path_text);
      if (!path) {
        return path.error().with_context(where);
      }
      names.push_back(key);
      paths.push_back(std::move(path).value());
    }

    const std::string& text = transformer.input_template;
    const size_t length = internal::utf16_length(text);
    if (length == 0) {
      return invalid_argument("InputTransformer.InputTemplate: must not be empty");
    }
    if (length > kMaxInputTemplateChars) {
      return invalid_argument(
          fmt::format("InputTransformer.InputTemplate: {} characters long; the limit is {}", length,
                      kMaxInputTemplateChars));
    }
    Result<internal::ParsedTemplate> parsed = internal::parse_input_template(text, names, form);
    if (!parsed) {
      return parsed.error().with_context("InputTransformer.InputTemplate");
    }
    impl->text = text;
    impl->json_template = parsed->json_mode;

    // Evaluate only the paths the template uses; map each name to its slot.
    std::vector<int> slot_of_name(names.size(), -1);
    slot_of_name[kSlotRuleArn] = kSlotRuleArn;
    slot_of_name[kSlotRuleName] = kSlotRuleName;
    slot_of_name[kSlotIngestionTime] = kSlotIngestionTime;
    slot_of_name[kSlotEvent] = kSlotEvent;
    for (TemplateSegment& segment : parsed->segments) {
      if (segment.name_index < 0) {
        continue;
      }
      const auto name = static_cast<size_t>(segment.name_index);
      if (slot_of_name[name] < 0) {
        if (name == kPredefinedNames.size() - 1) {  // aws.events.event.json: the whole event
          slot_of_name[name] = impl->add_path(JsonPath{});
        } else {
          slot_of_name[name] = impl->add_path(paths[name - kPredefinedNames.size()]);
        }
      }
      if (static_cast<int>(name) == kSlotEvent && !impl->uses_event_object) {
        impl->uses_event_object = true;
        for (size_t i = 0; i < kEventFields.size(); ++i) {
          if (kEventFields[i].path.empty()) {
            impl->event_field_slots[i] = -1;
            continue;
          }
          Result<JsonPath> path = internal::parse_json_path(kEventFields[i].path);
          HK_CHECK(path.has_value());
          impl->event_field_slots[i] = impl->add_path(*path);
        }
      }
      segment.name_index = slot_of_name[name];
    }
    impl->segments = std::move(parsed->segments);
  } else {
    impl->kind = Kind::kWholeEvent;
  }
  return Transformer(std::move(impl));
}

Status Transformer::render_to(std::string_view event_json, const RenderContext& context,
                              std::string& out) const {
  const internal::CompiledInput& impl = *impl_;
  out.clear();
  if (impl.kind == Kind::kInput) {
    out = impl.text;
    return ok_status();
  }
  Scratch& scratch = thread_scratch();
  const bool form = impl.encoding == BodyEncoding::kForm;
  if (impl.kind == Kind::kWholeEvent) {
    if (!form) {
      out.assign(event_json.data(), event_json.size());
      return ok_status();
    }
    return internal::form_encode_json(scratch.parser, pad(scratch.padded, event_json), out)
        .with_context("event");
  }

  scratch.slots.assign(static_cast<size_t>(impl.num_slots), SlotValue{});
  scratch.arena.clear();
  od::document doc;
  if (impl.reads_event()) {
    if (auto error = scratch.parser.iterate(pad(scratch.padded, event_json)).get(doc)) {
      return event_error(error);
    }
    Evaluator evaluator(impl, scratch);
    HK_RETURN_IF_ERROR(evaluator.run(doc));
  }
  auto& slots = scratch.slots;
  slots[kSlotRuleArn] = {ValueKind::kString, context.rule_arn, 0, 0, false};
  slots[kSlotRuleName] = {ValueKind::kString, context.rule_name, 0, 0, false};
  slots[kSlotIngestionTime] = {ValueKind::kString, context.ingestion_time, 0, 0, false};
  if (impl.uses_event_object) {
    // Built aside: its members' text lives in the arena it is appended to.
    std::string& object = scratch.json_body;
    object.clear();
    object += '{';
    bool first = true;
    for (size_t i = 0; i < kEventFields.size(); ++i) {
      const int slot = impl.event_field_slots[i];
      const SlotValue& value =
          slot < 0 ? slots[kSlotIngestionTime] : slots[static_cast<size_t>(slot)];
      if (value.kind == ValueKind::kMissing) {
        continue;
      }
      if (!first) {
        object += ',';
      }
      first = false;
      append_json_string(object, kEventFields[i].output_key);
      object += ':';
      append_value(object, value, Position::kJsonValue, scratch.arena);
    }
    object += '}';
    const size_t begin = scratch.arena.size();
    scratch.arena += object;
    slots[kSlotEvent] = {ValueKind::kObject, {}, begin, scratch.arena.size()};
  }

  std::string& body = form ? scratch.json_body : out;
  body.clear();
  body.reserve(impl.text.size() + scratch.arena.size() + 64);
  const std::string_view text = impl.text;
  for (const TemplateSegment& segment : impl.segments) {
    if (segment.name_index < 0) {
      body.append(text.data() + segment.offset, segment.length);
    } else {
      append_value(body, slots[static_cast<size_t>(segment.name_index)], segment.position,
                   scratch.arena);
    }
  }
  if (form) {
    body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
    return internal::form_encode_json(
        scratch.parser, simdjson::padded_string_view(body.data(), body.size(), body.capacity()),
        out);
  }
  return ok_status();
}

Result<std::string> Transformer::render(std::string_view event_json,
                                        const RenderContext& context) const {
  std::string out;
  HK_RETURN_IF_ERROR(render_to(event_json, context, out));
  return out;
}

Transformer::Kind Transformer::kind() const { return impl_->kind; }
BodyEncoding Transformer::body_encoding() const { return impl_->encoding; }
bool Transformer::is_json_template() const { return impl_->json_template; }

namespace internal {

struct CompiledValues {
  CompiledInput input;
  std::vector<std::pair<std::string, int>> names;  // name, slot; in configuration order
};

}  // namespace internal

bool is_event_path(std::string_view value) { return value.starts_with("$."); }

Result<PathValues> PathValues::compile(
    const std::vector<std::pair<std::string, std::string>>& named) {
  if (named.empty()) {
    return PathValues(nullptr);
  }
  auto impl = std::make_shared<internal::CompiledValues>();
  impl->input.kind = Transformer::Kind::kInputTransformer;
  for (const auto& [name, path_text] : named) {
    if (path_text.size() > kMaxPathChars) {
      return invalid_argument(fmt::format("{}: path is {} characters long; the limit is {}", name,
                                          path_text.size(), kMaxPathChars));
    }
    Result<JsonPath> path = internal::parse_json_path(path_text);
    if (!path) {
      return path.error().with_context(name);
    }
    impl->names.emplace_back(name, impl->input.add_path(*path));
  }
  return PathValues(std::move(impl));
}

bool PathValues::empty() const { return impl_ == nullptr; }

Status PathValues::render_to(std::string_view event_json, std::string& out) const {
  out.clear();
  if (impl_ == nullptr) {
    return ok_status();
  }
  const internal::CompiledInput& impl = impl_->input;
  Scratch& scratch = thread_scratch();
  scratch.slots.assign(static_cast<size_t>(impl.num_slots), SlotValue{});
  scratch.arena.clear();
  od::document doc;
  if (auto error = scratch.parser.iterate(pad(scratch.padded, event_json)).get(doc)) {
    return event_error(error);
  }
  Evaluator evaluator(impl, scratch);
  HK_RETURN_IF_ERROR(evaluator.run(doc));
  // Each value as text: a string's content; anything else its JSON (as a string template would
  // insert it, but objects and arrays keep their quotes).
  std::string& text = scratch.json_body;
  out += '{';
  bool first = true;
  for (const auto& [name, slot] : impl_->names) {
    const SlotValue& value = scratch.slots[static_cast<size_t>(slot)];
    if (value.kind == ValueKind::kMissing) {
      continue;
    }
    text.clear();
    append_value(text, value,
                 value.kind == ValueKind::kString ? Position::kText : Position::kJsonValue,
                 scratch.arena);
    if (!first) {
      out += ',';
    }
    first = false;
    append_json_string(out, name);
    out += ':';
    append_json_string(out, text);
  }
  out += '}';
  return ok_status();
}

}  // namespace hikyaku::transform
