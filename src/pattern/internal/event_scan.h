#pragma once
// The matcher's lazy event walk and its byte-level pieces: follow the paths rules name through the
// event text (EventWalk), find the next quote or bracket, skip a value without reading it, decode
// a string's escapes, read a number token, and tell whether the rest of an event could still name
// a field some rule wants.
//
// Why not simdjson On-Demand: it indexes the whole document (its stage 1) before the first field
// can be read, so finding `properties.STREET` near the start of a 900-byte CityLots2 event costs
// as much as reading all of it. The walk reads only along the paths rules name, skips everything
// else structurally, and stops as soon as the rest of the event cannot matter (KeyNeedles).
//
// Inputs are plain (unpadded) byte ranges; nothing here reads outside [p, end). Skipping is
// structural, not validating: strings honour escapes and brackets are counted, but skipped
// text is not checked for UTF-8 or grammar. Thread safety: the functions are stateless; a
// PathIndex is const after freeze(); a WalkScratch belongs to one thread at a time.

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/envelope.h"
#include "core/status.h"
#include "pattern/internal/value_table.h"

namespace hikyaku::pattern::internal {

// First '"' or '\\' in [p, end), or end.
const char* find_quote_or_backslash(const char* p, const char* end);

// `p` just past an opening quote. Returns the closing quote, or nullptr when the string is not
// terminated before `end`. `*escaped` is set when the string contains a backslash.
const char* find_string_end(const char* p, const char* end, bool* escaped);

// Skips one JSON value starting at `p` (no leading whitespace). Returns the first byte after it,
// or nullptr when a string or container is not closed before `end`, or `p` starts no value.
const char* skip_value(const char* p, const char* end);

// `p` at the first byte of a number. Returns what hikyaku::scan_json_number (core/json_number.h)
// returns: the first byte after the longest prefix that is a JSON number token, or nullptr. With
// `token`, also converts the common cases on the way: `exact` says `value` is the correctly
// rounded double (with -0 as 0); otherwise the caller converts the text itself. (The same
// grammar, fused with the conversion: see event_scan.cc.)
struct NumberToken {
  double value = 0;
  bool exact = false;
};
const char* scan_number(const char* p, const char* end, NumberToken* token = nullptr);

// Decodes the body of a JSON string (the bytes between its quotes) into `out` (appended; never
// longer than `body`). Returns nullptr, or what is wrong: a bad escape or an unpaired surrogate.
const char* decode_string(std::string_view body, std::string& out);

// Decodes one escape sequence: `p` just past the backslash, moved past the sequence. Returns
// nullptr, or what is wrong (then `p` points at the byte after the backslash).
const char* decode_escape(const char*& p, const char* end, std::string& out);

// Appends the UTF-8 encoding of code point `cp` (<= 0x10FFFF).
void append_utf8(std::string& out, uint32_t cp);

// The key segments rules name, each searched as `"segment`: if the rest of an event contains none
// of them (and no backslash, which could spell one in escapes), no later key can reach a field any
// rule names, so the walk may stop there.
class KeyNeedles {
 public:
  void add(std::string_view segment);
  // Ends building (call once, after the last add()).
  void freeze() { segments_.freeze(); }
  // True when [p, end) may still hold a key that starts with one of the segments.
  bool may_occur(const char* p, const char* end) const;

 private:
  bool matches_at(const char* quote, const char* end) const;

  // The segments, looked up as prefixes of the text after a quote: one probe per distinct
  // segment length, however many segments the rules name.
  AffixTable segments_{AffixTable::Side::kPrefix};
  bool first_byte_[256] = {};  // bytes that start some segment
  std::string first_bytes_;    // the same, as a list (SIMD filter when short)
  bool has_empty_ = false;     // an empty segment: every quote is a candidate
};

// ---- the walk ----

// Sentinel for "no node" / "no field".
inline constexpr uint32_t kNone = 0xFFFFFFFFu;
// Nesting allowed on the paths rules name: the one event depth limit (core/envelope.h; objects
// and arrays, the event itself counting as level 1), so an event ingest accepted always matches.
// The walk recurses along those paths; elsewhere it skips iteratively, at any depth. Full event
// validation (validate_event) uses the same bound.
inline constexpr uint32_t kMaxEventDepth = static_cast<uint32_t>(kMaxEventNestingDepth);

struct StringHash {
  using is_transparent = void;  // NOLINT(readability-identifier-naming): the standard's name
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <typename V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

// One object level on the paths rules name: its named children, and the field (if any) whose
// values sit at this path.
struct PathNode {
  uint32_t field = kNone;
  StringMap<uint32_t> children;
  // For the early stop: this node's bit among its parent's children (64: none), and the bits of
  // all children (0 when there are more than 64: such an object is always read to its end).
  uint8_t bit = 64;
  uint64_t child_bits = 0;
  // The same children as a flat list while there are few: a linear scan beats hashing.
  static constexpr size_t kSmall = 8;
  std::vector<std::pair<std::string, uint32_t>> small;

