// Pipeline: the normalizer's decoding state — one decoder (books, sequence
// checks) and one candle builder per venue, the venues' counters and the
// latest status events — and the step that turns a batch of raw frames into
// what must be published (DecodedBatch). It publishes nothing itself.
//
// Threading: Decode, CloseDueCandles and TakeCheckpoints are called by one
// thread at a time (the consumer loop's handler thread; at stop, the stopping
// thread once the loop has ended). The reads (TopLevels, RecentStatus, Venues,
// Totals) may be called from any thread at any time: each venue has its own
// lock, held by the decoder thread for one frame at a time, so a read waits at
// most for the frame of its venue being decoded, never for a whole batch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bus/dead_letters.h"
#include "bus/message.h"
#include "marketdata/candle_builder.h"
#include "marketdata/decoder.h"
#include "normalizer/book_checkpoints.h"
#include "normalizer/probe.h"
#include "normalizer/raw_input.h"
#include "streamadmin/marketdata/v1/marketdata.pb.h"

namespace sa::normalizer {

// What a batch of raw frames decoded into. The outputs go out together; the
// resyncs and checkpoints are for once the batch's frames are acked.
struct DecodedBatch {
  size_t frames = 0;
  std::vector<bus::Message> outputs;  // MD messages and dead letters, in frame order
  std::vector<md::ResyncRequest> resyncs;
  std::vector<Checkpoint> checkpoints;  // when the schedule was due: every venue's books after this batch
};

struct VenueSummary {
  std::string venue;
  // decode_errors: its raw frames sent to dlq.normalizer (the probe's counters).
  uint64_t frames = 0, decode_errors = 0, trades = 0, book_updates = 0;
  std::vector<std::string> symbols;  // every book the decoder tracks
  size_t books_resyncing = 0;
};

struct PipelineTotals {
  uint64_t frames = 0;
  // Raw frames of the venues with a decoder sent to dlq.normalizer (the
  // probe's counters); an unknown venue's frames are counted apart.
  uint64_t decode_errors = 0;
  size_t venues = 0;
};

class Pipeline {
 public:
  using DecoderFactory = std::function<absl::StatusOr<std::unique_ptr<md::Decoder>>(const std::string& venue)>;
  // Brings the fresh decoder of `venue`, whose first frame here is MD_RAW
  // sequence `first_seq`, up to that frame from the venue's checkpoint.
  // Returns the MD_RAW sequence the restored books reflect (frames up to it
  // are skipped: their outputs are stored), 0 when there is nothing to
  // restore. An error: whatever was imported is dropped (a fresh decoder).
  using BookRestorer =
      std::function<absl::StatusOr<uint64_t>(const std::string& venue, uint64_t first_seq, md::Decoder& decoder)>;

  struct Options {
    size_t max_frame_bytes = 32 << 20;
    size_t max_message_bytes = 512 << 10;
    std::vector<md::CandleBuilder::Interval> candle_intervals;            // empty: no candles built
    DecoderFactory decoder_factory;                                       // empty: md::DecoderRegistry::Global()
    BookRestorer restore_books;                                           // empty: books start empty
    std::function<std::string(const std::string& venue)> checkpoint_key;  // Checkpoint::key
    bool checkpoints_enabled = false;
    absl::Duration checkpoint_interval = absl::Seconds(5);
    NormalizerProbe* probe = nullptr;  // null: NormalizerProbe::Default(); outlives the pipeline
  };

  static constexpr size_t kRecentStatusLimit = 1000;

  explicit Pipeline(Options options);
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // Decodes every frame in order. A frame that cannot be decoded becomes a
  // dead letter among the outputs (after the outputs decoded before the
  // error); a redelivered frame out of order for its venue is skipped, as is
  // one already in books restored from a checkpoint. `now` drives the
  // checkpoint schedule and the once-a-second resync gauges.
  DecodedBatch Decode(const std::vector<RawInput>& batch, absl::Time now);
  // The candles whose interval has passed on each venue's candle clock (the
  // data's event time advanced by wall time since it was seen), closed.
  std::vector<bus::Message> CloseDueCandles(int64_t now_unix_ns);
  // Every venue's books that its decoder can export, encoded.
  std::vector<Checkpoint> TakeCheckpoints();

  // The best `depth` levels of a book (Decoder::TopLevels); NotFound for a
  // venue no frame came from, Unavailable while the venue's first frame is
  // waiting for its books to be restored from a checkpoint (try again).
  absl::StatusOr<streamadmin::marketdata::v1::BookUpdate> TopLevels(const std::string& venue, const std::string& symbol,
                                                                    size_t depth) const;
  // The latest status events, newest first, at most `limit`.
  std::vector<streamadmin::marketdata::v1::VenueStatus> RecentStatus(size_t limit) const;
  std::vector<VenueSummary> Venues() const;
  PipelineTotals Totals() const;

 private:
  struct Venue;

  Venue* VenueFor(const std::string& venue, uint64_t first_seq, DecodedBatch* batch, std::string* error);
  absl::StatusOr<std::unique_ptr<Venue>> NewVenue(const std::string& venue);
  Venue* FindVenue(const std::string& venue) const;
  void DecodeOne(const RawInput& in, DecodedBatch* batch);
  // Counted for `venue`; null: the venue named by the frame's subject.
  void DeadLetter(const RawInput& in, const std::string& reason, const std::string& error, DecodedBatch* batch,
                  NormalizerProbe::Venue* venue = nullptr);
  void AddStatuses(std::vector<streamadmin::marketdata::v1::VenueStatus>& statuses);

  const Options options_;
  NormalizerProbe& probe_;
  bus::DeadLetterWriter dlq_{{.stage = "normalizer"}};  // builds only
  CheckpointSchedule schedule_;
  absl::Time last_resync_gauges_ = absl::InfinitePast();  // decoder thread

  // Guards the map's shape; venues are added by the decoder thread, never
  // removed, so a Venue* stays valid. Lock order: venues_mu_, then Venue::mu.
  mutable std::shared_mutex venues_mu_;
  std::map<std::string, std::unique_ptr<Venue>> venues_;
  std::set<std::string> restoring_;  // venues being set up (VenueFor); guarded by venues_mu_

  mutable std::mutex status_mu_;  // guards recent_status_
  std::deque<streamadmin::marketdata::v1::VenueStatus> recent_status_;
};

}  // namespace sa::normalizer
