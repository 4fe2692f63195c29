#include "config/internal/yaml_reader.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <utility>

#include "config/internal/did_you_mean.h"
#include "config/internal/substitute.h"
#include "core/json_writer.h"

namespace hikyaku::config::internal {

SourceLocation location_of(const YAML::Node& node) {
  if (!node.IsDefined() || node.Mark().is_null()) {
    return {};
  }
  return {node.Mark().line + 1, node.Mark().column + 1};
}

std::string join(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

std::string index(const std::string& path, size_t i) { return fmt::format("{}[{}]", path, i); }

const char* kind_name(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Null:
      return "null";
    case YAML::NodeType::Undefined:
      return "nothing";
  }
  return "unknown";
}

YamlReader::YamlReader(std::string file, LoadOptions options)
    : file_(std::move(file)), options_(std::move(options)) {
  if (options_.base_directory.empty() && !file_.empty()) {
    options_.base_directory = std::filesystem::path(file_).parent_path().string();
  }
}

void YamlReader::add_error(const YAML::Node& node, const std::string& path, std::string message) {
  errors_.push_back({file_, location_of(node), path, std::move(message)});
}

void YamlReader::add_error(SourceLocation location, const std::string& path, std::string message) {
  errors_.push_back({file_, location, path, std::move(message)});
}

void YamlReader::add_warning(const YAML::Node& node, const std::string& path, std::string message) {
  warnings_.push_back({file_, location_of(node), path, std::move(message)});
}

void YamlReader::add_warning(SourceLocation location, const std::string& path,
                             std::string message) {
  warnings_.push_back({file_, location, path, std::move(message)});
}

// Masked when taken rather than when added: a value resolved after a message was written (a
// name that cross_check() quotes) is masked as well.
std::vector<ConfigError> YamlReader::take_errors() {
  for (ConfigError& error : errors_) {
    error.message = without_resolved_values(std::move(error.message));
  }
  return std::move(errors_);
}

std::vector<ConfigError> YamlReader::take_warnings() {
  for (ConfigError& warning : warnings_) {
    warning.message = without_resolved_values(std::move(warning.message));
  }
  return std::move(warnings_);
}

namespace {

void replace_all(std::string& text, std::string_view from, std::string_view to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

}  // namespace

std::string YamlReader::without_resolved_values(std::string message) const {
  for (const Masked& masked : resolved_) {
    if (masked.value.size() >= kMinMaskedLength) {
      replace_all(message, masked.value, masked.reference);
    } else {
      replace_all(message, "\"" + masked.value + "\"", "\"" + masked.reference + "\"");
    }
  }
  return message;
}

void YamlReader::remember(const std::vector<ResolvedReference>& references) {
  auto add = [this](std::string value, const std::string& reference) {
    if (value.empty()) {
      return;
    }
    const auto same = [&](const Masked& m) { return m.value == value; };
    if (std::find_if(resolved_.begin(), resolved_.end(), same) != resolved_.end()) {
      return;
    }
    // Longest first, so that a value containing another is replaced whole.
    const auto position = std::find_if(resolved_.begin(), resolved_.end(), [&](const Masked& m) {
      return m.value.size() < value.size();
    });
    resolved_.insert(position, {std::move(value), reference});
  };
  for (const ResolvedReference& resolved : references) {
    add(resolved.value, resolved.reference);
    std::string escaped;
    append_json_string(escaped, resolved.value);
    add(escaped.substr(1, escaped.size() - 2), resolved.reference);
    // A piece can be quoted alone: a line of a file, a string inside JSON text (a component
    // quoting the line or the member it choked on).
    for (std::string_view separators :
         {std::string_view("\r\n"), std::string_view("\r\n\t \"{}[],:")}) {
      std::string_view rest = resolved.value;
      while (!rest.empty()) {
        const size_t end = rest.find_first_of(separators);
        const std::string_view piece = rest.substr(0, end);
        if (piece.size() >= kMinMaskedLength && piece.size() < resolved.value.size()) {
          add(std::string(piece), resolved.reference);
        }
        rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
      }
    }
  }
}

std::string YamlReader::quoted(const YAML::Node& node, const std::string& value) {
  if (node.IsScalar() && node.Scalar().find("${") != std::string::npos) {
    return "\"" + node.Scalar() + "\"";
  }
  return "\"" + value + "\"";
}

bool YamlReader::check_map(const YAML::Node& node, const std::string& path, Keys allowed) {
  if (!node.IsMap()) {
    add_error(node, path, fmt::format("must be a mapping, got {}", kind_name(node)));
    return false;
  }
  std::set<std::string> seen;
  for (const auto& entry : node) {
    const std::string key = entry.first.Scalar();
    if (!seen.insert(key).second) {
      add_error(entry.first, join(path, key), "duplicate key");
      continue;
    }
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      std::string allowed_list;
      for (std::string_view name : allowed) {
        allowed_list += allowed_list.empty() ? "" : ", ";
        allowed_list += name;
      }
      add_error(
          entry.first, join(path, key),
          fmt::format("unknown key{}; allowed here: {}", did_you_mean(key, allowed), allowed_list));
    }
  }
  return true;
}

bool YamlReader::check_sequence(const YAML::Node& node, const std::string& path) {
  if (node.IsSequence()) {
    return true;
  }
  add_error(node, path, fmt::format("must be a list, got {}", kind_name(node)));
  return false;
}

bool YamlReader::require(const YAML::Node& parent, const std::string& path, std::string_view key) {
  if (parent[std::string(key)]) {
    return true;
  }
  add_error(parent, join(path, key), "is required");
  return false;
}

std::optional<std::string> YamlReader::read_string(const YAML::Node& node,
                                                   const std::string& path) {
  if (!node.IsScalar()) {
    add_error(node, path, fmt::format("must be a string, got {}", kind_name(node)));
    return std::nullopt;
  }
  Result<Substitution> resolved =
      substitute(node.Scalar(), options_.environment,
                 {options_.base_directory, options_.allow_file_references_outside_config_dir});
  if (!resolved.has_value()) {
    add_error(node, path, resolved.error().message());
    return std::nullopt;
  }
  remember(resolved->references);
  return std::move(resolved->value);
}

bool YamlReader::read_string_into(const YAML::Node& parent, const std::string& path,
                                  std::string_view key, std::string& out) {
  const YAML::Node node = parent[std::string(key)];
  if (!node) {
    return false;
  }
  if (auto value = read_string(node, join(path, key))) {
    out = std::move(*value);
    return true;
  }
  return false;
}

void YamlReader::read_secret_into(const YAML::Node& parent, const std::string& path,
                                  std::string_view key, Secret& out) {
  std::string value;
  read_string_into(parent, path, key, value);
  out = Secret(std::move(value));
}

std::vector<std::string> YamlReader::read_string_list(const YAML::Node& node,
                                                      const std::string& path) {
  std::vector<std::string> values;
  if (!check_sequence(node, path)) {
    return values;
  }
  for (size_t i = 0; i < node.size(); ++i) {
    if (auto value = read_string(node[i], index(path, i))) {
      values.push_back(std::move(*value));
    }
  }
  return values;
}

std::optional<int64_t> YamlReader::read_integer(const YAML::Node& node, const std::string& path,
                                                int64_t minimum, int64_t maximum) {
  std::optional<std::string> text = read_string(node, path);
  if (!text) {
    return std::nullopt;
  }
  char* end = nullptr;
  errno = 0;
  const int64_t value = std::strtoll(text->c_str(), &end, 10);
  if (text->empty() || *end != '\0' || errno != 0) {
    add_error(node, path, fmt::format("must be an integer, got {}", quoted(node, *text)));
    return std::nullopt;
  }
  if (value < minimum || value > maximum) {
    add_error(node, path,
              fmt::format("must be between {} and {}, got {}", minimum, maximum,
                          node.Scalar().find("${") == std::string::npos ? std::to_string(value)
                                                                        : quoted(node, *text)));
    return std::nullopt;
  }
  return value;
}

std::optional<bool> YamlReader::read_bool(const YAML::Node& node, const std::string& path) {
  std::optional<std::string> text = read_string(node, path);
  if (!text) {
    return std::nullopt;
  }
  if (*text == "true" || *text == "True" || *text == "TRUE") {
    return true;
  }
  if (*text == "false" || *text == "False" || *text == "FALSE") {
    return false;
  }
  add_error(node, path, fmt::format("must be true or false, got {}", quoted(node, *text)));
  return std::nullopt;
}

std::optional<std::string> YamlReader::read_enum(const YAML::Node& node, const std::string& path,
                                                 Keys choices) {
  std::optional<std::string> text = read_string(node, path);
  if (!text) {
    return std::nullopt;
  }
  if (std::find(choices.begin(), choices.end(), *text) != choices.end()) {
    return text;
  }
  std::string list;
  for (std::string_view choice : choices) {
    list += list.empty() ? "" : " | ";
    list += choice;
  }
  add_error(node, path,
            fmt::format("must be one of {}, got {}{}", list, quoted(node, *text),
                        did_you_mean(*text, choices)));
  return std::nullopt;
}

}  // namespace hikyaku::config::internal
