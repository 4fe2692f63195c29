#pragma once
// ${...} reference resolution for config string values (see config.h for the syntax and the rule
// for ${file:PATH}).

#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "core/status.h"

namespace hikyaku::config::internal {

// One reference and what it resolved to (from the environment or a file; a default that was used
// is not listed: it is written in the config): errors show `reference`, never `value`.
struct ResolvedReference {
  std::string reference;  // as written: "${BACKLOG_API_KEY}", "${file:key.txt}"
  std::string value;
};

struct Substitution {
  std::string value;
  bool used_reference = false;  // any ${...} was resolved (the value may hold a secret)
  std::vector<ResolvedReference> references;
};

// Where ${file:PATH} may read.
struct FileReferencePolicy {
  std::string base_directory;  // relative paths are resolved against it ("" = working directory)
  // Absolute paths, and relative ones whose real path (symbolic links followed) is not inside
  // base_directory, are refused unless this is set.
  bool allow_outside_base = false;
};

// Resolves every reference in `text`. Errors name the reference, never a resolved value:
//   environment variable BACKLOG_API_KEY is not set (use ${BACKLOG_API_KEY:-default} ...)
Result<Substitution> substitute(std::string_view text, const EnvironmentLookup& environment,
                                const FileReferencePolicy& files);

}  // namespace hikyaku::config::internal
