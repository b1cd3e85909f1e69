// The anomaly service: configuration defaults, validation and the application
// object that main.cc runs in the common runtime.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "runtime/application.h"
#include "streamadmin/config/v1/config.pb.h"

namespace sa::anomaly_service {

inline constexpr char kServiceName[] = "anomaly";

streamadmin::config::v1::AnomalyConfig DefaultConfig();
absl::Status ValidateConfig(const streamadmin::config::v1::AnomalyConfig& config);
absl::StatusOr<std::unique_ptr<runtime::Application>> CreateApp(const streamadmin::config::v1::AnomalyConfig& config);

}  // namespace sa::anomaly_service
