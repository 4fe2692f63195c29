#include "cli/commands.h"

namespace hikyaku::cli {

void add_validate_command(CLI::App& app, int& exit_code) {
  app.add_subcommand("validate", "(not built yet)")->callback([&exit_code] { exit_code = 2; });
}

}  // namespace hikyaku::cli
