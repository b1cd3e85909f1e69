// `stream-admin <noun> <verb>`: a command for every gRPC API of the suite.
//   users    list | get | create | update | delete | set-roles | set-password   (admin.v1.Users)
//   roles    list | put | delete                                                 (admin.v1.Roles)
//   keys     list | create | revoke                                              (admin.v1.ApiKeys)
//   logout                                revokes the refresh token (and the access token)
//   audit    list [--actor --action --since --limit]                             (admin.v1.Audit)
//   nats     creds [-o FILE] | server-config                                     (admin.v1.NatsAccess)
//   sources  list | add | remove | replay                                        (ingest.v1.Ingest)
//   book VENUE SYMBOL | gaps | venues                                            (normalizer.v1)
//   cdc      connectors | snapshots | snapshot TABLE | sink                     (cdc.v1 Cdc, CdcSink)
//   anomaly  models | threshold | recent                                         (anomaly.v1)
// Each prints a table, or the response as JSON with --json. Exit codes: rpc.h.
#pragma once

#include <grpcpp/security/credentials.h>

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <string>

namespace sa::cli {

// Set by main after parsing (--token, TLS flags); read when a command runs.
struct GlobalOptions {
  std::string token;
  std::shared_ptr<grpc::ChannelCredentials> credentials;
};

// Registers the commands above on `app`. When one of them is chosen on the
// command line, parsing stores it in *run; main calls it after parsing.
// `globals` must outlive app.
void AddApiCommands(CLI::App& app, const GlobalOptions* globals, std::function<int()>* run);

}  // namespace sa::cli
