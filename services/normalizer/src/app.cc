#include "normalizer/app.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "bus/dead_letters.h"
#include "bus/jetstream.h"
#include "bus/jetstream_publisher.h"
#include "bus/kv.h"
#include "common/clock.h"
#include "common/crash_point.h"
#include "common/status.h"
#include "marketdata/book_parts.h"
#include "marketdata/candle_builder.h"
#include "marketdata/decode_error.h"
#include "marketdata/decoder_registry.h"
#include "marketdata/raw_codec.h"
#include "marketdata/raw_wire.h"
#include "observability/metrics.h"
#include "runtime/main.h"
#include "runtime/nats_service_app.h"
#include "runtime/streams.h"
#include "streamadmin/normalizer/v1/normalizer.grpc.pb.h"
#include "wire/headers.h"
#include "wire/msg_ids.h"
#include "wire/subjects.h"

namespace sa::normalizer {

namespace cfg = streamadmin::config::v1;
namespace mdpb = streamadmin::marketdata::v1;
namespace pb = streamadmin::normalizer::v1;

cfg::NormalizerConfig DefaultConfig() {
  cfg::NormalizerConfig c;
  runtime::SetCommonDefaults(7102, 9102, c.mutable_server(), c.mutable_log(), c.mutable_nats());
  c.mutable_nats()->set_name("normalizer");
  *c.add_streams() = runtime::MdStream();
  *c.add_streams() = runtime::DlqStream();
  auto* consumer = c.mutable_consumer();
  consumer->set_stream("MD_RAW");
  consumer->set_durable("normalizer");
  consumer->set_filter_subject(wire::kRawAll);
  consumer->set_ack_wait_s(30);
  consumer->set_max_ack_pending(20000);
  consumer->set_fetch_batch(1024);
  // Standing pull requests: frames come as they are stored, not a round trip
  // after the previous batch (latency), and within max_ack_pending.
  consumer->set_prefetch(2048);
  c.add_candle_intervals("1s");
  c.add_candle_intervals("1m");
  c.set_max_frame_bytes(32 << 20);
  c.set_max_message_bytes(512 << 10);
  c.set_book_checkpoint_interval_ms(5000);
  c.set_book_checkpoint_bucket("NORMALIZER_BOOKS");
  c.set_book_checkpoint_max_replay(500000);
  return c;
}

absl::Status ValidateConfig(const cfg::NormalizerConfig& c) {
  if (auto st = runtime::ValidateCommon(c.server(), &c.nats()); !st.ok()) return st;
  if (auto st = runtime::ValidateStreams(c.streams()); !st.ok()) return st;
  if (auto st = runtime::ValidateConsumer(c.consumer()); !st.ok()) return st;
  if (c.max_message_bytes() != 0 && (c.max_message_bytes() < 4096 || c.max_message_bytes() > (64u << 20)))
    return absl::InvalidArgumentError(
        absl::StrCat("key 'max_message_bytes': ", c.max_message_bytes(), " must be 4096..67108864 (0: default)"));
  for (int i = 0; i < c.candle_intervals_size(); ++i) {
    const auto& iv = c.candle_intervals(i);
    if (iv != "1s" && iv != "1m")
      return absl::InvalidArgumentError(absl::StrCat("key 'candle_intervals[", i, "]': '", iv, "' is not 1s or 1m"));
  }
  return absl::OkStatus();
}

namespace {

constexpr size_t kRecentStatusLimit = 1000;
// Raw frames fetched and waiting to be decoded or for their outputs'
// JetStream acks, at once, in fetch_batches (plus the batch being decoded).
// Their raw frames stay unacked meanwhile, so (this + 1) times fetch_batch
// must stay well under the consumer's max_ack_pending. Counted in frames, not
// batches: with standing pull requests a batch is what arrived since the last
// Fetch, often a handful of frames.
constexpr size_t kMaxBatchesInFlight = 4;
// Of those, how many may be fetched ahead of the decoder.
constexpr size_t kMaxFetchedAhead = 2;
// How long a stopping worker waits for the outputs of its in-flight batches.
constexpr absl::Duration kDrainTimeout = absl::Seconds(30);

std::vector<md::CandleBuilder::Interval> Intervals(const cfg::NormalizerConfig& c) {
  std::vector<md::CandleBuilder::Interval> out;
  for (const auto& iv : c.candle_intervals())
    out.push_back({iv, iv == "1s" ? int64_t{1'000'000'000} : int64_t{60'000'000'000}});
  return out;
}

// Collects what one raw frame decodes into, as bus messages with
// deterministic ids, so re-processing the frame after a crash publishes
// nothing twice: trades by the venue's trade id, the rest by the raw frame's
// id plus their position among the frame's outputs.
class FrameOutputs final : public md::Sink {
 public:
  FrameOutputs(const std::string& venue, md::CandleBuilder* candles, std::vector<md::ResyncRequest>* resyncs,
               std::deque<mdpb::VenueStatus>* recent, size_t max_message_bytes)
      : venue_(venue), candles_(candles), resyncs_(resyncs), recent_(recent), max_message_bytes_(max_message_bytes) {}

  void Reset(const std::string& raw_msg_id) {
    raw_msg_id_ = raw_msg_id;
    index_ = 0;
  }
  std::vector<bus::Message>& messages() { return messages_; }
  int64_t max_event_time_ns() const { return max_event_time_ns_; }

