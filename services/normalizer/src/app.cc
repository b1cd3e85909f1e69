#include "normalizer/app.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <set>

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
#include "runtime/ack_window.h"
#include "runtime/consumer_loop.h"
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

  // Three stages, each on its own thread, so none waits for another's round
  // trips: the consumer loop fetches ahead, its handler thread decodes in
  // order and publishes the outputs (ProcessBatch), the ack window acks the
  // raw frames once their outputs are acknowledged.
  absl::Status OnStart() override {
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
        {.crash_point_after_ack = "normalizer.frame_acked"});
  }

  // Stops fetching, decodes what was fetched, waits (up to 30 s) until the
  // outputs of the batches in the window are acknowledged, acks their raw
  // frames and stops.
  absl::Status Drain(absl::Duration timeout) override {
    StopPipeline();
    return absl::OkStatus();
  }
  void OnStop() override { StopPipeline(); }

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
  // Once, from Drain or Stop: the loop handles what it fetched, the window
  // settles; then, every decoded frame acked, the books are checkpointed.
  void StopPipeline() {
    if (stopped_) return;
    stopped_ = true;
    // The outputs already published get their acks, then their raw frames
    // are acked; what is still unacked after the timeout is redelivered.
    absl::Status drained = StopConsuming(kDrainTimeout);
    if (!drained.ok()) spdlog::error("stopping: {}", std::string(drained.message()));
    if (drained.ok() && CheckpointsOn()) {
      std::vector<std::pair<std::string, std::string>> checkpoints;
      {
        std::lock_guard lock(mu_);
        checkpoints = TakeCheckpointsLocked();
      }
      SaveCheckpoints(checkpoints);
    }
  }

  // Decodes every frame in order and publishes the outputs without waiting
  // for their acks: the batch joins the ack window, which acks its raw frames
  // once all its outputs, and those of every earlier batch, are acknowledged.
  // A crash before that replays the raw frames; the outputs' deterministic
  // ids make the replay harmless.
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
    const size_t frames = msgs.size();
    window().Submit(
        publisher(), std::move(msgs), out,
        [this, frames, outputs = out.size(), resyncs = std::move(resyncs), checkpoints = std::move(checkpoints),
         t0](bool stored) { OnBatchSettled(stored, frames, outputs, resyncs, checkpoints, t0); });
    SA_CRASH_POINT("normalizer.batch_published");  // outputs published, raw frames not acked
  }

  // The ack window's thread, in batch order, once the batch's raw frames are
  // acked (stored) or nak'd for redelivery (!stored).
  void OnBatchSettled(bool stored, size_t frames, size_t outputs, const std::vector<md::ResyncRequest>& resyncs,
                      const std::vector<std::pair<std::string, std::string>>& checkpoints, int64_t start_ns) {
    if (!stored) {
      outputs_failed_ = true;  // later checkpoints could claim frames whose outputs are not stored
      return;
    }
    SaveCheckpoints(checkpoints);
    published_total_->Inc(static_cast<double>(outputs));
    if (frames == 0) return;
    frames_total_->Inc(static_cast<double>(frames));
    for (const auto& r : resyncs) RequestResync(r);
    batch_seconds_->Observe(static_cast<double>(MonotonicNanos() - start_ns) / 1e9);
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
    const int64_t t0 = MonotonicNanos();
    window().Submit(publisher(), {}, out, [this, outputs = out.size(), t0](bool stored) {  // no raw frames
      OnBatchSettled(stored, 0, outputs, {}, {}, t0);
    });
  }

  cfg::NormalizerConfig config_;
  bus::DeadLetterWriter dlq_{{.stage = "normalizer"}};  // builds; publisher() publishes
  bool stopped_ = false;  // main thread
  std::mutex mu_;  // guards venues_, recent_status_, last_checkpoint_ (decoders are single-threaded)
  absl::Time last_checkpoint_ = absl::Now();
  absl::Time last_resync_gauges_ = absl::InfinitePast();  // mu_
  std::mutex kv_mu_;                                      // guards books_kv_ (decoder and ack window threads)
  std::unique_ptr<bus::KeyValue> books_kv_;
  std::atomic<bool> outputs_failed_{false};
  std::set<std::string> checkpointed_venues_;  // window thread: venues whose first save was logged
  std::map<std::string, VenuePipeline> venues_;
  std::deque<mdpb::VenueStatus> recent_status_;
  obs::Counter* frames_total_;
  obs::Counter* published_total_;
  obs::Histogram* batch_seconds_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<runtime::Application>> CreateApp(const cfg::NormalizerConfig& c) {
  return std::make_unique<NormalizerApp>(c);
}

}  // namespace sa::normalizer
