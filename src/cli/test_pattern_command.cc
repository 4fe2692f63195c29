// Placeholder: replaced by the component's issue before it lands.
#include "cli/commands.h"

namespace hikyaku::cli {

void add_test_pattern_command(CLI::App& app, int& exit_code) {
  app.add_subcommand("test-pattern", "(not built yet)")->callback([&exit_code] { exit_code = 2; });
}

}  // namespace hikyaku::cli
