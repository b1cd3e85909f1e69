// The starting point of most services: an Application whose dependencies are
// NATS (with the JetStream streams it owns) and optionally PostgreSQL servers.
// Services derive from it and add their own workers in OnStart()/OnStop().
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"
#include "bus/jetstream.h"
#include "runtime/application.h"
#include "runtime/nats_client.h"
#include "runtime/postgres_probe.h"

namespace sa::runtime {

class NatsServiceApp : public Application {
 public:
  struct PostgresDependency {
    std::string name;  // "source", "warehouse", "database"
    std::string dsn;
  };

  NatsServiceApp(streamadmin::config::v1::NatsConfig nats,
                 std::vector<streamadmin::config::v1::StreamConfig> streams,
                 std::vector<PostgresDependency> postgres = {})
      : nats_config_(std::move(nats)), streams_(std::move(streams)), postgres_(std::move(postgres)) {}

  absl::Status Start() override;
  void Stop() override;
  // NATS health, then the PostgreSQL servers' last background probe (cached:
  // a call never connects to the database).
  std::vector<streamadmin::control::v1::Dependency> Dependencies() override;

 protected:
  virtual absl::Status OnStart() { return absl::OkStatus(); }
  virtual void OnStop() {}
  NatsClient& nats() { return *nats_; }
  // Ensures the durable pull consumer `consumer` and binds to it; the first
  // bind of a durable in this process redelivers, in stream order, what an
  // earlier process left unacknowledged. On failure:
  // logs why, waits `*backoff` (then doubles it, up to 5 s) and returns
  // nullptr — call again from the worker's loop.
  std::unique_ptr<bus::PullSubscription> BindPullConsumer(const streamadmin::config::v1::ConsumerConfig& consumer,
                                                          absl::Duration* backoff);

 private:
  streamadmin::config::v1::NatsConfig nats_config_;
  std::vector<streamadmin::config::v1::StreamConfig> streams_;
  std::vector<PostgresDependency> postgres_;
  std::unique_ptr<NatsClient> nats_;
  std::unique_ptr<PostgresProbes> postgres_probes_;  // from Start() on
  absl::flat_hash_set<std::string> rewound_;  // durables checked for an earlier process's deliveries
};

}  // namespace sa::runtime
