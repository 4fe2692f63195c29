#include "config/internal/substitute.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <system_error>
#include <utility>

#include "core/file.h"

namespace hikyaku::config::internal {
namespace {

bool is_variable_name(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) {
    return false;
  }
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') {
      return false;
    }
  }
  return true;
}

// Empty when `full_path` may be read under `files`; otherwise why not. A path that does not
// resolve (missing file) passes: read_file() then says why it cannot be read.
std::string outside_problem(std::string_view path, const std::string& full_path,
                            const FileReferencePolicy& files) {
  if (files.allow_outside_base) {
    return "";
  }
  constexpr std::string_view kHow =
      "put the file in the config's folder, or pass --allow-file-references-outside-config-dir";
  if (!path.empty() && path[0] == '/') {
    return fmt::format("absolute paths are refused; {}", kHow);
  }
  std::error_code error;
  const std::filesystem::path base =
      std::filesystem::canonical(files.base_directory.empty() ? "." : files.base_directory, error);
  if (error) {
    return "";
  }
  const std::filesystem::path real = std::filesystem::canonical(full_path, error);
  if (error) {
    return "";
  }
  const auto [base_end, unused] = std::mismatch(base.begin(), base.end(), real.begin(), real.end());
  if (base_end != base.end()) {
    return fmt::format("the path leads outside the config's folder {}; {}", base.string(), kHow);
  }
  return "";
}

Result<std::string> read_reference_file(std::string_view path, const FileReferencePolicy& files) {
  std::string full_path(path);
  if (!full_path.empty() && full_path[0] != '/' && !files.base_directory.empty()) {
    full_path = files.base_directory + "/" + full_path;
  }
  if (std::string problem = outside_problem(path, full_path, files); !problem.empty()) {
    return invalid_argument(fmt::format("${{file:{}}}: {}", path, problem));
  }
  Result<std::string> read = read_file(full_path, kMaxReferenceFileBytes);
  if (!read.has_value()) {
    // read_file's message names the full path and the reason ("larger than the limit of ...").
    return invalid_argument(fmt::format("${{file:{}}}: {}", path, read.error().message()));
  }
  std::string contents = std::move(read).value();
  if (!contents.empty() && contents.back() == '\n') {
    contents.pop_back();
    if (!contents.empty() && contents.back() == '\r') {
      contents.pop_back();
    }
  }
  return contents;
}

}  // namespace

Result<Substitution> substitute(std::string_view text, const EnvironmentLookup& environment,
                                const FileReferencePolicy& files) {
  Substitution result;
  if (text.find('$') == std::string_view::npos) {
    result.value = std::string(text);
    return result;
  }
  std::string& out = result.value;
  size_t position = 0;
  while (position < text.size()) {
    const size_t dollar = text.find('$', position);
    if (dollar == std::string_view::npos) {
      out.append(text.substr(position));
      break;
    }
    out.append(text.substr(position, dollar - position));
    if (text.substr(dollar, 3) == "$${") {
      out += "${";
      position = dollar + 3;
      continue;
    }
    if (text.substr(dollar, 2) != "${") {
      out += '$';  // JSONPaths ($.detail) and other lone dollars are plain text
      position = dollar + 1;
      continue;
    }
    const size_t close = text.find('}', dollar + 2);
    if (close == std::string_view::npos) {
      return invalid_argument(
          fmt::format(R"(unterminated reference "{}" (missing "}}"))", text.substr(dollar, 40)));
    }
    const std::string_view reference = text.substr(dollar + 2, close - dollar - 2);
    position = close + 1;
    result.used_reference = true;

    const std::string written(text.substr(dollar, close + 1 - dollar));
    if (reference.substr(0, 5) == "file:") {
      HK_ASSIGN_OR_RETURN(std::string contents, read_reference_file(reference.substr(5), files));
      out += contents;
      result.references.push_back({written, std::move(contents)});
      continue;
    }
    const size_t default_marker = reference.find(":-");
    const std::string name(reference.substr(0, default_marker));
    if (!is_variable_name(name)) {
      return invalid_argument(
          fmt::format("\"${{{}}}\" is not a valid reference: use ${{NAME}}, ${{NAME:-default}} or "
                      "${{file:PATH}} (write $${{ for a literal \"${{\")",
                      reference));
    }
    const std::optional<std::string> value = environment(name);
    if (default_marker != std::string_view::npos) {
      if (value && !value->empty()) {
        out += *value;
        result.references.push_back({written, *value});
      } else {
        out += reference.substr(default_marker + 2);  // written in the config: not a secret
      }
    } else if (value) {
      out += *value;
      result.references.push_back({written, *value});
    } else {
      return invalid_argument(fmt::format(
          "environment variable {} is not set (set it, or write ${{{}:-default}} to allow a "
          "default)",
          name, name));
    }
  }
  return result;
}

}  // namespace hikyaku::config::internal
