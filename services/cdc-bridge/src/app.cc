#include "cdc_bridge/app.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bus/dead_letters.h"
#include "bus/jetstream_publisher.h"
#include "bus/kv.h"
#include "cdc/kafka_change_sink.h"
#include "cdc/pgoutput.h"
#include "cdc/replication_client.h"
#include "cdc/table_snapshot.h"
#include "cdc_bridge/confirm_tracker.h"
#include "cdc_bridge/probe.h"
#include "common/clock.h"
#include "common/crash_point.h"
#include "observability/metrics.h"
#include "pg/connection.h"
#include "runtime/main.h"
#include "runtime/nats_service_app.h"
#include "runtime/streams.h"
#include "streamadmin/cdc/v1/cdc.grpc.pb.h"
#include "wire/headers.h"
#include "wire/msg_ids.h"
#include "wire/subjects.h"

namespace sa::cdc_bridge {

namespace cfg = streamadmin::config::v1;
namespace cdcpb = streamadmin::cdc::v1;

namespace {

// Pause closes the replication session: what was published gets this long
// for its acks (what stays unacked is read again after Resume; ids dedupe it),
// and Pause answers within kPauseTimeout (under the CLI's 5 s) or not at all.
constexpr absl::Duration kPauseFlushTimeout = absl::Seconds(3);
constexpr absl::Duration kPauseTimeout = absl::Seconds(4);
// A session that ends for neither a drain nor a pause (initial_only done).
constexpr absl::Duration kSessionFlushTimeout = absl::Seconds(10);

// A dead-lettered event larger than this is parked with key columns only.
constexpr size_t kMaxDlqPayload = 512 * 1024;

// Publishes committed PostgreSQL transactions to JetStream and moves the
// replication slot only past what JetStream acknowledged.
//
// Threads: the worker (Run) owns the ReplicationClient and is the only one to
// call it (Connect/Ensure*/Start/Poll/Confirm/SlotLagBytes). The publisher's
// ack thread runs each event's completion (OnStored/OnFailure), which only
// marks it in `tracker_`; the worker passes tracker_.confirmable() to Confirm() before each
// Poll, so the client is never touched from two threads nor after it is
// replaced by a reconnect.
//
// Lifecycle (gRPC threads ask, the worker acts, under ctl_mu_): Pause ends
// the replication session like a drain does (acks awaited, slot confirmed,
// connection closed, so the server keeps the WAL from the confirmed LSN and
// nothing more is read or published) and returns once the worker is parked;
// Resume starts a new session, which continues from the slot's
// confirmed_flush_lsn. Drain ends the session by its deadline.
class CdcBridgeApp final : public runtime::NatsServiceApp, public cdcpb::Cdc::Service {
 public:
  explicit CdcBridgeApp(const cfg::CdcBridgeConfig& c)
      : NatsServiceApp(c.nats(), {c.streams().begin(), c.streams().end()}, {{"source", c.source().dsn()}}),
        config_(c),
        server_(c.connector().server_name()) {}

  absl::Status OnStart() override {
    auto dlq = bus::DeadLetterWriter::Create(
        nats().connection(), {.stage = "cdc-bridge", .subject = wire::kDlqCdc, .max_payload_bytes = kMaxDlqPayload});
    if (!dlq.ok()) return dlq.status();
    dlq_ = std::move(*dlq);
    // Each publish carries its own completion (events: OnStored/OnFailure by
    // position; watermarks: a log line).
    auto publisher = bus::JetStreamPublisher::Create(nats().connection());
    if (!publisher.ok()) return publisher.status();
    publisher_ = std::move(*publisher);
    worker_ = std::thread([this] {
      Run();
      std::lock_guard lock(ctl_mu_);
      worker_done_ = true;
      ctl_cv_.notify_all();
    });
    return absl::OkStatus();
  }

  // Returns once the session is closed (nothing is read from the slot nor
  // published), or DEADLINE_EXCEEDED after kPauseTimeout, still running.
  absl::Status Pause() override {
    std::unique_lock lock(ctl_mu_);
    pause_requested_ = true;
    ctl_cv_.notify_all();
    if (ctl_cv_.wait_for(lock, absl::ToChronoNanoseconds(kPauseTimeout), [this] { return parked_ || worker_done_; }))
      return absl::OkStatus();
    pause_requested_ = false;
    ctl_cv_.notify_all();
    return absl::DeadlineExceededError(absl::StrCat("not paused: the replication session of slot ",
                                                    config_.connector().slot_name(), " did not close within ",
                                                    absl::FormatDuration(kPauseTimeout), "; still running"));
  }
  absl::Status Resume() override {
    {
      std::lock_guard lock(ctl_mu_);
      pause_requested_ = false;
    }
    ctl_cv_.notify_all();
    return absl::OkStatus();
  }

  // Stops polling, waits until `timeout` for the acks of what was published,
  // confirms them. DEADLINE_EXCEEDED at `timeout` when the session has not
  // closed by then (the worker finishes in Stop()).
  absl::Status Drain(absl::Duration timeout) override {
    const absl::Time deadline = absl::Now() + timeout;
    std::unique_lock lock(ctl_mu_);
    drain_deadline_ = deadline;
    stop_ = true;
    ctl_cv_.notify_all();
    if (!ctl_cv_.wait_until(lock, absl::ToChronoTime(deadline), [this] { return worker_done_; })) {
      return absl::DeadlineExceededError(absl::StrCat(
          "drain did not finish within ", absl::FormatDuration(timeout), ": ", tracker_.waiting(),
          " transactions published and not acknowledged; the slot delivers them again to the next process"));
    }
    return drain_result_;
  }
  void OnStop() override {
    StopWorker();
    publisher_.reset();
    if (dlq_) (void)dlq_->Flush(absl::Seconds(5));
    dlq_.reset();
  }

