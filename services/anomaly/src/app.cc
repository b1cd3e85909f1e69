#include "anomaly_service/app.h"

#include <spdlog/spdlog.h>

#include "anomaly/feature_extractor.h"
#include "anomaly_service/detector.h"
#include "anomaly_service/grpc_service.h"
#include "anomaly_service/model_store.h"
#include "anomaly_service/trainer.h"
#include "runtime/ack_window.h"
#include "runtime/consumer_loop.h"
#include "runtime/nats_service_app.h"
#include "wire/msg_ids.h"

namespace sa::anomaly_service {

namespace cfg = streamadmin::config::v1;

namespace {

// md.* messages waiting for their anomalies' acks, at most, in fetch_batches
// (kept well under the consumer's max_ack_pending).
constexpr size_t kMaxBatchesInFlight = 4;
// How long stopping waits for the anomalies in flight.
constexpr absl::Duration kDrainTimeout = absl::Seconds(30);

class AnomalyApp final : public runtime::NatsServiceApp {
 public:
  explicit AnomalyApp(const cfg::AnomalyConfig& c)
      : NatsServiceApp(c.nats(), {c.streams().begin(), c.streams().end()}),
        config_(c),
        store_(c.model(), anomaly::FeatureExtractor(FeatureOptionsOf(c.features())).FeatureNames()),
        recent_(c.recent_limit()),
        detector_(c, store_, recent_),
        trainer_(c.model(), store_),
        service_(c.features().max_abs_value(), store_, recent_),
        probe_(AnomalyProbe::Default()) {}

  std::vector<grpc::Service*> GrpcServices() override { return {&service_}; }

  absl::Status OnStart() override {
    store_.Load();
    trainer_.Start();
    const size_t window_messages = kMaxBatchesInFlight * static_cast<size_t>(runtime::FetchBatchOf(config_.consumer()));
    return StartConsuming({.consumer = config_.consumer(),
                           .wait_for_room = [this, window_messages](
                                                absl::Duration d) { return window().WaitForRoom(window_messages, d); }},
                          [this](std::vector<bus::ReceivedMessage>& batch) {
                            if (!batch.empty()) ProcessBatch(batch);
                            return runtime::ConsumerLoop::Next::kFetch;
                          },
                          {.acks = bus::AckPolicy::kAll});  // one cumulative ack per settled run
  }

  absl::Status Drain(absl::Duration) override {
    StopThreads();
    return absl::OkStatus();
  }
  void OnStop() override { StopThreads(); }

  std::map<std::string, std::string> Details() override { return store_.Describe(); }

 private:
  // The loop finishes its batch, the window waits (up to 30 s) for the
  // anomalies in flight and acks their md.* messages; then the trainer stops.
  void StopThreads() {
    if (absl::Status st = StopConsuming(kDrainTimeout); !st.ok())
      spdlog::error("stopping: {}", std::string(st.message()));
    trainer_.Stop();
  }

  // Features, scores and anomalies of a batch. The anomalies are published
  // without waiting: the ack window acks the md.* messages once they (and
  // every earlier batch's) are acknowledged, so a crash replays the batch and
  // the anomalies' ids make the replay harmless.
  void ProcessBatch(std::vector<bus::ReceivedMessage>& msgs) {
    std::vector<bus::Message> out;
    for (auto& m : msgs) {
      Detector::Result r;
      detector_.OnMessage(m.subject(), m.data(),
                          m.msg_id().empty() ? wire::StreamPositionId(m.subject(), m.stream_sequence()) : m.msg_id(),
                          &r);
      for (auto& job : r.jobs) trainer_.Enqueue(std::move(job));
      for (auto& a : r.anomalies) out.push_back(std::move(a));
    }
    const size_t n = msgs.size();
    window().Submit(publisher(), std::move(msgs), out, [this, n](bool stored) {
      if (stored) probe_.messages.Inc(static_cast<double>(n));
    });
  }

  const cfg::AnomalyConfig config_;
  ModelStore store_;
  RecentAnomalies recent_;
  Detector detector_;  // worker thread only
  Trainer trainer_;
  AnomalyGrpcService service_;
  AnomalyProbe& probe_;  // the process's, which store_, detector_ and trainer_ default to
};

}  // namespace

absl::StatusOr<std::unique_ptr<runtime::Application>> CreateApp(const cfg::AnomalyConfig& c) {
  return std::make_unique<AnomalyApp>(c);
}

}  // namespace sa::anomaly_service
