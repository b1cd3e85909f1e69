#include "normalizer/grpc_service.h"

#include <gtest/gtest.h>

#include <thread>

#include "fake_decoder.h"

namespace sa::normalizer {
namespace {

using testing::FakeDecoder;
using testing::FakeVenues;
using testing::Gate;
using testing::RawFrames;
namespace pb = streamadmin::normalizer::v1;

pb::GetBookResponse GetBook(NormalizerService& s, const std::string& venue, const std::string& symbol,
                            grpc::StatusCode want = grpc::StatusCode::OK) {
  pb::GetBookRequest req;
  req.set_venue(venue);
  req.set_symbol(symbol);
  pb::GetBookResponse resp;
  grpc::Status st = s.GetBook(nullptr, &req, &resp);
  EXPECT_EQ(st.error_code(), want) << st.error_message();
  return resp;
}

TEST(NormalizerService, GetBookServesTheTopOfAKnownBook) {
  Pipeline p(FakeVenues());
  RawFrames f;
  f.Add("alpha", 1, "book BTC-USD 100").Add("alpha", 2, "book BTC-USD 101");
  p.Decode(f.Inputs(), absl::Now());
  NormalizerService s(p);
  auto resp = GetBook(s, "alpha", "BTC-USD");
  EXPECT_TRUE(resp.valid());
  EXPECT_EQ(resp.venue(), "alpha");
  ASSERT_EQ(resp.bids_size(), 1);
  EXPECT_EQ(resp.bids(0).price().value(), "101");
  EXPECT_EQ(resp.book_version(), 2u);
}

TEST(NormalizerService, GetBookIsNotFoundForAVenueOrBookNotSeenAndInvalidWhileResyncing) {
  Pipeline p(FakeVenues());
  RawFrames f;
  f.Add("alpha", 1, "book BTC-USD 100").Add("alpha", 2, "gap BTC-USD");
  p.Decode(f.Inputs(), absl::Now());
  NormalizerService s(p);
  GetBook(s, "nowhere", "BTC-USD", grpc::StatusCode::NOT_FOUND);
  GetBook(s, "alpha", "DOGE-USD", grpc::StatusCode::NOT_FOUND);
  auto resp = GetBook(s, "alpha", "BTC-USD");
  EXPECT_FALSE(resp.valid());
  EXPECT_EQ(resp.bids_size(), 0);
}

TEST(NormalizerService, ListGapsAndListVenuesReportWhatWasDecoded) {
  Pipeline p(FakeVenues());
  RawFrames f;
  f.Add("alpha", 1, "book BTC-USD 100").Add("alpha", 2, "gap BTC-USD").Add("beta", 3, "gap ETH-USD");
  p.Decode(f.Inputs(), absl::Now());
  NormalizerService s(p);
  pb::ListGapsRequest gaps_req;
  gaps_req.set_limit(1);
  pb::ListGapsResponse gaps;
  ASSERT_TRUE(s.ListGaps(nullptr, &gaps_req, &gaps).ok());
  ASSERT_EQ(gaps.events_size(), 1);
  EXPECT_EQ(gaps.events(0).origin().symbol(), "ETH-USD");  // newest first
  pb::ListVenuesRequest venues_req;
  pb::ListVenuesResponse venues;
  ASSERT_TRUE(s.ListVenues(nullptr, &venues_req, &venues).ok());
  ASSERT_EQ(venues.venues_size(), 2);
  EXPECT_EQ(venues.venues(0).venue(), "alpha");
  EXPECT_EQ(venues.venues(0).frames(), 2u);
  EXPECT_EQ(venues.venues(0).books(), 1u);
  EXPECT_EQ(venues.venues(0).books_resyncing(), 1u);
  EXPECT_EQ(venues.venues(0).book_updates(), 1u);
}

// The decoder thread is held inside the second frame of a batch; the reads
// answer meanwhile, with the book as the first frame left it.
TEST(NormalizerService, GetBookAnswersWhileABatchIsBeingDecoded) {
  Gate gate;
  Pipeline p(FakeVenues(&gate));
  NormalizerService s(p);
  RawFrames f;
  f.Add("alpha", 1, "book BTC-USD 100").Add("beta", 2, "block").Add("alpha", 3, "book BTC-USD 200");
  std::thread decoder([&] { p.Decode(f.Inputs(), absl::Now()); });
  gate.AwaitEntered();

  auto during = GetBook(s, "alpha", "BTC-USD");
  EXPECT_TRUE(during.valid());
  ASSERT_EQ(during.bids_size(), 1);
  EXPECT_EQ(during.bids(0).price().value(), "100");
  pb::ListGapsRequest gaps_req;
  pb::ListGapsResponse gaps;
  EXPECT_TRUE(s.ListGaps(nullptr, &gaps_req, &gaps).ok());

  gate.Release();
  decoder.join();
  auto after = GetBook(s, "alpha", "BTC-USD");
  ASSERT_EQ(after.bids_size(), 1);
  EXPECT_EQ(after.bids(0).price().value(), "200");
}

}  // namespace
}  // namespace sa::normalizer
