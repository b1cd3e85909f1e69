#include "dsl/decimal.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace sa::dsl {
namespace {

using i128 = Int128;
using u128 = UInt128;

constexpr u128 Pow10U(int n) {
  u128 r = 1;
  for (int i = 0; i < n; ++i) r *= 10;
  return r;
}

struct Pow10Table {
  u128 v[39];
  constexpr Pow10Table() : v() {
    for (int i = 0; i <= 38; ++i) v[i] = Pow10U(i);
  }
};
constexpr Pow10Table kPow10;
constexpr u128 kLimit = Pow10U(38);  // |mantissa| < 10^38

bool Fits(i128 m) { return m < static_cast<i128>(kLimit) && m > -static_cast<i128>(kLimit); }

// m * 10^n, false on overflow of the 38-digit limit.
bool ScaleUp(i128 m, int n, i128* out) {
  if (n == 0) {
    *out = m;
    return true;
  }
  if (n > 38) return m == 0 ? (*out = 0, true) : false;
  i128 r;
  if (__builtin_mul_overflow(m, static_cast<i128>(kPow10.v[n]), &r) || !Fits(r)) return false;
  *out = r;
  return true;
}

// Drops trailing zeros while scale > target_scale.
void Trim(i128* m, int* scale, int target_scale) {
  while (*scale > target_scale && *m % 10 == 0) {
    *m /= 10;
    --*scale;
  }
}

int Digits(u128 v) {
  int d = 1;
  while (d < 39 && v >= kPow10.v[d]) ++d;
  return d;
}

// A 256-bit unsigned integer, just enough for exact division.
struct U256 {
  u128 hi = 0, lo = 0;
};

// a * b, full 256-bit product.
U256 Mul128(u128 a, u128 b) {
  const uint64_t a0 = static_cast<uint64_t>(a), a1 = static_cast<uint64_t>(a >> 64);
  const uint64_t b0 = static_cast<uint64_t>(b), b1 = static_cast<uint64_t>(b >> 64);
  const u128 p00 = static_cast<u128>(a0) * b0, p01 = static_cast<u128>(a0) * b1;
  const u128 p10 = static_cast<u128>(a1) * b0, p11 = static_cast<u128>(a1) * b1;
  const u128 mid = (p00 >> 64) + static_cast<uint64_t>(p01) + static_cast<uint64_t>(p10);
  U256 r;
  r.lo = (mid << 64) | static_cast<uint64_t>(p00);
  r.hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
  return r;
}

// x * 10^n (n <= 38) if it fits in 256 bits.
bool MulPow10(U256 x, int n, U256* out) {
  // x.hi must be small enough: (x.hi * 10^n) must fit in 128 bits.
  const u128 p = kPow10.v[n];
  const U256 lo = Mul128(x.lo, p);
  const U256 hi = Mul128(x.hi, p);
  if (hi.hi != 0) return false;
  U256 r;
  r.lo = lo.lo;
  r.hi = lo.hi + hi.lo;
  if (r.hi < lo.hi) return false;
  *out = r;
  return true;
}

// q = x / d, r = x % d (d > 0), bit by bit.
void DivMod(U256 x, u128 d, U256* q, u128* r) {
  U256 quot;
  u128 rem = 0;
  for (int i = 255; i >= 0; --i) {
    const bool bit = i >= 128 ? (x.hi >> (i - 128)) & 1 : (x.lo >> i) & 1;
    const bool carry = rem >> 127;
    rem = (rem << 1) | (bit ? 1 : 0);
    if (carry || rem >= d) {
      rem -= d;
      if (i >= 128)
        quot.hi |= static_cast<u128>(1) << (i - 128);
      else
        quot.lo |= static_cast<u128>(1) << i;
    }
  }
  *q = quot;
  *r = rem;
}

u128 AbsU(i128 m) { return m < 0 ? static_cast<u128>(-(m + 1)) + 1 : static_cast<u128>(m); }

// PostgreSQL's base-10000 weight and first digit of m * 10^-scale (m > 0).
void NbaseWeight(u128 m, int scale, int* weight, int* first) {
  if (m == 0) {
    *weight = 0;
    *first = 0;
    return;
  }
  const int e = Digits(m) - 1 - scale;  // decimal exponent of the leading digit
  const int w = e >= 0 ? e / 4 : -((-e + 3) / 4);
  const int k = -scale - 4 * w;  // first = m * 10^k (k may be negative)
  u128 f;
  if (k >= 0)
    f = m * kPow10.v[k];
  else
    f = m / kPow10.v[-k];
  *weight = w;
  *first = static_cast<int>(f);
}

}  // namespace

