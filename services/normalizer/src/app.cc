#include "normalizer/app.h"

#include "runtime/main.h"
#include "runtime/nats_service_app.h"
#include "runtime/streams.h"

namespace sa::normalizer {

namespace cfg = streamadmin::config::v1;

cfg::NormalizerConfig DefaultConfig() {
  cfg::NormalizerConfig c;
  runtime::SetCommonDefaults(7102, 9102, c.mutable_server(), c.mutable_log(), c.mutable_nats());
  c.mutable_nats()->set_name("normalizer");
  *c.add_streams() = runtime::MdStream();
  *c.add_streams() = runtime::DlqStream();
  auto* consumer = c.mutable_consumer();
  consumer->set_stream("MD_RAW");
  consumer->set_durable("normalizer");
  consumer->set_filter_subject("md.raw.>");
  consumer->set_ack_wait_s(30);
  consumer->set_max_ack_pending(20000);
  consumer->set_fetch_batch(256);
  return c;
}

absl::Status ValidateConfig(const cfg::NormalizerConfig& c) {
  if (auto st = runtime::ValidateCommon(c.server(), &c.nats()); !st.ok()) return st;
  if (auto st = runtime::ValidateStreams(c.streams()); !st.ok()) return st;
  return runtime::ValidateConsumer(c.consumer());
}

namespace {
// Issue [2] adds the raw-stream consumer, venue decoders and books.
class NormalizerApp final : public runtime::NatsServiceApp {
 public:
  explicit NormalizerApp(const cfg::NormalizerConfig& c)
      : NatsServiceApp(c.nats(), {c.streams().begin(), c.streams().end()}) {}
};
}  // namespace

absl::StatusOr<std::unique_ptr<runtime::Application>> CreateApp(const cfg::NormalizerConfig& c) {
  return std::make_unique<NormalizerApp>(c);
}

}  // namespace sa::normalizer