  std::vector<grpc::Service*> GrpcServices() override { return {this}; }

  grpc::Status ListConnectors(grpc::ServerContext*, const cdcpb::ListConnectorsRequest*,
                              cdcpb::ListConnectorsResponse* out) override {
    auto* c = out->add_connectors();
    c->set_server(server_);
    c->set_slot(config_.connector().slot_name());
    c->set_publication(config_.connector().publication_name());
    c->set_streaming(streaming_.load());
    c->set_confirmed_lsn(cdc::FormatLsn(confirmed_.load()));
    c->set_lag_bytes(lag_known_ ? static_cast<int64_t>(lag_bytes_.load()) : -1);
    c->set_events_published(events_published_.load());
    c->set_events_acked(Count(probe_.events_acked));
    c->set_transactions(Count(probe_.transactions));
    c->set_dead_letters(probe_.dead_letters());
    c->set_reconnects(Count(probe_.reconnects));
    c->set_kafka_enabled(config_.connector().kafka().enabled());
    c->set_snapshot_mode(config_.connector().snapshot_mode());
    std::lock_guard lock(status_mu_);
    c->set_last_error(last_error_);
    return grpc::Status::OK;
  }

  grpc::Status SnapshotTable(grpc::ServerContext*, const cdcpb::SnapshotTableRequest* req,
                             cdcpb::SnapshotTableResponse* out) override {
    if (req->table().empty()) return {grpc::StatusCode::INVALID_ARGUMENT, "table: required"};
    if (req->chunk_size() > 1000000) return {grpc::StatusCode::INVALID_ARGUMENT, "chunk_size: at most 1000000"};
    SnapshotJob job;
    job.schema = req->schema().empty() ? "public" : req->schema();
    job.table = req->table();
    job.chunk_size = static_cast<int>(req->chunk_size() ? req->chunk_size() : config_.connector().snapshot_chunk_size());
    OpenSnapshotStates();
    std::lock_guard lock(jobs_mu_);
    for (const auto& j : jobs_)
      if (j.schema == job.schema && j.table == job.table) {
        Fill(j, out->mutable_snapshot());
        return {grpc::StatusCode::ALREADY_EXISTS,
                absl::StrCat("a snapshot of ", job.schema, ".", job.table, " is already ", j.state)};
      }
    // Stored before it is acknowledged: a crash before the first chunk
    // resumes it (PrepareSnapshots picks up queued states).
    SaveSnapshotState(job);
    jobs_.push_back(job);
    Fill(job, out->mutable_snapshot());
    return grpc::Status::OK;
  }

  grpc::Status ListSnapshots(grpc::ServerContext*, const cdcpb::ListSnapshotsRequest*,
                             cdcpb::ListSnapshotsResponse* out) override {
    std::lock_guard lock(jobs_mu_);
    for (const auto& j : finished_jobs_) Fill(j, out->add_snapshots());
    for (const auto& j : jobs_) Fill(j, out->add_snapshots());
    return grpc::Status::OK;
  }

  std::vector<streamadmin::control::v1::Dependency> Dependencies() override {
    auto deps = NatsServiceApp::Dependencies();
    streamadmin::control::v1::Dependency d;
    d.set_name("replication");
    d.set_healthy(streaming_.load());
    std::lock_guard lock(status_mu_);
    d.set_detail(streaming_ ? absl::StrCat("streaming slot ", config_.connector().slot_name())
                            : absl::StrCat("not streaming: ", last_error_.empty() ? "connecting" : last_error_));
    {
      std::lock_guard ctl_lock(ctl_mu_);
      if (parked_) {  // not streaming on purpose: nothing is wrong with the source
        d.set_healthy(true);
        d.set_detail(absl::StrCat("paused: slot ", config_.connector().slot_name(), " not read; WAL kept from ",
                                  cdc::FormatLsn(confirmed_.load())));
      }
    }
    deps.push_back(d);
    return deps;
  }

  std::map<std::string, std::string> Details() override {
    std::map<std::string, std::string> d;
    d["server"] = server_;
    d["slot"] = config_.connector().slot_name();
    d["publication"] = config_.connector().publication_name();
    d["confirmed_lsn"] = cdc::FormatLsn(confirmed_.load());
    d["lag_bytes"] = lag_known_ ? std::to_string(lag_bytes_.load()) : "unknown";
    d["events_published"] = std::to_string(events_published_.load());
    d["events_acked"] = std::to_string(Count(probe_.events_acked));
    d["transactions"] = std::to_string(Count(probe_.transactions));
    d["dead_letters"] = std::to_string(probe_.dead_letters());
    d["reconnects"] = std::to_string(Count(probe_.reconnects));
    d["streaming"] = streaming_ ? "true" : "false";
    {
      std::lock_guard lock(ctl_mu_);
      d["paused"] = parked_ ? "true" : "false";
    }
    return d;
  }

 private:
  void StopWorker() {
    {
      std::lock_guard lock(ctl_mu_);
      stop_ = true;
    }
    ctl_cv_.notify_all();
    if (worker_.joinable()) worker_.join();
  }

  // Sleeps up to `d` (less when a pause is asked for); false when stopping.
  bool SleepUnlessStopping(absl::Duration d) {
    std::unique_lock lock(ctl_mu_);
    ctl_cv_.wait_for(lock, absl::ToChronoNanoseconds(d), [this] { return stop_.load() || pause_requested_.load(); });
    return !stop_;
  }

