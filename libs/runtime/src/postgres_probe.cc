#include "runtime/postgres_probe.h"

#include <libpq-fe.h>

namespace sa::runtime {

streamadmin::control::v1::Dependency ProbePostgres(const std::string& name, const std::string& dsn) {
  streamadmin::control::v1::Dependency d;
  d.set_name(name);
  // connect_timeout bounds the probe; a dsn without it would wait for the OS.
  std::string conninfo = dsn.find("connect_timeout") == std::string::npos ? dsn + " connect_timeout=2" : dsn;
  switch (PQping(conninfo.c_str())) {
    case PQPING_OK:
      d.set_healthy(true);
      d.set_detail("accepting connections");
      break;
    case PQPING_REJECT:
      d.set_detail("server is up but rejecting connections (starting up or shutting down)");
      break;
    case PQPING_NO_RESPONSE:
      d.set_detail("no response");
      break;
    case PQPING_NO_ATTEMPT:
      d.set_detail("invalid connection string");
      break;
  }
  return d;
}

}  // namespace sa::runtime
