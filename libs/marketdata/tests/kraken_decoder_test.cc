#include <zlib.h>

#include <map>
#include <set>
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
using testing::WsFrame;

constexpr char kFile[] = "kraken.jsonl.zst";
const char* const kSymbols[] = {"KSM-BTC",   "XMR-USD", "ETH-CHF", "OMG-USD", "GRT-ETH",
                                "WAVES-EUR", "ADA-BTC", "BTC-CHF", "SC-EUR",  "OCEAN-BTC"};

// Independent reading of the raw frames with simdjson's DOM API.
struct RawKraken {
  size_t book_frames_with_checksum = 0;
  size_t book_snapshots = 0;
  size_t event_frames = 0;
  struct TradeRow {
    std::string pair, price, volume, time, side;
  };
  std::vector<TradeRow> trades;
};

RawKraken ReadRaw(const std::vector<RawFrame>& frames) {
  RawKraken raw;
  simdjson::dom::parser parser;
  for (const RawFrame& frame : frames) {
    if (frame.kind != FrameKind::kWs) continue;
    simdjson::dom::element root = parser.parse(frame.data);
    if (root.is_object()) {
      ++raw.event_frames;
      continue;
    }
    simdjson::dom::array array = root.get_array();
    const size_t n = array.size();
    const std::string channel(std::string_view(array.at(n - 2)));
    const std::string pair(std::string_view(array.at(n - 1)));
    if (channel == "trade") {
      for (simdjson::dom::element t : array.at(1).get_array()) {
        simdjson::dom::array f = t.get_array();
        raw.trades.push_back({pair, std::string(std::string_view(f.at(0))),
                              std::string(std::string_view(f.at(1))),
                              std::string(std::string_view(f.at(2))),
                              std::string(std::string_view(f.at(3)))});
      }
    } else if (channel.rfind("book", 0) == 0) {
      bool checksum = false, snapshot = false;
      for (size_t i = 1; i + 2 < n; ++i) {
        simdjson::dom::object payload = array.at(i).get_object();
        if (payload["c"].error() == simdjson::SUCCESS) checksum = true;
        if (payload["as"].error() == simdjson::SUCCESS) snapshot = true;
      }
      raw.book_frames_with_checksum += checksum;
      raw.book_snapshots += snapshot;
    }
  }
  return raw;
}

TEST(KrakenBook, ReproducesEveryChecksumInRecording) {
  const std::vector<RawFrame> frames = LoadFrames(kFile, "kraken");
  const RawKraken raw = ReadRaw(frames);
  ASSERT_EQ(raw.book_frames_with_checksum, 4269u) << "fixtures/README.md says 4269 checksums";
  ASSERT_EQ(raw.book_snapshots, 10u);

  auto [decoder, sink, errors] = testing::DecodeWith("kraken", frames, {.keep_book_updates = false});
  EXPECT_THAT(errors, ::testing::IsEmpty());

  const DecoderStats& stats = decoder->stats();
  EXPECT_EQ(stats.checksums_verified, 4269u);
  EXPECT_EQ(stats.checksum_mismatches, 0u);
  EXPECT_EQ(stats.gaps, 0u);
  EXPECT_EQ(stats.book_snapshots, 10u);
  EXPECT_EQ(stats.book_updates, 10u + 4269u);
  EXPECT_THAT(sink.statuses, ::testing::IsEmpty());
  EXPECT_THAT(decoder->PendingResyncs(), ::testing::IsEmpty());
  for (const char* symbol : kSymbols) {
    absl::StatusOr<pb::BookUpdate> top = decoder->TopLevels(symbol, 10);
    ASSERT_TRUE(top.ok()) << top.status();
    EXPECT_EQ(top->bids_size(), 10) << symbol;
    EXPECT_EQ(top->asks_size(), 10) << symbol;
    ExactDecimal bid, ask;
    ASSERT_TRUE(ParseExactDecimal(top->bids(0).price().value(), &bid));
    ASSERT_TRUE(ParseExactDecimal(top->asks(0).price().value(), &ask));
    EXPECT_LT(ExactCompare(bid, ask), 0) << symbol << " is crossed";
  }
}