  // Worker, holding no session: waits while paused; false when stopping.
  bool ParkWhilePaused() {
    std::unique_lock lock(ctl_mu_);
    if (!pause_requested_ || stop_) return !stop_;
    parked_ = true;
    ctl_cv_.notify_all();
    spdlog::info("paused: slot {} is not read; the server keeps its WAL from {}", config_.connector().slot_name(),
                 cdc::FormatLsn(confirmed_.load()));
    ctl_cv_.wait(lock, [this] { return !pause_requested_ || stop_; });
    parked_ = false;
    if (!stop_)
      spdlog::info("resumed: slot {} is read again from its confirmed position", config_.connector().slot_name());
    return !stop_;
  }

  std::string MsgId(uint64_t commit_lsn, uint32_t index) const {
    return wire::CdcEventMsgId(server_, cdc::FormatLsn(commit_lsn), index);
  }

  void Run() {
    absl::Duration backoff = absl::Milliseconds(200);
    bool first = true;
    while (ParkWhilePaused()) {
      if (!nats().WaitReady(absl::Milliseconds(200))) continue;
      if (!first) {
        probe_.reconnects.Inc();
      }
      first = false;
      absl::Status st = Stream();
      streaming_ = false;
      probe_.streaming.Set(0);
      if (stop_) break;
      if (initial_only_done_ && st.ok()) {
        DropSlotAfterInitialOnly();
        break;
      }
      if (st.ok()) {  // closed for a pause (or one that timed out and was withdrawn)
        first = true;  // the session after Resume is not a reconnect
        continue;
      }
      probe_.replication_errors.Inc();
      {
        std::lock_guard lock(status_mu_);
        last_error_ = std::string(st.message());
      }
      spdlog::error("replication slot {}: {}; reconnecting in {}", config_.connector().slot_name(),
                    std::string(st.message()), absl::FormatDuration(backoff));
      if (initial_only_done_) break;
      if (!SleepUnlessStopping(backoff)) break;
      backoff = std::min(backoff * 2, absl::Seconds(30));
      if (streamed_ok_.exchange(false)) backoff = absl::Milliseconds(200);
    }
  }

  // One replication session, until an error or stop. On stop: flush, confirm, report.
  absl::Status Stream() {
    const auto& k = config_.connector();
    cdc::ReplicationOptions o;
    o.conninfo = config_.source().dsn();
    o.slot_name = k.slot_name();
    o.publication_name = k.publication_name();
    o.include_tables = {k.include_tables().begin(), k.include_tables().end()};
    o.exclude_tables = {k.exclude_tables().begin(), k.exclude_tables().end()};
    o.server_name = server_;
    o.status_interval = absl::Milliseconds(k.status_interval_ms());
    if (k.snapshot_mode() == "initial_only" && InitialOnlyFinishedBefore()) {
      spdlog::info("snapshot_mode initial_only: the snapshot finished in an earlier run; not streaming");
      initial_only_done_ = true;
      slot_dropped_ = true;
      return absl::OkStatus();
    }
    auto client = cdc::ReplicationClient::Connect(o);
    if (!client.ok()) return client.status();
    cdc::ReplicationClient& c = **client;
    if (auto st = c.EnsurePublication(); !st.ok()) return st;
    if (absl::Status st = MarkInitialSnapshotBeforeTheSlot(); !st.ok()) return st;
    auto slot = c.EnsureSlot();
    if (!slot.ok()) return slot.status();
    // Whatever an earlier session left unacknowledged comes again from the slot.
    // The previous session's sink is closed (its callbacks have run), so a
    // failure it reported is covered by this replay.
    resend_needed_ = false;
    if (k.kafka().enabled()) {
      // One producer per session: after a fatal (idempotence) error the
      // session ends and the next one starts with a fresh producer.
      auto sink = cdc::KafkaChangeSink::Create(KafkaSinkOptions(k.kafka()));
      if (!sink.ok()) return sink.status();
      kafka_ = std::move(*sink);
    }
    // Waits (bounded) for Kafka deliveries, cancels the rest, on every way out.
    absl::Cleanup close_kafka = [this] {
      if (kafka_) {
        kafka_->Close(absl::Seconds(10));
        kafka_.reset();
      }
    };
    if (auto st = PrepareSnapshots(slot->created || InitialSnapshotPending()); !st.ok()) return st;
    if (auto st = c.Start(); !st.ok()) return st;
    const uint64_t start_lsn = slot->created ? slot->consistent_point : slot->confirmed_flush_lsn;
    tracker_.Reset(start_lsn);
    spdlog::info("streaming slot {} (publication {}) from {}{}", k.slot_name(), k.publication_name(),
                 cdc::FormatLsn(start_lsn), slot->created ? " (slot created)" : "");
    streaming_ = true;
    probe_.streaming.Set(1);
    {
      std::lock_guard lock(status_mu_);
      last_error_.clear();
    }
    absl::Time next_lag = absl::InfinitePast();
    absl::Time next_heartbeat = absl::Now() + absl::Seconds(k.heartbeat_interval_s());
    while (!stop_ && !pause_requested_) {
      ConfirmAcked(c);
      if (resend_needed_.exchange(false))
        return absl::UnavailableError(
            "an event was not stored (NATS connection lost or Kafka delivery failed); replaying from the slot");
      MaybePublishWatermark(false);
      auto txs = c.Poll(absl::Milliseconds(50));
      if (!txs.ok()) return txs.status();
      streamed_ok_ = true;
      for (auto& tx : *txs) {
        if (absl::Status st = PublishTransaction(tx); !st.ok()) return st;
        SA_CRASH_POINT("cdc.transaction_published");  // published, neither acked nor confirmed yet
      }
      tracker_.SetReceivedWal(c.server_wal_end());
      if (absl::Status st = SnapshotStep(); !st.ok()) return st;
      if (snapshot_finished_for_initial_only_) {
        ConfirmAcked(c);
        spdlog::info("snapshot_mode initial_only: snapshot complete; streaming stops and slot {} is dropped",
                     k.slot_name());
        initial_only_done_ = true;
        break;
      }
      const absl::Time now = absl::Now();
      if (now >= next_lag) {
        RefreshLag(c);
        next_lag = now + absl::Milliseconds(k.lag_refresh_interval_ms());
      }
      if (k.heartbeat_interval_s() > 0 && now >= next_heartbeat) {
        Heartbeat();
        next_heartbeat = now + absl::Seconds(k.heartbeat_interval_s());
      }
    }
    // Drain or pause: what was published gets its acks (until the deadline),
    // then the slot moves past it.
    absl::Time deadline = absl::Now() + kSessionFlushTimeout;
    const char* why = "session end";
    {
      std::lock_guard lock(ctl_mu_);
      if (stop_) {
        why = "drain";
        if (drain_deadline_ != absl::InfinitePast()) deadline = drain_deadline_;
      } else if (pause_requested_) {
        why = "pause";
        deadline = absl::Now() + kPauseFlushTimeout;
      }
    }
    auto left = [deadline] { return std::max(deadline - absl::Now(), absl::ZeroDuration()); };
    absl::Status flushed = publisher_->Flush(left());
    if (!flushed.ok())
      spdlog::warn("{}: not every event was acknowledged ({}); the slot redelivers them", why,
                   std::string(flushed.message()));
    if (kafka_) {
      if (absl::Status st = kafka_->Flush(left()); !st.ok()) {
        spdlog::warn("{}: not every event was acknowledged by Kafka ({}); the slot redelivers them", why,
                     std::string(st.message()));
        if (flushed.ok()) flushed = st;
      }
    }
    ConfirmAcked(c);
    MaybePublishWatermark(true);
    (void)publisher_->Flush(std::min(left(), absl::Seconds(2)));
    (void)c.Poll(absl::Milliseconds(1));  // sends the standby status with the final confirmation
    RefreshLag(c);
    spdlog::info("stopped streaming slot {} at {} ({})", k.slot_name(), cdc::FormatLsn(c.confirmed_lsn()), why);
    if (stop_ && !flushed.ok()) {
      std::lock_guard lock(ctl_mu_);
      drain_result_ = absl::Status(flushed.code(),
                                   absl::StrCat("drain: not every change event was acknowledged (", flushed.message(),
                                                "); the slot delivers them again to the next process"));
    }
    return absl::OkStatus();
  }

