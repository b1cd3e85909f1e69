#include "warehouse_sink/cdc_sink.h"

#include <spdlog/spdlog.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cdc/pgoutput.h"
#include "common/clock.h"
#include "common/crash_point.h"
#include "wire/msg_ids.h"
#include "wire/subjects.h"

namespace sa::warehouse_sink {

namespace cdcpb = streamadmin::cdc::v1;
namespace cfg = streamadmin::config::v1;

CdcSink::CdcSink(runtime::NatsClient& nats, std::string warehouse_dsn, cfg::CdcSinkConfig config,
                 uint32_t citus_shard_count)
    : nats_(nats), dsn_(std::move(warehouse_dsn)), config_(std::move(config)), citus_shard_count_(citus_shard_count) {}

CdcSink::~CdcSink() { Stop(); }

void CdcSink::Start() {
  loop_ = std::make_unique<runtime::ConsumerLoop>(
      nats_,
      runtime::ConsumerLoop::Options{.consumer = config_.consumer(),
                                     .name = "consumer.cdc",
                                     .fetch_wait = absl::Milliseconds(100),
                                     .bind = [this] { return Bind(); }},
      [this](std::vector<bus::ReceivedMessage>& batch) { return Handle(batch); });
  loop_->Start();
}

void CdcSink::Stop() {
  stop_ = true;
  if (loop_) loop_->Stop();
  dlq_.reset();
}

void CdcSink::SetPaused(bool paused) {
  if (loop_) loop_->SetPaused(paused);
}

streamadmin::control::v1::Dependency CdcSink::Health() const {
  if (loop_) return loop_->Health();
  streamadmin::control::v1::Dependency d;
  d.set_name("consumer.cdc");
  d.set_detail("not started");
  return d;
}

std::string CdcSink::last_error() const {
  std::lock_guard lock(status_mu_);
  return last_error_;
}

void CdcSink::SetError(const std::string& e) {
  std::lock_guard lock(status_mu_);
  last_error_ = e;
}

std::map<std::string, std::string> CdcSink::Details() const {
  std::map<std::string, std::string> d;
  {
    std::lock_guard lock(status_mu_);
    for (const auto& [server, lsn] : positions_) d[absl::StrCat("sink_position.", server)] = cdc::FormatLsn(lsn);
    d["sink_last_error"] = last_error_;
  }
  d["sink_applied"] = std::to_string(Count(probe_.applied));
  d["sink_skipped"] = std::to_string(Count(probe_.skipped));
  d["sink_dead_letters"] = std::to_string(probe_.dead_letters.Total());
  d["sink_transactions"] = std::to_string(Count(probe_.transactions));
  d["sink_errors"] = std::to_string(Count(probe_.errors));
  d["sink_rewinds"] = std::to_string(Count(probe_.rewinds));
  return d;
}

absl::StatusOr<std::unique_ptr<bus::PullSubscription>> CdcSink::Subscribe(bool force_rewind) {
  bus::JetStream& js = nats_.jetstream();
  const auto& c = config_.consumer();
  auto info = js.GetConsumerInfo(c.stream(), c.durable());
  if (!info.ok() && !absl::IsNotFound(info.status()))
    return info.status();  // a timeout, say: retry (an update could not change a rewound consumer's policy)
  if (!info.ok()) {
    if (absl::Status st = js.EnsurePullConsumer(c); !st.ok()) return st;
  } else if (force_rewind || info->num_ack_pending > 0) {
    spdlog::info("warehouse sink: {} deliveries of {}/{} unacknowledged; redelivering from stream sequence {}",
                 info->num_ack_pending, c.stream(), c.durable(), info->ack_floor_stream_seq + 1);
    if (absl::Status st = js.RecreatePullConsumerAt(c, info->ack_floor_stream_seq + 1); !st.ok()) return st;
    probe_.rewinds.Inc();
  }
  servers_.clear();  // everything held comes again
  next_seq_ = 0;
  return js.PullSubscribe(c);
}

absl::StatusOr<std::unique_ptr<bus::PullSubscription>> CdcSink::Bind() {
  auto sub = Subscribe(force_rewind_);
  absl::Status st = sub.status();
  if (st.ok() && !dlq_) {
    auto p = bus::DeadLetterWriter::Create(nats_.connection(), {.stage = "warehouse", .subject = wire::kDlqCdc});
    if (p.ok()) dlq_ = std::move(*p);
    st = p.status();
  }
  if (!st.ok()) {
    SetError(std::string(st.message()));
    return st;
  }
  force_rewind_ = false;
  return sub;
}

runtime::ConsumerLoop::Next CdcSink::Handle(std::vector<bus::ReceivedMessage>& batch) {
  for (auto& m : batch) {
    if (!Take(std::move(m))) {
      force_rewind_ = true;
      return runtime::ConsumerLoop::Next::kRebind;
    }
  }
  size_t buffered = 0;
  for (const auto& [name, s] : servers_) buffered += s.events.size();
  probe_.buffered.Set(static_cast<double>(buffered));
  // Also while paused: what is buffered is applied as its watermarks allow.
  if (absl::Now() >= retry_apply_ && !ApplyReady()) retry_apply_ = absl::Now() + absl::Milliseconds(500);
  return runtime::ConsumerLoop::Next::kFetch;
}

bool CdcSink::Take(bus::ReceivedMessage m) {
  const uint64_t seq = m.stream_sequence();
  if (next_seq_ != 0 && seq > next_seq_) {
    spdlog::warn("warehouse sink: delivery gap on {} (expected stream sequence {}, got {}); rewinding",
                 config_.consumer().stream(), next_seq_, seq);
    return false;
  }
  if (seq >= next_seq_) next_seq_ = seq + 1;
  std::vector<std::string> tokens = absl::StrSplit(m.subject(), '.');
  if (tokens.size() == 3 && tokens[2] == "watermark") {
    cdcpb::Watermark w;
    if (!w.ParseFromString(m.data()) || w.server().empty()) {
      DeadLetter(m.subject(), m.msg_id(), m.data(), "undecodable", "not a cdc.v1.Watermark");
      (void)m.Ack();
      return true;
    }
    Server& s = servers_[w.server()];
    if (w.lsn() > s.watermark) {
      s.watermark = w.lsn();
      s.watermark_ts_ms = w.ts_ms();
    }
    s.watermark_messages.emplace_back(w.lsn(), std::move(m));
    return true;
  }
  if (tokens.size() != 4) {  // heartbeats and anything else that is not a table's event
    (void)m.Ack();
    return true;
  }
  cdcpb::ChangeEvent e;
  if (!e.ParseFromString(m.data()) || e.table().server().empty()) {
    spdlog::error("warehouse sink: {} (msg id {}) is not a cdc.v1.ChangeEvent; dead-lettered", m.subject(),
                  m.msg_id());
    DeadLetter(m.subject(), m.msg_id().empty() ? wire::StreamPositionId(m.subject(), m.stream_sequence()) : m.msg_id(),
               m.data(), "undecodable", "payload is not a cdc.v1.ChangeEvent");
    if (dlq_) (void)dlq_->Flush(absl::Seconds(5));
    (void)m.Ack();
    return true;
  }
  Server& s = servers_[e.table().server()];
  auto& b = s.events[{e.source().lsn(), e.source().index()}];
  if (b.messages.empty()) b.event = std::move(e);
  b.messages.push_back(std::move(m));
  return true;
}

bool CdcSink::ApplyReady() {
  for (auto& [name, s] : servers_) {
    if (stop_) return true;
    bool ready = !s.watermark_messages.empty() ||
                 (!s.events.empty() && s.events.begin()->first.first <= s.watermark);
    if (ready && !ApplyServer(name, s)) return false;
  }
  return true;
}

bool CdcSink::ApplyServer(const std::string& name, Server& s) {
  if (!applier_) {
    warehouse::ApplierOptions o;
    o.conninfo = dsn_;
    if (!config_.schema_template().empty()) o.schema_template = config_.schema_template();
    if (config_.citus_distribute_cdc_tables())
      o.citus_distribute_shards = citus_shard_count_ > 0 ? static_cast<int>(citus_shard_count_) : 8;
    auto a = warehouse::ChangeApplier::Connect(o);
    if (!a.ok()) {
      connected_ = false;
      probe_.errors.Inc();
      SetError(std::string(a.status().message()));
      spdlog::warn("warehouse sink: {}", std::string(a.status().message()));
      return false;
    }
    applier_ = std::move(*a);
    connected_ = true;
  }
  const size_t max_batch = config_.max_batch_events() ? config_.max_batch_events() : 20000;
  while (true) {
    // Whole source transactions up to the watermark, at most max_batch events
    // unless one transaction alone is bigger.
    std::vector<const cdcpb::ChangeEvent*> batch;
    auto end = s.events.begin();
    uint64_t up_to = s.watermark;
    while (end != s.events.end() && end->first.first <= s.watermark) {
      if (batch.size() >= max_batch && end->first.first != batch.back()->source().lsn()) {
        up_to = batch.back()->source().lsn();
        break;
      }
      batch.push_back(&end->second.event);
      ++end;
    }
    if (batch.empty() && up_to <= s.applied && s.watermark_messages.empty()) return true;
    auto result = applier_->Apply(name, batch, up_to);
    if (!result.ok()) {
      probe_.errors.Inc();
      SetError(std::string(result.status().message()));
      spdlog::warn("warehouse sink: apply for {} up to {}: {}", name, cdc::FormatLsn(up_to),
                   std::string(result.status().message()));
      if (result.status().code() == absl::StatusCode::kUnavailable) {
        applier_.reset();
        connected_ = false;
      }
      return false;
    }
    for (const auto& r : result->rejected) {
      const cdcpb::ChangeEvent& e = *batch[r.index];
      const std::string subject = wire::CdcSubject(name, e.table().schema(), e.table().table());
      spdlog::error("warehouse sink: event {}:{} of {}.{} dead-lettered ({}): {}", cdc::FormatLsn(e.source().lsn()),
                    e.source().index(), e.table().schema(), e.table().table(), r.reason, r.error);
      DeadLetter(subject, wire::CdcEventMsgId(name, cdc::FormatLsn(e.source().lsn()), e.source().index()),
                 e.SerializeAsString(), r.reason, r.error);
    }
    // The dead letters are stored before the events they stand for are acked.
    if (!result->rejected.empty() && dlq_) {
      if (absl::Status st = dlq_->Flush(absl::Seconds(10)); !st.ok())
        spdlog::error("warehouse sink: dead letters not confirmed: {}", std::string(st.message()));
    }
    SA_CRASH_POINT("sink.batch_committed");  // in the warehouse, nothing acked
    for (auto it = s.events.begin(); it != end;) {
      for (auto& m : it->second.messages) {
        (void)m.Ack();
        SA_CRASH_POINT("sink.event_acked");
      }
      it = s.events.erase(it);
    }
    s.applied = std::max(s.applied, up_to);
    for (auto it = s.watermark_messages.begin(); it != s.watermark_messages.end();) {
      if (it->first <= s.applied) {
        (void)it->second.Ack();
        it = s.watermark_messages.erase(it);
      } else {
        ++it;
      }
    }
    probe_.applied.Inc(static_cast<double>(result->applied));
    probe_.skipped.Inc(static_cast<double>(result->skipped));
    probe_.transactions.Inc();
    if (s.watermark_ts_ms > 0) probe_.lag_ms.Set(static_cast<double>(NowUnixNanos() / 1000000 - s.watermark_ts_ms));
    {
      std::lock_guard lock(status_mu_);
      positions_[name] = s.applied;
      last_error_.clear();
    }
    if (up_to >= s.watermark) return true;
  }
}

void CdcSink::DeadLetter(const std::string& subject, const std::string& msg_id, const std::string& payload,
                               const std::string& reason, const std::string& error) {
  probe_.dead_letters.For(reason).Inc();
  if (!dlq_) return;
  if (absl::Status st = dlq_->Write(
          {.reason = reason, .error = error, .subject = subject, .input_msg_id = msg_id, .payload = payload});
      !st.ok())
    spdlog::error("warehouse sink: dead letter {} not published: {}", msg_id, std::string(st.message()));
}

}  // namespace sa::warehouse_sink
