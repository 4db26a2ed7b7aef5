// subprocess.h: run real processes from tests (the `sasmint` binary, as users and scripts do).
//
// RunProcess runs a command to completion and captures its output. ChildProcess starts one in
// the background (a server) and can signal and reap it. Thread-compatible.
#ifndef SASMINT_TESTS_TESTING_SUBPROCESS_H_
#define SASMINT_TESTS_TESTING_SUBPROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace sasmint::testing {

struct ProcessResult {
  int exit_code = -1;  // exit status, or 128 + signal number if killed
  std::string out;
  std::string err;
};

// RunProcess runs argv[0] (a path) with `argv`, stdin from /dev/null, and waits up to `timeout`
// (then kills it and returns DEADLINE_EXCEEDED).
absl::StatusOr<ProcessResult> RunProcess(const std::vector<std::string>& argv,
                                         absl::Duration timeout = absl::Seconds(30));

class ChildProcess {
 public:
  // Start launches argv; its stdout and stderr go to files under `log_dir` (read them with
  // ReadStderr after it exits).
  static absl::StatusOr<ChildProcess> Start(const std::vector<std::string>& argv,
                                            const std::string& log_dir);
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&&) = delete;
  ~ChildProcess();  // kills (SIGKILL) and reaps a child still running

  pid_t pid() const { return pid_; }
  // Signal sends `signal` to the child.
  void Signal(int signal) const;
  // Wait reaps the child, waiting up to `timeout`; returns its exit code (128 + signal if
  // killed) or DEADLINE_EXCEEDED.
  absl::StatusOr<int> Wait(absl::Duration timeout);
  std::string ReadStdout() const;
  std::string ReadStderr() const;

 private:
  ChildProcess(pid_t pid, std::string out_path, std::string err_path)
      : pid_(pid), out_path_(std::move(out_path)), err_path_(std::move(err_path)) {}
  pid_t pid_ = -1;
  std::string out_path_;
  std::string err_path_;
};

// WaitForFile returns the contents of `path` once it exists and is non-empty, or
// DEADLINE_EXCEEDED after `timeout`.
absl::StatusOr<std::string> WaitForFile(const std::string& path, absl::Duration timeout);

// MakeTempDir creates a fresh directory under $TMPDIR (or /tmp) and returns its path.
std::string MakeTempDir();

// WriteFile writes `contents` to `path`, aborting the test process on failure.
void WriteFile(const std::string& path, const std::string& contents);

}  // namespace sasmint::testing

#endif  // SASMINT_TESTS_TESTING_SUBPROCESS_H_
