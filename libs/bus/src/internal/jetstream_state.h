#pragma once

#include <nats/nats.h>

#include <memory>

#include "internal/connection_state.h"

namespace sa::bus::internal {

// One jsCtx plus the connection it lives on. Owned by JetStream, KeyValue,
// pull subscriptions and fetched messages (shared_ptr): the jsCtx is
// destroyed with the last of them.
struct JetStreamState {
  ~JetStreamState() {
    if (js != nullptr) jsCtx_Destroy(js);
  }
  std::shared_ptr<ConnectionState> conn;
  jsCtx* js = nullptr;
};

}  // namespace sa::bus::internal
