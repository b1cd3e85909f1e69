// AnomalyConfig: the defaults, the start-up validation and what the library
// takes from it (feature options, forest parameters, the threshold).
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "anomaly/feature_extractor.h"
#include "anomaly/isolation_forest.h"
#include "anomaly/threshold.h"
#include "streamadmin/config/v1/config.pb.h"

namespace sa::anomaly_service {

inline constexpr char kServiceName[] = "anomaly";

streamadmin::config::v1::AnomalyConfig DefaultConfig();
// InvalidArgument naming the key, e.g. "key 'model.num_trees': 0 not in 1..10000".
absl::Status ValidateConfig(const streamadmin::config::v1::AnomalyConfig& config);

// Of a validated config.
anomaly::FeatureOptions FeatureOptionsOf(const streamadmin::config::v1::AnomalyFeaturesConfig& config);
anomaly::ForestParams ForestParamsOf(const streamadmin::config::v1::AnomalyModelConfig& config, uint64_t seed);
// model.threshold_score when set, else model.contamination.
anomaly::Threshold ConfiguredThreshold(const streamadmin::config::v1::AnomalyModelConfig& config);

}  // namespace sa::anomaly_service
