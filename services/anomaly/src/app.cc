#include "anomaly/app.h"

#include "runtime/main.h"
#include "runtime/nats_service_app.h"
#include "runtime/streams.h"

namespace sa::anomaly {

namespace cfg = streamadmin::config::v1;

cfg::AnomalyConfig DefaultConfig() {
  cfg::AnomalyConfig c;
  runtime::SetCommonDefaults(7104, 9104, c.mutable_server(), c.mutable_log(), c.mutable_nats());
  c.mutable_nats()->set_name("anomaly");
  *c.add_streams() = runtime::AnomalyStream();
  return c;
}

absl::Status ValidateConfig(const cfg::AnomalyConfig& c) {
  if (auto st = runtime::ValidateCommon(c.server(), &c.nats()); !st.ok()) return st;
  return runtime::ValidateStreams(c.streams());
}

namespace {
// Issue [5] adds features, the Isolation Forest and scoring.
class AnomalyApp final : public runtime::NatsServiceApp {
 public:
  explicit AnomalyApp(const cfg::AnomalyConfig& c)
      : NatsServiceApp(c.nats(), {c.streams().begin(), c.streams().end()}) {}
};
}  // namespace

absl::StatusOr<std::unique_ptr<runtime::Application>> CreateApp(const cfg::AnomalyConfig& c) {
  return std::make_unique<AnomalyApp>(c);
}

}  // namespace sa::anomaly
