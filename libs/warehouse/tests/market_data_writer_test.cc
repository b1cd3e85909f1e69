// MarketDataWriter against a real PostgreSQL: day and month partitions, exact
// decimals, replays ignored, candle versions, bad messages refused by Check().
// The queries avoid what would break on Citus (tableoid::regclass names a
// shard there): partitions come from pg_partition_tree, rows from each one.
#include "warehouse/market_data_writer.h"

#include <gtest/gtest.h>

#include "warehouse_pg_test.h"

namespace sa::warehouse {
namespace {

namespace mdpb = streamadmin::marketdata::v1;

constexpr int64_t kDay1 = 1763683200LL * 1000000000LL;  // 2025-11-21 00:00:00 UTC

mdpb::Trade MakeTrade(const std::string& id, int64_t ns, const std::string& price) {
  mdpb::Trade t;
  t.mutable_origin()->set_venue("kraken");
  t.mutable_origin()->set_symbol("BTC-USD");
  t.mutable_origin()->set_exchange_time_ns(ns);
  t.mutable_origin()->set_receive_time_ns(ns + 1000);
  t.set_trade_id(id);
  t.mutable_price()->set_value(price);
  t.mutable_size()->set_value("0.00012345");
  t.set_side(mdpb::SIDE_BUY);
  return t;
}

class MarketDataWriterTest : public WarehousePgTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(WarehousePgTest::SetUp());
    ASSERT_NO_FATAL_FAILURE(Connect(&writer_));
  }
  std::unique_ptr<MarketDataWriter> writer_;
};

TEST_F(MarketDataWriterTest, TradesLandInDayPartitionsExactlyAndReplaysAreIgnored) {
  std::vector<mdpb::Trade> trades = {MakeTrade("1", kDay1 + 5, "97123.456789012345678901"),
                                     MakeTrade("2", kDay1 + 86400LL * 1000000000LL - 1, "1e-8"),
                                     MakeTrade("3\ttab\\slash", kDay1 + 86400LL * 1000000000LL, "2")};
  std::vector<const mdpb::Trade*> ptrs;
  for (const auto& t : trades) ptrs.push_back(&t);
  auto n = writer_->WriteTrades(ptrs);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 3u);
  auto again = writer_->WriteTrades(ptrs);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0u) << "a replay stores nothing twice";
  EXPECT_EQ(Q("SELECT count(*) FROM md.trades"), "3");
  EXPECT_EQ(Q("SELECT string_agg(relid::text, ',' ORDER BY relid::text) FROM pg_partition_tree('md.trades') "
              "WHERE isleaf"),
            "md.trades_20251121,md.trades_20251122")
      << "one partition per UTC day";
  EXPECT_EQ(Q("SELECT string_agg(price::text, ',' ORDER BY ts) FROM md.trades_20251121"),
            "97123.456789012345678901,0.00000001")
      << "exact decimals (1e-8 is the same numeric)";
  EXPECT_EQ(Q("SELECT string_agg(price::text, ',' ORDER BY ts) FROM md.trades_20251122"), "2");
  EXPECT_EQ(Q("SELECT trade_id FROM md.trades WHERE price = 2"), "3\ttab\\slash");
  EXPECT_FALSE(writer_->distributed()) << "plain PostgreSQL: no citus";
}

TEST_F(MarketDataWriterTest, OpenCandlesAreReplacedClosedOnesOnlyByClosedOnes) {
  CandleRow open{"1m", {}};
  auto& c = open.candle;
  c.mutable_origin()->set_venue("binance");
  c.mutable_origin()->set_symbol("ETH-USDT");
  c.set_open_time_ns(kDay1);
  c.set_close_time_ns(kDay1 + 60LL * 1000000000LL);
  for (auto* d : {c.mutable_open(), c.mutable_high(), c.mutable_low(), c.mutable_close()}) d->set_value("3000.1");
  c.mutable_volume()->set_value("1.5");
  c.set_trade_count(3);
  CandleRow closed = open;
  closed.candle.mutable_close()->set_value("3001");
  closed.candle.set_closed(true);
  ASSERT_TRUE(writer_->WriteCandles({&open}).ok());
  ASSERT_TRUE(writer_->WriteCandles({&closed}).ok());
  ASSERT_TRUE(writer_->WriteCandles({&open}).ok());  // a stale redelivery
  EXPECT_EQ(Q("SELECT close || ':' || closed FROM md.candles"), "3001:true");
}

TEST_F(MarketDataWriterTest, CandlesLandInMonthPartitionsBesideDayPartitionsOfAnEarlierVersionAndCountWhatTheyStore) {
  // An earlier version partitioned candles by day: 2025-11-21 has one.
  ASSERT_TRUE(pg_->Exec("CREATE TABLE md.candles_20251121 PARTITION OF md.candles FOR VALUES FROM "
                        "('2025-11-21 00:00:00+00') TO ('2025-11-22 00:00:00+00')")
                  .ok());
  std::vector<CandleRow> rows;
  for (int64_t day : {0, 1, 12}) {  // 11-21 (the old partition), 11-22, 12-03
    CandleRow r{"1m", {}};
    auto& c = r.candle;
    c.mutable_origin()->set_venue("kraken");
    c.mutable_origin()->set_symbol("BTC-USD");
    c.set_open_time_ns(kDay1 + day * 86400LL * 1000000000LL);
    for (auto* d : {c.mutable_open(), c.mutable_high(), c.mutable_low(), c.mutable_close()}) d->set_value("1");
    c.mutable_volume()->set_value("2");
    c.set_closed(true);
    rows.push_back(r);
  }
  std::vector<const CandleRow*> ptrs;
  for (const auto& r : rows) ptrs.push_back(&r);
  auto n = writer_->WriteCandles(ptrs);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 3u);
  auto again = writer_->WriteCandles(ptrs);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, 0u) << "a closed candle written again changes nothing and is not counted";
  EXPECT_EQ(Q("SELECT string_agg(relid::text, ',' ORDER BY relid::text) FROM pg_partition_tree('md.candles') "
              "WHERE isleaf"),
            "md.candles_20251121,md.candles_20251122,md.candles_202512")
      << "a month overlapping the old day partition falls back to days; December is one partition";
  EXPECT_EQ(Q("SELECT count(*) FROM md.candles"), "3");
}

TEST(MarketDataWriterCheck, RefusesWhatCannotBeStored) {
  auto t = MakeTrade("1", kDay1, "1.5");
  EXPECT_EQ(MarketDataWriter::Check(t), "");
  t.mutable_price()->set_value("1.5; DROP TABLE md.trades");
  EXPECT_NE(MarketDataWriter::Check(t).find("is not a decimal"), std::string::npos);
  t = MakeTrade("1", 1700000000, "1");  // seconds, not ns
  EXPECT_NE(MarketDataWriter::Check(t).find("out of range"), std::string::npos);
  t = MakeTrade("", kDay1, "1");
  EXPECT_NE(MarketDataWriter::Check(t).find("trade_id"), std::string::npos);
}

}  // namespace
}  // namespace sa::warehouse