  // cdc.<server>.watermark: every event below the tracker's confirmable position is stored, and
  // this message is stored after them (warehouse-sink applies up to it).
  // At most every 20 ms; `force` at the end of a session.
  void MaybePublishWatermark(bool force) {
    // confirmable is an end LSN (or the slot's start): the next
    // transaction's commit record may start exactly there, so the events
    // covered are those with a commit LSN strictly below it.
    const uint64_t confirmable = tracker_.confirmable();
    if (confirmable == 0) return;
    const uint64_t lsn = confirmable - 1;
    const absl::Time now = absl::Now();
    if (lsn <= watermark_published_ || (!force && now - watermark_time_ < absl::Milliseconds(20))) return;
    cdcpb::Watermark w;
    w.set_server(server_);
    w.set_lsn(lsn);
    w.set_ts_ms(NowUnixNanos() / 1000000);
    bus::Message m;
    m.subject = wire::CdcWatermarkSubject(server_);
    m.msg_id = wire::CdcWatermarkMsgId(server_, cdc::FormatLsn(lsn));
    m.data = w.SerializeAsString();
    auto done = [lsn](const absl::Status& st) {  // the next watermark supersedes a lost one
      if (!st.ok()) spdlog::warn("watermark {} not stored: {}", cdc::FormatLsn(lsn), std::string(st.message()));
    };
    if (publisher_->Publish(m, std::move(done)).ok()) {
      SA_CRASH_POINT("cdc.watermark_published");
      watermark_published_ = lsn;
      watermark_time_ = now;
    }
  }

  struct SnapshotJob {
    std::string schema, table;
    int chunk_size = 10000;
    std::string resume;  // encoded last key stored after the last complete chunk
    std::string state = "queued";
    uint64_t rows = 0;
    std::string error;
  };
  static void Fill(const SnapshotJob& j, cdcpb::SnapshotState* out) {
    out->set_schema(j.schema);
    out->set_table(j.table);
    out->set_state(j.state);
    out->set_rows(j.rows);
    out->set_error(j.error);
  }
  std::string SnapshotKey(const SnapshotJob& j) const {
    return absl::StrCat(server_, ".", wire::SubjectToken(j.schema), ".", wire::SubjectToken(j.table));
  }
  // "<state>|<rows>|<schema>|<table>|<encoded last key>" in KV CDC_SNAPSHOTS.
  void SaveSnapshotState(const SnapshotJob& j) {
    if (!snapshot_kv_) return;
    auto r = snapshot_kv_->Put(SnapshotKey(j), absl::StrCat(j.state, "|", j.rows, "|", j.schema, "|", j.table, "|",
                                                             j.resume));
    SA_CRASH_POINT("cdc.snapshot_state_saved");
    if (!r.ok()) spdlog::warn("snapshot state of {}.{} not stored: {}", j.schema, j.table, std::string(r.status().message()));
  }

