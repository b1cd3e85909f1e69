// ingest's metrics, registered once (Redpanda's probe.h): per venue on its
// first frame, everything else up front, so that no error path looks a
// metric up in the registry and no fact is kept twice (the frames held by a
// pause are the gauge itself, read back for GetStatus).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "observability/metrics.h"

namespace sa::ingest {

class IngestProbe {
 public:
  struct Venue {
    obs::Counter& frames;          // raw frames published to md.raw.<venue>
    obs::Counter& bytes;           // their payload bytes (before compression)
    obs::Counter& publish_errors;  // frames the publisher refused outright
  };

  explicit IngestProbe(obs::MetricsRegistry& registry = obs::MetricsRegistry::Default());

  // The venue's counters, registered on its first use (thread-safe).
  Venue& ForVenue(const std::string& venue);
  obs::Counter& dead_letters() { return dead_letters_; }
  // Sources waiting at the pause gate with a frame.
  void HoldFrame() { held_.Add(1); }
  void ReleaseFrame() { held_.Add(-1); }
  int held() const { return static_cast<int>(held_.Value()); }

 private:
  obs::MetricsRegistry& registry_;
  obs::Counter& dead_letters_;
  obs::Gauge& held_;
  std::mutex mu_;
  std::map<std::string, Venue> venues_;  // mu_; entries never move (std::map)
};

}  // namespace sa::ingest
