#include "marketdata/book_parts.h"

#include <algorithm>

namespace sa::md {

namespace pb = streamadmin::marketdata::v1;

std::vector<pb::BookUpdate> SplitBookSnapshot(const pb::BookUpdate& snapshot, size_t max_bytes) {
  max_bytes = std::max<size_t>(max_bytes, 1024);
  std::vector<pb::BookUpdate> parts;
  if (snapshot.ByteSizeLong() <= max_bytes || !snapshot.snapshot()) {
    parts.push_back(snapshot);
    return parts;
  }
  pb::BookUpdate head = snapshot;  // origin, sequence, version: every part carries them
  head.clear_bids();
  head.clear_asks();
  head.clear_snapshot_part();
  head.clear_snapshot_parts();
  const size_t head_bytes = head.ByteSizeLong() + 16;  // + the part fields
  // Walks both sides best first, alternating, so every part (part 1 above
  // all) holds a top slice of each side. A level costs its encoding plus
  // its field tag and length (at most 1 + 5 bytes).
  int bid = 0, ask = 0;
  while (bid < snapshot.bids_size() || ask < snapshot.asks_size()) {
    pb::BookUpdate part = head;
    size_t bytes = head_bytes;
    bool added = false;
    while (bid < snapshot.bids_size() || ask < snapshot.asks_size()) {
      const bool take_bid = ask >= snapshot.asks_size() || (bid < snapshot.bids_size() && bid <= ask);
      const pb::BookLevel& level = take_bid ? snapshot.bids(bid) : snapshot.asks(ask);
      const size_t cost = level.ByteSizeLong() + 6;
      if (added && bytes + cost > max_bytes) break;
      *(take_bid ? part.add_bids() : part.add_asks()) = level;
      (take_bid ? bid : ask)++;
      bytes += cost;
      added = true;
    }
    parts.push_back(std::move(part));
  }
  const auto n = static_cast<uint32_t>(parts.size());
  for (uint32_t i = 0; i < n; ++i) {
    parts[i].set_snapshot(i == 0);
    parts[i].set_snapshot_part(i + 1);
    parts[i].set_snapshot_parts(n);
  }
  return parts;
}

}  // namespace sa::md
