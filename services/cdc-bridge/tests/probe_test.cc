// CdcProbe: every series exists from the start (increase() sees the first
// event), and what GetStatus reports is read from the same counters.
#include "cdc_bridge/probe.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace sa::cdc_bridge {
namespace {

using ::testing::HasSubstr;

TEST(CdcProbe, EverySeriesIsThereAtZeroFromTheStart) {
  obs::MetricsRegistry r;
  CdcProbe probe(r);
  const std::string text = r.RenderPrometheus();
  for (const char* reason : {"serialize_failed", "publish_refused", "kafka_refused", "publish_failed"})
    EXPECT_THAT(text, HasSubstr(std::string("streamadmin_cdc_dead_letters_total{reason=\"") + reason + "\"} 0"));
  for (const char* op : {"c", "u", "d", "t"})
    EXPECT_THAT(text, HasSubstr(std::string("streamadmin_cdc_events_total{op=\"") + op + "\"} 0"));
  EXPECT_THAT(text, HasSubstr("streamadmin_cdc_transactions_total 0"));
  EXPECT_EQ(probe.dead_letters(), 0u);
}

TEST(CdcProbe, DeadLettersSumOverReasonsAndEventsCountByOp) {
  obs::MetricsRegistry r;
  CdcProbe probe(r);
  probe.DeadLetters(CdcProbe::DeadLetterReason::kPublishFailed).Inc();
  probe.DeadLetters(CdcProbe::DeadLetterReason::kKafkaRefused).Inc();
  probe.DeadLetters(CdcProbe::DeadLetterReason::kKafkaRefused).Inc();
  EXPECT_EQ(probe.dead_letters(), 3u);
  probe.CountEvent(streamadmin::cdc::v1::OP_UPDATE);
  probe.CountEvent(streamadmin::cdc::v1::OP_READ);  // snapshot rows: not a streamed change
  probe.CountEvent(static_cast<streamadmin::cdc::v1::Op>(42));
  const std::string text = r.RenderPrometheus();
  EXPECT_THAT(text, HasSubstr("streamadmin_cdc_events_total{op=\"u\"} 1"));
  EXPECT_THAT(text, HasSubstr("streamadmin_cdc_dead_letters_total{reason=\"kafka_refused\"} 2"));
  probe.transactions.Inc();
  EXPECT_EQ(Count(probe.transactions), 1u);
}

}  // namespace
}  // namespace sa::cdc_bridge
