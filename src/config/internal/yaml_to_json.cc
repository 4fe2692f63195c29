#include "config/internal/yaml_to_json.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <utility>

#include "core/json_number.h"
#include "core/json_writer.h"

namespace hikyaku::config::internal {
namespace {

bool append_json(YamlReader& reader, const YAML::Node& node, const std::string& path, int depth,
                 std::string& out);

bool append_json_map(YamlReader& reader, const YAML::Node& node, const std::string& path, int depth,
                     std::string& out) {
  out += '{';
  bool first = true;
  for (const auto& entry : node) {
    if (!entry.first.IsScalar()) {
      reader.add_error(entry.first, path, "keys must be strings");
      return false;
    }
    if (entry.first.Scalar() == "<<" && entry.first.Tag() != "!") {
      reader.add_error(entry.first, join(path, "<<"),
                       R"(YAML merge keys (<<) are not supported here: write the keys out (or )"
                       R"(quote "<<" for a field of that name))");
      return false;
    }
    out += first ? "" : ",";
    first = false;
    append_json_string(out, entry.first.Scalar());
    out += ':';
    if (!append_json(reader, entry.second, join(path, entry.first.Scalar()), depth + 1, out)) {
      return false;
    }
  }
  out += '}';
  return true;
}

bool append_json_sequence(YamlReader& reader, const YAML::Node& node, const std::string& path,
                          int depth, std::string& out) {
  out += '[';
  for (size_t i = 0; i < node.size(); ++i) {
    out += i == 0 ? "" : ",";
    if (!append_json(reader, node[i], index(path, i), depth + 1, out)) {
      return false;
    }
  }
  out += ']';
  return true;
}

// A quoted scalar is always a string; a plain one keeps the JSON type it reads as.
bool append_json_scalar(YamlReader& reader, const YAML::Node& node, const std::string& path,
                        std::string& out) {
  const bool quoted = node.Tag() == "!";
  std::optional<std::string> value = reader.read_string(node, path);
  if (!value) {
    return false;
  }
  if (!quoted) {
    if (*value == "null" || *value == "~") {
      out += "null";
      return true;
    }
    if (*value == "true" || *value == "false" || is_json_number(*value)) {
      out += *value;
      return true;
    }
  }
  append_json_string(out, *value);
  return true;
}

bool append_json(YamlReader& reader, const YAML::Node& node, const std::string& path, int depth,
                 std::string& out) {
  if (depth > kMaxPatternDepth) {
    reader.add_error(node, path, fmt::format("nested deeper than {} levels", kMaxPatternDepth));
    return false;
  }
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return append_json_map(reader, node, path, depth, out);
    case YAML::NodeType::Sequence:
      return append_json_sequence(reader, node, path, depth, out);
    case YAML::NodeType::Null:
      out += "null";
      return true;
    case YAML::NodeType::Scalar:
      return append_json_scalar(reader, node, path, out);
    case YAML::NodeType::Undefined:
      break;
  }
  reader.add_error(node, path, "has no value");
  return false;
}

}  // namespace

std::optional<std::string> read_json_text(YamlReader& reader, const YAML::Node& node,
                                          const std::string& path) {
  std::string json;
  if (node.IsScalar() && node.Tag() == "!") {
    std::optional<std::string> text = reader.read_string(node, path);
    if (!text) {
      return std::nullopt;
    }
    json = std::move(*text);
  } else if (!append_json(reader, node, path, 0, json)) {
    return std::nullopt;
  }
  simdjson::dom::parser parser;
  simdjson::dom::element element;
  if (auto error = parser.parse(json).get(element); error != simdjson::SUCCESS) {
    reader.add_error(node, path,
                     fmt::format("is not valid JSON: {}", simdjson::error_message(error)));
    return std::nullopt;
  }
  return json;
}

}  // namespace hikyaku::config::internal
