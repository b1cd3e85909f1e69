#include "normalizer/batch_settler.h"

#include "common/clock.h"

namespace sa::normalizer {

BatchSettler::BatchSettler() {
  auto& r = obs::MetricsRegistry::Default();
  frames_total_ = &r.GetCounter("streamadmin_normalizer_frames_total", "Raw frames processed");
  published_total_ = &r.GetCounter("streamadmin_normalizer_published_total", "Canonical messages published");
  batch_seconds_ =
      &r.GetHistogram("streamadmin_normalizer_batch_seconds",
                      "Time from decoding a fetched batch to acking its raw frames (outputs acknowledged)");
}

BatchSettler::Effects BatchSettler::OnSettled(bool stored, Batch batch) {
  Effects effects;
  if (!stored) {
    outputs_failed_ = true;  // later checkpoints could claim frames whose outputs are not stored
    return effects;
  }
  if (checkpoints_allowed()) effects.checkpoints = std::move(batch.checkpoints);
  published_total_->Inc(static_cast<double>(batch.outputs));
  if (batch.frames == 0) return effects;
  frames_total_->Inc(static_cast<double>(batch.frames));
  effects.resyncs = std::move(batch.resyncs);
  batch_seconds_->Observe(static_cast<double>(MonotonicNanos() - batch.start_ns) / 1e9);
  return effects;
}

}  // namespace sa::normalizer
