// The sources' metrics, declared in one place. Looked up once per source and
// kept as references (lock-free afterwards).
#pragma once

#include <string>

#include "observability/metrics.h"

namespace sa::sources::internal {

// Bounded set of error reasons (label values of frame_errors_total).
enum class ErrorReason {
  kResolve,
  kConnect,
  kTls,
  kHandshake,
  kRead,
  kWrite,
  kOversized,
  kStale,
  kClosed,
  kHttp,
  kKafka,
  kCount
};
const char* ErrorReasonName(ErrorReason reason);

struct SourceMetrics {
  explicit SourceMetrics(const std::string& venue);

  obs::Counter& frames;      // streamadmin_ingest_frames_total{venue}
  obs::Counter& bytes;       // streamadmin_ingest_bytes_total{venue}
  obs::Counter& reconnects;  // streamadmin_ingest_reconnects_total{venue}
  obs::Gauge& connected;     // streamadmin_ingest_connected{venue}: connections up
  obs::Counter* errors[static_cast<int>(ErrorReason::kCount)];  // _frame_errors_total{venue,reason}

  obs::Counter& Error(ErrorReason r) { return *errors[static_cast<int>(r)]; }
};

}  // namespace sa::sources::internal