std::optional<Decimal> Decimal::FromParts(Int128 mantissa, int scale) {
  if (!Fits(mantissa) || scale < 0 || scale > kMaxScale) return std::nullopt;
  return Decimal(mantissa, scale);
}

std::optional<Decimal> Decimal::Parse(std::string_view s) {
  size_t i = 0;
  bool neg = false;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) neg = s[i++] == '-';
  u128 m = 0;
  int digits = 0, sig = 0, scale = 0;
  bool dot = false;
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (c >= '0' && c <= '9') {
      ++digits;
      if (dot) ++scale;
      if (m == 0 && c == '0') {
        if (dot && scale > kMaxScale) return std::nullopt;
        continue;
      }
      if (++sig > kMaxDigits) return std::nullopt;
      m = m * 10 + static_cast<unsigned>(c - '0');
    } else if (c == '.' && !dot) {
      dot = true;
    } else {
      break;
    }
  }
  if (digits == 0) return std::nullopt;
  if (i < s.size()) {
    if (s[i] != 'e' && s[i] != 'E') return std::nullopt;
    ++i;
    bool eneg = false;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) eneg = s[i++] == '-';
    int exp = 0, edigits = 0;
    for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
      if (++edigits > 4) return std::nullopt;
      exp = exp * 10 + (s[i] - '0');
    }
    if (edigits == 0 || i != s.size()) return std::nullopt;
    scale += eneg ? exp : -exp;
  }
  i128 v = static_cast<i128>(m);
  if (scale < 0) {
    if (!ScaleUp(v, -scale, &v)) return std::nullopt;
    scale = 0;
  }
  if (scale > kMaxScale) {
    Trim(&v, &scale, kMaxScale);
    if (scale > kMaxScale) return std::nullopt;
  }
  return Decimal(neg ? -v : v, scale);
}

bool Decimal::Add(const Decimal& a, const Decimal& b, Decimal* out) {
  const int s = std::max(a.scale_, b.scale_);
  i128 x, y, r;
  if (!ScaleUp(a.mantissa_, s - a.scale_, &x) || !ScaleUp(b.mantissa_, s - b.scale_, &y)) return false;
  if (__builtin_add_overflow(x, y, &r) || !Fits(r)) return false;
  *out = Decimal(r, s);
  return true;
}

bool Decimal::Sub(const Decimal& a, const Decimal& b, Decimal* out) { return Add(a, b.Negated(), out); }

bool Decimal::Mul(const Decimal& a, const Decimal& b, Decimal* out) {
  i128 r;
  int s = a.scale_ + b.scale_;
  if (!__builtin_mul_overflow(a.mantissa_, b.mantissa_, &r) && Fits(r)) {
    if (s > kMaxScale) Trim(&r, &s, kMaxScale);
    if (s > kMaxScale) return false;
    *out = Decimal(r, s);
    return true;
  }
  // The raw product has more than 38 digits: exact only if trailing zeros
  // can go (without going below the display scale PostgreSQL would keep,
  // we accept a smaller scale here: the value is the same).
  U256 p = Mul128(AbsU(a.mantissa_), AbsU(b.mantissa_));
  while (s > 0) {
    U256 q;
    u128 rem;
    DivMod(p, 10, &q, &rem);
    if (rem != 0) break;
    p = q;
    --s;
  }
  if (p.hi != 0 || p.lo >= kLimit || s > kMaxScale) return false;
  const i128 m = static_cast<i128>(p.lo);
  *out = Decimal((a.sign() * b.sign() < 0) ? -m : m, s);
  return true;
}

