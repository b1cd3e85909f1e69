// Cheap reachability check of a PostgreSQL server (pg::Ping, libpq PQping: no login,
// no query), for GetStatus and /readyz.
#pragma once

#include <string>

#include "streamadmin/control/v1/control.pb.h"

namespace sa::runtime {

streamadmin::control::v1::Dependency ProbePostgres(const std::string& name, const std::string& dsn);

}  // namespace sa::runtime