// A restarted normalizer: the books exported halfway through the recording,
// imported into a fresh decoder (through the wire format), go on exactly as
// the first decoder's: the same book updates, every checksum reproduced, no
// gap, no resync, no snapshot needed.
TEST(KrakenBook, BooksImportedFromACheckpointGoOnAsIfNeverInterrupted) {
  std::vector<RawFrame> frames = LoadFrames(kFile, "kraken");
  testing::Renumber(frames);  // frame_seq per conn, as ingest numbers them: the import must carry the check on
  const size_t half = frames.size() / 2;
  auto first = MakeDecoder("kraken");
  CollectingSink before;
  before.keep_book_updates = false;
  for (size_t i = 0; i < half; ++i) ASSERT_TRUE(first->Decode(frames[i], before).ok()) << i;
  auto exported = first->ExportBooks();
  ASSERT_TRUE(exported.ok()) << exported.status();
  ASSERT_EQ(exported->books_size(), 10) << "every book is live halfway";
  pb::BookCheckpoint wire;
  ASSERT_TRUE(wire.ParseFromString(exported->SerializeAsString()));

  auto second = MakeDecoder("kraken");
  ASSERT_TRUE(second->ImportBooks(wire).ok());
  CollectingSink a, b;
  for (size_t i = half; i < frames.size(); ++i) {
    ASSERT_TRUE(first->Decode(frames[i], a).ok()) << i;
    ASSERT_TRUE(second->Decode(frames[i], b).ok()) << i;
  }
  ASSERT_GT(a.book_updates.size(), 1000u);
  ASSERT_EQ(a.book_updates.size(), b.book_updates.size());
  for (size_t i = 0; i < a.book_updates.size(); ++i)
    ASSERT_EQ(a.book_updates[i].SerializeAsString(), b.book_updates[i].SerializeAsString()) << "update " << i;
  EXPECT_EQ(second->stats().checksum_mismatches, 0u);
  EXPECT_GT(second->stats().checksums_verified, 1000u);
  EXPECT_EQ(second->stats().book_snapshots, 0u) << "no snapshot was needed";
  EXPECT_THAT(b.statuses, ::testing::IsEmpty());
  EXPECT_THAT(b.resyncs, ::testing::IsEmpty());
  EXPECT_THAT(second->PendingResyncs(), ::testing::IsEmpty());
}

TEST(BookCheckpoint, RefusedForAnotherVenueOrBadLevelsAndUnsupportedVenuesSaySo) {
  auto kraken = MakeDecoder("kraken");
  pb::BookCheckpoint c;
  c.set_venue("binance");
  EXPECT_EQ(kraken->ImportBooks(c).code(), absl::StatusCode::kInvalidArgument);
  c.set_venue("kraken");
  auto* book = c.add_books();
  book->set_symbol("BTC-USD");
  auto* level = book->add_bids();
  level->set_price("1e400x");
  level->set_size("1");
  absl::Status st = kraken->ImportBooks(c);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.message()), ::testing::HasSubstr("BTC-USD"));
  EXPECT_THAT(kraken->BookSymbols(), ::testing::IsEmpty()) << "nothing imported";
  EXPECT_EQ(MakeDecoder("binance")->ExportBooks().status().code(), absl::StatusCode::kUnimplemented);
}