  uint32_t find(std::string_view key) const {
    if (children.size() <= kSmall) {
      for (const auto& [k, child] : small) {
        // Most keys differ in length or first byte: decided before calling memcmp.
        if (k.size() == key.size() &&
            (key.empty() ||
             (k[0] == key[0] && std::memcmp(k.data(), key.data(), key.size()) == 0))) {
          return child;
        }
      }
      return kNone;
    }
    auto it = children.find(key);
    return it == children.end() ? kNone : it->second;
  }
};

// The dotted field paths rules name, as a tree of key segments from the root object (node 0),
// plus the needles that tell when the walk may stop early.
class PathIndex {
 public:
  // The node of dotted `path`, created (with its ancestors) when new. Building only.
  uint32_t add_path(std::string_view path);
  // Ends building (call once, after the last add_path()).
  void freeze() { needles_.freeze(); }

  const PathNode& node(uint32_t n) const { return nodes_[n]; }
  void set_field(uint32_t n, uint32_t field) { nodes_[n].field = field; }
  // The node an event key leads to from `node`, or kNone. Event keys may contain dots ("a.b" is
  // the same path as a -> b): `*dotted` tells whether this one did.
  // Inline: the walk calls it for every key of every object on a named path.
  uint32_t child(uint32_t node, std::string_view key, bool* dotted) const;
  const KeyNeedles& needles() const { return needles_; }
  size_t memory_bytes() const;

 private:
  std::vector<PathNode> nodes_{1};
  KeyNeedles needles_;  // every path segment
};

inline uint32_t PathIndex::child(uint32_t node, std::string_view key, bool* dotted) const {
  size_t dot = 0;
  while (dot < key.size() && key[dot] != '.') {
    ++dot;
  }
  *dotted = dot < key.size();
  size_t start = 0;
  while (true) {
    node = nodes_[node].find(key.substr(start, dot - start));
    if (node == kNone || dot == key.size()) {
      return node;
    }
    start = dot + 1;
    dot = key.find('.', start);
    dot = dot == std::string_view::npos ? key.size() : dot;
  }
}

enum class ValueType : uint8_t { kString, kNumber, kTrue, kFalse, kNull };

// Which element of which array a value sits in. Arrays are numbered in the order the walk opens
// them, so two positions with the same `array` are in the same array.
struct ArrayPos {
  uint32_t array;
  uint32_t index;
};

// One array element the walk entered on a named path, in the tree of elements: the element it
// sits in (kNone: its array is outside every array) and how many arrays enclose it, itself
// included. Values refer to their innermost element, so a value costs O(1) to record however deep
// it sits (one copy of the whole path per value would be O(depth): gigabytes for 100,000 values
// 999 arrays deep).
struct ArrayElement {
  ArrayPos pos;
  uint32_t parent;
  uint32_t depth;
};

// One value found at a path some rule names. Views stay valid until the next walk with the same
// scratch (decoded strings live in WalkScratch::decoded).
struct WalkedValue {
  uint32_t field;
  ValueType type;
  bool number_ok;         // kNumber: `number` is its correctly rounded double (false: 1e309)
  std::string_view text;  // kString: the decoded bytes; kNumber: the literal token
  double number;          // see number_ok; -0 stays -0 here
  uint32_t element;       // innermost enclosing array element (WalkScratch::elements), or kNone
};

// Receives the values of one walk, in event order. (A virtual call per value found, not per
// byte: the walk reports only values at paths rules name.)
class ValueSink {
 public:
  virtual void on_value(const WalkedValue& value) = 0;

 protected:
  ~ValueSink() = default;
};

// Buffers of the walk, reused across events by one thread (after warm-up, no allocation).
struct WalkScratch {
  // An object open on the walk's path: which named children it has read.
  struct Frame {
    uint64_t need;     // PathNode::child_bits
    uint64_t seen;     // read completely
    uint64_t pending;  // being read now
  };
  std::string decoded;  // unescaped string values of the current event
  std::string key;      // an object key with escapes, decoded
  std::vector<Frame> frames;
  std::vector<ArrayElement> elements;  // every array element entered, in event order
};

// Walks `event_json` along `index` and reports every value at a path with a field to `sink`.
// Parts of the event no path names are skipped structurally; the walk stops early once every
// open object has read all its named children (outside any array) and the rest of the event
// holds none of the named key segments (for CityLots2's `properties.*` rules: before the
// 600-byte geometry). Errors (kInvalidArgument): the event is not a JSON object, malformed JSON
// met on the way ("event is not valid JSON: <what> at offset N"), or an object or array deeper
// than kMaxEventDepth along a named path.
Status walk_event(std::string_view event_json, const PathIndex& index, WalkScratch& scratch,
                  ValueSink& sink);

}  // namespace hikyaku::pattern::internal
