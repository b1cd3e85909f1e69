// Exact decimal numbers for prices, sizes and their arithmetic.
//
// A Decimal is mantissa * 10^-scale with |mantissa| < 10^38 (38 significant
// digits, a signed 128-bit integer) and 0 <= scale <= 38. Addition,
// subtraction, multiplication and comparison are exact; an operation whose
// exact result does not fit (more than 38 digits, or more than 38 decimals
// after trailing zeros are dropped) fails (returns false) instead of
// rounding: callers turn that into NULL and count it. Nothing goes through
// a binary float.
//
// Scales follow PostgreSQL's numeric so that both back ends print the same
// text: a parsed value keeps its written scale ("1.50" has scale 2), a sum
// has the larger scale of its operands, a product the sum of theirs.
// Division (the only inexact operation) uses PostgreSQL's result scale
// (select_div_scale: at least 16 significant digits, at least each input's
// scale) and rounds half away from zero, as numeric_div does.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sa::dsl {

// 128-bit integers (a GCC/Clang extension; __extension__ keeps -Wpedantic quiet).
__extension__ typedef __int128 Int128;
__extension__ typedef unsigned __int128 UInt128;

class Decimal {
 public:
  static constexpr int kMaxDigits = 38;
  static constexpr int kMaxScale = 38;

  constexpr Decimal() = default;
  static Decimal FromInt(int64_t v) { return Decimal(v, 0); }
  // mantissa * 10^-scale; nullopt outside the limits above (checkpoints).
  static std::optional<Decimal> FromParts(Int128 mantissa, int scale);
  // [+-]digits[.digits][(e|E)[+-]digits]; nullopt when malformed or when the
  // value needs more than 38 digits / 38 decimals. Does not allocate.
  static std::optional<Decimal> Parse(std::string_view text);

  // false on overflow (see above); *out is then unspecified.
  static bool Add(const Decimal& a, const Decimal& b, Decimal* out);
  static bool Sub(const Decimal& a, const Decimal& b, Decimal* out);
  static bool Mul(const Decimal& a, const Decimal& b, Decimal* out);
  // false when b is zero or the rounded quotient does not fit.
  static bool Div(const Decimal& a, const Decimal& b, Decimal* out);
  // Rounds half away from zero to `digits` decimals (0..38); false on overflow.
  static bool Round(const Decimal& a, int digits, Decimal* out);
  // Exact three-way comparison: <0, 0, >0 (1.50 == 1.5).
  static int Compare(const Decimal& a, const Decimal& b);

  bool operator==(const Decimal& o) const { return Compare(*this, o) == 0; }
  bool operator<(const Decimal& o) const { return Compare(*this, o) < 0; }

  Decimal Negated() const { return Decimal(-mantissa_, scale_); }
  Decimal Abs() const { return mantissa_ < 0 ? Negated() : *this; }
  bool is_zero() const { return mantissa_ == 0; }
  int sign() const { return mantissa_ < 0 ? -1 : mantissa_ > 0 ? 1 : 0; }
  Int128 mantissa() const { return mantissa_; }
  int scale() const { return scale_; }

  // Plain notation with exactly scale() decimals, as PostgreSQL prints numeric.
  std::string ToString() const;
  // The nearest double (for float arithmetic the user asked for).
  double ToDouble() const;

 private:
  constexpr Decimal(Int128 m, int s) : mantissa_(m), scale_(s) {}
  Int128 mantissa_ = 0;
  int32_t scale_ = 0;
};

}  // namespace sa::dsl
