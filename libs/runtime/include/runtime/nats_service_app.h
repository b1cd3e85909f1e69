// The starting point of most services: an Application whose dependencies are
// NATS (with the JetStream streams it owns) and optionally PostgreSQL servers.
// Services derive from it and add their own workers in OnStart()/OnStop();
// a durable is consumed through runtime::ConsumerLoop (consumer_loop.h).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "bus/jetstream.h"
#include "runtime/application.h"
#include "runtime/nats_client.h"

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
  std::vector<streamadmin::control::v1::Dependency> Dependencies() override;

 protected:
  virtual absl::Status OnStart() { return absl::OkStatus(); }
  virtual void OnStop() {}
  NatsClient& nats() { return *nats_; }

 private:
  streamadmin::config::v1::NatsConfig nats_config_;
  std::vector<streamadmin::config::v1::StreamConfig> streams_;
  std::vector<PostgresDependency> postgres_;
  std::unique_ptr<NatsClient> nats_;
};

}  // namespace sa::runtime
