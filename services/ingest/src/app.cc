#include "ingest/app.h"

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "bus/dead_letters.h"
#include "bus/jetstream_publisher.h"
#include "common/clock.h"
#include "common/status.h"
#include "ingest/probe.h"
#include "marketdata/raw_codec.h"
#include "marketdata/raw_wire.h"
#include "observability/metrics.h"
#include "replay_source.h"
#include "runtime/main.h"
#include "runtime/nats_service_app.h"
#include "runtime/streams.h"
#include "sources/source_registry.h"
#include "streamadmin/ingest/v1/ingest.grpc.pb.h"
#include "wire/headers.h"
#include "wire/msg_ids.h"
#include "wire/subjects.h"

namespace sa::ingest {

namespace cfg = streamadmin::config::v1;
namespace pb = streamadmin::ingest::v1;

cfg::IngestConfig DefaultConfig() {
  cfg::IngestConfig c;
  runtime::SetCommonDefaults(7101, 9101, c.mutable_server(), c.mutable_log(), c.mutable_nats());
  c.mutable_nats()->set_name("ingest");
  *c.add_streams() = runtime::MdRawStream();
  *c.add_streams() = runtime::DlqStream();
  return c;
}

absl::Status ValidateSource(const cfg::SourceConfig& s, const std::string& key) {
  auto bad = [&](const std::string& field, const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat("key '", key, ".", field, "': ", why));
  };
  if (s.name().empty() || s.name().find_first_of(" .*>") != std::string::npos)
    return bad("name", absl::StrCat("'", s.name(), "' must be non-empty without spaces, '.', '*' or '>'"));
  if (s.kind() == "replay") {
    if (s.replay().path().empty()) return bad("replay.path", "required for a replay source");
    if (s.replay().speed() < 0) return bad("replay.speed", "must be >= 0");
  } else if (s.kind() == "websocket") {
    if (s.venue().empty()) return bad("venue", "required for a websocket source");
  } else if (s.kind() == "kafka") {
    if (s.kafka().brokers().empty()) return bad("kafka.brokers", "required for a kafka source");
    if (s.kafka().topics().empty()) return bad("kafka.topics", "at least one topic");
  } else {
    return bad("kind", absl::StrCat("'", s.kind(), "' is not replay, websocket or kafka"));
  }
  if (!s.venue().empty() && s.venue().find_first_of(" .*>") != std::string::npos)
    return bad("venue", absl::StrCat("'", s.venue(), "' cannot be a NATS subject token"));
  return absl::OkStatus();
}

absl::Status ValidateConfig(const cfg::IngestConfig& c) {
  if (auto st = runtime::ValidateCommon(c.server(), &c.nats()); !st.ok()) return st;
  if (auto st = runtime::ValidateStreams(c.streams()); !st.ok()) return st;
  std::set<std::string> names;
  for (int i = 0; i < c.sources_size(); ++i) {
    std::string key = absl::StrCat("sources[", i, "]");
    if (auto st = ValidateSource(c.sources(i), key); !st.ok()) return st;
    if (!names.insert(c.sources(i).name()).second)
      return absl::InvalidArgumentError(absl::StrCat("key '", key, ".name': '", c.sources(i).name(), "' is used twice"));
  }
  return absl::OkStatus();
}

