// IngestProbe: a venue's series exist (at 0) from its first frame, the dead
// letter counter from the start, and the frames held by a pause are the
// gauge itself.
#include "ingest/probe.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace sa::ingest {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(IngestProbe, SeriesAppearWithTheirVenueAndCountsAreReadBack) {
  obs::MetricsRegistry r;
  IngestProbe probe(r);
  std::string text = r.RenderPrometheus();
  EXPECT_THAT(text, HasSubstr("streamadmin_ingest_dead_letters_total 0"));
  EXPECT_THAT(text, Not(HasSubstr("venue=\"kraken\"")));
  IngestProbe::Venue& kraken = probe.ForVenue("kraken");
  EXPECT_EQ(&probe.ForVenue("kraken"), &kraken);  // registered once
  kraken.frames.Inc();
  kraken.bytes.Inc(512);
  text = r.RenderPrometheus();
  EXPECT_THAT(text, HasSubstr("streamadmin_ingest_published_frames_total{venue=\"kraken\"} 1"));
  EXPECT_THAT(text, HasSubstr("streamadmin_ingest_published_bytes_total{venue=\"kraken\"} 512"));
  EXPECT_THAT(text, HasSubstr("streamadmin_ingest_publish_errors_total{venue=\"kraken\"} 0"));
}

TEST(IngestProbe, HeldFramesFromManyThreads) {
  obs::MetricsRegistry r;
  IngestProbe probe(r);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&probe] {
      for (int i = 0; i < 1000; ++i) probe.HoldFrame();
      for (int i = 0; i < 999; ++i) probe.ReleaseFrame();
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(probe.held(), 4);
  EXPECT_THAT(r.RenderPrometheus(), HasSubstr("streamadmin_ingest_frames_held_by_pause 4"));
}

}  // namespace
}  // namespace sa::ingest
