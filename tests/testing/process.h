#pragma once
// Test helper: run a program to completion and capture what it printed.
//
//   CommandResult r = run_command({hikyaku_binary(), "validate", "--config", path},
//                                 {{"BACKLOG_API_KEY", "secret"}});
//   EXPECT_EQ(r.exit_code, 0);
//
// The child inherits the environment plus `environment` overrides; `stdin_text` is written to its
// standard input, which is then closed. Not thread-safe with respect to other fork() users.

#include <string>
#include <utility>
#include <vector>

namespace hikyaku::testing {

struct CommandResult {
  int exit_code = -1;  // 128 + signal number when killed by a signal
  std::string out;
  std::string err;
};

CommandResult run_command(const std::vector<std::string>& argv,
                          const std::vector<std::pair<std::string, std::string>>& environment = {},
                          const std::string& stdin_text = "");

}  // namespace hikyaku::testing