  void OnTrade(const mdpb::Trade& t) override {
    const auto& o = t.origin();
    Add(wire::TradeSubject(venue_, o.symbol()),
        t.trade_id().empty() ? NextId(wire::kOutputTrade) : wire::TradeMsgId(venue_, o.symbol(), t.trade_id()), t);
    ++trades;
    int64_t ts = o.exchange_time_ns() ? o.exchange_time_ns() : o.receive_time_ns();
    max_event_time_ns_ = std::max(max_event_time_ns_, ts);
    if (candles_) {
      if (absl::Status st = candles_->Add(t, [this](const mdpb::Candle& c) { OnBuiltCandle(c); }); !st.ok())
        spdlog::warn("candle: {}", std::string(st.message()));
    }
  }
  void OnTicker(const mdpb::Ticker& t) override {
    Add(wire::TickerSubject(venue_, t.origin().symbol()), NextId(wire::kOutputTicker), t);
  }
  void OnBookUpdate(const mdpb::BookUpdate& b) override {
    ++book_updates;
    const std::string subject = wire::BookSubject(venue_, b.origin().symbol());
    if (b.ByteSizeLong() <= max_message_bytes_) {
      Add(subject, NextId(wire::kOutputBook), b);
      return;
    }
    // Over NATS's max_payload: parts a subscriber reassembles (see BookUpdate).
    for (const auto& part : md::SplitBookSnapshot(b, max_message_bytes_)) Add(subject, NextId(wire::kOutputBook), part);
  }
  // Candles the venue itself sends (Coinbase candles, Binance kline) keep the
  // venue's interval, marked native, apart from the ones built from trades.
  void OnCandle(const mdpb::Candle& c) override {
    Add(wire::NativeCandleSubject(c.interval(), venue_, c.origin().symbol()), NextId(wire::kOutputCandle), c);
  }
  void OnBuiltCandle(const mdpb::Candle& c) {
    Add(wire::CandleSubject(c.interval(), venue_, c.origin().symbol()),
        wire::BuiltCandleMsgId(c.interval(), venue_, c.origin().symbol(), c.open_time_ns(), c.closed()), c);
  }
  void OnVenueStatus(const mdpb::VenueStatus& s) override {
    Add(wire::StatusSubject(venue_), NextId(wire::kOutputStatus), s);
    recent_->push_back(s);
    if (recent_->size() > kRecentStatusLimit) recent_->pop_front();
    spdlog::warn("{} {}: {} {}", venue_, s.origin().symbol(), mdpb::VenueStatus::Kind_Name(s.kind()), s.detail());
  }
  void OnResyncRequest(const md::ResyncRequest& r) override { resyncs_->push_back(r); }

  uint64_t trades = 0;
  uint64_t book_updates = 0;

 private:
  std::string NextId(const char* kind) { return wire::FrameOutputMsgId(kind, raw_msg_id_, index_++); }
  void Add(std::string subject, std::string id, const google::protobuf::Message& m) {
    bus::Message out;
    out.subject = std::move(subject);
    out.msg_id = std::move(id);
    m.SerializeToString(&out.data);
    messages_.push_back(std::move(out));
  }

  std::string venue_;
  md::CandleBuilder* candles_;
  std::vector<md::ResyncRequest>* resyncs_;
  std::deque<mdpb::VenueStatus>* recent_;
  size_t max_message_bytes_;
  std::string raw_msg_id_;
  int index_ = 0;
  int64_t max_event_time_ns_ = 0;
  std::vector<bus::Message> messages_;
};

struct VenuePipeline {
  std::unique_ptr<md::Decoder> decoder;
  std::unique_ptr<md::CandleBuilder> candles;
  // Candle clock: event time advanced by wall time since it was seen, so a
  // replay closes candles by the data's time and a live feed by the clock.
  int64_t watermark_event_ns = 0;
  int64_t watermark_wall_ns = 0;
  uint64_t frames = 0, errors = 0, trades = 0, book_updates = 0;
  // streamadmin_normalizer_books_resyncing{venue}: books waiting for a snapshot
  // (the StreamAdminBookResyncingTooLong alert), refreshed once a second.
  obs::Gauge* books_resyncing = nullptr;
  // Frames of this venue at or below this MD_RAW sequence are in the books
  // restored from a checkpoint, their outputs stored: acked, not decoded.
  uint64_t skip_through = 0;
  uint64_t last_seq = 0;  // highest MD_RAW sequence of the venue decoded (or skipped)
};

// Book checkpoints in KV: "p" + protobuf, or "z" + zstd(protobuf) when large.
constexpr size_t kCheckpointCompressAbove = 64 << 10;
constexpr size_t kCheckpointMaxBytes = 900 << 10;  // under NATS's 1 MB max_payload

// Decodes for the state only: what a replay emits was published before.
class DiscardingSink final : public md::Sink {
 public:
  void OnTrade(const mdpb::Trade&) override {}
  void OnTicker(const mdpb::Ticker&) override {}
  void OnBookUpdate(const mdpb::BookUpdate&) override {}
  void OnCandle(const mdpb::Candle&) override {}
  void OnVenueStatus(const mdpb::VenueStatus&) override {}
  void OnResyncRequest(const md::ResyncRequest&) override {}
};

class NormalizerApp final : public runtime::NatsServiceApp, public pb::Normalizer::Service {
 public:
  explicit NormalizerApp(const cfg::NormalizerConfig& c)
      : NatsServiceApp(c.nats(), {c.streams().begin(), c.streams().end()}), config_(c) {
    auto& r = obs::MetricsRegistry::Default();
    frames_total_ = &r.GetCounter("streamadmin_normalizer_frames_total", "Raw frames processed");
    published_total_ = &r.GetCounter("streamadmin_normalizer_published_total", "Canonical messages published");
    batch_seconds_ = &r.GetHistogram("streamadmin_normalizer_batch_seconds",
                                     "Time from decoding a fetched batch to acking its raw frames (outputs acknowledged)");
  }

  std::vector<grpc::Service*> GrpcServices() override { return {this}; }

