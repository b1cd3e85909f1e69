// `stream-admin local`: the whole suite on one machine with embedded defaults.
// Starts a nats-server (JetStream) and a PostgreSQL cluster of its own, writes
// a config per service into the run directory, starts the seven services,
// waits until every one answers grpc.health.v1 SERVING with all dependencies
// healthy, and prints their status. Ingest replays the bundled recordings
// (or, with --live, subscribes to the exchanges) and the normalizer publishes
// canonical messages; a live view prints what arrives on md.trade/book/candle/
// status. Then it runs until Ctrl-C (or, with --once, exits as soon as trades
// and book updates have been seen and warehouse-sink has stored trades and a
// CDC row of a table it writes to the source: 0 when everything was healthy
// and flowing).
#pragma once

#include <string>

namespace sa::cli {

struct LocalStackOptions {
  std::string bin_dir;        // where the service binaries are; default: next to stream-admin
  std::string run_dir;        // configs and logs; default: ./.stream-admin-local
  int grpc_base_port = 7100;  // service i gets grpc_base_port + i (ingest = 1 ... admin = 5, warehouse-sink = 6)
  int http_base_port = 9100;
  bool once = false;
  int timeout_s = 60;
  // Market data: replay the recordings in samples_dir (default data/samples
  // of the source tree) at `speed` x recorded pace, looping; or, with live,
  // connect to the exchanges' public WebSocket feeds instead.
  std::string samples_dir;
  double speed = 1.0;
  bool live = false;
};

int RunLocalStack(const LocalStackOptions& options);

}  // namespace sa::cli
