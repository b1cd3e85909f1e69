// The views service ([9], docs/VIEWS.md): runs the continuous views admin
// defines, each on one replica at a time (Coordinator), each view on its
// own thread (ViewRunner). Ready when NATS is and the definitions are watched.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "runtime/application.h"
#include "streamadmin/config/v1/config.pb.h"

namespace sa::views_service {

inline constexpr char kServiceName[] = "views";

streamadmin::config::v1::ViewsConfig DefaultConfig();
absl::Status ValidateConfig(const streamadmin::config::v1::ViewsConfig& config);
absl::StatusOr<std::unique_ptr<runtime::Application>> CreateApp(const streamadmin::config::v1::ViewsConfig& config);

}  // namespace sa::views_service
