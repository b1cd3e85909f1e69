// sources — where ingest gets raw frames from. This header is the seam between
// a source (a WebSocket connection, a Kafka consumer, a recording replay) and
// whatever consumes raw frames (ingest publishes them to md.raw.<venue>).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace sa::sources {

// One raw frame exactly as received. `data` is never parsed or altered by a
// source: judging content is the normalizer's job.
//
// Identity: (conn, frame_seq) is unique within a process run. `conn` names one
// physical connection ("kraken.ws.7"; a reconnect gets a new number) or one
// Kafka partition ("kafka.<topic>.<partition>", where frame_seq is offset+1 and
// therefore stable across restarts).
struct Frame {
  std::string venue;         // lower case, bounded set: "kraken", "binance", ...
  std::string conn;          // see above
  std::string kind;          // "ws" | "http" | "kafka"
  std::string url;           // endpoint (ws), full request URL (http), topic (kafka)
  std::string data;          // payload bytes as received
  int64_t recv_time_ns = 0;  // wall clock, Unix nanoseconds, taken when the read completed
  uint64_t frame_seq = 0;    // per conn, from 1, no gaps within a conn
  // Set by sources that must know when a frame is safe downstream (Kafka: its
  // offset may be committed only then). The sink calls it exactly once, from
  // any thread: true once the frame is stored downstream (or parked as a dead
  // letter: it will never be stored), false when it was not (shutdown). Empty:
  // the source does not care.
  std::function<void(bool stored)> done;
};

enum class SourceEventType {
  kConnected,     // a connection is up and subscribed messages are being sent
  kDisconnected,  // a connection that was up went away (reason/detail say why)
  kStale,         // the watchdog saw no frame for too long; a reconnect follows
  kReconnecting,  // the next attempt is scheduled in `retry_in`
  kError,         // something failed; `reason` is from a bounded set (see README)
};
const char* SourceEventTypeName(SourceEventType type);

struct SourceEvent {
  SourceEventType type = SourceEventType::kError;
  std::string source;  // Source::name()
  std::string venue;
  std::string conn;    // the connection concerned, empty if none
  std::string reason;  // bounded: "connect", "tls", "handshake", "read", "oversized",
                       // "stale", "closed", "http", "kafka", ...
  std::string detail;  // free text for logs and operators
  absl::Duration retry_in = absl::ZeroDuration();  // kReconnecting only
  int64_t time_ns = 0;                             // wall clock, Unix nanoseconds
};

// A snapshot of a source's counters; cheap, callable from any thread.
struct SourceStats {
  uint64_t frames = 0;         // frames handed to the sink (all kinds)
  uint64_t bytes = 0;          // payload bytes of those frames
  uint64_t http_frames = 0;    // of which kind == "http"
  uint64_t connects = 0;       // connections established
  uint64_t reconnects = 0;     // connection attempts after the first
  uint64_t errors = 0;         // kError / kStale events
  uint64_t messages_sent = 0;  // subscribe (or other) messages written
  bool connected = false;
  std::string conn;  // current connection id, empty when down
  int64_t last_frame_time_ns = 0;
};

// Receives frames and status events from a source.
//
// Threading: a source calls its sink from ONE thread of its own (never
// concurrently, never from the caller of Start/Stop). OnFrame may block: the
// source then stops reading, so back-pressure reaches the socket / consumer.
// Stop() cannot return while OnFrame is blocked, so a sink that blocks must be
// unblocked by its owner before (or while) stopping the source.
class FrameSink {
 public:
  virtual ~FrameSink() = default;
  virtual void OnFrame(Frame&& frame) = 0;
  virtual void OnStatus(const SourceEvent& event) {}
};

// A producer of raw frames. Lifecycle: Create (factory) -> Start(sink) once ->
// Stop() (idempotent; also run by the destructor). The sink must outlive Stop().
// Methods are thread-safe; none of them calls the sink on the caller's thread.
class Source {
 public:
  virtual ~Source() = default;

  // Starts the source's own thread and returns at once; connection failures
  // after that are reported through OnStatus and retried, not returned here.
  virtual absl::Status Start(FrameSink* sink) = 0;
  // Closes gracefully (bounded by the source's close timeout) and joins its
  // thread. No sink call happens after Stop() returns.
  virtual void Stop() = 0;
  virtual SourceStats Stats() const = 0;
  virtual std::string name() const = 0;

  // Asks for a fresh snapshot of `symbol` (canonical BASE-QUOTE), e.g. after
  // the normalizer found a sequence gap. Asynchronous: the snapshot arrives
  // later as a frame. Sources without snapshots return Unimplemented.
  virtual absl::Status RequestSnapshot(const std::string& symbol) {
    return absl::UnimplementedError("this source has no snapshots");
  }

  // Replaces the current connection with a new one (same subscriptions), so
  // the venue sends fresh snapshots - how a Kraken or Coinbase book that went
  // wrong is rebuilt. Asynchronous. Sources without connections return
  // Unimplemented.
  virtual absl::Status Reconnect(const std::string& reason) {
    return absl::UnimplementedError("this source has no connection to renew");
  }
};

}  // namespace sa::sources
