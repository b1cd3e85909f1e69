// The gRPC server every service runs. Start() always adds:
//   - grpc.health.v1.Health (gRPC's built-in service; "" and the service name)
//   - server reflection (grpcurl / the CLI can list and describe everything)
//   - streamadmin.control.v1.ServiceControl, answered by a ControlHandler
//   - a metrics interceptor: streamadmin_grpc_server_handled_total{method,code}
//     and streamadmin_grpc_server_handling_seconds{method}
// plus the caller's own services and interceptors (e.g. libs/auth's).
//
// Threading: gRPC's sync server runs handlers on its own thread pool; the
// ControlHandler must be thread-safe. The GrpcServer does not own the
// services or the handler; they must outlive it.
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "streamadmin/control/v1/control.pb.h"

namespace sa::obs {

class ControlHandler {
 public:
  virtual ~ControlHandler() = default;
  virtual streamadmin::control::v1::GetStatusResponse Status() = 0;
  virtual std::string EffectiveConfigJson() = 0;
  virtual absl::StatusOr<streamadmin::control::v1::ServingState> Pause() = 0;
  virtual absl::StatusOr<streamadmin::control::v1::ServingState> Resume() = 0;
  virtual absl::StatusOr<streamadmin::control::v1::ServingState> Drain(absl::Duration timeout) = 0;
};

class GrpcServer {
 public:
  struct Options {
    std::string listen;        // host:port; port 0 picks a free one
    std::string service_name;  // health is reported for "" and this name
    ControlHandler* control = nullptr;
    std::vector<grpc::Service*> services;
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
    std::shared_ptr<grpc::ServerCredentials> credentials;  // null: insecure
  };

  static absl::StatusOr<std::unique_ptr<GrpcServer>> Start(Options options);
  ~GrpcServer();

  int port() const { return port_; }
  // Health status for "" and the service name.
  void SetServing(bool serving);
  // Stops accepting calls; in-flight calls get `grace` to finish.
  void Shutdown(absl::Duration grace);

 private:
  GrpcServer() = default;
  std::string service_name_;
  std::unique_ptr<grpc::Service> control_service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bool shut_down_ = false;
};

// "OK", "CANCELLED", ... for metrics labels and messages.
const char* GrpcCodeName(grpc::StatusCode code);

}  // namespace sa::obs