namespace {

// Builds a source from its config: "replay" here, the others through the
// sources registry (nothing else switches on kind names).
absl::StatusOr<std::unique_ptr<sources::Source>> MakeSource(const cfg::SourceConfig& s) {
  if (s.kind() == "replay") {
    return std::make_unique<ReplaySource>(
        ReplaySource::Options{s.name(), s.venue(), s.replay().path(), s.replay().speed(), s.replay().loop()});
  }
  nlohmann::json j;
  j["name"] = s.name();
  if (!s.venue().empty()) j["venue"] = s.venue();
  if (s.kind() == "websocket") {
    const auto& w = s.websocket();
    // Connection numbers restart with the process; the boot time keeps
    // (conn, frame_seq) - and so Nats-Msg-Id - unique across restarts.
    static const int64_t boot_ms = NowUnixMicros() / 1000;
    j["conn_prefix"] = absl::StrCat(s.name(), ".", boot_ms);
    if (!w.url().empty()) j["url"] = w.url();
    if (!w.rest_url().empty()) j["snapshot_base_url"] = w.rest_url();
    j["channels"] = std::vector<std::string>(w.channels().begin(), w.channels().end());
    j["symbols"] = std::vector<std::string>(w.symbols().begin(), w.symbols().end());
    if (w.ping_interval_s()) j["ping_interval_ms"] = w.ping_interval_s() * 1000;
    if (w.watchdog_s()) j["watchdog_timeout_ms"] = w.watchdog_s() * 1000;
    if (w.reconnect_min_ms()) j["backoff_initial_ms"] = w.reconnect_min_ms();
    if (w.reconnect_max_ms()) j["backoff_max_ms"] = w.reconnect_max_ms();
    if (w.subscribe_per_second()) j["subscribe_rate_per_sec"] = w.subscribe_per_second();
    if (w.max_frame_bytes()) j["max_frame_bytes"] = w.max_frame_bytes();
  } else {
    const auto& k = s.kafka();
    j["brokers"] = k.brokers();
    j["topics"] = std::vector<std::string>(k.topics().begin(), k.topics().end());
    j["group_id"] = k.group_id().empty() ? "stream-admin-ingest" : k.group_id();
    if (!k.venue_header().empty()) j["venue_header"] = k.venue_header();
  }
  return sources::SourceRegistry::Default().Create(s.kind(), j);
}

// Frames larger than this are zstd-compressed on the wire (see raw_codec.h).
constexpr size_t kCompressOverBytes = 64 << 10;

// Publishes every frame of every source to md.raw.<venue>. Publish blocks
// when max_pending_acks are unacknowledged, which blocks the source's thread:
// back-pressure reaches the socket / file / Kafka consumer instead of memory.
// While paused, OnFrame waits at the gate (same effect).
class RawSink final : public sources::FrameSink {
 public:
  RawSink(bus::JetStreamPublisher* publisher, IngestProbe* probe, std::function<bool()> paused_or_stopping,
          std::mutex* gate_mu, std::condition_variable* gate_cv)
      : publisher_(publisher),
        probe_(probe),
        blocked_(std::move(paused_or_stopping)),
        gate_mu_(gate_mu),
        gate_cv_(gate_cv) {}

  void OnFrame(sources::Frame&& f) override { OnFrameOf(std::move(f), nullptr); }

  // `released`: the frame's source is being removed; its frame passes a
  // closed gate (it was received, and removal must not wait for Resume).
  void OnFrameOf(sources::Frame&& f, const std::atomic<bool>* released) {
    {
      std::unique_lock lock(*gate_mu_);
      auto open = [&] { return !blocked_() || (released && released->load()); };
      if (!open()) {
        probe_->HoldFrame();
        gate_cv_->wait(lock, open);
        probe_->ReleaseFrame();
      }
    }
    bus::Message m;
    m.subject = md::RawSubject(f.venue);
    m.msg_id = md::RawMsgId(f.venue, f.conn, f.frame_seq);
    m.headers = {
        {md::kHeaderConn, f.conn},
        {md::kHeaderFrameSeq, std::to_string(f.frame_seq)},
        {md::kHeaderRecvNs, std::to_string(f.recv_time_ns)},
        // Kafka records carry venue WebSocket frames relayed through a topic.
        {md::kHeaderKind, f.kind == wire::frame_kind::kHttp ? wire::frame_kind::kHttp : wire::frame_kind::kWs}};
    if (!f.url.empty()) m.headers.emplace_back(md::kHeaderUrl, f.url);
    m.data = std::move(f.data);
    const size_t raw_bytes = m.data.size();
    if (md::CompressRawPayload(&m.data, kCompressOverBytes)) m.headers.emplace_back(md::kHeaderEncoding, md::kEncodingZstd);
    IngestProbe::Venue& venue = probe_->ForVenue(f.venue);
    // A frame whose source waits for it to be stored (Kafka commits its
    // offset only then) hears back: stored, or refused for good (parked on
    // dlq.ingest by on_failure: it will never be stored, the source moves
    // on), or not stored (the publisher closed: consumed again next run).
    absl::Status st;
    if (f.done) {
      auto done = f.done;
      st = publisher_->Publish(m, [done](const absl::Status& result) { done(!absl::IsCancelled(result)); });
      if (!st.ok()) done(false);
    } else {
      st = publisher_->Publish(m);
    }
    if (!st.ok()) {
      venue.publish_errors.Inc();
      spdlog::error("publish {} ({}): {}", m.subject, m.msg_id, std::string(st.message()));
      return;
    }
    venue.frames.Inc();
    venue.bytes.Inc(static_cast<double>(raw_bytes));
  }

