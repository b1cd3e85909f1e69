#include "runtime/postgres_probe.h"

#include "pg/connection.h"

namespace sa::runtime {

streamadmin::control::v1::Dependency ProbePostgres(const std::string& name, const std::string& dsn) {
  streamadmin::control::v1::Dependency d;
  d.set_name(name);
  // connect_timeout bounds the probe; a dsn without it would wait for the OS.
  switch (pg::Ping(dsn, /*connect_timeout_s=*/2)) {
    case pg::PingResult::kOk:
      d.set_healthy(true);
      d.set_detail("accepting connections");
      break;
    case pg::PingResult::kRejected:
      d.set_detail("server is up but rejecting connections (starting up or shutting down)");
      break;
    case pg::PingResult::kNoResponse:
      d.set_detail("no response");
      break;
    case pg::PingResult::kBadConninfo:
      d.set_detail("invalid connection string");
      break;
  }
  return d;
}

}  // namespace sa::runtime
