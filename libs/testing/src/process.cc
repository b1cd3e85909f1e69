#include "testing/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "testing/wait.h"

namespace sa::testing {
namespace {

constexpr size_t kMaxCapturedOutput = 16 << 20;

absl::Status ErrnoStatus(absl::string_view what, int err) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(err)));
}

bool IsExecutableFile(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(path.c_str(), X_OK) == 0;
}

int DecodeWaitStatus(int st) {
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return -1;
}

// A deadline `timeout` from now on the monotonic clock: wall-clock jumps (seen
// here: ~10 s forward) neither shorten nor stretch a wait. Infinite: a year.
std::chrono::steady_clock::time_point SteadyDeadline(absl::Duration timeout) {
  return std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(std::min(timeout, absl::Hours(24 * 365)));
}

int PollTimeoutMs(absl::Duration d) {
  if (d == absl::InfiniteDuration()) return -1;
  if (d <= absl::ZeroDuration()) return 0;
  return static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(d) + 1, INT_MAX));
}

}  // namespace

absl::StatusOr<std::string> FindExecutable(const std::string& name,
                                           const std::vector<std::string>& extra_dirs) {
  if (name.find('/') != std::string::npos) {
    const std::string& path = name;
    if (IsExecutableFile(path)) return path;
    return absl::NotFoundError(absl::StrCat("not an executable: ", path));
  }
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("PATH"); env != nullptr) {
    for (absl::string_view d : absl::StrSplit(env, ':', absl::SkipEmpty())) dirs.emplace_back(d);
  }
  dirs.insert(dirs.end(), extra_dirs.begin(), extra_dirs.end());
  for (const auto& d : dirs) {
    std::string candidate = absl::StrCat(d, "/", name);
    if (IsExecutableFile(candidate)) return candidate;
  }
  return absl::NotFoundError(
      absl::StrCat("executable '", name, "' not found in PATH or ", absl::StrJoin(extra_dirs, ":")));
}

absl::StatusOr<std::unique_ptr<Process>> Process::Spawn(const std::vector<std::string>& argv,
                                                         Options options) {
  if (argv.empty()) return absl::InvalidArgumentError("Spawn: empty argv");
  auto path = FindExecutable(argv[0]);
  if (!path.ok()) return path.status();

  std::unique_ptr<Process> p(new Process());
  p->name_ = argv[0];

  // Everything the child needs is prepared before fork(): between fork and
  // exec only async-signal-safe calls are allowed (the parent has threads).
  std::vector<char*> cargv;
  cargv.reserve(argv.size() + 1);
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);

  // The environment: the parent's, with options.env set over it.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    const std::string key = entry.substr(0, entry.find('='));
    bool overridden = false;
    for (const auto& [k, v] : options.env) overridden = overridden || k == key;
    if (!overridden) env_strings.push_back(entry);
  }
  for (const auto& [k, v] : options.env) env_strings.push_back(absl::StrCat(k, "=", v));
  std::vector<char*> cenv;
  cenv.reserve(env_strings.size() + 1);
  for (auto& e : env_strings) cenv.push_back(e.data());
  cenv.push_back(nullptr);

  if (!options.log_file.empty()) {
    p->log_fd_ = open(options.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (p->log_fd_ < 0) return ErrnoStatus(absl::StrCat("open ", options.log_file), errno);
  }
  int out[2];
  int exec_err[2];
  if (pipe2(out, O_CLOEXEC) != 0) return ErrnoStatus("pipe2", errno);
  if (pipe2(exec_err, O_CLOEXEC) != 0) {
    close(out[0]);
    close(out[1]);
    return ErrnoStatus("pipe2", errno);
  }
  if (pipe2(p->stop_fd_, O_CLOEXEC) != 0) {
    for (int fd : {out[0], out[1], exec_err[0], exec_err[1]}) close(fd);
    return ErrnoStatus("pipe2", errno);
  }
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  const pid_t parent = getpid();
  const bool pdeathsig = options.kill_on_parent_death;
  const char* exe = path->c_str();

  pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    for (int fd : {out[0], out[1], exec_err[0], exec_err[1], devnull}) close(fd);
    return ErrnoStatus("fork", err);
  }
  if (pid == 0) {
    // Child.
    setpgid(0, 0);
    if (pdeathsig) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);
    }
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &dfl, nullptr);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    if (devnull >= 0) dup2(devnull, 0);
    dup2(out[1], 1);
    dup2(out[1], 2);
    // Close every inherited descriptor except the exec-error pipe (which is
    // close-on-exec anyway): the child must not hold the test's sockets.
    const int keep = exec_err[1];
    if (keep > 3) syscall(SYS_close_range, 3u, static_cast<unsigned>(keep - 1), 0u);
    syscall(SYS_close_range, static_cast<unsigned>(keep + 1), ~0u, 0u);
    execve(exe, cargv.data(), cenv.data());
    int err = errno;
    ssize_t ignored = write(keep, &err, sizeof(err));
    (void)ignored;
    _exit(127);
  }

  // Parent.
  close(out[1]);
  close(exec_err[1]);
  if (devnull >= 0) close(devnull);
  p->pid_ = pid;
  p->out_fd_ = out[0];
  p->pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));

  int child_errno = 0;
  ssize_t n;
  do {
    n = read(exec_err[0], &child_errno, sizeof(child_errno));
  } while (n < 0 && errno == EINTR);
  close(exec_err[0]);
  p->reader_ = std::thread([raw = p.get()] { raw->ReadLoop(); });
  if (n == static_cast<ssize_t>(sizeof(child_errno))) {
    (void)p->Wait(absl::Seconds(10));
    return ErrnoStatus(absl::StrCat("exec ", *path), child_errno);
  }
  return p;
}

