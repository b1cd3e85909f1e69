#include "normalizer/frame_outputs.h"

#include <gtest/gtest.h>

#include "marketdata/book_parts.h"

namespace sa::normalizer {
namespace {

namespace mdpb = streamadmin::marketdata::v1;

mdpb::Trade TradeOf(const std::string& symbol, const std::string& id, int64_t ns) {
  mdpb::Trade t;
  t.mutable_origin()->set_symbol(symbol);
  t.mutable_origin()->set_exchange_time_ns(ns);
  t.set_trade_id(id);
  t.mutable_price()->set_value("100.5");
  t.mutable_size()->set_value("2");
  return t;
}

TEST(FrameOutputs, TradesAreIdentifiedByTheVenueTradeIdElseByFramePosition) {
  FrameOutputs out("kraken", nullptr, 512 << 10);
  out.StartFrame("md.raw.kraken:7");
  out.OnTrade(TradeOf("BTC-USD", "42", 1000));
  out.OnTrade(TradeOf("BTC-USD", "", 2000));
  ASSERT_EQ(out.messages().size(), 2u);
  EXPECT_EQ(out.messages()[0].subject, "md.trade.kraken.BTC-USD");
  EXPECT_EQ(out.messages()[0].msg_id, "trade:kraken:BTC-USD:42");
  EXPECT_EQ(out.messages()[1].msg_id, "trade:md.raw.kraken:7:0");
  EXPECT_EQ(out.trades(), 2u);
  EXPECT_EQ(out.max_event_time_ns(), 2000);
  mdpb::Trade parsed;
  ASSERT_TRUE(parsed.ParseFromString(out.messages()[0].data));
  EXPECT_EQ(parsed.price().value(), "100.5");
}

TEST(FrameOutputs, PositionalIdsCountFromZeroAgainForEachFrame) {
  FrameOutputs out("coinbase", nullptr, 512 << 10);
  mdpb::Ticker t;
  t.mutable_origin()->set_symbol("ETH-USD");
  out.StartFrame("f1");
  out.OnTicker(t);
  out.OnTicker(t);
  out.StartFrame("f2");
  out.OnTicker(t);
  ASSERT_EQ(out.messages().size(), 3u);
  EXPECT_EQ(out.messages()[0].subject, "md.ticker.coinbase.ETH-USD");
  EXPECT_EQ(out.messages()[0].msg_id, "ticker:f1:0");
  EXPECT_EQ(out.messages()[1].msg_id, "ticker:f1:1");
  EXPECT_EQ(out.messages()[2].msg_id, "ticker:f2:0");
}

TEST(FrameOutputs, ASnapshotOverMaxMessageBytesGoesOutInNumberedParts) {
  mdpb::BookUpdate b;
  b.mutable_origin()->set_symbol("BTC-USD");
  b.set_snapshot(true);
  for (int i = 0; i < 2000; ++i) {
    auto* l = b.add_bids();
    l->mutable_price()->set_value(std::to_string(50000 - i) + ".12345678");
    l->mutable_size()->set_value("1.00000000");
  }
  const size_t max = 8 << 10;
  ASSERT_GT(b.ByteSizeLong(), max);
  FrameOutputs out("kraken", nullptr, max);
  out.StartFrame("f");
  out.OnBookUpdate(b);
  ASSERT_GT(out.messages().size(), 1u);
  EXPECT_EQ(out.book_updates(), 1u);
  int levels = 0;
  for (size_t i = 0; i < out.messages().size(); ++i) {
    const auto& m = out.messages()[i];
    EXPECT_EQ(m.subject, "md.book.kraken.BTC-USD");
    EXPECT_EQ(m.msg_id, "book:f:" + std::to_string(i));
    EXPECT_LE(m.data.size(), max);
    mdpb::BookUpdate part;
    ASSERT_TRUE(part.ParseFromString(m.data));
    EXPECT_EQ(part.snapshot_part(), i + 1);
    EXPECT_EQ(part.snapshot_parts(), out.messages().size());
    levels += part.bids_size();
  }
  EXPECT_EQ(levels, 2000);
}

TEST(FrameOutputs, CollectsStatusEventsAndResyncRequests) {
  FrameOutputs out("binance", nullptr, 512 << 10);
  out.StartFrame("f");
  mdpb::VenueStatus s;
  s.mutable_origin()->set_symbol("BTC-USDT");
  s.set_kind(mdpb::VenueStatus::KIND_GAP);
  out.OnVenueStatus(s);
  md::ResyncRequest r;
  r.symbol = "BTC-USDT";
  out.OnResyncRequest(r);
  ASSERT_EQ(out.messages().size(), 1u);
  EXPECT_EQ(out.messages()[0].subject, "md.status.binance");
  EXPECT_EQ(out.messages()[0].msg_id, "status:f:0");
  ASSERT_EQ(out.statuses().size(), 1u);
  EXPECT_EQ(out.statuses()[0].kind(), mdpb::VenueStatus::KIND_GAP);
  ASSERT_EQ(out.resyncs().size(), 1u);
  EXPECT_EQ(out.resyncs()[0].symbol, "BTC-USDT");
}

TEST(FrameOutputs, ACandleBuiltFromTradesIsPublishedWhenALaterTradeClosesIt) {
  md::CandleBuilder::Options co;
  co.intervals = {{"1s", 1'000'000'000}};
  md::CandleBuilder candles(co);
  FrameOutputs out("kraken", &candles, 512 << 10);
  out.StartFrame("f1");
  out.OnTrade(TradeOf("BTC-USD", "1", 5'000'000'000));
  EXPECT_EQ(out.messages().size(), 1u);  // the candle is still open
  out.StartFrame("f2");
  out.OnTrade(TradeOf("BTC-USD", "2", 6'500'000'000));
  ASSERT_EQ(out.messages().size(), 3u);
  const auto& candle = out.messages()[2];
  EXPECT_EQ(candle.subject, "md.candle.1s.kraken.BTC-USD");
  EXPECT_EQ(candle.msg_id, "candle:1s:kraken:BTC-USD:5000000000:c");
  mdpb::Candle c;
  ASSERT_TRUE(c.ParseFromString(candle.data));
  EXPECT_TRUE(c.closed());
  EXPECT_EQ(c.trade_count(), 1u);
}

TEST(FrameOutputs, NativeCandlesKeepTheVenueIntervalMarkedNative) {
  FrameOutputs out("coinbase", nullptr, 512 << 10);
  out.StartFrame("f");
  mdpb::Candle c;
  c.mutable_origin()->set_symbol("BTC-USD");
  c.set_interval("5m");
  out.OnCandle(c);
  ASSERT_EQ(out.messages().size(), 1u);
  EXPECT_EQ(out.messages()[0].subject, "md.candle.native-5m.coinbase.BTC-USD");
  EXPECT_EQ(out.messages()[0].msg_id, "candle:f:0");
}

}  // namespace
}  // namespace sa::normalizer
