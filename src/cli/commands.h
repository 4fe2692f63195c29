#pragma once
// The `hikyaku` subcommands. Each add_*_command registers one CLI11 subcommand on `app`; when the
// subcommand runs, its callback stores the process exit code in `exit_code`.
//
// Exit codes shared by every subcommand: 0 success, 1 a check failed (e.g. an invalid config for
// `validate`), 2 bad input on the command line or in a file it names (printed as "error: ...").

#include <CLI/CLI.hpp>

namespace hikyaku::cli {

void add_validate_command(CLI::App& app, int& exit_code);
void add_test_pattern_command(CLI::App& app, int& exit_code);
void add_transform_command(CLI::App& app, int& exit_code);
void add_serve_command(CLI::App& app, int& exit_code);
void add_send_command(CLI::App& app, int& exit_code);
void add_backlog_command(CLI::App& app, int& exit_code);
void add_tickets_command(CLI::App& app, int& exit_code);
void add_dlq_command(CLI::App& app, int& exit_code);
void add_deliveries_command(CLI::App& app, int& exit_code);
void add_replay_command(CLI::App& app, int& exit_code);

}  // namespace hikyaku::cli
