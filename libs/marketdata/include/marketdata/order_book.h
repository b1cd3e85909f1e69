// OrderBook: an exact L2 book (price level -> size) for one symbol.
//
// Levels are keyed by the exact value of the price text (PriceKey, a scaled
// 128-bit integer, so "1.5" and "1.50" are the same level and no binary float
// is involved) and keep the venue's original price and size text, which
// exchange checksums (Kraken) are computed over and canonical messages carry.
//
// Not thread-safe: one owner (a Decoder) mutates and reads it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "marketdata/decimal.h"

namespace sa::md {

enum class BookSide { kBid, kAsk };

class OrderBook {
 public:
  struct Level {
    std::string price;  // venue text
    std::string size;   // venue text, never zero
    // Text a venue derives from the level and keeps with it (Kraken: the
    // level's part of the book checksum): empty until the venue fills it in,
    // emptied whenever the level is set again.
    mutable std::string derived;
  };

  // A level's price and size, parsed once: decoders validate every level as
  // they read it and apply it later, so they keep this and call SetParsed.
  struct ParsedLevel {
    PriceKey key = 0;
    bool remove = false;  // size is zero
  };
  // False when either text is not an exact decimal or size < 0.
  static bool ParseLevel(absl::string_view price, absl::string_view size, ParsedLevel* out);

  // Sets the level at `price` to `size`; a size equal to zero removes it
  // (removing an absent level is not an error: venues send such deletes).
  // InvalidArgument when either text is not an exact decimal or size < 0; the
  // book is unchanged then.
  absl::Status Set(BookSide side, absl::string_view price, absl::string_view size);
  // Set for texts already parsed: `parsed` must be ParseLevel(price, size).
  void SetParsed(BookSide side, const ParsedLevel& parsed, absl::string_view price, absl::string_view size);

  void Clear();
  // Drops everything beyond the best `depth` levels of each side; `removed`
  // sees each dropped level first (to publish it as a deletion).
  void Truncate(size_t depth);
  void Truncate(size_t depth, absl::FunctionRef<void(BookSide, const Level&)> removed);

  size_t size(BookSide side) const { return side == BookSide::kBid ? bids_.size() : asks_.size(); }
  bool empty() const { return bids_.empty() && asks_.empty(); }

  // Calls fn(level) for the best `n` levels of `side`, best first (bids
  // descending, asks ascending). A template, so that `fn` is inlined in the
  // loops that walk every level (snapshots, the Kraken checksum's 20 levels).
  template <typename Fn>
  void ForEachLevel(BookSide side, size_t n, Fn&& fn) const {
    const auto each = [&](const auto& map) {
      for (auto it = map.begin(); it != map.end() && n > 0; ++it, --n) fn(At(it->second));
    };
    if (side == BookSide::kBid) {
      each(bids_);
    } else {
      each(asks_);
    }
  }
  // Copy of the best `n` levels of `side`, best first.
  std::vector<Level> Top(BookSide side, size_t n) const;
  // Best bid >= best ask: a book no venue would publish.
  bool IsCrossed() const;

 private:
  // Each side maps a price to the level's slot in levels_: the trees move
  // 24-byte entries (about ten to a node) instead of the levels themselves.
  using Slot = uint32_t;
  template <typename Map>
  void SetLevel(Map& map, const ParsedLevel& parsed, absl::string_view price, absl::string_view size);
  template <typename Map, typename Fn>
  void TruncateMap(Map& map, size_t depth, Fn&& removed);

  Slot NewSlot();
  Level& At(Slot slot) { return chunks_[slot / kChunkLevels][slot % kChunkLevels]; }
  const Level& At(Slot slot) const { return chunks_[slot / kChunkLevels][slot % kChunkLevels]; }

  absl::btree_map<PriceKey, Slot, std::greater<PriceKey>> bids_;
  absl::btree_map<PriceKey, Slot> asks_;
  // Levels in fixed chunks (never moved; no block big enough for malloc to map
  // and unmap it each time a snapshot's book is built). Kept across Clear() so
  // their strings' buffers are reused.
  static constexpr size_t kChunkLevels = 256;
  std::vector<std::unique_ptr<Level[]>> chunks_;
  Slot used_slots_ = 0;           // slots handed out since the last Clear()
  std::vector<Slot> free_slots_;  // slots of removed levels, reused first
};

}  // namespace sa::md