TEST(KrakenTrades, EqualTheRecordingsTradesTextForText) {
  const std::vector<RawFrame> frames = LoadFrames(kFile, "kraken");
  const RawKraken raw = ReadRaw(frames);
  auto [decoder, sink, errors] = testing::DecodeWith("kraken", frames, {.keep_book_updates = false});
  EXPECT_THAT(errors, ::testing::IsEmpty());

  ASSERT_EQ(raw.trades.size(), 10u);
  ASSERT_EQ(sink.trades.size(), raw.trades.size());
  for (size_t i = 0; i < raw.trades.size(); ++i) {
    const auto& want = raw.trades[i];
    const pb::Trade& got = sink.trades[i];
    EXPECT_EQ(got.price().value(), want.price);
    EXPECT_EQ(got.size().value(), want.volume);
    EXPECT_EQ(got.origin().venue(), "kraken");
    EXPECT_EQ(got.origin().venue_symbol(), want.pair);
    EXPECT_EQ(got.origin().symbol(), KrakenCanonicalSymbol(want.pair));
    EXPECT_EQ(got.side(), want.side == "b" ? pb::SIDE_BUY : pb::SIDE_SELL);
    int64_t ns = 0;
    ASSERT_TRUE(ParseDecimalSecondsToNs(want.time, &ns));
    EXPECT_EQ(got.origin().exchange_time_ns(), ns);
    EXPECT_EQ(got.origin().conn(), "KRAKEN.ws.48");
    EXPECT_GT(got.origin().receive_time_ns(), 0);
    EXPECT_GT(got.origin().frame_seq(), 0u);
  }
  // The first recorded trade, checked by hand.
  EXPECT_EQ(sink.trades[0].origin().symbol(), "XMR-USD");
  EXPECT_EQ(sink.trades[0].price().value(), "354.11000000");
  EXPECT_EQ(sink.trades[0].side(), pb::SIDE_SELL);
  EXPECT_EQ(sink.trades[0].origin().exchange_time_ns(), 1618678142557535000);
}

TEST(KrakenTicker, KeepsVenueTextAndCanonicalSymbol) {
  auto [decoder, sink, errors] =
      testing::DecodeWith("kraken", LoadFrames(kFile, "kraken"), {.keep_book_updates = false});
  EXPECT_THAT(errors, ::testing::IsEmpty());
  ASSERT_EQ(sink.tickers.size(), 18u);
  const pb::Ticker& first = sink.tickers[0];  // the recording's first ticker, by hand
  EXPECT_EQ(first.origin().venue_symbol(), "WAVES/EUR");
  EXPECT_EQ(first.origin().symbol(), "WAVES-EUR");
  EXPECT_EQ(first.ask_price().value(), "13.253900");
  EXPECT_EQ(first.ask_size().value(), "35.72892241");
  EXPECT_EQ(first.bid_price().value(), "13.232900");
  EXPECT_EQ(first.bid_size().value(), "185.18432037");
  EXPECT_EQ(first.last_price().value(), "13.253900");
  EXPECT_EQ(first.volume_24h().value(), "72035.05488104");
}

TEST(KrakenSymbols, MapsVenueAssetCodesToCommonOnes) {
  EXPECT_EQ(KrakenCanonicalSymbol("XBT/USD"), "BTC-USD");
  EXPECT_EQ(KrakenCanonicalSymbol("XDG/EUR"), "DOGE-EUR");
  EXPECT_EQ(KrakenCanonicalSymbol("ETH/XBT"), "ETH-BTC");
  EXPECT_EQ(KrakenCanonicalSymbol("waves/eur"), "WAVES-EUR");
  EXPECT_EQ(KrakenCanonicalSymbol("XBTUSD"), "");
}

TEST(KrakenDecoder, SkipsHeartbeatsAcksAndSystemStatus) {
  const std::vector<RawFrame> frames = LoadFrames(kFile, "kraken");
  const RawKraken raw = ReadRaw(frames);
  auto [decoder, sink, errors] = testing::DecodeWith("kraken", frames, {.keep_book_updates = false});
  EXPECT_THAT(errors, ::testing::IsEmpty());
  // Every event frame plus the AssetPairs REST body.
  EXPECT_EQ(decoder->stats().skipped, raw.event_frames + 1);
  EXPECT_EQ(raw.event_frames, 92u + 30u + 3u);  // heartbeats, subscription acks, systemStatus
}

// Kraken's checksum definition, written out independently of the library.
uint32_t Crc(const std::string& text) {
  return static_cast<uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(text.data()), static_cast<uInt>(text.size())));
}

