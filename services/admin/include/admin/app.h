// The admin service: configuration defaults, validation and the application
// object that main.cc runs in the common runtime.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "runtime/application.h"
#include "streamadmin/config/v1/config.pb.h"

namespace sa::admin {

inline constexpr char kServiceName[] = "admin";

streamadmin::config::v1::AdminConfig DefaultConfig();
// Derives server.auth.public_key from auth.signing_key when token auth is on.
absl::Status FinalizeConfig(streamadmin::config::v1::AdminConfig* config);
absl::Status ValidateConfig(const streamadmin::config::v1::AdminConfig& config);
absl::StatusOr<std::unique_ptr<runtime::Application>> CreateApp(const streamadmin::config::v1::AdminConfig& config);

}  // namespace sa::admin
