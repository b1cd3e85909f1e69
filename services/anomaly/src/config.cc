#include "anomaly_service/config.h"

#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "runtime/main.h"
#include "runtime/streams.h"
#include "wire/subjects.h"

namespace sa::anomaly_service {

namespace cfg = streamadmin::config::v1;

cfg::AnomalyConfig DefaultConfig() {
  cfg::AnomalyConfig c;
  runtime::SetCommonDefaults(7104, 9104, c.mutable_server(), c.mutable_log(), c.mutable_nats());
  c.mutable_nats()->set_name("anomaly");
  *c.add_streams() = runtime::AnomalyStream();
  auto* consumer = c.mutable_consumer();
  consumer->set_stream("MD");
  consumer->set_durable("anomaly");
  consumer->set_filter_subject(wire::kMdAll);  // candles are skipped
  consumer->set_ack_wait_s(30);
  consumer->set_max_ack_pending(20000);
  consumer->set_fetch_batch(512);
  consumer->set_prefetch(1024);  // standing pull requests: events come as MD stores them
  auto* f = c.mutable_features();
  f->set_window_s(60);
  f->set_rate_window_s(1);
  f->set_burst_window_s(0.1);
  f->set_imbalance_levels(5);
  f->set_divergence_max_age_s(10);
  f->set_max_abs_value(1e5);
  auto* m = c.mutable_model();
  m->set_num_trees(100);
  m->set_sample_size(256);
  m->set_seed(1);
  m->set_training_window(8192);
  m->set_warmup_points(1024);
  m->set_retrain_every(4096);
  m->set_contamination(0.005);
  m->set_isolate_out_of_range(true);
  c.set_recent_limit(1000);
  return c;
}

absl::Status ValidateConfig(const cfg::AnomalyConfig& c) {
  if (auto st = runtime::ValidateCommon(c.server(), &c.nats()); !st.ok()) return st;
  if (auto st = runtime::ValidateStreams(c.streams()); !st.ok()) return st;
  if (auto st = runtime::ValidateConsumer(c.consumer()); !st.ok()) return st;
  std::set<std::string> seen;
  for (int i = 0; i < c.features().features_size(); ++i) {
    const std::string& name = c.features().features(i);
    auto f = anomaly::ParseFeature(name);
    if (!f.ok())
      return absl::InvalidArgumentError(absl::StrCat("key 'features.features[", i, "]': ", f.status().message()));
    if (!seen.insert(name).second)
      return absl::InvalidArgumentError(absl::StrCat("key 'features.features[", i, "]': '", name, "' is listed twice"));
  }
  const auto& f = c.features();
  if (!(f.window_s() > 0)) return absl::InvalidArgumentError("key 'features.window_s': must be > 0");
  if (!(f.rate_window_s() > 0 && f.rate_window_s() <= f.window_s()))
    return absl::InvalidArgumentError("key 'features.rate_window_s': must be > 0 and <= features.window_s");
  if (!(f.burst_window_s() > 0 && f.burst_window_s() < f.window_s()))
    return absl::InvalidArgumentError("key 'features.burst_window_s': must be > 0 and < features.window_s");
  if (f.imbalance_levels() < 1) return absl::InvalidArgumentError("key 'features.imbalance_levels': must be >= 1");
  if (!(f.divergence_max_age_s() > 0))
    return absl::InvalidArgumentError("key 'features.divergence_max_age_s': must be > 0");
  if (!(f.max_abs_value() > 0)) return absl::InvalidArgumentError("key 'features.max_abs_value': must be > 0");
  const auto& m = c.model();
  if (m.num_trees() < 1 || m.num_trees() > static_cast<uint32_t>(anomaly::kMaxTrees))
    return absl::InvalidArgumentError(
        absl::StrCat("key 'model.num_trees': ", m.num_trees(), " not in 1..", anomaly::kMaxTrees));
  if (m.sample_size() < 2 || m.sample_size() > static_cast<uint32_t>(anomaly::kMaxSampleSize))
    return absl::InvalidArgumentError(
        absl::StrCat("key 'model.sample_size': ", m.sample_size(), " not in 2..", anomaly::kMaxSampleSize));
  if (m.warmup_points() < 2) return absl::InvalidArgumentError("key 'model.warmup_points': must be >= 2");
  if (m.training_window() < m.warmup_points())
    return absl::InvalidArgumentError("key 'model.training_window': must be >= model.warmup_points");
  if (m.retrain_every() < 1) return absl::InvalidArgumentError("key 'model.retrain_every': must be >= 1");
  if (m.threshold_score() != 0) {
    if (auto t = anomaly::Threshold::Fixed(m.threshold_score()); !t.ok())
      return absl::InvalidArgumentError(absl::StrCat("key 'model.threshold_score': ", t.status().message()));
  } else if (auto t = anomaly::Threshold::Contamination(m.contamination()); !t.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("key 'model.contamination': ", t.status().message()));
  }
  return absl::OkStatus();
}

anomaly::FeatureOptions FeatureOptionsOf(const cfg::AnomalyFeaturesConfig& c) {
  anomaly::FeatureOptions o;
  if (c.features_size() > 0) {
    o.features.clear();
    for (const auto& name : c.features()) o.features.push_back(*anomaly::ParseFeature(name));  // validated
  }
  o.window_s = c.window_s();
  o.rate_window_s = c.rate_window_s();
  o.burst_window_s = c.burst_window_s();
  o.imbalance_levels = static_cast<int>(c.imbalance_levels());
  o.divergence_max_age_s = c.divergence_max_age_s();
  o.max_abs_value = c.max_abs_value();
  return o;
}

anomaly::ForestParams ForestParamsOf(const cfg::AnomalyModelConfig& m, uint64_t seed) {
  anomaly::ForestParams p;
  p.num_trees = static_cast<int>(m.num_trees());
  p.sample_size = static_cast<int>(m.sample_size());
  p.seed = seed;
  p.isolate_out_of_range = m.isolate_out_of_range();
  return p;
}

anomaly::Threshold ConfiguredThreshold(const cfg::AnomalyModelConfig& m) {
  return m.threshold_score() != 0 ? *anomaly::Threshold::Fixed(m.threshold_score())
                                  : *anomaly::Threshold::Contamination(m.contamination());
}

}  // namespace sa::anomaly_service