TEST(KrakenBook, ChecksumMismatchStopsPublicationUntilTheNextSnapshot) {
  auto decoder = MakeDecoder("kraken");
  CollectingSink sink;
  const std::string conn = "KRAKEN.ws.1";
  auto frame = [&](uint64_t seq, const std::string& data) {
    return WsFrame(conn, seq, data, "kraken");
  };
  const std::string snapshot =
      R"([7,{"as":[["5.0","1.0","1.1"]],"bs":[["4.0","2.0","1.2"]]},"book-10","XBT/USD"])";
  ASSERT_TRUE(decoder->Decode(frame(1, snapshot), sink).ok());
  // asks 5.0 x 3.0, bids 4.0 x 2.0 -> "50" "30" "40" "20"
  const std::string good = absl::StrCat(R"([7,{"a":[["5.0","3.0","1.3"]],"c":")",
                                        Crc("50304020"), R"("},"book-10","XBT/USD"])");
  ASSERT_TRUE(decoder->Decode(frame(2, good), sink).ok());
  ASSERT_EQ(sink.book_updates.size(), 2u);
  EXPECT_EQ(decoder->stats().checksums_verified, 1u);

  const std::string bad = R"([7,{"b":[["4.0","2.5","1.4"]],"c":"12345"},"book-10","XBT/USD"])";
  ASSERT_TRUE(decoder->Decode(frame(3, bad), sink).ok());  // a wrong book is not a bad frame
  EXPECT_EQ(sink.book_updates.size(), 2u) << "the mismatching update must not be published";
  EXPECT_THAT(sink.StatusKinds(),
              ::testing::ElementsAre(pb::VenueStatus::KIND_CHECKSUM_MISMATCH,
                                     pb::VenueStatus::KIND_RESYNCING));
  EXPECT_EQ(sink.statuses[0].origin().symbol(), "BTC-USD");
  EXPECT_EQ(sink.statuses[0].expected_sequence(), 12345u);  // the venue's checksum
  ASSERT_EQ(sink.resyncs.size(), 1u);
  EXPECT_EQ(sink.resyncs[0].action, ResyncRequest::Action::kResubscribe);
  EXPECT_EQ(sink.resyncs[0].channel, "book");
  EXPECT_EQ(sink.resyncs[0].depth, 10);
  EXPECT_EQ(sink.resyncs[0].venue_symbol, "XBT/USD");
  EXPECT_EQ(sink.resyncs[0].conn, conn);
  EXPECT_EQ(decoder->PendingResyncs().size(), 1u);
  EXPECT_EQ(decoder->TopLevels("BTC-USD", 10).status().code(), absl::StatusCode::kUnavailable);

  // Further updates, even with a checksum that would match, stay unpublished.
  const std::string later = absl::StrCat(R"([7,{"b":[["4.0","2.0","1.5"]],"c":")",
                                         Crc("50304020"), R"("},"book-10","XBT/USD"])");
  ASSERT_TRUE(decoder->Decode(frame(4, later), sink).ok());
  EXPECT_EQ(sink.book_updates.size(), 2u);
  EXPECT_EQ(decoder->stats().updates_dropped_out_of_sync, 1u);

  // The resubscription's snapshot makes the book right again.
  const std::string fresh =
      R"([8,{"as":[["5.1","1.0","2.1"]],"bs":[["4.1","2.0","2.2"]]},"book-10","XBT/USD"])";
  ASSERT_TRUE(decoder->Decode(frame(5, fresh), sink).ok());
  ASSERT_EQ(sink.book_updates.size(), 3u);
  EXPECT_TRUE(sink.book_updates.back().snapshot());
  EXPECT_EQ(sink.book_updates.back().book_version(), 3u);
  EXPECT_EQ(sink.statuses.back().kind(), pb::VenueStatus::KIND_RESYNCED);
  EXPECT_THAT(decoder->PendingResyncs(), ::testing::IsEmpty());
  absl::StatusOr<pb::BookUpdate> top = decoder->TopLevels("BTC-USD", 5);
  ASSERT_TRUE(top.ok()) << top.status();
  EXPECT_EQ(top->asks(0).price().value(), "5.1");
  EXPECT_EQ(top->bids(0).size().value(), "2.0");
}

