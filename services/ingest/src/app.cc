#include "ingest/app.h"

#include "runtime/main.h"
#include "runtime/nats_service_app.h"
#include "runtime/streams.h"

namespace sa::ingest {

namespace cfg = streamadmin::config::v1;

cfg::IngestConfig DefaultConfig() {
  cfg::IngestConfig c;
  runtime::SetCommonDefaults(7101, 9101, c.mutable_server(), c.mutable_log(), c.mutable_nats());
  c.mutable_nats()->set_name("ingest");
  *c.add_streams() = runtime::MdRawStream();
  *c.add_streams() = runtime::DlqStream();
  return c;
}

absl::Status ValidateConfig(const cfg::IngestConfig& c) {
  if (auto st = runtime::ValidateCommon(c.server(), &c.nats()); !st.ok()) return st;
  return runtime::ValidateStreams(c.streams());
}

namespace {
// Issue [2] adds the sources (WebSocket, replay, Kafka) that publish to md.raw.<venue>.
class IngestApp final : public runtime::NatsServiceApp {
 public:
  explicit IngestApp(const cfg::IngestConfig& c)
      : NatsServiceApp(c.nats(), {c.streams().begin(), c.streams().end()}) {}
};
}  // namespace

absl::StatusOr<std::unique_ptr<runtime::Application>> CreateApp(const cfg::IngestConfig& c) {
  return std::make_unique<IngestApp>(c);
}

}  // namespace sa::ingest
