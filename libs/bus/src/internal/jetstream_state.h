#pragma once

#include <nats/nats.h>

#include <cstdint>
#include <memory>
#include <mutex>

#include "absl/status/statusor.h"
#include "internal/connection_state.h"

namespace sa::bus::internal {

// One jsCtx, destroyed (jsCtx_Destroy) with its last user, and the
// connection it was made on.
struct JsContext {
  std::shared_ptr<jsCtx> js;
  uint64_t generation = 0;
};

// A JetStream context on the connection's current natsConnection, made on
// first use after each rebuild. Owned by JetStream, KeyValue, pull
// subscriptions and fetched messages (shared_ptr).
// Threading: Ctx() is thread-safe.
struct JetStreamState {
  // Unavailable while the connection has no natsConnection yet.
  absl::StatusOr<JsContext> Ctx();

  std::shared_ptr<ConnectionState> conn;
  int64_t api_wait_ms = 5000;  // jsOptions.Wait of every API request

 private:
  std::mutex mu_;
  JsContext current_;  // guarded by mu_
};

}  // namespace sa::bus::internal