TEST(KrakenBook, DroppedTopOfBookUpdateIsCaughtByTheNextChecksum) {
  const std::vector<RawFrame> frames = LoadFrames(kFile, "kraken");
  // Pick, from the second half of the recording, a book update that changed
  // the top 10 and whose levels the pair's next update does not touch again:
  // without it, the next update's checksum cannot match.
  struct Published {
    size_t frame_index;
    std::string symbol;
    std::set<std::string> prices;
    bool top_changed;
  };
  std::vector<Published> published;
  {
    auto decoder = MakeDecoder("kraken");
    CollectingSink sink;
    std::map<std::string, std::string> top;
    auto top_of = [&](const std::string& symbol) {
      pb::BookUpdate book = *decoder->TopLevels(symbol, 10);
      book.clear_book_version();
      return book.SerializeAsString();
    };
    for (size_t i = 0; i < frames.size(); ++i) {
      const size_t count = sink.book_updates.size();
      ASSERT_TRUE(decoder->Decode(frames[i], sink).ok());
      if (sink.book_updates.size() == count) continue;
      const pb::BookUpdate& update = sink.book_updates.back();
      const std::string symbol = update.origin().symbol();
      const std::string now = top_of(symbol);
      if (!update.snapshot()) {
        Published entry{i, symbol, {}, now != top[symbol]};
        for (const auto& level : update.bids()) entry.prices.insert("b" + level.price().value());
        for (const auto& level : update.asks()) entry.prices.insert("a" + level.price().value());
        published.push_back(std::move(entry));
      }
      top[symbol] = now;
    }
  }
  size_t victim = 0;
  std::string victim_symbol;
  for (size_t i = published.size() / 2; i < published.size() && victim == 0; ++i) {
    if (!published[i].top_changed) continue;
    for (size_t j = i + 1; j < published.size(); ++j) {
      if (published[j].symbol != published[i].symbol) continue;
      bool disjoint = true;
      for (const std::string& price : published[j].prices) {
        disjoint = disjoint && published[i].prices.count(price) == 0;
      }
      if (disjoint) {
        victim = published[i].frame_index;
        victim_symbol = published[i].symbol;
      }
      break;
    }
  }
  ASSERT_GT(victim, 0u);

  std::vector<RawFrame> lossy;
  for (size_t i = 0; i < frames.size(); ++i) {
    if (i != victim) lossy.push_back(frames[i]);
  }
  testing::Renumber(lossy);  // lost by the venue, not between ingest and us
  auto [decoder, sink, errors] = testing::DecodeWith("kraken", lossy);
  EXPECT_THAT(errors, ::testing::IsEmpty());
  EXPECT_EQ(decoder->stats().checksum_mismatches, 1u);
  ASSERT_EQ(sink.statuses.size(), 2u);
  EXPECT_EQ(sink.statuses[0].kind(), pb::VenueStatus::KIND_CHECKSUM_MISMATCH);
  EXPECT_EQ(sink.statuses[1].kind(), pb::VenueStatus::KIND_RESYNCING);
  EXPECT_EQ(sink.statuses[0].origin().symbol(), victim_symbol);
  const uint64_t mismatch_seq = sink.statuses[0].origin().frame_seq();
  for (const pb::BookUpdate& update : sink.book_updates) {
    if (update.origin().symbol() == victim_symbol) {
      EXPECT_LT(update.origin().frame_seq(), mismatch_seq) << "published a known-wrong book";
    }
  }
  EXPECT_EQ(decoder->TopLevels(victim_symbol, 10).status().code(),
            absl::StatusCode::kUnavailable);
  ASSERT_EQ(decoder->PendingResyncs().size(), 1u);
  EXPECT_EQ(decoder->PendingResyncs()[0].depth, 1000);
  // Every other update is still verified: 4269 minus the dropped one, minus
  // the mismatch, minus the victim's updates held back while it resyncs.
  const DecoderStats& stats = decoder->stats();
  EXPECT_GT(stats.updates_dropped_out_of_sync, 0u);
  EXPECT_EQ(stats.checksums_verified + stats.checksum_mismatches + stats.updates_dropped_out_of_sync,
            4269u - 1u);
}

