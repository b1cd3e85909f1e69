// NormalizerProbe: a venue's series exist from its first frame (increase()
// sees the first dead letter), and what ListVenues/Details report as decode
// errors is read from the same counters.
#include "normalizer/probe.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fake_decoder.h"
#include "normalizer/pipeline.h"

namespace sa::normalizer {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(NormalizerProbe, AVenuesDecodeErrorReasonsAreThereAtZeroFromItsFirstUse) {
  obs::MetricsRegistry r;
  NormalizerProbe probe(r);
  EXPECT_THAT(r.RenderPrometheus(), HasSubstr("streamadmin_normalizer_frames_total 0"));
  EXPECT_THAT(r.RenderPrometheus(), Not(HasSubstr("venue=\"alpha\"")));
  NormalizerProbe::Venue& alpha = probe.ForVenue("alpha");
  EXPECT_EQ(&probe.ForVenue("alpha"), &alpha);
  const std::string text = r.RenderPrometheus();
  for (const char* reason : {"malformed_json", "out_of_order", "unsupported_frame"})
    EXPECT_THAT(text, HasSubstr(std::string("streamadmin_normalizer_decode_errors_total{venue=\"alpha\",reason=\"") +
                                reason + "\"} 0"));
  EXPECT_THAT(text, HasSubstr("streamadmin_normalizer_books_resyncing{venue=\"alpha\"} 0"));
  EXPECT_EQ(probe.decode_errors(alpha), 0u);
}

TEST(NormalizerProbe, DeadLettersSumOverReasonsAndVenues) {
  obs::MetricsRegistry r;
  NormalizerProbe probe(r);
  NormalizerProbe::Venue& alpha = probe.ForVenue("alpha");
  probe.DeadLetter(alpha, "malformed_json");
  probe.DeadLetter(alpha, "bad_header");  // not a decoder reason: registered on its first use
  probe.DeadLetter(probe.ForVenue("gamma"), "unknown_venue");
  EXPECT_EQ(probe.decode_errors(alpha), 2u);
  EXPECT_EQ(probe.decode_errors(), 3u);
  const std::string text = r.RenderPrometheus();
  EXPECT_THAT(text, HasSubstr("streamadmin_normalizer_decode_errors_total{venue=\"alpha\",reason=\"bad_header\"} 1"));
  EXPECT_THAT(text,
              HasSubstr("streamadmin_normalizer_decode_errors_total{venue=\"gamma\",reason=\"unknown_venue\"} 1"));
}

TEST(NormalizerProbe, ResyncsAndCheckpointsAreCountedByVenueAndLabel) {
  obs::MetricsRegistry r;
  NormalizerProbe probe(r);
  NormalizerProbe::Venue& alpha = probe.ForVenue("alpha");
  probe.ResyncRequested(alpha, "gap");
  probe.ResyncRequested(alpha, "gap");
  probe.Checkpoint(alpha, "saved");
  const std::string text = r.RenderPrometheus();
  EXPECT_THAT(text, HasSubstr("streamadmin_normalizer_resync_requests_total{venue=\"alpha\",reason=\"gap\"} 2"));
  EXPECT_THAT(text, HasSubstr("streamadmin_normalizer_book_checkpoints_total{venue=\"alpha\",outcome=\"saved\"} 1"));
  EXPECT_EQ(probe.decode_errors(alpha), 0u);  // neither is a dead letter
}

TEST(NormalizerProbe, ThePipelineReportsTheDeadLettersItCounted) {
  obs::MetricsRegistry r;
  NormalizerProbe probe(r);
  Pipeline::Options o;
  o.probe = &probe;
  o.decoder_factory = [](const std::string& venue) -> absl::StatusOr<std::unique_ptr<md::Decoder>> {
    if (venue != "alpha") return absl::NotFoundError("no decoder for venue '" + venue + "'");
    return std::make_unique<testing::FakeDecoder>(venue, nullptr);
  };
  Pipeline p(o);
  testing::RawFrames f;
  f.Add("alpha", 1, "bad").Add("alpha", 2, "book BTC-USD 1").Header("Sa-Kind", "carrier-pigeon");
  f.Add("gamma", 3, "book BTC-USD 1");
  p.Decode(f.Inputs(), absl::Now());
  const std::string text = r.RenderPrometheus();
  EXPECT_THAT(text,
              HasSubstr("streamadmin_normalizer_decode_errors_total{venue=\"alpha\",reason=\"malformed_json\"} 1"));
  EXPECT_THAT(text, HasSubstr("streamadmin_normalizer_decode_errors_total{venue=\"alpha\",reason=\"bad_header\"} 1"));
  ASSERT_EQ(p.Venues().size(), 1u);
  EXPECT_EQ(p.Venues()[0].decode_errors, 2u);
  EXPECT_EQ(p.Totals().decode_errors, 2u);  // gamma's unknown_venue is counted apart
  EXPECT_THAT(text,
              HasSubstr("streamadmin_normalizer_decode_errors_total{venue=\"gamma\",reason=\"unknown_venue\"} 1"));
}

}  // namespace
}  // namespace sa::normalizer
