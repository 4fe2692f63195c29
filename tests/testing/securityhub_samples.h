#pragma once
// The Security Hub sample events of tests/data/securityhub/ as the process tests publish them.
// Needs HIKYAKU_TEST_DATA_DIR (every hikyaku_test has it) and simdjson.

#include <simdjson.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_writer.h"

namespace hikyaku::testing {

// The path of sample `name` ("01-fsbp-ec2-19-critical-failed.json").
inline std::string sample_path(std::string_view name) {
  return std::string(HIKYAKU_TEST_DATA_DIR) + "/data/securityhub/" + std::string(name);
}

// A whole file's bytes ("" when it cannot be read).
inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// The PutEvents entry ({"Source", "DetailType", "Detail"}) that ingests as `event` (an envelope).
inline void write_put_events_entry(JsonWriter& writer, simdjson::dom::element event) {
  writer.begin_object();
  writer.key("Source");
  writer.string(std::string_view(event["source"]));
  writer.key("DetailType");
  writer.string(std::string_view(event["detail-type"]));
  writer.key("Detail");
  writer.string(simdjson::minify(event["detail"]));
  writer.end_object();
}

// PutEvents entries (the AWS CLI's --entries JSON) for sample event files, one entry each.
inline std::string put_events_entries(const std::vector<std::string>& files) {
  JsonWriter writer;
  writer.begin_array();
  simdjson::dom::parser parser;
  for (const std::string& name : files) {
    write_put_events_entry(writer, parser.load(sample_path(name)));
  }
  writer.end_array();
  return writer.take();
}

}  // namespace hikyaku::testing
