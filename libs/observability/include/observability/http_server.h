// HTTP endpoint for operators and Kubernetes probes:
//   GET /metrics  Prometheus text format 0.0.4 of MetricsRegistry::Default()
//   GET /healthz  200 while the process is alive (liveness)
//   GET /readyz   200 when the readiness callback says so, else 503 with the reason
// Owns one listener thread; Stop() (or the destructor) joins it.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace httplib {
class Server;
}

namespace sa::obs {

class MetricsRegistry;

class HttpServer {
 public:
  // Returns OK when ready, or a status whose message says what is not.
  using ReadinessFn = std::function<absl::Status()>;

  // listen: "host:port"; port 0 picks a free port (see port()).
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const std::string& listen,
                                                           ReadinessFn readiness,
                                                           MetricsRegistry* registry = nullptr);
  ~HttpServer();
  int port() const { return port_; }
  void Stop();

 private:
  HttpServer() = default;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

// Splits "host:port" ("[::1]:80", ":80" = all interfaces). Error names the input.
absl::StatusOr<std::pair<std::string, int>> ParseHostPort(const std::string& listen);

}  // namespace sa::obs
