#include "testing/nats_cluster.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "testing/temp_dir.h"

namespace sa::testing {

absl::StatusOr<std::unique_ptr<NatsCluster>> NatsCluster::Start(int nodes, absl::Duration timeout) {
  std::unique_ptr<NatsCluster> c(new NatsCluster());
  std::vector<int> client_ports, cluster_ports;
  for (int i = 0; i < nodes; ++i) {
    auto client = PickFreePort();
    if (!client.ok()) return client.status();
    auto route = PickFreePort();
    if (!route.ok()) return route.status();
    client_ports.push_back(*client);
    cluster_ports.push_back(*route);
  }
  std::vector<std::string> routes;
  for (int p : cluster_ports) routes.push_back(absl::StrCat("nats-route://127.0.0.1:", p));
  for (int i = 0; i < nodes; ++i) {
    NatsServer::Options o;
    o.port = client_ports[i];
    // Every node is started before any is required to be ready: a JetStream
    // cluster node reports ready only once it can talk to the others.
    o.config_text = absl::StrCat("server_name: ", NodeName(i), "\n",
                                 "cluster {\n  name: sa-test\n  listen: 127.0.0.1:", cluster_ports[i], "\n  routes: [",
                                 absl::StrJoin(routes, ", "), "]\n}\n");
    o.ready_timeout = timeout;
    auto n = NatsServer::Start(o);
    if (!n.ok()) return n.status();
    c->nodes_.push_back(std::move(*n));
  }
  return c;
}

int NatsCluster::IndexOf(const std::string& name) const {
  for (int i = 0; i < static_cast<int>(nodes_.size()); ++i)
    if (NodeName(i) == name) return i;
  return -1;
}

std::vector<std::string> NatsCluster::urls() const {
  std::vector<std::string> out;
  for (const auto& n : nodes_) out.push_back(n->url());
  return out;
}

}  // namespace sa::testing
