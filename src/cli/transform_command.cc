// Placeholder: replaced by the component's issue before it lands.
#include "cli/commands.h"

namespace hikyaku::cli {

void add_transform_command(CLI::App& app, int& exit_code) {
  app.add_subcommand("transform", "(not built yet)")->callback([&exit_code] { exit_code = 2; });
}

}  // namespace hikyaku::cli