  void OnStatus(const sources::SourceEvent& ev) override {
    spdlog::log(ev.type == sources::SourceEventType::kConnected ? spdlog::level::info : spdlog::level::warn,
                "source {} ({}): {} {} {}", ev.source, ev.venue, sources::SourceEventTypeName(ev.type), ev.conn,
                ev.detail);
  }

  // Sources whose thread waits at the closed gate with a frame.
  int held() const { return probe_->held(); }

 private:
  bus::JetStreamPublisher* publisher_;
  IngestProbe* probe_;
  std::function<bool()> blocked_;
  std::mutex* gate_mu_;
  std::condition_variable* gate_cv_;
};

// One per source: RemoveSource releases that source's frames from the pause
// gate, so removing a source of a paused ingest does not wait for Resume.
class SourceSink final : public sources::FrameSink {
 public:
  SourceSink(RawSink* sink, std::mutex* gate_mu, std::condition_variable* gate_cv)
      : sink_(sink), gate_mu_(gate_mu), gate_cv_(gate_cv) {}
  void OnFrame(sources::Frame&& f) override { sink_->OnFrameOf(std::move(f), &released_); }
  void OnStatus(const sources::SourceEvent& ev) override { sink_->OnStatus(ev); }
  void Release() {
    {
      std::lock_guard lock(*gate_mu_);
      released_ = true;
    }
    gate_cv_->notify_all();
  }

 private:
  RawSink* sink_;
  std::mutex* gate_mu_;
  std::condition_variable* gate_cv_;
  std::atomic<bool> released_{false};
};

class IngestApp final : public runtime::NatsServiceApp, public pb::Ingest::Service {
 public:
  explicit IngestApp(const cfg::IngestConfig& c)
      : NatsServiceApp(c.nats(), {c.streams().begin(), c.streams().end()}), config_(c) {}

  std::vector<grpc::Service*> GrpcServices() override { return {this}; }

  absl::Status OnStart() override {
    // A frame JetStream refuses for good (e.g. over max_payload even
    // compressed) is recorded on dlq.ingest - identity and reason, without the
    // payload that could not be carried - and counted. The dead-letter writer
    // publishes through a JetStream publisher of its own, so it may be called
    // on this publisher's ack thread.
    auto dlq = bus::DeadLetterWriter::Create(nats().connection(), {.stage = "ingest"});
    if (!dlq.ok()) return dlq.status();
    dlq_ = std::move(*dlq);
    bus::JetStreamPublisher::Options popts;
    popts.on_failure = [this](const std::string& msg_id, const absl::Status& error) {
      probe_.dead_letters().Inc();
      spdlog::error("raw frame {} refused: {}", msg_id, std::string(error.message()));
      auto id = wire::ParseRawMsgId(msg_id);
      if (absl::Status st = dlq_->Write({.reason = "publish_refused",
                                         .error = std::string(error.message()),
                                         .subject = id ? wire::RawSubject(id->venue) : "",
                                         .input_msg_id = msg_id});
          !st.ok())
        spdlog::error("dead letter of raw frame {} not written: {}", msg_id, std::string(st.message()));
    };
    auto publisher = bus::JetStreamPublisher::Create(nats().connection(), popts);
    if (!publisher.ok()) return publisher.status();
    publisher_ = std::move(*publisher);
    sink_ = std::make_unique<RawSink>(
        publisher_.get(), &probe_, [this] { return paused_ && !stopping_; }, &gate_mu_, &gate_cv_);
    // The normalizer asks for a fresh snapshot after a gap: md.ctl.snapshot.<venue>, payload = symbol.
    // Header Sa-Action: "fetch" (Binance: a REST snapshot of that symbol) or
    // "resubscribe" (Kraken, Coinbase: a new session brings new snapshots;
    // at most one per source per kMinReconnectInterval, as every book of the
    // connection is rebuilt by it).
    auto sub = nats().connection().Subscribe(wire::kSnapshotRequestAnyVenue, [this](const bus::InboundMessage& m) {
      auto request = wire::DecodeSnapshotRequest(m.subject, m.data, m.headers);
      if (!request) return;
      const std::string& venue = request->venue;
      const std::string action = wire::SnapshotActionName(request->action);
      std::lock_guard lock(mu_);
      for (auto& [name, src] : sources_) {
        if (src.config.venue() != venue) continue;
        absl::Status st;
        if (request->action == wire::SnapshotAction::kResubscribe) {
          const absl::Time now = absl::Now();
          if (now - src.last_reconnect < kMinReconnectInterval) continue;
          src.last_reconnect = now;
          st = src.source->Reconnect(absl::StrCat("normalizer asked to resync ", m.data));
        } else {
          st = src.source->RequestSnapshot(m.data);
        }
        if (st.code() == absl::StatusCode::kUnimplemented) continue;  // e.g. a replay: nothing to renew
        spdlog::info("{} of {} {} requested from {}: {}", action, venue, m.data, name,
                     st.ok() ? "ok" : std::string(st.message()));
      }
    });
    if (!sub.ok()) return sub.status();
    snapshot_sub_ = std::move(*sub);
    for (const auto& s : config_.sources()) {
      if (s.disabled()) continue;
      if (auto st = AddSourceLocked(s); !st.ok()) return st;
    }
    return absl::OkStatus();
  }

