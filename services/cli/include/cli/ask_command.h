// `stream-admin ask "question" [--dry-run] [--json|--csv]`: a question in plain
// words through the admin's query.v1 Ask (docs/ASK.md). Prints the DSL that
// ran and the model's explanation (to stderr with --json/--csv, so stdout
// stays machine-readable), then the table as `stream-admin query` prints it.
#pragma once

#include <grpcpp/security/credentials.h>

#include <cstdint>
#include <memory>
#include <string>

namespace sa::cli {

struct AskOptions {
  std::string target = "127.0.0.1:7105";
  std::string token;
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  std::string question;
  bool dry_run = false;
  bool json = false;
  bool csv = false;
  uint64_t max_rows = 0;
  double timeout_s = 300;  // the model may take several tries
};

// Exit code: 0 ok, 1 the service refused or failed, 2 bad usage.
int RunAsk(const AskOptions& options);

}  // namespace sa::cli
