#pragma once
// Target input: what a rule's target receives for a matched event (EventBridge's Input,
// InputPath and InputTransformer, plus hikyaku's BodyEncoding).
//
// A Transformer is compiled once from a target's configuration and then renders bodies for any
// number of events, from any number of threads:
//
//   TargetInput spec;
//   spec.input_transformer = InputTransformerSpec{
//       {{"title", "$.detail.findings[0].Title"}, {"sev", "$.detail.findings[0].Severity.Label"}},
//       R"({"summary": "[<sev>] <title>", "rule": <aws.events.rule-name>})"};
//   HK_ASSIGN_OR_RETURN(Transformer t, Transformer::compile(spec));
//   RenderContext context{.rule_name = "shub-to-backlog", .rule_arn = "...",
//                         .ingestion_time = "2026-03-02T01:15:45Z"};
//   HK_ASSIGN_OR_RETURN(std::string body, t.render(event_json, context));
//
// Behaviour follows docs/input-transformer.md (the § numbers below are its sections):
// - InputPathsMap paths use the JSONPath subset AWS accepts: `$`, `.name` (letters, digits, `-`,
//   `_`, `/`), `[N]`, `.*` and `[*]`. They are evaluated against the original event. A path that
//   matches nothing makes its variable "missing". A path with a wildcard yields the JSON array of
//   every match in document order (`[]` when nothing matches).
// - InputTemplate: `<name>` is a placeholder when `name` is an InputPathsMap key or a predefined
//   variable (`aws.events.rule-arn`, `aws.events.rule-name`, `aws.events.event.ingestion-time`,
//   `aws.events.event`, `aws.events.event.json`). Text in `<...>` that is not a valid variable
//   name (`<br />`, `a < b`, `<user@example.com>`) is literal; a valid name that is not defined
//   (`<br>`, `<Sumary>`) is a configuration error with a "did you mean" hint.
// - A template whose first non-whitespace character is `{` is a JSON template; anything else is
//   a string template rendered byte for byte (quotes the author wrote included). Rendering per
//   value type and position is the table of §5. A JSON template must be valid JSON with every
//   placeholder standing for a value (checked at compile time); its output is then always valid
//   JSON: text inserted inside a JSON string is escaped, which is where hikyaku differs from AWS
//   (AWS emits invalid JSON there and drops the event, §3.2). Output that AWS renders as valid
//   JSON is reproduced byte for byte, except that inserted U+2028/U+2029 characters are written
//   as \u2028/\u2029 (same JSON value).
// - BodyEncoding kForm turns the JSON output into application/x-www-form-urlencoded: each
//   top-level key is a field, an array becomes repeated `key[]=value` fields (a key already
//   ending in `[]` keeps it), a nested object is an error; strings are sent unquoted, `null` and
//   missing values as empty fields.
//
// Choices where AWS's behaviour is unconfirmed (docs/input-transformer.md marks them so): numbers
// are copied as the event writes them (`1.5e3` stays `1.5e3`); `null` renders `null` everywhere;
// objects and arrays are copied compactly (no whitespace); in a string template an object or
// array loses every `"` byte, escaped ones included; a wildcard path gives an array; InputPath on
// a missing path gives `""`; <aws.events.event> and <aws.events.event.json> follow the table like
// any object (escaped inside a JSON string, quotes removed in a string template); a JSON template
// may start after whitespace, and one starting with `[` is a string template.
//
// Thread safety: a Transformer is immutable once compiled; copies share the compiled state, and
// all const methods may be called concurrently. render() keeps one simdjson parser and scratch
// buffers per thread (thread_local), reused across calls and across Transformers.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace hikyaku::transform {

namespace internal {
struct CompiledInput;
struct CompiledValues;
}  // namespace internal

// Limits (AWS's, from the API model).
inline constexpr size_t kMaxInputPathsMapEntries = 100;
inline constexpr size_t kMaxInputPathsMapKeyChars = 256;
inline constexpr size_t kMaxPathChars = 256;  // InputPath and InputPathsMap values
inline constexpr size_t kMaxInputTemplateChars = 8192;
inline constexpr size_t kMaxInputChars = 8192;

// How a target's body is encoded on the wire.
enum class BodyEncoding {
  kJson,  // as rendered; Content-Type application/json; charset=utf-8
  kForm,  // application/x-www-form-urlencoded (hikyaku extension, for Backlog's API)
};

// Parses the config value "JSON" or "FORM" (exact, upper case).
// Errors: kInvalidArgument naming the value and the accepted ones.
Result<BodyEncoding> parse_body_encoding(std::string_view text);

// The Content-Type header value for an encoding.
std::string_view content_type(BodyEncoding encoding);

// EventBridge's InputTransformer.
struct InputTransformerSpec {
  // InputPathsMap in configuration order: variable name -> JSONPath.
  std::vector<std::pair<std::string, std::string>> input_paths_map;
  std::string input_template;
};

// The input part of a rule target, as configured. At most one of input, input_path and
// input_transformer may be set; none means "the whole event".
struct TargetInput {
  std::optional<std::string> input;       // constant JSON text
  std::optional<std::string> input_path;  // one JSONPath
  std::optional<InputTransformerSpec> input_transformer;
  BodyEncoding body_encoding = BodyEncoding::kJson;
};