  // The state bucket, once; jobs_mu_ guards the pointer (gRPC saves states too).
  void OpenSnapshotStates() {
    std::lock_guard lock(jobs_mu_);
    if (snapshot_kv_) return;
    bus::KeyValue::Options o;
    auto kv = bus::KeyValue::Create(nats().jetstream(), "CDC_SNAPSHOTS", o);
    if (kv.ok()) {
      snapshot_kv_ = std::move(*kv);
    } else {  // streaming does not depend on it; snapshots just cannot resume after a crash
      spdlog::warn("snapshot state bucket CDC_SNAPSHOTS unavailable ({}); snapshots will not be resumable",
                   std::string(kv.status().message()));
    }
  }
  std::optional<std::string> StoredSnapshotState(const SnapshotJob& j) {
    if (!snapshot_kv_) return std::nullopt;
    auto v = snapshot_kv_->Get(SnapshotKey(j));
    return v.ok() ? *v : std::nullopt;
  }
  // The publication's tables (schema, table) but the excluded ones.
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> PublicationTables() {
    const auto& k = config_.connector();
    auto conn = pg::Connection::Connect(config_.source().dsn(), {.application_name = "sa-cdc"});
    if (!conn.ok()) return conn.status();
    auto r = (*conn)->Exec("SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = $1 ORDER BY 1, 2",
                           {k.publication_name()});
    if (!r.ok()) return r.status();
    std::vector<std::pair<std::string, std::string>> tables;
    for (int i = 0; i < PQntuples(r->get()); ++i) {
      std::string schema = PQgetvalue(r->get(), i, 0), table = PQgetvalue(r->get(), i, 1);
      const std::string full = absl::StrCat(schema, ".", table);
      if (std::find(k.exclude_tables().begin(), k.exclude_tables().end(), full) != k.exclude_tables().end()) continue;
      tables.emplace_back(schema, table);
    }
    return tables;
  }
  // initial_only after a finished snapshot (every table "done"): nothing
  // left to do, and the slot it dropped must not be created again.
  bool InitialOnlyFinishedBefore() {
    OpenSnapshotStates();
    auto tables = PublicationTables();
    if (!tables.ok() || tables->empty()) return false;
    std::lock_guard lock(jobs_mu_);
    for (const auto& [schema, table] : *tables) {
      SnapshotJob j;
      j.schema = schema;
      j.table = table;
      auto v = StoredSnapshotState(j);
      if (!v || !absl::StartsWith(*v, "done|")) return false;
    }
    return true;
  }

  // Session start (worker): open the state bucket, resume unfinished
  // snapshots from their last stored chunk, queue what snapshot_mode asks.
  absl::Status PrepareSnapshots(bool slot_created) {
    const auto& k = config_.connector();
    reader_.reset();  // a chunk in flight is read again from the stored position
    chunk_lsn_ = 0;
    OpenSnapshotStates();
    // Every mode: with "never", snapshots asked for over gRPC and not
    // finished before a crash resume too.
    auto tables = PublicationTables();
    if (!tables.ok()) return tables.status();
    std::lock_guard lock(jobs_mu_);
    for (auto& j : jobs_) {  // queued or interrupted in this process: resume from the stored key
      if (auto v = StoredSnapshotState(j)) {
        std::vector<std::string> parts = absl::StrSplit(*v, absl::MaxSplits('|', 4));
        if (parts.size() == 5 && parts[0] == "running") j.resume = parts[4];
      }
      if (j.state == "running") j.state = "queued";
    }
    for (const auto& [schema, table] : *tables) {
      SnapshotJob j;
      j.schema = schema;
      j.table = table;
      j.chunk_size = static_cast<int>(k.snapshot_chunk_size());
      if (std::any_of(jobs_.begin(), jobs_.end(),
                      [&j](const SnapshotJob& q) { return q.schema == j.schema && q.table == j.table; }))
        continue;
      std::string state;
      if (auto v = StoredSnapshotState(j)) {
        std::vector<std::string> parts = absl::StrSplit(*v, absl::MaxSplits('|', 4));
        if (parts.size() == 5) {
          state = parts[0];
          (void)absl::SimpleAtoi(parts[1], &j.rows);
          j.resume = parts[4];
        }
      }
      const bool unfinished = state == "running" || state == "queued";
      const bool wanted = (slot_created && k.snapshot_mode() != "never") ||
                          (k.snapshot_mode() == "when_needed" && state != "done") || unfinished;
      if (!wanted) continue;
      if (slot_created && !unfinished) {
        j.resume.clear();
        j.rows = 0;
      }
      spdlog::info("snapshot of {}.{} queued ({}{})", schema, table, slot_created ? "slot created" : k.snapshot_mode(),
                   j.resume.empty() ? "" : ", resuming after the last stored chunk");
      j.state = "queued";
      SaveSnapshotState(j);
      jobs_.push_back(std::move(j));
    }
    initial_only_pending_ = k.snapshot_mode() == "initial_only" && !jobs_.empty();
    if (slot_created && snapshot_kv_) {
      // Every table's "queued" state is stored: the marker has done its job.
      if (auto r = snapshot_kv_->Put(InitialMarkerKey(), "queued"); !r.ok())
        return absl::UnavailableError(absl::StrCat("snapshot state: ", r.status().message()));
    }
    return absl::OkStatus();
  }

