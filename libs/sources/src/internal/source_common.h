// What the WebSocket and the Kafka source do alike: status events, counting a
// delivered frame, and the rules of Start() and Stop().
#pragma once

#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "internal/metrics.h"
#include "sources/frame.h"

namespace sa::sources::internal {

// A status event of the source `source` (its name) on `venue`, stamped now.
SourceEvent MakeSourceEvent(SourceEventType type, const std::string& source, const std::string& venue,
                            const std::string& conn, const std::string& reason, const std::string& detail,
                            absl::Duration retry_in = absl::ZeroDuration());

// Counts `frame`, about to be handed to the sink, in `metrics` and in `stats`
// (under `stats_mu`).
void CountFrame(const Frame& frame, SourceMetrics& metrics, std::mutex& stats_mu, SourceStats& stats);

// Counts an error of `reason` in `metrics` and in `stats` (under `stats_mu`).
void CountError(ErrorReason reason, SourceMetrics& metrics, std::mutex& stats_mu, SourceStats& stats);

// Start()'s preconditions, checked under the source's lifecycle lock: a sink,
// and no earlier Start(). kind: "websocket", "kafka".
absl::Status CheckCanStart(absl::string_view kind, const std::string& source, const FrameSink* sink, bool started);

// Stop()'s rules, checked under the lifecycle lock: true for the one call that
// stops the source (started, not stopped before; sets *stopped), false for any
// other. Stop() called on `io_thread` (from a sink callback) would join the
// thread it runs on: a broken contract, so it aborts.
bool ClaimStop(bool started, bool* stopped, const std::thread& io_thread, const std::string& source);

}  // namespace sa::sources::internal
