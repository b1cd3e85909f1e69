// Coinbase Advanced Trade ("coinbase") and Coinbase Exchange ("coinbase-exchange").
#include <map>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include "absl/strings/str_replace.h"
#include "marketdata/decimal.h"
#include "marketdata/decode_error.h"
#include "test_util.h"

namespace sa::md {
namespace {

using testing::CollectingSink;
using testing::LoadFrames;
using testing::MakeDecoder;

constexpr char kAdvancedFile[] = "coinbase-advanced-trade.jsonl.zst";
constexpr char kExchangeFile[] = "coinbase-exchange.jsonl.zst";

std::string Str(simdjson::dom::element e) { return std::string(std::string_view(e)); }

struct RawTrade {
  std::string product, id, price, size, side;
};

// ---------------------------------------------------------------- Advanced Trade

struct RawAdvanced {
  std::vector<std::string> channels;  // per frame
  std::map<std::string, size_t> l2_updates;  // update events per product
  size_t l2_snapshots = 0;
  std::vector<RawTrade> trades;  // snapshot and update trades, in order
};

RawAdvanced ReadAdvanced(const std::vector<RawFrame>& frames) {
  RawAdvanced raw;
  simdjson::dom::parser parser;
  for (const RawFrame& frame : frames) {
    if (frame.kind != FrameKind::kWs) {
      raw.channels.push_back("http");
      continue;
    }
    simdjson::dom::object root = parser.parse(frame.data);
    const std::string channel = Str(root["channel"]);
    raw.channels.push_back(channel);
    for (simdjson::dom::object event : root["events"].get_array()) {
      if (channel == "l2_data") {
        if (Str(event["type"]) == "snapshot") {
          ++raw.l2_snapshots;
        } else {
          ++raw.l2_updates[Str(event["product_id"])];
        }
      } else if (channel == "market_trades") {
        for (simdjson::dom::object t : event["trades"].get_array()) {
          raw.trades.push_back({Str(t["product_id"]), Str(t["trade_id"]), Str(t["price"]),
                                Str(t["size"]), Str(t["side"])});
        }
      }
    }
  }
  return raw;
}

TEST(CoinbaseAdvancedTradeBook, RecordingHasNoFalseGap) {
  const std::vector<RawFrame> frames = LoadFrames(kAdvancedFile, "coinbase");
  const RawAdvanced raw = ReadAdvanced(frames);
  auto [decoder, sink, errors] = testing::DecodeWith("coinbase", frames);
  EXPECT_THAT(errors, ::testing::IsEmpty());
  EXPECT_THAT(sink.statuses, ::testing::IsEmpty());
  EXPECT_EQ(decoder->stats().gaps, 0u);
  EXPECT_EQ(raw.l2_snapshots, 2u);
  EXPECT_EQ(decoder->stats().book_snapshots, 2u);
  std::map<std::string, size_t> published;
  uint64_t last_sequence = 0;
  for (const pb::BookUpdate& update : sink.book_updates) {
    EXPECT_GT(update.sequence(), last_sequence);
    last_sequence = update.sequence();
    if (!update.snapshot()) ++published[update.origin().symbol()];
  }
  EXPECT_EQ(published, raw.l2_updates);
  for (const char* symbol : {"BTC-USD", "ETH-USD"}) {
    absl::StatusOr<pb::BookUpdate> top = decoder->TopLevels(symbol, 3);
    ASSERT_TRUE(top.ok()) << top.status();
    ExactDecimal bid, ask;
    ASSERT_TRUE(ParseExactDecimal(top->bids(0).price().value(), &bid));
    ASSERT_TRUE(ParseExactDecimal(top->asks(0).price().value(), &ask));
    EXPECT_LT(ExactCompare(bid, ask), 0) << symbol;
  }
}

TEST(CoinbaseAdvancedTradeBook, AnyDroppedFrameIsAGapThatStopsTheConnectionsBooks) {
  const std::vector<RawFrame> all = LoadFrames(kAdvancedFile, "coinbase");
  const RawAdvanced raw = ReadAdvanced(all);
  // Once both books are live (after the second l2 snapshot), drop one frame of
  // every channel, and every 10th frame.
  size_t live_from = 0;
  for (size_t i = 0, snapshots = 0; i < all.size(); ++i) {
    if (all[i].data.find(R"("type":"snapshot","product_id")") != std::string::npos &&
        ++snapshots == 2) {
      live_from = i + 1;
      break;
    }
  }
  ASSERT_GT(live_from, 0u);
  std::map<std::string, size_t> one_per_channel;
  std::vector<size_t> victims;
  for (size_t i = live_from; i + 1 < all.size(); ++i) {
    if (one_per_channel.emplace(raw.channels[i], i).second || i % 10 == 0) victims.push_back(i);
  }
  ASSERT_GE(one_per_channel.size(), 5u);  // l2_data, market_trades, ticker, heartbeats, candles

  for (size_t victim : victims) {
    SCOPED_TRACE(absl::StrCat("dropped frame ", victim, " (", raw.channels[victim], ")"));
    std::vector<RawFrame> lossy;
    for (size_t i = 0; i < all.size(); ++i) {
      if (i != victim) lossy.push_back(all[i]);
    }
    testing::Renumber(lossy);
    auto decoder = MakeDecoder("coinbase");
    CollectingSink sink;
    sink.keep_book_updates = false;
    size_t i = 0;
    for (; i < victim; ++i) ASSERT_TRUE(decoder->Decode(lossy[i], sink).ok());
    const size_t published = sink.book_update_count;
    for (; i < lossy.size(); ++i) ASSERT_TRUE(decoder->Decode(lossy[i], sink).ok());
    EXPECT_EQ(decoder->stats().gaps, 2u);  // one per book of the connection
    ASSERT_EQ(sink.statuses.size(), 4u);
    EXPECT_EQ(sink.statuses[0].kind(), pb::VenueStatus::KIND_GAP);
    EXPECT_EQ(sink.statuses[0].received_sequence(), sink.statuses[0].expected_sequence() + 1);
    EXPECT_EQ(sink.book_update_count, published) << "a gapped book was published";
    ASSERT_EQ(sink.resyncs.size(), 2u);
    for (const ResyncRequest& request : sink.resyncs) {
      EXPECT_EQ(request.action, ResyncRequest::Action::kResubscribe);
      EXPECT_EQ(request.channel, "level2");
      EXPECT_EQ(request.reason, "gap");
    }
    EXPECT_EQ(decoder->TopLevels("BTC-USD", 1).status().code(), absl::StatusCode::kUnavailable);
  }
}

TEST(CoinbaseAdvancedTradeTrades, EqualTheRecordingsTradesWithTakerSideOppositeToVenueSide) {
  const std::vector<RawFrame> frames = LoadFrames(kAdvancedFile, "coinbase");
  const RawAdvanced raw = ReadAdvanced(frames);
  auto [decoder, sink, errors] = testing::DecodeWith("coinbase", frames, {.keep_book_updates = false});
  EXPECT_THAT(errors, ::testing::IsEmpty());
  ASSERT_EQ(raw.trades.size(), 218u);  // 2 snapshots of 100 recent trades + 18 live trades
  ASSERT_EQ(sink.trades.size(), raw.trades.size());
  for (size_t i = 0; i < raw.trades.size(); ++i) {
    EXPECT_EQ(sink.trades[i].trade_id(), raw.trades[i].id);
    EXPECT_EQ(sink.trades[i].price().value(), raw.trades[i].price);
    EXPECT_EQ(sink.trades[i].size().value(), raw.trades[i].size);
    EXPECT_EQ(sink.trades[i].origin().symbol(), raw.trades[i].product);
    EXPECT_EQ(sink.trades[i].side(), raw.trades[i].side == "SELL" ? pb::SIDE_BUY : pb::SIDE_SELL);
  }
}

// The evidence for the side rule: a taker buy lifts the ask, a taker sell hits
// the bid. Checked against our own book just before each live trade frame.
TEST(CoinbaseAdvancedTradeTrades, TakerSideAgreesWithTheBookSideTheTradePrintedOn) {
  const std::vector<RawFrame> frames = LoadFrames(kAdvancedFile, "coinbase");
  auto decoder = MakeDecoder("coinbase");
  CollectingSink sink;
  sink.keep_book_updates = false;
  size_t checked = 0;
  for (const RawFrame& frame : frames) {
    std::map<std::string, pb::BookUpdate> tops;
    for (const char* symbol : {"BTC-USD", "ETH-USD"}) {
      if (auto top = decoder->TopLevels(symbol, 1); top.ok()) tops[symbol] = *top;
    }
    const size_t before = sink.trades.size();
    ASSERT_TRUE(decoder->Decode(frame, sink).ok());
    if (frame.data.find(R"("type":"update","trades")") == std::string::npos) continue;
    for (size_t i = before; i < sink.trades.size(); ++i) {
      const pb::Trade& trade = sink.trades[i];
      auto it = tops.find(trade.origin().symbol());
      if (it == tops.end()) continue;
      ExactDecimal price, bid, ask;
      ASSERT_TRUE(ParseExactDecimal(trade.price().value(), &price));
      ASSERT_TRUE(ParseExactDecimal(it->second.bids(0).price().value(), &bid));
      ASSERT_TRUE(ParseExactDecimal(it->second.asks(0).price().value(), &ask));
      if (ExactCompare(price, ask) >= 0) {
        EXPECT_EQ(trade.side(), pb::SIDE_BUY) << trade.ShortDebugString();
        ++checked;
      } else if (ExactCompare(price, bid) <= 0) {
        EXPECT_EQ(trade.side(), pb::SIDE_SELL) << trade.ShortDebugString();
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 18u - 1u);  // every live trade but one that came before its book
}

// Found by fuzz/targets/decoder.cc (fuzz/corpus/decoder_coinbase/regression_time_beyond_int64_ns):
// an envelope time in year 0013 or a candle start beyond 2262 overflowed int64 ns (UB).
TEST(CoinbaseAdvancedTradeStreams, RefusesTimesBeyondInt64Nanoseconds) {
  auto decoder = MakeDecoder("coinbase");
  CollectingSink sink;
  const std::string candle =
      R"({"channel":"candles","timestamp":"2026-08-09T21:05:48.228971266Z","sequence_num":SEQ,"events":[{"type":"update","candles":[{"start":"START","high":"1","low":"1","open":"1","close":"1","volume":"1","product_id":"ETH-USD"}]}]})";
  ASSERT_TRUE(decoder
                  ->Decode(testing::WsFrame("C.ws", 0, absl::StrReplaceAll(candle, {{"START", "1786279500"}, {"SEQ", "0"}})),
                           sink)
                  .ok());
  ASSERT_EQ(sink.candles.size(), 1u);
  int seq = 0;
  for (const std::string& data : {
           absl::StrReplaceAll(candle, {{"START", "99999999999"}}),
           absl::StrReplaceAll(candle, {{"START", "-5"}}),
           absl::StrReplaceAll(candle, {{"START", "1786279500"}, {"2026-08-09", "0013-08-09"}}),
       }) {
    const std::string frame = absl::StrReplaceAll(data, {{"SEQ", std::to_string(++seq)}});
    absl::Status st = decoder->Decode(testing::WsFrame("C.ws", 0, frame), sink);
    EXPECT_FALSE(st.ok()) << frame;
    EXPECT_NE(GetDecodeError(st), DecodeError::kNone) << st;
  }
  EXPECT_EQ(sink.candles.size(), 1u);
  EXPECT_EQ(sink.candles[0].open_time_ns(), 1786279500LL * 1'000'000'000);
}

TEST(CoinbaseAdvancedTradeStreams, TickerAndCandlesKeepVenueText) {
  auto [decoder, sink, errors] =
      testing::DecodeWith("coinbase", LoadFrames(kAdvancedFile, "coinbase"), {.keep_book_updates = false});
  EXPECT_THAT(errors, ::testing::IsEmpty());
  ASSERT_EQ(sink.tickers.size(), 37u);
  const pb::Ticker& first = sink.tickers[0];  // the BTC-USD snapshot ticker, by hand
  EXPECT_EQ(first.origin().symbol(), "BTC-USD");
  EXPECT_EQ(first.last_price().value(), "65086.18");
  EXPECT_EQ(first.bid_price().value(), "65083.66");
  EXPECT_EQ(first.ask_price().value(), "65083.67");
  EXPECT_EQ(first.bid_size().value(), "0.20371215");
  EXPECT_EQ(first.ask_size().value(), "0.24290402");
  EXPECT_EQ(first.volume_24h().value(), "2867.54532609");
  EXPECT_EQ(first.origin().exchange_time_ns(), 1786309548229198328);
  ASSERT_FALSE(sink.candles.empty());
  const pb::Candle& candle = sink.candles[0];  // {"start":"1786279500","high":"1916.6",...}
  EXPECT_EQ(candle.origin().symbol(), "ETH-USD");
  EXPECT_EQ(candle.interval(), "5m");
  EXPECT_EQ(candle.open_time_ns(), 1786279500LL * 1'000'000'000);
  EXPECT_EQ(candle.close_time_ns(), 1786279800LL * 1'000'000'000);
  EXPECT_EQ(candle.open().value(), "1916.11");
  EXPECT_EQ(candle.high().value(), "1916.6");
  EXPECT_EQ(candle.volume().value(), "13.9044026");
  EXPECT_TRUE(candle.closed());
  EXPECT_FALSE(sink.candles.back().closed());  // the live update of the current candle
  EXPECT_EQ(decoder->stats().skipped, 6u + 5u + 1u);  // heartbeats, subscriptions, REST body
}

TEST(CoinbaseAdvancedTradeDecoder, RejectsStaleSequenceAndGarbage) {
  auto decoder = MakeDecoder("coinbase");
  CollectingSink sink;
  auto frame = [](uint64_t seq, const std::string& data) {
    return testing::WsFrame("C.ws", seq, data);
  };
  const std::string hb =
      R"({"channel":"heartbeats","timestamp":"2026-08-09T21:05:48.856364007Z","sequence_num":)";
  ASSERT_TRUE(decoder->Decode(frame(1, hb + "5,\"events\":[]}"), sink).ok());
  absl::Status status = decoder->Decode(frame(2, hb + "5,\"events\":[]}"), sink);
  EXPECT_EQ(GetDecodeError(status), DecodeError::kOutOfOrder) << status;
  status = decoder->Decode(frame(3, R"({"channel":"nope","timestamp":"2026-08-09T21:05:48Z",)"
                                    R"("sequence_num":6,"events":[]})"),
                           sink);
  EXPECT_EQ(GetDecodeError(status), DecodeError::kUnknownChannel) << status;
  status = decoder->Decode(frame(4, R"({"type":"error","message":"bad product"})"), sink);
  EXPECT_EQ(GetDecodeError(status), DecodeError::kVenueError) << status;
  status = decoder->Decode(
      frame(5, R"({"channel":"market_trades","timestamp":"2026-08-09T21:05:48Z","sequence_num":7,)"
               R"("events":[{"type":"update","trades":[{"product_id":"BTC-USD","trade_id":"1",)"
               R"("price":"1","size":"1","time":"2026-08-09T21:05:48Z","side":"UP"}]}]})"),
      sink);
  EXPECT_EQ(GetDecodeError(status), DecodeError::kBadValue) << status;
  EXPECT_THAT(sink.trades, ::testing::IsEmpty());
}

// ---------------------------------------------------------------- Exchange

struct RawExchange {
  std::vector<std::string> types;  // per frame
  size_t snapshots = 0, l2updates = 0;
  std::vector<RawTrade> trades;  // match + last_match
  std::map<std::string, std::string> ticker_side_by_trade;  // product/trade_id -> side
};

RawExchange ReadExchange(const std::vector<RawFrame>& frames) {
  RawExchange raw;
  simdjson::dom::parser parser;
  for (const RawFrame& frame : frames) {
    simdjson::dom::object root = parser.parse(frame.data);
    const std::string type = Str(root["type"]);
    raw.types.push_back(type);
    if (type == "snapshot") ++raw.snapshots;
    if (type == "l2update") ++raw.l2updates;
    if (type == "match" || type == "last_match") {
      raw.trades.push_back({Str(root["product_id"]), std::to_string(uint64_t(root["trade_id"])),
                            Str(root["price"]), Str(root["size"]), Str(root["side"])});
    }
    if (type == "ticker") {
      raw.ticker_side_by_trade[Str(root["product_id"]) + "/" +
                               std::to_string(uint64_t(root["trade_id"]))] = Str(root["side"]);
    }
  }
  return raw;
}

TEST(CoinbaseExchangeBook, RecordingHasNoFalseGap) {
  const std::vector<RawFrame> frames = LoadFrames(kExchangeFile, "coinbase-exchange");
  const RawExchange raw = ReadExchange(frames);
  auto [decoder, sink, errors] = testing::DecodeWith("coinbase-exchange", frames, {.keep_book_updates = false});
  EXPECT_THAT(errors, ::testing::IsEmpty());
  EXPECT_THAT(sink.statuses, ::testing::IsEmpty());
  EXPECT_EQ(raw.snapshots, 10u);
  EXPECT_EQ(raw.l2updates, 9719u);
  EXPECT_EQ(decoder->stats().book_snapshots, 10u);
  EXPECT_EQ(decoder->stats().book_updates, 10u + 9719u);
  EXPECT_EQ(decoder->BookSymbols().size(), 10u);
  for (const std::string& symbol : decoder->BookSymbols()) {
    absl::StatusOr<pb::BookUpdate> top = decoder->TopLevels(symbol, 1);
    ASSERT_TRUE(top.ok()) << top.status();
    ExactDecimal bid, ask;
    ASSERT_TRUE(ParseExactDecimal(top->bids(0).price().value(), &bid));
    ASSERT_TRUE(ParseExactDecimal(top->asks(0).price().value(), &ask));
    EXPECT_LT(ExactCompare(bid, ask), 0) << symbol;
  }
}

TEST(CoinbaseExchangeTrades, EqualTheRecordingsMatchesWithTakerOppositeToMakerSide) {
  const std::vector<RawFrame> frames = LoadFrames(kExchangeFile, "coinbase-exchange");
  const RawExchange raw = ReadExchange(frames);
  auto [decoder, sink, errors] = testing::DecodeWith("coinbase-exchange", frames, {.keep_book_updates = false});
  EXPECT_THAT(errors, ::testing::IsEmpty());
  ASSERT_EQ(raw.trades.size(), 107u);  // 97 match + 10 last_match
  ASSERT_EQ(sink.trades.size(), raw.trades.size());
  size_t agreeing_tickers = 0;
  for (size_t i = 0; i < raw.trades.size(); ++i) {
    const pb::Trade& trade = sink.trades[i];
    EXPECT_EQ(trade.trade_id(), raw.trades[i].id);
    EXPECT_EQ(trade.price().value(), raw.trades[i].price);
    EXPECT_EQ(trade.size().value(), raw.trades[i].size);
    EXPECT_EQ(trade.origin().symbol(), raw.trades[i].product);
    EXPECT_EQ(trade.side(), raw.trades[i].side == "sell" ? pb::SIDE_BUY : pb::SIDE_SELL);
    // The ticker for the same trade states the taker side outright.
    auto it = raw.ticker_side_by_trade.find(raw.trades[i].product + "/" + raw.trades[i].id);
    if (it != raw.ticker_side_by_trade.end()) {
      EXPECT_EQ(trade.side(), it->second == "buy" ? pb::SIDE_BUY : pb::SIDE_SELL);
      ++agreeing_tickers;
    }
  }
  EXPECT_EQ(agreeing_tickers, 107u);
  EXPECT_EQ(sink.tickers.size(), 107u);
}

TEST(CoinbaseExchangeBook, DroppedMatchIsAGapThatResyncsTheConnectionsBooks) {
  const std::vector<RawFrame> all = LoadFrames(kExchangeFile, "coinbase-exchange");
  const RawExchange raw = ReadExchange(all);
  // A match with a later match of the same product after it.
  size_t victim = 0;
  std::string product;
  for (size_t i = all.size() / 2; i < all.size() && victim == 0; ++i) {
    if (raw.types[i] != "match") continue;
    simdjson::dom::parser parser;
    const std::string p = Str(parser.parse(all[i].data)["product_id"]);
    for (size_t j = i + 1; j < all.size(); ++j) {
      if (raw.types[j] == "match" && all[j].data.find("\"" + p + "\"") != std::string::npos) {
        victim = i;
        product = p;
        break;
      }
    }
  }
  ASSERT_GT(victim, 0u);
  std::vector<RawFrame> lossy;
  for (size_t i = 0; i < all.size(); ++i) {
    if (i != victim) lossy.push_back(all[i]);
  }
  testing::Renumber(lossy);
  auto [decoder, sink, errors] = testing::DecodeWith("coinbase-exchange", lossy);
  EXPECT_THAT(errors, ::testing::IsEmpty());
  EXPECT_EQ(decoder->stats().gaps, 10u);  // every book of the connection
  ASSERT_FALSE(sink.statuses.empty());
  EXPECT_EQ(sink.statuses[0].kind(), pb::VenueStatus::KIND_GAP);
  EXPECT_EQ(sink.statuses[0].received_sequence(), sink.statuses[0].expected_sequence() + 1);
  EXPECT_THAT(sink.statuses[0].detail(), ::testing::HasSubstr(product + " match trade_id jumped"));
  // Detected at the product's next match; from then on nothing is published.
  const uint64_t detected_at = sink.statuses[0].origin().frame_seq();
  EXPECT_GT(detected_at, victim);
  for (const pb::BookUpdate& update : sink.book_updates) {
    EXPECT_LT(update.origin().frame_seq(), detected_at) << "a gapped book was published";
  }
  EXPECT_EQ(sink.resyncs.size(), 10u);
  EXPECT_EQ(sink.trades.size(), 106u);
}

// Documents the limit of the legacy feed: level2 has no sequence number.
TEST(CoinbaseExchangeBook, DroppedL2UpdateIsInvisibleToTheFeedButNotToTheFrameSeq) {
  const std::vector<RawFrame> all = LoadFrames(kExchangeFile, "coinbase-exchange");
  std::vector<RawFrame> lossy = all;
  lossy.erase(lossy.begin() + 5000);
  ASSERT_NE(all[5000].data.find("l2update"), std::string::npos);
  {
    std::vector<RawFrame> renumbered = lossy;
    testing::Renumber(renumbered);  // the venue never sent it
    auto [decoder, sink, errors] = testing::DecodeWith("coinbase-exchange", renumbered, {.keep_book_updates = false});
    EXPECT_THAT(errors, ::testing::IsEmpty());
    EXPECT_EQ(decoder->stats().gaps, 0u);
  }
  {
    auto [decoder, sink, errors] =
        testing::DecodeWith("coinbase-exchange", lossy, {.keep_book_updates = false});  // lost after ingest numbered it
    EXPECT_THAT(errors, ::testing::IsEmpty());
    EXPECT_EQ(decoder->stats().gaps, 10u);
    EXPECT_EQ(sink.statuses[0].expected_sequence(), all[5000].frame_seq);
  }
}

TEST(CoinbaseExchangeDecoder, RejectsReplayedMatchesAndUndecodableBookFrames) {
  const std::vector<RawFrame> all = LoadFrames(kExchangeFile, "coinbase-exchange");
  const RawExchange raw = ReadExchange(all);
  auto decoder = MakeDecoder("coinbase-exchange");
  CollectingSink sink;
  sink.keep_book_updates = false;
  size_t first_match = 0;
  for (size_t i = 0; i < all.size(); ++i) {
    ASSERT_TRUE(decoder->Decode(all[i], sink).ok());
    if (raw.types[i] == "match") {
      first_match = i;
      break;
    }
  }
  RawFrame replay = all[first_match];
  replay.conn = "COINBASE.ws.29";  // same match again, via another connection
  replay.frame_seq = 1;
  absl::Status status = decoder->Decode(replay, sink);
  EXPECT_EQ(GetDecodeError(status), DecodeError::kOutOfOrder) << status;

  RawFrame broken = testing::WsFrame(
      all[0].conn, all[first_match].frame_seq + 1,
      R"({"type":"l2update","product_id":"SKL-BTC","changes":[["sell","x","1"]],"time":"2021-04-17T16:43:37.075687Z"})");
  status = decoder->Decode(broken, sink);
  EXPECT_EQ(GetDecodeError(status), DecodeError::kBadValue) << status;
  ASSERT_FALSE(sink.statuses.empty());
  EXPECT_EQ(sink.statuses.back().kind(), pb::VenueStatus::KIND_RESYNCING);
  EXPECT_EQ(sink.statuses.back().origin().symbol(), "SKL-BTC");
  EXPECT_EQ(decoder->TopLevels("SKL-BTC", 1).status().code(), absl::StatusCode::kUnavailable);
}

TEST(CoinbaseExchangeDecoder, ReadsEscapedKeysAndValuesAsTheirText) {
  // Keys are read from the document's text unless they hold an escape: an
  // escaped key, like an escaped value, is still the text it spells.
  auto decoder = MakeDecoder("coinbase-exchange");
  CollectingSink sink;
  ASSERT_TRUE(decoder
                  ->Decode(testing::WsFrame("c", 1,
                                            R"({"type":"snapshot","product_id":"BTC-USD",)"
                                            R"("bids":[["100.5","1"]],"asks":[["101","2"]]})"),
                           sink)
                  .ok());
  absl::Status status = decoder->Decode(
      testing::WsFrame(
          "c", 2,
          R"({"ty\u0070e":"l2update","product\u005fid":"BTC-USD","ch\u0061nges":[["buy","100\u002e5","3"]],)"
          R"("time":"2021-04-17T16:43:37.075687Z"})"),
      sink);
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_EQ(sink.book_updates.size(), 2u);
  ASSERT_EQ(sink.book_updates.back().bids_size(), 1);
  EXPECT_EQ(sink.book_updates.back().bids(0).price().value(), "100.5");
  EXPECT_EQ(sink.book_updates.back().bids(0).size().value(), "3");
  auto top = decoder->TopLevels("BTC-USD", 2);
  ASSERT_TRUE(top.ok()) << top.status();
  ASSERT_EQ(top->bids_size(), 1);  // the same level as the snapshot's "100.5"
  EXPECT_EQ(top->bids(0).size().value(), "3");
}

}  // namespace
}  // namespace sa::md
