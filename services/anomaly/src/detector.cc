#include "anomaly_service/detector.h"

#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "anomaly_service/config.h"
#include "streamadmin/marketdata/v1/marketdata.pb.h"
#include "wire/msg_ids.h"
#include "wire/subjects.h"

namespace sa::anomaly_service {

namespace mdpb = streamadmin::marketdata::v1;
namespace pb = streamadmin::anomaly::v1;
using anomaly::EventKind;
using anomaly::EventKindName;
using anomaly::FeatureVector;

void RecentAnomalies::Add(pb::Anomaly a) {
  std::lock_guard lock(mu_);
  recent_.push_back(std::move(a));
  if (recent_.size() > limit_) recent_.pop_front();
}

std::vector<pb::Anomaly> RecentAnomalies::List(size_t limit, const std::string& venue,
                                               const std::string& symbol) const {
  std::vector<pb::Anomaly> out;
  std::lock_guard lock(mu_);
  for (auto it = recent_.rbegin(); it != recent_.rend() && out.size() < limit; ++it) {
    if (!venue.empty() && it->venue() != venue) continue;
    if (!symbol.empty() && it->symbol() != symbol) continue;
    out.push_back(*it);
  }
  return out;
}

Detector::Detector(const streamadmin::config::v1::AnomalyConfig& config, ModelStore& store, RecentAnomalies& recent,
                   AnomalyProbe& probe)
    : max_abs_value_(config.features().max_abs_value()),
      store_(store),
      recent_(recent),
      extractor_(FeatureOptionsOf(config.features())),
      probe_(probe) {}

void Detector::OnMessage(const std::string& subject, const std::string& data, const std::string& source_id,
                         Result* out) {
  const wire::MdKind kind = wire::MdKindOf(subject);
  absl::StatusOr<std::optional<FeatureVector>> v = std::optional<FeatureVector>();
  if (kind == wire::MdKind::kTrade) {
    mdpb::Trade t;
    if (!t.ParseFromString(data)) return probe_.Rejected("unparseable");
    v = extractor_.OnTrade(t);
  } else if (kind == wire::MdKind::kTicker) {
    mdpb::Ticker t;
    if (!t.ParseFromString(data)) return probe_.Rejected("unparseable");
    v = extractor_.OnTicker(t);
  } else if (kind == wire::MdKind::kBook) {
    mdpb::BookUpdate b;
    if (!b.ParseFromString(data)) return probe_.Rejected("unparseable");
    v = extractor_.OnBookUpdate(b);
  } else if (kind == wire::MdKind::kStatus) {
    mdpb::VenueStatus s;
    if (!s.ParseFromString(data)) return probe_.Rejected("unparseable");
    OnStatus(s);
    return;
  } else {
    return;  // candles, and anything that is not market data
  }
  if (!v.ok()) return probe_.Rejected("unparseable");
  if (!v->has_value()) return;
  OnVector(**v, source_id, out);
}

// Quiet around trouble: a book in doubt is not scored (nor learnt from)
// until the venue says it is right again.
void Detector::OnStatus(const mdpb::VenueStatus& s) {
  const std::string key = absl::StrCat(s.origin().venue(), "|", s.origin().symbol());
  switch (s.kind()) {
    case mdpb::VenueStatus::KIND_GAP:
    case mdpb::VenueStatus::KIND_CHECKSUM_MISMATCH:
    case mdpb::VenueStatus::KIND_RESYNCING:
      if (resyncing_.insert(key).second)
        spdlog::info("{} {}: resyncing, not scored", s.origin().venue(), s.origin().symbol());
      extractor_.ResetBook(s.origin().venue(), s.origin().symbol());
      break;
    case mdpb::VenueStatus::KIND_RESYNCED:
      resyncing_.erase(key);
      break;
    default:
      break;
  }
}

void Detector::OnVector(const FeatureVector& v, const std::string& source_id, Result* out) {
  if (auto reason = anomaly::RejectReason(v.values, max_abs_value_)) return probe_.Rejected(*reason);
  if (resyncing_.count(absl::StrCat(v.venue, "|", v.symbol)) || resyncing_.count(absl::StrCat(v.venue, "|"))) {
    probe_.suppressed.Inc();
    return;
  }
  if (auto job = store_.AddTrainingPoint(v.kind, v.values)) out->jobs.push_back(std::move(*job));
  auto model = store_.Model(v.kind);
  if (!model) return;  // warming up
  std::vector<double> contrib(v.values.size());
  const double score = model->ScoreWithAttribution(v.values.data(), contrib.data());
  ModelStore::Verdict verdict = store_.Judge(v.kind, score);
  if (!verdict.anomalous) return;
  pb::Anomaly a;
  a.set_venue(v.venue);
  a.set_symbol(v.symbol);
  a.set_event_time_ns(v.event_time_ns);
  a.set_score(score);
  a.set_threshold(verdict.threshold);
  a.set_model_id(absl::StrCat(EventKindName(v.kind), ":", verdict.generation));
  a.set_event_kind(EventKindName(v.kind));
  a.set_source_msg_id(source_id);
  const auto& names = store_.feature_names();
  for (size_t f = 0; f < v.values.size(); ++f) {
    auto* feat = a.add_features();
    feat->set_name(names[f]);
    feat->set_value(v.values[f]);
    feat->set_contribution(contrib[f]);
  }
  bus::Message msg;
  msg.subject = wire::AnomalySubject(v.venue, v.symbol);
  msg.msg_id = wire::AnomalyMsgId(source_id);
  a.SerializeToString(&msg.data);
  out->anomalies.push_back(std::move(msg));
  recent_.Add(std::move(a));
}

}  // namespace sa::anomaly_service
