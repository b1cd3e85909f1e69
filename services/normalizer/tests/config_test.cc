#include "normalizer/config.h"

#include <gtest/gtest.h>

namespace sa::normalizer {
namespace {

TEST(NormalizerConfig, DefaultsAreValidAndConsumeEveryRawVenue) {
  auto c = DefaultConfig();
  EXPECT_TRUE(ValidateConfig(c).ok());
  EXPECT_EQ(c.consumer().stream(), "MD_RAW");
  EXPECT_EQ(c.consumer().durable(), "normalizer");
  EXPECT_EQ(c.consumer().filter_subject(), "md.raw.>");
  EXPECT_EQ(CheckpointKey(c, "kraken"), "normalizer.kraken");
  EXPECT_EQ(CheckpointBucket(c), "NORMALIZER_BOOKS");
}

TEST(NormalizerConfig, RejectsACandleIntervalOtherThan1sOr1mNamingTheKey) {
  auto c = DefaultConfig();
  c.add_candle_intervals("5m");
  absl::Status st = ValidateConfig(c);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "key 'candle_intervals[2]': '5m' is not 1s or 1m");
}

TEST(NormalizerConfig, MaxMessageBytesIsZeroOrWithinBounds) {
  auto c = DefaultConfig();
  c.set_max_message_bytes(4095);
  EXPECT_EQ(ValidateConfig(c).code(), absl::StatusCode::kInvalidArgument);
  c.set_max_message_bytes((64u << 20) + 1);
  EXPECT_EQ(ValidateConfig(c).code(), absl::StatusCode::kInvalidArgument);
  c.set_max_message_bytes(4096);
  EXPECT_TRUE(ValidateConfig(c).ok());
  c.set_max_message_bytes(0);
  EXPECT_TRUE(ValidateConfig(c).ok());
  EXPECT_EQ(MaxMessageBytes(c), 512u << 10);
}

TEST(NormalizerConfig, UnsetKeysReadAsTheirDefaults) {
  streamadmin::config::v1::NormalizerConfig c;
  EXPECT_EQ(MaxFrameBytes(c), 32u << 20);
  EXPECT_EQ(MaxMessageBytes(c), 512u << 10);
  EXPECT_EQ(CheckpointInterval(c), absl::Seconds(5));
  EXPECT_EQ(CheckpointBucket(c), "NORMALIZER_BOOKS");
  EXPECT_EQ(CheckpointMaxReplay(c), 500000u);
  EXPECT_TRUE(CandleIntervals(c).empty());
}

TEST(NormalizerConfig, CandleIntervalsHaveTheirLengths) {
  auto iv = CandleIntervals(DefaultConfig());
  ASSERT_EQ(iv.size(), 2u);
  EXPECT_EQ(iv[0].name, "1s");
  EXPECT_EQ(iv[0].length_ns, 1'000'000'000);
  EXPECT_EQ(iv[1].name, "1m");
  EXPECT_EQ(iv[1].length_ns, 60'000'000'000);
}

}  // namespace
}  // namespace sa::normalizer
