// A real nats-server (JetStream on) for integration tests, on a free
// loopback port with its own store directory.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "testing/process.h"
#include "testing/temp_dir.h"

namespace sa::testing {

// Lifecycle: Start() returns a running, ready server ("Server is ready" seen
// on its log). Stop/Kill/Restart keep the port and the store directory, so
// JetStream data survives a restart. The destructor kills the server and
// removes the temporary directory. Output goes to <dir>/nats-server.log.
//
// Threading: not thread-safe; drive it from the test's main thread (other
// threads may keep using url()/port(), which never change).
class NatsServer {
 public:
  struct Options {
    int port = 0;                         // 0: a free loopback port
    std::string store_dir;                // empty: a fresh temp dir
    std::vector<std::string> extra_args;  // appended to the command line
    std::string config_text;              // when set, written to a file passed with -c
    bool jetstream = true;
    absl::Duration ready_timeout = absl::Seconds(15);
  };

  static absl::StatusOr<std::unique_ptr<NatsServer>> Start(Options options);
  static absl::StatusOr<std::unique_ptr<NatsServer>> Start() { return Start(Options{}); }

  NatsServer(const NatsServer&) = delete;
  NatsServer& operator=(const NatsServer&) = delete;
  ~NatsServer();

  std::string url() const;  // nats://127.0.0.1:PORT
  int port() const { return port_; }
  const std::string& store_dir() const { return store_dir_; }
  std::string log_path() const;
  // Everything the server has logged so far, over all its runs (empty when
  // the log cannot be read).
  std::string Log() const;
  bool running() const { return process_ != nullptr; }
  // The running nats-server's pid (0 when stopped): for CPU accounting.
  pid_t pid() const { return process_ != nullptr ? process_->pid() : 0; }

  // SIGTERM and wait (graceful), or SIGKILL when `kill`.
  absl::Status Stop(bool kill = false);
  absl::Status Kill() { return Stop(/*kill=*/true); }
  // Stops if running, then starts again on the same port and store.
  absl::Status Restart();
  // Starts a stopped server (same port and store).
  absl::Status Resume();
  // Replaces the configuration file with `config_text` and has the running
  // server reload it (SIGHUP); returns once the server logged the reload.
  // The server must have been started with a config_text.
  absl::Status Reload(const std::string& config_text);

 private:
  NatsServer(Options options, TempDir dir, int port);
  absl::Status Launch();

  Options options_;
  TempDir dir_;
  int port_;
  std::string store_dir_;
  std::string binary_;
  std::unique_ptr<Process> process_;
};

}  // namespace sa::testing
