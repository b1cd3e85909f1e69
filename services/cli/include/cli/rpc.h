// The one way stream-admin commands call a service: channel (TLS or
// plaintext), bearer token, deadline, and the mapping of a failed call to an
// exit code and a message that says what to do next.
//
// Exit codes of every stream-admin command (also in `stream-admin --help` and
// services/cli/README.md): 0 ok, 1 the service refused or failed (or is unreachable),
// 2 bad usage, 3 not found.
#pragma once

#include <google/protobuf/message.h>
#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

namespace sa::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;    // the service refused or failed, or is unreachable
inline constexpr int kExitUsage = 2;     // bad arguments
inline constexpr int kExitNotFound = 3;  // NOT_FOUND

// The default gRPC target of each service in the local stack (port 7100 + i).
inline constexpr char kIngestTarget[] = "127.0.0.1:7101";
inline constexpr char kNormalizerTarget[] = "127.0.0.1:7102";
inline constexpr char kCdcBridgeTarget[] = "127.0.0.1:7103";
inline constexpr char kAnomalyTarget[] = "127.0.0.1:7104";
inline constexpr char kAdminTarget[] = "127.0.0.1:7105";
inline constexpr char kWarehouseSinkTarget[] = "127.0.0.1:7106";
inline constexpr char kViewsTarget[] = "127.0.0.1:7107";

struct CallOptions {
  std::string target;                                     // host:port
  std::string token;                                      // access token; empty: none (auth off)
  std::shared_ptr<grpc::ChannelCredentials> credentials;  // TLS; null: plaintext
  double timeout_s = 30;                                  // each call's deadline
};

// The CallOptions of a command's options: any struct with target, token,
// credentials and timeout_s.
template <typename CommandOptions>
CallOptions CallOptionsOf(const CommandOptions& o) {
  return {o.target, o.token, o.credentials, o.timeout_s};
}

// A channel to options.target with its credentials.
std::shared_ptr<grpc::Channel> MakeChannel(const CallOptions& options);

// A context with the bearer token and the deadline.
std::unique_ptr<grpc::ClientContext> MakeContext(const CallOptions& options);

// Prints "stream-admin <command>: <message>" and, for UNAVAILABLE,
// UNAUTHENTICATED and PERMISSION_DENIED, a line saying what to do;
// `service` names the service behind options.target ("admin", "ingest", ...).
// Returns kExitNotFound for NOT_FOUND, kExitFailed otherwise.
int ReportFailure(const std::string& command, const std::string& service, const CallOptions& options,
                  const grpc::Status& status);

// `message` as JSON with the .proto field names: what --json prints.
std::string ProtoJson(const google::protobuf::Message& message);

// Prints "stream-admin <command>: <what>" and returns kExitUsage.
int ReportUsage(const std::string& command, const std::string& what);

}  // namespace sa::cli