Process::~Process() {
  if (pid_ > 0) (void)Kill();
  if (stop_fd_[1] >= 0) {
    char c = 'x';
    ssize_t ignored = write(stop_fd_[1], &c, 1);
    (void)ignored;
  }
  if (reader_.joinable()) reader_.join();
  for (int fd : {out_fd_, stop_fd_[0], stop_fd_[1], log_fd_, pidfd_}) {
    if (fd >= 0) close(fd);
  }
}

void Process::ReadLoop() {
  char buf[65536];
  while (true) {
    pollfd fds[2] = {{out_fd_, POLLIN, 0}, {stop_fd_[0], POLLIN, 0}};
    int r = poll(fds, 2, -1);
    if (r < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents != 0) break;
    if (fds[0].revents == 0) continue;
    ssize_t n = read(out_fd_, buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) break;
    if (log_fd_ >= 0) {
      ssize_t ignored = write(log_fd_, buf, static_cast<size_t>(n));
      (void)ignored;
    }
    std::lock_guard<std::mutex> lock(out_mu_);
    if (output_.size() < kMaxCapturedOutput) {
      output_.append(buf, std::min(static_cast<size_t>(n), kMaxCapturedOutput - output_.size()));
    }
    out_cv_.notify_all();
  }
  std::lock_guard<std::mutex> lock(out_mu_);
  output_eof_ = true;
  out_cv_.notify_all();
}

absl::Status Process::WaitForOutput(const std::string& needle, absl::Duration timeout) {
  const auto deadline = SteadyDeadline(timeout);
  std::unique_lock<std::mutex> lock(out_mu_);
  size_t from = 0;
  auto found = [&] {
    if (output_.find(needle, from) != std::string::npos) return true;
    if (output_.size() > needle.size()) from = output_.size() - needle.size();
    return false;
  };
  if (!out_cv_.wait_until(lock, deadline, [&] { return found() || output_eof_; })) {
    return absl::DeadlineExceededError(absl::StrCat(name_, ": no \"", needle, "\" within ",
                                                    absl::FormatDuration(timeout), "; output:\n",
                                                    output_));
  }
  if (found()) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat(name_, " closed its output before printing \"", needle, "\"; output:\n", output_));
}

absl::Status Process::WaitForOutputEnd(absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(out_mu_);
  if (!out_cv_.wait_until(lock, SteadyDeadline(timeout), [&] { return output_eof_; })) {
    return absl::DeadlineExceededError(absl::StrCat(name_, ": output still open"));
  }
  return absl::OkStatus();
}