  absl::Status Pause() override {
    paused_ = true;
    return absl::OkStatus();
  }
  absl::Status Resume() override {
    {
      std::lock_guard lock(gate_mu_);
      paused_ = false;
    }
    gate_cv_.notify_all();
    return absl::OkStatus();
  }

  absl::Status Drain(absl::Duration timeout) override {
    StopSources();
    return publisher_ ? publisher_->Flush(timeout) : absl::OkStatus();
  }

  void OnStop() override {
    StopSources();
    snapshot_sub_.reset();
    if (publisher_) (void)publisher_->Flush(absl::Seconds(5));
    publisher_.reset();
    if (dlq_) (void)dlq_->Flush(absl::Seconds(5));
    dlq_.reset();
  }

  std::map<std::string, std::string> Details() override {
    std::map<std::string, std::string> d;
    std::lock_guard lock(mu_);
    d["sources"] = std::to_string(sources_.size());
    uint64_t frames = 0;
    for (auto& [name, src] : sources_) frames += src.source->Stats().frames;
    d["frames"] = std::to_string(frames);
    if (sink_) d["frames_held_by_pause"] = std::to_string(sink_->held());
    if (publisher_) {
      auto st = publisher_->stats();
      d["published"] = std::to_string(st.published);
      d["acked"] = std::to_string(st.acked);
      d["in_flight"] = std::to_string(st.in_flight);
    }
    return d;
  }

  // ingest.v1.Ingest
  grpc::Status ListSources(grpc::ServerContext*, const pb::ListSourcesRequest*, pb::ListSourcesResponse* resp) override {
    std::lock_guard lock(mu_);
    for (auto& [name, src] : sources_) *resp->add_sources() = StateOf(src);
    return grpc::Status::OK;
  }
  grpc::Status AddSource(grpc::ServerContext*, const pb::AddSourceRequest* req, pb::AddSourceResponse* resp) override {
    if (auto st = ValidateSource(req->source(), "source"); !st.ok()) return ToGrpcStatus(st);
    std::lock_guard lock(mu_);
    if (auto st = AddSourceLocked(req->source()); !st.ok()) return ToGrpcStatus(st);
    *resp->mutable_source() = StateOf(sources_.at(req->source().name()));
    return grpc::Status::OK;
  }
  grpc::Status RemoveSource(grpc::ServerContext*, const pb::RemoveSourceRequest* req, pb::RemoveSourceResponse*) override {
    Running victim;
    {
      std::lock_guard lock(mu_);
      auto it = sources_.find(req->name());
      if (it == sources_.end()) return grpc::Status(grpc::StatusCode::NOT_FOUND, "no source named '" + req->name() + "'");
      victim = std::move(it->second);
      sources_.erase(it);
    }
    victim.sink->Release();  // a paused ingest: its frame waiting at the gate goes on, so Stop can join
    victim.source->Stop();   // outside the lock: Stop joins the source thread
    return grpc::Status::OK;
  }
  grpc::Status StartReplay(grpc::ServerContext*, const pb::StartReplayRequest* req, pb::StartReplayResponse* resp) override {
    cfg::SourceConfig s;
    s.set_kind("replay");
    s.set_venue(req->venue());
    s.mutable_replay()->set_path(req->path());
    s.mutable_replay()->set_speed(req->speed());
    std::string base = req->path().substr(req->path().find_last_of('/') + 1);
    base = base.substr(0, base.find('.'));
    s.set_name(req->name().empty() ? absl::StrCat("replay-", base, "-", NowUnixMicros() / 1000) : req->name());
    if (auto st = ValidateSource(s, "replay"); !st.ok()) return ToGrpcStatus(st);
    std::lock_guard lock(mu_);
    if (auto st = AddSourceLocked(s); !st.ok()) return ToGrpcStatus(st);
    *resp->mutable_source() = StateOf(sources_.at(s.name()));
    return grpc::Status::OK;
  }

