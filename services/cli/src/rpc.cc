#include "cli/rpc.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace sa::cli {

std::shared_ptr<grpc::Channel> MakeChannel(const CallOptions& o) {
  return grpc::CreateChannel(o.target, o.credentials ? o.credentials : grpc::InsecureChannelCredentials());
}

std::unique_ptr<grpc::ClientContext> MakeContext(const CallOptions& o) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (!o.token.empty()) ctx->AddMetadata("authorization", "Bearer " + o.token);
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::milliseconds(static_cast<int64_t>(std::max(0.001, o.timeout_s) * 1000)));
  return ctx;
}

int ReportFailure(const std::string& command, const std::string& service, const CallOptions& o,
                  const grpc::Status& st) {
  // The service's message is the whole story (for DSL errors: position, line, caret, hint).
  std::fprintf(stderr, "stream-admin %s: %s\n", command.c_str(), st.error_message().c_str());
  switch (st.error_code()) {
    case grpc::StatusCode::NOT_FOUND:
      return kExitNotFound;
    case grpc::StatusCode::UNAVAILABLE:
      std::fprintf(stderr, "  (is the %s service up at %s? pass -t host:port; `stream-admin status` lists them)\n",
                   service.c_str(), o.target.c_str());
      break;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      std::fprintf(stderr, "  (no answer from %s at %s in time; is it overloaded or paused?)\n", service.c_str(),
                   o.target.c_str());
      break;
    case grpc::StatusCode::UNAUTHENTICATED:
      std::fprintf(stderr, "  (log in first: export STREAM_ADMIN_TOKEN=$(stream-admin login -u NAME), or --token)\n");
      break;
    case grpc::StatusCode::PERMISSION_DENIED:
      std::fprintf(stderr, "  (your token lacks the permission named above; ask an administrator for a role)\n");
      break;
    default:
      break;
  }
  return kExitFailed;
}

int ReportUsage(const std::string& command, const std::string& what) {
  std::fprintf(stderr, "stream-admin %s: %s\n", command.c_str(), what.c_str());
  return kExitUsage;
}

std::string ProtoJson(const google::protobuf::Message& message) {
  std::string out;
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(message, &out, opts);
  return out;
}

}  // namespace sa::cli
