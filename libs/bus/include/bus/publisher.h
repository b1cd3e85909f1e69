// bus::Publisher — the seam services depend on (never on nats.c). Production
// code gets a JetStreamPublisher (or a CorePublisher for best-effort
// subjects); tests may substitute a fake.
#pragma once

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "bus/message.h"

namespace sa::bus {

class Publisher {
 public:
  virtual ~Publisher() = default;

  // Hands `message` to the bus. May block for back-pressure. Returns an error
  // only for a message that will never be delivered (invalid, or the
  // connection is closed); transient failures are the implementation's job.
  virtual absl::Status Publish(const Message& message) = 0;

  // Waits until everything published before this call is durable (JetStream:
  // acknowledged; core NATS: received by the server).
  virtual absl::Status Flush(absl::Duration timeout) = 0;
};

}  // namespace sa::bus
