#include "anomaly/feature_extractor.h"

#include <cmath>
#include <limits>

#include "gtest/gtest.h"

namespace sa::anomaly {
namespace {

constexpr int64_t kSec = 1'000'000'000;

double Get(const FeatureVector& v, Feature f) {
  for (size_t i = 0; i < std::size(kAllFeatures); ++i)
    if (kAllFeatures[i] == f) return v.values[i];
  return NAN;
}

TEST(FeatureExtractor, FirstTradeGivesNoVectorThenReturnsSizeAndVwap) {
  FeatureExtractor fx({});
  EXPECT_FALSE(fx.OnTrade("kraken", "BTC-USD", 1 * kSec, 100, 1).has_value());
  auto v = fx.OnTrade("kraken", "BTC-USD", 2 * kSec, 101, 4);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->values.size(), std::size(kAllFeatures));
  EXPECT_NEAR(Get(*v, Feature::kLogReturn), std::log(101.0 / 100) * 1e4, 1e-9);
  EXPECT_NEAR(Get(*v, Feature::kSizeRatio), std::log(4.0), 1e-12);
  fx.OnTrade("kraken", "BTC-USD", 3 * kSec, 101, 100);
  auto w = fx.OnTrade("kraken", "BTC-USD", 4 * kSec, 101, 8);  // median of 1, 4, 100
  EXPECT_NEAR(Get(*w, Feature::kSizeRatio), std::log(2.0), 1e-12);
  EXPECT_NEAR(Get(*v, Feature::kVwapDistance), (101.0 / 100 - 1) * 1e4, 1e-9);
  EXPECT_EQ(Get(*v, Feature::kSpread), 0);            // no book yet
  EXPECT_EQ(Get(*v, Feature::kVenueDivergence), 0);   // no other venue
}

TEST(FeatureExtractor, WindowsForgetOldTrades) {
  FeatureOptions o;
  o.window_s = 10;
  FeatureExtractor fx(o);
  fx.OnTrade("v", "S", 0, 100, 100);
  fx.OnTrade("v", "S", 1 * kSec, 100, 100);
  // 60 s later the size-100 trades are out of the window: no reference size.
  auto v = fx.OnTrade("v", "S", 61 * kSec, 100, 1);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(Get(*v, Feature::kSizeRatio), 0);
  auto w = fx.OnTrade("v", "S", 62 * kSec, 100, 2);
  EXPECT_NEAR(Get(*w, Feature::kSizeRatio), std::log(2.0), 1e-12);
}

TEST(FeatureExtractor, BookGivesSpreadAndImbalanceAndSnapshotsReplace) {
  FeatureExtractor fx({});
  fx.OnBook("v", "S", 0, true, {{99, 3}, {98, 1}}, {{101, 1}});
  fx.OnTrade("v", "S", 0, 100, 1);
  auto v = fx.OnTrade("v", "S", kSec, 100, 1);
  EXPECT_NEAR(Get(*v, Feature::kSpread), 2.0 / 100 * 1e4, 1e-9);
  EXPECT_NEAR(Get(*v, Feature::kBookImbalance), (4.0 - 1) / 5, 1e-12);
  fx.OnBook("v", "S", kSec, false, {{99, 0}}, {});  // delete the best bid
  v = fx.OnTrade("v", "S", 2 * kSec, 100, 1);
  EXPECT_NEAR(Get(*v, Feature::kSpread), 3.0 / 99.5 * 1e4, 1e-9);
  fx.OnBook("v", "S", 2 * kSec, true, {{50, 1}}, {{150, 1}});
  v = fx.OnTrade("v", "S", 3 * kSec, 100, 1);
  EXPECT_NEAR(Get(*v, Feature::kBookImbalance), 0, 1e-12);
}

TEST(FeatureExtractor, DivergenceIsAgainstTheMedianOfFreshOtherVenues) {
  FeatureExtractor fx({});
  fx.OnTrade("a", "BTC-USD", 0, 100, 1);
  fx.OnTrade("b", "BTC-USD", 0, 102, 1);
  fx.OnTrade("old", "BTC-USD", -100 * kSec, 500, 1);  // stale: ignored
  fx.OnTrade("c", "BTC-USD", 0, 110, 1);
  auto v = fx.OnTrade("c", "BTC-USD", kSec, 110, 1);
  ASSERT_TRUE(v.has_value());
  EXPECT_NEAR(Get(*v, Feature::kVenueDivergence), (110.0 / 101 - 1) * 1e4, 1e-9);
}

TEST(FeatureExtractor, SelectedFeaturesComeInConfiguredOrder) {
  FeatureOptions o;
  o.features = {Feature::kSizeRatio, Feature::kLogReturn};
  FeatureExtractor fx(o);
  EXPECT_EQ(fx.FeatureNames(), (std::vector<std::string>{"size_ratio", "log_return"}));
  fx.OnTrade("v", "S", 0, 100, 1);
  auto v = fx.OnTrade("v", "S", kSec, 200, 2);
  ASSERT_EQ(v->values.size(), 2u);
  EXPECT_NEAR(v->values[0], std::log(2.0), 1e-12);
  EXPECT_NEAR(v->values[1], std::log(2.0) * 1e4, 1e-9);
}

TEST(FeatureExtractor, AbsurdInputsGiveVectorsThatAreRejected) {
  FeatureExtractor fx({});
  fx.OnTrade("v", "S", 0, 100, 1);
  auto neg = fx.OnTrade("v", "S", kSec, -5, 1);
  ASSERT_TRUE(neg.has_value());
  EXPECT_EQ(RejectReason(neg->values, 1e6), "nan");
  auto inf = fx.OnTrade("v", "S", kSec, std::numeric_limits<double>::infinity(), 1);
  EXPECT_EQ(RejectReason(inf->values, 1e6), "inf");
  auto huge = fx.OnTrade("v", "S", 2 * kSec, 1e12, 1);  // a price 10^10 times the last
  EXPECT_EQ(RejectReason(huge->values, 1e5), "out_of_range");
  auto ok = fx.OnTrade("v", "S", 3 * kSec, 100.5, 1);
  EXPECT_EQ(RejectReason(ok->values, 1e6), std::nullopt);
  // The rejected trades were not remembered: the return is against 100.
  EXPECT_NEAR(ok->values[0], std::log(100.5 / 100) * 1e4, 1e-9);
  EXPECT_EQ(ParseFeature("spread").value(), Feature::kSpread);
  EXPECT_FALSE(ParseFeature("colour").ok());
}

TEST(FeatureExtractor, ParsesCanonicalMessages) {
  FeatureExtractor fx({});
  streamadmin::marketdata::v1::Trade t;
  t.mutable_origin()->set_venue("kraken");
  t.mutable_origin()->set_symbol("BTC-USD");
  t.mutable_origin()->set_exchange_time_ns(kSec);
  t.mutable_price()->set_value("100.0");
  t.mutable_size()->set_value("0.5");
  ASSERT_TRUE(fx.OnTrade(t).ok());
  t.mutable_origin()->set_exchange_time_ns(2 * kSec);
  t.mutable_price()->set_value("101");
  auto v = fx.OnTrade(t);
  ASSERT_TRUE(v.ok() && v->has_value());
  t.mutable_price()->set_value("abc");
  EXPECT_FALSE(fx.OnTrade(t).ok());
}

}  // namespace
}  // namespace sa::anomaly

