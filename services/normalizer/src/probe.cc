#include "normalizer/probe.h"

#include <string>
#include <vector>

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

namespace {
std::vector<std::string> DecodeErrorReasons() {
  std::vector<std::string> reasons;
  for (int e = 1; e <= static_cast<int>(md::DecodeError::kUnsupportedFrame); ++e)
    reasons.emplace_back(md::DecodeErrorName(static_cast<md::DecodeError>(e)));
  return reasons;
}
}  // namespace

NormalizerProbe::Venue::Venue(obs::MetricsRegistry& r, const std::string& venue)
    : name(venue),
      books_resyncing(r.GetGauge("streamadmin_normalizer_books_resyncing",
                                 "Books in doubt, waiting for a snapshot, by venue", {{"venue", venue}})),
      // The venue's decode-error reasons at 0 from the start, so increase() sees the first one.
      decode_errors(r, kDecodeErrorsTotal, kDecodeErrorsHelp, "reason", DecodeErrorReasons(), {{"venue", venue}}),
      resync_requests(r, "streamadmin_normalizer_resync_requests_total", "Book resyncs requested from ingest", "reason",
                      {}, {{"venue", venue}}),
      checkpoints(r, "streamadmin_normalizer_book_checkpoints_total",
                  "Book checkpoints saved, and restored or not used at start, by venue and outcome", "outcome", {},
                  {{"venue", venue}}) {}

NormalizerProbe::Venue& NormalizerProbe::ForVenue(const std::string& venue) {
  std::lock_guard lock(mu_);
  return venues_.try_emplace(venue, registry_, venue).first->second;
}

uint64_t NormalizerProbe::decode_errors() const {
  std::lock_guard lock(mu_);
  uint64_t n = 0;
  for (const auto& entry : venues_) n += entry.second.decode_errors.Total();
  return n;
}

}  // namespace sa::normalizer