  absl::Status OnStart() override {
    bus::JetStreamPublisher::Options po;
    po.on_ack = [this](const std::string& msg_id) { OnOutputDone(msg_id, absl::OkStatus()); };
    po.on_failure = [this](const std::string& msg_id, const absl::Status& st) { OnOutputDone(msg_id, st); };
    auto publisher = bus::JetStreamPublisher::Create(nats().connection(), std::move(po));
    if (!publisher.ok()) return publisher.status();
    publisher_ = std::move(*publisher);
    worker_ = std::thread([this] { Run(); });
    return absl::OkStatus();
  }

  absl::Status Pause() override {
    paused_ = true;
    return absl::OkStatus();
  }
  absl::Status Resume() override {
    paused_ = false;
    return absl::OkStatus();
  }
  // The worker stops fetching, decodes what it has fetched, waits (up to 30 s)
  // until the outputs of its in-flight batches are acknowledged, acks their
  // raw frames and stops.
  absl::Status Drain(absl::Duration timeout) override {
    stop_ = true;
    if (worker_.joinable()) worker_.join();
    return absl::OkStatus();
  }
  void OnStop() override {
    stop_ = true;
    if (worker_.joinable()) worker_.join();
    publisher_.reset();
  }

  std::vector<streamadmin::control::v1::Dependency> Dependencies() override {
    auto deps = NatsServiceApp::Dependencies();
    streamadmin::control::v1::Dependency d;
    d.set_name("consumer");
    d.set_healthy(consumer_ready_.load());
    d.set_detail(consumer_ready_ ? absl::StrCat("bound to ", config_.consumer().stream(), "/", config_.consumer().durable())
                                 : "not bound yet");
    deps.push_back(d);
    return deps;
  }

  std::map<std::string, std::string> Details() override {
    std::lock_guard lock(mu_);
    std::map<std::string, std::string> d;
    uint64_t frames = 0, errors = 0;
    for (auto& [v, p] : venues_) {
      frames += p.frames;
      errors += p.errors;
    }
    d["frames"] = std::to_string(frames);
    d["decode_errors"] = std::to_string(errors);
    d["venues"] = std::to_string(venues_.size());
    return d;
  }

  // normalizer.v1.Normalizer
  grpc::Status GetBook(grpc::ServerContext*, const pb::GetBookRequest* req, pb::GetBookResponse* resp) override {
    std::lock_guard lock(mu_);
    auto it = venues_.find(req->venue());
    if (it == venues_.end())
      return grpc::Status(grpc::StatusCode::NOT_FOUND, absl::StrCat("no frames seen from venue '", req->venue(), "'"));
    auto top = it->second.decoder->TopLevels(req->symbol(), req->depth() ? req->depth() : 10);
    resp->set_venue(req->venue());
    resp->set_symbol(req->symbol());
    if (!top.ok()) {
      if (top.status().code() == absl::StatusCode::kUnavailable) {
        resp->set_valid(false);  // resyncing: no levels are served
        return grpc::Status::OK;
      }
      return ToGrpcStatus(top.status());
    }
    resp->set_valid(true);
    *resp->mutable_bids() = top->bids();
    *resp->mutable_asks() = top->asks();
    resp->set_sequence(top->sequence());
    resp->set_book_version(top->book_version());
    return grpc::Status::OK;
  }
  grpc::Status ListGaps(grpc::ServerContext*, const pb::ListGapsRequest* req, pb::ListGapsResponse* resp) override {
    std::lock_guard lock(mu_);
    size_t limit = req->limit() ? req->limit() : 100;
    for (auto it = recent_status_.rbegin(); it != recent_status_.rend() && limit > 0; ++it, --limit)
      *resp->add_events() = *it;
    return grpc::Status::OK;
  }
  grpc::Status ListVenues(grpc::ServerContext*, const pb::ListVenuesRequest*, pb::ListVenuesResponse* resp) override {
    std::lock_guard lock(mu_);
    for (auto& [name, p] : venues_) {
      auto* v = resp->add_venues();
      v->set_venue(name);
      v->set_frames(p.frames);
      v->set_decode_errors(p.errors);
      v->set_trades(p.trades);
      v->set_book_updates(p.book_updates);
      auto symbols = p.decoder->BookSymbols();
      v->set_books(symbols.size());
      v->set_books_resyncing(p.decoder->PendingResyncs().size());
      for (auto& s : symbols) v->add_symbols(s);
    }
    return grpc::Status::OK;
  }

 private:
  // In-flight batch: raw frames wait for their acks until every output
  // decoded from them (and from every earlier batch) is acknowledged.
  struct InFlightBatch {
    uint64_t seq = 0;
    std::vector<bus::ReceivedMessage> raw;
    std::vector<md::ResyncRequest> resyncs;
    size_t outputs = 0;
    size_t outstanding = 0;  // outputs neither acknowledged nor failed yet
    bool failed = false;     // an output failed permanently: nak the raw frames
    int64_t start_ns = 0;
    // Book checkpoints (KV key, value) taken after decoding this batch: saved
    // once its raw frames, and every earlier batch's, are acked.
    std::vector<std::pair<std::string, std::string>> checkpoints;
  };

