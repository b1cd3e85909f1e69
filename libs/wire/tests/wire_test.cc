// The wire contract's builders give the bytes the services have always put on
// the wire, and its parsers invert them.
#include <gtest/gtest.h>

#include <set>

#include "wire/headers.h"
#include "wire/msg_ids.h"
#include "wire/subjects.h"

namespace sa::wire {
namespace {

TEST(WireSubjects, BuildTheMarketDataSubjects) {
  EXPECT_EQ(RawSubject("kraken"), "md.raw.kraken");
  EXPECT_EQ(TradeSubject("kraken", "BTC-USD"), "md.trade.kraken.BTC-USD");
  EXPECT_EQ(TickerSubject("kraken", "BTC-USD"), "md.ticker.kraken.BTC-USD");
  EXPECT_EQ(BookSubject("kraken", "BTC-USD"), "md.book.kraken.BTC-USD");
  EXPECT_EQ(CandleSubject("1m", "kraken", "BTC-USD"), "md.candle.1m.kraken.BTC-USD");
  EXPECT_EQ(NativeCandleSubject("5m", "coinbase", "ETH-USD"), "md.candle.native-5m.coinbase.ETH-USD");
  EXPECT_EQ(StatusSubject("binance"), "md.status.binance");
  EXPECT_EQ(SnapshotRequestSubject("binance"), "md.ctl.snapshot.binance");
  EXPECT_EQ(TradeSubject("", "X"), "md.trade..X") << "empty tokens are kept, not collapsed";
  EXPECT_EQ(MdStreamSubjects(),
            (std::vector<std::string>{"md.trade.>", "md.ticker.>", "md.book.>", "md.candle.>", "md.status.>"}));
}

TEST(WireSubjects, ClassifyAndParseMarketDataSubjects) {
  EXPECT_EQ(MdKindOf("md.trade.kraken.BTC-USD"), MdKind::kTrade);
  EXPECT_EQ(MdKindOf("md.ticker.kraken.BTC-USD"), MdKind::kTicker);
  EXPECT_EQ(MdKindOf("md.book.kraken.BTC-USD"), MdKind::kBook);
  EXPECT_EQ(MdKindOf("md.candle.native-1m.kraken.BTC-USD"), MdKind::kCandle);
  EXPECT_EQ(MdKindOf("md.status.kraken"), MdKind::kStatus);
  EXPECT_EQ(MdKindOf("md.raw.kraken"), MdKind::kRaw);
  EXPECT_EQ(MdKindOf("md.ctl.snapshot.kraken"), MdKind::kSnapshotRequest);
  EXPECT_EQ(MdKindOf("md.trades"), MdKind::kNone);
  EXPECT_EQ(MdKindOf("cdc.pg.public.t"), MdKind::kNone);
  EXPECT_EQ(RawVenueOf("md.raw.kraken"), "kraken");
  EXPECT_EQ(RawVenueOf("md.trade.kraken.X"), "");
  EXPECT_EQ(SnapshotRequestVenueOf("md.ctl.snapshot.binance"), "binance");
  EXPECT_EQ(SnapshotRequestVenueOf("md.raw.binance"), std::nullopt);
}

TEST(WireSubjects, BuildTheOtherSubjects) {
  EXPECT_EQ(CdcSubject("pg", "public", "orders"), "cdc.pg.public.orders");
  EXPECT_EQ(CdcSubject("pg", "my.schema", "a*b>c d"), "cdc.pg.my_schema.a_b_c_d") << "one token each";
  EXPECT_EQ(CdcSubject("pg", "", "t"), "cdc.pg._.t");
  EXPECT_EQ(CdcWatermarkSubject("pg"), "cdc.pg.watermark");
  EXPECT_EQ(CdcHeartbeatSubject("pg"), "cdc.pg.heartbeat");
  EXPECT_TRUE(IsCdcSubject("cdc.pg.watermark"));
  EXPECT_EQ(AnomalySubject("kraken", "BTC-USD"), "anomaly.kraken.BTC-USD");
  EXPECT_TRUE(IsAnomalySubject("anomaly.kraken.BTC-USD"));
  EXPECT_EQ(ViewSubject("big_trades"), "view.big_trades");
  EXPECT_EQ(DlqSubject("normalizer"), kDlqNormalizer);
  EXPECT_EQ(ViewDlqSubject("ohlc"), "dlq.view.ohlc");
  EXPECT_EQ(AuditDeniedSubject("ingest"), "sa.audit.denied.ingest");
  EXPECT_EQ(AuditCallSubject("ingest"), "sa.audit.call.ingest");
  EXPECT_EQ(InboxPrefix("u1"), "_INBOX_u1");
}

TEST(WireSubjects, EveryDeadLetterSubjectIsUnderTheDlqStreamsFilter) {
  for (const char* s : {kDlqIngest, kDlqNormalizer, kDlqCdc, kDlqWarehouse, kDlqViewAll})
    EXPECT_EQ(std::string(s).rfind(kDlqPrefix, 0), 0u) << s << " is captured by " << kDlqAll;
}

TEST(WireMsgIds, BuildEveryScheme) {
  EXPECT_EQ(RawMsgId("kraken", "kraken-ws.3", 42), "kraken:kraken-ws.3:42");
  EXPECT_EQ(StreamPositionId("md.raw.kraken", 7), "md.raw.kraken:7");
  EXPECT_EQ(TradeMsgId("kraken", "BTC-USD", "123"), "trade:kraken:BTC-USD:123");
  EXPECT_EQ(FrameOutputMsgId(kOutputBook, "kraken:c:42", 3), "book:kraken:c:42:3");
  EXPECT_EQ(BuiltCandleMsgId("1m", "kraken", "BTC-USD", 60000000000, true), "candle:1m:kraken:BTC-USD:60000000000:c");
  EXPECT_EQ(BuiltCandleMsgId("1s", "kraken", "BTC-USD", -1, false), "candle:1s:kraken:BTC-USD:-1:o");
  EXPECT_EQ(CdcEventMsgId("pg", "0/16B3748", 5), "pg:0/16B3748:5");
  EXPECT_EQ(CdcWatermarkMsgId("pg", "0/16B3748"), "pg:wm:0/16B3748");
  EXPECT_EQ(AnomalyMsgId("trade:kraken:BTC-USD:1"), "anomaly:trade:kraken:BTC-USD:1");
  EXPECT_EQ(DeadLetterMsgId("cdc-bridge", "pg:0/1:2"), "dlq:cdc-bridge:pg:0/1:2");
}

TEST(WireMsgIds, ParsersInvertTheBuilders) {
  auto raw = ParseRawMsgId(RawMsgId("kraken", "a:b", 9));
  ASSERT_TRUE(raw.has_value());
  EXPECT_EQ(raw->venue, "kraken");
  EXPECT_EQ(raw->conn, "a:b");
  EXPECT_EQ(raw->frame_seq, 9u);
  EXPECT_FALSE(ParseRawMsgId("kraken:9").has_value());
  EXPECT_FALSE(ParseRawMsgId("kraken:c:x").has_value());

  auto cdc = ParseCdcEventMsgId(CdcEventMsgId("pg", "0/16B3748", 5));
  ASSERT_TRUE(cdc.has_value());
  EXPECT_EQ(cdc->server, "pg");
  EXPECT_EQ(cdc->commit_lsn, "0/16B3748");
  EXPECT_EQ(cdc->index, 5u);
  EXPECT_FALSE(ParseCdcEventMsgId(CdcWatermarkMsgId("pg", "0/1")).has_value()) << "a watermark is no event";
  EXPECT_FALSE(ParseCdcEventMsgId("pg:0/1").has_value());
  EXPECT_TRUE(IsCdcWatermarkMsgId(CdcWatermarkMsgId("pg", "0/1")));
  EXPECT_FALSE(IsCdcWatermarkMsgId(CdcEventMsgId("pg", "0/1", 0)));
}

TEST(WireHeaders, SnapshotRequestRoundTripsWithHeadersInOrder) {
  SnapshotRequest r{"binance", "BTC-USDT", SnapshotAction::kResubscribe, "https://x/depth", "gap"};
  CoreMessage m = EncodeSnapshotRequest(r);
  EXPECT_EQ(m.subject, "md.ctl.snapshot.binance");
  EXPECT_EQ(m.data, "BTC-USDT");
  EXPECT_EQ(m.headers, (HeaderList{{"Sa-Action", "resubscribe"}, {"Sa-Url", "https://x/depth"}, {"Sa-Reason", "gap"}}));
  auto back = DecodeSnapshotRequest(m.subject, m.data, m.headers);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->venue, "binance");
  EXPECT_EQ(back->symbol, "BTC-USDT");
  EXPECT_EQ(back->action, SnapshotAction::kResubscribe);
  EXPECT_EQ(back->url, "https://x/depth");
  EXPECT_EQ(back->reason, "gap");
  EXPECT_EQ(DecodeSnapshotRequest("md.ctl.snapshot.kraken", "X", {})->action, SnapshotAction::kFetch)
      << "absent Sa-Action means fetch";
  EXPECT_FALSE(DecodeSnapshotRequest("md.raw.kraken", "X", {}).has_value());
}

TEST(WireHeaders, TheTableListsEverySaHeaderOnce) {
  std::set<std::string> names;
  for (const auto& h : AllHeaders()) {
    EXPECT_EQ(std::string(h.name).rfind("Sa-", 0), 0u) << h.name;
    EXPECT_TRUE(names.insert(h.name).second) << h.name << " twice";
  }
  for (const char* n : {header::kConn, header::kFrameSeq, header::kRecvNs, header::kKind, header::kUrl,
                        header::kEncoding, header::kAction, header::kReason, header::kDlqReason, header::kDlqError,
                        header::kDlqSubject, header::kDlqStage, header::kDlqMsgId, header::kDlqTruncated})
    EXPECT_TRUE(names.count(n)) << n << " missing from AllHeaders()";
}

}  // namespace
}  // namespace sa::wire