 private:
  struct Running {
    cfg::SourceConfig config;
    std::unique_ptr<SourceSink> sink;  // outlives source (destroyed after it)
    std::unique_ptr<sources::Source> source;
    absl::Time last_reconnect = absl::InfinitePast();
  };
  static constexpr absl::Duration kMinReconnectInterval = absl::Seconds(10);

  absl::Status AddSourceLocked(const cfg::SourceConfig& s) {
    if (sources_.count(s.name())) return absl::AlreadyExistsError(absl::StrCat("source '", s.name(), "' exists"));
    auto src = MakeSource(s);
    if (!src.ok()) return absl::Status(src.status().code(), absl::StrCat("source ", s.name(), ": ", src.status().message()));
    auto sink = std::make_unique<SourceSink>(sink_.get(), &gate_mu_, &gate_cv_);
    if (auto st = (*src)->Start(sink.get()); !st.ok())
      return absl::Status(st.code(), absl::StrCat("source ", s.name(), ": ", st.message()));
    spdlog::info("source {} ({} {}) started", s.name(), s.kind(), s.venue());
    sources_.emplace(s.name(), Running{s, std::move(sink), std::move(*src), absl::InfinitePast()});
    return absl::OkStatus();
  }

  void StopSources() {
    {
      std::lock_guard lock(gate_mu_);
      stopping_ = true;  // opens the pause gate so sources can finish
    }
    gate_cv_.notify_all();
    std::map<std::string, Running> victims;
    {
      std::lock_guard lock(mu_);
      victims.swap(sources_);
    }
    for (auto& [name, src] : victims) src.source->Stop();
  }

  static pb::SourceState StateOf(const Running& r) {
    pb::SourceState s;
    *s.mutable_config() = r.config;
    auto st = r.source->Stats();
    s.set_frames(st.frames);
    s.set_bytes(st.bytes);
    s.set_reconnects(st.reconnects);
    s.set_last_frame_unix_ms(st.last_frame_time_ns / 1000000);
    auto* replay = dynamic_cast<ReplaySource*>(r.source.get());
    s.set_state(replay && replay->finished() ? "finished" : st.connected || st.frames ? "running" : "starting");
    return s;
  }

  cfg::IngestConfig config_;
  IngestProbe probe_;                           // outlives the publisher and the sink, which count in it
  std::unique_ptr<bus::DeadLetterWriter> dlq_;  // outlives publisher_, whose on_failure uses it
  std::unique_ptr<bus::JetStreamPublisher> publisher_;
  std::unique_ptr<RawSink> sink_;
  std::unique_ptr<bus::Subscription> snapshot_sub_;
  std::mutex gate_mu_;
  std::condition_variable gate_cv_;
  std::atomic<bool> paused_{false};
  bool stopping_ = false;  // guarded by gate_mu_
  std::mutex mu_;          // guards sources_
  std::map<std::string, Running> sources_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<runtime::Application>> CreateApp(const cfg::IngestConfig& c) {
  return std::make_unique<IngestApp>(c);
}

}  // namespace sa::ingest
