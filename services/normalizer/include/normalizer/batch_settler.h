// BatchSettler: what the normalizer does once the ack window settles a
// decoded batch (runtime::AckWindow's `then`), apart from the acks.
//
// A batch whose outputs are all stored has its raw frames acked: then its
// resync requests may go to ingest and its checkpoints may be saved, since
// every frame they reflect is acked. A batch with an output that failed is
// nak'd and comes again: from then on no checkpoint is saved by this process
// (a later one could claim frames whose outputs are not stored), and the
// failed batch's resyncs wait for its redelivery.
//
// Threading: OnSettled on the ack window's thread, in batch order;
// checkpoints_allowed() from any thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "marketdata/sink.h"
#include "normalizer/book_checkpoints.h"
#include "normalizer/probe.h"

namespace sa::normalizer {

class BatchSettler {
 public:
  // A batch as submitted to the window: `frames` raw frames (0 for candles
  // closed by the clock), `outputs` messages, decoded from `start_ns`
  // (MonotonicNanos).
  struct Batch {
    size_t frames = 0;
    size_t outputs = 0;
    std::vector<md::ResyncRequest> resyncs;
    std::vector<Checkpoint> checkpoints;
    int64_t start_ns = 0;
  };
  // What is left to do for a settled batch, on the window's thread.
  struct Effects {
    std::vector<md::ResyncRequest> resyncs;  // to request from ingest
    std::vector<Checkpoint> checkpoints;     // to save
  };

  explicit BatchSettler(NormalizerProbe& probe = NormalizerProbe::Default()) : probe_(probe) {}

  // Counts the batch (streamadmin_normalizer_frames_total, _published_total,
  // _batch_seconds) when `stored` and says what else to do.
  Effects OnSettled(bool stored, Batch batch);
  // False once any batch failed.
  bool checkpoints_allowed() const { return !outputs_failed_; }

 private:
  std::atomic<bool> outputs_failed_{false};
  NormalizerProbe& probe_;
};

}  // namespace sa::normalizer
