#include "normalizer/app.h"

#include <spdlog/spdlog.h>

#include <memory>

#include "common/clock.h"
#include "common/crash_point.h"
#include "normalizer/batch_settler.h"
#include "normalizer/checkpoint_store.h"
#include "normalizer/grpc_service.h"
#include "normalizer/pipeline.h"
#include "runtime/ack_window.h"
#include "runtime/consumer_loop.h"
#include "runtime/nats_service_app.h"
#include "wire/headers.h"

namespace sa::normalizer {

namespace cfg = streamadmin::config::v1;

namespace {

// Raw frames waiting for their outputs' JetStream acks, at most, in
// fetch_batches; and how many fetch_batches may be fetched ahead of the
// decoder. Their raw frames stay unacked meanwhile, so (the sum + 1) times
// fetch_batch must stay well under the consumer's max_ack_pending. Counted in
// frames, not batches: with standing pull requests a batch is what arrived
// since the last Fetch, often a handful of frames.
constexpr size_t kMaxBatchesInFlight = 4;
constexpr int kMaxFetchedAhead = 2;
// How long a stopping worker waits for the outputs of its in-flight batches.
constexpr absl::Duration kDrainTimeout = absl::Seconds(30);

class NormalizerApp final : public runtime::NatsServiceApp {
 public:
  explicit NormalizerApp(const cfg::NormalizerConfig& c)
      : NatsServiceApp(c.nats(), {c.streams().begin(), c.streams().end()}),
        config_(c),
        probe_(NormalizerProbe::Default()),
        pipeline_(PipelineOptions()),
        service_(pipeline_) {}

  std::vector<grpc::Service*> GrpcServices() override { return {&service_}; }

  // Three stages, each on its own thread, so none waits for another's round
  // trips: the consumer loop fetches ahead, its handler thread decodes in
  // order and publishes the outputs (ProcessBatch), the ack window acks the
  // raw frames once their outputs are acknowledged.
  absl::Status OnStart() override {
    store_ = std::make_unique<CheckpointStore>(config_, nats().jetstream(), probe_);
    const size_t window_frames = kMaxBatchesInFlight * static_cast<size_t>(runtime::FetchBatchOf(config_.consumer()));
    return StartConsuming(
        {.consumer = config_.consumer(),
         .fetch_ahead = kMaxFetchedAhead,
         .wait_for_room = [this, window_frames](absl::Duration d) { return window().WaitForRoom(window_frames, d); }},
        [this](std::vector<bus::ReceivedMessage>& batch) {
          TickCandles();
          if (!batch.empty()) ProcessBatch(batch);
          return runtime::ConsumerLoop::Next::kFetch;
        },
        // Frames are acked cumulatively: one ack per settled run of batches.
        {.acks = bus::AckPolicy::kAll, .crash_point_after_ack = "normalizer.frame_acked"});
  }

  // Stops fetching, decodes what was fetched, waits (up to 30 s) until the
  // outputs of the batches in the window are acknowledged, acks their raw
  // frames and stops.
  absl::Status Drain(absl::Duration) override {
    StopPipeline();
    return absl::OkStatus();
  }
  void OnStop() override { StopPipeline(); }

  std::map<std::string, std::string> Details() override {
    PipelineTotals t = pipeline_.Totals();
    return {{"frames", std::to_string(t.frames)},
            {"decode_errors", std::to_string(t.decode_errors)},
            {"venues", std::to_string(t.venues)}};
  }

 private:
  bool CheckpointsOn() const { return !config_.book_checkpoints_disabled(); }

  Pipeline::Options PipelineOptions() {
    Pipeline::Options o;
    o.max_frame_bytes = MaxFrameBytes(config_);
    o.max_message_bytes = MaxMessageBytes(config_);
    o.candle_intervals = CandleIntervals(config_);
    if (CheckpointsOn()) {
      o.restore_books = [this](const std::string& venue, uint64_t first_seq, md::Decoder& decoder) {
        return store_->Restore(venue, first_seq, decoder);
      };
    }
    o.checkpoint_key = [this](const std::string& venue) { return CheckpointKey(config_, venue); };
    o.checkpoints_enabled = CheckpointsOn();
    o.probe = &probe_;
    o.checkpoint_interval = CheckpointInterval(config_);
    return o;
  }

