#include "marketdata/decimal.h"

#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/civil_days.h"

namespace sa::md {
namespace {

constexpr Int128 kInt128Max = static_cast<Int128>(~static_cast<UInt128>(0) >> 1);

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// out = v * 10^n; false on overflow.
bool MulPow10(Int128 v, int n, Int128* out) {
  for (int i = 0; i < n; ++i) {
    if (v > kInt128Max / 10 || v < -(kInt128Max / 10)) return false;
    v *= 10;
  }
  *out = v;
  return true;
}

bool ReadFixedDigits(absl::string_view text, size_t pos, size_t count, int* value) {
  if (pos + count > text.size()) return false;
  int v = 0;
  for (size_t i = 0; i < count; ++i) {
    const char c = text[pos + i];
    if (!IsDigit(c)) return false;
    v = v * 10 + (c - '0');
  }
  *value = v;
  return true;
}

// Reads ".ddddddddd" at text[*pos] (if present) as nanoseconds; extra digits
// beyond 9 are truncated.
bool ReadFractionNs(absl::string_view text, size_t* pos, int64_t* ns) {
  *ns = 0;
  if (*pos >= text.size() || text[*pos] != '.') return true;
  ++*pos;
  int digits = 0;
  int64_t frac = 0;
  while (*pos < text.size() && IsDigit(text[*pos])) {
    if (digits < 9) {
      frac = frac * 10 + (text[*pos] - '0');
      ++digits;
    }
    ++*pos;
  }
  if (digits == 0) return false;
  for (int i = digits; i < 9; ++i) frac *= 10;
  *ns = frac;
  return true;
}

}  // namespace

namespace {

// The general case of ParseExactDecimal: any number of digits (widening to 128
// bits past 18 significant ones) and fraction zeros beyond kMaxDecimalScale.
bool ParseExactDecimalSlow(absl::string_view text, ExactDecimal* out) {
  size_t i = 0;
  bool negative = false;
  if (i < text.size() && text[i] == '-') {
    negative = true;
    ++i;
  }
  // Accumulates in 64 bits and widens only past 18 significant digits; the
  // overflow limit is a compile-time constant.
  constexpr UInt128 kLimit = static_cast<UInt128>(kInt128Max);
  constexpr UInt128 kLimitDiv10 = kLimit / 10;
  constexpr unsigned kLimitMod10 = static_cast<unsigned>(kLimit % 10);
  uint64_t small = 0;
  UInt128 units = 0;
  bool wide = false;
  int digits = 0;
  int significant = 0;
  int scale = 0;
  bool seen_point = false;
  for (; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '.') {
      if (seen_point) return false;
      seen_point = true;
      continue;
    }
    if (!IsDigit(c)) return false;
    ++digits;
    if (seen_point) {
      if (scale == kMaxDecimalScale) {
        if (c != '0') return false;  // would need more precision than we keep
        continue;
      }
      ++scale;
    }
    const unsigned d = static_cast<unsigned>(c - '0');
    if (!wide) {
      if (small != 0 || d != 0) ++significant;
      if (significant <= 18) {
        small = small * 10 + d;
        continue;
      }
      wide = true;
      units = small;
    }
    if (units > kLimitDiv10 || (units == kLimitDiv10 && d > kLimitMod10)) return false;
    units = units * 10 + d;
  }
  if (digits == 0) return false;
  if (!wide) units = small;
  out->units = negative ? -static_cast<Int128>(units) : static_cast<Int128>(units);
  out->scale = scale;
  return true;
}

}  // namespace

bool ParseExactDecimal(absl::string_view text, ExactDecimal* out) {
  // Hot path (every price and size of every frame): "[-]digits[.digits]" with
  // at most 19 digits in all fits uint64 whatever they are, so the digits are
  // read in two tight loops without per-digit overflow or position checks.
  // Anything else (longer, malformed, > kMaxDecimalScale fraction digits)
  // takes the general path, which decides it exactly as before.
  const char* p = text.data();
  const char* const end = p + text.size();
  const bool negative = p != end && *p == '-';
  p += negative;
  const char* const int_begin = p;
  uint64_t units = 0;
  while (p != end && IsDigit(*p)) units = units * 10 + static_cast<unsigned>(*p++ - '0');
  const size_t int_digits = static_cast<size_t>(p - int_begin);
  size_t scale = 0;
  if (p != end && *p == '.') {
    const char* const frac_begin = ++p;
    while (p != end && IsDigit(*p)) units = units * 10 + static_cast<unsigned>(*p++ - '0');
    scale = static_cast<size_t>(p - frac_begin);
  }
  if (p != end || int_digits + scale == 0 || int_digits + scale > 19 || scale > kMaxDecimalScale) {
    return ParseExactDecimalSlow(text, out);
  }
  out->units = negative ? -static_cast<Int128>(units) : static_cast<Int128>(units);
  out->scale = static_cast<int>(scale);
  return true;
}

absl::StatusOr<ExactDecimal> ParseExactDecimalOrError(absl::string_view text) {
  ExactDecimal d;
  if (!ParseExactDecimal(text, &d)) {
    return absl::InvalidArgumentError(absl::StrCat("not an exact decimal: \"", text, "\""));
  }
  return d;
}

