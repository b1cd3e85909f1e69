// Client side of the control plane every service serves: grpc.health.v1 and
// streamadmin.control.v1.ServiceControl. Used by the stream-admin CLI, the
// local stack launcher and the end-to-end tests.
#pragma once

#include <grpcpp/security/credentials.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "streamadmin/control/v1/control.grpc.pb.h"

namespace sa::cli {

class ControlClient {
 public:
  // target: host:port of a service's gRPC listener. token: an access token
  // (admin.v1.Auth/Login) sent as "authorization: Bearer" when not empty.
  // credentials: TLS (ClientCredentials below); null: plaintext.
  explicit ControlClient(const std::string& target, absl::Duration timeout = absl::Seconds(5),
                         std::string token = "", std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr);

  // OK when grpc.health.v1.Check("") says SERVING.
  absl::Status Health(const std::string& service = "");
  absl::StatusOr<streamadmin::control::v1::GetStatusResponse> GetStatus();
  absl::StatusOr<std::string> GetConfig();
  absl::StatusOr<streamadmin::control::v1::ServingState> Pause();
  absl::StatusOr<streamadmin::control::v1::ServingState> Resume();
  absl::StatusOr<streamadmin::control::v1::ServingState> Drain(absl::Duration timeout);

  const std::string& target() const { return target_; }

 private:
  std::string target_;
  absl::Duration timeout_;
  std::string token_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<streamadmin::control::v1::ServiceControl::Stub> stub_;
};

// TLS channel credentials from PEM files (CA to verify the server; optional
// client certificate and key). All empty: null (plaintext).
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ClientCredentials(const std::string& ca_file,
                                                                             const std::string& cert_file,
                                                                             const std::string& key_file);

// "RUNNING" for SERVING_STATE_RUNNING.
std::string StateLabel(streamadmin::control::v1::ServingState state);

}  // namespace sa::cli
