#include "transform/event_splitter.h"

#include <fmt/format.h>
#include <simdjson.h>

#include "transform/internal/json_path.h"

namespace hikyaku::transform {
namespace {

namespace od = simdjson::ondemand;

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && (text.back() == ' ' || text.back() == '\n' || text.back() == '\r' ||
                           text.back() == '\t')) {
    text.remove_suffix(1);
  }
  return text;
}

// The text of `value` as written (this simdjson has raw_json() on objects and arrays only).
Result<std::string_view> raw_text(od::value& value) {
  od::json_type type;
  if (value.type().get(type) != simdjson::SUCCESS) {
    return invalid_argument("unreadable");
  }
  std::string_view text;
  simdjson::error_code error = simdjson::SUCCESS;
  if (type == od::json_type::object) {
    od::object object;
    error = value.get_object().get(object);
    if (error == simdjson::SUCCESS) {
      error = object.raw_json().get(text);
    }
  } else if (type == od::json_type::array) {
    od::array array;
    error = value.get_array().get(array);
    if (error == simdjson::SUCCESS) {
      error = array.raw_json().get(text);
    }
  } else {
    text = value.raw_json_token();
  }
  if (error != simdjson::SUCCESS) {
    return invalid_argument("unreadable");
  }
  return text;
}

}  // namespace

Result<EventSplitter> EventSplitter::compile(std::string_view path) {
  HK_ASSIGN_OR_RETURN(const internal::JsonPath parsed, internal::parse_json_path(path));
  if (parsed.steps.empty()) {
    return invalid_argument(fmt::format("\"{}\" names the whole event, not an array in it", path));
  }
  std::vector<std::string> names;
  for (const internal::PathStep& step : parsed.steps) {
    if (step.kind != internal::PathStep::Kind::kMember) {
      return invalid_argument(fmt::format(
          "\"{}\": only member names (`.name`) may lead to the array, no index or wildcard", path));
    }
    names.push_back(step.name);
  }
  return EventSplitter(std::string(path), std::move(names));
}

Status EventSplitter::split(std::string_view event_json, std::vector<std::string>& pieces) const {
  pieces.clear();
  const simdjson::padded_string padded(event_json);
  od::parser parser;
  od::document document;
  od::object object;
  if (parser.iterate(padded).get(document) != simdjson::SUCCESS ||
      document.get_object().get(object) != simdjson::SUCCESS) {
    return invalid_argument("the event is not a JSON object");
  }
  // Walk to the array; anything else on the way means there is nothing to split.
  od::value value;
  for (size_t i = 0; i < names_.size(); ++i) {
    if (object.find_field_unordered(names_[i]).get(value) != simdjson::SUCCESS) {
      pieces.emplace_back(event_json);
      return ok_status();
    }
    if (i + 1 < names_.size() && value.get_object().get(object) != simdjson::SUCCESS) {
      pieces.emplace_back(event_json);
      return ok_status();
    }
  }
  od::array array;
  std::string_view array_text;
  if (value.get_array().get(array) != simdjson::SUCCESS ||
      array.raw_json().get(array_text) != simdjson::SUCCESS) {
    pieces.emplace_back(event_json);
    return ok_status();
  }
  array_text = trimmed(array_text);
  const auto array_at = static_cast<size_t>(array_text.data() - padded.data());
  const std::string_view before = event_json.substr(0, array_at);
  const std::string_view after = event_json.substr(array_at + array_text.size());

  // The elements, as written: the array's text parsed on its own.
  const simdjson::padded_string padded_array(array_text);
  od::parser element_parser;
  od::document elements;
  od::array element_array;
  if (element_parser.iterate(padded_array).get(elements) != simdjson::SUCCESS ||
      elements.get_array().get(element_array) != simdjson::SUCCESS) {
    return invalid_argument(fmt::format("{} cannot be read as an array", path_));
  }
  for (auto element : element_array) {
    od::value item;
    if (element.get(item) != simdjson::SUCCESS) {
      return invalid_argument(fmt::format("an element of {} cannot be read", path_));
    }
    Result<std::string_view> raw = raw_text(item);
    if (!raw.has_value()) {
      return invalid_argument(fmt::format("an element of {} cannot be read", path_));
    }
    std::string_view text = *raw;
    text = trimmed(text);
    std::string piece;
    piece.reserve(before.size() + text.size() + after.size() + 2);
    piece.append(before).append("[").append(text).append("]").append(after);
    pieces.push_back(std::move(piece));
  }
  return ok_status();
}

}  // namespace hikyaku::transform
