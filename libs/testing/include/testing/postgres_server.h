// A real PostgreSQL 15 cluster for integration tests: initdb into a fresh
// temp dir, logical replication enabled, trust auth on 127.0.0.1, a free
// loopback port.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "testing/temp_dir.h"

namespace sa::testing {

// PostgreSQL refuses to run as root: when the test runs as root, initdb,
// pg_ctl and psql run as the "postgres" user through runuser, and the
// directory is chowned to it.
//
// pg_ctl daemonises the postmaster. So that it is reaped (and no zombie is
// left when the host's init does not reap orphans) the test process marks
// itself a child subreaper (PR_SET_CHILD_SUBREAPER) on the first Start():
// the orphaned postmaster then becomes our child and Stop/Kill reap it.
//
// Threading: not thread-safe; drive it from the test's main thread.
class PostgresServer {
 public:
  struct Options {
    std::string bin_dir;                  // empty: /usr/lib/postgresql/15/bin, then pg_config --bindir
    std::vector<std::string> extra_conf;  // lines appended to postgresql.conf
  };

  static absl::StatusOr<std::unique_ptr<PostgresServer>> Start(Options options);
  static absl::StatusOr<std::unique_ptr<PostgresServer>> Start() { return Start(Options{}); }

  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;
  ~PostgresServer();

  // host=127.0.0.1 port=P user=postgres dbname=postgres
  std::string dsn() const;
  int port() const { return port_; }
  std::string data_dir() const;
  std::string log_path() const;
  bool running() const { return postmaster_pid_ > 0; }

  // pg_ctl stop -m fast, or -m immediate.
  absl::Status Stop(bool immediate = false);
  // SIGKILL to the postmaster and all its backends (a crash).
  absl::Status Kill();
  // Stops if running, starts again (same port and data).
  absl::Status Restart();
  // Starts a stopped server.
  absl::Status Resume();

  // Runs SQL with psql (ON_ERROR_STOP); error status carries psql's output.
  absl::Status Exec(const std::string& sql, const std::string& dbname = "postgres");
  // Runs SQL and returns psql's unaligned, tuples-only output, trimmed
  // (rows separated by '\n', columns by '|').
  absl::StatusOr<std::string> Query(const std::string& sql, const std::string& dbname = "postgres");

 private:
  PostgresServer(Options options, TempDir dir, int port);
  absl::Status InitDb();
  absl::Status StartPostmaster();
  void ReapPostmaster();
  // argv run as the postgres user when we are root.
  std::vector<std::string> AsPostgres(std::vector<std::string> argv) const;

  Options options_;
  TempDir dir_;
  int port_;
  std::string bin_dir_;
  std::string runuser_;
  pid_t postmaster_pid_ = -1;
};

}  // namespace sa::testing
