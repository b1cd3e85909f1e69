// Kraken's order book checksum (WS v1 "c", WS v2 "checksum").
#pragma once

#include <cstdint>

#include "absl/strings/string_view.h"
#include "marketdata/order_book.h"

namespace sa::md {

// CRC32 over the top 10 asks (ascending) then the top 10 bids (descending);
// for each level its price text then its volume text with '.' removed and
// leading zeros stripped, all concatenated. Compared as an unsigned decimal.
// Keeps each checksummed level's stripped text in its Level::derived.
uint32_t KrakenBookChecksum(const OrderBook& book);

}  // namespace sa::md