namespace {

struct Pow10Table {
  Int128 pow[kMaxDecimalScale + 1];
  Int128 limit[kMaxDecimalScale + 1];  // largest |v| with v * pow[n] <= kInt128Max
};

constexpr Pow10Table MakePow10Table() {
  Pow10Table t{};
  Int128 p = 1;
  for (int n = 0; n <= kMaxDecimalScale; ++n) {
    t.pow[n] = p;
    t.limit[n] = kInt128Max / p;
    p *= 10;
  }
  return t;
}

constexpr Pow10Table kPow10 = MakePow10Table();

}  // namespace

bool ParsePriceKey(absl::string_view text, PriceKey* key) {
  ExactDecimal d;
  if (!ParseExactDecimal(text, &d)) return false;
  // Every price of every book level: one multiplication by a table entry
  // instead of MulPow10's checked loop of up to 18 steps.
  const int n = kMaxDecimalScale - d.scale;
  if (d.units > kPow10.limit[n] || d.units < -kPow10.limit[n]) return false;
  *key = d.units * kPow10.pow[n];
  return true;
}

int ExactCompare(const ExactDecimal& a, const ExactDecimal& b) {
  Int128 x = a.units;
  Int128 y = b.units;
  if (a.scale < b.scale && !MulPow10(x, b.scale - a.scale, &x)) return x < 0 ? -1 : 1;
  if (b.scale < a.scale && !MulPow10(y, a.scale - b.scale, &y)) return y < 0 ? 1 : -1;
  return x < y ? -1 : (x > y ? 1 : 0);
}

bool ExactAdd(const ExactDecimal& a, const ExactDecimal& b, ExactDecimal* sum) {
  const int scale = a.scale > b.scale ? a.scale : b.scale;
  Int128 x;
  Int128 y;
  if (!MulPow10(a.units, scale - a.scale, &x) || !MulPow10(b.units, scale - b.scale, &y)) {
    return false;
  }
  if ((y > 0 && x > kInt128Max - y) || (y < 0 && x < -kInt128Max - y)) return false;
  sum->units = x + y;
  sum->scale = scale;
  return true;
}

bool IsZero(const ExactDecimal& d) { return d.units == 0; }

std::string FormatExactDecimal(const ExactDecimal& d) {
  UInt128 v = d.units < 0 ? -static_cast<UInt128>(d.units)
                                    : static_cast<UInt128>(d.units);
  char buf[64];
  int pos = sizeof(buf);
  int written = 0;
  do {
    buf[--pos] = static_cast<char>('0' + static_cast<int>(v % 10));
    v /= 10;
    ++written;
    if (written == d.scale) buf[--pos] = '.';
  } while (v != 0 || written < d.scale);
  if (buf[pos] == '.') buf[--pos] = '0';
  if (d.units < 0) buf[--pos] = '-';
  return std::string(buf + pos, sizeof(buf) - pos);
}

// Seconds whose ns (plus a fraction) fit int64: 1677-09-21 .. 2262-04-11. Outside,
// a time stamp is refused; the product overflowed before (found by fuzz/targets/decoder.cc).
constexpr int64_t kMaxNsSeconds = std::numeric_limits<int64_t>::max() / 1'000'000'000 - 1;

bool ParseDecimalSecondsToNs(absl::string_view text, int64_t* ns) {
  size_t i = 0;
  int64_t seconds = 0;
  int int_digits = 0;
  while (i < text.size() && IsDigit(text[i])) {
    if (++int_digits > 11) return false;  // beyond year 5000: not a time stamp
    seconds = seconds * 10 + (text[i] - '0');
    ++i;
  }
  if (int_digits == 0 || seconds > kMaxNsSeconds) return false;
  int64_t frac = 0;
  if (!ReadFractionNs(text, &i, &frac) || i != text.size()) return false;
  *ns = seconds * 1'000'000'000 + frac;
  return true;
}

bool ParseRfc3339ToNs(absl::string_view text, int64_t* ns) {
  int year, month, day, hour, minute, second;
  if (!ReadFixedDigits(text, 0, 4, &year) || text.size() < 20 || text[4] != '-' ||
      !ReadFixedDigits(text, 5, 2, &month) || text[7] != '-' ||
      !ReadFixedDigits(text, 8, 2, &day) || (text[10] != 'T' && text[10] != 't') ||
      !ReadFixedDigits(text, 11, 2, &hour) || text[13] != ':' ||
      !ReadFixedDigits(text, 14, 2, &minute) || text[16] != ':' ||
      !ReadFixedDigits(text, 17, 2, &second)) {
    return false;
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 ||
      second > 60) {
    return false;
  }
  size_t pos = 19;
  int64_t frac = 0;
  if (!ReadFractionNs(text, &pos, &frac)) return false;
  int64_t offset_seconds = 0;
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    int oh, om;
    if (!ReadFixedDigits(text, pos + 1, 2, &oh) || pos + 3 >= text.size() ||
        text[pos + 3] != ':' || !ReadFixedDigits(text, pos + 4, 2, &om)) {
      return false;
    }
    offset_seconds = (oh * 3600 + om * 60) * (text[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return false;
  }
  if (pos != text.size()) return false;
  const int64_t days = DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  const int64_t seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset_seconds;
  if (seconds > kMaxNsSeconds || seconds < -kMaxNsSeconds) return false;
  *ns = seconds * 1'000'000'000 + frac;
  return true;
}

}  // namespace sa::md
