// `stream-admin views`: continuous views ([9], docs/VIEWS.md) through the
// admin's views.v1 service, and their outputs from NATS.
//   stream-admin views create NAME 'DSL' [--emit final|changes] [--from now|beginning|seq:N|time:RFC3339]
//   stream-admin views replace NAME 'DSL' [...]     a new version (starts where --from says)
//   stream-admin views list [--json]                 definitions with owner replica, state, lag, rates, memory
//   stream-admin views get NAME [--json]
//   stream-admin views drop NAME
//   stream-admin views tail NAME [-n N]              the view's output envelopes, one JSON per line
// Exit codes: 0 ok, 1 the service refused or failed (its message says why),
// 2 bad usage, 3 no such view.
#pragma once

#include <grpcpp/security/credentials.h>

#include <cstdint>
#include <memory>
#include <string>

namespace sa::cli {

struct ViewsOptions {
  std::string action;  // create, replace, list, get, drop, tail
  std::string target = "127.0.0.1:7105";
  std::string token;
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  std::string name;
  std::string statement;
  std::string emit = "final";
  std::string from = "now";
  uint64_t memory_limit_bytes = 0;
  bool json = false;
  std::string server = "nats://127.0.0.1:4222";  // tail
  int limit = 0;                                 // tail
  double timeout_s = 30;
};

int RunViews(const ViewsOptions& options);

}  // namespace sa::cli
