#include "ingest/probe.h"

namespace sa::ingest {

IngestProbe::IngestProbe(obs::MetricsRegistry& r)
    : registry_(r),
      // At 0 from the start, so increase() (StreamAdminDeadLettersGrowing) sees the first one.
      dead_letters_(
          r.GetCounter("streamadmin_ingest_dead_letters_total", "Raw frames JetStream refused, sent to dlq.ingest")),
      held_(r.GetGauge("streamadmin_ingest_frames_held_by_pause",
                       "Sources waiting with a frame while ingest is paused")) {}

IngestProbe::Venue& IngestProbe::ForVenue(const std::string& venue) {
  std::lock_guard lock(mu_);
  auto it = venues_.find(venue);
  if (it == venues_.end()) {
    it = venues_
             .emplace(venue, Venue{registry_.GetCounter("streamadmin_ingest_published_frames_total",
                                                        "Raw frames published to md.raw.<venue>", {{"venue", venue}}),
                                   registry_.GetCounter("streamadmin_ingest_published_bytes_total",
                                                        "Raw frame payload bytes published", {{"venue", venue}}),
                                   registry_.GetCounter("streamadmin_ingest_publish_errors_total",
                                                        "Raw frames that could not be published", {{"venue", venue}})})
             .first;
  }
  return it->second;
}

}  // namespace sa::ingest
