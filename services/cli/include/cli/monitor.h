// `stream-admin monitor`: the whole system on one screen, refreshed every
// second, like htop for the pipeline.
//   panes: services (state, readiness, throughput with a sparkline),
//          consumer lag (streamadmin_bus_consumer_pending, CDC slot lag),
//          dead letters by reason, books per venue and the latest gaps,
//          the latest anomalies.
//   keys:  Tab / Right / n  next pane;  Shift-Tab / Left / p  previous;
//          q or Ctrl-C  quit. The selected pane gets the spare rows.
// Sources: each target's control.v1 GetStatus, its Prometheus /metrics on
// http port = grpc port + http_offset (the local stack's convention), the
// normalizer's ListVenues/ListGaps and the anomaly service's
// ListRecentAnomalies. A service that does not answer shows as DOWN and the
// view keeps going. --once prints one plain-text screen (two samples,
// `interval_s` apart, so that rates are known) and exits 0 when every
// service answered, else 1.
#pragma once

#include <grpcpp/security/credentials.h>

#include <memory>
#include <string>
#include <vector>

namespace sa::cli {

struct MonitorOptions {
  std::vector<std::string> targets;  // gRPC host:port of each service; empty: the local stack's defaults
  int http_offset = 2000;            // metrics port = gRPC port + this
  bool once = false;
  double interval_s = 1.0;
  std::string token;
  std::shared_ptr<grpc::ChannelCredentials> credentials;
};

int RunMonitor(const MonitorOptions& options);

}  // namespace sa::cli
