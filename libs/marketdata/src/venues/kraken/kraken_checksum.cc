#include "venues/kraken/kraken_checksum.h"

#include <zlib.h>

#include <cstddef>
#include <cstring>
#include <string>

#if defined(__x86_64__)
#include <immintrin.h>
#define SA_HAS_CLMUL_CRC 1
#endif

namespace sa::md {
namespace {

#ifdef SA_HAS_CLMUL_CRC
// CRC-32 (zlib's polynomial) by carry-less multiplication: fold the text 64
// bytes at a time into four 128-bit lanes, then to one, then to 32 bits by
// Barrett reduction (Gopal, Ozturk et al., "Fast CRC Computation for Generic
// Polynomials Using PCLMULQDQ Instruction", Intel 2009; the constants are
// x^k mod P for the reflected polynomial 0x1DB710641). About 4x zlib's crc32()
// on the ~300 bytes of a Kraken checksum. Takes and returns zlib's running
// value; `size` >= 64 and a multiple of 16.
#define SA_CLMUL_TARGET __attribute__((target("pclmul,sse4.1")))

SA_CLMUL_TARGET inline __m128i FoldInto(__m128i lanes, __m128i constants, __m128i data) {
  return _mm_xor_si128(
      _mm_xor_si128(_mm_clmulepi64_si128(lanes, constants, 0x00), _mm_clmulepi64_si128(lanes, constants, 0x11)), data);
}

SA_CLMUL_TARGET uint32_t ClmulCrc32(uint32_t crc, const unsigned char* data, size_t size) {
  const __m128i fold4 = _mm_set_epi64x(0x01c6e41596, 0x0154442bd4);    // x^(4*128+32), x^(4*128-32)
  const __m128i fold1 = _mm_set_epi64x(0x00ccaa009e, 0x01751997d0);    // x^(128+32), x^(128-32)
  const __m128i fold64 = _mm_set_epi64x(0, 0x0163cd6124);              // x^64
  const __m128i barrett = _mm_set_epi64x(0x01f7011641, 0x01db710641);  // mu, P
  const __m128i low32 = _mm_setr_epi32(-1, 0, 0, 0);
  const auto load = [](const unsigned char* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); };
  __m128i x0 = _mm_xor_si128(load(data), _mm_cvtsi32_si128(static_cast<int>(~crc)));
  __m128i x1 = load(data + 16);
  __m128i x2 = load(data + 32);
  __m128i x3 = load(data + 48);
  data += 64;
  size -= 64;
  for (; size >= 64; data += 64, size -= 64) {
    x0 = FoldInto(x0, fold4, load(data));
    x1 = FoldInto(x1, fold4, load(data + 16));
    x2 = FoldInto(x2, fold4, load(data + 32));
    x3 = FoldInto(x3, fold4, load(data + 48));
  }
  x0 = FoldInto(x0, fold1, x1);
  x0 = FoldInto(x0, fold1, x2);
  x0 = FoldInto(x0, fold1, x3);
  for (; size >= 16; data += 16, size -= 16) x0 = FoldInto(x0, fold1, load(data));
  // 128 -> 64 bits.
  x0 = _mm_xor_si128(_mm_srli_si128(x0, 8), _mm_clmulepi64_si128(x0, fold1, 0x10));
  x0 = _mm_xor_si128(_mm_clmulepi64_si128(_mm_and_si128(x0, low32), fold64, 0x00), _mm_srli_si128(x0, 4));
  // 64 -> 32 bits.
  __m128i t = _mm_clmulepi64_si128(_mm_and_si128(x0, low32), barrett, 0x10);
  t = _mm_clmulepi64_si128(_mm_and_si128(t, low32), barrett, 0x00);
  return ~static_cast<uint32_t>(_mm_extract_epi32(_mm_xor_si128(x0, t), 1));
}

#undef SA_CLMUL_TARGET

const bool kHasClmul = [] {
  __builtin_cpu_init();  // this runs among the static constructors
  return __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
}();
#endif

// zlib's crc32(), by ClmulCrc32 where the CPU has it.
uLong Crc32(uLong crc, const Bytef* data, size_t size) {
#ifdef SA_HAS_CLMUL_CRC
  if (kHasClmul && size >= 64) {
    const size_t folded = size & ~size_t{15};
    crc = ClmulCrc32(static_cast<uint32_t>(crc), data, folded);
    data += folded;
    size -= folded;
  }
#endif
  return crc32(crc, data, static_cast<uInt>(size));
}

// Appends `text` without '.' and without leading zeros (a plain loop: the
// texts are short, so memchr/memcpy calls cost more).
void AppendStripped(absl::string_view text, std::string* out) {
  size_t start = 0;
  while (start < text.size() && (text[start] == '0' || text[start] == '.')) ++start;
  text.remove_prefix(start);
  const size_t old_size = out->size();
  out->resize(old_size + text.size());
  char* p = out->data() + old_size;
  for (char c : text) {
    *p = c;
    p += c != '.';
  }
  out->resize(static_cast<size_t>(p - out->data()));
}

// Collects the checksum text in a buffer and feeds it to the CRC in as few
// calls as possible: once per checksum for any book Kraken sends (zlib's
// per-call cost dominated when each of the 40 fields was fed on its own, 29 % of
// a whole-recording decode), more only for texts longer than the buffer.
class CrcBuffer {
 public:
  void Append(absl::string_view text) {
    if (text.size() > sizeof(buf_) - used_) Flush();
    if (text.size() > sizeof(buf_)) {  // longer than any level Kraken sends
      crc_ = Crc32(crc_, reinterpret_cast<const Bytef*>(text.data()), text.size());
      return;
    }
    std::memcpy(buf_ + used_, text.data(), text.size());
    used_ += text.size();
  }

  uint32_t Finish() {
    Flush();
    return static_cast<uint32_t>(crc_);
  }

 private:
  void Flush() {
    if (used_ == 0) return;
    crc_ = Crc32(crc_, buf_, used_);
    used_ = 0;
  }

  uLong crc_ = crc32(0L, Z_NULL, 0);
  Bytef buf_[1024];
  size_t used_ = 0;
};

}  // namespace

uint32_t KrakenBookChecksum(const OrderBook& book) {
  CrcBuffer crc;
  // A level's stripped price and volume are kept with it (Level::derived) until
  // it changes: most updates change one level of the twenty checksummed.
  const auto feed = [&crc](const OrderBook::Level& level) {
    if (level.derived.empty()) {
      AppendStripped(level.price, &level.derived);
      AppendStripped(level.size, &level.derived);
    }
    crc.Append(level.derived);
  };
  book.ForEachLevel(BookSide::kAsk, 10, feed);
  book.ForEachLevel(BookSide::kBid, 10, feed);
  return crc.Finish();
}

}  // namespace sa::md
