// Roles the admin service creates on first start (migration 2): an
// administrator, a viewer, and one role per service with exactly the NATS
// subjects its pipeline uses. Operators may change them through admin.v1.Roles.
#pragma once

#include <vector>

#include "auth/nkeys.h"
#include "streamadmin/admin/v1/admin.pb.h"

namespace sa::auth {

std::vector<streamadmin::admin::v1::Role> BuiltinRoles();

// The union of the roles' NATS permissions, as a user JWT carries them.
nkeys::Permissions NatsPermissionsOf(const std::vector<streamadmin::admin::v1::Role>& roles);

}  // namespace sa::auth