namespace sa::anomaly {
namespace {

TEST(FeatureExtractor, MovesOfTheMidAreQuoteEvents) {
  FeatureExtractor fx({});
  EXPECT_FALSE(fx.OnBook("v", "S", 0, true, {{99, 1}}, {{101, 1}}).has_value());  // first mid: no return yet
  EXPECT_FALSE(fx.OnBook("v", "S", 1, false, {{98, 5}}, {}).has_value());          // mid unchanged
  auto q = fx.OnBook("v", "S", 2, false, {{100, 1}}, {});                          // mid 100 -> 100.5
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->kind, EventKind::kQuote);
  EXPECT_NEAR(q->values[0], std::log(100.5 / 100) * 1e4, 1e-9);
  EXPECT_EQ(q->values[1], 0);  // no size for a quote
  auto top = fx.TopOf("v", "S");
  ASSERT_TRUE(top.has_value());
  EXPECT_EQ(top->bid, 100);
  EXPECT_EQ(top->ask, 101);
  fx.ResetBook("v", "S");
  EXPECT_FALSE(fx.TopOf("v", "S").has_value());
}

}  // namespace
}  // namespace sa::anomaly

namespace sa::anomaly {
namespace {

TEST(FeatureExtractor, LateTradesCountAtTheNewestTimeAndNotInTheRates) {
  FeatureOptions o;
  o.features = {Feature::kTradeRate};
  o.rate_window_s = 1;
  FeatureExtractor fx(o);
  fx.OnTrade("v", "S", 100 * kSec, 100, 1);
  fx.OnTrade("v", "S", 110 * kSec, 100, 1);
  // 20 late trades (a snapshot of the past listed newest first): no burst.
  for (int i = 0; i < 20; ++i) {
    auto late = fx.OnTrade("v", "S", (109 - i) * kSec, 100, 1);
    ASSERT_TRUE(late.has_value());
    EXPECT_EQ(late->event_time_ns, 110 * kSec);
  }
  // A live trade at 111.5 s: 1 trade in the last second against 3 live trades in 11.5 s.
  auto v = fx.OnTrade("v", "S", 111'500'000'000, 100, 1);
  EXPECT_NEAR(v->values[0], std::log((1 + 1e-3) / (3.0 / 11.5 + 1e-3)), 1e-9);
}

TEST(FeatureExtractor, BurstVolumeIsAClusterAgainstTheUsualVolumeRate) {
  FeatureOptions o;
  o.features = {Feature::kBurstVolume};
  o.burst_window_s = 0.1;
  FeatureExtractor fx(o);
  // One trade of size 1 per second for 10 s.
  for (int i = 0; i <= 10; ++i) fx.OnTrade("v", "S", (100 + i) * kSec, 100, 1);
  // Base: the trades before the 100 ms window, over the span from the oldest
  // trade to the window's start, scaled to 100 ms; median size 1.
  const int64_t t = 111 * kSec;
  auto expected = [](double base, int64_t now) { return base * 0.1 / ((now - 100'000'000 - 100 * kSec) / 1e9); };
  // One big trade is not a burst (the largest is left out): ln((0 + 1) / (e + 1))
  // is below 0, less volume than usual, which is 0.
  auto one = fx.OnTrade("v", "S", t, 100, 50);
  ASSERT_TRUE(one.has_value());
  ASSERT_LT(std::log(1 / (expected(11, t) + 1)), 0);
  EXPECT_EQ(one->values[0], 0);
  // A second one 1 ms later: 50 beyond the largest.
  auto two = fx.OnTrade("v", "S", t + 1'000'000, 100, 50);
  ASSERT_TRUE(two.has_value());
  EXPECT_NEAR(two->values[0], std::log((50 + 1) / (expected(11, t + 1'000'000) + 1)), 1e-9);
  // A late trade (from a snapshot of past trades) adds nothing to the burst...
  auto late = fx.OnTrade("v", "S", 105 * kSec, 100, 50);
  ASSERT_TRUE(late.has_value());
  EXPECT_EQ(late->event_time_ns, t + 1'000'000);
  EXPECT_NEAR(late->values[0], two->values[0], 1e-9);
  // ...but counts in the base of the next trade, a live one (median of 14 sizes: 1).
  auto three = fx.OnTrade("v", "S", t + 2'000'000, 100, 50);
  ASSERT_TRUE(three.has_value());
  EXPECT_NEAR(three->values[0], std::log((100 + 1) / (expected(61, t + 2'000'000) + 1)), 1e-9);
}

}  // namespace
}  // namespace sa::anomaly
