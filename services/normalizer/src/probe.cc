#include "normalizer/probe.h"

#include "marketdata/decode_error.h"

namespace sa::normalizer {

namespace {
constexpr char kDecodeErrorsTotal[] = "streamadmin_normalizer_decode_errors_total";
constexpr char kDecodeErrorsHelp[] = "Raw frames sent to dlq.normalizer, by reason";
}  // namespace

NormalizerProbe::NormalizerProbe(obs::MetricsRegistry& r)
    : frames(r.GetCounter("streamadmin_normalizer_frames_total", "Raw frames processed")),
      published(r.GetCounter("streamadmin_normalizer_published_total", "Canonical messages published")),
      batch_seconds(
          r.GetHistogram("streamadmin_normalizer_batch_seconds",
                         "Time from decoding a fetched batch to acking its raw frames (outputs acknowledged)")),
      registry_(r) {}

NormalizerProbe& NormalizerProbe::Default() {
  static NormalizerProbe* probe = new NormalizerProbe(obs::MetricsRegistry::Default());
  return *probe;
}

NormalizerProbe::Venue& NormalizerProbe::ForVenue(const std::string& venue) {
  std::lock_guard lock(mu_);
  auto it = venues_.find(venue);
  if (it != venues_.end()) return it->second;
  Venue v{
      .name = venue,
      .books_resyncing = registry_.GetGauge("streamadmin_normalizer_books_resyncing",
                                            "Books in doubt, waiting for a snapshot, by venue", {{"venue", venue}})};
  // The venue's decode-error reasons at 0 from the start, so increase() sees the first one.
  for (int e = 1; e <= static_cast<int>(md::DecodeError::kUnsupportedFrame); ++e) {
    std::string reason(md::DecodeErrorName(static_cast<md::DecodeError>(e)));
    v.decode_errors[reason] =
        &registry_.GetCounter(kDecodeErrorsTotal, kDecodeErrorsHelp, {{"venue", venue}, {"reason", reason}});
  }
  return venues_.emplace(venue, std::move(v)).first->second;
}

void NormalizerProbe::Count(Series series, Venue& venue, const std::string& label) {
  obs::Counter* c;
  {
    std::lock_guard lock(mu_);
    auto& counters = series == kDecodeErrors     ? venue.decode_errors
                     : series == kResyncRequests ? venue.resync_requests
                                                 : venue.checkpoints;
    obs::Counter*& slot = counters[label];
    if (slot == nullptr) {
      switch (series) {
        case kDecodeErrors:
          slot =
              &registry_.GetCounter(kDecodeErrorsTotal, kDecodeErrorsHelp, {{"venue", venue.name}, {"reason", label}});
          break;
        case kResyncRequests:
          slot =
              &registry_.GetCounter("streamadmin_normalizer_resync_requests_total",
                                    "Book resyncs requested from ingest", {{"venue", venue.name}, {"reason", label}});
          break;
        case kCheckpoints:
          slot =
              &registry_.GetCounter("streamadmin_normalizer_book_checkpoints_total",
                                    "Book checkpoints saved, and restored or not used at start, by venue and outcome",
                                    {{"venue", venue.name}, {"outcome", label}});
          break;
      }
    }
    c = slot;
  }
  c->Inc();
}

uint64_t NormalizerProbe::SumLocked(const Venue& venue) const {
  uint64_t n = 0;
  for (const auto& [reason, c] : venue.decode_errors) n += static_cast<uint64_t>(c->Value());
  return n;
}

uint64_t NormalizerProbe::decode_errors(const Venue& venue) const {
  std::lock_guard lock(mu_);
  return SumLocked(venue);
}

uint64_t NormalizerProbe::decode_errors() const {
  std::lock_guard lock(mu_);
  uint64_t n = 0;
  for (const auto& [name, v] : venues_) n += SumLocked(v);
  return n;
}

}  // namespace sa::normalizer
