// Day arithmetic of the proleptic Gregorian calendar, without a time zone:
// what the decoders of timestamp and date text share.
#pragma once

#include <cstdint>

namespace sa {

// Days since 1970-01-01 of y-m-d (m 1..12, d 1..31); negative before 1970.
// Howard Hinnant's days_from_civil.
constexpr int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

static_assert(DaysFromCivil(1970, 1, 1) == 0);
static_assert(DaysFromCivil(2000, 3, 1) == 11017);

}  // namespace sa
