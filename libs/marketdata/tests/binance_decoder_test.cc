#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include "marketdata/decimal.h"
#include "marketdata/decode_error.h"
#include "marketdata/symbols.h"
#include "test_util.h"

namespace sa::md {
namespace {

using testing::CollectingSink;
using testing::LoadFrames;
using testing::MakeDecoder;

constexpr char kFile[] = "binance.jsonl.zst";

// The recording read independently with simdjson's DOM API.
struct RawBinance {
  std::map<std::string, uint64_t> last_update_id;  // REST snapshot per symbol
  std::map<std::string, size_t> applicable_diffs;  // diffs with u > lastUpdateId
  std::map<std::string, size_t> stale_diffs;       // u <= lastUpdateId
  struct Diff {
    size_t frame_index;
    std::string symbol;
    uint64_t first, final;
  };
  std::vector<Diff> diffs;
  struct TradeRow {
    std::string symbol, id, price, qty;
    bool buyer_is_maker;
    uint64_t time_ms;
  };
  std::vector<TradeRow> trades;
  size_t book_tickers = 0;
};

RawBinance ReadRaw(const std::vector<RawFrame>& frames) {
  RawBinance raw;
  simdjson::dom::parser parser;
  for (size_t i = 0; i < frames.size(); ++i) {
    const RawFrame& frame = frames[i];
    simdjson::dom::element root = parser.parse(frame.data);
    if (frame.kind == FrameKind::kHttp) {
      if (frame.url.find("/depth?symbol=") == std::string::npos) continue;
      const size_t at = frame.url.find("symbol=") + 7;
      raw.last_update_id[frame.url.substr(at, frame.url.find('&', at) - at)] =
          uint64_t(root["lastUpdateId"]);
      continue;
    }
    simdjson::dom::object data = root["data"];
    std::string_view event;
    if (data["e"].get(event) != simdjson::SUCCESS) {
      ++raw.book_tickers;
      continue;
    }
    const std::string symbol{std::string_view(data["s"])};
    if (event == "depthUpdate") {
      raw.diffs.push_back({i, symbol, uint64_t(data["U"]), uint64_t(data["u"])});
    } else if (event == "aggTrade") {
      raw.trades.push_back({symbol, std::to_string(uint64_t(data["a"])),
                            std::string(std::string_view(data["p"])),
                            std::string(std::string_view(data["q"])), bool(data["m"]),
                            uint64_t(data["T"])});
    }
  }
  for (const auto& diff : raw.diffs) {
    if (diff.final > raw.last_update_id.at(diff.symbol)) {
      ++raw.applicable_diffs[diff.symbol];
    } else {
      ++raw.stale_diffs[diff.symbol];
    }
  }
  return raw;
}

std::map<std::string, size_t> DiffsPublished(const CollectingSink& sink) {
  std::map<std::string, size_t> count;
  for (const pb::BookUpdate& update : sink.book_updates) {
    if (!update.snapshot()) ++count[update.origin().venue_symbol()];
  }
  return count;
}

TEST(BinanceBook, EveryBookInRecordingSyncsWithNoFalseGap) {
  const std::vector<RawFrame> frames = LoadFrames(kFile, "binance");
  const RawBinance raw = ReadRaw(frames);
  ASSERT_EQ(raw.last_update_id.size(), 4u);
  ASSERT_EQ(raw.diffs.size(), 177u);

  auto [decoder, sink, errors] = testing::DecodeWith("binance", frames);
  EXPECT_THAT(errors, ::testing::IsEmpty());
  EXPECT_THAT(sink.statuses, ::testing::IsEmpty());
  EXPECT_THAT(sink.resyncs, ::testing::IsEmpty());
  EXPECT_EQ(decoder->stats().gaps, 0u);
  EXPECT_EQ(decoder->stats().book_snapshots, 4u);

  // Every diff newer than its snapshot is applied and published, in order;
  // every older one is dropped.
  const std::map<std::string, size_t> published = DiffsPublished(sink);
  EXPECT_EQ(published, raw.applicable_diffs);
  size_t stale = 0;
  for (const auto& [symbol, n] : raw.stale_diffs) stale += n;
  EXPECT_EQ(stale, 5u);
  EXPECT_EQ(decoder->stats().stale_diffs_dropped, stale);
  std::map<std::string, uint64_t> last;
  for (const pb::BookUpdate& update : sink.book_updates) {
    const std::string& symbol = update.origin().venue_symbol();
    if (!update.snapshot()) {
      EXPECT_GT(update.sequence(), last[symbol]);
    }
    last[symbol] = update.sequence();
  }
  EXPECT_EQ(last["NKNUSDT"], raw.diffs.back().final);

  for (const char* symbol : {"NKN-USDT", "BLZ-ETH", "LRC-BTC", "RUNE-EUR"}) {
    absl::StatusOr<pb::BookUpdate> top = decoder->TopLevels(symbol, 5);
    ASSERT_TRUE(top.ok()) << top.status();
    ASSERT_EQ(top->bids_size(), 5);
    ExactDecimal bid, ask;
    ASSERT_TRUE(ParseExactDecimal(top->bids(0).price().value(), &bid));
    ASSERT_TRUE(ParseExactDecimal(top->asks(0).price().value(), &ask));
    EXPECT_LT(ExactCompare(bid, ask), 0) << symbol << " is crossed";
  }
}

TEST(BinanceBook, DiffsArrivingBeforeTheSnapshotAreBufferedThenBridged) {
  std::vector<RawFrame> frames = LoadFrames(kFile, "binance");
  const RawBinance raw = ReadRaw(frames);
  // Receive-time order: the first diffs of each book now precede its snapshot.
  std::stable_sort(frames.begin(), frames.end(), [](const RawFrame& a, const RawFrame& b) {
    return a.recv_time_ns < b.recv_time_ns;
  });
  auto [decoder, sink, errors] = testing::DecodeWith("binance", frames);
  EXPECT_THAT(errors, ::testing::IsEmpty());
  EXPECT_EQ(decoder->stats().gaps, 0u);
  EXPECT_THAT(sink.statuses, ::testing::IsEmpty());
  EXPECT_EQ(DiffsPublished(sink), raw.applicable_diffs);
  // Books whose diffs came first asked for a snapshot (ingest had already fetched it).
  ASSERT_FALSE(sink.resyncs.empty());
  for (const ResyncRequest& request : sink.resyncs) {
    EXPECT_EQ(request.action, ResyncRequest::Action::kFetchSnapshot);
    EXPECT_EQ(request.reason, "initial");
  }
  EXPECT_THAT(decoder->PendingResyncs(), ::testing::IsEmpty());
}

TEST(BinanceBook, DroppedDiffIsAGapAndTheBookResyncsFromANewSnapshot) {
  const std::vector<RawFrame> frames = LoadFrames(kFile, "binance");
  const RawBinance raw = ReadRaw(frames);
  // Drop the 60th NKNUSDT diff (long after the book synced).
  std::vector<RawBinance::Diff> nkn;
  for (const auto& diff : raw.diffs) {
    if (diff.symbol == "NKNUSDT") nkn.push_back(diff);
  }
  const RawBinance::Diff dropped = nkn[60];
  const RawBinance::Diff before = nkn[59];
  const RawBinance::Diff bridge = nkn[70];  // the new snapshot is taken at its u
  std::vector<RawFrame> lossy;
  for (size_t i = 0; i < frames.size(); ++i) {
    if (i != dropped.frame_index) lossy.push_back(frames[i]);
  }
  testing::Renumber(lossy);

  auto decoder = MakeDecoder("binance");
  CollectingSink sink;
  size_t i = 0;
  // Up to (and including) the diff the snapshot will be taken at.
  for (; i < lossy.size(); ++i) {
    ASSERT_TRUE(decoder->Decode(lossy[i], sink).ok());
    if (lossy[i].data == frames[bridge.frame_index].data) break;
  }
  EXPECT_THAT(sink.StatusKinds(), ::testing::ElementsAre(pb::VenueStatus::KIND_GAP,
                                                         pb::VenueStatus::KIND_RESYNCING));
  EXPECT_EQ(sink.statuses[0].origin().symbol(), "NKN-USDT");
  EXPECT_EQ(sink.statuses[0].expected_sequence(), before.final + 1);
  EXPECT_EQ(sink.statuses[0].received_sequence(), nkn[61].first);
  ASSERT_EQ(sink.resyncs.size(), 1u);
  EXPECT_EQ(sink.resyncs[0].action, ResyncRequest::Action::kFetchSnapshot);
  EXPECT_EQ(sink.resyncs[0].url, "https://api.binance.com/api/v3/depth?symbol=NKNUSDT&limit=1000");
  EXPECT_EQ(sink.resyncs[0].reason, "gap");
  EXPECT_EQ(decoder->TopLevels("NKN-USDT", 5).status().code(), absl::StatusCode::kUnavailable);
  for (const pb::BookUpdate& update : sink.book_updates) {
    if (update.origin().venue_symbol() == "NKNUSDT") {
      EXPECT_LE(update.sequence(), before.final) << "published after the gap";
    }
  }

  // The service fetches a snapshot; it is as of the bridge diff.
  RawFrame snapshot;
  snapshot.venue = "binance";
  snapshot.conn = "BINANCE.http.9";
  snapshot.frame_seq = 1;
  snapshot.kind = FrameKind::kHttp;
  snapshot.url = sink.resyncs[0].url;
  snapshot.data = absl::StrCat(R"({"lastUpdateId":)", bridge.final,
                               R"(,"bids":[["0.35000000","100.00000000"]],)"
                               R"("asks":[["0.36000000","200.00000000"]]})");
  const size_t published_before = sink.book_updates.size();
  ASSERT_TRUE(decoder->Decode(snapshot, sink).ok());
  ASSERT_EQ(sink.book_updates.size(), published_before + 1) << "buffered diffs are all stale";
  EXPECT_TRUE(sink.book_updates.back().snapshot());
  EXPECT_EQ(sink.book_updates.back().sequence(), bridge.final);
  EXPECT_EQ(sink.statuses.back().kind(), pb::VenueStatus::KIND_RESYNCED);
  EXPECT_THAT(decoder->PendingResyncs(), ::testing::IsEmpty());

  // The rest of the stream applies on top of it.
  for (++i; i < lossy.size(); ++i) ASSERT_TRUE(decoder->Decode(lossy[i], sink).ok());
  EXPECT_EQ(decoder->stats().gaps, 1u);
  size_t after = 0;
  for (size_t k = published_before + 1; k < sink.book_updates.size(); ++k) {
    if (sink.book_updates[k].origin().venue_symbol() == "NKNUSDT") ++after;
  }
  EXPECT_EQ(after, nkn.size() - 71);
  EXPECT_TRUE(decoder->TopLevels("NKN-USDT", 5).ok());
}

// Found by fuzz/targets/decoder.cc (fuzz/corpus/decoder_binance/regression_time_beyond_int64_ns):
// an event time in ms beyond int64 ns overflowed when converted (UB). The frame
// is refused as a bad value, naming the field, and no message comes out.
TEST(BinanceDecoder, RefusesTimesBeyondInt64Nanoseconds) {
  auto decoder = MakeDecoder("binance");
  CollectingSink sink;
  for (const char* data : {
           R"({"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":1,"s":"BTCUSDT","a":1,"p":"1.0","q":"1.0","T":163399853998537780,"m":true}})",
           R"({"stream":"btcusdt@depth","data":{"e":"depthUpdate","E":51633998522773,"s":"BTCUSDT","U":1,"u":2,"b":[],"a":[]}})",
           R"({"stream":"btcusdt@kline_1m","data":{"e":"kline","E":1,"s":"BTCUSDT","k":{"t":18446744073709551615,"T":2,"i":"1m","o":"1","c":"1","h":"1","l":"1","v":"1","n":1,"x":false}}})",
       }) {
    absl::Status st = decoder->Decode(testing::WsFrame("B.ws", 0, data), sink);
    EXPECT_EQ(GetDecodeError(st), DecodeError::kBadValue) << st;
    EXPECT_THAT(std::string(st.message()), ::testing::HasSubstr("time out of range")) << st;
  }
  EXPECT_TRUE(sink.trades.empty());
  EXPECT_TRUE(sink.candles.empty());
}

TEST(BinanceBook, SnapshotOlderThanTheBufferedDiffsIsNotPublished) {
  auto decoder = MakeDecoder("binance");
  CollectingSink sink;
  auto diff = [](uint64_t seq, uint64_t first, uint64_t final) {
    return testing::WsFrame(
        "B.ws", seq,
        absl::StrCat(R"({"stream":"btcusdt@depth","data":{"e":"depthUpdate","E":1,"s":"BTCUSDT",)",
                     R"("U":)", first, R"(,"u":)", final,
                     R"(,"b":[["1.0","1.0"]],"a":[["2.0","1.0"]]}})"));
  };
  ASSERT_TRUE(decoder->Decode(diff(1, 100, 105), sink).ok());
  ASSERT_EQ(sink.resyncs.size(), 1u);
  EXPECT_EQ(sink.resyncs[0].reason, "initial");
  RawFrame snapshot;
  snapshot.conn = "B.http";
  snapshot.kind = FrameKind::kHttp;
  snapshot.url = "https://api.binance.com/api/v3/depth?symbol=BTCUSDT&limit=1000";
  snapshot.data = R"({"lastUpdateId":90,"bids":[["1.0","3.0"]],"asks":[["2.0","3.0"]]})";
  ASSERT_TRUE(decoder->Decode(snapshot, sink).ok());
  EXPECT_THAT(sink.book_updates, ::testing::IsEmpty());
  ASSERT_EQ(sink.resyncs.size(), 2u);
  EXPECT_EQ(sink.resyncs[1].reason, "snapshot_too_old");
  // A newer one bridges the buffer: U=100 <= 103+1 <= u=105.
  snapshot.data = R"({"lastUpdateId":103,"bids":[["1.0","3.0"]],"asks":[["2.0","3.0"]]})";
  ASSERT_TRUE(decoder->Decode(snapshot, sink).ok());
  ASSERT_EQ(sink.book_updates.size(), 2u);
  EXPECT_TRUE(sink.book_updates[0].snapshot());
  EXPECT_EQ(sink.book_updates[1].sequence(), 105u);
  EXPECT_EQ(sink.book_updates[1].book_version(), 2u);
  // Next diff must start at 106.
  ASSERT_TRUE(decoder->Decode(diff(2, 106, 110), sink).ok());
  EXPECT_EQ(sink.book_updates.size(), 3u);
  ASSERT_TRUE(decoder->Decode(diff(3, 112, 115), sink).ok());
  EXPECT_THAT(sink.StatusKinds(), ::testing::ElementsAre(pb::VenueStatus::KIND_GAP,
                                                         pb::VenueStatus::KIND_RESYNCING));
  EXPECT_EQ(sink.statuses[0].expected_sequence(), 111u);
  EXPECT_EQ(sink.statuses[0].received_sequence(), 112u);
}

TEST(BinanceTrades, EqualTheRecordingsAggTradesTextForText) {
  const std::vector<RawFrame> frames = LoadFrames(kFile, "binance");
  const RawBinance raw = ReadRaw(frames);
  auto [decoder, sink, errors] = testing::DecodeWith("binance", frames);
  EXPECT_THAT(errors, ::testing::IsEmpty());
  ASSERT_EQ(raw.trades.size(), 2u);
  ASSERT_EQ(sink.trades.size(), raw.trades.size());
  for (size_t i = 0; i < raw.trades.size(); ++i) {
    const auto& want = raw.trades[i];
    const pb::Trade& got = sink.trades[i];
    EXPECT_EQ(got.trade_id(), want.id);
    EXPECT_EQ(got.price().value(), want.price);
    EXPECT_EQ(got.size().value(), want.qty);
    EXPECT_EQ(got.origin().venue_symbol(), want.symbol);
    // m = buyer is maker: then the taker sold.
    EXPECT_EQ(got.side(), want.buyer_is_maker ? pb::SIDE_SELL : pb::SIDE_BUY);
    EXPECT_EQ(got.origin().exchange_time_ns(), static_cast<int64_t>(want.time_ms) * 1'000'000);
  }
  // The recording's first aggTrade, by hand: "a":15683430,"p":"0.35280000","m":false.
  EXPECT_EQ(sink.trades[0].origin().symbol(), "NKN-USDT");
  EXPECT_EQ(sink.trades[0].trade_id(), "15683430");
  EXPECT_EQ(sink.trades[0].price().value(), "0.35280000");
  EXPECT_EQ(sink.trades[0].side(), pb::SIDE_BUY);
  EXPECT_EQ(sink.trades[1].origin().symbol(), "LRC-BTC");
}

TEST(BinanceStreams, BookTickerAndKlineBecomeTickerAndCandle) {
  const std::vector<RawFrame> frames = LoadFrames(kFile, "binance");
  const RawBinance raw = ReadRaw(frames);
  auto [decoder, sink, errors] = testing::DecodeWith("binance", frames);
  EXPECT_THAT(errors, ::testing::IsEmpty());
  ASSERT_EQ(sink.tickers.size(), raw.book_tickers);
  const pb::Ticker& ticker = sink.tickers[0];  // {"u":499869768,"s":"NKNUSDT","b":"0.35210000",...
  EXPECT_EQ(ticker.origin().symbol(), "NKN-USDT");
  EXPECT_EQ(ticker.bid_price().value(), "0.35210000");
  EXPECT_EQ(ticker.bid_size().value(), "672.00000000");
  EXPECT_EQ(ticker.ask_price().value(), "0.35260000");
  EXPECT_EQ(ticker.ask_size().value(), "3199.00000000");
  EXPECT_FALSE(ticker.has_last_price());
  ASSERT_EQ(sink.candles.size(), 2u);
  const pb::Candle* nkn = &sink.candles[0];
  if (nkn->origin().venue_symbol() != "NKNUSDT") nkn = &sink.candles[1];
  EXPECT_EQ(nkn->interval(), "1m");
  EXPECT_EQ(nkn->open_time_ns(), 1633998480000LL * 1'000'000);
  EXPECT_EQ(nkn->close_time_ns(), 1633998540000LL * 1'000'000);
  EXPECT_EQ(nkn->open().value(), "0.35270000");
  EXPECT_EQ(nkn->high().value(), "0.35280000");
  EXPECT_EQ(nkn->low().value(), "0.35220000");
  EXPECT_EQ(nkn->close().value(), "0.35280000");
  EXPECT_EQ(nkn->volume().value(), "25877.00000000");
  EXPECT_EQ(nkn->trade_count(), 30u);
  EXPECT_FALSE(nkn->closed());
}

TEST(BinanceSymbols, UseExchangeInfoThenKnownQuoteSuffixes) {
  BinanceSymbolMap map;
  EXPECT_EQ(map.Canonical("nknusdt"), "NKN-USDT");  // suffix fallback
  EXPECT_EQ(map.Canonical("BLZETH"), "BLZ-ETH");
  EXPECT_EQ(map.Canonical("RUNEEUR"), "RUNE-EUR");
  EXPECT_EQ(map.Canonical("ETHBUSD"), "ETH-BUSD");
  EXPECT_EQ(map.Canonical("XYZ"), "");
  ASSERT_TRUE(map.LoadExchangeInfo(
                     R"({"symbols":[{"symbol":"BTCUSDT","baseAsset":"BTC","quoteAsset":"USDT"},)"
                     R"({"symbol":"USDTTRY","baseAsset":"USDT","quoteAsset":"TRY"}]})")
                  .ok());
  EXPECT_EQ(map.Canonical("usdttry"), "USDT-TRY");
  EXPECT_FALSE(map.LoadExchangeInfo(R"({"symbols":[{"symbol":1}]})").ok());

  // The recording's own exchangeInfo.
  const std::vector<RawFrame> frames = LoadFrames(kFile, "binance");
  ASSERT_NE(frames[0].url.find("exchangeInfo"), std::string::npos);
  BinanceSymbolMap real;
  ASSERT_TRUE(real.LoadExchangeInfo(frames[0].data).ok());
  EXPECT_GT(real.size(), 1000u);
  EXPECT_EQ(real.Canonical("LRCBTC"), "LRC-BTC");
}

TEST(BinanceDecoder, RejectsBadInputWithAReason) {
  auto decoder = MakeDecoder("binance");
  CollectingSink sink;
  uint64_t seq = 0;
  auto reason = [&](const std::string& data) {
    absl::Status status = decoder->Decode(testing::WsFrame("B.ws", ++seq, data), sink);
    EXPECT_FALSE(status.ok()) << data;
    return std::string(DecodeErrorName(GetDecodeError(status)));
  };
  EXPECT_EQ(reason(R"({"stream":"x","data":{"e":"aggTrade","s":"BTCUSDT","p":"1")"), "truncated");
  EXPECT_EQ(reason(R"({"stream":"x","data":{"e":"whatever","s":"BTCUSDT"}})"), "unknown_message");
  EXPECT_EQ(reason(R"({"stream":"x","data":{"e":"aggTrade","s":"BTCUSDT","p":"1"}})"),
            "missing_field");
  EXPECT_EQ(reason(R"({"stream":"x","data":{"e":"aggTrade","s":"BTCUSDT","a":1,"p":"x","q":"1",)"
                   R"("m":true,"T":1}})"),
            "bad_value");
  EXPECT_EQ(reason(R"({"code":2,"msg":"Invalid request"})"), "venue_error");
  EXPECT_TRUE(decoder->Decode(testing::WsFrame("B.ws", ++seq, R"({"result":null,"id":1})"), sink)
                  .ok());
  // A raw (not combined) stream payload decodes too.
  EXPECT_TRUE(decoder
                  ->Decode(testing::WsFrame("B.ws", ++seq,
                                            R"({"e":"trade","E":1,"s":"BTCUSDT","t":7,"p":"1.5",)"
                                            R"("q":"2","T":1000,"m":true,"M":true})"),
                           sink)
                  .ok());
  ASSERT_EQ(sink.trades.size(), 1u);
  EXPECT_EQ(sink.trades[0].trade_id(), "7");
  EXPECT_EQ(sink.trades[0].side(), pb::SIDE_SELL);
}

}  // namespace
}  // namespace sa::md