  // "<server>._initial" in CDC_SNAPSHOTS: "pending" from just before the
  // slot is created until every table's snapshot is queued (stored). A crash
  // in between leaves a slot that exists and tables without a state; the
  // next session sees "pending" and queues them, instead of taking the
  // existing slot for one whose snapshot was already planned.
  std::string InitialMarkerKey() const { return absl::StrCat(server_, "._initial"); }
  absl::Status MarkInitialSnapshotBeforeTheSlot() {
    const auto& mode = config_.connector().snapshot_mode();
    if (mode == "never") return absl::OkStatus();
    OpenSnapshotStates();
    if (!snapshot_kv_) return absl::OkStatus();  // warned: snapshots are not resumable
    auto conn = pg::Connection::Connect(config_.source().dsn(), {.application_name = "sa-cdc"});
    if (!conn.ok()) return conn.status();
    auto r = (*conn)->Exec("SELECT 1 FROM pg_replication_slots WHERE slot_name = $1", {config_.connector().slot_name()});
    if (!r.ok()) return r.status();
    if (PQntuples(r->get()) > 0) return absl::OkStatus();  // the slot exists: its snapshots are planned
    auto put = snapshot_kv_->Put(InitialMarkerKey(), "pending");
    if (!put.ok()) return absl::UnavailableError(absl::StrCat("snapshot state: ", put.status().message()));
    return absl::OkStatus();
  }
  bool InitialSnapshotPending() {
    if (!snapshot_kv_ || config_.connector().snapshot_mode() == "never") return false;
    auto v = snapshot_kv_->Get(InitialMarkerKey());
    const bool pending = v.ok() && v->has_value() && **v == "pending";
    if (pending) spdlog::info("the initial snapshot was planned before a crash; queuing it");
    return pending;
  }

  // jobs_mu_ held: the front job completed (its last chunk stored).
  void FinishFrontJobLocked() {
    SnapshotJob& j = jobs_.front();
    j.state = "done";
    SaveSnapshotState(j);
    spdlog::info("snapshot of {}.{} done: {} rows", j.schema, j.table, j.rows);
    finished_jobs_.push_back(j);
    jobs_.pop_front();
    reader_.reset();
  }

  // Worker, between polls: one chunk at a time, the next only once the
  // previous one is stored and the stream has passed its gate.
  absl::Status SnapshotStep() {
    if (chunk_lsn_ != 0) {
      {
        if (tracker_.Contains(chunk_lsn_)) return absl::OkStatus();  // still in flight
      }
      chunk_lsn_ = 0;
      std::lock_guard lock(jobs_mu_);
      if (!jobs_.empty() && reader_) {
        SnapshotJob& j = jobs_.front();
        j.resume = reader_->EncodedLastKey();
        j.rows += chunk_rows_;
        if (chunk_last_) {
          FinishFrontJobLocked();
        } else {
          SaveSnapshotState(j);
        }
      }
    }
    SnapshotJob job;
    {
      std::lock_guard lock(jobs_mu_);
      if (jobs_.empty()) {
        if (initial_only_pending_) snapshot_finished_for_initial_only_ = true;
        return absl::OkStatus();
      }
      jobs_.front().state = "running";
      job = jobs_.front();
    }
    if (!reader_) {
      auto r = cdc::TableSnapshotReader::Open(config_.source().dsn(), server_, job.schema, job.table, job.chunk_size,
                                              job.resume);
      if (!r.ok()) {
        if (r.status().code() == absl::StatusCode::kUnavailable) return r.status();
        spdlog::error("snapshot of {}.{} failed: {}", job.schema, job.table, std::string(r.status().message()));
        std::lock_guard lock(jobs_mu_);
        jobs_.front().state = "failed";
        jobs_.front().error = std::string(r.status().message());
        SaveSnapshotState(jobs_.front());
        finished_jobs_.push_back(jobs_.front());
        jobs_.pop_front();
        return absl::OkStatus();
      }
      reader_ = std::move(*r);
    }
    auto chunk = reader_->Next();
    if (!chunk.ok()) return chunk.status();  // the session restarts and resumes from the stored key
    chunk_rows_ = chunk->events.size();
    chunk_last_ = chunk->last;
    if (chunk->events.empty()) {
      std::lock_guard lock(jobs_mu_);  // nothing to publish: the table is done
      FinishFrontJobLocked();
      return absl::OkStatus();
    }
    if (chunk->commit_lsn <= watermark_published_) {
      // warehouse-sink would skip these rows as already applied. The reader keys
      // chunks above every received commit, so this is a broken invariant;
      // a new session reads the chunk again, at a later LSN.
      return absl::InternalError(absl::StrCat("snapshot chunk of ", job.schema, ".", job.table, " keyed at ",
                                              cdc::FormatLsn(chunk->commit_lsn), ", not above the published watermark ",
                                              cdc::FormatLsn(watermark_published_), "; reading it again"));
    }
    cdc::Transaction tx;
    tx.commit_lsn = chunk->commit_lsn;
    tx.end_lsn = chunk->gate_lsn;
    tx.events = std::move(chunk->events);
    chunk_lsn_ = tx.commit_lsn;
    absl::Status st = PublishTransaction(tx, chunk->gate_lsn);
    SA_CRASH_POINT("cdc.chunk_published");  // the chunk's rows published, its position not stored
    return st;
  }

  void DropSlotAfterInitialOnly() {
    if (slot_dropped_) {
      std::lock_guard lock(status_mu_);
      last_error_ = "snapshot_mode initial_only: snapshot complete, not streaming";
      return;
    }
    cdc::ReplicationOptions o;
    o.conninfo = config_.source().dsn();
    o.slot_name = config_.connector().slot_name();
    o.publication_name = config_.connector().publication_name();
    o.server_name = server_;
    auto client = cdc::ReplicationClient::Connect(o);
    absl::Status st = client.ok() ? (*client)->DropSlot() : client.status();
    if (!st.ok()) spdlog::warn("initial_only: slot {} not dropped: {}", o.slot_name, std::string(st.message()));
    std::lock_guard lock(status_mu_);
    last_error_ = "snapshot_mode initial_only: snapshot complete, not streaming";
  }

