#include "internal/metrics.h"

namespace sa::sources::internal {

const char* ErrorReasonName(ErrorReason reason) {
  switch (reason) {
    case ErrorReason::kResolve:
      return "resolve";
    case ErrorReason::kConnect:
      return "connect";
    case ErrorReason::kTls:
      return "tls";
    case ErrorReason::kHandshake:
      return "handshake";
    case ErrorReason::kRead:
      return "read";
    case ErrorReason::kWrite:
      return "write";
    case ErrorReason::kOversized:
      return "oversized";
    case ErrorReason::kStale:
      return "stale";
    case ErrorReason::kClosed:
      return "closed";
    case ErrorReason::kHttp:
      return "http";
    case ErrorReason::kKafka:
      return "kafka";
    case ErrorReason::kCount:
      break;
  }
  return "unknown";
}

namespace {
obs::MetricsRegistry& R() { return obs::MetricsRegistry::Default(); }
}  // namespace

SourceMetrics::SourceMetrics(const std::string& venue)
    : frames(R().GetCounter("streamadmin_ingest_frames_total", "Raw frames received from sources",
                            {{"venue", venue}})),
      bytes(R().GetCounter("streamadmin_ingest_bytes_total", "Payload bytes of raw frames received",
                           {{"venue", venue}})),
      reconnects(R().GetCounter("streamadmin_ingest_reconnects_total",
                                "Source connection attempts after the first", {{"venue", venue}})),
      connected(R().GetGauge("streamadmin_ingest_connected", "Source connections currently up",
                             {{"venue", venue}})) {
  for (int i = 0; i < static_cast<int>(ErrorReason::kCount); ++i) {
    errors[i] = &R().GetCounter(
        "streamadmin_ingest_frame_errors_total",
        "Source errors by reason (connection, oversized frame, stale...)",
        {{"venue", venue}, {"reason", ErrorReasonName(static_cast<ErrorReason>(i))}});
  }
}

}  // namespace sa::sources::internal
