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
      "secrets masked; warnings (a pattern that probably does not say what was meant) are printed "
      "but do not fail. Exit 0 when valid, 1 with every error listed when not.");
  auto config_path = std::make_shared<std::string>();
  auto options = std::make_shared<config::LoadOptions>();
  command->add_option("-c,--config", *config_path, "config file")->required();
  command->add_flag("--allow-file-references-outside-config-dir",
                    options->allow_file_references_outside_config_dir,
                    "let ${file:PATH} read absolute paths and paths outside the config's folder");
  command->callback([config_path, options, &exit_code] {
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
    fmt::print("{} is valid\n{}", *config_path, config::describe(*result.config));
    exit_code = 0;
  });
}

}  // namespace hikyaku::cli
