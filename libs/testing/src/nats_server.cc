#include "testing/nats_server.h"

#include <signal.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "testing/wait.h"

namespace sa::testing {

NatsServer::NatsServer(Options options, TempDir dir, int port)
    : options_(std::move(options)), dir_(std::move(dir)), port_(port) {}

absl::StatusOr<std::unique_ptr<NatsServer>> NatsServer::Start(Options options) {
  auto binary = FindExecutable("nats-server", {"/usr/sbin", "/usr/bin", "/usr/local/bin"});
  if (!binary.ok()) return binary.status();
  auto dir = TempDir::Create("nats");
  if (!dir.ok()) return dir.status();
  absl::StatusOr<int> port = options.port;
  if (options.port == 0) port = PickFreePort();
  if (!port.ok()) return port.status();

  std::unique_ptr<NatsServer> server(new NatsServer(std::move(options), std::move(*dir), *port));
  server->binary_ = *binary;
  server->store_dir_ = server->options_.store_dir.empty()
                           ? absl::StrCat(server->dir_.path(), "/store")
                           : server->options_.store_dir;
  std::error_code ec;
  std::filesystem::create_directories(server->store_dir_, ec);
  if (ec) return absl::InternalError(absl::StrCat("mkdir ", server->store_dir_, ": ", ec.message()));
  if (!server->options_.config_text.empty()) {
    std::ofstream conf(absl::StrCat(server->dir_.path(), "/nats.conf"));
    conf << server->options_.config_text << "\n";
    if (!conf) return absl::InternalError("writing nats.conf failed");
  }
  if (auto s = server->Launch(); !s.ok()) return s;
  return server;
}

NatsServer::~NatsServer() {
  if (process_ != nullptr) (void)process_->Kill();
  process_.reset();
}

std::string NatsServer::url() const { return absl::StrCat("nats://127.0.0.1:", port_); }

std::string NatsServer::log_path() const { return absl::StrCat(dir_.path(), "/nats-server.log"); }

std::string NatsServer::Log() const {
  std::ifstream in(log_path(), std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

absl::Status NatsServer::Launch() {
  std::vector<std::string> argv = {binary_, "-a", "127.0.0.1", "-p", std::to_string(port_)};
  if (!options_.config_text.empty()) {
    argv.push_back("-c");
    argv.push_back(absl::StrCat(dir_.path(), "/nats.conf"));
  }
  if (options_.jetstream) {
    argv.insert(argv.end(), {"-js", "-sd", store_dir_});
  }
  argv.insert(argv.end(), options_.extra_args.begin(), options_.extra_args.end());

  Process::Options popts;
  popts.log_file = log_path();
  auto proc = Process::Spawn(argv, popts);
  if (!proc.ok()) return proc.status();
  // The server prints this once JetStream is restored and the client
  // listener accepts connections.
  if (auto s = (*proc)->WaitForOutput("Server is ready", options_.ready_timeout); !s.ok()) {
    (void)(*proc)->Kill();
    return absl::UnavailableError(absl::StrCat("nats-server on port ", port_, ": ", s.message()));
  }
  process_ = std::move(*proc);
  return absl::OkStatus();
}

absl::Status NatsServer::Stop(bool kill) {
  if (process_ == nullptr) return absl::OkStatus();
  auto code = kill ? process_->Kill() : process_->Terminate(absl::Seconds(15));
  process_.reset();
  if (!code.ok()) return code.status();
  return absl::OkStatus();
}

absl::Status NatsServer::Resume() {
  if (process_ != nullptr) return absl::FailedPreconditionError("nats-server is running");
  return Launch();
}

absl::Status NatsServer::Reload(const std::string& config_text) {
  if (process_ == nullptr) return absl::FailedPreconditionError("nats-server is not running");
  if (options_.config_text.empty()) return absl::FailedPreconditionError("nats-server was started without a config");
  options_.config_text = config_text;  // a restart keeps it
  std::string text = config_text;
  // A reloaded file without JetStream turns off the JetStream that -js
  // turned on (nats-server 2.9): the file says what the flags say.
  if (options_.jetstream && text.find("jetstream") == std::string::npos) {
    absl::StrAppend(&text, "\njetstream {\n  store_dir: \"", store_dir_, "\"\n}\n");
  }
  {
    std::ofstream conf(absl::StrCat(dir_.path(), "/nats.conf"), std::ios::trunc);
    conf << text << "\n";
    if (!conf) return absl::InternalError("writing nats.conf failed");
  }
  // The server logs one of these per reload.
  static constexpr char kReloaded[] = "Reloaded server configuration";
  static constexpr char kFailed[] = "Failed to reload server configuration";
  auto count = [](const std::string& log, const char* line) {
    size_t n = 0;
    for (size_t pos = log.find(line); pos != std::string::npos; pos = log.find(line, pos + 1)) ++n;
    return n;
  };
  const std::string before = Log();
  const size_t reloaded = count(before, kReloaded), failed = count(before, kFailed);
  if (absl::Status s = process_->Signal(SIGHUP); !s.ok()) return s;
  std::string after;
  if (!WaitFor(
          [&] {
            after = Log();
            return count(after, kReloaded) > reloaded || count(after, kFailed) > failed;
          },
          absl::Seconds(10))) {
    return absl::DeadlineExceededError(absl::StrCat("nats-server on port ", port_, " logged no reload"));
  }
  if (count(after, kFailed) > failed) {
    return absl::InvalidArgumentError(absl::StrCat("nats-server on port ", port_, " refused the new configuration"));
  }
  return absl::OkStatus();
}

absl::Status NatsServer::Restart() {
  if (auto s = Stop(); !s.ok()) return s;
  return Launch();
}

}  // namespace sa::testing