std::string Process::Output() const {
  std::lock_guard<std::mutex> lock(out_mu_);
  return output_;
}

absl::Status Process::Signal(int sig) {
  std::lock_guard<std::mutex> lock(wait_mu_);
  if (reaped_) return absl::FailedPreconditionError(absl::StrCat(name_, " already exited"));
  if (kill(pid_, sig) != 0) return ErrnoStatus(absl::StrCat("kill ", pid_), errno);
  return absl::OkStatus();
}

absl::StatusOr<int> Process::ReapLocked(absl::Duration timeout) {
  if (reaped_) return exit_code_;
  if (pidfd_ >= 0) {
    const auto deadline = SteadyDeadline(timeout);
    while (true) {
      pollfd pfd{pidfd_, POLLIN, 0};
      int r = poll(&pfd, 1,
                   timeout == absl::InfiniteDuration()
                       ? PollTimeoutMs(absl::InfiniteDuration())
                       : PollTimeoutMs(absl::FromChrono(deadline - std::chrono::steady_clock::now())));
      if (r > 0) break;
      if (r == 0) return absl::DeadlineExceededError(absl::StrCat(name_, " still running"));
      if (errno != EINTR) return ErrnoStatus("poll pidfd", errno);
    }
  } else {
    // No pidfd (old kernel): fall back to the polling helper.
    int st = 0;
    bool done = WaitFor([&] { return waitpid(pid_, &st, WNOHANG) == pid_; }, timeout);
    if (!done) return absl::DeadlineExceededError(absl::StrCat(name_, " still running"));
    reaped_ = true;
    exit_code_ = DecodeWaitStatus(st);
    return exit_code_;
  }
  int st = 0;
  pid_t r;
  do {
    r = waitpid(pid_, &st, 0);
  } while (r < 0 && errno == EINTR);
  if (r != pid_) return ErrnoStatus(absl::StrCat("waitpid ", pid_), errno);
  reaped_ = true;
  exit_code_ = DecodeWaitStatus(st);
  return exit_code_;
}

absl::StatusOr<int> Process::Wait(absl::Duration timeout) {
  std::lock_guard<std::mutex> lock(wait_mu_);
  return ReapLocked(timeout);
}

absl::StatusOr<int> Process::Terminate(absl::Duration grace) {
  std::lock_guard<std::mutex> lock(wait_mu_);
  if (reaped_) return exit_code_;
  kill(pid_, SIGTERM);
  auto r = ReapLocked(grace);
  if (r.ok() || !absl::IsDeadlineExceeded(r.status())) return r;
  kill(-pid_, SIGKILL);
  kill(pid_, SIGKILL);
  return ReapLocked(absl::Seconds(30));
}

absl::StatusOr<int> Process::Kill() {
  std::lock_guard<std::mutex> lock(wait_mu_);
  if (reaped_) return exit_code_;
  kill(-pid_, SIGKILL);
  kill(pid_, SIGKILL);
  return ReapLocked(absl::Seconds(30));
}

bool Process::Exited() {
  std::lock_guard<std::mutex> lock(wait_mu_);
  return ReapLocked(absl::ZeroDuration()).ok();
}

absl::StatusOr<ProcessResult> RunProcess(const std::vector<std::string>& argv,
                                         absl::Duration timeout) {
  auto proc = Process::Spawn(argv);
  if (!proc.ok()) return proc.status();
  auto code = (*proc)->Wait(timeout);
  if (!code.ok()) {
    (void)(*proc)->Kill();
    return absl::DeadlineExceededError(absl::StrCat(absl::StrJoin(argv, " "), ": ",
                                                    code.status().message(), "; output:\n",
                                                    (*proc)->Output()));
  }
  (void)(*proc)->WaitForOutputEnd(absl::Seconds(10));
  return ProcessResult{*code, (*proc)->Output()};
}

std::string BinDir() {
  const char* b = std::getenv("SA_BUILD_DIR");
  return absl::StrCat(b ? b : ".", "/bin");
}

}  // namespace sa::testing
