#include "normalizer/batch_settler.h"

#include <gtest/gtest.h>

#include "common/clock.h"

namespace sa::normalizer {
namespace {

BatchSettler::Batch BatchWith(size_t frames, const std::string& venue) {
  md::ResyncRequest r;
  r.venue = venue;
  r.symbol = "BTC-USD";
  return {.frames = frames,
          .outputs = 3,
          .resyncs = {r},
          .checkpoints = {{.venue = venue, .key = "normalizer." + venue, .value = "p"}},
          .start_ns = MonotonicNanos()};
}

double Value(const char* name) { return obs::MetricsRegistry::Default().GetCounter(name, "").Value(); }

TEST(BatchSettler, AStoredBatchReleasesItsResyncsAndCheckpointsAndIsCounted) {
  BatchSettler settler;
  const double frames = Value("streamadmin_normalizer_frames_total");
  const double published = Value("streamadmin_normalizer_published_total");
  auto effects = settler.OnSettled(true, BatchWith(5, "kraken"));
  ASSERT_EQ(effects.resyncs.size(), 1u);
  EXPECT_EQ(effects.resyncs[0].venue, "kraken");
  ASSERT_EQ(effects.checkpoints.size(), 1u);
  EXPECT_EQ(effects.checkpoints[0].key, "normalizer.kraken");
  EXPECT_EQ(Value("streamadmin_normalizer_frames_total") - frames, 5);
  EXPECT_EQ(Value("streamadmin_normalizer_published_total") - published, 3);
}

TEST(BatchSettler, AFailedBatchReleasesNothingAndStopsEveryLaterCheckpoint) {
  BatchSettler settler;
  const double frames = Value("streamadmin_normalizer_frames_total");
  auto failed = settler.OnSettled(false, BatchWith(5, "kraken"));
  EXPECT_TRUE(failed.resyncs.empty());
  EXPECT_TRUE(failed.checkpoints.empty());
  EXPECT_FALSE(settler.checkpoints_allowed());
  EXPECT_EQ(Value("streamadmin_normalizer_frames_total"), frames);

  auto later = settler.OnSettled(true, BatchWith(2, "coinbase"));
  EXPECT_TRUE(later.checkpoints.empty());  // could claim frames of the failed batch
  ASSERT_EQ(later.resyncs.size(), 1u);     // its own frames are acked: its resyncs go out
  EXPECT_EQ(later.resyncs[0].venue, "coinbase");
}

TEST(BatchSettler, CandlesClosedByTheClockCountOnlyAsPublished) {
  BatchSettler settler;
  const double frames = Value("streamadmin_normalizer_frames_total");
  const double published = Value("streamadmin_normalizer_published_total");
  auto effects = settler.OnSettled(true, {.outputs = 2, .start_ns = MonotonicNanos()});
  EXPECT_TRUE(effects.resyncs.empty());
  EXPECT_EQ(Value("streamadmin_normalizer_frames_total"), frames);
  EXPECT_EQ(Value("streamadmin_normalizer_published_total") - published, 2);
}

}  // namespace
}  // namespace sa::normalizer
