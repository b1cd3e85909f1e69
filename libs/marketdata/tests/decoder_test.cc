// What every decoder shares: the registry, frame checks, connection loss, and
// robustness against garbage.
#include <random>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "marketdata/decode_error.h"
#include "marketdata/decoder_registry.h"
#include "marketdata/json_walk.h"
#include "test_util.h"

namespace sa::md {
namespace {

using testing::CollectingSink;
using testing::DecodeAll;
using testing::LoadFrames;
using testing::MakeDecoder;

struct Venue {
  const char* name;
  const char* file;
};
constexpr Venue kVenues[] = {{"kraken", "kraken.jsonl.zst"},
                             {"binance", "binance.jsonl.zst"},
                             {"coinbase", "coinbase-advanced-trade.jsonl.zst"},
                             {"coinbase-exchange", "coinbase-exchange.jsonl.zst"}};

TEST(DecoderRegistry, HasEveryBuiltinVenue) {
  EXPECT_THAT(DecoderRegistry::Global().Names(),
              ::testing::ElementsAre("binance", "coinbase", "coinbase-exchange", "kraken"));
  for (const Venue& venue : kVenues) {
    auto decoder = DecoderRegistry::Global().Create(venue.name);
    ASSERT_TRUE(decoder.ok()) << decoder.status();
    EXPECT_EQ((*decoder)->venue(), venue.name);
  }
}

TEST(DecoderRegistry, UnknownVenueIsNotFoundAndNamesTheKnownOnes) {
  auto decoder = DecoderRegistry::Global().Create("bitmex");
  EXPECT_EQ(decoder.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(decoder.status().message()), ::testing::HasSubstr("kraken"));
}

TEST(DecoderRegistry, RefusesASecondDecoderUnderTheSameName) {
  DecoderRegistry registry;
  RegisterBuiltinDecoders(registry);
  EXPECT_EQ(registry.Names().size(), 4u);
  absl::Status status = registry.Register(
      "kraken", [](const DecoderOptions&) -> std::unique_ptr<Decoder> { return nullptr; });
  EXPECT_EQ(status.code(), absl::StatusCode::kAlreadyExists);
}

TEST(Decoder, FrameSeqJumpResyncsEveryBookOfThatConnection) {
  std::vector<RawFrame> frames = LoadFrames("kraken.jsonl.zst", "kraken");
  size_t cut = frames.size() / 2;
  while (frames[cut].conn != "KRAKEN.ws.50") ++cut;
  const uint64_t lost_seq = frames[cut].frame_seq;
  frames.erase(frames.begin() + static_cast<long>(cut));  // lost between ingest and decoder
  auto [decoder, sink, errors] = testing::DecodeWith("kraken", frames, {.keep_book_updates = false});
  EXPECT_THAT(errors, ::testing::IsEmpty());
  EXPECT_EQ(decoder->stats().gaps, 10u);  // the 10 books fed by KRAKEN.ws.50
  EXPECT_EQ(decoder->stats().checksum_mismatches, 0u) << "caught before any checksum";
  ASSERT_EQ(sink.statuses.size(), 20u);
  EXPECT_EQ(sink.statuses[0].kind(), pb::VenueStatus::KIND_GAP);
  EXPECT_EQ(sink.statuses[0].expected_sequence(), lost_seq);
  EXPECT_EQ(sink.statuses[0].received_sequence(), lost_seq + 1);
  EXPECT_EQ(sink.statuses[1].kind(), pb::VenueStatus::KIND_RESYNCING);
  EXPECT_EQ(decoder->PendingResyncs().size(), 10u);
}

TEST(Decoder, FrameSeqThatDoesNotAdvanceIsRejectedAsOutOfOrder) {
  auto decoder = MakeDecoder("kraken");
  CollectingSink sink;
  const RawFrame heartbeat = testing::WsFrame("K.1", 7, R"({"event":"heartbeat"})");
  ASSERT_TRUE(decoder->Decode(heartbeat, sink).ok());
  absl::Status status = decoder->Decode(heartbeat, sink);
  EXPECT_EQ(GetDecodeError(status), DecodeError::kOutOfOrder) << status;
  EXPECT_THAT(std::string(status.message()), ::testing::HasSubstr("kraken frame 7 on K.1"));
  // frame_seq 0 means "unknown": not checked.
  EXPECT_TRUE(decoder->Decode(testing::WsFrame("K.1", 0, R"({"event":"heartbeat"})"), sink).ok());
}

TEST(Decoder, FrameSeqOneAgainMeansARestartedConnection) {
  auto decoder = MakeDecoder("kraken");
  CollectingSink sink;
  const std::string snapshot =
      R"([7,{"as":[["5.0","1.0","1.1"]],"bs":[["4.0","2.0","1.2"]]},"book-10","XBT/USD"])";
  ASSERT_TRUE(decoder->Decode(testing::WsFrame("K.1", 1, snapshot), sink).ok());
  ASSERT_TRUE(decoder->Decode(testing::WsFrame("K.1", 2, R"({"event":"heartbeat"})"), sink).ok());
  ASSERT_TRUE(decoder->Decode(testing::WsFrame("K.1", 1, R"({"event":"heartbeat"})"), sink).ok());
  EXPECT_THAT(sink.StatusKinds(), ::testing::ElementsAre(pb::VenueStatus::KIND_RESYNCING));
  EXPECT_THAT(sink.statuses[0].detail(), ::testing::HasSubstr("restarted"));
  ASSERT_TRUE(decoder->Decode(testing::WsFrame("K.1", 2, snapshot), sink).ok());
  EXPECT_EQ(sink.statuses.back().kind(), pb::VenueStatus::KIND_RESYNCED);
  EXPECT_TRUE(decoder->TopLevels("BTC-USD", 1).ok());
}

TEST(JsonWalker, ReadsEveryValueOrNamesTheError) {
  JsonWalker walker;
  absl::StatusOr<size_t> n = walker.Walk(R"({"a":[1,"x\n",true,null],"b":{"c":2.5e3}})");
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 5u);
  EXPECT_EQ(*walker.Walk("42"), 1u);
  EXPECT_FALSE(walker.Walk(R"({"a":[1,2)").ok());
  EXPECT_FALSE(walker.Walk(R"({"a":tru})").ok());
}

TEST(Decoder, ConnectionLossResyncsItsBooksAndOnlyThose) {
  auto decoder = MakeDecoder("coinbase-exchange");
  CollectingSink sink;
  sink.keep_book_updates = false;
  EXPECT_THAT(DecodeAll(*decoder, LoadFrames("coinbase-exchange.jsonl.zst", "coinbase-exchange"),
                        sink),
              ::testing::IsEmpty());
  decoder->OnConnectionLost("COINBASE.ws.99", "unrelated", sink);
  EXPECT_THAT(sink.statuses, ::testing::IsEmpty());
  decoder->OnConnectionLost("COINBASE.ws.28", "closed by peer", sink);
  EXPECT_EQ(sink.statuses.size(), 10u);
  for (const pb::VenueStatus& status : sink.statuses) {
    EXPECT_EQ(status.kind(), pb::VenueStatus::KIND_RESYNCING);
    EXPECT_THAT(status.detail(), ::testing::HasSubstr("closed by peer"));
  }
  ASSERT_EQ(sink.resyncs.size(), 10u);
  EXPECT_EQ(sink.resyncs[0].reason, "connection_lost");
  EXPECT_EQ(decoder->TopLevels("SKL-USD", 1).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(decoder->TopLevels("XYZ-USD", 1).status().code(), absl::StatusCode::kNotFound);
}

TEST(Decoder, HttpBodiesItDoesNotNeedAreSkippedOrRejectedNeverMisread) {
  auto decoder = MakeDecoder("binance");
  CollectingSink sink;
  RawFrame frame;
  frame.conn = "B.http";
  frame.kind = FrameKind::kHttp;
  frame.url = "https://api.binance.com/api/v3/ticker/price";
  frame.data = R"({"symbol":"BTCUSDT","price":"1.0"})";
  EXPECT_EQ(GetDecodeError(decoder->Decode(frame, sink)), DecodeError::kUnsupportedFrame);
}

// Truncations and byte flips of real frames: every result is OK or a decode
// error with a reason; no crash, no exception (run it under SA_SANITIZE too).
TEST(Decoder, SurvivesTruncatedAndCorruptedRecordingFrames) {
  std::mt19937 rng(12345);
  for (const Venue& venue : kVenues) {
    SCOPED_TRACE(venue.name);
    std::vector<RawFrame> frames = LoadFrames(venue.file, venue.name);
    auto decoder = MakeDecoder(venue.name);
    CollectingSink sink;
    sink.keep_book_updates = false;
    size_t errors = 0, tried = 0;
    for (size_t i = 0; i < frames.size() && tried < 3000; ++i) {
      RawFrame frame = frames[i];
      if (frame.data.size() > 100000) continue;
      if (i % 3 == 1) {
        frame.data.resize(rng() % frame.data.size());
      } else if (i % 3 == 2) {
        for (int flips = 0; flips < 3; ++flips) {
          frame.data[rng() % frame.data.size()] = static_cast<char>(rng() % 256);
        }
      }
      ReserveJsonPadding(frame.data);
      ++tried;
      absl::Status status = decoder->Decode(frame, sink);
      if (!status.ok()) {
        ++errors;
        EXPECT_NE(GetDecodeError(status), DecodeError::kNone) << status;
        EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
      }
    }
    EXPECT_GT(errors, tried / 3) << "corrupted frames must not pass silently";
    EXPECT_EQ(decoder->stats().errors, errors);
  }
}

TEST(DecodeError, NamesAreStableLabels) {
  EXPECT_EQ(DecodeErrorName(DecodeError::kMalformedJson), "malformed_json");
  EXPECT_EQ(DecodeErrorName(DecodeError::kOversized), "oversized");
  absl::Status status = MakeDecodeError(DecodeError::kOutOfOrder, "x");
  EXPECT_EQ(GetDecodeError(status), DecodeError::kOutOfOrder);
  EXPECT_EQ(GetDecodeError(absl::InternalError("y")), DecodeError::kNone);
  EXPECT_EQ(GetDecodeError(absl::OkStatus()), DecodeError::kNone);
}

}  // namespace
}  // namespace sa::md
