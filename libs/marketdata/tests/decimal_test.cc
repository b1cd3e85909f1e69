#include "marketdata/decimal.h"

#include <gtest/gtest.h>

namespace sa::md {
namespace {

ExactDecimal D(absl::string_view text) {
  ExactDecimal d;
  EXPECT_TRUE(ParseExactDecimal(text, &d)) << text;
  return d;
}

TEST(ExactDecimal, ParsesVenueTextExactly) {
  EXPECT_EQ(D("0.000022900").units, 22900);
  EXPECT_EQ(D("0.000022900").scale, 9);
  EXPECT_EQ(D("65083.67").units, 6508367);
  EXPECT_EQ(D("-1.5").units, -15);
  EXPECT_EQ(D(".5").scale, 1);
  EXPECT_EQ(D("5.").scale, 0);
  EXPECT_EQ(D("12").scale, 0);
}

TEST(ExactDecimal, RejectsWhatIsNotAPlainDecimal) {
  ExactDecimal d;
  for (absl::string_view bad : {"", "-", ".", "1e5", "1.2.3", " 1", "1 ", "abc", "+1", "0x10",
                                "1.0000000000000000001"}) {
    EXPECT_FALSE(ParseExactDecimal(bad, &d)) << bad;
  }
  // More than 18 fraction digits is fine when the extra ones are zeros.
  EXPECT_TRUE(ParseExactDecimal("1.000000000000000000000", &d));
  EXPECT_EQ(d.scale, 18);
}

TEST(ExactDecimal, HandlesLongNumbersUpTo128Bits) {
  for (absl::string_view text : {"12345678901234567890.123456789012345678",
                                 "170141183460469231731687303715884105727", "0.000000000000000001",
                                 "-99999999999999999999.99", "00000000000000000000000000000012.5"}) {
    ExactDecimal d;
    ASSERT_TRUE(ParseExactDecimal(text, &d)) << text;
    if (text[0] != '0') {
      EXPECT_EQ(FormatExactDecimal(d), text);
    }
  }
  EXPECT_EQ(FormatExactDecimal(D("00000000000000000000000000000012.5")), "12.5");
  ExactDecimal d;
  EXPECT_FALSE(ParseExactDecimal("170141183460469231731687303715884105728", &d));
  EXPECT_FALSE(ParseExactDecimal("1234567890123456789012345678901234567890", &d));
  PriceKey key;
  EXPECT_FALSE(ParsePriceKey("1234567890123456789012345", &key));  // too big once scaled by 10^18
  EXPECT_TRUE(ParsePriceKey("123456789012345678901", &key));
}

TEST(ExactDecimal, GivesTheSameAroundTheNineteenDigitsOfItsFastPath) {
  // Up to 19 digits and 18 fraction digits are read in 64 bits, the rest by
  // the general path: both sides of each limit, and the largest 19 digits.
  EXPECT_EQ(FormatExactDecimal(D("9999999999999999999")), "9999999999999999999");
  EXPECT_EQ(FormatExactDecimal(D("99999999999999999999")), "99999999999999999999");
  EXPECT_EQ(FormatExactDecimal(D("-9.999999999999999999")), "-9.999999999999999999");
  EXPECT_EQ(FormatExactDecimal(D("0.123456789012345678")), "0.123456789012345678");
  EXPECT_EQ(FormatExactDecimal(D("1.1234567890123456780")), "1.123456789012345678");
  EXPECT_EQ(D("0.1234567890123456780").scale, 18);
  EXPECT_EQ(D("-0").units, 0);
  EXPECT_EQ(D("-.5").units, -5);
  ExactDecimal d;
  EXPECT_FALSE(ParseExactDecimal("0.1234567890123456789", &d));  // 19 fraction digits, the last not 0
  EXPECT_FALSE(ParseExactDecimal("12-3", &d));
  EXPECT_FALSE(ParseExactDecimal("1..", &d));
  EXPECT_FALSE(ParseExactDecimal("-", &d));
}

TEST(ExactDecimal, PriceKeysIgnoreTrailingZeros) {
  PriceKey a, b, c;
  ASSERT_TRUE(ParsePriceKey("1.5", &a));
  ASSERT_TRUE(ParsePriceKey("1.50000000", &b));
  ASSERT_TRUE(ParsePriceKey("1.500000001", &c));
  EXPECT_EQ(a, b);
  EXPECT_LT(a, c);
}

TEST(ExactDecimal, AddsAndComparesExactly) {
  ExactDecimal sum;
  ASSERT_TRUE(ExactAdd(D("0.1"), D("0.2"), &sum));
  EXPECT_EQ(FormatExactDecimal(sum), "0.3");
  ASSERT_TRUE(ExactAdd(D("1.10"), D("2"), &sum));
  EXPECT_EQ(FormatExactDecimal(sum), "3.10");
  ASSERT_TRUE(ExactAdd(D("0.00064389"), D("0.002186"), &sum));
  EXPECT_EQ(FormatExactDecimal(sum), "0.00282989");
  EXPECT_EQ(ExactCompare(D("0.3"), D("0.30")), 0);
  EXPECT_LT(ExactCompare(D("0.29999999"), D("0.3")), 0);
  EXPECT_GT(ExactCompare(D("-0.1"), D("-0.2")), 0);
  EXPECT_EQ(FormatExactDecimal(D("-0.05")), "-0.05");
  EXPECT_EQ(FormatExactDecimal(D("0")), "0");
  EXPECT_EQ(FormatExactDecimal(ExactDecimal{0, 3}), "0.000");
}

TEST(TimeParsing, ReadsDecimalSecondsToTheNanosecond) {
  int64_t ns = 0;
  ASSERT_TRUE(ParseDecimalSecondsToNs("1618678142.557535", &ns));
  EXPECT_EQ(ns, 1618678142557535000);
  ASSERT_TRUE(ParseDecimalSecondsToNs("1618678142", &ns));
  EXPECT_EQ(ns, 1618678142000000000);
  EXPECT_FALSE(ParseDecimalSecondsToNs("1618678142.", &ns));
  EXPECT_FALSE(ParseDecimalSecondsToNs("-1", &ns));
}

TEST(TimeParsing, ReadsRfc3339InUtc) {
  int64_t ns = 0;
  ASSERT_TRUE(ParseRfc3339ToNs("2021-04-17T16:43:30.244075Z", &ns));
  EXPECT_EQ(ns, 1618677810244075000);
  ASSERT_TRUE(ParseRfc3339ToNs("2026-08-09T21:05:48.228568804Z", &ns));
  EXPECT_EQ(ns, 1786309548228568804);
  ASSERT_TRUE(ParseRfc3339ToNs("1970-01-01T01:00:00+01:00", &ns));
  EXPECT_EQ(ns, 0);
  EXPECT_FALSE(ParseRfc3339ToNs("2021-04-17 16:43:30Z", &ns));
  EXPECT_FALSE(ParseRfc3339ToNs("2021-04-17T16:43:30", &ns));
}

// Found by fuzz/targets/decoder.cc (regression_time_beyond_int64_ns in the
// Kraken and Coinbase corpora): a time whose ns do not fit int64 overflowed
// (UB) and came out as some other time. Refused now, at both ends.
TEST(TimeParsing, RefusesTimesWhoseNanosecondsDoNotFitInt64) {
  int64_t ns = 0;
  EXPECT_FALSE(ParseDecimalSecondsToNs("16180678160.5", &ns));
  EXPECT_FALSE(ParseDecimalSecondsToNs("99999999999", &ns));
  ASSERT_TRUE(ParseDecimalSecondsToNs("9223372035.999999999", &ns));
  EXPECT_EQ(ns, 9223372035999999999);
  EXPECT_FALSE(ParseDecimalSecondsToNs("9223372036", &ns));
  EXPECT_FALSE(ParseRfc3339ToNs("0013-04-17T16:43:30Z", &ns));
  EXPECT_FALSE(ParseRfc3339ToNs("9999-12-31T23:59:59Z", &ns));
  EXPECT_FALSE(ParseRfc3339ToNs("2263-01-01T00:00:00Z", &ns));
  ASSERT_TRUE(ParseRfc3339ToNs("2262-04-11T00:00:00Z", &ns));
  EXPECT_GT(ns, 0);
  ASSERT_TRUE(ParseRfc3339ToNs("1677-09-22T00:00:00Z", &ns));
  EXPECT_LT(ns, 0);
}

}  // namespace
}  // namespace sa::md
