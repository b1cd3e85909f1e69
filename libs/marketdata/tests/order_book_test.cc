#include "marketdata/order_book.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "venues/kraken/kraken_checksum.h"

namespace sa::md {
namespace {

std::vector<std::string> Prices(const std::vector<OrderBook::Level>& levels) {
  std::vector<std::string> out;
  for (const auto& level : levels) out.push_back(level.price);
  return out;
}

TEST(OrderBook, KeysLevelsByExactValueAndKeepsTheLatestText) {
  OrderBook book;
  ASSERT_TRUE(book.Set(BookSide::kBid, "1.50", "2").ok());
  ASSERT_TRUE(book.Set(BookSide::kBid, "1.5", "3.000").ok());  // same level
  ASSERT_TRUE(book.Set(BookSide::kBid, "1.49999999999", "1").ok());
  ASSERT_EQ(book.size(BookSide::kBid), 2u);
  const auto top = book.Top(BookSide::kBid, 5);
  EXPECT_EQ(top[0].price, "1.5");
  EXPECT_EQ(top[0].size, "3.000");
  EXPECT_EQ(top[1].price, "1.49999999999");
}

TEST(OrderBook, SortsBidsDownAsksUpAndRemovesZeroSizes) {
  OrderBook book;
  for (const char* p : {"10", "12", "11"}) ASSERT_TRUE(book.Set(BookSide::kAsk, p, "1").ok());
  for (const char* p : {"9", "7", "8"}) ASSERT_TRUE(book.Set(BookSide::kBid, p, "1").ok());
  EXPECT_THAT(Prices(book.Top(BookSide::kAsk, 10)), ::testing::ElementsAre("10", "11", "12"));
  EXPECT_THAT(Prices(book.Top(BookSide::kBid, 2)), ::testing::ElementsAre("9", "8"));
  ASSERT_TRUE(book.Set(BookSide::kAsk, "10.0", "0.000").ok());
  ASSERT_TRUE(book.Set(BookSide::kAsk, "99", "0").ok());  // absent: fine
  EXPECT_THAT(Prices(book.Top(BookSide::kAsk, 10)), ::testing::ElementsAre("11", "12"));
  EXPECT_FALSE(book.IsCrossed());
  ASSERT_TRUE(book.Set(BookSide::kBid, "11", "1").ok());
  EXPECT_TRUE(book.IsCrossed());
}

TEST(OrderBook, RejectsNonDecimalTextAndLeavesTheBookUnchanged) {
  OrderBook book;
  ASSERT_TRUE(book.Set(BookSide::kBid, "1", "1").ok());
  EXPECT_FALSE(book.Set(BookSide::kBid, "1e3", "1").ok());
  EXPECT_FALSE(book.Set(BookSide::kBid, "2", "-1").ok());
  EXPECT_FALSE(book.Set(BookSide::kBid, "1", "NaN").ok());
  EXPECT_EQ(book.size(BookSide::kBid), 1u);
  EXPECT_EQ(book.Top(BookSide::kBid, 1)[0].size, "1");
}

TEST(OrderBook, TruncateReportsTheLevelsItDrops) {
  OrderBook book;
  for (const char* p : {"1", "2", "3", "4"}) {
    ASSERT_TRUE(book.Set(BookSide::kBid, p, "1").ok());
    ASSERT_TRUE(book.Set(BookSide::kAsk, absl::StrCat(p, "0"), "1").ok());
  }
  std::vector<std::string> dropped;
  book.Truncate(2, [&](BookSide side, const OrderBook::Level& level) {
    dropped.push_back(absl::StrCat(side == BookSide::kBid ? "b" : "a", level.price));
  });
  EXPECT_THAT(dropped, ::testing::UnorderedElementsAre("b2", "b1", "a30", "a40"));
  EXPECT_EQ(book.size(BookSide::kBid), 2u);
  EXPECT_EQ(book.size(BookSide::kAsk), 2u);
}

// Kraken's documented example book: checksum 974947235.
// https://docs.kraken.com/api/docs/guides/spot-ws-book-v1
TEST(OrderBook, EmptiesALevelsDerivedTextWhenTheLevelIsSetAgainOrReused) {
  OrderBook book;
  ASSERT_TRUE(book.Set(BookSide::kAsk, "10", "1").ok());
  ASSERT_TRUE(book.Set(BookSide::kAsk, "11", "1").ok());
  book.ForEachLevel(BookSide::kAsk, 2, [](const OrderBook::Level& level) { level.derived = "cached"; });
  ASSERT_TRUE(book.Set(BookSide::kAsk, "10.0", "2").ok());  // same level, new text
  ASSERT_TRUE(book.Set(BookSide::kAsk, "11", "0").ok());    // removed: its slot is reused next
  ASSERT_TRUE(book.Set(BookSide::kBid, "9", "3").ok());
  const auto asks = book.Top(BookSide::kAsk, 10);
  ASSERT_EQ(asks.size(), 1u);
  EXPECT_EQ(asks[0].price, "10.0");
  EXPECT_EQ(asks[0].derived, "");
  const auto bids = book.Top(BookSide::kBid, 10);
  ASSERT_EQ(bids.size(), 1u);
  EXPECT_EQ(bids[0].size, "3");
  EXPECT_EQ(bids[0].derived, "");
}

TEST(KrakenChecksum, MatchesKrakensDocumentedExample) {
  OrderBook book;
  const char* asks[][2] = {{"0.05005", "0.00000500"}, {"0.05010", "0.00000500"},
                           {"0.05015", "0.00000500"}, {"0.05020", "0.00000500"},
                           {"0.05025", "0.00000500"}, {"0.05030", "0.00000500"},
                           {"0.05035", "0.00000500"}, {"0.05040", "0.00000500"},
                           {"0.05045", "0.00000500"}, {"0.05050", "0.00000500"}};
  const char* bids[][2] = {{"0.05000", "0.00000500"}, {"0.04995", "0.00000500"},
                           {"0.04990", "0.00000500"}, {"0.04980", "0.00000500"},
                           {"0.04975", "0.00000500"}, {"0.04970", "0.00000500"},
                           {"0.04965", "0.00000500"}, {"0.04960", "0.00000500"},
                           {"0.04955", "0.00000500"}, {"0.04950", "0.00000500"}};
  for (const auto& level : asks) ASSERT_TRUE(book.Set(BookSide::kAsk, level[0], level[1]).ok());
  for (const auto& level : bids) ASSERT_TRUE(book.Set(BookSide::kBid, level[0], level[1]).ok());
  EXPECT_EQ(KrakenBookChecksum(book), 974947235u);
}

// Texts longer than the checksum's buffer (sizes with hundreds of trailing
// zeros) give the CRC of the same stripped string, fed in several calls.
TEST(KrakenChecksum, LongTextsGiveTheCrcOfTheWholeStrippedString) {
  OrderBook book;
  std::string expected_text;
  const std::string zeros(300, '0');        // several texts to one crc32() call
  const std::string long_zeros(1100, '0');  // one text longer than the buffer
  for (int i = 0; i < 10; ++i) {
    const std::string ask = absl::StrCat("0.0", 6000 + i);
    const std::string size = absl::StrCat("0.", i + 1, zeros);
    ASSERT_TRUE(book.Set(BookSide::kAsk, ask, size).ok());
    expected_text += absl::StrCat(6000 + i, i + 1, zeros);
  }
  for (int i = 0; i < 10; ++i) {
    const std::string bid = absl::StrCat("0.0", 5999 - i);
    const std::string size = absl::StrCat("00", i + 1, ".5", long_zeros);
    ASSERT_TRUE(book.Set(BookSide::kBid, bid, size).ok());
    expected_text += absl::StrCat(5999 - i, i + 1, "5", long_zeros);
  }
  const uLong expected = crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(expected_text.data()),
                               static_cast<uInt>(expected_text.size()));
  EXPECT_EQ(KrakenBookChecksum(book), static_cast<uint32_t>(expected));
}

}  // namespace
}  // namespace sa::md
