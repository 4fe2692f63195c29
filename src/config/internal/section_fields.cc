// Fields several sections share: resource names, URLs, ARNs.

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <optional>

#include "config/internal/sections.h"
#include "core/arn.h"
#include "core/redact.h"

namespace hikyaku::config::internal {

bool is_resource_name(std::string_view name) {
  if (name.empty() || name.size() > 64) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
  });
}

void read_name(YamlReader& reader, const YAML::Node& node, const std::string& path,
               std::string& out) {
  if (!reader.require(node, path, "Name")) {
    return;
  }
  reader.read_string_into(node, path, "Name", out);
  if (!out.empty() && !is_resource_name(out)) {
    reader.add_error(node["Name"], join(path, "Name"),
                     fmt::format("\"{}\" must be 1 to 64 characters of [.-_A-Za-z0-9]", out));
  }
}

void check_url(YamlReader& reader, const YAML::Node& node, const std::string& path,
               const std::string& url) {
  const bool http = url.rfind("http://", 0) == 0;
  const bool https = url.rfind("https://", 0) == 0;
  const size_t host_start = https ? 8 : 7;
  if ((!http && !https) || url.size() <= host_start || url[host_start] == '/') {
    reader.add_error(
        node, path, fmt::format("must be an http:// or https:// URL, got \"{}\"", redact_url(url)));
  } else if (url.size() > 2048) {
    reader.add_error(node, path, fmt::format("is {} characters; the limit is 2048", url.size()));
  }
}

std::string name_from_arn(YamlReader& reader, const YAML::Node& node, const std::string& path,
                          const std::string& arn, std::string_view kind) {
  const std::optional<std::string_view> name = arn_resource_name(arn, kind);
  if (!name) {
    reader.add_error(node, path,
                     fmt::format("\"{}\" is not an EventBridge {} ARN "
                                 "(arn:aws:events:REGION:ACCOUNT:{}/NAME/ID)",
                                 arn, kind, kind));
    return "";
  }
  return std::string(*name);
}

}  // namespace hikyaku::config::internal
