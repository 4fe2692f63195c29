#pragma once
// The toolkit the section readers share: typed reads of YAML values with ${...} references
// resolved, structure checks (known keys, required keys, lists), and the error list every
// problem goes into with its line, column and key path. Reading never stops at the first
// problem: a failed read is reported and returns nothing, and the caller carries on.
//
// Secrets in messages: every value a ${...} reference resolved to is remembered, and every error
// and warning added here shows the reference instead wherever the value (or its JSON-escaped
// form, or one of its lines, or one of its words: text between blanks and JSON punctuation)
// appears in the message, whichever reader or component wrote it. Environment values that were
// not set (a ${NAME:-default} falling back to its default) are not masked: the default is written
// in the config. A
// value (or piece) shorter than kMinMaskedLength is replaced only where a message quotes it whole
// ("ab"), so that a short value does not garble the words around it; the typed reads (integer,
// bool, enum) quote the text as written, references unresolved, to begin with.
//
// Thread safety: a YamlReader belongs to one load on one thread.

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"
#include "config/internal/substitute.h"
#include "core/secret.h"

namespace hikyaku::config::internal {

using Keys = std::initializer_list<std::string_view>;

// Where `node` starts (1-based); {} when the node has no mark.
SourceLocation location_of(const YAML::Node& node);
// Key paths: join("Rules[0]", "Targets") = "Rules[0].Targets"; index("Rules", 2) = "Rules[2]".
std::string join(const std::string& path, std::string_view key);
std::string index(const std::string& path, size_t i);
// "a mapping", "a list", "a scalar", ... for "must be X, got Y" messages.
const char* kind_name(const YAML::Node& node);

// See above: shorter resolved values are masked only where quoted whole.
inline constexpr size_t kMinMaskedLength = 8;

class YamlReader {
 public:
  // `options.base_directory` empty means the folder of `file` (for ${file:relative}).
  YamlReader(std::string file, LoadOptions options);

  void add_error(const YAML::Node& node, const std::string& path, std::string message);
  void add_error(SourceLocation location, const std::string& path, std::string message);
  size_t error_count() const { return errors_.size(); }
  std::vector<ConfigError> take_errors();
  // A problem that does not fail the load.
  void add_warning(const YAML::Node& node, const std::string& path, std::string message);
  void add_warning(SourceLocation location, const std::string& path, std::string message);
  std::vector<ConfigError> take_warnings();

  // Checks that `node` is a mapping whose keys are all in `allowed`, reporting unknown (with a
  // hint) and duplicate keys. Returns false when it is not a mapping.
  bool check_map(const YAML::Node& node, const std::string& path, Keys allowed);
  // Reports that `node` is not a list.
  bool check_sequence(const YAML::Node& node, const std::string& path);
  // Reports `key` missing from `parent`.
  bool require(const YAML::Node& parent, const std::string& path, std::string_view key);

  // `message` with every resolved reference value replaced by the reference (see above).
  std::string without_resolved_values(std::string message) const;

  // A scalar as a string with ${...} resolved; reference errors never show a resolved value.
  std::optional<std::string> read_string(const YAML::Node& node, const std::string& path);
  // parent[key] into `out`; false when the key is absent or could not be read (reported).
  bool read_string_into(const YAML::Node& parent, const std::string& path, std::string_view key,
                        std::string& out);
  void read_secret_into(const YAML::Node& parent, const std::string& path, std::string_view key,
                        Secret& out);
  std::vector<std::string> read_string_list(const YAML::Node& node, const std::string& path);
  // A base-10 integer in [minimum, maximum].
  std::optional<int64_t> read_integer(const YAML::Node& node, const std::string& path,
                                      int64_t minimum, int64_t maximum);
  // true/True/TRUE or false/False/FALSE.
  std::optional<bool> read_bool(const YAML::Node& node, const std::string& path);
  // One of `choices`, exactly (AWS's enums are case-sensitive).
  std::optional<std::string> read_enum(const YAML::Node& node, const std::string& path,
                                       Keys choices);

 private:
  // How a message quotes a value read from `node`: the value, or the text as written when it
  // holds a reference.
  static std::string quoted(const YAML::Node& node, const std::string& value);
  void remember(const std::vector<ResolvedReference>& references);

  std::string file_;
  LoadOptions options_;
  struct Masked {
    std::string value;
    std::string reference;
  };
  std::vector<Masked> resolved_;  // longest value first
  std::vector<ConfigError> errors_;
  std::vector<ConfigError> warnings_;
};

}  // namespace hikyaku::config::internal
