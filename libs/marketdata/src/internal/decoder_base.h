// DecoderBase: what every venue decoder shares - frame checks (size, kind,
// frame_seq), the simdjson parser and padded input, reusable message objects,
// stats, error messages, and the book life cycle (unsynced -> live ->
// resyncing -> live) with its VenueStatus messages and resync requests.
//
// A venue implements DecodeDocument() and MakeResyncRequest(); see
// src/venues/*/ for the four builtin ones. Same threading contract as Decoder.
#pragma once

#include <google/protobuf/arena.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "internal/json.h"
#include "marketdata/decoder.h"
#include "marketdata/order_book.h"

namespace sa::md::internal {

inline void SetDecimal(::streamadmin::common::v1::Decimal* decimal, std::string_view text) {
  decimal->mutable_value()->assign(text.data(), text.size());
}

// A Ticker's quote texts as the venue wrote them (views into the parsed frame).
struct TickerTexts {
  std::string_view bid, bid_size, ask, ask_size, last, volume_24h;
};

// One book level as a venue's frame gives it: views into the parsed frame,
// checked and parsed once by DecoderBase::CheckLevel, applied later.
struct LevelView {
  BookSide side = BookSide::kBid;
  std::string_view price;
  std::string_view size;
  OrderBook::ParsedLevel parsed;
};

enum class BookState {
  kUnsynced,   // no snapshot yet (start-up): nothing published, no status emitted
  kLive,       // known right: updates applied and published
  kResyncing,  // known wrong after a gap / mismatch / lost conn: waiting for a snapshot
};

struct TrackedBook {
  std::string symbol;        // canonical
  std::string venue_symbol;
  std::string conn;          // conn whose frames feed the book
  OrderBook book;
  BookState state = BookState::kUnsynced;
  uint64_t version = 0;      // BookUpdate.book_version of the last publication
  uint64_t sequence = 0;     // venue sequence of the last applied update (0: none)
  int depth = 0;             // subscribed depth where the venue has one (Kraken)
  bool resync_requested = false;
  ResyncRequest request;     // the open request while resync_requested
};

// Venue symbol -> canonical BASE-QUOTE, computed once per symbol: the hot
// path looks a frame's symbol up without allocating.
class SymbolCache {
 public:
  template <typename ToCanonical>
  const std::string& Get(std::string_view venue_symbol, ToCanonical&& to_canonical) {
    auto it = map_.find(AV(venue_symbol));
    if (it == map_.end()) it = map_.emplace(std::string(venue_symbol), to_canonical(AV(venue_symbol))).first;
    return it->second;
  }
  void Clear() { map_.clear(); }

 private:
  absl::flat_hash_map<std::string, std::string> map_;
};

class DecoderBase : public Decoder {
 public:
  DecoderBase(std::string venue, const DecoderOptions& options);
  ~DecoderBase() override;

  absl::string_view venue() const final { return venue_; }
  absl::Status Decode(const RawFrame& frame, Sink& sink) final;
  void OnConnectionLost(absl::string_view conn, absl::string_view detail, Sink& sink) final;
  absl::StatusOr<pb::BookUpdate> TopLevels(absl::string_view symbol, size_t n) const final;
  std::vector<std::string> BookSymbols() const final;
  std::vector<ResyncRequest> PendingResyncs() const final;
  const DecoderStats& stats() const final { return stats_; }
  absl::StatusOr<pb::BookCheckpoint> ExportBooks() const final;
  absl::Status ImportBooks(const pb::BookCheckpoint& checkpoint) final;

 protected:
  // Book checkpoints: a venue whose books and per-conn state can be restored
  // from the generic part (books, frame_seq) plus ExportConnState says so.
  virtual bool SupportsCheckpoints() const { return false; }
  // Per-conn venue sequence (checkpoint.conn_sequence), where the venue has one.
  virtual void ExportConnState(pb::BookCheckpoint* checkpoint) const {}
  virtual void ImportConnState(const pb::BookCheckpoint& checkpoint) {}

  // Decodes a parsed frame (frame.data is the document's text). Return OK for
  // messages that are recognised and deliberately ignored, after CountSkipped().
  virtual absl::Status DecodeDocument(const RawFrame& frame, od::document& doc, Sink& sink) = 0;
  // What the service must do to bring `book` back (action, channel, url...);
  // venue, conn, symbols and reason are filled in by the caller.
  virtual ResyncRequest MakeResyncRequest(const TrackedBook& book) const = 0;
  // Forget per-conn venue state (sequence counters, channel ids) of `conn`.
  virtual void ForgetConnection(absl::string_view conn) {}
  // `book` just became resyncing: drop venue state that cannot bridge a gap
  // (Binance: buffered diffs, the snapshot's lastUpdateId).
  virtual void OnInvalidated(TrackedBook& book) {}

  // "<venue> frame <seq> on <conn>: <what>" with the reason as payload.
  absl::Status Error(const RawFrame& frame, DecodeError error, absl::string_view what);
  // OK when `price` is an exact decimal price and `size` an exact, non-negative
  // decimal; else a kBadValue error: `<what> "<price>" "<size>"`. `parsed`, when
  // given, receives the parsed level for OrderBook::SetParsed.
  absl::Status CheckLevel(const RawFrame& frame, absl::string_view what, std::string_view price, std::string_view size,
                          OrderBook::ParsedLevel* parsed = nullptr);
  absl::Status JsonError(const RawFrame& frame, simdjson::error_code error,
                         absl::string_view where);
  void CountSkipped() { ++stats_.skipped; }

  void FillOrigin(pb::Origin* origin, const RawFrame& frame, absl::string_view symbol,
                  absl::string_view venue_symbol, int64_t exchange_time_ns) const;

