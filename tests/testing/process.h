#pragma once
// Test helper: run a program to completion and capture what it printed.
//
//   CommandResult r = run_command({hikyaku_binary(), "validate", "--config", path},
//                                 {{"BACKLOG_API_KEY", "secret"}});
//   EXPECT_EQ(r.exit_code, 0);
//
// The child inherits the environment plus `environment` overrides; `stdin_text` is written to its
// standard input, which is then closed. Not thread-safe with respect to other fork() users.

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
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

// A long-running child (e.g. `hikyaku serve`) whose stdout and stderr are collected in the
// background. The destructor kills it (SIGKILL) if it still runs, and reaps it.
class ChildProcess {
 public:
  explicit ChildProcess(const std::vector<std::string>& argv,
                        const std::vector<std::pair<std::string, std::string>>& environment = {},
                        const std::string& working_directory = "");
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  int pid() const { return pid_; }
  // Waits until a line of stdout starts with `prefix`; returns the rest of that line, or "" on
  // timeout or exit.
  std::string wait_for_line(const std::string& prefix, int timeout_ms = 20000);
  void signal(int signal_number);
  // Waits for the exit; returns the exit code (128 + signal when killed), or -1 on timeout.
  int wait(int timeout_ms = 30000);
  std::string out() const;
  std::string err() const;

 private:
  void collect();

  int pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  int exit_code_ = -1;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::string out_;
  std::string err_;
  bool streams_open_ = true;
  std::thread reader_;
};

}  // namespace hikyaku::testing
