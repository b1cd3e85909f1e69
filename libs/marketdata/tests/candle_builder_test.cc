#include "marketdata/candle_builder.h"

#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace sa::md {
namespace {

namespace pb = ::streamadmin::marketdata::v1;

constexpr int64_t kSecond = 1'000'000'000;
constexpr int64_t kT0 = 1'700'000'040 * kSecond;  // on a minute boundary

pb::Trade MakeTrade(int64_t time_ns, const std::string& price, const std::string& size,
                    const std::string& symbol = "BTC-USD") {
  pb::Trade trade;
  trade.mutable_origin()->set_venue("kraken");
  trade.mutable_origin()->set_symbol(symbol);
  trade.mutable_origin()->set_venue_symbol("XBT/USD");
  trade.mutable_origin()->set_exchange_time_ns(time_ns);
  trade.mutable_price()->set_value(price);
  trade.mutable_size()->set_value(size);
  return trade;
}

// Passed by reference as the Emit callback (absl::FunctionRef does not own it).
struct Collector {
  void operator()(const pb::Candle& candle) const { candles.push_back(candle); }
  mutable std::vector<pb::Candle> candles;
};

TEST(CandleBuilder, ClosesOneSecondCandleWhenTheSecondRollsOver) {
  ASSERT_EQ(kT0 % (60 * kSecond), 0);
  CandleBuilder builder;
  Collector out;
  // Hand-checked second [T0, T0+1s): O 100.5 H 101.25 L 99.9 C 100.00, V 0.5+0.25+1.10+2 = 3.85.
  ASSERT_TRUE(builder.Add(MakeTrade(kT0 + 1, "100.5", "0.5"), out).ok());
  ASSERT_TRUE(builder.Add(MakeTrade(kT0 + 200'000'000, "101.25", "0.25"), out).ok());
  ASSERT_TRUE(builder.Add(MakeTrade(kT0 + 500'000'000, "99.9", "1.10"), out).ok());
  ASSERT_TRUE(builder.Add(MakeTrade(kT0 + 999'999'999, "100.00", "2"), out).ok());
  EXPECT_THAT(out.candles, ::testing::IsEmpty());
  ASSERT_TRUE(builder.Add(MakeTrade(kT0 + kSecond, "100.1", "0.01"), out).ok());
  ASSERT_EQ(out.candles.size(), 1u);
  const pb::Candle& c = out.candles[0];
  EXPECT_EQ(c.interval(), "1s");
  EXPECT_EQ(c.open_time_ns(), kT0);
  EXPECT_EQ(c.close_time_ns(), kT0 + kSecond);
  EXPECT_EQ(c.open().value(), "100.5");
  EXPECT_EQ(c.high().value(), "101.25");
  EXPECT_EQ(c.low().value(), "99.9");
  EXPECT_EQ(c.close().value(), "100.00");
  EXPECT_EQ(c.volume().value(), "3.85");
  EXPECT_EQ(c.trade_count(), 4u);
  EXPECT_TRUE(c.closed());
  EXPECT_EQ(c.origin().symbol(), "BTC-USD");
  EXPECT_EQ(c.origin().venue(), "kraken");
}

TEST(CandleBuilder, OneMinuteCandleSpansItsSecondsAndClosesOnTheMinute) {
  CandleBuilder builder;
  Collector out;
  ASSERT_TRUE(builder.Add(MakeTrade(kT0 + 5 * kSecond, "10", "1"), out).ok());
  ASSERT_TRUE(builder.Add(MakeTrade(kT0 + 30 * kSecond, "12", "0.000000001"), out).ok());
  ASSERT_TRUE(builder.Add(MakeTrade(kT0 + 59 * kSecond, "9", "3"), out).ok());
  ASSERT_TRUE(builder.Add(MakeTrade(kT0 + 61 * kSecond, "11", "1"), out).ok());
  std::vector<pb::Candle> minutes;
  for (const auto& c : out.candles) {
    if (c.interval() == "1m") minutes.push_back(c);
  }
  EXPECT_EQ(out.candles.size() - minutes.size(), 3u);  // three 1s candles closed
  ASSERT_EQ(minutes.size(), 1u);
  EXPECT_EQ(minutes[0].open_time_ns(), kT0);
  EXPECT_EQ(minutes[0].close_time_ns(), kT0 + 60 * kSecond);
  EXPECT_EQ(minutes[0].open().value(), "10");
  EXPECT_EQ(minutes[0].high().value(), "12");
  EXPECT_EQ(minutes[0].low().value(), "9");
  EXPECT_EQ(minutes[0].close().value(), "9");
  EXPECT_EQ(minutes[0].volume().value(), "4.000000001");  // exact, no float rounding
  EXPECT_EQ(minutes[0].trade_count(), 3u);
}

TEST(CandleBuilder, CloseDueClosesQuietIntervalsAndSkipsEmptyOnes) {
  CandleBuilder builder;
  Collector out;
  ASSERT_TRUE(builder.Add(MakeTrade(kT0 + 1, "1", "1"), out).ok());
  builder.CloseDue(kT0 + kSecond - 1, out);
  EXPECT_THAT(out.candles, ::testing::IsEmpty());
  builder.CloseDue(kT0 + kSecond, out);
  ASSERT_EQ(out.candles.size(), 1u);
  EXPECT_EQ(out.candles[0].interval(), "1s");
  builder.CloseDue(kT0 + 600 * kSecond, out);
  ASSERT_EQ(out.candles.size(), 2u);  // the minute; no candles for the empty seconds
  EXPECT_EQ(out.candles[1].interval(), "1m");
  builder.CloseDue(kT0 + 6000 * kSecond, out);
  EXPECT_EQ(out.candles.size(), 2u);
}

TEST(CandleBuilder, KeepsSymbolsApartAndCountsLateTrades) {
  CandleBuilder builder;
  Collector out;
  ASSERT_TRUE(builder.Add(MakeTrade(kT0 + 2 * kSecond, "1", "1", "BTC-USD"), out).ok());
  ASSERT_TRUE(builder.Add(MakeTrade(kT0 + 2 * kSecond, "5", "1", "ETH-USD"), out).ok());
  ASSERT_TRUE(builder.Add(MakeTrade(kT0 + 1 * kSecond, "2", "1", "BTC-USD"), out).ok());
  EXPECT_EQ(builder.late_trades(), 1u);
  builder.CloseDue(kT0 + 3 * kSecond, out);
  ASSERT_EQ(out.candles.size(), 2u);
  for (const auto& c : out.candles) {
    EXPECT_EQ(c.trade_count(), 1u);
    EXPECT_EQ(c.volume().value(), "1");
  }
}

TEST(CandleBuilder, EmitsOpenCandlesWhenAsked) {
  CandleBuilder::Options options;
  options.intervals = {{"1s", kSecond}};
  options.emit_open = true;
  CandleBuilder builder(options);
  Collector out;
  ASSERT_TRUE(builder.Add(MakeTrade(kT0, "3", "1"), out).ok());
  ASSERT_TRUE(builder.Add(MakeTrade(kT0 + 1, "4", "1"), out).ok());
  ASSERT_EQ(out.candles.size(), 2u);
  EXPECT_FALSE(out.candles[1].closed());
  EXPECT_EQ(out.candles[1].high().value(), "4");
  EXPECT_EQ(out.candles[1].volume().value(), "2");
}

TEST(CandleBuilder, RejectsTradesItCannotPlaceOrSum) {
  CandleBuilder builder;
  Collector out;
  EXPECT_FALSE(builder.Add(MakeTrade(kT0, "1.0e3", "1"), out).ok());
  EXPECT_FALSE(builder.Add(MakeTrade(kT0, "1", ""), out).ok());
  EXPECT_FALSE(builder.Add(MakeTrade(0, "1", "1"), out).ok());
  builder.CloseDue(kT0 + 1000 * kSecond, out);
  EXPECT_THAT(out.candles, ::testing::IsEmpty());
}

}  // namespace
}  // namespace sa::md
