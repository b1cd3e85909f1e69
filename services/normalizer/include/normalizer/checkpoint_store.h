// CheckpointStore: book checkpoints in the KV bucket (book_checkpoints.h has
// the format) — saving what the pipeline took, and restoring a venue's books
// when its first frame arrives, replaying the venue's raw frames between the
// checkpoint and that frame through a short-lived durable
// `<durable>-books-<venue>` (deleted after use).
//
// Threading: Save from the ack window's thread or the stopping thread,
// Restore from the decoder thread; the bucket handle is shared under a lock.
// Borrows the JetStream context, which must outlive the store.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bus/jetstream.h"
#include "bus/kv.h"
#include "marketdata/decoder.h"
#include "normalizer/book_checkpoints.h"
#include "normalizer/probe.h"
#include "streamadmin/config/v1/config.pb.h"

namespace sa::normalizer {

class CheckpointStore {
 public:
  CheckpointStore(const streamadmin::config::v1::NormalizerConfig& config, bus::JetStream& jetstream,
                  NormalizerProbe& probe = NormalizerProbe::Default());

  // Puts each checkpoint; a failure is logged and counted (save_failed).
  void Save(const std::vector<Checkpoint>& checkpoints);

  // A Pipeline::BookRestorer: imports the venue's checkpoint into `decoder`
  // and replays the raw frames from it up to `first_seq`. 0 when there is no
  // usable checkpoint and nothing was imported (load_failed, unreadable); an
  // error when the decoder may hold part of it (stale, a failed replay).
  absl::StatusOr<uint64_t> Restore(const std::string& venue, uint64_t first_seq, md::Decoder& decoder);

 private:
  bus::KeyValue* Kv();
  // Decodes the venue's raw frames with MD_RAW sequences in [from, to), for
  // the books only, through a consumer of its own. Returns how many.
  absl::StatusOr<uint64_t> ReplayRaw(const std::string& venue, uint64_t from, uint64_t to, md::Decoder& decoder);

  const streamadmin::config::v1::NormalizerConfig config_;
  bus::JetStream& jetstream_;
  NormalizerProbe& probe_;
  std::mutex mu_;  // guards kv_ and logged_venues_
  std::unique_ptr<bus::KeyValue> kv_;
  std::set<std::string> logged_venues_;  // venues whose first save was logged
};

}  // namespace sa::normalizer
