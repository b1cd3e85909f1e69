// The cdc-bridge service: configuration defaults, validation and the application
// object that main.cc runs in the common runtime.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "runtime/application.h"
#include "streamadmin/config/v1/config.pb.h"

namespace sa::cdc_bridge {

inline constexpr char kServiceName[] = "cdc-bridge";

streamadmin::config::v1::CdcBridgeConfig DefaultConfig();
absl::Status ValidateConfig(const streamadmin::config::v1::CdcBridgeConfig& config);
absl::StatusOr<std::unique_ptr<runtime::Application>> CreateApp(const streamadmin::config::v1::CdcBridgeConfig& config);

}  // namespace sa::cdc_bridge
