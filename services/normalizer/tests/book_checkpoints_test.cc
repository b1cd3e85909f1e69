#include "normalizer/book_checkpoints.h"

#include <gtest/gtest.h>

namespace sa::normalizer {
namespace {

namespace mdpb = streamadmin::marketdata::v1;

mdpb::BookCheckpoint CheckpointWithLevels(int levels) {
  mdpb::BookCheckpoint c;
  c.set_venue("kraken");
  c.set_raw_stream_seq(1234);
  auto* b = c.add_books();
  b->set_symbol("BTC-USD");
  for (int i = 0; i < levels; ++i) {
    auto* l = b->add_bids();
    l->set_price(std::to_string(50000 - i) + ".1");
    l->set_size("0.5");
  }
  return c;
}

TEST(BookCheckpoints, ASmallCheckpointIsStoredPlainAndReadsBack) {
  auto value = EncodeCheckpoint(CheckpointWithLevels(3));
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ((*value)[0], 'p');
  auto back = DecodeCheckpoint(*value, 32 << 20);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->raw_stream_seq(), 1234u);
  EXPECT_EQ(back->books(0).bids_size(), 3);
}

TEST(BookCheckpoints, ALargeCheckpointIsCompressedAndReadsBack) {
  auto c = CheckpointWithLevels(10000);
  ASSERT_GT(c.ByteSizeLong(), kCheckpointCompressAbove);
  auto value = EncodeCheckpoint(c);
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ((*value)[0], 'z');
  EXPECT_LT(value->size(), c.ByteSizeLong());
  auto back = DecodeCheckpoint(*value, 32 << 20);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->books(0).bids_size(), 10000);
}

TEST(BookCheckpoints, ACheckpointOverTheLimitEvenCompressedIsRefused) {
  mdpb::BookCheckpoint c;
  std::string noise;
  uint64_t x = 88172645463325252ull;
  for (size_t i = 0; i < kCheckpointMaxBytes + 4096; ++i) {  // xorshift: incompressible
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    noise.push_back(static_cast<char>(x));
  }
  c.add_books()->set_symbol(noise);
  EXPECT_EQ(EncodeCheckpoint(c).status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(BookCheckpoints, AValueWithoutItsPrefixIsUnreadable) {
  EXPECT_EQ(DecodeCheckpoint("", 1 << 20).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeCheckpoint("x" + CheckpointWithLevels(1).SerializeAsString(), 1 << 20).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeCheckpoint("z not zstd", 1 << 20).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(CheckpointSchedule, IsDueOncePerIntervalCountedFromTheLastTime) {
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  CheckpointSchedule s(true, absl::Seconds(5), t0);
  EXPECT_FALSE(s.Due(t0 + absl::Seconds(4)));
  EXPECT_TRUE(s.Due(t0 + absl::Seconds(6)));
  EXPECT_FALSE(s.Due(t0 + absl::Seconds(10)));
  EXPECT_TRUE(s.Due(t0 + absl::Seconds(11)));
}

TEST(CheckpointSchedule, IsNeverDueWhenDisabled) {
  CheckpointSchedule s(false, absl::Seconds(1), absl::FromUnixSeconds(0));
  EXPECT_FALSE(s.Due(absl::FromUnixSeconds(100)));
}

}  // namespace
}  // namespace sa::normalizer