bool Decimal::Div(const Decimal& a, const Decimal& b, Decimal* out) {
  if (b.mantissa_ == 0) return false;
  const u128 ma = AbsU(a.mantissa_), mb = AbsU(b.mantissa_);
  // PostgreSQL's select_div_scale (numeric.c).
  int w1, f1, w2, f2;
  NbaseWeight(ma, a.scale_, &w1, &f1);
  NbaseWeight(mb, b.scale_, &w2, &f2);
  int qweight = w1 - w2;
  if (f1 <= f2) --qweight;
  int rscale = 16 - qweight * 4;
  rscale = std::max({rscale, a.scale_, b.scale_, 0});
  if (rscale > kMaxScale) return false;
  // q = ma * 10^(rscale + sb - sa) / mb, rounded half away from zero.
  const int e = rscale + b.scale_ - a.scale_;
  U256 num{0, ma};
  u128 den = mb;
  if (e >= 0) {
    int left = e;
    while (left > 0) {
      const int step = std::min(left, 38);
      if (!MulPow10(num, step, &num)) return false;
      left -= step;
    }
  } else {
    // Divide by mb * 10^-e: scale the numerator down is inexact, so scale the
    // denominator up instead (it fits: e >= -38 because rscale >= sa - ... ).
    if (-e > 38) return false;
    const U256 d = Mul128(mb, kPow10.v[-e]);
    if (d.hi != 0) {
      // The denominator exceeds 128 bits: the quotient rounds to 0 or 1 digit;
      // handle by comparing 2*ma with d.
      *out = Decimal(0, rscale);
      return true;
    }
    den = d.lo;
  }
  U256 q;
  u128 rem;
  DivMod(num, den, &q, &rem);
  if (q.hi != 0) return false;
  u128 qm = q.lo;
  // Round half away from zero: rem >= den - rem.
  if (rem >= den - rem) ++qm;
  if (qm >= kLimit) return false;
  const i128 m = static_cast<i128>(qm);
  *out = Decimal((a.sign() * b.sign() < 0) ? -m : m, rscale);
  return true;
}

bool Decimal::Round(const Decimal& a, int digits, Decimal* out) {
  if (digits < 0 || digits > kMaxScale) return false;
  if (digits >= a.scale_) {
    i128 m;
    if (!ScaleUp(a.mantissa_, digits - a.scale_, &m)) return false;
    *out = Decimal(m, digits);
    return true;
  }
  const u128 p = kPow10.v[a.scale_ - digits];
  const u128 ma = AbsU(a.mantissa_);
  u128 q = ma / p;
  const u128 r = ma % p;
  if (r >= p - r) ++q;
  if (q >= kLimit) return false;
  const i128 m = static_cast<i128>(q);
  *out = Decimal(a.mantissa_ < 0 ? -m : m, digits);
  return true;
}

int Decimal::Compare(const Decimal& a, const Decimal& b) {
  if (a.sign() != b.sign()) return a.sign() < b.sign() ? -1 : 1;
  const int s = std::max(a.scale_, b.scale_);
  i128 x, y;
  const bool fx = ScaleUp(a.mantissa_, s - a.scale_, &x);
  const bool fy = ScaleUp(b.mantissa_, s - b.scale_, &y);
  if (fx && fy) return x < y ? -1 : x > y ? 1 : 0;
  // One side left 38 digits when aligned: it is the larger in magnitude.
  const int mag = !fx ? 1 : -1;
  return a.sign() >= 0 ? mag : -mag;
}

// The decimal digits of m, least significant first; returns their count.
static int ReverseDigits(u128 m, char* buf) {
  int n = 0;
  do {
    buf[n++] = static_cast<char>('0' + static_cast<int>(m % 10));
    m /= 10;
  } while (m != 0);
  return n;
}

std::string Decimal::ToString() const {
  char buf[96];
  int n = ReverseDigits(AbsU(mantissa_), buf);
  while (n <= scale_) buf[n++] = '0';
  std::string out;
  out.reserve(n + 2);
  if (mantissa_ < 0) out.push_back('-');
  for (int i = n - 1; i >= 0; --i) {
    out.push_back(buf[i]);
    if (i == scale_ && scale_ > 0) out.push_back('.');
  }
  return out;
}

double Decimal::ToDouble() const {
  // Through text on the stack (no allocation): strtod rounds correctly.
  char buf[96];
  const int n = ReverseDigits(AbsU(mantissa_), buf);
  char text[100];
  int k = 0;
  if (mantissa_ < 0) text[k++] = '-';
  for (int i = n - 1; i >= 0; --i) text[k++] = buf[i];
  k += snprintf(text + k, sizeof(text) - k, "e-%d", scale_);
  return std::strtod(text, nullptr);
}

}  // namespace sa::dsl