  // Three stages, each on its own thread, so none waits for another's round
  // trips: the fetcher pulls batches ahead (FetchBatches), this thread
  // decodes them in order and publishes the outputs, the completer acks the
  // raw frames once their outputs are acknowledged (CompleteBatches).
  void Run() {
    pthread_setname_np(pthread_self(), "norm-decode");  // names show in top -H and perf
    std::thread completer([this] {
      pthread_setname_np(pthread_self(), "norm-complete");
      CompleteBatches();
    });
    std::thread fetcher([this] {
      pthread_setname_np(pthread_self(), "norm-fetch");
      FetchBatches();
    });
    while (true) {
      std::vector<bus::ReceivedMessage> msgs;
      {
        std::unique_lock lock(win_mu_);
        win_cv_.wait_for(lock, std::chrono::milliseconds(200), [&] { return !fetched_.empty() || fetcher_done_; });
        if (!fetched_.empty()) {
          // Everything fetched so far becomes one batch: one window entry
          // and one publish loop instead of several small ones.
          msgs = std::move(fetched_.front());
          fetched_.pop_front();
          while (!fetched_.empty()) {
            for (auto& m : fetched_.front()) msgs.push_back(std::move(m));
            fetched_.pop_front();
          }
          fetched_frames_ = 0;
        } else if (fetcher_done_) {
          break;  // stopping, and every fetched batch is processed
        }
      }
      win_cv_.notify_all();  // room for the fetcher
      TickCandles();
      if (!msgs.empty()) ProcessBatch(msgs);
    }
    fetcher.join();
    // Drain: the outputs already published get their acks, then their raw
    // frames are acked; what is still unacked after the timeout is redelivered.
    bool drained;
    {
      std::unique_lock lock(win_mu_);
      drained = win_cv_.wait_for(lock, absl::ToChronoNanoseconds(kDrainTimeout), [&] { return window_.empty(); });
      if (!drained)
        spdlog::error("stopping with {} batches whose outputs are not acknowledged; their raw frames will be redelivered",
                      window_.size());
      completer_stop_ = true;
    }
    win_cv_.notify_all();
    completer.join();
    if (drained && CheckpointsOn()) {
      // Every decoded frame is acked: the books as they are now.
      std::vector<std::pair<std::string, std::string>> checkpoints;
      {
        std::lock_guard lock(mu_);
        checkpoints = TakeCheckpointsLocked();
      }
      SaveCheckpoints(checkpoints);
    }
  }

  // Fetcher thread: binds the durable and fetches ahead of the decoder.
  void FetchBatches() {
    FetchLoop();
    {
      std::lock_guard lock(win_mu_);
      fetcher_done_ = true;
    }
    win_cv_.notify_all();
  }

  void FetchLoop() {
    std::unique_ptr<bus::PullSubscription> sub;
    absl::Duration backoff = absl::Milliseconds(100);
    while (!stop_) {
      if (!sub) {
        if (!nats().WaitReady(absl::Milliseconds(200))) continue;
        sub = BindPullConsumer(config_.consumer(), &backoff);
        if (!sub) continue;
        consumer_ready_ = true;
      }
      if (paused_) {
        absl::SleepFor(absl::Milliseconds(50));  // NOLINT: paused; polls the flag
        continue;
      }
      const int batch = static_cast<int>(config_.consumer().fetch_batch() ? config_.consumer().fetch_batch() : 256);
      {
        // Bounded pipeline: at most kMaxFetchedAhead batches' worth of
        // frames wait for the decoder, and at most kMaxBatchesInFlight in all
        // (fetched or awaiting their output acks).
        const size_t batch_frames = static_cast<size_t>(batch);
        std::unique_lock lock(win_mu_);
        if (!win_cv_.wait_for(lock, std::chrono::milliseconds(200), [&] {
              return fetched_frames_ < kMaxFetchedAhead * batch_frames &&
                     fetched_frames_ + window_frames_ < kMaxBatchesInFlight * batch_frames;
            }))
          continue;
      }
      auto msgs = sub->Fetch(batch, absl::Milliseconds(200));
      if (!msgs.ok()) {
        spdlog::warn("fetch: {}", std::string(msgs.status().message()));
        continue;
      }
      if (msgs->empty()) continue;
      {
        std::lock_guard lock(win_mu_);
        fetched_frames_ += msgs->size();
        fetched_.push_back(std::move(*msgs));
      }
      win_cv_.notify_all();
    }
  }

  // Decodes every frame in order and publishes the outputs without waiting
  // for their acks: the batch joins the in-flight window, and
  // CompleteBatches acks its raw frames once all its outputs, and those of
  // every earlier batch, are acknowledged. A crash before that replays the
  // raw frames; the outputs' deterministic ids make the replay harmless.
  void ProcessBatch(std::vector<bus::ReceivedMessage>& msgs) {
    const int64_t t0 = MonotonicNanos();
    std::vector<bus::Message> out;
    std::vector<md::ResyncRequest> resyncs;
    std::vector<std::pair<std::string, std::string>> checkpoints;
    {
      std::lock_guard lock(mu_);
      for (auto& m : msgs) DecodeOne(m, &out, &resyncs);
      if (absl::Now() - last_resync_gauges_ >= absl::Seconds(1)) {
        last_resync_gauges_ = absl::Now();
        for (auto& [name, vp] : venues_)
          vp.books_resyncing->Set(static_cast<double>(vp.decoder->PendingResyncs().size()));
      }
      if (CheckpointsOn() && absl::Now() - last_checkpoint_ >= CheckpointInterval()) {
        last_checkpoint_ = absl::Now();
        checkpoints = TakeCheckpointsLocked();
      }
    }
    SA_CRASH_POINT("normalizer.batch_decoded");  // decoded, nothing published
    auto b = std::make_unique<InFlightBatch>();
    b->checkpoints = std::move(checkpoints);
    b->raw = std::move(msgs);
    b->resyncs = std::move(resyncs);
    b->start_ns = t0;
    PublishTracked(std::move(b), out);
    SA_CRASH_POINT("normalizer.batch_published");  // outputs published, raw frames not acked
  }

