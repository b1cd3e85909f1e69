// The anomaly service: the application object main.cc runs in the common
// runtime. It wires the units: config.h (defaults, validation),
// model_store.h (models, thresholds, their files), trainer.h (the trainer
// thread), detector.h (md.* message → anomalies) and grpc_service.h
// (anomaly.v1.AnomalyService).
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "anomaly_service/config.h"
#include "runtime/application.h"
#include "streamadmin/config/v1/config.pb.h"

namespace sa::anomaly_service {

absl::StatusOr<std::unique_ptr<runtime::Application>> CreateApp(const streamadmin::config::v1::AnomalyConfig& config);

}  // namespace sa::anomaly_service