  // Reusable messages. They are NOT cleared between uses (protobuf's Clear()
  // frees sub-messages, which would allocate again on every frame): a venue
  // sets every field it fills on every use and clear_x()es the ones it lacks.
  pb::Trade& trade() { return trade_; }
  pb::Ticker& ticker() { return ticker_; }
  pb::Candle& candle() { return candle_; }
  void EmitTrade(Sink& sink) { ++stats_.trades; sink.OnTrade(trade_); }
  void EmitTicker(Sink& sink) { ++stats_.tickers; sink.OnTicker(ticker_); }
  // Fills ticker() (origin as FillOrigin, every quote from `texts`) and emits it.
  void EmitTicker(const RawFrame& frame, absl::string_view symbol, absl::string_view venue_symbol,
                  int64_t exchange_time_ns, const TickerTexts& texts, Sink& sink);
  void EmitCandle(Sink& sink) { ++stats_.candles; sink.OnCandle(candle_); }

  // A kResubscribe request for `channel` (with the venue's `depth`, where it has one).
  static ResyncRequest Resubscribe(std::string channel, int depth = 0);
  // A snapshot: `book`'s levels become `levels` (checked by CheckLevel).
  static void ReplaceLevels(OrderBook& book, absl::Span<const LevelView> levels);
  // An update: applies `levels` to `book` and adds each to `update` as sent.
  void ApplyLevels(OrderBook& book, absl::Span<const LevelView> levels, pb::BookUpdate& update);
  // Appends a level to `update` (from StartBookUpdate) on `side`.
  pb::BookLevel* AddLevel(pb::BookUpdate& update, BookSide side);

  // Books, keyed by canonical symbol.
  TrackedBook& GetBook(absl::string_view symbol, absl::string_view venue_symbol);
  TrackedBook* FindBook(absl::string_view symbol);
  template <typename Fn>
  void ForEachBook(Fn&& fn) {
    for (auto& [symbol, book] : books_) fn(*book);
  }

  // Starts a BookUpdate for `book` (origin filled, no levels; add them with
  // AddLevel): an update, or a snapshot of up to a few thousand levels (the
  // book's current size), in a message reused with its levels, so publishing
  // allocates nothing in steady state; a bigger snapshot on a per-update arena
  // whose first block is reused. Valid until the next StartBookUpdate.
  pb::BookUpdate& StartBookUpdate(const TrackedBook& book, const RawFrame& frame, bool snapshot,
                                  uint64_t sequence, int64_t exchange_time_ns);
  // Publishes it with the next book_version. The book must be live.
  void PublishBookUpdate(TrackedBook& book, Sink& sink);
  // Builds a full snapshot BookUpdate from the book's levels and publishes it.
  void PublishSnapshot(TrackedBook& book, const RawFrame& frame, uint64_t sequence,
                       int64_t exchange_time_ns, Sink& sink);

  // A snapshot (already in book.book) made `book` right: state live, open
  // request closed, the snapshot published, then KIND_RESYNCED when it had
  // been resyncing.
  void GoLiveWithSnapshot(TrackedBook& book, const RawFrame& frame, uint64_t sequence,
                          int64_t exchange_time_ns, Sink& sink);
  // `book` is known wrong: emits `kind` (KIND_GAP / KIND_CHECKSUM_MISMATCH;
  // KIND_UNSPECIFIED emits none) then KIND_RESYNCING, stops publication and
  // raises a resync request with `reason`. No-op when already resyncing.
  void Invalidate(TrackedBook& book, pb::VenueStatus::Kind kind, absl::string_view reason,
                  absl::string_view detail, uint64_t expected, uint64_t received,
                  const RawFrame* frame, Sink& sink);
  // Invalidates every live or unsynced book fed by `conn`; with no such book a
  // single conn-level `kind` status is still emitted so the loss is visible.
  void InvalidateConn(absl::string_view conn, pb::VenueStatus::Kind kind,
                      absl::string_view reason, absl::string_view detail, uint64_t expected,
                      uint64_t received, const RawFrame* frame, Sink& sink);
  // A book with no snapshot yet needs one: raises the request once (reason
  // "initial"), without status messages.
  void RequestInitialSync(TrackedBook& book, Sink& sink);
  // (Re)raises a resync request for `book` with `reason`, without status
  // messages and without changing its state.
  void RaiseResyncRequest(TrackedBook& book, absl::string_view reason, Sink& sink);
  // Book data for a book that is not live was ignored.
  void CountDroppedOutOfSync() { ++stats_.updates_dropped_out_of_sync; }

  void EmitStatus(const TrackedBook* book, absl::string_view conn, const RawFrame* frame,
                  pb::VenueStatus::Kind kind, absl::string_view detail, uint64_t expected,
                  uint64_t received, Sink& sink);

  const DecoderOptions options_;
  DecoderStats stats_;

 private:
  const std::string venue_;
  PaddedInput input_;
  od::parser parser_;
  pb::Trade trade_;
  pb::Ticker ticker_;
  pb::Candle candle_;
  std::unique_ptr<char[]> arena_block_;  // the arena's reused first block
  google::protobuf::Arena book_arena_;   // snapshots
  // Updates (and snapshots of up to kPooledLevels) reuse one message and its
  // levels: StartBookUpdate takes the last update's levels out (still holding
  // their Decimal and string buffers; at most kPooledLevels are kept) and
  // AddLevel puts them back one by one, so an update allocates nothing.
  pb::BookUpdate update_;
  std::vector<pb::BookLevel*> spare_levels_;  // owned
  pb::BookUpdate* book_update_ = nullptr;
  pb::VenueStatus status_;
  absl::flat_hash_map<std::string, std::unique_ptr<TrackedBook>> books_;
  absl::flat_hash_map<std::string, uint64_t> last_frame_seq_;
};

}  // namespace sa::md::internal
