// cdc-bridge's metrics, registered once (no registry lookup per event, on
// error paths included) and read back for GetStatus/ListConnectors, so that
// no fact is counted twice (an atomic beside a counter).
#pragma once

#include <cstdint>
#include <string>

#include "observability/metrics.h"
#include "streamadmin/cdc/v1/cdc.pb.h"

namespace sa::cdc_bridge {

struct CdcProbe {
  // Why an event was parked on dlq.cdc.
  enum class DeadLetterReason { kSerializeFailed, kPublishRefused, kKafkaRefused, kPublishFailed };
  static const char* ReasonLabel(DeadLetterReason reason);

  explicit CdcProbe(obs::MetricsRegistry& registry = obs::MetricsRegistry::Default());

  // Change events handed to JetStream, by op (other ops are not counted).
  void CountEvent(streamadmin::cdc::v1::Op op);
  obs::Counter& DeadLetters(DeadLetterReason reason) { return *dead_letters_[static_cast<int>(reason)]; }
  uint64_t dead_letters() const;  // every reason

  obs::Counter& transactions;
  obs::Counter& events_acked;
  obs::Counter& replication_errors;
  obs::Counter& reconnects;
  obs::Gauge& slot_lag_bytes;
  obs::Gauge& confirmed_lsn;
  obs::Gauge& streaming;

 private:
  obs::Counter* events_by_op_[6] = {};  // by Op value; null: not counted (snapshot reads)
  obs::Counter* dead_letters_[4] = {};  // by DeadLetterReason
};

inline uint64_t Count(const obs::Counter& c) { return static_cast<uint64_t>(c.Value()); }

}  // namespace sa::cdc_bridge
