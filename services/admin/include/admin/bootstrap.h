// The first administrator: created by `stream-admin init` or by the admin
// service on start (auth.bootstrap_password, e.g. from
// STREAM_ADMIN_AUTH_BOOTSTRAP_PASSWORD). There is no default password.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "admin/store.h"

namespace sa::admin {

// Creates `username` with the built-in admin role when the database has no
// user at all; returns false (and changes nothing) otherwise.
absl::StatusOr<bool> CreateFirstAdministrator(Store& store, const std::string& username, const std::string& password);

}  // namespace sa::admin
