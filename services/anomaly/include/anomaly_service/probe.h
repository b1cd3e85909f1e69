// The anomaly service's metrics, registered once (Redpanda's probe.h), every
// known label value at 0 from the start (increase() sees the first one), so
// that no message and no rejection looks a metric up in the registry. What
// ListModels reports as points scored and anomalies is read back from the
// same counters, so the fact is counted once.
//
// Threading: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "anomaly/feature_extractor.h"
#include "observability/counter_family.h"
#include "observability/metrics.h"

namespace sa::anomaly_service {

class AnomalyProbe {
 public:
  explicit AnomalyProbe(obs::MetricsRegistry& registry = obs::MetricsRegistry::Default());
  AnomalyProbe(const AnomalyProbe&) = delete;
  AnomalyProbe& operator=(const AnomalyProbe&) = delete;
  // The process's probe, on obs::MetricsRegistry::Default().
  static AnomalyProbe& Default();

  // By model (one per event kind).
  obs::Counter& Scored(anomaly::EventKind kind) { return *scored_.at(kind); }
  obs::Counter& Anomalies(anomaly::EventKind kind) { return *anomalies_.at(kind); }
  obs::Gauge& ModelGeneration(anomaly::EventKind kind) { return *generation_.at(kind); }
  // A feature vector or md message not scored: "unparseable", or an
  // anomaly::RejectReason ("nan", "inf", "out_of_range").
  void Rejected(const std::string& reason) { rejected_.For(reason).Inc(); }

  obs::Counter& messages;    // md.* messages consumed (acked)
  obs::Counter& suppressed;  // vectors not scored: their book is resyncing
  obs::Histogram& train_seconds;

 private:
  std::map<anomaly::EventKind, obs::Counter*> scored_, anomalies_;  // fixed after construction
  std::map<anomaly::EventKind, obs::Gauge*> generation_;            // fixed after construction
  obs::CounterFamily rejected_;                                     // by reason
};

inline uint64_t Count(const obs::Counter& c) { return static_cast<uint64_t>(c.Value()); }

}  // namespace sa::anomaly_service
