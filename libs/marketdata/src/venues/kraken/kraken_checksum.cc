#include "venues/kraken/kraken_checksum.h"

#include <zlib.h>

namespace sa::md {
namespace {

// Collects the checksum text in a buffer and feeds it to the CRC in as few
// crc32() calls as possible: once per checksum for any book Kraken sends (zlib's
// per-call cost dominated when each of the 40 fields was fed on its own, 29 % of
// a whole-recording decode), more only for texts longer than the buffer.
class StrippedCrc {
 public:
  // Appends `text` without '.' and without leading zeros.
  void Append(absl::string_view text) {
    size_t start = 0;
    while (start < text.size() && (text[start] == '0' || text[start] == '.')) ++start;
    text.remove_prefix(start);
    if (text.size() > sizeof(buf_) - used_) Flush();
    if (text.size() > sizeof(buf_)) {  // longer than any price Kraken sends
      for (char c : text) {
        if (c != '.') Write(c);
      }
      return;
    }
    // A plain loop: the texts are short, so memchr/memcpy calls cost more.
    Bytef* out = buf_ + used_;
    for (char c : text) {
      *out = static_cast<Bytef>(c);
      out += c != '.';
    }
    used_ = static_cast<size_t>(out - buf_);
  }

  uint32_t Finish() {
    Flush();
    return static_cast<uint32_t>(crc_);
  }

 private:
  void Write(char c) {
    if (used_ == sizeof(buf_)) Flush();
    buf_[used_++] = static_cast<Bytef>(c);
  }

  void Flush() {
    if (used_ == 0) return;
    crc_ = crc32(crc_, buf_, static_cast<uInt>(used_));
    used_ = 0;
  }

  uLong crc_ = crc32(0L, Z_NULL, 0);
  Bytef buf_[1024];
  size_t used_ = 0;
};

}  // namespace

uint32_t KrakenBookChecksum(const OrderBook& book) {
  StrippedCrc crc;
  const auto feed = [&crc](const OrderBook::Level& level) {
    crc.Append(level.price);
    crc.Append(level.size);
  };
  book.ForEachLevel(BookSide::kAsk, 10, feed);
  book.ForEachLevel(BookSide::kBid, 10, feed);
  return crc.Finish();
}

}  // namespace sa::md
