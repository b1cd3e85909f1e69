// Starting the real service binaries for end-to-end and chaos tests: a YAML
// config with free ports, the environment (crash points), the log in the
// test's directory, and a wait for health that gives up as soon as the
// process dies (a process armed to crash may die before it is healthy).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "testing/process.h"

namespace sa::e2e {

struct RunningService {
  std::unique_ptr<testing::Process> process;
  std::string target;  // gRPC host:port
  int http_port = 0;   // /metrics /healthz /readyz
  std::string log_file;
};

struct ServiceSpec {
  std::string binary;  // in build/bin: "normalizer", "cdc-bridge", ...
  std::string name;    // config and log file names; default: binary
  // YAML after the generated server: and nats: sections (top-level keys).
  std::string yaml;
  std::vector<std::pair<std::string, std::string>> env;
  // Wait for grpc.health SERVING (false: return once spawned).
  bool wait_healthy = true;
  absl::Duration health_timeout = absl::Seconds(30);
};

class ServiceRunner {
 public:
  // `dir`: where configs and logs go; `nats_urls`: the servers every service gets.
  // `nats_yaml`: more keys of the nats: section, indented two spaces
  // ("  stream_replicas: 3\n").
  ServiceRunner(std::string dir, std::vector<std::string> nats_urls, std::string nats_yaml = "")
      : dir_(std::move(dir)), nats_urls_(std::move(nats_urls)), nats_yaml_(std::move(nats_yaml)) {}

  // Health failure is an error only while the process runs: a process that
  // died (armed crash point) is returned for the caller to inspect.
  absl::StatusOr<RunningService> Start(const ServiceSpec& spec);

  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::vector<std::string> nats_urls_;
  std::string nats_yaml_;
};

// "name=n" for SA_CRASH_POINTS.
inline std::pair<std::string, std::string> CrashAt(const std::string& point, uint64_t pass) {
  return {"SA_CRASH_POINTS", point + "=" + std::to_string(pass)};
}

}  // namespace sa::e2e
