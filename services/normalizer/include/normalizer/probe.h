// The normalizer's metrics, registered once (Redpanda's probe.h): the
// process-wide ones up front, a venue's on its first frame (every
// md::DecodeError reason at 0, so increase() sees the first one), so that no
// frame and no error path looks a metric up in the registry. What
// Details/ListVenues report as decode errors is read back from the same
// counters, so the fact is counted once.
//
// Threading: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "observability/counter_family.h"
#include "observability/metrics.h"

namespace sa::normalizer {

class NormalizerProbe {
 public:
  // A venue's series. Use it only through the probe's methods.
  struct Venue {
    Venue(obs::MetricsRegistry& registry, const std::string& venue);
    const std::string name;
    obs::Gauge& books_resyncing;         // books waiting for a snapshot, refreshed once a second
    obs::CounterFamily decode_errors;    // by reason; every md::DecodeError at 0 from the start
    obs::CounterFamily resync_requests;  // by reason
    obs::CounterFamily checkpoints;      // by outcome
  };

  explicit NormalizerProbe(obs::MetricsRegistry& registry = obs::MetricsRegistry::Default());
  NormalizerProbe(const NormalizerProbe&) = delete;
  NormalizerProbe& operator=(const NormalizerProbe&) = delete;
  // The process's probe, on obs::MetricsRegistry::Default().
  static NormalizerProbe& Default();

  // The venue's series, registered on its first use. The reference stays valid.
  Venue& ForVenue(const std::string& venue);
  // A raw frame of `venue` sent to dlq.normalizer (decode_errors_total).
  void DeadLetter(Venue& venue, const std::string& reason) { venue.decode_errors.For(reason).Inc(); }
  // A book resync requested from ingest (resync_requests_total).
  void ResyncRequested(Venue& venue, const std::string& reason) { venue.resync_requests.For(reason).Inc(); }
  // A book checkpoint saved, restored or not (book_checkpoints_total).
  void Checkpoint(Venue& venue, const std::string& outcome) { venue.checkpoints.For(outcome).Inc(); }
  // Raw frames of the venue (or of every venue) sent to dlq.normalizer.
  uint64_t decode_errors(const Venue& venue) const { return venue.decode_errors.Total(); }
  uint64_t decode_errors() const;

  obs::Counter& frames;     // raw frames processed (their outputs stored)
  obs::Counter& published;  // canonical messages published
  obs::Histogram& batch_seconds;

 private:
  obs::MetricsRegistry& registry_;
  mutable std::mutex mu_;
  std::map<std::string, Venue> venues_;  // mu_; entries never move (std::map)
};

}  // namespace sa::normalizer
