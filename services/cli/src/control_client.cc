#include "cli/control_client.h"

#include <grpcpp/grpcpp.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace sa::cli {

namespace ctl = streamadmin::control::v1;

ControlClient::ControlClient(const std::string& target, absl::Duration timeout, std::string token,
                             std::shared_ptr<grpc::ChannelCredentials> credentials)
    : target_(target),
      timeout_(timeout),
      token_(std::move(token)),
      channel_(grpc::CreateChannel(target, credentials ? credentials : grpc::InsecureChannelCredentials())),
      stub_(ctl::ServiceControl::NewStub(channel_)) {}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ClientCredentials(const std::string& ca_file,
                                                                             const std::string& cert_file,
                                                                             const std::string& key_file) {
  if (ca_file.empty() && cert_file.empty() && key_file.empty()) return nullptr;
  auto read = [](const std::string& path, std::string* out) {
    std::ifstream in(path);
    if (!in) return false;
    std::stringstream ss;
    ss << in.rdbuf();
    *out = ss.str();
    return true;
  };
  grpc::SslCredentialsOptions o;
  if (!ca_file.empty() && !read(ca_file, &o.pem_root_certs))
    return absl::InvalidArgumentError(absl::StrCat("cannot read CA file '", ca_file, "'"));
  if (!cert_file.empty() && !read(cert_file, &o.pem_cert_chain))
    return absl::InvalidArgumentError(absl::StrCat("cannot read certificate file '", cert_file, "'"));
  if (!key_file.empty() && !read(key_file, &o.pem_private_key))
    return absl::InvalidArgumentError(absl::StrCat("cannot read key file '", key_file, "'"));
  return grpc::SslCredentials(o);
}

namespace {
void SetDeadline(grpc::ClientContext* ctx, absl::Duration timeout) {
  ctx->set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(timeout));
}
absl::Status Annotate(const std::string& target, const char* call, const grpc::Status& st) {
  absl::Status s = FromGrpcStatus(st);
  return absl::Status(s.code(), absl::StrCat(target, " ", call, ": ", s.message()));
}

// One ServiceControl call `name` to `target`: the deadline, the bearer token
// when there is one, and a failure annotated with the target and the call.
template <typename Request, typename Response>
absl::StatusOr<Response> Call(ctl::ServiceControl::Stub& stub, const std::string& target, const std::string& token,
                              const char* name,
                              grpc::Status (ctl::ServiceControl::Stub::*rpc)(grpc::ClientContext*, const Request&,
                                                                             Response*),
                              const Request& req, absl::Duration timeout) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx, timeout);
  if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
  Response resp;
  grpc::Status st = (stub.*rpc)(&ctx, req, &resp);
  if (!st.ok()) return Annotate(target, name, st);
  return resp;
}
}  // namespace

absl::Status ControlClient::Health(const std::string& service) {
  auto stub = grpc::health::v1::Health::NewStub(channel_);
  grpc::ClientContext ctx;
  SetDeadline(&ctx, timeout_);
  if (!token_.empty()) ctx.AddMetadata("authorization", "Bearer " + token_);
  grpc::health::v1::HealthCheckRequest req;
  req.set_service(service);
  grpc::health::v1::HealthCheckResponse resp;
  grpc::Status st = stub->Check(&ctx, req, &resp);
  if (!st.ok()) return Annotate(target_, "Health.Check", st);
  if (resp.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
    return absl::UnavailableError(absl::StrCat(
        target_, " is ", grpc::health::v1::HealthCheckResponse::ServingStatus_Name(resp.status())));
  }
  return absl::OkStatus();
}

absl::StatusOr<ctl::GetStatusResponse> ControlClient::GetStatus() {
  return Call(*stub_, target_, token_, "GetStatus", &ctl::ServiceControl::Stub::GetStatus, ctl::GetStatusRequest(),
              timeout_);
}

absl::StatusOr<std::string> ControlClient::GetConfig() {
  auto resp = Call(*stub_, target_, token_, "GetConfig", &ctl::ServiceControl::Stub::GetConfig, ctl::GetConfigRequest(),
                   timeout_);
  if (!resp.ok()) return resp.status();
  return resp->json();
}

absl::StatusOr<ctl::ServingState> ControlClient::Pause() {
  auto resp = Call(*stub_, target_, token_, "Pause", &ctl::ServiceControl::Stub::Pause, ctl::PauseRequest(), timeout_);
  if (!resp.ok()) return resp.status();
  return resp->state();
}

absl::StatusOr<ctl::ServingState> ControlClient::Resume() {
  auto resp =
      Call(*stub_, target_, token_, "Resume", &ctl::ServiceControl::Stub::Resume, ctl::ResumeRequest(), timeout_);
  if (!resp.ok()) return resp.status();
  return resp->state();
}

absl::StatusOr<ctl::ServingState> ControlClient::Drain(absl::Duration timeout) {
  ctl::DrainRequest req;
  req.set_timeout_s(static_cast<uint32_t>(absl::ToInt64Seconds(timeout)));
  auto resp = Call(*stub_, target_, token_, "Drain", &ctl::ServiceControl::Stub::Drain, req, timeout + timeout_);
  if (!resp.ok()) return resp.status();
  return resp->state();
}

std::string StateLabel(ctl::ServingState state) {
  std::string name = ctl::ServingState_Name(state);
  const std::string prefix = "SERVING_STATE_";
  return name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
}

}  // namespace sa::cli
