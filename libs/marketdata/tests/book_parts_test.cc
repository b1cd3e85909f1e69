#include "marketdata/book_parts.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "absl/strings/str_cat.h"

namespace sa::md {
namespace {

namespace pb = streamadmin::marketdata::v1;

pb::BookUpdate Snapshot(int levels_per_side) {
  pb::BookUpdate b;
  b.mutable_origin()->set_venue("coinbase");
  b.mutable_origin()->set_symbol("BTC-USD");
  b.set_snapshot(true);
  b.set_sequence(42);
  b.set_book_version(7);
  for (int i = 0; i < levels_per_side; ++i) {
    auto* bid = b.add_bids();
    bid->mutable_price()->set_value(absl::StrCat(60000 - i, ".", i % 100));
    bid->mutable_size()->set_value(absl::StrCat("0.", 1000 + i));
    auto* ask = b.add_asks();
    ask->mutable_price()->set_value(absl::StrCat(60001 + i, ".", i % 100));
    ask->mutable_size()->set_value(absl::StrCat("1.", 2000 + i));
  }
  return b;
}

// A subscriber that knows nothing of parts: replace on a snapshot, set (or
// remove at size 0) levels on a delta.
struct NaiveBook {
  std::map<std::string, std::string> bids, asks;
  void Apply(const pb::BookUpdate& u) {
    if (u.snapshot()) {
      bids.clear();
      asks.clear();
    }
    for (const auto& l : u.bids()) bids[l.price().value()] = l.size().value();
    for (const auto& l : u.asks()) asks[l.price().value()] = l.size().value();
  }
};

TEST(SplitBookSnapshot, ASmallSnapshotStaysWhole) {
  pb::BookUpdate s = Snapshot(10);
  auto parts = SplitBookSnapshot(s, 512 * 1024);
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0].SerializeAsString(), s.SerializeAsString());
}

TEST(SplitBookSnapshot, ADeepBookBecomesPartsUnderTheLimitThatANaiveSubscriberReassembles) {
  pb::BookUpdate s = Snapshot(30000);  // ~1.6 MB, as deep as Coinbase's BTC-USD
  ASSERT_GT(s.ByteSizeLong(), 1u << 20);
  const size_t limit = 256 * 1024;
  auto parts = SplitBookSnapshot(s, limit);
  ASSERT_GT(parts.size(), 4u);
  NaiveBook naive;
  for (size_t i = 0; i < parts.size(); ++i) {
    const auto& p = parts[i];
    EXPECT_LE(p.ByteSizeLong(), limit) << "part " << i + 1;
    EXPECT_EQ(p.snapshot(), i == 0);
    EXPECT_EQ(p.snapshot_part(), i + 1);
    EXPECT_EQ(p.snapshot_parts(), parts.size());
    EXPECT_EQ(p.sequence(), 42u);
    EXPECT_EQ(p.book_version(), 7u);
    EXPECT_EQ(p.origin().symbol(), "BTC-USD");
    naive.Apply(p);
    if (i == 0) {  // the top of book is right from the first part on
      ASSERT_GT(p.bids_size(), 0);
      ASSERT_GT(p.asks_size(), 0);
      EXPECT_EQ(p.bids(0).price().value(), s.bids(0).price().value());
      EXPECT_EQ(p.asks(0).price().value(), s.asks(0).price().value());
    }
  }
  NaiveBook whole;
  whole.Apply(s);
  EXPECT_EQ(naive.bids, whole.bids);
  EXPECT_EQ(naive.asks, whole.asks);
  // Levels keep their order: concatenating the parts gives the snapshot's sides.
  int b = 0, a = 0;
  for (const auto& p : parts) {
    for (const auto& l : p.bids()) EXPECT_EQ(l.price().value(), s.bids(b++).price().value());
    for (const auto& l : p.asks()) EXPECT_EQ(l.price().value(), s.asks(a++).price().value());
  }
  EXPECT_EQ(b, s.bids_size());
  EXPECT_EQ(a, s.asks_size());
}

TEST(SplitBookSnapshot, OneSidedAndHugeLevelsStillSplit) {
  pb::BookUpdate s = Snapshot(0);
  for (int i = 0; i < 3; ++i) s.add_asks()->mutable_price()->set_value(std::string(3000, '1'));
  auto parts = SplitBookSnapshot(s, 1024);  // every level is bigger than the limit
  ASSERT_EQ(parts.size(), 3u);
  for (const auto& p : parts) EXPECT_EQ(p.asks_size(), 1);
  EXPECT_TRUE(parts[0].snapshot());
}

}  // namespace
}  // namespace sa::md
