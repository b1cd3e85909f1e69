#include "cli/local_stack.h"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/control_client.h"
#include "testing/nats_server.h"
#include "testing/postgres_server.h"
#include "testing/process.h"
#include "testing/wait.h"

namespace sa::cli {
namespace {

namespace fs = std::filesystem;

struct ServiceSpec {
  const char* name;
  int index;
  // Extra YAML for the service beyond server/nats (databases).
  std::string extra_yaml;
};

struct RunningService {
  ServiceSpec spec;
  std::string target;
  int http_port;
  std::unique_ptr<testing::Process> process;
};

std::string SelfDir() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? "." : self.parent_path().string();
}

bool Healthy(const std::string& target, std::string* why) {
  ControlClient client(target, absl::Seconds(2));
  if (auto st = client.Health(); !st.ok()) {
    *why = std::string(st.message());
    return false;
  }
  auto status = client.GetStatus();
  if (!status.ok()) {
    *why = std::string(status.status().message());
    return false;
  }
  for (const auto& d : status->dependencies()) {
    if (!d.healthy()) {
      *why = absl::StrCat(d.name(), ": ", d.detail());
      return false;
    }
  }
  return true;
}

void PrintStatus(const std::vector<RunningService>& services) {
  std::printf("%-11s %-16s %-9s %-8s %s\n", "SERVICE", "GRPC", "STATE", "METRICS", "DEPENDENCIES");
  for (const auto& s : services) {
    ControlClient client(s.target, absl::Seconds(2));
    auto st = client.GetStatus();
    std::string deps;
    if (st.ok()) {
      for (const auto& d : st->dependencies())
        absl::StrAppend(&deps, deps.empty() ? "" : ", ", d.name(), d.healthy() ? " ok" : " DOWN");
    }
    std::printf("%-11s %-16s %-9s :%-7d %s\n", s.spec.name, s.target.c_str(),
                st.ok() ? StateLabel(st->state()).c_str() : "UNREACHABLE", s.http_port,
                st.ok() ? deps.c_str() : std::string(st.status().message()).c_str());
  }
  std::fflush(stdout);
}

}  // namespace

int RunLocalStack(const LocalStackOptions& o) {
  // Ctrl-C is taken with sigwait below; block it before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  const std::string bin_dir = o.bin_dir.empty() ? SelfDir() : o.bin_dir;
  const std::string run_dir = fs::absolute(o.run_dir.empty() ? ".stream-admin-local" : o.run_dir).string();
  std::error_code ec;
  fs::create_directories(run_dir, ec);
  if (ec) {
    std::fprintf(stderr, "stream-admin local: cannot create %s: %s\n", run_dir.c_str(), ec.message().c_str());
    return 1;
  }

  std::printf("starting nats-server (JetStream) ...\n");
  auto nats = testing::NatsServer::Start();
  if (!nats.ok()) {
    std::fprintf(stderr, "stream-admin local: nats-server: %s\n", std::string(nats.status().message()).c_str());
    return 1;
  }
  std::printf("starting PostgreSQL (wal_level=logical) ...\n");
  auto pg = testing::PostgresServer::Start();
  if (!pg.ok()) {
    std::fprintf(stderr, "stream-admin local: postgres: %s\n", std::string(pg.status().message()).c_str());
    return 1;
  }
  if (auto st = (*pg)->Exec("CREATE DATABASE warehouse"); !st.ok()) {
    std::fprintf(stderr, "stream-admin local: %s\n", std::string(st.message()).c_str());
    return 1;
  }
  const std::string pg_dsn = (*pg)->dsn();
  const std::string wh_dsn = absl::StrCat("host=127.0.0.1 port=", (*pg)->port(), " user=postgres dbname=warehouse");
  std::printf("  nats:     %s\n  postgres: %s\n\n", (*nats)->url().c_str(), pg_dsn.c_str());

  std::vector<ServiceSpec> specs = {
      {"ingest", 1, ""},
      {"normalizer", 2, ""},
      {"cdc-bridge", 3, absl::StrCat("source:\n  dsn: \"", pg_dsn, "\"\nwarehouse:\n  dsn: \"", wh_dsn, "\"\n")},
      {"anomaly", 4, ""},
      {"admin", 5, absl::StrCat("database:\n  dsn: \"", pg_dsn, "\"\n")},
  };
  std::vector<RunningService> services;
  for (const auto& spec : specs) {
    RunningService rs{spec, absl::StrCat("127.0.0.1:", o.grpc_base_port + spec.index),
                      o.http_base_port + spec.index, nullptr};
    std::string cfg_path = absl::StrCat(run_dir, "/", spec.name, ".yaml");
    std::ofstream(cfg_path) << "server:\n  grpc_listen: \"" << rs.target << "\"\n  http_listen: \"127.0.0.1:"
                            << rs.http_port << "\"\n  shutdown_grace_s: 5\nnats:\n  servers: [\"" << (*nats)->url()
                            << "\"]\n"
                            << spec.extra_yaml;
    testing::Process::Options popts;
    popts.log_file = absl::StrCat(run_dir, "/", spec.name, ".log");
    auto proc = testing::Process::Spawn({absl::StrCat(bin_dir, "/", spec.name), "--config", cfg_path}, popts);
    if (!proc.ok()) {
      std::fprintf(stderr, "stream-admin local: %s: %s\n", spec.name, std::string(proc.status().message()).c_str());
      return 1;
    }
    rs.process = std::move(*proc);
    services.push_back(std::move(rs));
  }

  bool all_healthy = true;
  for (auto& s : services) {
    std::string why;
    bool ok = testing::WaitFor(
        [&] { return !s.process->Exited() && Healthy(s.target, &why); }, absl::Seconds(o.timeout_s));
    if (!ok) {
      all_healthy = false;
      std::fprintf(stderr, "%s is not healthy: %s%s (log: %s/%s.log)\n", s.spec.name, why.c_str(),
                   s.process->Exited() ? " (exited)" : "", run_dir.c_str(), s.spec.name);
    }
  }
  PrintStatus(services);
  if (all_healthy) {
    std::printf("\nall services healthy. Logs and configs: %s\n", run_dir.c_str());
    std::printf("try: %s/stream-admin status -t %s   |   metrics of ingest: curl localhost:%d/metrics\n",
                bin_dir.c_str(), services.front().target.c_str(), o.http_base_port + 1);
  }

  if (!o.once && all_healthy) {
    std::printf("Ctrl-C stops the stack.\n");
    std::fflush(stdout);
    int sig = 0;
    sigwait(&signals, &sig);
  }
  std::printf("stopping ...\n");
  for (auto it = services.rbegin(); it != services.rend(); ++it) (void)it->process->Terminate(absl::Seconds(10));
  return all_healthy ? 0 : 1;
}

}  // namespace sa::cli
