#include "venues/kraken/kraken_checksum.h"

#include <zlib.h>

namespace sa::md {
namespace {

// Feeds `text` to the CRC without '.' and without leading zeros.
uLong FeedStripped(uLong crc, absl::string_view text) {
  Bytef buf[64];
  uInt n = 0;
  bool leading = true;
  for (char c : text) {
    if (c == '.' || (leading && c == '0')) continue;
    leading = false;
    buf[n++] = static_cast<Bytef>(c);
    if (n == sizeof(buf)) {
      crc = crc32(crc, buf, n);
      n = 0;
    }
  }
  return n == 0 ? crc : crc32(crc, buf, n);
}

}  // namespace

uint32_t KrakenBookChecksum(const OrderBook& book) {
  uLong crc = crc32(0L, Z_NULL, 0);
  const auto feed = [&crc](const OrderBook::Level& level) {
    crc = FeedStripped(crc, level.price);
    crc = FeedStripped(crc, level.size);
  };
  book.ForEachLevel(BookSide::kAsk, 10, feed);
  book.ForEachLevel(BookSide::kBid, 10, feed);
  return static_cast<uint32_t>(crc);
}

}  // namespace sa::md
