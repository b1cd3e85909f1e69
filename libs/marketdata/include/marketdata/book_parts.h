// Splitting a book snapshot that is too big for one message (the contract is
// on streamadmin.marketdata.v1.BookUpdate: part 1 replaces the book with the
// best levels, later parts add deeper ones as deltas would).
#pragma once

#include <cstddef>
#include <vector>

#include "streamadmin/marketdata/v1/marketdata.pb.h"

namespace sa::md {

// `snapshot` whole when its encoding is at most `max_bytes`; otherwise parts,
// each encoded in at most `max_bytes` (a single level larger than that gets a
// part of its own), levels in the snapshot's order (best first), numbered
// 1..n with snapshot_part/snapshot_parts, only part 1 marked snapshot.
// `max_bytes` below 1 KiB is taken as 1 KiB.
std::vector<streamadmin::marketdata::v1::BookUpdate> SplitBookSnapshot(
    const streamadmin::marketdata::v1::BookUpdate& snapshot, size_t max_bytes);

}  // namespace sa::md