  void ConfirmAcked(cdc::ReplicationClient& c) {
    const uint64_t lsn = tracker_.confirmable();
    if (lsn > c.confirmed_lsn()) {
      c.Confirm(lsn);
      SA_CRASH_POINT("cdc.slot_confirmed");
    }
    const uint64_t now = c.confirmed_lsn();
    if (now != confirmed_.load()) {
      confirmed_ = now;
      probe_.confirmed_lsn.Set(static_cast<double>(now));
    }
  }

  void RefreshLag(cdc::ReplicationClient& c) {
    auto lag = c.SlotLagBytes();
    if (!lag.ok()) {
      spdlog::warn("slot lag of {}: {}", config_.connector().slot_name(), std::string(lag.status().message()));
      return;
    }
    lag_bytes_ = *lag;
    lag_known_ = true;
    probe_.slot_lag_bytes.Set(static_cast<double>(*lag));
  }

  // Core NATS, best effort: tells consumers the connector is alive and where
  // the slot stands while the captured tables are quiet.
  void Heartbeat() {
    std::string body = absl::StrCat("{\"server\":\"", server_, "\",\"slot\":\"", config_.connector().slot_name(),
                                    "\",\"confirmed_lsn\":\"", cdc::FormatLsn(confirmed_.load()),
                                    "\",\"lag_bytes\":", lag_bytes_.load(), ",\"ts_ms\":", NowUnixNanos() / 1000000,
                                    "}");
    (void)nats().connection().Publish(wire::CdcHeartbeatSubject(server_), body);
  }

  // A failure that says nothing about the event (the connection, or this
  // process closing) must not confirm it: the slot redelivers it instead.
  bool IsTransportFailure(const absl::Status& st) const {
    return absl::IsUnavailable(st) || absl::IsCancelled(st);  // Cancelled: the publisher is closing
  }

  // OK, or a transport failure after which the session must replay.
  absl::Status PublishTransaction(cdc::Transaction& tx, uint64_t gate = 0) {
    probe_.transactions.Inc();
    const size_t n = tx.events.size();
    const uint64_t lsn = tx.commit_lsn;
    std::vector<bus::Message> out(n);
    std::vector<ConfirmTracker::Event> events(n);
    const int64_t now_ms = NowUnixNanos() / 1000000;
    for (size_t i = 0; i < n; ++i) {
      auto& e = tx.events[i];
      e.mutable_table()->set_server(server_);
      e.set_ts_ms(now_ms);
      out[i].subject = wire::CdcSubject(server_, e.table().schema(), e.table().table());
      out[i].msg_id = MsgId(lsn, static_cast<uint32_t>(i));
      if (!e.SerializeToString(&out[i].data)) out[i].data.clear();
      events[i] = {out[i].subject, out[i].data};
      probe_.CountEvent(e.op());
    }
    tracker_.Add(lsn, tx.end_lsn, gate, std::move(events), kafka_ ? ConfirmTracker::kAll : ConfirmTracker::kJetStream);
    // The transaction's events go out as one batch; one that could not be
    // serialized is parked instead, and `index_of` maps batch positions to
    // event indexes when there was one (empty: the same).
    std::vector<uint32_t> index_of;
    auto unserializable = [&](size_t i) { return out[i].data.empty() && tx.events[i].ByteSizeLong() > 0; };
    bool any_unserializable = false;
    for (size_t i = 0; i < n && !any_unserializable; ++i) any_unserializable = unserializable(i);
    if (any_unserializable) {
      size_t kept = 0;
      for (size_t i = 0; i < n; ++i) {
        if (unserializable(i)) {
          DeadLetter(lsn, static_cast<uint32_t>(i), CdcProbe::DeadLetterReason::kSerializeFailed,
                     "ChangeEvent could not be serialized");
          continue;
        }
        index_of.push_back(static_cast<uint32_t>(i));
        if (kept != i) out[kept] = std::move(out[i]);
        ++kept;
      }
      out.resize(kept);
    }
    std::vector<absl::Status> results =
        publisher_->PublishBatch(std::move(out), [this, lsn, index_of](size_t pos, const absl::Status& r) {
          OnPublished(lsn, index_of.empty() ? static_cast<uint32_t>(pos) : index_of[pos], r);
        });
    for (size_t pos = 0; pos < results.size(); ++pos) {
      const uint32_t index = index_of.empty() ? static_cast<uint32_t>(pos) : index_of[pos];
      const absl::Status& st = results[pos];
      if (!st.ok()) {
        if (IsTransportFailure(st)) return st;
        DeadLetter(lsn, index, CdcProbe::DeadLetterReason::kPublishRefused, std::string(st.message()));
        continue;
      }
      ++events_published_;
      if (kafka_) {
        // Blocks while the sink's in-flight limit is reached (back-pressure).
        absl::Status ks =
            kafka_->Send(tx.events[index], [this, lsn, index](absl::Status s) { OnKafkaDelivered(lsn, index, s); });
        if (ks.code() == absl::StatusCode::kInvalidArgument) {
          // This event can never go to Kafka (e.g. larger than message.max.bytes):
          // park it; JetStream still has to store it before the slot moves.
          DeadLetter(lsn, index, CdcProbe::DeadLetterReason::kKafkaRefused, std::string(ks.message()),
                     ConfirmTracker::kKafka);
        } else if (!ks.ok()) {
          return ks;  // fatal producer error or topic unavailable: new session, replay
        }
      }
    }
    return absl::OkStatus();
  }

