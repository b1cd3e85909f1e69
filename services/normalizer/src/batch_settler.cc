#include "normalizer/batch_settler.h"

#include "common/clock.h"

namespace sa::normalizer {

BatchSettler::Effects BatchSettler::OnSettled(bool stored, Batch batch) {
  Effects effects;
  if (!stored) {
    outputs_failed_ = true;  // later checkpoints could claim frames whose outputs are not stored
    return effects;
  }
  if (checkpoints_allowed()) effects.checkpoints = std::move(batch.checkpoints);
  probe_.published.Inc(static_cast<double>(batch.outputs));
  if (batch.frames == 0) return effects;
  probe_.frames.Inc(static_cast<double>(batch.frames));
  effects.resyncs = std::move(batch.resyncs);
  probe_.batch_seconds.Observe(static_cast<double>(MonotonicNanos() - batch.start_ns) / 1e9);
  return effects;
}

}  // namespace sa::normalizer
