// `stream-admin local`: the whole suite on one machine with embedded defaults.
// Starts a nats-server (JetStream) and a PostgreSQL cluster of its own, writes
// a config per service into the run directory, starts the five services,
// waits until every one answers grpc.health.v1 SERVING with all dependencies
// healthy, and prints their status. Then it runs until Ctrl-C (or, with
// --once, stops everything and exits: 0 when all were healthy).
#pragma once

#include <string>

namespace sa::cli {

struct LocalStackOptions {
  std::string bin_dir;        // where the service binaries are; default: next to stream-admin
  std::string run_dir;        // configs and logs; default: ./.stream-admin-local
  int grpc_base_port = 7100;  // service i gets grpc_base_port + i (ingest = 1 ... admin = 5)
  int http_base_port = 9100;
  bool once = false;
  int timeout_s = 60;
};

int RunLocalStack(const LocalStackOptions& options);

}  // namespace sa::cli
