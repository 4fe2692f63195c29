// hikyaku: a self-hosted event router that speaks AWS EventBridge's language.
// This is the composition root: it parses the command line and runs one subcommand.

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <string>

#include "cli/commands.h"
#include "core/check.h"
#include "core/log.h"

#ifndef HIKYAKU_VERSION
#define HIKYAKU_VERSION "unknown"
#endif

int main(int argc, char** argv) {
  try {
    // Logs go to stderr; stdout carries only what a command is asked to print.
    spdlog::set_default_logger(spdlog::stderr_color_mt("hikyaku"));
    // Every command's log lines pass the name rules of core/redact.h; serve adds the config's
    // secret values once it has read them.
    hikyaku::install_log_redactor(nullptr);
    CLI::App app{
        "hikyaku: an event router that speaks AWS EventBridge (event patterns, input "
        "transformers, API destinations), built first for Security Hub findings -> Backlog "
        "issues."};
    app.set_version_flag("--version", std::string("hikyaku ") + HIKYAKU_VERSION);
    app.require_subcommand(0, 1);

    int exit_code = 0;
    hikyaku::cli::add_validate_command(app, exit_code);
    hikyaku::cli::add_test_pattern_command(app, exit_code);
    hikyaku::cli::add_transform_command(app, exit_code);
    hikyaku::cli::add_serve_command(app, exit_code);
    hikyaku::cli::add_send_command(app, exit_code);
    hikyaku::cli::add_backlog_command(app, exit_code);
    hikyaku::cli::add_tickets_command(app, exit_code);
    hikyaku::cli::add_dlq_command(app, exit_code);
    hikyaku::cli::add_deliveries_command(app, exit_code);
    hikyaku::cli::add_replay_command(app, exit_code);

    try {
      app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
      return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
      return app.exit(e);
    } catch (const CLI::ParseError& e) {
      // CLI11's own usage errors ("--config is required") exit 2 like our other bad input.
      app.exit(e);
      return 2;
    }
    if (app.get_subcommands().empty()) {
      std::fputs(app.help().c_str(), stdout);
      return 0;
    }
    return exit_code;
  } catch (const std::exception& e) {
    // Every expected failure is a Status turned into an exit code by its command; an exception
    // that gets this far is a bug (core/check.h's policy).
    hikyaku::fatal(std::string("unexpected exception: ") + e.what());
  }
}
