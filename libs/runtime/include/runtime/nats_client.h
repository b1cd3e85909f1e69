// A service's NATS side: one bus::Connection plus the JetStream streams the
// service owns, ensured in the background so that start-up never blocks on a
// NATS server that is not up yet (Kubernetes starts pods in any order).
//
// Threading: Start() spawns one setup thread that retries EnsureStream with
// exponential backoff until every stream exists, then exits. Health() and
// Ready() are safe from any thread. The destructor stops the setup thread and
// closes the connection.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bus/connection.h"
#include "bus/jetstream.h"
#include "streamadmin/config/v1/config.pb.h"
#include "streamadmin/control/v1/control.pb.h"

namespace sa::runtime {

class NatsClient {
 public:
  static absl::StatusOr<std::unique_ptr<NatsClient>> Start(
      const streamadmin::config::v1::NatsConfig& config,
      std::vector<streamadmin::config::v1::StreamConfig> streams);
  ~NatsClient();

  // Connected, and every stream ensured.
  bool Ready() const { return streams_ready_.load() && connection_->IsConnected(); }
  // Blocks until Ready() or the timeout; true when ready.
  bool WaitReady(absl::Duration timeout);
  streamadmin::control::v1::Dependency Health() const;

  bus::Connection& connection() { return *connection_; }
  // Valid once Ready() has been true.
  bus::JetStream& jetstream() { return *jetstream_; }

 private:
  NatsClient() = default;
  void SetupLoop();

  std::vector<streamadmin::config::v1::StreamConfig> streams_;
  std::unique_ptr<bus::Connection> connection_;
  std::unique_ptr<bus::JetStream> jetstream_;
  std::atomic<bool> streams_ready_{false};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::string last_error_;
  std::thread setup_;
};

}  // namespace sa::runtime
