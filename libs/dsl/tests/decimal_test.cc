#include "dsl/decimal.h"

#include <gtest/gtest.h>

namespace sa::dsl {
namespace {

Decimal D(const char* s) {
  auto d = Decimal::Parse(s);
  EXPECT_TRUE(d.has_value()) << s;
  return d.value_or(Decimal());
}

TEST(Decimal, ParsesAndPrintsWithTheWrittenScaleLikeNumeric) {
  EXPECT_EQ(D("60321.45000").ToString(), "60321.45000");
  EXPECT_EQ(D("-0.00000100").ToString(), "-0.00000100");
  EXPECT_EQ(D("0").ToString(), "0");
  EXPECT_EQ(D("+7").ToString(), "7");
  EXPECT_EQ(D(".5").ToString(), "0.5");
  EXPECT_EQ(D("1e-8").ToString(), "0.00000001");
  EXPECT_EQ(D("1.5E3").ToString(), "1500");
  EXPECT_EQ(D("99999999999999999999999999999999999999").ToString(), "99999999999999999999999999999999999999");
}

TEST(Decimal, RefusesMalformedAndOversizedText) {
  for (const char* s : {"", "-", ".", "1.2.3", "abc", "1e", "1e+", "12a", "NaN", "Infinity", " 1",
                        "999999999999999999999999999999999999999", "1e99999", "0.000000000000000000000000000000000000001"})
    EXPECT_FALSE(Decimal::Parse(s).has_value()) << s;
}

TEST(Decimal, AddsSubtractsAndMultipliesExactly) {
  Decimal r;
  ASSERT_TRUE(Decimal::Add(D("0.1"), D("0.2"), &r));
  EXPECT_EQ(r.ToString(), "0.3");  // never 0.30000000000000004
  ASSERT_TRUE(Decimal::Sub(D("60000"), D("0.00000001"), &r));
  EXPECT_EQ(r.ToString(), "59999.99999999");
  ASSERT_TRUE(Decimal::Mul(D("60321.45"), D("0.015"), &r));
  EXPECT_EQ(r.ToString(), "904.82175");  // scale 2 + 3, as PostgreSQL
  ASSERT_TRUE(Decimal::Mul(D("-1.50"), D("2"), &r));
  EXPECT_EQ(r.ToString(), "-3.00");
}

TEST(Decimal, ComparesAcrossScales) {
  EXPECT_EQ(Decimal::Compare(D("1.50"), D("1.5")), 0);
  EXPECT_LT(Decimal::Compare(D("60000"), D("60000.00000001")), 0);
  EXPECT_GT(Decimal::Compare(D("-1"), D("-1.0000000000000000000000000000000000001")), 0);
  EXPECT_GT(Decimal::Compare(D("99999999999999999999999999999999999999"), D("0.5")), 0);
  EXPECT_LT(Decimal::Compare(D("-99999999999999999999999999999999999999"), D("0.00000000000000000000000000000000000001")), 0);
}

TEST(Decimal, OverflowFailsInsteadOfRounding) {
  Decimal r;
  const Decimal big = D("99999999999999999999999999999999999999");
  EXPECT_FALSE(Decimal::Add(big, D("1"), &r));
  EXPECT_FALSE(Decimal::Mul(big, D("10"), &r));
  EXPECT_FALSE(Decimal::Mul(D("0.0000000000000000001"), D("0.00000000000000000001"), &r));  // 39 decimals
  // A product with trailing zeros beyond 38 digits still fits once they go.
  ASSERT_TRUE(Decimal::Mul(D("10000000000000000000000000000000000000"), D("0.0000000000000000000000000000000000010"), &r));
  EXPECT_EQ(Decimal::Compare(r, D("10")), 0);
}

TEST(Decimal, DividesWithPostgresResultScaleRoundingHalfAwayFromZero) {
  // Expected values: printed by SELECT a::numeric / b::numeric in PostgreSQL 15.
  struct Case {
    const char* a;
    const char* b;
    const char* q;
  } cases[] = {
      {"1", "3", "0.33333333333333333333"},
      {"2", "3", "0.66666666666666666667"},
      {"-2", "3", "-0.66666666666666666667"},
      {"10", "4", "2.5000000000000000"},
      {"904.82175", "0.015", "60321.450000000000"},
      {"1", "7", "0.14285714285714285714"},
      {"123456789", "1000", "123456.789000000000"},
      {"0", "5", "0.00000000000000000000"},
      {"60000.5", "2", "30000.250000000000"},
      {"1", "10000", "0.000100000000000000000000"},
      {"99999", "10000", "9.9999000000000000"},
      {"10000", "10000", "1.00000000000000000000"},
      {"7", "0.3", "23.3333333333333333"},
      {"-5", "3.000", "-1.6666666666666667"},
      {"12345678901234567890", "7", "1763668414462081127"},
      {"0.5", "0.25", "2.0000000000000000"},
  };
  for (const auto& c : cases) {
    Decimal r;
    ASSERT_TRUE(Decimal::Div(D(c.a), D(c.b), &r)) << c.a << "/" << c.b;
    EXPECT_EQ(r.ToString(), c.q) << c.a << "/" << c.b;
  }
  Decimal r;
  EXPECT_FALSE(Decimal::Div(D("1"), D("0"), &r));
  // PostgreSQL answers 0.0000000000000000000033333333333333333333: 40
  // decimals, beyond the 38 a Decimal holds, so the division fails.
  EXPECT_FALSE(Decimal::Div(D("1e-20"), D("3"), &r));
}

TEST(Decimal, RoundsHalfAwayFromZero) {
  Decimal r;
  ASSERT_TRUE(Decimal::Round(D("2.345"), 2, &r));
  EXPECT_EQ(r.ToString(), "2.35");
  ASSERT_TRUE(Decimal::Round(D("-2.345"), 2, &r));
  EXPECT_EQ(r.ToString(), "-2.35");
  ASSERT_TRUE(Decimal::Round(D("2.5"), 3, &r));
  EXPECT_EQ(r.ToString(), "2.500");
}

TEST(Decimal, ConvertsToTheNearestDouble) {
  EXPECT_EQ(D("0.1").ToDouble(), 0.1);
  EXPECT_EQ(D("-60321.45").ToDouble(), -60321.45);
}

}  // namespace
}  // namespace sa::dsl
