#include "internal/source_common.h"

#include <spdlog/spdlog.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "common/clock.h"

namespace sa::sources::internal {

SourceEvent MakeSourceEvent(SourceEventType type, const std::string& source, const std::string& venue,
                            const std::string& conn, const std::string& reason, const std::string& detail,
                            absl::Duration retry_in) {
  SourceEvent event;
  event.type = type;
  event.source = source;
  event.venue = venue;
  event.conn = conn;
  event.reason = reason;
  event.detail = detail;
  event.retry_in = retry_in;
  event.time_ns = NowUnixNanos();
  return event;
}

void CountFrame(const Frame& frame, SourceMetrics& metrics, std::mutex& stats_mu, SourceStats& stats) {
  metrics.frames.Inc();
  metrics.bytes.Inc(static_cast<double>(frame.data.size()));
  std::lock_guard<std::mutex> lock(stats_mu);
  ++stats.frames;
  stats.bytes += frame.data.size();
  stats.last_frame_time_ns = frame.recv_time_ns;
}

void CountError(ErrorReason reason, SourceMetrics& metrics, std::mutex& stats_mu, SourceStats& stats) {
  metrics.Error(reason).Inc();
  std::lock_guard<std::mutex> lock(stats_mu);
  ++stats.errors;
}

absl::Status CheckCanStart(absl::string_view kind, const std::string& source, const FrameSink* sink, bool started) {
  if (sink == nullptr) return absl::InvalidArgumentError(absl::StrCat(kind, " source: sink is null"));
  if (started) return absl::FailedPreconditionError(absl::StrCat("source ", source, ": already started"));
  return absl::OkStatus();
}

bool ClaimStop(bool started, bool* stopped, const std::thread& io_thread, const std::string& source) {
  if (!started || *stopped) return false;
  if (std::this_thread::get_id() == io_thread.get_id()) {
    spdlog::critical("source {}: Stop() called from its own sink callback", source);
    std::abort();
  }
  *stopped = true;
  return true;
}

}  // namespace sa::sources::internal
