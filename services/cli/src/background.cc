#include "cli/background.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cli/rpc.h"

namespace sa::cli {
namespace {

namespace fs = std::filesystem;

std::string RunDir(const std::string& dir) { return fs::absolute(dir.empty() ? ".stream-admin-local" : dir).string(); }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Alive and not a zombie (a stopped stack whose parent is gone may linger as one).
bool Alive(pid_t pid) {
  if (pid <= 0 || kill(pid, 0) != 0) return false;
  std::string stat = ReadFile(absl::StrCat("/proc/", pid, "/stat"));
  size_t paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() || stat[paren + 2] != 'Z';
}

pid_t ReadPid(const std::string& pid_file) {
  int pid = 0;
  std::string text = ReadFile(pid_file);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return absl::SimpleAtoi(text, &pid) ? pid : 0;
}

std::string SelfExe() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? "stream-admin" : self.string();
}

void PrintTail(const std::string& log, int lines) {
  std::vector<std::string> all;
  std::istringstream in(ReadFile(log));
  for (std::string l; std::getline(in, l);) all.push_back(l);
  for (size_t i = all.size() > static_cast<size_t>(lines) ? all.size() - lines : 0; i < all.size(); ++i)
    std::fprintf(stderr, "  %s\n", all[i].c_str());
}

}  // namespace

int RunStart(const LocalStackOptions& o) {
  const std::string dir = RunDir(o.run_dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  const std::string pid_file = dir + "/stack.pid", log = dir + "/stack.log";
  if (pid_t old = ReadPid(pid_file); Alive(old)) {
    std::fprintf(stderr, "stream-admin start: already running (pid %d, %s); `stream-admin stop --run-dir %s` first\n",
                 old, pid_file.c_str(), dir.c_str());
    return kExitFailed;
  }
  std::vector<std::string> args = {SelfExe(),          "local",
                                   "--run-dir",        dir,
                                   "--grpc-base-port", std::to_string(o.grpc_base_port),
                                   "--http-base-port", std::to_string(o.http_base_port),
                                   "--timeout",        std::to_string(o.timeout_s),
                                   "--speed",          absl::StrCat(o.speed)};
  if (!o.bin_dir.empty()) args.insert(args.end(), {"--bin-dir", o.bin_dir});
  if (!o.samples_dir.empty()) args.insert(args.end(), {"--samples-dir", o.samples_dir});
  if (o.live) args.push_back("--live");

  const int log_fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    std::fprintf(stderr, "stream-admin start: cannot write %s\n", log.c_str());
    return kExitFailed;
  }
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = fork();
  if (pid < 0) {
    std::fprintf(stderr, "stream-admin start: fork failed\n");
    return kExitFailed;
  }
  if (pid == 0) {
    setsid();  // no terminal: Ctrl-C in the shell that started it does not reach the stack
    const int null_fd = open("/dev/null", O_RDONLY);
    dup2(null_fd, STDIN_FILENO);
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(log_fd);
  std::ofstream(pid_file) << pid << "\n";
  std::printf("starting the local stack in the background (pid %d; log %s) ...\n", pid, log.c_str());
  std::fflush(stdout);

  // Up when the foreground form says so; failed when it exits first.
  const absl::Time deadline = absl::Now() + absl::Seconds(o.timeout_s * 3 + 60);
  bool up = false, exited = false;
  while (absl::Now() < deadline) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
      break;
    }
    const std::string text = ReadFile(log);
    if (absl::StrContains(text, "all services healthy")) {
      up = true;
      break;
    }
    if (absl::StrContains(text, "is not healthy")) break;
    absl::SleepFor(absl::Milliseconds(200));
  }
  if (!up) {
    std::fprintf(stderr, "stream-admin start: the stack did not come up%s; the end of %s:\n",
                 exited ? " (it exited)" : "", log.c_str());
    PrintTail(log, 20);
    if (!exited) (void)RunStop(dir, 60);
    std::remove(pid_file.c_str());
    return kExitFailed;
  }
  // The foreground form's status table and URLs, as it printed them.
  const std::string text = ReadFile(log);
  std::istringstream in(text);
  bool table = false;
  for (std::string l; std::getline(in, l);) {
    if (absl::StartsWith(l, "  nats:") || absl::StartsWith(l, "  postgres:")) std::printf("%s\n", l.c_str());
    if (absl::StartsWith(l, "SERVICE ")) table = true;
    if (table) {
      if (l.empty()) break;
      std::printf("%s\n", l.c_str());
    }
  }
  // The admin's database is beside the CDC source: the first administrator goes there.
  const size_t port_at = text.find("  postgres: host=127.0.0.1 port=");
  if (port_at != std::string::npos) {
    const size_t from = port_at + std::string("  postgres: host=127.0.0.1 port=").size();
    const std::string pg_port = text.substr(from, text.find(' ', from) - from);
    std::printf("\nfirst administrator: stream-admin init --dsn \"host=127.0.0.1 port=%s user=postgres dbname=admin\"",
                pg_port.c_str());
  }
  std::printf("\nmetrics: http://127.0.0.1:<METRICS port>/metrics (e.g. ingest: http://127.0.0.1:%d/metrics)\n",
              o.http_base_port + 1);
  std::printf("watch it:  stream-admin monitor%s\nstop it:   stream-admin stop --run-dir %s\n",
              o.grpc_base_port == 7100 && o.http_base_port == 9100 ? "" : "  (-t the targets above)", dir.c_str());
  return kExitOk;
}

int RunStop(const std::string& run_dir, int timeout_s) {
  const std::string dir = RunDir(run_dir);
  const std::string pid_file = dir + "/stack.pid";
  const pid_t pid = ReadPid(pid_file);
  if (!Alive(pid)) {
    std::fprintf(stderr, "stream-admin stop: no stack running from %s\n", dir.c_str());
    std::remove(pid_file.c_str());
    return kExitNotFound;
  }
  std::printf("stopping the local stack (pid %d) ...\n", pid);
  std::fflush(stdout);
  kill(pid, SIGTERM);  // the stack stops its services, then nats-server and PostgreSQL
  const absl::Time deadline = absl::Now() + absl::Seconds(timeout_s);
  while (Alive(pid) && absl::Now() < deadline) {
    int status = 0;
    (void)waitpid(pid, &status, WNOHANG);  // reaps it when it is our child (start's own cleanup)
    absl::SleepFor(absl::Milliseconds(100));
  }
  if (Alive(pid)) {
    std::fprintf(stderr, "stream-admin stop: still running after %d s; SIGKILL to its process group\n", timeout_s);
    kill(-pid, SIGKILL);
    std::remove(pid_file.c_str());
    return kExitFailed;
  }
  std::remove(pid_file.c_str());
  std::printf("stopped\n");
  return kExitOk;
}

}  // namespace sa::cli
