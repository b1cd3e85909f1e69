// Exact decimal arithmetic for prices and sizes, without binary floats.
//
// Venues send prices and sizes as decimal text ("0.000022900", "65083.67").
// ExactDecimal holds such a number as an integer count of 10^-scale units, so
// comparison and addition are exact; the canonical messages keep the venue's
// own text, these values are only for keys, comparisons and sums.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sa::md {

// GCC/Clang 128-bit integers (__extension__ keeps -Wpedantic quiet).
__extension__ typedef __int128 Int128;
__extension__ typedef unsigned __int128 UInt128;

// value = units / 10^scale. Fits any |value| < 1.7e38 / 10^scale.
struct ExactDecimal {
  Int128 units = 0;
  int scale = 0;  // digits after the decimal point, 0..kMaxDecimalScale
};

inline constexpr int kMaxDecimalScale = 18;

// Parses "[-]digits[.digits]" (also ".5" and "5."). No exponents, no spaces,
// at most 38 significant digits and kMaxDecimalScale fraction digits (more
// fraction digits are accepted only when they are zeros). The scale is the
// number of fraction digits written, so "1.50" has scale 2.
bool ParseExactDecimal(absl::string_view text, ExactDecimal* out);
absl::StatusOr<ExactDecimal> ParseExactDecimalOrError(absl::string_view text);

// Fixed-scale key (value * 10^18) of a price, for exact ordering in books:
// "1.5", "1.50" and "1.500000" give the same key.
using PriceKey = Int128;
bool ParsePriceKey(absl::string_view text, PriceKey* key);

// -1, 0, 1 like a <=> b. Exact.
int ExactCompare(const ExactDecimal& a, const ExactDecimal& b);
// a + b at scale max(a.scale, b.scale). False on overflow.
bool ExactAdd(const ExactDecimal& a, const ExactDecimal& b, ExactDecimal* sum);
bool IsZero(const ExactDecimal& d);
// Text with exactly `scale` fraction digits: {1500, 3} -> "1.500", {-5, 2} -> "-0.05".
std::string FormatExactDecimal(const ExactDecimal& d);

// Time stamps as venues write them, to ns since the epoch, exactly.
// "1618678142.557535" (seconds with up to 9 fraction digits; Kraken, recordings).
bool ParseDecimalSecondsToNs(absl::string_view text, int64_t* ns);
// "2021-04-17T16:43:30.244075Z" (RFC 3339, UTC 'Z' or +hh:mm offset, up to 9
// fraction digits; Coinbase).
// Both refuse times whose ns do not fit int64 (before 1677-09-21 or after 2262-04-11).
bool ParseRfc3339ToNs(absl::string_view text, int64_t* ns);

}  // namespace sa::md
