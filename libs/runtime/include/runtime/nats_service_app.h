// The starting point of most services: an Application whose dependencies are
// NATS (with the JetStream streams it owns) and optionally PostgreSQL servers.
// Services derive from it and add their own workers in OnStart()/OnStop().
// A service that turns a durable's messages into published outputs does it
// with StartConsuming: one ConsumerLoop, one AckWindow, one publisher,
// paused and resumed with the service, the loop's health among its
// Dependencies().
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "bus/jetstream.h"
#include "bus/jetstream_publisher.h"
#include "runtime/ack_window.h"
#include "runtime/application.h"
#include "runtime/consumer_loop.h"
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
  // After OnStop(): the publisher, the window and the loop are released.
  void Stop() override;
  // Pause the consumer loop started by StartConsuming (the handler keeps
  // ticking); without one, UNIMPLEMENTED like any Application.
  absl::Status Pause() override;
  absl::Status Resume() override;
  // NATS health, the consumer loop's, then the PostgreSQL servers' last
  // background probe (cached: a call never connects to the database).
  std::vector<streamadmin::control::v1::Dependency> Dependencies() override;

 protected:
  virtual absl::Status OnStart() { return absl::OkStatus(); }
  virtual void OnStop() {}
  NatsClient& nats() { return *nats_; }

  // From OnStart, once: a JetStreamPublisher, an AckWindow and a started
  // ConsumerLoop calling `handler`, which publishes through publisher() and
  // hands its inputs to window() (AckWindow::Submit). The durable takes the
  // window's ack policy (`window.acks` overrides `loop.acks`).
  absl::Status StartConsuming(ConsumerLoop::Options loop, ConsumerLoop::Handler handler,
                              AckWindow::Options window = {});
  // Stops the loop (the handler finishes what was fetched), then waits up to
  // `timeout` for the window to ack or nak every input in it; what is still
  // unsettled is redelivered to the next process. Idempotent (a second call
  // does not wait).
  absl::Status StopConsuming(absl::Duration timeout);
  bus::JetStreamPublisher& publisher() { return *publisher_; }
  AckWindow& window() { return *window_; }

 private:
  streamadmin::config::v1::NatsConfig nats_config_;
  std::vector<streamadmin::config::v1::StreamConfig> streams_;
  std::vector<PostgresDependency> postgres_;
  std::unique_ptr<NatsClient> nats_;
  std::unique_ptr<PostgresProbes> postgres_probes_;  // from Start() on
  std::unique_ptr<bus::JetStreamPublisher> publisher_;
  std::unique_ptr<AckWindow> window_;
  mutable std::mutex loop_mu_;  // loop_ for Pause/Resume/Dependencies (gRPC, HTTP threads)
  std::unique_ptr<ConsumerLoop> loop_;
};

}  // namespace sa::runtime
