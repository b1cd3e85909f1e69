// The sinks' probes: every series is there at 0 from the start, an
// unforeseen dead-letter reason gets its own series, and the totals that
// GetStatus shows are read from the same counters.
#include "warehouse_sink/probe.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace sa::warehouse_sink {
namespace {

using ::testing::HasSubstr;

TEST(WarehouseSinkProbe, KnownReasonsStartAtZeroAndTotalsAddUp) {
  obs::MetricsRegistry r;
  CdcSinkProbe cdc(r);
  MarketDataSinkProbe md(r);
  std::string text = r.RenderPrometheus();
  for (const char* reason : {"undecodable", "bad_value", "no_primary_key", "unknown_type", "apply_failed"})
    EXPECT_THAT(text, HasSubstr(std::string("streamadmin_cdc_sink_dead_letters_total{reason=\"") + reason + "\"} 0"));
  for (const char* reason : {"undecodable", "invalid"})
    EXPECT_THAT(text,
                HasSubstr(std::string("streamadmin_warehouse_md_dead_letters_total{reason=\"") + reason + "\"} 0"));
  EXPECT_THAT(text, HasSubstr("streamadmin_cdc_sink_rewinds_total 0"));

  cdc.dead_letters.For("bad_value").Inc();
  cdc.dead_letters.For("something_new").Inc();
  cdc.dead_letters.For("something_new").Inc();
  EXPECT_EQ(cdc.dead_letters.Total(), 3u);
  EXPECT_EQ(md.dead_letters.Total(), 0u);
  md.trades.Inc(250);
  EXPECT_EQ(Count(md.trades), 250u);
  text = r.RenderPrometheus();
  EXPECT_THAT(text, HasSubstr("streamadmin_cdc_sink_dead_letters_total{reason=\"something_new\"} 2"));
  EXPECT_THAT(text, HasSubstr("streamadmin_warehouse_md_rows_total{table=\"trades\"} 250"));
}

}  // namespace
}  // namespace sa::warehouse_sink
