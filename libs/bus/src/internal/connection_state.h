// Shared state behind Connection and everything made from it.
#pragma once

#include <nats/nats.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
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

// Exponential backoff from reconnect_wait_ms, doubling per attempt (1 = the
// first) up to reconnect_max_wait_ms, plus up to reconnect_jitter_ms.
int64_t BackoffMs(const EffectiveNatsConfig& config, int attempt);

// One natsConnection, destroyed (natsConnection_Destroy) with its last user:
// a replaced connection stays valid for a caller still holding it.
using NatsConnPtr = std::shared_ptr<natsConnection>;

// The natsConnection to use now. `generation` numbers the natsConnections a
// Connection has built, from 1; 0 with a null `nc` while none was built yet
// (the first connect was refused).
struct CurrentConnection {
  NatsConnPtr nc;
  uint64_t generation = 0;
};

// Told once a new natsConnection (built after nats.c closed the last one, or
// refused the first) is up, before WaitConnected's waiters wake: on nats.c's
// callback thread or the rebuild thread. Must be quick; must not call
// ConnectionState::Close or wait for connection events.
class RebuildListener {
 public:
  virtual ~RebuildListener() = default;
  virtual void OnRebuilt(const CurrentConnection& now) = 0;
  // The owner closed the connection (Close): nothing more arrives on it.
  virtual void OnClosed() {}
};

struct ConnectionState;

// What nats.c calls back with for the events of one natsConnection: the
// state and the generation of that connection, so events of a connection
// already replaced are told apart (and dropped).
struct ConnectionEvents : CallbackTarget {
  std::shared_ptr<ConnectionState> state;
  uint64_t generation = 0;
};

// nats.c closes a connection for good on some handshake failures (an
// "Authorization Violation" while connecting, twice in a row while
// reconnecting) and may refuse the very first connect. The state then builds
// a new natsConnection from the same options on its rebuild thread, with
// backoff (BackoffMs), until one is made; everything built on the connection
// (JetStream contexts, subscriptions, publishers, key-value stores) moves to
// the new one: lazily, by comparing generations on use, or (subscriptions,
// publishers) through a RebuildListener.
//
// Lifetime: owned by Connection and by every object made from it (shared_ptr);
// the callback registry holds it too until Close() unregisters it. Close()
// stops the rebuild thread.
struct ConnectionState : std::enable_shared_from_this<ConnectionState> {
  // Takes ownership of `options` (natsOptions_Destroy'd with the state).
  ConnectionState(const Connection::Config& config, natsOptions* options);
  ~ConnectionState();

  // Makes a natsConnection from `options` and makes it current. OK also when
  // it connects in the background (no server reachable yet). Not concurrent
  // with itself: Connect() calls it, then only the rebuild thread.
  absl::Status Build(natsStatus* nats_status);
  // Starts the rebuild thread; with `rebuild_now`, it builds at once (the
  // first connect was refused).
  void StartRebuilder(bool rebuild_now);

  void MarkUp(uint64_t generation, natsConnection* conn, bool reconnect);
  void MarkDown(uint64_t generation, natsConnection* conn);
  void MarkClosed(uint64_t generation, natsConnection* conn);
  void Close();
  bool IsConnected() const;
  // Close() or Drain() was called: a closed connection is not rebuilt.
  bool UserClosed() const;
  // Blocks until connected, closed by the user, or `timeout`.
  bool WaitUp(absl::Duration timeout) const;

  CurrentConnection Current() const;
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  // `listener` is told of every later rebuild while it lives.
  void AddListener(std::weak_ptr<RebuildListener> listener);

  const Connection::Config config;
  const EffectiveNatsConfig effective;
  const std::string name;  // config.name(), or "connection": for logs

  mutable std::mutex mu;
  mutable std::condition_variable cv;  // up, closed, rebuild_needed, generation changes
  bool up = false;
  bool closing = false;
  bool draining = false;
  bool closed = false;
  bool rebuild_needed = false;
  int rebuild_attempts = 0;           // failed or pending builds since the last connect
  uint64_t connected_generation = 0;  // the newest connection that came up
  uint64_t initial_generation = 0;    // the connection Connect() made (0: refused): not a rebuild
  std::string last_close_error;       // nats.c's last error on the connection it closed
  Connection::Stats stats;
  std::vector<std::string> async_errors;  // guarded by mu; cv notified on append

 private:
  void RebuildLoop();

  natsOptions* const options_;  // callbacks re-pointed by each Build()
  mutable std::mutex nc_mu_;
  NatsConnPtr nc_;           // guarded by nc_mu_
  void* closure_ = nullptr;  // the current connection's ConnectionEvents id; guarded by nc_mu_
  std::atomic<uint64_t> generation_{0};
  std::vector<std::weak_ptr<RebuildListener>> listeners_;  // guarded by mu
  std::thread rebuilder_;
};

}  // namespace sa::bus::internal
