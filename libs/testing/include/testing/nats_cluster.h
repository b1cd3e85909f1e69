// A real 3-node (or N-node) nats-server cluster with JetStream for tests:
// each node on its own free loopback client port and cluster port, its own
// store, routes to every other node, and a server name ("n1".."nN") that
// JetStream reports as a stream's leader.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "testing/nats_server.h"

namespace sa::testing {

// Threading: drive it from the test's main thread.
class NatsCluster {
 public:
  // Starts `nodes` servers, each ready to accept clients (within `timeout`).
  // JetStream elects its meta leader a moment later: a client's first stream
  // request may time out meanwhile (services retry; a test can WaitFor
  // EnsureStream).
  static absl::StatusOr<std::unique_ptr<NatsCluster>> Start(int nodes = 3, absl::Duration timeout = absl::Seconds(60));

  NatsCluster(const NatsCluster&) = delete;
  NatsCluster& operator=(const NatsCluster&) = delete;

  int size() const { return static_cast<int>(nodes_.size()); }
  NatsServer& node(int i) { return *nodes_[i]; }
  // "n1".."nN" for node(0)..node(N-1).
  static std::string NodeName(int i) { return "n" + std::to_string(i + 1); }
  // Index of the node called `name`, or -1.
  int IndexOf(const std::string& name) const;
  // Every node's client URL, for a client that fails over on its own.
  std::vector<std::string> urls() const;

 private:
  NatsCluster() = default;
  std::vector<std::unique_ptr<NatsServer>> nodes_;
};

}  // namespace sa::testing
