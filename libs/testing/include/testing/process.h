// A child process for tests: spawned with its stdout+stderr on a pipe that a
// background thread drains (into memory and an optional log file), so the
// child never blocks on a full pipe and tests can wait for a line such as
// "Server is ready" without sleeping.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace sa::testing {

// Resolves an executable: a name containing '/' is checked as is; otherwise
// $PATH is searched, then `extra_dirs` in order.
absl::StatusOr<std::string> FindExecutable(const std::string& name,
                                           const std::vector<std::string>& extra_dirs = {});

// Where the binaries under test are: $SA_BUILD_DIR/bin (sa_test sets
// SA_BUILD_DIR), else ./bin.
std::string BinDir();

struct ProcessResult {
  int exit_code = 0;   // exit status, or 128 + signal number
  std::string output;  // stdout and stderr, interleaved
};

// Runs `argv` to completion (killed after `timeout`) and returns its output.
absl::StatusOr<ProcessResult> RunProcess(const std::vector<std::string>& argv,
                                         absl::Duration timeout = absl::Seconds(60));

// Owns one child process. The destructor SIGKILLs the child's process group if
// it still runs and reaps it, so no zombie or stray child outlives the object.
//
// Threading: all methods may be called from any thread; Wait/Terminate/Kill
// serialise on an internal lock (the child is reaped exactly once).
class Process {
 public:
  struct Options {
    std::string log_file;  // when set, output is also appended here
    // SIGKILL the child if the thread that spawned it dies (PR_SET_PDEATHSIG),
    // so a crashed test leaves no server behind. Spawn from a long-lived
    // thread (e.g. the test's main thread) when this is on.
    bool kill_on_parent_death = true;
    // Set (or overridden) in the child's environment, which is otherwise the parent's.
    std::vector<std::pair<std::string, std::string>> env;
  };

  static absl::StatusOr<std::unique_ptr<Process>> Spawn(const std::vector<std::string>& argv,
                                                        Options options);
  static absl::StatusOr<std::unique_ptr<Process>> Spawn(const std::vector<std::string>& argv) {
    return Spawn(argv, Options{});
  }

  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process();

  pid_t pid() const { return pid_; }
  const std::string& name() const { return name_; }

  // Blocks until the captured output contains `needle` (OK), the child closes
  // its output (FailedPrecondition), or `timeout` passes (DeadlineExceeded).
  absl::Status WaitForOutput(const std::string& needle, absl::Duration timeout);
  // Blocks until the child's output reaches end of file.
  absl::Status WaitForOutputEnd(absl::Duration timeout);
  // Everything captured so far (the first 16 MiB).
  std::string Output() const;

  absl::Status Signal(int sig);
  // Waits for the child to exit and reaps it; returns the exit code (128 +
  // signal when killed). DeadlineExceeded if it is still running at timeout.
  absl::StatusOr<int> Wait(absl::Duration timeout);
  // SIGTERM, then SIGKILL (to the whole process group) after `grace`.
  absl::StatusOr<int> Terminate(absl::Duration grace);
  // SIGKILL to the whole process group, then reap.
  absl::StatusOr<int> Kill();
  bool Exited();

 private:
  Process() = default;
  void ReadLoop();
  absl::StatusOr<int> ReapLocked(absl::Duration timeout);

  std::string name_;
  pid_t pid_ = -1;
  int pidfd_ = -1;
  int out_fd_ = -1;       // read end of the output pipe
  int stop_fd_[2] = {-1, -1};  // wakes the reader at destruction
  int log_fd_ = -1;

  std::mutex wait_mu_;  // serialises reaping
  bool reaped_ = false;
  int exit_code_ = -1;

  mutable std::mutex out_mu_;
  std::condition_variable out_cv_;
  std::string output_;
  bool output_eof_ = false;

  std::thread reader_;
};

}  // namespace sa::testing
