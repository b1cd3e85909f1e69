// The warehouse sinks' metrics, registered once per sink (Redpanda's
// probe.h): no registry lookup per event, on error paths included, and no
// fact counted twice — GetStatus details are read back from these counters.
// Dead letters by reason: obs::CounterFamily (known reasons at 0 up front).
#pragma once

#include <cstdint>

#include "observability/counter_family.h"
#include "observability/metrics.h"

namespace sa::warehouse_sink {

inline uint64_t Count(const obs::Counter& c) { return static_cast<uint64_t>(c.Value()); }

struct CdcSinkProbe {
  explicit CdcSinkProbe(obs::MetricsRegistry& registry = obs::MetricsRegistry::Default());
  obs::Counter& applied;
  obs::Counter& skipped;
  obs::Counter& transactions;
  obs::Counter& errors;
  obs::Counter& rewinds;
  obs::Gauge& buffered;
  obs::Gauge& lag_ms;
  obs::CounterFamily dead_letters;  // by reason
};

struct MarketDataSinkProbe {
  explicit MarketDataSinkProbe(obs::MetricsRegistry& registry = obs::MetricsRegistry::Default());
  obs::Counter& trades;   // rows stored in md.trades
  obs::Counter& candles;  // rows stored in md.candles
  obs::Counter& errors;
  obs::CounterFamily dead_letters;  // by reason
};

}  // namespace sa::warehouse_sink