  // Registers `b` in the window with one expected ack per output (before
  // publishing, so no ack can come first), then publishes the outputs.
  void PublishTracked(std::unique_ptr<InFlightBatch> b, const std::vector<bus::Message>& out) {
    uint64_t seq;
    {
      std::lock_guard lock(win_mu_);
      seq = b->seq = next_batch_seq_++;
      b->outputs = b->outstanding = out.size();
      for (const auto& o : out) awaiting_[o.msg_id].push_back(seq);
      window_frames_ += b->raw.size();
      window_.push_back(std::move(b));
    }
    if (out.empty()) win_cv_.notify_all();
    for (const auto& o : out) {
      absl::Status st = publisher_->Publish(o);
      if (st.ok()) continue;
      // Refused outright (no callback will come): counts as done, as before
      // the pipeline (logged, the raw frame is still acked).
      spdlog::error("publish {}: {}", o.subject, std::string(st.message()));
      std::lock_guard lock(win_mu_);
      auto it = awaiting_.find(o.msg_id);
      if (it != awaiting_.end()) {
        auto& q = it->second;
        for (auto r = q.rbegin(); r != q.rend(); ++r) {
          if (*r == seq) {
            q.erase(std::next(r).base());
            break;
          }
        }
        if (q.empty()) awaiting_.erase(it);
      }
      if (InFlightBatch* w = FindBatchLocked(seq); w && --w->outstanding == 0) win_cv_.notify_all();
    }
  }

  InFlightBatch* FindBatchLocked(uint64_t seq) {
    if (window_.empty() || seq < window_.front()->seq) return nullptr;
    size_t i = static_cast<size_t>(seq - window_.front()->seq);
    return i < window_.size() ? window_[i].get() : nullptr;
  }

  // The publisher's on_ack / on_failure (nats.c's ack thread: quick, no
  // publishing). An id that repeats across batches (an open candle) is
  // attributed to the oldest batch waiting for it: any ack means a message
  // with that id is stored.
  void OnOutputDone(const std::string& msg_id, const absl::Status& st) {
    bool notify = false;
    {
      std::lock_guard lock(win_mu_);
      auto it = awaiting_.find(msg_id);
      if (it == awaiting_.end()) return;
      const uint64_t seq = it->second.front();
      it->second.erase(it->second.begin());
      if (it->second.empty()) awaiting_.erase(it);
      if (InFlightBatch* b = FindBatchLocked(seq)) {
        if (!st.ok()) b->failed = true;
        notify = --b->outstanding == 0;
      }
    }
    if (notify) win_cv_.notify_all();
  }

  // Completer thread: acks (or, after a permanent output failure, naks) the
  // raw frames of finished batches, in batch order.
  void CompleteBatches() {
    while (true) {
      std::vector<std::unique_ptr<InFlightBatch>> done;
      {
        std::unique_lock lock(win_mu_);
        win_cv_.wait(lock, [&] { return completer_stop_ || (!window_.empty() && window_.front()->outstanding == 0); });
        while (!window_.empty() && window_.front()->outstanding == 0) {
          window_frames_ -= window_.front()->raw.size();
          done.push_back(std::move(window_.front()));
          window_.pop_front();
        }
        if (done.empty() && completer_stop_) return;
      }
      win_cv_.notify_all();  // room in the window (and Run's drain)
      for (auto& b : done) {
        if (b->failed) {
          // Not stored: the raw frames come again; outputs are deduplicated.
          spdlog::error("outputs of {} raw frames failed, they will be redelivered", b->raw.size());
          for (auto& m : b->raw) (void)m.Nak();
          outputs_failed_ = true;  // later checkpoints could claim frames whose outputs are not stored
          continue;
        }
        for (auto& m : b->raw) {
          (void)m.Ack();
          SA_CRASH_POINT("normalizer.frame_acked");  // part of a batch's raw frames acked
        }
        SaveCheckpoints(b->checkpoints);
        published_total_->Inc(static_cast<double>(b->outputs));
        if (b->raw.empty()) continue;
        frames_total_->Inc(static_cast<double>(b->raw.size()));
        for (const auto& r : b->resyncs) RequestResync(r);
        batch_seconds_->Observe(static_cast<double>(MonotonicNanos() - b->start_ns) / 1e9);
      }
    }
  }

  VenuePipeline* PipelineFor(const std::string& venue, uint64_t first_seq, std::vector<md::ResyncRequest>* resyncs,
                              std::string* error) {
    auto it = venues_.find(venue);
    if (it != venues_.end()) return &it->second;
    VenuePipeline* p = NewPipeline(venue, error);
    if (p != nullptr && CheckpointsOn()) RestoreBooks(venue, first_seq, p, resyncs);
    return p;
  }

  VenuePipeline* NewPipeline(const std::string& venue, std::string* error) {
    md::DecoderOptions opts;
    opts.max_frame_bytes = config_.max_frame_bytes() ? config_.max_frame_bytes() : opts.max_frame_bytes;
    auto decoder = md::DecoderRegistry::Global().Create(venue, opts);
    if (!decoder.ok()) {
      *error = std::string(decoder.status().message());
      return nullptr;
    }
    VenuePipeline p;
    p.decoder = std::move(*decoder);
    p.books_resyncing = &obs::MetricsRegistry::Default().GetGauge("streamadmin_normalizer_books_resyncing",
                                                                  "Books in doubt, waiting for a snapshot, by venue",
                                                                  {{"venue", venue}});
    // The venue's dead-letter reasons at 0 from the start, so increase() sees the first one.
    for (int e = 1; e <= static_cast<int>(md::DecodeError::kUnsupportedFrame); ++e)
      obs::MetricsRegistry::Default().GetCounter(
          "streamadmin_normalizer_decode_errors_total", "Raw frames sent to dlq.normalizer, by reason",
          {{"venue", venue}, {"reason", std::string(md::DecodeErrorName(static_cast<md::DecodeError>(e)))}});
    if (config_.candle_intervals_size() > 0) {
      md::CandleBuilder::Options co;
      co.intervals = Intervals(config_);
      p.candles = std::make_unique<md::CandleBuilder>(co);
    }
    return &venues_.insert_or_assign(venue, std::move(p)).first->second;
  }

  // --- Book checkpoints ---------------------------------------------------

