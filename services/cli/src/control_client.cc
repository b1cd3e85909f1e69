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
  grpc::ClientContext ctx;
  SetDeadline(&ctx, timeout_);
  if (!token_.empty()) ctx.AddMetadata("authorization", "Bearer " + token_);
  ctl::GetStatusResponse resp;
  grpc::Status st = stub_->GetStatus(&ctx, ctl::GetStatusRequest(), &resp);
  if (!st.ok()) return Annotate(target_, "GetStatus", st);
  return resp;
}

absl::StatusOr<std::string> ControlClient::GetConfig() {
  grpc::ClientContext ctx;
  SetDeadline(&ctx, timeout_);
  if (!token_.empty()) ctx.AddMetadata("authorization", "Bearer " + token_);
  ctl::GetConfigResponse resp;
  grpc::Status st = stub_->GetConfig(&ctx, ctl::GetConfigRequest(), &resp);
  if (!st.ok()) return Annotate(target_, "GetConfig", st);
  return resp.json();
}

absl::StatusOr<ctl::ServingState> ControlClient::Pause() {
  grpc::ClientContext ctx;
  SetDeadline(&ctx, timeout_);
  if (!token_.empty()) ctx.AddMetadata("authorization", "Bearer " + token_);
  ctl::PauseResponse resp;
  grpc::Status st = stub_->Pause(&ctx, ctl::PauseRequest(), &resp);
  if (!st.ok()) return Annotate(target_, "Pause", st);
  return resp.state();
}

absl::StatusOr<ctl::ServingState> ControlClient::Resume() {
  grpc::ClientContext ctx;
  SetDeadline(&ctx, timeout_);
  if (!token_.empty()) ctx.AddMetadata("authorization", "Bearer " + token_);
  ctl::ResumeResponse resp;
  grpc::Status st = stub_->Resume(&ctx, ctl::ResumeRequest(), &resp);
  if (!st.ok()) return Annotate(target_, "Resume", st);
  return resp.state();
}

absl::StatusOr<ctl::ServingState> ControlClient::Drain(absl::Duration timeout) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx, timeout + timeout_);
  ctl::DrainRequest req;
  req.set_timeout_s(static_cast<uint32_t>(absl::ToInt64Seconds(timeout)));
  ctl::DrainResponse resp;
  grpc::Status st = stub_->Drain(&ctx, req, &resp);
  if (!st.ok()) return Annotate(target_, "Drain", st);
  return resp.state();
}

std::string StateLabel(ctl::ServingState state) {
  std::string name = ctl::ServingState_Name(state);
  const std::string prefix = "SERVING_STATE_";
  return name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
}

}  // namespace sa::cli
