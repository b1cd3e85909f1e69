// What a service implements to run inside the common runtime (runtime/main.h).
//
// Lifecycle, driven by the runtime from the main thread:
//   construct (config already validated) -> Start() -> serve
//   -> Pause()/Resume() any number of times (from gRPC threads)
//   -> Drain(timeout) (gRPC Drain, or SIGTERM) -> Stop() -> destroy.
// Status(), Dependencies() and Details() are called from gRPC and HTTP threads
// at any time after construction and must be thread-safe and cheap.
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/server_interceptor.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "streamadmin/control/v1/control.pb.h"

namespace sa::auth {
class Enforcer;
}

namespace sa::runtime {

class Application {
 public:
  virtual ~Application() = default;

  // Services served beside health, reflection and ServiceControl. Called once
  // before Start(); the application keeps ownership.
  virtual std::vector<grpc::Service*> GrpcServices() { return {}; }
  // Extra interceptors for the service's gRPC server (after the metrics one).
  virtual std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
  GrpcInterceptors() {
    return {};
  }
  // The runtime's call enforcer (libs/auth), valid for the application's
  // lifetime; called once before Start(). The admin service feeds it
  // revocations directly and records its denials.
  virtual void AttachEnforcer(auth::Enforcer* enforcer) {}

  // Connects to dependencies and starts workers. Must not block on a
  // dependency that is down: connect in the background and report it through
  // Dependencies() instead. An error here is fatal (bad config, bug).
  virtual absl::Status Start() = 0;

  // Stop taking new input; in-flight work completes before it returns OK, so
  // once the service reports PAUSED nothing more is read nor produced.
  // Resume undoes it. A service that cannot stop its input leaves the
  // default: UNIMPLEMENTED, and the service stays RUNNING.
  virtual absl::Status Pause() { return absl::UnimplementedError("this service cannot pause"); }
  virtual absl::Status Resume() { return absl::UnimplementedError("this service cannot pause"); }
  // Finish in-flight work and flush outputs/acks within `timeout`; no new
  // input after. Should return by `timeout` (DEADLINE_EXCEEDED naming what is
  // unfinished); the runtime answers the caller at `timeout` in any case and
  // calls Stop() only after Drain returned.
  virtual absl::Status Drain(absl::Duration timeout) { return absl::OkStatus(); }
  // Release everything. Called once, after Drain.
  virtual void Stop() = 0;

  // Health of each dependency; the service is ready when all are healthy.
  virtual std::vector<streamadmin::control::v1::Dependency> Dependencies() { return {}; }
  // A few service-specific figures for GetStatus (counts, positions).
  virtual std::map<std::string, std::string> Details() { return {}; }
};

}  // namespace sa::runtime
