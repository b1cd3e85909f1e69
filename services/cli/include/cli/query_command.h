// `stream-admin query`: DSL queries over the warehouse through the admin's
// query.v1 service (docs/DSL.md).
//   stream-admin query 'md.trades | summarize n = count() by venue'   aligned table
//   ... --json | --csv                                               for scripts
//   ... --explain                                                    SQL, parameters, PostgreSQL's plan
//   ... --validate                                                   check only
//   stream-admin query --catalog                                     what the caller may query
// Errors print as the service formats them: line:col, the line, a caret.
#pragma once

#include <grpcpp/security/credentials.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "streamadmin/query/v1/query.pb.h"

namespace sa::cli {

struct QueryOptions {
  std::string target = "127.0.0.1:7105";                  // the admin service
  std::string token;                                      // access token; empty: none (auth off)
  std::shared_ptr<grpc::ChannelCredentials> credentials;  // TLS; null: plaintext
  std::string query;
  bool json = false;
  bool csv = false;
  bool explain = false;
  bool validate = false;
  bool catalog = false;
  uint64_t max_rows = 0;  // 0: the server's limit
  double timeout_s = 60;  // the call's deadline
};

// Prints to stdout (results) and stderr (errors, the row count); returns the
// exit code (cli/rpc.h): 0 ok, 1 the service refused or failed, 2 bad usage, 3 not found.
int RunQuery(const QueryOptions& options);

// Prints a result as `stream-admin query` does: an aligned table (the row
// count and duration to stderr), or JSON / CSV. Returns 0. (Also used by
// `stream-admin ask`.)
int PrintResult(const std::vector<streamadmin::query::v1::Column>& cols,
                const std::vector<streamadmin::query::v1::Row>& rows, const streamadmin::query::v1::Trailer& trailer,
                bool json, bool csv);

}  // namespace sa::cli
