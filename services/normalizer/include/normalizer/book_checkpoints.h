// Book checkpoints: the format of a venue's books in the KV bucket, and the
// schedule that says when the decoder thread takes them.
//
// A value is "p" + BookCheckpoint protobuf, or "z" + zstd of it when over
// kCheckpointCompressAbove; a value over kCheckpointMaxBytes (under NATS's
// 1 MB max_payload) is not saved.
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "streamadmin/marketdata/v1/book_checkpoint.pb.h"

namespace sa::normalizer {

inline constexpr size_t kCheckpointCompressAbove = 64 << 10;
inline constexpr size_t kCheckpointMaxBytes = 900 << 10;

// One venue's books, ready to put: taken on the decoder thread, saved by the
// ack window's thread once every frame they reflect is acked.
struct Checkpoint {
  std::string venue;
  std::string key;    // config.h CheckpointKey
  std::string value;  // EncodeCheckpoint
};

// ResourceExhausted when the value would be over kCheckpointMaxBytes.
absl::StatusOr<std::string> EncodeCheckpoint(const streamadmin::marketdata::v1::BookCheckpoint& checkpoint);
// InvalidArgument for a value EncodeCheckpoint did not make (or larger than
// max_bytes once decompressed).
absl::StatusOr<streamadmin::marketdata::v1::BookCheckpoint> DecodeCheckpoint(const std::string& value,
                                                                             size_t max_bytes);

// When the decoder thread takes the next checkpoints: every `interval`,
// counted from construction, never when disabled. Only the decoder thread
// calls it.
class CheckpointSchedule {
 public:
  CheckpointSchedule(bool enabled, absl::Duration interval, absl::Time start)
      : enabled_(enabled), interval_(interval), last_(start) {}

  // True once `interval` has passed since the last time it said true (or
  // since `start`); the interval then starts again at `now`.
  bool Due(absl::Time now) {
    if (!enabled_ || now - last_ < interval_) return false;
    last_ = now;
    return true;
  }
  bool enabled() const { return enabled_; }
  absl::Duration interval() const { return interval_; }

 private:
  bool enabled_;
  absl::Duration interval_;
  absl::Time last_;
};

}  // namespace sa::normalizer