  bool CheckpointsOn() const { return !config_.book_checkpoints_disabled(); }
  absl::Duration CheckpointInterval() const {
    return absl::Milliseconds(config_.book_checkpoint_interval_ms() ? config_.book_checkpoint_interval_ms() : 5000);
  }
  std::string CheckpointKey(const std::string& venue) const {
    return absl::StrCat(config_.consumer().durable(), ".", venue);
  }
  void CountCheckpoint(const std::string& venue, const char* outcome) {
    obs::MetricsRegistry::Default()
        .GetCounter("streamadmin_normalizer_book_checkpoints_total",
                    "Book checkpoints saved, and restored or not used at start, by venue and outcome",
                    {{"venue", venue}, {"outcome", outcome}})
        .Inc();
  }
  bus::KeyValue* BooksKv() {
    std::lock_guard lock(kv_mu_);
    if (!books_kv_) {
      const std::string bucket =
          config_.book_checkpoint_bucket().empty() ? "NORMALIZER_BOOKS" : config_.book_checkpoint_bucket();
      auto kv = bus::KeyValue::Create(nats().jetstream(), bucket);
      if (!kv.ok()) {
        spdlog::warn("book checkpoints: bucket {}: {}", bucket, std::string(kv.status().message()));
        return nullptr;
      }
      books_kv_ = std::move(*kv);
    }
    return books_kv_.get();
  }

  // The books of every venue that supports checkpoints, as KV entries. mu_ held.
  std::vector<std::pair<std::string, std::string>> TakeCheckpointsLocked() {
    std::vector<std::pair<std::string, std::string>> out;
    for (auto& [venue, p] : venues_) {
      if (p.last_seq == 0) continue;
      auto c = p.decoder->ExportBooks();
      if (!c.ok()) continue;  // Unimplemented: the venue restarts from snapshots
      c->set_raw_stream_seq(std::max(p.last_seq, p.skip_through));
      c->set_saved_at_ns(NowUnixNanos());
      std::string value = c->SerializeAsString();
      const bool compressed = md::CompressRawPayload(&value, kCheckpointCompressAbove);
      if (value.size() > kCheckpointMaxBytes) {
        spdlog::warn("book checkpoint of {}: {} bytes, over {}: not saved", venue, value.size(), kCheckpointMaxBytes);
        CountCheckpoint(venue, "too_big");
        continue;
      }
      out.emplace_back(CheckpointKey(venue), absl::StrCat(compressed ? "z" : "p", value));
    }
    return out;
  }

  void SaveCheckpoints(const std::vector<std::pair<std::string, std::string>>& checkpoints) {
    if (checkpoints.empty() || outputs_failed_) return;
    bus::KeyValue* kv = BooksKv();
    if (kv == nullptr) return;
    for (const auto& [key, value] : checkpoints) {
      const std::string venue = key.substr(key.find('.') + 1);
      if (auto r = kv->Put(key, value); !r.ok()) {
        spdlog::warn("book checkpoint {}: {}", key, std::string(r.status().message()));
        CountCheckpoint(venue, "save_failed");
      } else {
        CountCheckpoint(venue, "saved");
        if (checkpointed_venues_.insert(venue).second)
          spdlog::info("book checkpoints of {}: saved every {} in {} (key {})", venue,
                       absl::FormatDuration(CheckpointInterval()), kv->bucket(), key);
      }
    }
  }

  // A new pipeline for `venue`, whose first frame here is MD_RAW sequence
  // `first_seq`: its books from the checkpoint, brought up to that frame by
  // replaying the venue's raw frames in between (they were acked after the
  // checkpoint, so they are not delivered again). On any failure the
  // pipeline starts empty, as without checkpoints. mu_ held.
  void RestoreBooks(const std::string& venue, uint64_t first_seq, VenuePipeline* p,
                    std::vector<md::ResyncRequest>* resyncs) {
    bus::KeyValue* kv = BooksKv();
    if (kv == nullptr) return;
    auto got = kv->Get(CheckpointKey(venue));
    if (!got.ok()) {
      spdlog::warn("book checkpoint of {}: {}", venue, std::string(got.status().message()));
      CountCheckpoint(venue, "load_failed");
      return;
    }
    if (!got->has_value() || (*got)->empty()) return;
    const std::string& stored = **got;
    auto bytes = md::DecodeRawPayload(stored.substr(1), stored[0] == 'z' ? md::kEncodingZstd : "",
                                      config_.max_frame_bytes() ? config_.max_frame_bytes() : (32u << 20));
    mdpb::BookCheckpoint c;
    if (!bytes.ok() || (stored[0] != 'z' && stored[0] != 'p') || !c.ParseFromString(*bytes)) {
      spdlog::warn("book checkpoint of {}: unreadable, not used", venue);
      CountCheckpoint(venue, "unreadable");
      return;
    }
    const uint64_t from = c.raw_stream_seq();
    auto fail = [&](const std::string& why, const char* outcome) {
      spdlog::warn("book checkpoint of {} at MD_RAW {}: {}; its books wait for the venue's snapshots", venue, from, why);
      CountCheckpoint(venue, outcome);
      std::string ignored;
      NewPipeline(venue, &ignored);  // whatever was imported is dropped
    };
    if (from + 1 < first_seq) {
      if (first_seq - from - 1 > (config_.book_checkpoint_max_replay() ? config_.book_checkpoint_max_replay() : 500000))
        return fail(absl::StrCat(first_seq - from - 1, " raw frames behind"), "stale");
      auto info = nats().jetstream().GetStreamInfo(config_.consumer().stream());
      if (!info.ok()) return fail(std::string(info.status().message()), "load_failed");
      if (info->first_seq > from + 1) return fail("MD_RAW no longer holds the frames after it", "stale");
    }
    if (absl::Status st = p->decoder->ImportBooks(c); !st.ok()) return fail(std::string(st.message()), "unreadable");
    uint64_t replayed = 0;
    if (from + 1 < first_seq) {
      auto n = ReplayRaw(venue, from + 1, first_seq, p);
      if (!n.ok()) return fail(std::string(n.status().message()), "load_failed");
      replayed = *n;
    }
    p->skip_through = from;  // frames up to it come again when their acks were lost: already in the books
    for (auto& r : p->decoder->PendingResyncs()) resyncs->push_back(r);
    CountCheckpoint(venue, "restored");
    spdlog::info("book checkpoint of {}: {} books restored at MD_RAW {}, {} raw frames replayed up to {}", venue,
                 c.books_size(), from, replayed, first_seq);
  }

