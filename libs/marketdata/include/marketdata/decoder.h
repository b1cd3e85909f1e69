// Decoder: turns one venue's RawFrames into canonical messages.
//
// One Decoder instance per venue (per normalizer pipeline); it is stateful
// (order books, symbol maps, sequence tracking for every conn of the venue) and
// NOT thread-safe: Decode, OnConnectionLost, TopLevels and friends must be
// called from one thread or under one lock. Frames must be passed in receive
// order per conn, every frame of a conn (also the ones that end in an error),
// so that the frame_seq check below holds.
//
// Promises:
//  - Decode never throws and never aborts on input: garbage, truncated JSON,
//    unknown messages, oversized frames give a DecodeError status (see
//    decode_error.h); heartbeats, subscription acks and system status messages
//    are recognised and skipped with OK.
//  - A frame that fails to decode changes no book.
//  - A book is published (BookUpdate, TopLevels) only while it is known right.
//    On a gap or checksum mismatch the decoder emits VenueStatus KIND_GAP or
//    KIND_CHECKSUM_MISMATCH, then KIND_RESYNCING, raises a ResyncRequest and
//    publishes nothing for that book until the venue's next snapshot, after
//    which it emits the snapshot (BookUpdate.snapshot = true) and KIND_RESYNCED.
//  - frame_seq: when DecoderOptions::check_frame_seq is on and a conn's
//    frame_seq jumps (frames lost between ingest and here), every book fed by
//    that conn is treated as gapped (KIND_GAP with expected/received frame
//    seq); a frame_seq that does not advance is rejected with kOutOfOrder,
//    except 1, which means ingest restarted and reused the conn id (handled
//    as OnConnectionLost, then a new connection). frame_seq 0 is not checked.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "marketdata/raw_frame.h"
#include "marketdata/sink.h"
#include "streamadmin/marketdata/v1/book_checkpoint.pb.h"

namespace sa::md {

struct DecoderOptions {
  // Frames larger than this are rejected with kOversized. Coinbase Advanced
  // Trade sends full-depth l2 snapshots of several MB.
  size_t max_frame_bytes = 32 << 20;
  // See the class comment.
  bool check_frame_seq = true;
  // Binance: diffs kept per symbol while waiting for a REST snapshot; beyond
  // this the oldest are dropped (and the snapshot will then not bridge: resync).
  size_t max_buffered_diffs = 20000;
  // Binance: base of the REST depth snapshot URL in ResyncRequests (the base of
  // the last snapshot URL seen is preferred).
  std::string binance_rest_base = "https://api.binance.com";
  int binance_snapshot_limit = 1000;
};

// Counters for tests and metrics. Monotonic.
struct DecoderStats {
  uint64_t frames = 0;          // Decode calls
  uint64_t errors = 0;          // Decode calls that returned an error
  uint64_t skipped = 0;         // heartbeats, acks, status, REST bodies not needed
  uint64_t trades = 0;
  uint64_t tickers = 0;
  uint64_t book_updates = 0;    // BookUpdates emitted (snapshots included)
  uint64_t book_snapshots = 0;  // of which snapshot = true
  uint64_t candles = 0;
  uint64_t statuses = 0;        // VenueStatus messages emitted
  uint64_t gaps = 0;            // KIND_GAP emitted
  uint64_t checksums_verified = 0;
  uint64_t checksum_mismatches = 0;
  uint64_t resyncs_completed = 0;            // KIND_RESYNCED emitted
  uint64_t updates_dropped_out_of_sync = 0;  // book data ignored while a book was not right
  uint64_t stale_diffs_dropped = 0;          // Binance diffs already covered by the snapshot
};

class Decoder {
 public:
  virtual ~Decoder() = default;

  // Registry name: "kraken", "binance", "coinbase", "coinbase-exchange".
  virtual absl::string_view venue() const = 0;

  // Decodes one frame, delivering messages to `sink` before returning. Errors:
  // InvalidArgument with a DecodeError payload (see decode_error.h).
  virtual absl::Status Decode(const RawFrame& frame, Sink& sink) = 0;

  // Ingest reports that `conn` closed (or the normalizer lost its frames):
  // every book it fed becomes resyncing (KIND_RESYNCING + ResyncRequest with
  // reason "connection_lost"), and the conn's sequence state is forgotten.
  virtual void OnConnectionLost(absl::string_view conn, absl::string_view detail, Sink& sink) = 0;

  // The best `n` levels of each side of `symbol` (canonical BASE-QUOTE) as a
  // BookUpdate with snapshot = true, the current sequence and book_version.
  // NotFound: no such book. Unavailable: the book is not right now (never
  // synced or resyncing) - a known-wrong book is never served.
  virtual absl::StatusOr<pb::BookUpdate> TopLevels(absl::string_view symbol, size_t n) const = 0;

  // Canonical symbols of every book this decoder tracks.
  virtual std::vector<std::string> BookSymbols() const = 0;

  // Open resync requests (also delivered once via Sink::OnResyncRequest), for a
  // service that polls or retries; a request disappears when its book is right.
  virtual std::vector<ResyncRequest> PendingResyncs() const = 0;

  virtual const DecoderStats& stats() const = 0;

  // Book checkpoints (the normalizer's restart without dark books). Export:
  // every live book (levels, sequence, version, depth, conn) and the per-conn
  // state the next frames are checked against; raw_stream_seq is the
  // caller's. Unimplemented for a venue whose state cannot be restored from
  // that alone. Import, on a decoder that has seen no frame: the books become
  // live as exported, published from the next update on; InvalidArgument
  // (and nothing imported) for a checkpoint of another venue or with levels
  // that are not exact decimals.
  virtual absl::StatusOr<pb::BookCheckpoint> ExportBooks() const = 0;
  virtual absl::Status ImportBooks(const pb::BookCheckpoint& checkpoint) = 0;
};

}  // namespace sa::md