  // Once, from Drain or Stop: the loop handles what it fetched, the window
  // settles; then, every decoded frame acked, the books are checkpointed.
  void StopPipeline() {
    if (stopped_) return;
    stopped_ = true;
    // The outputs already published get their acks, then their raw frames
    // are acked; what is still unacked after the timeout is redelivered.
    absl::Status drained = StopConsuming(kDrainTimeout);
    if (!drained.ok()) spdlog::error("stopping: {}", std::string(drained.message()));
    if (drained.ok() && CheckpointsOn() && store_ && settler_.checkpoints_allowed())
      store_->Save(pipeline_.TakeCheckpoints());
  }

  // Decodes every frame in order and publishes the outputs without waiting
  // for their acks: the batch joins the ack window, which acks its raw frames
  // once all its outputs, and those of every earlier batch, are acknowledged.
  // A crash before that replays the raw frames; the outputs' deterministic
  // ids make the replay harmless.
  void ProcessBatch(std::vector<bus::ReceivedMessage>& msgs) {
    const int64_t t0 = MonotonicNanos();
    std::vector<RawInput> inputs;
    inputs.reserve(msgs.size());
    for (const auto& m : msgs) inputs.push_back(RawInputOf(m));
    DecodedBatch decoded = pipeline_.Decode(inputs, absl::Now());
    SA_CRASH_POINT("normalizer.batch_decoded");  // decoded, nothing published
    BatchSettler::Batch settle{.frames = decoded.frames,
                               .outputs = decoded.outputs.size(),
                               .resyncs = std::move(decoded.resyncs),
                               .checkpoints = std::move(decoded.checkpoints),
                               .start_ns = t0};
    Submit(std::move(msgs), decoded.outputs, std::move(settle));
    SA_CRASH_POINT("normalizer.batch_published");  // outputs published, raw frames not acked
  }

  // Closes candles whose interval has passed on each venue's candle clock.
  void TickCandles() {
    std::vector<bus::Message> out = pipeline_.CloseDueCandles(NowUnixNanos());
    if (out.empty()) return;
    Submit({}, out, {.outputs = out.size(), .start_ns = MonotonicNanos()});  // no raw frames
  }

  void Submit(std::vector<bus::ReceivedMessage> inputs, const std::vector<bus::Message>& outputs,
              BatchSettler::Batch batch) {
    // std::function needs a copyable callable: the batch is shared with it.
    auto shared = std::make_shared<BatchSettler::Batch>(std::move(batch));
    window().Submit(publisher(), std::move(inputs), outputs,
                    [this, shared](bool stored) { OnBatchSettled(stored, std::move(*shared)); });
  }

  // The ack window's thread, in batch order, once the batch's raw frames are
  // acked (stored) or nak'd for redelivery (!stored).
  void OnBatchSettled(bool stored, BatchSettler::Batch batch) {
    BatchSettler::Effects effects = settler_.OnSettled(stored, std::move(batch));
    if (!effects.checkpoints.empty()) store_->Save(effects.checkpoints);
    for (const auto& r : effects.resyncs) RequestResync(r);
  }

  // Asks ingest for a fresh snapshot (core NATS, best effort: the decoder
  // keeps the book unpublished until one arrives, and lists it as pending).
  void RequestResync(const md::ResyncRequest& r) {
    probe_.ResyncRequested(probe_.ForVenue(r.venue), r.reason);
    wire::CoreMessage m = wire::EncodeSnapshotRequest({.venue = r.venue,
                                                       .symbol = r.symbol,
                                                       .action = r.action == md::ResyncRequest::Action::kFetchSnapshot
                                                                     ? wire::SnapshotAction::kFetch
                                                                     : wire::SnapshotAction::kResubscribe,
                                                       .url = r.url,
                                                       .reason = r.reason});
    (void)nats().connection().Publish(m.subject, m.data, m.headers);
  }

  const cfg::NormalizerConfig config_;
  NormalizerProbe& probe_;  // the process's: one set of series per registry
  Pipeline pipeline_;
  NormalizerService service_;
  BatchSettler settler_{probe_};
  std::unique_ptr<CheckpointStore> store_;  // from OnStart: needs the connection
  bool stopped_ = false;                    // main thread
};

}  // namespace

absl::StatusOr<std::unique_ptr<runtime::Application>> CreateApp(const cfg::NormalizerConfig& c) {
  return std::make_unique<NormalizerApp>(c);
}

}  // namespace sa::normalizer
