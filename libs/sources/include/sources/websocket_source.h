// WebSocketSource — one WebSocket connection to a venue (ws:// or wss://),
// kept alive for as long as the source runs.
//
// Behaviour (every knob in WebSocketSourceOptions, defaults in brackets):
//  - TLS with SNI and certificate + host name verification against the system
//    store (/etc/ssl/certs) or `ca_file`.
//  - After the handshake, sends `subscribe_messages` in order, at most
//    `subscribe_rate_per_sec` per second [5] (measured across reconnects too).
//  - Every received message becomes a Frame{kind="ws"} with conn
//    "<conn_prefix>.<n>" (n is process-wide, new for every connection) and
//    frame_seq 1, 2, ... on that connection.
//  - WS ping every `ping_interval` [15 s]; a connection with no frame for
//    `watchdog_timeout` [60 s] is reported kStale and replaced.
//  - Reconnects with exponential backoff from `backoff_initial` [500 ms],
//    x`backoff_multiplier` [2], capped at `backoff_max` [30 s], +/- `backoff_jitter`
//    [20 %]; the backoff resets once a connection has lived `backoff_reset_after` [10 s].
//  - A message larger than `max_frame_bytes` [32 MiB] is an error ("oversized"):
//    reported, counted, and the connection is replaced.
//  - After subscribing (every time), fetches `snapshots` over HTTP(S) and emits
//    each response body as a Frame{kind="http", url=request URL} on conn
//    "<venue>.http.<process start, ms>.<n>" (unique across restarts, so a
//    restarted ingest's snapshots are not taken for duplicates of the last
//    run's); RequestSnapshot() fetches one again on demand.
//  - Stop() closes with a WebSocket close frame, bounded by `close_timeout` [2 s].
//
// Threading: everything runs on one io_context thread owned by the source; the
// sink is called only from that thread.
#pragma once

#include <cstddef>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "sources/frame.h"
#include "sources/venue_subscriptions.h"

namespace sa::sources {

namespace internal {
class WsSession;
}  // namespace internal

struct WebSocketSourceOptions {
  std::string name;         // source name; default "<venue>.ws"
  std::string venue;        // required, lower case
  std::string url;          // required: ws://host[:port]/path or wss://...
  std::string conn_prefix;  // default "<venue>.ws"
  std::vector<std::string> subscribe_messages;
  std::vector<SnapshotEndpoint> snapshots;

  double subscribe_rate_per_sec = 5.0;                  // <= 0: unlimited
  absl::Duration ping_interval = absl::Seconds(15);     // zero: no pings
  absl::Duration watchdog_timeout = absl::Seconds(60);  // zero: no watchdog
  absl::Duration connect_timeout = absl::Seconds(10);   // resolve + TCP + TLS + WS handshake
  absl::Duration close_timeout = absl::Seconds(2);
  absl::Duration backoff_initial = absl::Milliseconds(500);
  absl::Duration backoff_max = absl::Seconds(30);
  double backoff_multiplier = 2.0;
  double backoff_jitter = 0.2;  // fraction, 0..1
  absl::Duration backoff_reset_after = absl::Seconds(10);
  size_t max_frame_bytes = size_t{32} << 20;

  absl::Duration http_timeout = absl::Seconds(10);
  size_t max_http_body_bytes = size_t{64} << 20;
  int http_attempts = 3;  // per snapshot request

  bool tls_verify = true;
  std::string ca_file;                     // PEM bundle; added to the store
  std::string ca_path = "/etc/ssl/certs";  // hashed directory; empty: OpenSSL default
  std::string user_agent = "stream-admin";
};

// Fills url, subscribe messages, snapshots and subscribe rate from a plan.
WebSocketSourceOptions OptionsFromPlan(const VenuePlan& plan);

// Config for the "websocket" registry kind. Either a venue subscription
//   {"venue": "kraken", "channels": ["trade", "book"], "symbols": ["BTC-USD"],
//    "book_depth": 1000, "binance_subscribe_method": false}
// or explicit {"venue", "url", "subscribe_messages": [...]}; plus overrides:
//   url, snapshot_base_url (replaces scheme://host:port of snapshot URLs), name,
//   conn_prefix, subscribe_rate_per_sec, ping_interval_ms, watchdog_timeout_ms,
//   connect_timeout_ms, close_timeout_ms, backoff_initial_ms, backoff_max_ms,
//   backoff_multiplier, backoff_jitter, backoff_reset_after_ms, max_frame_bytes,
//   http_timeout_ms, max_http_body_bytes, http_attempts, tls_verify, ca_file,
//   ca_path, user_agent.
absl::StatusOr<WebSocketSourceOptions> WebSocketSourceOptionsFromJson(const nlohmann::json& config);

class WebSocketSource final : public Source {
 public:
  // InvalidArgument for a missing venue, an unparsable URL or bad knobs.
  static absl::StatusOr<std::unique_ptr<WebSocketSource>> Create(WebSocketSourceOptions options);
  ~WebSocketSource() override;  // Stop()

  // FailedPrecondition if already started (a source starts once), or if the
  // TLS store cannot be loaded.
  absl::Status Start(FrameSink* sink) override;
  void Stop() override;
  SourceStats Stats() const override;
  std::string name() const override;
  // NotFound if `symbol` has no snapshot endpoint; FailedPrecondition if not
  // running. A request for a symbol already queued is merged with it.
  absl::Status Reconnect(const std::string& reason) override;
  absl::Status RequestSnapshot(const std::string& symbol) override;

  const WebSocketSourceOptions& options() const;

 private:
  friend class internal::WsSession;
  struct Impl;
  explicit WebSocketSource(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sa::sources
