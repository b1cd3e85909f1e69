// bus::Connection — the process's connection to NATS. The one place (with the
// rest of libs/bus) that knows nats.c.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bus/message.h"
#include "streamadmin/config/v1/config.pb.h"

namespace sa::bus {

namespace internal {
struct ConnectionState;
struct SubscriptionState;
}  // namespace internal

// A core NATS subscription. Destroying it unsubscribes; when the destructor
// returns the handler is not running and will not run again (unless the
// destructor is called from inside the handler itself, which is allowed).
class Subscription {
 public:
  ~Subscription();
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;

  const std::string& subject() const;

 private:
  friend class Connection;
  explicit Subscription(std::shared_ptr<internal::SubscriptionState> state);
  std::shared_ptr<internal::SubscriptionState> state_;
};

// Connects with endless reconnect: exponential backoff from
// reconnect_wait_ms (default 100 ms) doubling up to reconnect_max_wait_ms
// (default 5 s) plus up to reconnect_jitter_ms (default 100 ms) random delay;
// core publishes made while disconnected are buffered (reconnect_buffer_bytes,
// default 8 MiB). Connect() does not fail when no server is up yet, nor when
// the server refuses the first connect: it returns at once and the connection
// keeps trying in the background.
//
// nats.c gives up on a connection for good after some handshake failures (an
// "Authorization Violation" while connecting; the same twice in a row while
// reconnecting). The Connection then builds a new one with the same options,
// with the same backoff, until one is made, and everything made from it
// (JetStream, JetStreamPublisher, KeyValue, PullSubscription, Subscription)
// carries on on the new one by itself: subscriptions are made again,
// unacknowledged JetStream publishes are sent again (same msg id), pull
// subscriptions bind again on their next Fetch. Counted in
// stats().rebuilds and streamadmin_bus_connection_rebuilds_total (failed
// attempts: streamadmin_bus_connection_rebuild_failures_total).
//
// Events (connected, disconnected, reconnected, closed, error) are logged
// with spdlog and counted in streamadmin_bus_connection_events_total{event};
// streamadmin_bus_connected is the number of connections currently up.
//
// Ownership: JetStream, JetStreamPublisher, KeyValue and Subscription objects
// made from a Connection share its underlying state and may outlive it, but
// after Close() (or the destructor) they fail with Unavailable.
// Threading: every method is thread-safe. Subscribe handlers run on that
// subscription's own nats.c thread, one message at a time. One background
// thread per Connection builds new connections.
class Connection {
 public:
  using Config = ::streamadmin::config::v1::NatsConfig;
  using MessageHandler = std::function<void(const InboundMessage&)>;

  struct Stats {
    uint64_t connects = 0;  // initial connections made in the background
    uint64_t disconnects = 0;
    uint64_t reconnects = 0;
    uint64_t rebuilds = 0;  // connections built anew (nats.c closed one, or refused the first)
  };

  static absl::StatusOr<std::unique_ptr<Connection>> Connect(const Config& config);

  ~Connection();  // Close()
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  bool IsConnected() const;
  // Blocks until connected (or reconnected, or rebuilt), closed, or `timeout`.
  bool WaitConnected(absl::Duration timeout) const;

  // Core NATS publish (at most once). Buffered while reconnecting; fails
  // (Unavailable) while no connection exists.
  absl::Status Publish(const std::string& subject, const std::string& data,
                       const Headers& headers = {});
  // Made again on every new connection. Made while no connection exists, it
  // starts with the first one.
  absl::StatusOr<std::unique_ptr<Subscription>> Subscribe(const std::string& subject,
                                                          MessageHandler handler);
  // Round trip to the server: everything published before has been received.
  absl::Status Flush(absl::Duration timeout);
  // Drains subscriptions and pending publishes, then closes; waits up to
  // `timeout` for the connection to be closed.
  absl::Status Drain(absl::Duration timeout);
  // Closes at once. Idempotent.
  void Close();

  Stats stats() const;
  // Asynchronous errors the server reported (e.g. "Permissions Violation for
  // Subscription to \"cdc.>\""), oldest first, the last 100 kept.
  std::vector<std::string> AsyncErrors() const;
  // Blocks until an async error containing `needle` was reported, or `timeout`.
  bool WaitForAsyncError(const std::string& needle, absl::Duration timeout) const;
  const Config& config() const;
  // Effective values after defaults (for logs and tests).
  int64_t reconnect_buffer_bytes() const;

 private:
  friend class JetStream;
  friend class JetStreamPublisher;
  friend class KeyValue;
  explicit Connection(std::shared_ptr<internal::ConnectionState> state);
  std::shared_ptr<internal::ConnectionState> state_;
};

}  // namespace sa::bus