  // Decodes the venue's raw frames with MD_RAW sequences in [from, to), for
  // the books only, through a consumer of its own.
  absl::StatusOr<uint64_t> ReplayRaw(const std::string& venue, uint64_t from, uint64_t to, VenuePipeline* p) {
    cfg::ConsumerConfig rc;
    rc.set_stream(config_.consumer().stream());
    rc.set_durable(absl::StrCat(config_.consumer().durable(), "-books-", venue));
    rc.set_filter_subject(wire::RawSubject(venue));
    rc.set_max_ack_pending(100000);
    rc.set_ack_wait_s(300);
    bus::JetStream& js = nats().jetstream();
    if (absl::Status st = js.RecreatePullConsumerAt(rc, from); !st.ok()) return st;
    auto sub = js.PullSubscribe(rc);
    if (!sub.ok()) {
      (void)js.DeleteConsumer(rc.stream(), rc.durable());
      return sub.status();
    }
    DiscardingSink sink;
    uint64_t n = 0;
    absl::Status result;
    bool done = false;
    constexpr int kMaxIdleFetches = 5;  // 1 s each: the frames before `to` are stored, so they come at once
    for (int idle = 0; !done;) {
      auto msgs = (*sub)->Fetch(1000, absl::Seconds(1));
      if (!msgs.ok()) {
        result = msgs.status();
        break;
      }
      if (msgs->empty()) {
        if (++idle < kMaxIdleFetches) continue;
        result = absl::DeadlineExceededError(absl::StrCat("replay stopped before MD_RAW ", to));
        break;
      }
      idle = 0;
      for (auto& m : *msgs) {
        if (m.stream_sequence() >= to) {
          done = true;
          break;
        }
        auto frame = FrameOf(m);
        if (frame.ok()) (void)p->decoder->Decode(*frame, sink);  // errors were dead-lettered the first time
        ++n;
      }
    }
    sub->reset();
    (void)js.DeleteConsumer(rc.stream(), rc.durable());
    if (!result.ok()) return result;
    return n;
  }

  // The raw frame a message carries; the error's message says what is wrong
  // and its payload (a DLQ reason) why.
  absl::StatusOr<md::RawFrame> FrameOf(const bus::ReceivedMessage& m) {
    const std::string& subject = m.subject();
    md::RawFrame frame;
    frame.venue = wire::RawVenueOf(subject);
    frame.conn = m.header(md::kHeaderConn).value_or("");
    (void)absl::SimpleAtoi(m.header(md::kHeaderFrameSeq).value_or("0"), &frame.frame_seq);
    (void)absl::SimpleAtoi(m.header(md::kHeaderRecvNs).value_or("0"), &frame.recv_time_ns);
    std::string kind = m.header(md::kHeaderKind).value_or(wire::frame_kind::kWs);
    frame.url = m.header(md::kHeaderUrl).value_or("");
    auto payload = md::DecodeRawPayload(m.data(), m.header(md::kHeaderEncoding).value_or(""),
                                        config_.max_frame_bytes() ? config_.max_frame_bytes() : (32u << 20));
    if (!payload.ok()) {
      absl::Status st(payload.status().code(), payload.status().message());
      st.SetPayload("dlq", absl::Cord(payload.status().code() == absl::StatusCode::kResourceExhausted ? "oversized"
                                                                                                      : "bad_encoding"));
      return st;
    }
    frame.data = std::move(*payload);
    md::ReserveJsonPadding(frame.data);
    if (!md::ParseFrameKind(kind, &frame.kind)) {
      absl::Status st = absl::InvalidArgumentError(absl::StrCat("unknown ", md::kHeaderKind, " '", kind, "'"));
      st.SetPayload("dlq", absl::Cord("bad_header"));
      return st;
    }
    return frame;
  }

  void DecodeOne(bus::ReceivedMessage& m, std::vector<bus::Message>* out, std::vector<md::ResyncRequest>* resyncs) {
    const std::string& subject = m.subject();
    auto parsed = FrameOf(m);
    if (!parsed.ok()) {
      auto reason = parsed.status().GetPayload("dlq");
      DeadLetter(m, reason ? std::string(*reason) : "bad_header", std::string(parsed.status().message()), out);
      return;
    }
    md::RawFrame& frame = *parsed;
    const std::string venue = frame.venue;
    std::string error;
    VenuePipeline* p = PipelineFor(venue, m.stream_sequence(), resyncs, &error);
    if (!p) {
      DeadLetter(m, "unknown_venue", error, out);
      return;
    }
    ++p->frames;
    p->last_seq = std::max(p->last_seq, m.stream_sequence());
    if (m.stream_sequence() <= p->skip_through) return;  // in the restored books, outputs stored
    SA_CRASH_POINT("normalizer.frame_decoding");  // the k-th frame of this process, before its decode
    FrameOutputs sink(venue, p->candles.get(), resyncs, &recent_status_, MaxMessageBytes());
    sink.Reset(m.msg_id().empty() ? wire::StreamPositionId(subject, m.stream_sequence()) : m.msg_id());
    absl::Status st = p->decoder->Decode(frame, sink);
    p->trades += sink.trades;
    p->book_updates += sink.book_updates;
    if (sink.max_event_time_ns() > p->watermark_event_ns) {
      p->watermark_event_ns = sink.max_event_time_ns();
      p->watermark_wall_ns = NowUnixNanos();
    }
    for (auto& o : sink.messages()) out->push_back(std::move(o));
    if (!st.ok()) {
      md::DecodeError reason = md::GetDecodeError(st);
      if (reason == md::DecodeError::kOutOfOrder && m.delivery_count() > 1) {
        // A redelivery of a frame this process already decoded: its outputs are out.
        return;
      }
      ++p->errors;
      DeadLetter(m, std::string(md::DecodeErrorName(reason)), std::string(st.message()), out);
    }
  }

