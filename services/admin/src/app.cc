#include "admin/app.h"

#include "runtime/main.h"
#include "runtime/nats_service_app.h"

namespace sa::admin {

namespace cfg = streamadmin::config::v1;

cfg::AdminConfig DefaultConfig() {
  cfg::AdminConfig c;
  runtime::SetCommonDefaults(7105, 9105, c.mutable_server(), c.mutable_log(), c.mutable_nats());
  c.mutable_nats()->set_name("admin");
  c.mutable_database()->set_dsn("host=127.0.0.1 port=5432 dbname=postgres user=postgres");
  return c;
}

absl::Status ValidateConfig(const cfg::AdminConfig& c) {
  if (auto st = runtime::ValidateCommon(c.server(), &c.nats()); !st.ok()) return st;
  if (c.database().dsn().empty()) return absl::InvalidArgumentError("key 'database.dsn': required");
  return absl::OkStatus();
}

namespace {
// Issue [4] adds users, roles, API keys, tokens, audit and NATS credentials.
class AdminApp final : public runtime::NatsServiceApp {
 public:
  explicit AdminApp(const cfg::AdminConfig& c) : NatsServiceApp(c.nats(), {}, {{"database", c.database().dsn()}}) {}
};
}  // namespace

absl::StatusOr<std::unique_ptr<runtime::Application>> CreateApp(const cfg::AdminConfig& c) {
  return std::make_unique<AdminApp>(c);
}

}  // namespace sa::admin