// Per-event values of the predefined variables. The views must stay valid during render().
// The pipeline builds them with hikyaku::rule_arn (core/arn.h) and format_rfc3339_seconds
// (core/time.h), as EventBridge writes them.
struct RenderContext {
  std::string_view rule_name;       // <aws.events.rule-name>
  std::string_view rule_arn;        // <aws.events.rule-arn>
  std::string_view ingestion_time;  // <aws.events.event.ingestion-time>, and the "time" member of
                                    // <aws.events.event> (AWS's recording shows the ingestion
                                    // time there, not the event's time)
};

class Transformer {
 public:
  enum class Kind { kWholeEvent, kInput, kInputPath, kInputTransformer };

  // Compiles and validates a target's input configuration.
  // Errors (all kInvalidArgument; the message starts with the offending member, e.g.
  // `InputTransformer.InputPathsMap.fid: ...` or `InputTransformer.InputTemplate: ...`, and the
  // caller prefixes the target's location):
  // - more than one of Input, InputPath, InputTransformer;
  // - Input longer than 8192 characters or not valid JSON (and, for kForm, not a JSON object of
  //   scalars and arrays of scalars);
  // - a path longer than 256 characters or outside the supported JSONPath subset;
  // - more than 100 InputPathsMap entries; a key that is empty, longer than 256 characters, not
  //   [A-Za-z0-9_-]+, or duplicated;
  // - an InputTemplate that is empty or longer than 8192 characters (UTF-16 units, as AWS
  //   counts), uses an undefined placeholder (with a "did you mean" hint), uses a placeholder
  //   as an object key, or starts with `{` but is not valid JSON;
  // - kForm with a string template, or with a JSON template that has a nested object literal.
  static Result<Transformer> compile(const TargetInput& spec);

  // Renders the body for one event into `out` (cleared first).
  // `event_json` is the event envelope as JSON text (an object); the parts of it that the
  // transformer copies into the output are validated, others are not read (kWholeEvent copies
  // the text verbatim without parsing it, unless the encoding is kForm).
  // Errors: kInvalidArgument when the event is not valid JSON where it is read, has an object or
  // array nested deeper than core/envelope.h's kMaxEventNestingDepth (1,000 levels, the envelope
  // being level 1) where it is read, or cannot be form-encoded (kForm: not an object, a nested
  // object, an array inside an array). Such an event cannot be delivered to this target; it is
  // AWS's "not delivered" case, surfaced as an error instead of silence. Every event within the
  // limit renders: the stack used does not grow with the event's depth (recursion follows the
  // configured paths only; copying an object or array out of the event is iterative).
  // Cost: one simdjson on-demand pass over the event that stops once every path is resolved;
  // the template is not re-parsed. Not reentrant from within itself (no callbacks exist).
  Status render_to(std::string_view event_json, const RenderContext& context,
                   std::string& out) const;

  // Same as render_to(), returning a new string.
  Result<std::string> render(std::string_view event_json, const RenderContext& context) const;

  Kind kind() const;
  BodyEncoding body_encoding() const;
  // True for kInputTransformer with a JSON template (first non-space character `{`).
  bool is_json_template() const;

 private:
  explicit Transformer(std::shared_ptr<const internal::CompiledInput> impl)
      : impl_(std::move(impl)) {}

  std::shared_ptr<const internal::CompiledInput> impl_;  // never null
};

// Whether a target's HttpParameters value is a JSONPath into the event rather than a literal:
// EventBridge takes a value as a path when the whole value is one, i.e. when it starts with `$.`.
bool is_event_path(std::string_view value);

// Named JSONPaths resolved against an event to text: the dynamic values of a target's
// HttpParameters (path, header and query values), resolved at ingest because the delivery
// engine no longer has the event. Paths are evaluated exactly as InputPathsMap paths are (the
// same subset, the same single pass over the event).
//
//   HK_ASSIGN_OR_RETURN(PathValues values, PathValues::compile({{"header:X-Finding",
//                                                                "$.detail.id"}}));
//   values.render_to(event_json, out);  // {"header:X-Finding":"f-1"}
class PathValues {
 public:
  // Errors: kInvalidArgument naming the entry ("<name>: ...") for a path longer than 256
  // characters or outside the JSONPath subset.
  static Result<PathValues> compile(const std::vector<std::pair<std::string, std::string>>& named);

  // True when there is nothing to resolve; render_to() then writes "".
  bool empty() const;

  // Writes one flat JSON object of strings, in configuration order, holding only the names whose
  // path matched: a string value as its text (unquoted), anything else as compact JSON (a number
  // as the event writes it, true, false, null, an object or array). "" when empty().
  // Errors: as Transformer::render_to() for an event that cannot be read where a path leads.
  Status render_to(std::string_view event_json, std::string& out) const;

 private:
  explicit PathValues(std::shared_ptr<const internal::CompiledValues> impl)
      : impl_(std::move(impl)) {}
  std::shared_ptr<const internal::CompiledValues> impl_;  // null when empty
};

}  // namespace hikyaku::transform
