#include "testing/pattern_cases.h"

#include <simdjson.h>

#include <algorithm>

namespace hikyaku::testing {

namespace fs = std::filesystem;

namespace {

std::string trim(std::string_view s) {
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return std::string(s);
}

// A string's contents, or the raw JSON text of any other value (number spellings survive).
simdjson::error_code raw_or_string(simdjson::ondemand::value v, std::string& out) {
  simdjson::ondemand::json_type type;
  if (auto err = v.type().get(type)) {
    return err;
  }
  std::string_view text;
  if (type == simdjson::ondemand::json_type::string) {
    if (auto err = v.get_string().get(text)) {
      return err;
    }
    out = std::string(text);
    return simdjson::SUCCESS;
  }
  if (type == simdjson::ondemand::json_type::object) {
    simdjson::ondemand::object obj;
    if (auto err = v.get_object().get(obj); err || (err = obj.raw_json().get(text))) {
      return err;
    }
  } else if (type == simdjson::ondemand::json_type::array) {
    simdjson::ondemand::array arr;
    if (auto err = v.get_array().get(arr); err || (err = arr.raw_json().get(text))) {
      return err;
    }
  } else {
    text = v.raw_json_token();
  }
  out = trim(text);
  return simdjson::SUCCESS;
}

}  // namespace

std::vector<PatternCase> load_pattern_cases(const fs::path& path) {
  std::vector<PatternCase> cases;
  const std::string stem = path.stem().string();
  auto fail = [&](const std::string& why) {
    PatternCase c;
    c.file = stem;
    c.name = stem + ".load_error";
    c.load_error = path.string() + ": " + why;
    cases.push_back(c);
    return cases;
  };
  simdjson::padded_string json;
  if (auto err = simdjson::padded_string::load(path.string()).get(json)) {
    return fail(simdjson::error_message(err));
  }
  simdjson::ondemand::parser parser;
  simdjson::ondemand::document doc;
  simdjson::ondemand::array items;
  if (auto err = parser.iterate(json).get(doc); err || (err = doc.get_array().get(items))) {
    return fail(simdjson::error_message(err));
  }
  for (auto item : items) {
    simdjson::ondemand::object obj;
    if (auto err = item.get_object().get(obj)) {
      return fail(simdjson::error_message(err));
    }
    PatternCase c;
    c.file = stem;
    for (auto field : obj) {
      std::string_view key;
      simdjson::ondemand::value value;
      if (auto err = field.unescaped_key().get(key); err || (err = field.value().get(value))) {
        return fail(simdjson::error_message(err));
      }
      std::string text;
      if (auto err = raw_or_string(value, text)) {
        return fail(simdjson::error_message(err));
      }
      if (key == "name") {
        c.name = text;
      } else if (key == "pattern") {
        c.pattern = text;
      } else if (key == "event") {
        c.event = text;
      } else if (key == "expect") {
        c.expect = text;
      } else if (key == "divergence") {
        c.divergence = text;
      } else if (key == "error_contains") {
        c.error_contains = text;
      } else {
        c.load_error = "unknown key \"" + std::string(key) + "\"";
      }
    }
    cases.push_back(c);
  }
  return cases;
}

std::vector<PatternCase> load_pattern_case_dir(const fs::path& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".json") {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  std::vector<PatternCase> all;
  for (const fs::path& f : files) {
    std::vector<PatternCase> cases = load_pattern_cases(f);
    all.insert(all.end(), cases.begin(), cases.end());
  }
  return all;
}

std::string outcome_of(const Result<bool>& r) {
  if (r.has_value()) {
    return *r ? "match" : "nomatch";
  }
  return r.error().message().starts_with("event: ") ? "invalid-event" : "invalid";
}

std::string pattern_case_test_name(const PatternCase& c, size_t index) {
  std::string name = c.name;
  for (char& ch : name) {
    const bool alnum =
        (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
    if (!alnum) {
      ch = '_';
    }
  }
  return name + "_" + std::to_string(index);
}

}  // namespace hikyaku::testing
