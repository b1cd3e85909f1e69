#include "anomaly_service/probe.h"

namespace sa::anomaly_service {

AnomalyProbe::AnomalyProbe(obs::MetricsRegistry& r)
    : messages(r.GetCounter("streamadmin_anomaly_messages_total", "md.* messages consumed")),
      suppressed(r.GetCounter("streamadmin_anomaly_suppressed_total",
                              "Feature vectors not scored because their book is resyncing")),
      train_seconds(r.GetHistogram("streamadmin_anomaly_train_seconds", "Time to train one model")),
      // Every known reason at 0 from the start, so increase() sees the first one.
      rejected_(r, "streamadmin_anomaly_rejected_features_total",
                "Feature vectors or md messages not scored because they are invalid, by reason", "reason",
                {"unparseable", "nan", "inf", "out_of_range"}) {
  for (anomaly::EventKind k : {anomaly::EventKind::kTrade, anomaly::EventKind::kQuote}) {
    const char* model = anomaly::EventKindName(k);
    scored_[k] = &r.GetCounter("streamadmin_anomaly_scored_total", "Feature vectors scored", {{"model", model}});
    anomalies_[k] = &r.GetCounter("streamadmin_anomaly_anomalies_total", "Anomalies published", {{"model", model}});
    generation_[k] =
        &r.GetGauge("streamadmin_anomaly_model_generation", "Models built or loaded since start", {{"model", model}});
  }
}

AnomalyProbe& AnomalyProbe::Default() {
  static AnomalyProbe* probe = new AnomalyProbe(obs::MetricsRegistry::Default());
  return *probe;
}

}  // namespace sa::anomaly_service