TEST(KrakenBook, LevelsPushedOutOfTheSubscribedDepthArePublishedAsDeletions) {
  auto decoder = MakeDecoder("kraken");
  CollectingSink sink;
  ASSERT_TRUE(decoder
                  ->Decode(WsFrame("K.1", 1,
                                   R"([1,{"as":[["10","1","1"],["11","1","1"]],)"
                                   R"("bs":[["9","1","1"],["8","1","1"]]},"book-2","ETH/EUR"])"),
                           sink)
                  .ok());
  ASSERT_TRUE(
      decoder->Decode(WsFrame("K.1", 2, R"([1,{"a":[["9.5","2","2"]]},"book-2","ETH/EUR"])"), sink)
          .ok());
  ASSERT_EQ(sink.book_updates.size(), 2u);
  const pb::BookUpdate& update = sink.book_updates[1];
  ASSERT_EQ(update.asks_size(), 2);
  EXPECT_EQ(update.asks(0).price().value(), "9.5");
  EXPECT_EQ(update.asks(0).size().value(), "2");
  EXPECT_EQ(update.asks(1).price().value(), "11");
  EXPECT_EQ(update.asks(1).size().value(), "0");
  auto top = decoder->TopLevels("ETH-EUR", 10);
  ASSERT_TRUE(top.ok());
  EXPECT_EQ(top->asks_size(), 2);
}

TEST(KrakenDecoder, RejectsBadInputWithAReasonNamingTheFrame) {
  DecoderOptions options;
  options.max_frame_bytes = 4096;
  auto decoder = MakeDecoder("kraken", options);
  CollectingSink sink;
  uint64_t seq = 0;
  auto reason = [&](const std::string& data) {
    absl::Status status = decoder->Decode(WsFrame("KRAKEN.ws.1", ++seq, data), sink);
    EXPECT_FALSE(status.ok()) << data;
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(status.message()),
                ::testing::StartsWith(absl::StrCat("kraken frame ", seq, " on KRAKEN.ws.1: ")));
    return std::string(DecodeErrorName(GetDecodeError(status)));
  };
  EXPECT_EQ(reason("hello"), "malformed_json");
  EXPECT_EQ(reason(""), "truncated");
  EXPECT_EQ(reason(R"([993,[["354.11000000","0.89594024","1618678142.557535","s","l",""]],"tra)"),
            "truncated");
  EXPECT_EQ(reason(R"({"event":"surprise"})"), "unknown_message");
  EXPECT_EQ(reason(R"({"event":"subscriptionStatus","status":"error","errorMessage":"no"})"),
            "venue_error");
  EXPECT_EQ(reason(R"([1,["1","2","3"],"spread","XBT/USD"])"), "unknown_channel");
  EXPECT_EQ(reason(R"([1,[["abc","1","1618678142.5","s","l",""]],"trade","XBT/USD"])"),
            "bad_value");
  EXPECT_EQ(reason(R"([1,[["1.0","1","1618678142.5","x","l",""]],"trade","XBT/USD"])"),
            "bad_value");
  EXPECT_EQ(reason(R"([1,[["1.0","1"]],"trade","XBT/USD"])"), "missing_field");
  EXPECT_EQ(reason(R"([1,{"a":[["1.0","1","1.0"]],"c":"x"},"book-10","XBT/USD"])"), "bad_value");
  EXPECT_EQ(reason(std::string(5000, ' ')), "oversized");
  EXPECT_TRUE(decoder
                  ->Decode(WsFrame("KRAKEN.ws.1", ++seq,
                                   R"({"event":"subscriptionStatus","status":"subscribed",)"
                                   R"("channelID":42,"pair":"ETH/USD"})"),
                           sink)
                  .ok());  // acks are fine...
  EXPECT_EQ(reason(R"([42,[["1.0","1","1618678142.5","s","l",""]],"trade","XBT/USD"])"),
            "unknown_channel");  // ...and then channel 42 is ETH/USD's, not XBT/USD's
  EXPECT_EQ(decoder->stats().trades, 0u) << "no trade from a rejected frame";
}

}  // namespace
}  // namespace sa::md
