// The cdc-bridge service: the application object that main.cc runs in the
// common runtime (configuration: config.h).
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "cdc_bridge/config.h"
#include "runtime/application.h"
#include "streamadmin/config/v1/config.pb.h"

namespace sa::cdc_bridge {

inline constexpr char kServiceName[] = "cdc-bridge";

absl::StatusOr<std::unique_ptr<runtime::Application>> CreateApp(const streamadmin::config::v1::CdcBridgeConfig& config);

}  // namespace sa::cdc_bridge
