// The warehouse sinks' metrics, registered once per sink (Redpanda's
// probe.h): no registry lookup per event, on error paths included, and no
// fact counted twice — GetStatus details are read back from these counters.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <mutex>
#include <string>

#include "observability/metrics.h"

namespace sa::warehouse_sink {

inline uint64_t Count(const obs::Counter& c) { return static_cast<uint64_t>(c.Value()); }

// Dead letters by reason: the known reasons registered at 0 up front (so
// increase() sees the first one); an unforeseen reason is registered on its
// first use.
class DeadLetterCounters {
 public:
  DeadLetterCounters(obs::MetricsRegistry& registry, std::string name, std::string help,
                     std::initializer_list<const char*> reasons);
  obs::Counter& For(const std::string& reason);
  uint64_t total() const;

 private:
  obs::MetricsRegistry& registry_;
  const std::string name_, help_;
  mutable std::mutex mu_;
  std::map<std::string, obs::Counter*> by_reason_;  // mu_
};

struct CdcSinkProbe {
  explicit CdcSinkProbe(obs::MetricsRegistry& registry = obs::MetricsRegistry::Default());
  obs::Counter& applied;
  obs::Counter& skipped;
  obs::Counter& transactions;
  obs::Counter& errors;
  obs::Counter& rewinds;
  obs::Gauge& buffered;
  obs::Gauge& lag_ms;
  DeadLetterCounters dead_letters;
};

struct MarketDataSinkProbe {
  explicit MarketDataSinkProbe(obs::MetricsRegistry& registry = obs::MetricsRegistry::Default());
  obs::Counter& trades;   // rows stored in md.trades
  obs::Counter& candles;  // rows stored in md.candles
  obs::Counter& errors;
  DeadLetterCounters dead_letters;
};

}  // namespace sa::warehouse_sink
