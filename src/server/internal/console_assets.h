#pragma once
// The web console's files (src/server/console/), built into the binary by cmake/EmbedFiles.cmake.

#include <span>
#include <string_view>

namespace hikyaku::server {

struct ConsoleAsset {
  std::string_view name;          // "index.html", "console.js", ...
  std::string_view content_type;  // from the extension
  std::string_view bytes;
};

std::span<const ConsoleAsset> console_assets();

}  // namespace hikyaku::server
