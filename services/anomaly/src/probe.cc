#include "anomaly_service/probe.h"

namespace sa::anomaly_service {

namespace {
constexpr char kRejectedTotal[] = "streamadmin_anomaly_rejected_features_total";
constexpr char kRejectedHelp[] = "Feature vectors or md messages not scored because they are invalid, by reason";
}  // namespace

AnomalyProbe::AnomalyProbe(obs::MetricsRegistry& r)
    : messages(r.GetCounter("streamadmin_anomaly_messages_total", "md.* messages consumed")),
      suppressed(r.GetCounter("streamadmin_anomaly_suppressed_total",
                              "Feature vectors not scored because their book is resyncing")),
      train_seconds(r.GetHistogram("streamadmin_anomaly_train_seconds", "Time to train one model")),
      registry_(r) {
  for (anomaly::EventKind k : {anomaly::EventKind::kTrade, anomaly::EventKind::kQuote}) {
    const char* model = anomaly::EventKindName(k);
    scored_[k] = &r.GetCounter("streamadmin_anomaly_scored_total", "Feature vectors scored", {{"model", model}});
    anomalies_[k] = &r.GetCounter("streamadmin_anomaly_anomalies_total", "Anomalies published", {{"model", model}});
    generation_[k] =
        &r.GetGauge("streamadmin_anomaly_model_generation", "Models built or loaded since start", {{"model", model}});
  }
  // Every known reason at 0 from the start, so increase() sees the first one.
  for (const char* reason : {"unparseable", "nan", "inf", "out_of_range"})
    rejected_[reason] = &r.GetCounter(kRejectedTotal, kRejectedHelp, {{"reason", reason}});
}

AnomalyProbe& AnomalyProbe::Default() {
  static AnomalyProbe* probe = new AnomalyProbe(obs::MetricsRegistry::Default());
  return *probe;
}

void AnomalyProbe::Rejected(const std::string& reason) {
  obs::Counter* c;
  {
    std::lock_guard lock(mu_);
    obs::Counter*& slot = rejected_[reason];
    if (slot == nullptr) slot = &registry_.GetCounter(kRejectedTotal, kRejectedHelp, {{"reason", reason}});
    c = slot;
  }
  c->Inc();
}

}  // namespace sa::anomaly_service
