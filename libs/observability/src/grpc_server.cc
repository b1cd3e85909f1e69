#include "observability/grpc_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <spdlog/spdlog.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "observability/metrics.h"
#include "streamadmin/control/v1/control.grpc.pb.h"

namespace sa::obs {
namespace {

namespace ctl = streamadmin::control::v1;

class ControlService final : public ctl::ServiceControl::Service {
 public:
  explicit ControlService(ControlHandler* h) : h_(h) {}

  grpc::Status GetStatus(grpc::ServerContext*, const ctl::GetStatusRequest*,
                         ctl::GetStatusResponse* resp) override {
    *resp = h_->Status();
    return grpc::Status::OK;
  }
  grpc::Status GetConfig(grpc::ServerContext*, const ctl::GetConfigRequest*,
                         ctl::GetConfigResponse* resp) override {
    resp->set_json(h_->EffectiveConfigJson());
    return grpc::Status::OK;
  }
  grpc::Status Pause(grpc::ServerContext*, const ctl::PauseRequest*, ctl::PauseResponse* resp) override {
    return Reply(h_->Pause(), resp);
  }
  grpc::Status Resume(grpc::ServerContext*, const ctl::ResumeRequest*, ctl::ResumeResponse* resp) override {
    return Reply(h_->Resume(), resp);
  }
  grpc::Status Drain(grpc::ServerContext*, const ctl::DrainRequest* req, ctl::DrainResponse* resp) override {
    return Reply(h_->Drain(absl::Seconds(req->timeout_s())), resp);
  }

 private:
  template <typename Resp>
  static grpc::Status Reply(const absl::StatusOr<ctl::ServingState>& st, Resp* resp) {
    if (!st.ok()) return ToGrpcStatus(st.status());
    resp->set_state(*st);
    return grpc::Status::OK;
  }
  ControlHandler* h_;
};

class MetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit MetricsInterceptor(grpc::experimental::ServerRpcInfo* info)
      : method_(info->method()), start_(std::chrono::steady_clock::now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      grpc::Status st = methods->GetSendStatus();
      auto& registry = MetricsRegistry::Default();
      registry
          .GetCounter("streamadmin_grpc_server_handled_total", "gRPC calls completed, by method and status code",
                      {{"method", method_}, {"code", GrpcCodeName(st.error_code())}})
          .Inc();
      registry
          .GetHistogram("streamadmin_grpc_server_handling_seconds", "gRPC call latency", {{"method", method_}})
          .Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
    }
    methods->Proceed();
  }

 private:
  std::string method_;
  std::chrono::steady_clock::time_point start_;
};

class MetricsInterceptorFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override {
    return new MetricsInterceptor(info);
  }
};

}  // namespace

const char* GrpcCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "UNKNOWN";
  }
}

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(Options options) {
  if (!options.control) return absl::InvalidArgumentError("GrpcServer needs a ControlHandler");
  // Both are process-wide switches read when a ServerBuilder is created.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  std::unique_ptr<GrpcServer> self(new GrpcServer());
  self->service_name_ = options.service_name;
  self->control_service_ = std::make_unique<ControlService>(options.control);

  grpc::ServerBuilder builder;
  int port = 0;
  auto creds = options.credentials ? options.credentials : grpc::InsecureServerCredentials();
  builder.AddListeningPort(options.listen, creds, &port);
  builder.RegisterService(self->control_service_.get());
  for (grpc::Service* s : options.services) builder.RegisterService(s);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<MetricsInterceptorFactory>());
  for (auto& i : options.interceptors) interceptors.push_back(std::move(i));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  builder.SetMaxReceiveMessageSize(16 << 20);

  self->server_ = builder.BuildAndStart();
  if (!self->server_ || port == 0) {
    return absl::UnavailableError(absl::StrCat("gRPC server cannot listen on '", options.listen,
                                               "' (address in use or invalid?)"));
  }
  self->port_ = port;
  self->SetServing(false);  // the runtime flips it once the service has started
  return self;
}

void GrpcServer::SetServing(bool serving) {
  if (auto* health = server_->GetHealthCheckService()) {
    health->SetServingStatus(serving);
    health->SetServingStatus(service_name_, serving);
  }
}

void GrpcServer::Shutdown(absl::Duration grace) {
  if (shut_down_ || !server_) return;  // never started (the listen failed)
  shut_down_ = true;
  if (auto* health = server_->GetHealthCheckService()) health->Shutdown();
  server_->Shutdown(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(grace));
  server_->Wait();
}

GrpcServer::~GrpcServer() { Shutdown(absl::Seconds(1)); }

}  // namespace sa::obs
