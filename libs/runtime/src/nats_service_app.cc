#include "runtime/nats_service_app.h"

#include "runtime/postgres_probe.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace sa::runtime {

absl::Status NatsServiceApp::Start() {
  std::vector<PostgresProbes::Target> targets;
  for (const auto& pg : postgres_) targets.push_back({pg.name, pg.dsn});
  postgres_probes_ = std::make_unique<PostgresProbes>(std::move(targets));
  auto client = NatsClient::Start(nats_config_, streams_);
  if (!client.ok()) return client.status();
  nats_ = std::move(*client);
  return OnStart();
}

void NatsServiceApp::Stop() {
  OnStop();
  nats_.reset();
  // postgres_probes_ lives on with the application: /readyz may still be asked.
}

std::vector<streamadmin::control::v1::Dependency> NatsServiceApp::Dependencies() {
  std::vector<streamadmin::control::v1::Dependency> deps;
  if (nats_) deps.push_back(nats_->Health());
  if (postgres_probes_) {
    for (auto& d : postgres_probes_->Results()) deps.push_back(std::move(d));
  }
  return deps;
}

std::unique_ptr<bus::PullSubscription> NatsServiceApp::BindPullConsumer(
    const streamadmin::config::v1::ConsumerConfig& consumer, absl::Duration* backoff) {
  auto js = bus::JetStream::Create(nats().connection());
  absl::Status st = js.ok() ? (*js)->EnsurePullConsumer(consumer) : js.status();
  if (st.ok() && !rewound_.contains(consumer.durable())) {
    // Deliveries a dead process held come again only after their ack wait,
    // AFTER newer messages: a decoder would see them out of order and the
    // work they carry would be lost. So the first bind in a process restarts
    // the durable from its ack floor: everything unacked comes again, in
    // stream order (outputs carry deterministic ids, so repeats are stored once).
    auto info = (*js)->GetConsumerInfo(consumer.stream(), consumer.durable());
    st = info.status();
    if (st.ok() && info->num_ack_pending > 0) {
      spdlog::info("consumer {}/{}: {} deliveries of an earlier process unacknowledged; redelivering from stream "
                   "sequence {}",
                   consumer.stream(), consumer.durable(), info->num_ack_pending, info->ack_floor_stream_seq + 1);
      st = (*js)->RecreatePullConsumerAt(consumer, info->ack_floor_stream_seq + 1);
    }
    if (st.ok()) rewound_.insert(consumer.durable());
  }
  if (st.ok()) {
    auto sub = (*js)->PullSubscribe(consumer);
    if (sub.ok()) {
      spdlog::info("consuming {} through durable {}", consumer.stream(), consumer.durable());
      return std::move(*sub);
    }
    st = sub.status();
  }
  spdlog::warn("consumer {}/{} not ready: {}", consumer.stream(), consumer.durable(), std::string(st.message()));
  absl::SleepFor(*backoff);  // NOLINT: retry pacing of a background loop, not test synchronisation
  *backoff = std::min(*backoff * 2, absl::Seconds(5));
  return nullptr;
}

}  // namespace sa::runtime