  // An event's JetStream completion (ack thread: quick, no Publish). A
  // failure that says nothing about the event is replayed from the slot; one
  // that can never succeed parks the event on dlq.cdc.
  void OnPublished(uint64_t lsn, uint32_t index, const absl::Status& result) {
    if (result.ok()) {
      probe_.events_acked.Inc();
      tracker_.MarkDone(lsn, index, ConfirmTracker::kJetStream);
      return;
    }
    if (IsTransportFailure(result)) {
      if (!absl::IsCancelled(result))  // Cancelled: this process is closing, nothing to say per event
        spdlog::warn("change event {} not stored: {}; it will be replayed from the slot", MsgId(lsn, index),
                     std::string(result.message()));
      resend_needed_ = true;
      return;
    }
    DeadLetter(lsn, index, CdcProbe::DeadLetterReason::kPublishFailed, std::string(result.message()));
  }

  // Kafka sink's poll thread: quick, no Send.
  void OnKafkaDelivered(uint64_t lsn, uint32_t index, const absl::Status& st) {
    if (st.ok()) {
      tracker_.MarkDone(lsn, index, ConfirmTracker::kKafka);
      return;
    }
    spdlog::warn("change event {} not stored in Kafka: {}; it will be replayed from the slot", MsgId(lsn, index),
                 std::string(st.message()));
    resend_needed_ = true;
  }

  // The event can never be stored: park it on dlq.cdc and let its
  // transaction confirm. `outputs`: which outputs the parked event counts as
  // done for.
  void DeadLetter(uint64_t lsn, uint32_t index, CdcProbe::DeadLetterReason reason, const std::string& error,
                  uint8_t outputs = ConfirmTracker::kAll) {
    probe_.DeadLetters(reason).Inc();
    const char* const reason_label = CdcProbe::ReasonLabel(reason);
    const std::string msg_id = MsgId(lsn, index);
    std::string subject, payload;
    tracker_.MarkDone(lsn, index, outputs, &subject, &payload);
    spdlog::error("change event {} on {} dead-lettered to {} ({}): {}", msg_id, subject, dlq_->subject(), reason_label,
                  error);
    bus::DeadLetter d{
        .reason = reason_label, .error = error, .subject = subject, .input_msg_id = msg_id, .payload = payload};
    // Too big to park whole: keep what identifies the row.
    d.shrink = [](std::string* p) -> std::string {
      cdcpb::ChangeEvent e;
      if (!e.ParseFromString(*p)) return "";
      for (auto* cols : {e.mutable_before(), e.mutable_after()}) {
        google::protobuf::RepeatedPtrField<cdcpb::Column> keys;
        for (const auto& col : *cols)
          if (col.key()) *keys.Add() = col;
        cols->Swap(&keys);
      }
      *p = e.SerializeAsString();
      return wire::dlq_truncation::kKeyColumnsOnly;
    };
    if (absl::Status st = dlq_->Write(std::move(d)); !st.ok())
      spdlog::error("dead letter {} not published: {}", msg_id, std::string(st.message()));
  }

  cfg::CdcBridgeConfig config_;
  const std::string server_;
  std::unique_ptr<bus::DeadLetterWriter> dlq_;  // outlives publisher_, whose on_failure uses it
  std::unique_ptr<bus::JetStreamPublisher> publisher_;
  // Snapshots. jobs_/finished_jobs_ under jobs_mu_ (gRPC and worker); the rest worker only.
  std::mutex jobs_mu_;
  std::deque<SnapshotJob> jobs_;
  std::vector<SnapshotJob> finished_jobs_;
  std::unique_ptr<bus::KeyValue> snapshot_kv_;
  std::unique_ptr<cdc::TableSnapshotReader> reader_;
  uint64_t chunk_lsn_ = 0;  // tracker_ key of the chunk in flight
  size_t chunk_rows_ = 0;
  bool chunk_last_ = false;
  bool initial_only_pending_ = false;
  bool snapshot_finished_for_initial_only_ = false;
  std::atomic<bool> initial_only_done_{false};
  bool slot_dropped_ = false;                    // initial_only, finished in an earlier run (worker thread)
  std::unique_ptr<cdc::KafkaChangeSink> kafka_;  // worker thread only; one per Stream() session
  uint64_t watermark_published_ = 0;  // worker thread
  absl::Time watermark_time_ = absl::InfinitePast();
  std::thread worker_;
  // Lifecycle requests (gRPC threads) and the worker's answers. The flags are
  // atomics so the worker's loop reads them without the lock; they change
  // under ctl_mu_ so that waits on ctl_cv_ see every change.
  std::mutex ctl_mu_;
  std::condition_variable ctl_cv_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> pause_requested_{false};
  bool parked_ = false;                               // the worker holds no session, waiting for Resume
  bool worker_done_ = false;                          // Run returned
  absl::Time drain_deadline_ = absl::InfinitePast();  // set by Drain
  absl::Status drain_result_;                         // what the drain left undone

  ConfirmTracker tracker_;  // what is stored, in commit order: how far the slot may confirm

  std::atomic<bool> resend_needed_{false};  // set on the ack thread, read by the worker
  std::atomic<bool> streaming_{false};
  std::atomic<bool> streamed_ok_{false};
  std::mutex status_mu_;
  std::string last_error_;
  std::atomic<uint64_t> confirmed_{0};
  std::atomic<uint64_t> lag_bytes_{0};
  std::atomic<bool> lag_known_{false};
  std::atomic<uint64_t> events_published_{0};  // accepted by the publisher (GetStatus; no metric of its own)

  CdcProbe probe_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<runtime::Application>> CreateApp(const cfg::CdcBridgeConfig& c) {
  return std::make_unique<CdcBridgeApp>(c);
}

}  // namespace sa::cdc_bridge
