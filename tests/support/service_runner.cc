#include "service_runner.h"

#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/control_client.h"
#include "e2e_util.h"
#include "testing/temp_dir.h"
#include "testing/wait.h"

namespace sa::e2e {

absl::StatusOr<RunningService> ServiceRunner::Start(const ServiceSpec& spec) {
  const std::string name = spec.name.empty() ? spec.binary : spec.name;
  auto grpc_port = testing::PickFreePort();
  if (!grpc_port.ok()) return grpc_port.status();
  auto http_port = testing::PickFreePort();
  if (!http_port.ok()) return http_port.status();
  const std::string cfg = absl::StrCat(dir_, "/", name, ".yaml");
  {
    std::ofstream out(cfg);
    out << "server:\n  grpc_listen: 127.0.0.1:" << *grpc_port << "\n  http_listen: 127.0.0.1:" << *http_port
        << "\n  shutdown_grace_s: 5\nnats:\n  servers: [" << absl::StrJoin(nats_urls_, ", ") << "]\n"
        << nats_yaml_ << spec.yaml;
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", cfg));
  }
  testing::Process::Options opts;
  opts.log_file = absl::StrCat(dir_, "/", name, ".log");
  opts.env = spec.env;
  auto p = testing::Process::Spawn({BinDir() + "/" + spec.binary, "--config", cfg}, opts);
  if (!p.ok()) return p.status();
  RunningService s{std::move(*p), absl::StrCat("127.0.0.1:", *grpc_port), *http_port, opts.log_file};
  if (!spec.wait_healthy) return s;
  cli::ControlClient client(s.target, absl::Seconds(2));
  const bool healthy =
      testing::WaitFor([&] { return s.process->Exited() || client.Health().ok(); }, spec.health_timeout);
  if (!healthy && !s.process->Exited())
    return absl::DeadlineExceededError(absl::StrCat(name, " not healthy within ", absl::FormatDuration(spec.health_timeout),
                                                    ":\n", s.process->Output().substr(0, 4000)));
  return s;
}

}  // namespace sa::e2e
