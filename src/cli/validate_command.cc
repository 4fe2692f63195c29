#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "config/config.h"

namespace hikyaku::cli {

void add_validate_command(CLI::App& app, int& exit_code) {
  auto* command = app.add_subcommand(
      "validate",
      "Load and check a config (YAML or JSON) without starting anything; prints a summary with "
      "secrets masked. Warnings (a secret written into an endpoint URL, a pattern that probably "
      "does not say what was meant, a setting accepted but not acted on yet) are printed and do "
      "not fail unless --strict is given. Exit 0 when valid, 1 with every error listed when not "
      "(or, with --strict, when there is any warning), 2 on a usage error.");
  auto config_path = std::make_shared<std::string>();
  auto options = std::make_shared<config::LoadOptions>();
  auto strict = std::make_shared<bool>(false);
  command->add_option("-c,--config", *config_path, "config file")->required();
  command->add_flag("--allow-file-references-outside-config-dir",
                    options->allow_file_references_outside_config_dir,
                    "let ${file:PATH} read absolute paths and paths outside the config's folder");
  command->add_flag("--strict", *strict, "fail (exit 1) on any warning, not only on errors");
  command->callback([config_path, options, strict, &exit_code] {
    config::LoadResult result = config::load_config_file(*config_path, *options);
    for (const config::ConfigError& warning : result.warnings) {
      fmt::print(stderr, "warning: {}\n", warning.to_string());
    }
    if (!result.ok()) {
      for (const config::ConfigError& error : result.errors) {
        fmt::print(stderr, "error: {}\n", error.to_string());
      }
      fmt::print(stderr, "{}: {} error{}; nothing was started\n", *config_path,
                 result.errors.size(), result.errors.size() == 1 ? "" : "s");
      exit_code = 1;
      return;
    }
    if (*strict && !result.warnings.empty()) {
      fmt::print(stderr, "{}: {} warning{}, and --strict fails on any\n", *config_path,
                 result.warnings.size(), result.warnings.size() == 1 ? "" : "s");
      exit_code = 1;
      return;
    }
    fmt::print("{} is valid\n{}", *config_path, config::describe(*result.config));
    exit_code = 0;
  });
}

}  // namespace hikyaku::cli
