// AnomalyProbe: every known series is there at 0 from the start (increase()
// sees the first event), and what ListModels reports is read from the same
// counters.
#include "anomaly_service/probe.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "anomaly_service/config.h"
#include "anomaly_service/model_store.h"

namespace sa::anomaly_service {
namespace {

using ::testing::HasSubstr;

TEST(AnomalyProbe, EverySeriesIsThereAtZeroFromTheStart) {
  obs::MetricsRegistry r;
  AnomalyProbe probe(r);
  const std::string text = r.RenderPrometheus();
  for (const char* reason : {"unparseable", "nan", "inf", "out_of_range"})
    EXPECT_THAT(text,
                HasSubstr(std::string("streamadmin_anomaly_rejected_features_total{reason=\"") + reason + "\"} 0"));
  for (const char* model : {"trade", "quote"}) {
    EXPECT_THAT(text, HasSubstr(std::string("streamadmin_anomaly_scored_total{model=\"") + model + "\"} 0"));
    EXPECT_THAT(text, HasSubstr(std::string("streamadmin_anomaly_anomalies_total{model=\"") + model + "\"} 0"));
  }
  EXPECT_THAT(text, HasSubstr("streamadmin_anomaly_messages_total 0"));
  EXPECT_THAT(text, HasSubstr("streamadmin_anomaly_suppressed_total 0"));
}

TEST(AnomalyProbe, RejectionsAreCountedByReasonAnUnknownOneIncluded) {
  obs::MetricsRegistry r;
  AnomalyProbe probe(r);
  probe.Rejected("nan");
  probe.Rejected("nan");
  probe.Rejected("something_new");
  const std::string text = r.RenderPrometheus();
  EXPECT_THAT(text, HasSubstr("streamadmin_anomaly_rejected_features_total{reason=\"nan\"} 2"));
  EXPECT_THAT(text, HasSubstr("streamadmin_anomaly_rejected_features_total{reason=\"something_new\"} 1"));
}

TEST(AnomalyProbe, ListModelsReadsTheScoresAndAnomaliesTheStoreCounted) {
  obs::MetricsRegistry r;
  AnomalyProbe probe(r);
  ModelStore store(DefaultConfig().model(), {"x"}, probe);
  store.Judge(anomaly::EventKind::kTrade, 0.1);
  store.Judge(anomaly::EventKind::kTrade, 2.0);  // at or above the threshold (1 until a model is installed)
  EXPECT_EQ(Count(probe.Scored(anomaly::EventKind::kTrade)), 2u);
  EXPECT_EQ(Count(probe.Anomalies(anomaly::EventKind::kTrade)), 1u);
  EXPECT_THAT(r.RenderPrometheus(), HasSubstr("streamadmin_anomaly_anomalies_total{model=\"trade\"} 1"));
  int trade_models = 0;
  for (const auto& m : store.Infos()) {
    if (m.model_id() != "trade") continue;
    ++trade_models;
    EXPECT_EQ(m.points_scored(), 2u);
    EXPECT_EQ(m.anomalies(), 1u);
  }
  EXPECT_EQ(trade_models, 1);
}

}  // namespace
}  // namespace sa::anomaly_service
