#include "normalizer/pipeline.h"

#include <gtest/gtest.h>

#include <thread>

#include "common/clock.h"
#include "fake_decoder.h"
#include "normalizer/book_checkpoints.h"

namespace sa::normalizer {
namespace {

using testing::FakeDecoder;
using testing::FakeVenues;
using testing::Gate;
using testing::RawFrames;
namespace mdpb = streamadmin::marketdata::v1;

std::string HeaderOf(const bus::Message& m, const std::string& key) {
  for (const auto& [k, v] : m.headers)
    if (k == key) return v;
  return "";
}

// What a checkpoint restores: one BTC-USD book, version 4, a bid of 1 at 99.
absl::Status ImportOneBook(md::Decoder& d) {
  mdpb::BookCheckpoint c;
  auto* b = c.add_books();
  b->set_symbol("BTC-USD");
  b->set_version(4);
  auto* l = b->add_bids();
  l->set_price("99");
  l->set_size("1");
  return d.ImportBooks(c);
}

TEST(Pipeline, DecodesABatchIntoOutputsInFrameOrder) {
  Pipeline p(FakeVenues());
  RawFrames f;
  f.Add("alpha", 1, "book BTC-USD 100").Add("alpha", 2, "trade BTC-USD 9 1000").Add("beta", 3, "trade ETH-USD - 5");
  DecodedBatch b = p.Decode(f.Inputs(), absl::Now());
  EXPECT_EQ(b.frames, 3u);
  ASSERT_EQ(b.outputs.size(), 3u);
  EXPECT_EQ(b.outputs[0].subject, "md.book.alpha.BTC-USD");
  EXPECT_EQ(b.outputs[0].msg_id, "book:md.raw.alpha:1:0");
  EXPECT_EQ(b.outputs[1].msg_id, "trade:alpha:BTC-USD:9");
  EXPECT_EQ(b.outputs[2].msg_id, "trade:md.raw.beta:3:0");
  auto venues = p.Venues();
  ASSERT_EQ(venues.size(), 2u);
  EXPECT_EQ(venues[0].venue, "alpha");
  EXPECT_EQ(venues[0].frames, 2u);
  EXPECT_EQ(venues[0].trades, 1u);
  EXPECT_EQ(venues[0].book_updates, 1u);
  EXPECT_EQ(venues[0].symbols, std::vector<std::string>{"BTC-USD"});
  EXPECT_EQ(p.Totals().frames, 3u);
}

TEST(Pipeline, OutputIdsFollowTheRawFrameMsgIdWhenItHasOne) {
  Pipeline p(FakeVenues());
  RawFrames f;
  f.Add("alpha", 1, "book BTC-USD 100").Header("Nats-Msg-Id", "raw-abc");
  DecodedBatch b = p.Decode(f.Inputs(), absl::Now());
  ASSERT_EQ(b.outputs.size(), 1u);
  EXPECT_EQ(b.outputs[0].msg_id, "book:raw-abc:0");
}

TEST(Pipeline, AnUndecodableFrameIsDeadLetteredAfterWhatWasDecodedBeforeIt) {
  Pipeline p(FakeVenues());
  RawFrames f;
  f.Add("alpha", 1, "book BTC-USD 100").Add("alpha", 2, "bad").Header("Sa-Conn", "c1");
  DecodedBatch b = p.Decode(f.Inputs(), absl::Now());
  ASSERT_EQ(b.outputs.size(), 2u);
  const bus::Message& dlq = b.outputs[1];
  EXPECT_EQ(dlq.subject, "dlq.normalizer");
  EXPECT_EQ(dlq.msg_id, "dlq:normalizer:md.raw.alpha:2");
  EXPECT_EQ(dlq.data, "bad");
  EXPECT_EQ(HeaderOf(dlq, "Sa-Dlq-Reason"), "malformed_json");
  EXPECT_EQ(HeaderOf(dlq, "Sa-Dlq-Subject"), "md.raw.alpha");
  EXPECT_EQ(HeaderOf(dlq, "Sa-Conn"), "c1");  // the frame's own headers are kept
  EXPECT_EQ(p.Totals().decode_errors, 1u);
}

TEST(Pipeline, FramesOfAnUnknownVenueOrWithABadHeaderAreDeadLettered) {
  Pipeline p(FakeVenues());
  RawFrames f;
  f.Add("gamma", 1, "book BTC-USD 1").Add("alpha", 2, "book BTC-USD 1").Header("Sa-Kind", "carrier-pigeon");
  f.Add("alpha", 3, "abc").Header("Sa-Encoding", "rot13");
  DecodedBatch b = p.Decode(f.Inputs(), absl::Now());
  ASSERT_EQ(b.outputs.size(), 3u);
  EXPECT_EQ(HeaderOf(b.outputs[0], "Sa-Dlq-Reason"), "unknown_venue");
  EXPECT_EQ(HeaderOf(b.outputs[1], "Sa-Dlq-Reason"), "bad_header");
  EXPECT_EQ(HeaderOf(b.outputs[2], "Sa-Dlq-Reason"), "bad_encoding");
}

TEST(Pipeline, ARedeliveredOutOfOrderFrameIsSkippedNotDeadLettered) {
  Pipeline p(FakeVenues());
  RawFrames redelivered, first;
  redelivered.Add("alpha", 1, "old", /*delivery_count=*/2);
  EXPECT_TRUE(p.Decode(redelivered.Inputs(), absl::Now()).outputs.empty());
  EXPECT_EQ(p.Totals().decode_errors, 0u);
  first.Add("alpha", 2, "old", /*delivery_count=*/1);
  DecodedBatch b = p.Decode(first.Inputs(), absl::Now());
  ASSERT_EQ(b.outputs.size(), 1u);
  EXPECT_EQ(HeaderOf(b.outputs[0], "Sa-Dlq-Reason"), "out_of_order");
}

TEST(Pipeline, AGapIsListedNewestFirstAndAsksForAResync) {
  Pipeline p(FakeVenues());
  RawFrames f;
  f.Add("alpha", 1, "book BTC-USD 100").Add("alpha", 2, "gap BTC-USD").Add("beta", 3, "gap ETH-USD");
  DecodedBatch b = p.Decode(f.Inputs(), absl::Now());
  ASSERT_EQ(b.resyncs.size(), 2u);
  EXPECT_EQ(b.resyncs[0].symbol, "BTC-USD");
  auto gaps = p.RecentStatus(10);
  ASSERT_EQ(gaps.size(), 2u);
  EXPECT_EQ(gaps[0].origin().symbol(), "ETH-USD");
  EXPECT_EQ(gaps[1].origin().symbol(), "BTC-USD");
  EXPECT_EQ(p.RecentStatus(1).size(), 1u);
  EXPECT_EQ(p.TopLevels("alpha", "BTC-USD", 10).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(p.Venues()[0].books_resyncing, 1u);
}

TEST(Pipeline, ReadsOfAVenueNeverSeenAreNotFound) {
  Pipeline p(FakeVenues());
  EXPECT_EQ(p.TopLevels("alpha", "BTC-USD", 10).status().code(), absl::StatusCode::kNotFound);
}

TEST(Pipeline, CheckpointsAreReturnedWhenDueNotSaved) {
  Pipeline::Options o = FakeVenues();
  o.checkpoints_enabled = true;
  o.checkpoint_interval = absl::Seconds(5);
  o.checkpoint_key = [](const std::string& venue) { return "normalizer." + venue; };
  Pipeline p(std::move(o));
  RawFrames f1, f2;
  f1.Add("alpha", 10, "book BTC-USD 100");
  EXPECT_TRUE(p.Decode(f1.Inputs(), absl::Now()).checkpoints.empty());  // not due yet
  f2.Add("alpha", 11, "book BTC-USD 101");
  DecodedBatch b = p.Decode(f2.Inputs(), absl::Now() + absl::Seconds(6));
  ASSERT_EQ(b.checkpoints.size(), 1u);
  EXPECT_EQ(b.checkpoints[0].venue, "alpha");
  EXPECT_EQ(b.checkpoints[0].key, "normalizer.alpha");
  auto c = DecodeCheckpoint(b.checkpoints[0].value, 1 << 20);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->raw_stream_seq(), 11u);  // reflects every frame of the batch
  EXPECT_EQ(c->books(0).bids(0).price(), "101");
}

TEST(Pipeline, RestoredBooksAreServedAndTheFramesTheyHoldAreSkipped) {
  Pipeline::Options o = FakeVenues();
  std::vector<uint64_t> asked;
  o.restore_books = [&](const std::string& venue, uint64_t first_seq, md::Decoder& d) -> absl::StatusOr<uint64_t> {
    asked.push_back(first_seq);
    if (auto st = ImportOneBook(d); !st.ok()) return st;
    return 5;  // the books reflect MD_RAW up to 5
  };
  Pipeline p(std::move(o));
  RawFrames f;
  f.Add("alpha", 5, "book BTC-USD 1").Add("alpha", 6, "trade BTC-USD 1 1");
  DecodedBatch b = p.Decode(f.Inputs(), absl::Now());
  EXPECT_EQ(asked, std::vector<uint64_t>{5});
  ASSERT_EQ(b.outputs.size(), 1u);  // frame 5 is in the restored books
  EXPECT_EQ(b.outputs[0].subject, "md.trade.alpha.BTC-USD");
  auto top = p.TopLevels("alpha", "BTC-USD", 10);
  ASSERT_TRUE(top.ok()) << top.status();
  EXPECT_EQ(top->bids(0).price().value(), "99");
}

TEST(Pipeline, ABookIsUnavailableWhileItsVenueIsRestoredAndServedAfter) {
  Pipeline::Options o = FakeVenues();
  Gate restoring;
  o.restore_books = [&](const std::string&, uint64_t, md::Decoder& d) -> absl::StatusOr<uint64_t> {
    restoring.Enter();
    if (auto st = ImportOneBook(d); !st.ok()) return st;
    return 4;
  };
  Pipeline p(std::move(o));
  RawFrames f;
  f.Add("alpha", 5, "trade BTC-USD 1 1");
  std::thread decoder([&] { p.Decode(f.Inputs(), absl::Now()); });
  restoring.AwaitEntered();
  EXPECT_EQ(p.TopLevels("alpha", "BTC-USD", 10).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(p.TopLevels("beta", "BTC-USD", 10).status().code(), absl::StatusCode::kNotFound);
  restoring.Release();
  decoder.join();
  auto top = p.TopLevels("alpha", "BTC-USD", 10);
  ASSERT_TRUE(top.ok()) << top.status();
  EXPECT_EQ(top->bids(0).price().value(), "99");
}

TEST(Pipeline, AFailedRestoreStartsTheVenueWithEmptyBooks) {
  Pipeline::Options o = FakeVenues();
  o.restore_books = [](const std::string&, uint64_t, md::Decoder& d) -> absl::StatusOr<uint64_t> {
    mdpb::BookCheckpoint c;
    auto* b = c.add_books();
    b->set_symbol("BTC-USD");
    b->add_bids()->set_price("99");
    (void)d.ImportBooks(c);
    return absl::FailedPreconditionError("replay stopped");  // part of it imported
  };
  Pipeline p(std::move(o));
  RawFrames f;
  f.Add("alpha", 5, "trade BTC-USD 1 1");
  DecodedBatch b = p.Decode(f.Inputs(), absl::Now());
  EXPECT_EQ(b.outputs.size(), 1u);
  EXPECT_EQ(p.TopLevels("alpha", "BTC-USD", 10).status().code(), absl::StatusCode::kNotFound);
}

TEST(Pipeline, TheCandleClockClosesACandleWithoutALaterTrade) {
  Pipeline::Options o = FakeVenues();
  o.candle_intervals = {{"1s", 1'000'000'000}};
  Pipeline p(std::move(o));
  RawFrames f;
  f.Add("alpha", 1, "trade BTC-USD 1 5000000000");
  p.Decode(f.Inputs(), absl::Now());
  EXPECT_TRUE(p.CloseDueCandles(NowUnixNanos()).empty());  // within its second on the venue's clock
  auto closed = p.CloseDueCandles(NowUnixNanos() + 2'000'000'000);
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].subject, "md.candle.1s.alpha.BTC-USD");
  EXPECT_EQ(closed[0].msg_id, "candle:1s:alpha:BTC-USD:5000000000:c");
}

}  // namespace
}  // namespace sa::normalizer