  // The dead letter goes out with the batch's other outputs: the raw frame is
  // acked only once it is stored.
  void DeadLetter(const bus::ReceivedMessage& m, const std::string& reason, const std::string& error,
                  std::vector<bus::Message>* out) {
    std::string venue = m.subject().substr(std::min(m.subject().size(), strlen(wire::kRawPrefix)));
    obs::MetricsRegistry::Default()
        .GetCounter("streamadmin_normalizer_decode_errors_total", "Raw frames sent to dlq.normalizer, by reason",
                    {{"venue", venue}, {"reason", reason}})
        .Inc();
    spdlog::warn("dead letter ({}): {}", reason, error);
    out->push_back(dlq_.Build(
        {.reason = reason,
         .error = error,
         .subject = m.subject(),
         .input_msg_id = m.msg_id().empty() ? wire::StreamPositionId(m.subject(), m.stream_sequence()) : m.msg_id(),
         .payload = m.data(),
         .input_headers = m.headers()}));
  }

  // Asks ingest for a fresh snapshot (core NATS, best effort: the decoder
  // keeps the book unpublished until one arrives, and lists it as pending).
  void RequestResync(const md::ResyncRequest& r) {
    obs::MetricsRegistry::Default()
        .GetCounter("streamadmin_normalizer_resync_requests_total", "Book resyncs requested from ingest",
                    {{"venue", r.venue}, {"reason", r.reason}})
        .Inc();
    wire::CoreMessage m = wire::EncodeSnapshotRequest({.venue = r.venue,
                                                       .symbol = r.symbol,
                                                       .action = r.action == md::ResyncRequest::Action::kFetchSnapshot
                                                                     ? wire::SnapshotAction::kFetch
                                                                     : wire::SnapshotAction::kResubscribe,
                                                       .url = r.url,
                                                       .reason = r.reason});
    (void)nats().connection().Publish(m.subject, m.data, m.headers);
  }

  size_t MaxMessageBytes() const { return config_.max_message_bytes() ? config_.max_message_bytes() : (512u << 10); }

  // Closes candles whose interval has passed on each venue's candle clock.
  void TickCandles() {
    std::vector<bus::Message> out;
    {
      std::lock_guard lock(mu_);
      const int64_t now = NowUnixNanos();
      for (auto& [venue, p] : venues_) {
        if (!p.candles || p.watermark_event_ns == 0) continue;
        FrameOutputs sink(venue, nullptr, nullptr, &recent_status_, MaxMessageBytes());
        p.candles->CloseDue(p.watermark_event_ns + (now - p.watermark_wall_ns),
                            [&](const mdpb::Candle& c) { sink.OnBuiltCandle(c); });
        for (auto& o : sink.messages()) out.push_back(std::move(o));
      }
    }
    if (out.empty()) return;
    auto b = std::make_unique<InFlightBatch>();  // no raw frames: only tracks the acks
    b->start_ns = MonotonicNanos();
    PublishTracked(std::move(b), out);
  }

  cfg::NormalizerConfig config_;
  bus::DeadLetterWriter dlq_{{.stage = "normalizer"}};  // builds; publisher_ publishes
  std::unique_ptr<bus::JetStreamPublisher> publisher_;
  std::thread worker_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> paused_{false};
  std::atomic<bool> consumer_ready_{false};
  std::mutex mu_;  // guards venues_, recent_status_, last_checkpoint_ (decoders are single-threaded)
  absl::Time last_checkpoint_ = absl::Now();
  absl::Time last_resync_gauges_ = absl::InfinitePast();  // mu_
  std::mutex kv_mu_;  // guards books_kv_ (decoder and completer threads)
  std::unique_ptr<bus::KeyValue> books_kv_;
  std::atomic<bool> outputs_failed_{false};
  std::set<std::string> checkpointed_venues_;  // completer thread: venues whose first save was logged
  std::map<std::string, VenuePipeline> venues_;
  std::deque<mdpb::VenueStatus> recent_status_;
  // The pipeline's queues (fetcher, worker, completer and the publisher's ack thread).
  std::mutex win_mu_;
  std::condition_variable win_cv_;
  std::deque<std::unique_ptr<InFlightBatch>> window_;  // by seq, oldest first
  // Output msg id -> batch seqs, oldest first (an id repeats across batches
  // only when a candle is re-emitted; one inline slot, no deque per output).
  absl::flat_hash_map<std::string, absl::InlinedVector<uint64_t, 1>> awaiting_;
  std::deque<std::vector<bus::ReceivedMessage>> fetched_;  // fetched, not decoded yet
  size_t fetched_frames_ = 0;  // in fetched_ (guarded by win_mu_)
  size_t window_frames_ = 0;   // raw frames of window_ (guarded by win_mu_)
  uint64_t next_batch_seq_ = 1;
  bool fetcher_done_ = false;
  bool completer_stop_ = false;
  obs::Counter* frames_total_;
  obs::Counter* published_total_;
  obs::Histogram* batch_seconds_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<runtime::Application>> CreateApp(const cfg::NormalizerConfig& c) {
  return std::make_unique<NormalizerApp>(c);
}

}  // namespace sa::normalizer
