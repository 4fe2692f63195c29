#include "transform/internal/input_template.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>

namespace hikyaku::transform::internal {
namespace {

bool is_key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

bool is_json_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// A valid variable name: an InputPathsMap key ([A-Za-z0-9_-]+) or a dotted name like the
// predefined `aws.events.rule-name` (letter first, non-empty segments of key characters).
// Anything else between < and > is literal text (docs/input-transformer.md §3.1).
bool is_variable_name(std::string_view s) {
  if (s.empty()) {
    return false;
  }
  bool dotted = false;
  for (char c : s) {
    if (c == '.') {
      dotted = true;
    } else if (!is_key_char(c)) {
      return false;
    }
  }
  if (!dotted) {
    return true;
  }
  if (!is_alpha(s.front()) || s.back() == '.') {
    return false;
  }
  return s.find("..") == std::string_view::npos;
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) {
    row[j] = j;
  }
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      const size_t cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + cost});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

Status check_form_shape(simdjson::dom::element root) {
  simdjson::dom::object object;
  if (root.get_object().get(object) != simdjson::SUCCESS) {
    return invalid_argument("BodyEncoding FORM needs a JSON object");
  }
  for (auto field : object) {
    if (field.value.is<simdjson::dom::object>()) {
      return invalid_argument(
          fmt::format("BodyEncoding FORM cannot encode the nested object under key \"{}\"",
                      std::string_view(field.key)));
    }
    simdjson::dom::array array;
    if (field.value.get_array().get(array) == simdjson::SUCCESS) {
      for (auto element : array) {
        if (element.is<simdjson::dom::object>() || element.is<simdjson::dom::array>()) {
          return invalid_argument(fmt::format(
              "BodyEncoding FORM cannot encode an object or array inside the array under key "
              "\"{}\"",
              std::string_view(field.key)));
        }
      }
    }
  }
  return ok_status();
}

size_t utf16_length(std::string_view text) {
  size_t units = 0;
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if ((byte & 0xC0) != 0x80) {
      ++units;
    }
    if (byte >= 0xF0) {
      ++units;  // a 4-byte sequence is a surrogate pair in UTF-16
    }
  }
  return units;
}

std::string_view closest_name(std::string_view name,
                              const std::vector<std::string_view>& candidates) {
  std::string_view best;
  size_t best_distance = SIZE_MAX;
  for (std::string_view candidate : candidates) {
    const size_t d = edit_distance(name, candidate);
    if (d < best_distance) {
      best_distance = d;
      best = candidate;
    }
  }
  // A case-only difference scores 0; otherwise allow about one edit per three characters.
  const size_t allowed = std::max<size_t>(1, name.size() / 3);
  return best_distance <= allowed ? best : std::string_view();
}

Result<ParsedTemplate> parse_input_template(std::string_view text,
                                            const std::vector<std::string_view>& names, bool form) {
  ParsedTemplate parsed;
  const size_t first = text.find_first_not_of(" \t\n\r");
  parsed.json_mode = first != std::string_view::npos && text[first] == '{';

  // The probe is the template with each value placeholder replaced by `null` and each in-string
  // placeholder removed. `null` cannot merge with a neighbouring token or serve as a key, so a
  // valid probe means every rendering is valid whatever the values are.
  std::string probe;
  if (parsed.json_mode) {
    probe.reserve(text.size() + simdjson::SIMDJSON_PADDING);
  }
  bool in_string = false;
  size_t literal_start = 0;
  auto add_literal = [&](size_t end) {
    if (end > literal_start) {
      parsed.segments.push_back({static_cast<uint32_t>(literal_start),
                                 static_cast<uint32_t>(end - literal_start), -1, Position::kText});
    }
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '<') {
      size_t end = i + 1;
      while (end < text.size() && (is_key_char(text[end]) || text[end] == '.')) {
        ++end;
      }
      const std::string_view name = text.substr(i + 1, end - i - 1);
      if (end < text.size() && text[end] == '>' && is_variable_name(name)) {
        const auto it = std::find(names.begin(), names.end(), name);
        if (it == names.end()) {
          std::string message = fmt::format(
              "invalid placeholder <{}>: it is neither an InputPathsMap key nor a predefined "
              "variable",
              name);
          const std::string_view hint = closest_name(name, names);
          if (!hint.empty()) {
            message += fmt::format("; did you mean <{}>?", hint);
          } else {
            message +=
                " (text in <...> that is a valid variable name is always a placeholder; write "
                "markup such as <br /> with a space or slash to keep it literal)";
          }
          return invalid_argument(std::move(message));
        }
        Position position = Position::kText;
        if (parsed.json_mode) {
          position = in_string ? Position::kJsonInString : Position::kJsonValue;
        }
        if (position == Position::kJsonValue) {
          size_t next = end + 1;
          while (next < text.size() && is_json_space(text[next])) {
            ++next;
          }
          if (next < text.size() && text[next] == ':') {
            return invalid_argument(fmt::format(
                "placeholder <{}> is used as an object key; placeholders may only stand for "
                "values or sit inside string values",
                name));
          }
          probe += "null";
        }
        add_literal(i);
        parsed.segments.push_back({0, 0, static_cast<int>(it - names.begin()), position});
        i = end;
        literal_start = end + 1;
        continue;
      }
    }
    if (parsed.json_mode) {
      if (in_string) {
        if (c == '\\' && i + 1 < text.size() && (text[i + 1] == '"' || text[i + 1] == '\\')) {
          probe += c;
          probe += text[++i];
          continue;
        }
        if (c == '"') {
          in_string = false;
        }
      } else if (c == '"') {
        in_string = true;
      }
      probe += c;
    }
  }
  add_literal(text.size());

  if (parsed.json_mode) {
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    const auto error =
        parser.parse(probe.data(), probe.size(), /*realloc_if_needed=*/true).get(root);
    if (error != simdjson::SUCCESS) {
      return invalid_argument(fmt::format(
          "the template starts with '{{' so it is a JSON template, but it is not valid JSON "
          "with its placeholders standing for values ({}); AWS would drop every event",
          simdjson::error_message(error)));
    }
    if (form) {
      HK_RETURN_IF_ERROR(check_form_shape(root));
    }
  } else if (form) {
    return invalid_argument(
        "BodyEncoding FORM needs a JSON template (one that starts with '{'); a string template "
        "cannot be form-encoded");
  }
  return parsed;
}

}  // namespace hikyaku::transform::internal
