#include "cdc_bridge/app.h"

#include "runtime/main.h"
#include "runtime/nats_service_app.h"
#include "runtime/streams.h"

namespace sa::cdc_bridge {

namespace cfg = streamadmin::config::v1;

cfg::CdcBridgeConfig DefaultConfig() {
  cfg::CdcBridgeConfig c;
  runtime::SetCommonDefaults(7103, 9103, c.mutable_server(), c.mutable_log(), c.mutable_nats());
  c.mutable_nats()->set_name("cdc-bridge");
  *c.add_streams() = runtime::CdcStream();
  *c.add_streams() = runtime::DlqStream();
  c.mutable_source()->set_dsn("host=127.0.0.1 port=5432 dbname=postgres user=postgres");
  c.mutable_warehouse()->set_dsn("host=127.0.0.1 port=5432 dbname=warehouse user=postgres");
  return c;
}

absl::Status ValidateConfig(const cfg::CdcBridgeConfig& c) {
  if (auto st = runtime::ValidateCommon(c.server(), &c.nats()); !st.ok()) return st;
  if (c.source().dsn().empty()) return absl::InvalidArgumentError("key 'source.dsn': required");
  if (c.warehouse().dsn().empty()) return absl::InvalidArgumentError("key 'warehouse.dsn': required");
  return runtime::ValidateStreams(c.streams());
}

namespace {
// Issue [3] adds logical replication (source) and the warehouse writer (sink).
class CdcBridgeApp final : public runtime::NatsServiceApp {
 public:
  explicit CdcBridgeApp(const cfg::CdcBridgeConfig& c)
      : NatsServiceApp(c.nats(), {c.streams().begin(), c.streams().end()},
                       {{"source", c.source().dsn()}, {"warehouse", c.warehouse().dsn()}}) {}
};
}  // namespace

absl::StatusOr<std::unique_ptr<runtime::Application>> CreateApp(const cfg::CdcBridgeConfig& c) {
  return std::make_unique<CdcBridgeApp>(c);
}

}  // namespace sa::cdc_bridge
