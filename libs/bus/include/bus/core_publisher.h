// CorePublisher: bus::Publisher over core NATS (at most once, no acks). For
// subjects without a stream (view.<name>, live fan-out).
#pragma once

#include "bus/connection.h"
#include "bus/publisher.h"

namespace sa::bus {

// Sets Nats-Msg-Id when Message::msg_id is non-empty (harmless for core NATS,
// useful when a stream captures the subject). Thread-safe. Borrows the
// Connection, which must outlive it.
class CorePublisher : public Publisher {
 public:
  explicit CorePublisher(Connection& connection) : connection_(connection) {}

  absl::Status Publish(const Message& message) override;
  absl::Status Flush(absl::Duration timeout) override;

 private:
  Connection& connection_;
};

}  // namespace sa::bus
