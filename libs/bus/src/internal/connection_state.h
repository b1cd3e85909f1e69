// Shared state behind Connection and everything made from it.
#pragma once

#include <nats/nats.h>

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "bus/connection.h"
#include "internal/callback_registry.h"

namespace sa::bus::internal {

// NatsConfig with the documented defaults applied to zero/empty fields.
struct EffectiveNatsConfig {
  int64_t connect_timeout_ms;
  int64_t reconnect_wait_ms;
  int64_t reconnect_max_wait_ms;
  int64_t reconnect_jitter_ms;
  int64_t reconnect_buffer_bytes;
  int64_t max_pending_acks;
  int64_t ack_timeout_ms;
};
EffectiveNatsConfig ApplyDefaults(const Connection::Config& config);

// Lifetime: owned by Connection and by every object made from it (shared_ptr);
// the natsConnection is destroyed with the last owner. The callback registry
// holds it too until Close() unregisters it.
struct ConnectionState : CallbackTarget {
  ConnectionState(const Connection::Config& config)
      : config(config), effective(ApplyDefaults(config)) {}
  ~ConnectionState() override;

  void MarkUp(natsConnection* conn, bool reconnect);
  void MarkDown(natsConnection* conn);
  void MarkClosed();
  void Close();
  bool IsConnected() const;

  const Connection::Config config;
  const EffectiveNatsConfig effective;
  natsConnection* nc = nullptr;  // set once in Connect(), before any other thread sees the state
  void* closure = nullptr;       // our id in CallbackRegistry<ConnectionState>

  mutable std::mutex mu;
  mutable std::condition_variable cv;
  bool up = false;
  bool closing = false;
  bool draining = false;
  bool closed = false;
  Connection::Stats stats;
  std::vector<std::string> async_errors;  // guarded by mu; cv notified on append
};

}  // namespace sa::bus::internal
