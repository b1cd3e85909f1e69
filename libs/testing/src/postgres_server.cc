#include "testing/postgres_server.h"

#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "testing/proc_stat.h"
#include "testing/process.h"

namespace sa::testing {
namespace {

constexpr char kDefaultBinDir[] = "/usr/lib/postgresql/15/bin";

absl::Status RunChecked(const std::vector<std::string>& argv, absl::Duration timeout) {
  auto r = RunProcess(argv, timeout);
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    return absl::InternalError(absl::StrCat(absl::StrJoin(argv, " "), " exited with ", r->exit_code,
                                            ":\n", r->output));
  }
  return absl::OkStatus();
}

std::vector<pid_t> ChildrenNamed(pid_t parent, const std::string& name) {
  std::vector<pid_t> out;
  for (const ProcStat& p : ListProcesses())
    if (p.ppid == parent && p.comm == name) out.push_back(p.pid);
  return out;
}

// Waits for a process that may not be our child to exit (pidfd poll).
void AwaitExit(pid_t pid, absl::Duration timeout) {
  int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return;  // already gone
  pollfd pfd{fd, POLLIN, 0};
  int r;
  do {
    r = poll(&pfd, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout)));
  } while (r < 0 && errno == EINTR);
  close(fd);
}

void ReapChild(pid_t pid) {
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace

PostgresServer::PostgresServer(Options options, TempDir dir, int port)
    : options_(std::move(options)), dir_(std::move(dir)), port_(port) {}

absl::StatusOr<std::unique_ptr<PostgresServer>> PostgresServer::Start(Options options) {
  std::string bin_dir = options.bin_dir;
  if (bin_dir.empty()) {
    if (FindExecutable(absl::StrCat(kDefaultBinDir, "/initdb")).ok()) {
      bin_dir = kDefaultBinDir;
    } else {
      auto r = RunProcess({"pg_config", "--bindir"}, absl::Seconds(10));
      if (!r.ok()) return r.status();
      bin_dir = std::string(absl::StripAsciiWhitespace(r->output));
    }
  }
  auto dir = TempDir::Create("pg");
  if (!dir.ok()) return dir.status();
  auto port = PickFreePort();
  if (!port.ok()) return port.status();

  std::unique_ptr<PostgresServer> server(
      new PostgresServer(std::move(options), std::move(*dir), *port));
  server->bin_dir_ = bin_dir;
  if (geteuid() == 0) {
    auto runuser = FindExecutable("runuser", {"/usr/sbin", "/sbin", "/usr/bin", "/bin"});
    if (!runuser.ok()) return runuser.status();
    server->runuser_ = *runuser;
    passwd* pw = getpwnam("postgres");
    if (pw == nullptr) return absl::FailedPreconditionError("running as root but no 'postgres' user");
    if (chown(server->dir_.path().c_str(), pw->pw_uid, pw->pw_gid) != 0) {
      return absl::InternalError(absl::StrCat("chown ", server->dir_.path(), ": ", std::strerror(errno)));
    }
  }
  chmod(server->dir_.path().c_str(), 0700);
  // See the class comment: orphaned postmasters must become our children.
  prctl(PR_SET_CHILD_SUBREAPER, 1);

  if (auto s = server->InitDb(); !s.ok()) return s;
  if (auto s = server->StartPostmaster(); !s.ok()) return s;
  return server;
}

PostgresServer::~PostgresServer() {
  if (postmaster_pid_ > 0) {
    if (!Stop(/*immediate=*/true).ok()) (void)Kill();
  }
}

std::string PostgresServer::dsn() const {
  return absl::StrCat("host=127.0.0.1 port=", port_, " user=postgres dbname=postgres");
}

std::string PostgresServer::data_dir() const { return absl::StrCat(dir_.path(), "/data"); }

std::string PostgresServer::log_path() const { return absl::StrCat(dir_.path(), "/postgres.log"); }

std::vector<std::string> PostgresServer::AsPostgres(std::vector<std::string> argv) const {
  if (runuser_.empty()) return argv;
  std::vector<std::string> out = {runuser_, "-u", "postgres", "--"};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

absl::Status PostgresServer::InitDb() {
  if (auto s = RunChecked(AsPostgres({absl::StrCat(bin_dir_, "/initdb"), "-D", data_dir(), "-U",
                                      "postgres", "-A", "trust", "-E", "UTF8", "--locale=C",
                                      "--no-sync", "--no-instructions"}),
                          absl::Seconds(120));
      !s.ok()) {
    return s;
  }
  {
    std::ofstream conf(absl::StrCat(data_dir(), "/postgresql.conf"), std::ios::app);
    conf << "\n# sa::testing::PostgresServer\n"
         << "listen_addresses = '127.0.0.1'\n"
         << "port = " << port_ << "\n"
         << "unix_socket_directories = '" << dir_.path() << "'\n"
         << "wal_level = logical\n"
         << "max_replication_slots = 10\n"
         << "max_wal_senders = 10\n"
         // fsync off: only an OS crash could lose data. synchronous_commit stays
         // on so a committed row survives Kill() (a postmaster crash).
         << "fsync = off\n"
         << "full_page_writes = off\n"
         << "shared_buffers = 32MB\n";
    for (const auto& line : options_.extra_conf) conf << line << "\n";
    if (!conf) return absl::InternalError("appending to postgresql.conf failed");
  }
  {
    std::ofstream hba(absl::StrCat(data_dir(), "/pg_hba.conf"), std::ios::trunc);
    hba << "local all all trust\n"
        << "host all all 127.0.0.1/32 trust\n"
        << "local replication all trust\n"
        << "host replication all 127.0.0.1/32 trust\n";
    if (!hba) return absl::InternalError("writing pg_hba.conf failed");
  }
  return absl::OkStatus();
}

absl::Status PostgresServer::StartPostmaster() {
  // -w: pg_ctl itself waits until the server accepts connections.
  if (auto s = RunChecked(AsPostgres({absl::StrCat(bin_dir_, "/pg_ctl"), "-w", "-t", "60", "-D",
                                      data_dir(), "-l", log_path(), "start"}),
                          absl::Seconds(90));
      !s.ok()) {
    std::ifstream log(log_path());
    std::stringstream ss;
    ss << log.rdbuf();
    return absl::UnavailableError(absl::StrCat(s.message(), "\nserver log:\n", ss.str()));
  }
  std::ifstream pidfile(absl::StrCat(data_dir(), "/postmaster.pid"));
  std::string first;
  int pid = 0;
  if (!std::getline(pidfile, first) || !absl::SimpleAtoi(first, &pid) || pid <= 0) {
    return absl::InternalError("cannot read postmaster.pid");
  }
  postmaster_pid_ = pid;
  return absl::OkStatus();
}

void PostgresServer::ReapPostmaster() {
  if (postmaster_pid_ <= 0) return;
  AwaitExit(postmaster_pid_, absl::Seconds(30));
  // Our child once pg_ctl exited (we are a subreaper); ECHILD otherwise.
  ReapChild(postmaster_pid_);
  postmaster_pid_ = -1;
}

absl::Status PostgresServer::Stop(bool immediate) {
  if (postmaster_pid_ <= 0) return absl::OkStatus();
  auto s = RunChecked(AsPostgres({absl::StrCat(bin_dir_, "/pg_ctl"), "-D", data_dir(), "-m",
                                  immediate ? "immediate" : "fast", "-w", "-t", "60", "stop"}),
                      absl::Seconds(90));
  if (!s.ok()) return s;
  ReapPostmaster();
  return absl::OkStatus();
}

absl::Status PostgresServer::Kill() {
  if (postmaster_pid_ <= 0) return absl::OkStatus();
  // Backends are session leaders of their own (postgres calls setsid() in
  // every child), so a process-group kill would miss them: freeze the
  // postmaster so it cannot fork, then kill it and its children by pid.
  kill(postmaster_pid_, SIGSTOP);
  std::vector<pid_t> backends = ChildrenNamed(postmaster_pid_, "postgres");
  for (pid_t pid : backends) kill(pid, SIGKILL);
  kill(postmaster_pid_, SIGKILL);
  ReapPostmaster();
  // Orphaned by the postmaster's death, the backends are now our children.
  for (pid_t pid : backends) ReapChild(pid);
  return absl::OkStatus();
}

absl::Status PostgresServer::Resume() {
  if (postmaster_pid_ > 0) return absl::FailedPreconditionError("postgres is running");
  return StartPostmaster();
}

absl::Status PostgresServer::Restart() {
  if (auto s = Stop(); !s.ok()) return s;
  return StartPostmaster();
}

absl::StatusOr<std::string> PostgresServer::Query(const std::string& sql, const std::string& dbname) {
  auto r = RunProcess({absl::StrCat(bin_dir_, "/psql"), "-X", "-q", "-A", "-t", "-v",
                       "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", std::to_string(port_), "-U",
                       "postgres", "-d", dbname, "-c", sql},
                      absl::Seconds(60));
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    return absl::InternalError(absl::StrCat("psql '", sql, "': exit ", r->exit_code, ": ", r->output));
  }
  return std::string(absl::StripAsciiWhitespace(r->output));
}

absl::Status PostgresServer::Exec(const std::string& sql, const std::string& dbname) {
  auto r = Query(sql, dbname);
  return r.ok() ? absl::OkStatus() : r.status();
}

}  // namespace sa::testing
