#include "views_service/runner.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "bus/jetstream.h"
#include "bus/dead_letters.h"
#include "bus/jetstream_publisher.h"
#include "observability/metrics.h"
#include "views/definition.h"
#include "wire/subjects.h"
#include "views/engine.h"

namespace sa::views_service {

namespace vpb = streamadmin::views::v1;
namespace cfg = streamadmin::config::v1;

absl::StatusOr<std::string> SourceStreams::For(const std::string& subject) const {
  // A source's subject filter ("md.trade.>", "cdc.pg.public.orders", "anomaly.>").
  if (wire::MdKindOf(subject) != wire::MdKind::kNone) return md;
  if (absl::StartsWith(subject, wire::kCdcPrefix)) return cdc;
  if (absl::StartsWith(subject, wire::kAnomalyPrefix)) return anomaly;
  return absl::NotFoundError(absl::StrCat("no stream is configured for source subject ", subject));
}

// A view's metrics, looked up once per runner (label: the view's name; the
// number of views is bounded by max_views).
struct ViewRunner::Probe {
  explicit Probe(const std::string& view)
      : inputs(
            Reg().GetCounter("streamadmin_views_inputs_total", "Source messages a view processed", {{"view", view}})),
        outputs(Reg().GetCounter("streamadmin_views_outputs_total", "Messages a view published on view.<name>",
                                 {{"view", view}})),
        late(Reg().GetCounter("streamadmin_views_dead_letters_total",
                              "Inputs a view dead-lettered, by reason (late: after the grace; invalid: undecodable)",
                              {{"view", view}, {"reason", "late"}})),
        invalid(Reg().GetCounter("streamadmin_views_dead_letters_total",
                                 "Inputs a view dead-lettered, by reason (late: after the grace; invalid: undecodable)",
                                 {{"view", view}, {"reason", "invalid"}})),
        checkpoints(
            Reg().GetCounter("streamadmin_views_checkpoints_total", "Checkpoints a view stored", {{"view", view}})),
        restarts(Reg().GetCounter("streamadmin_views_attempt_failures_total",
                                  "Runs of a view that ended in an error and were retried", {{"view", view}})),
        lag(Reg().GetGauge("streamadmin_views_input_lag", "Source messages after a view's position", {{"view", view}})),
        memory(Reg().GetGauge("streamadmin_views_memory_bytes", "Window state a view holds", {{"view", view}})) {}
  static obs::MetricsRegistry& Reg() { return obs::MetricsRegistry::Default(); }
  obs::Counter& inputs;
  obs::Counter& outputs;
  obs::Counter& late;
  obs::Counter& invalid;
  obs::Counter& checkpoints;
  obs::Counter& restarts;
  obs::Gauge& lag;
  obs::Gauge& memory;
};

namespace {

int64_t NowNs() { return absl::ToUnixNanos(absl::Now()); }

// A refusal that a retry cannot change: the view stops with this reason.
bool IsFinal(const absl::Status& st) {
  return st.code() == absl::StatusCode::kInvalidArgument || st.code() == absl::StatusCode::kPermissionDenied ||
         st.code() == absl::StatusCode::kFailedPrecondition || st.code() == absl::StatusCode::kResourceExhausted ||
         st.code() == absl::StatusCode::kDataLoss;
}

}  // namespace

// What one attempt holds. Run's thread sets it up; then the consumer loop's
// handler owns it until the loop is stopped (its fetching side, in Bind, only
// `bound` and the durable's start).
struct ViewRunner::Attempt {
  views::PreparedView view;
  std::unique_ptr<bus::JetStream> js;
  std::unique_ptr<bus::JetStreamPublisher> out;
  std::unique_ptr<bus::DeadLetterWriter> dlq;
  runtime::ConsumerLoop* loop = nullptr;
  cfg::ConsumerConfig consumer;
  std::string subject;  // view.<name>
  vpb::ViewCheckpoint checkpoint;
  uint64_t checkpoint_revision = 0;
  uint64_t checkpointed_position = 0;
  bool bound = false;    // fetching side: the durable was recreated (once per attempt)
  bool running = false;  // handler: the loop was seen bound (state RUNNING reported)
  bool dirty = false;    // processed since the last checkpoint
  bool paused = false;   // the last tick saw the loop paused
  uint64_t pending = 0;  // matching messages not yet delivered (the last delivery's num_pending)
  absl::Time last_checkpoint = absl::Now();
  absl::Time last_status = absl::InfinitePast();
  uint64_t last_inputs = 0, last_outputs = 0;
  absl::Time rate_since = absl::Now();
  Probe* probe = nullptr;
  std::vector<views::Record> records;
  bool failed = false;  // loop_mu_
  absl::Status error;   // loop_mu_: why the attempt ended
};

ViewRunner::ViewRunner(bus::Connection& connection, bus::KeyValue& checkpoints, bus::KeyValue& status,
                       vpb::ViewDefinition definition, RunnerOptions options)
    : connection_(connection),
      checkpoints_(checkpoints),
      status_kv_(status),
      definition_(std::move(definition)),
      options_(std::move(options)),
      probe_(std::make_unique<Probe>(definition_.name())) {
  status_.set_name(definition_.name());
  status_.set_version(definition_.version());
  status_.set_owner_replica(options_.replica);
  status_.set_state(vpb::VIEW_STATE_STARTING);
}

ViewRunner::~ViewRunner() { Stop(false); }

void ViewRunner::Start() {
  thread_ = std::thread([this] { Run(); });
}

void ViewRunner::Stop(bool checkpoint) {
  checkpoint_on_stop_.store(checkpoint);
  {
    std::lock_guard lock(loop_mu_);
    stop_.store(true);
  }
  loop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ViewRunner::SetPaused(bool paused) {
  std::lock_guard lock(loop_mu_);
  paused_.store(paused);
  if (loop_ != nullptr) loop_->SetPaused(paused);
}

vpb::ViewStatus ViewRunner::Status() const {
  std::lock_guard lock(mu_);
  return status_;
}

void ViewRunner::SetState(vpb::ViewState state, const std::string& reason) {
  std::lock_guard lock(mu_);
  status_.set_state(state);
  status_.set_reason(reason);
  status_.set_updated_at_ns(NowNs());
}

void ViewRunner::Run() {
  absl::Duration backoff = absl::Milliseconds(250);
  while (!stop_.load()) {
    absl::Status st = RunAttempt();
    if (stop_.load() && st.ok()) break;
    if (IsFinal(st)) {
      spdlog::warn("view {} v{} stopped: {}", definition_.name(), definition_.version(), std::string(st.message()));
      stopped_.store(true);
      SetState(vpb::VIEW_STATE_STOPPED, std::string(st.message()));
      ReportStatus(nullptr, true);
      return;
    }
    if (stop_.load()) break;
    spdlog::warn("view {} v{}: {}; retrying in {}", definition_.name(), definition_.version(),
                 std::string(st.message()), absl::FormatDuration(backoff));
    SetState(vpb::VIEW_STATE_FAILED, std::string(st.message()));
    ReportStatus(nullptr, true);
    probe_->restarts.Inc();
    {
      std::unique_lock lock(loop_mu_);  // retry pacing, cut short by Stop
      loop_cv_.wait_for(lock, absl::ToChronoNanoseconds(backoff), [&] { return stop_.load(); });
    }
    backoff = std::min(backoff * 2, absl::Seconds(10));
  }
}

namespace {

absl::Status FailedAt(const char* what, const absl::Status& st) {
  // A transient error: the attempt ends and is retried (never final).
  return absl::UnavailableError(absl::StrCat(what, ": ", st.message()));
}

}  // namespace

absl::Status ViewRunner::RunAttempt() {
  Attempt a;
  const std::string& name = definition_.name();
  // 1. The definition, checked again here (the owner's rights included).
  auto prepared = views::Prepare(definition_, options_.default_memory_limit);
  if (!prepared.ok()) return prepared.status();
  a.view = *std::move(prepared);
  views::Engine& engine = *a.view.engine;
  a.probe = probe_.get();
  a.subject = views::OutputSubject(name);
  auto stream = options_.sources.For(a.view.plan.source->subject);
  if (!stream.ok()) return absl::FailedPreconditionError(stream.status().message());

  auto js = bus::JetStream::Create(connection_);
  if (!js.ok()) return FailedAt("jetstream", js.status());
  a.js = *std::move(js);

  // 2. The checkpoint of this version, or where the new version starts.
  auto entry = checkpoints_.GetEntry(name);
  if (!entry.ok()) return FailedAt("reading the checkpoint", entry.status());
  bool resumed = false;
  if (entry->has_value()) {
    vpb::ViewCheckpoint cp;
    if (!cp.ParseFromString((*entry)->value))
      return absl::DataLossError(absl::StrCat("the checkpoint of view ", name, " is not a ViewCheckpoint"));
    if (cp.version() == definition_.version() && cp.created_at_ns() == definition_.created_at_ns()) {
      if (!cp.engine().empty()) {
        if (absl::Status st = engine.Restore(cp.engine()); !st.ok()) return st;  // DataLoss: stop, say why
      }
      a.checkpoint = std::move(cp);
      a.checkpoint_revision = (*entry)->revision;
      resumed = true;
    }
  }
  if (!resumed) {
    vpb::ViewCheckpoint& cp = a.checkpoint;
    cp.set_version(definition_.version());
    cp.set_created_at_ns(definition_.created_at_ns());
    const auto& start = definition_.start();
    switch (start.from_case()) {
      case vpb::StartAt::kStreamSequence:
        cp.set_start_seq(std::max<uint64_t>(1, start.stream_sequence()));
        break;
      case vpb::StartAt::kTimeNs:
        cp.set_start_time_ns(start.time_ns());
        break;
      case vpb::StartAt::kBeginning:
        cp.set_start_seq(1);
        break;
      default: {  // now
        auto info = a.js->GetStreamInfo(*stream);
        if (!info.ok()) return FailedAt("reading the source stream", info.status());
        cp.set_start_seq(info->last_seq + 1);
      }
    }
    cp.set_replica(options_.replica);
    cp.set_saved_at_ns(NowNs());
    auto rev = entry->has_value() ? checkpoints_.PutIfRevision(name, cp.SerializeAsString(), (*entry)->revision)
                                  : checkpoints_.PutIfAbsent(name, cp.SerializeAsString());
    if (!rev.ok()) return FailedAt("storing where the view starts", rev.status());
    a.checkpoint_revision = *rev;
    spdlog::info("view {} v{}: new version, reading {} from {}", name, definition_.version(), *stream,
                 cp.start_seq() ? absl::StrCat("sequence ", cp.start_seq())
                                : absl::FormatTime(absl::FromUnixNanos(cp.start_time_ns())));
  }
  a.checkpointed_position = engine.position();

  auto out = bus::JetStreamPublisher::Create(connection_);
  auto dlq =
      bus::DeadLetterWriter::Create(connection_, {.stage = a.subject, .subject = views::DeadLetterSubject(name)});
  if (!out.ok()) return FailedAt("publisher", out.status());
  if (!dlq.ok()) return FailedAt("publisher", dlq.status());
  a.out = *std::move(out);
  a.dlq = *std::move(dlq);

  // 3. The durable (recreated by the loop's bind) and the loop.
  a.consumer.set_stream(*stream);
  a.consumer.set_durable(views::DurableName(name));
  a.consumer.set_filter_subject(engine.subjects().size() == 1 ? engine.subjects()[0] : a.view.plan.source->subject);
  a.consumer.set_ack_wait_s(60);
  a.consumer.set_max_ack_pending(std::max(20000, 4 * options_.fetch_batch));
  a.consumer.set_fetch_batch(options_.fetch_batch);
  runtime::ConsumerLoop loop({.consumer = a.consumer,
                              .name = absl::StrCat("consumer.", views::DurableName(name)),
                              .fetch_wait = options_.fetch_wait,
                              .fetch_ahead = options_.fetch_ahead,
                              .rewind_on_first_bind = false,
                              .bind = [this, &a] { return Bind(a); }},
                             [this, &a](std::vector<bus::ReceivedMessage>& batch) { return Handle(a, batch); });
  a.loop = &loop;
  {
    std::lock_guard lock(loop_mu_);
    loop_ = &loop;
    loop.SetPaused(paused_.load());
  }
  loop.Start();
  {
    std::unique_lock lock(loop_mu_);
    loop_cv_.wait(lock, [&] { return stop_.load() || a.failed; });
  }
  loop.Stop();  // the handler finishes the batch in hand
  absl::Status error;
  {
    std::lock_guard lock(loop_mu_);
    loop_ = nullptr;
    error = a.error;
  }
  if (!error.ok()) return error;
  if (checkpoint_on_stop_.load() && a.dirty) {
    if (absl::Status c = Checkpoint(a); !c.ok())
      spdlog::warn("view {}: last checkpoint not stored ({}); the next owner replays from the one before", name,
                   std::string(c.message()));
  }
  return absl::OkStatus();
}

void ViewRunner::Fail(Attempt& a, absl::Status st) {
  {
    std::lock_guard lock(loop_mu_);
    if (a.failed) return;
    a.failed = true;
    a.error = std::move(st);
  }
  loop_cv_.notify_all();
}

absl::StatusOr<std::unique_ptr<bus::PullSubscription>> ViewRunner::Bind(Attempt& a) {
  {
    std::lock_guard lock(loop_mu_);
    if (a.failed) return a.error;  // the handler ends the loop at its next tick
  }
  absl::Status st;
  if (a.bound) {
    // The loop binds again after a fetch error: this attempt ends, the next
    // one restores the checkpoint.
    st = FailedAt("fetch", absl::UnavailableError(a.loop->last_error()));
  } else {
    // At the next sequence. Acks only free the window: ack-all, one per batch.
    const views::Engine& engine = *a.view.engine;
    constexpr auto kAll = bus::JetStream::AckPolicy::kAll;
    if (engine.position() > 0)
      st = a.js->RecreatePullConsumerAt(a.consumer, engine.position() + 1, kAll);
    else if (a.checkpoint.start_seq() > 0)
      st = a.js->RecreatePullConsumerAt(a.consumer, a.checkpoint.start_seq(), kAll);
    else
      st = a.js->RecreatePullConsumerAtTime(a.consumer, absl::FromUnixNanos(a.checkpoint.start_time_ns()), kAll);
    if (!st.ok()) st = FailedAt("creating the consumer", st);
  }
  if (!st.ok()) {
    Fail(a, st);
    return st;
  }
  auto sub = a.js->PullSubscribe(a.consumer);
  if (!sub.ok()) {
    Fail(a, FailedAt("binding the consumer", sub.status()));
    return sub.status();
  }
  a.bound = true;
  spdlog::info("view {} v{} running on {} (filter {}, position {})", definition_.name(), definition_.version(),
               a.consumer.stream(), a.consumer.filter_subject(), a.view.engine->position());
  return sub;
}

runtime::ConsumerLoop::Next ViewRunner::Handle(Attempt& a, std::vector<bus::ReceivedMessage>& batch) {
  {
    std::lock_guard lock(loop_mu_);
    if (a.failed) return runtime::ConsumerLoop::Next::kStop;  // a failed bind
  }
  const bool bound = a.loop->bound();
  if (a.running && !bound) {
    // A fetch failed (the loop would bind again): this attempt ends.
    Fail(a, FailedAt("fetch", absl::UnavailableError(a.loop->last_error())));
    return runtime::ConsumerLoop::Next::kStop;
  }
  if (const bool paused = a.loop->paused(); bound && (!a.running || paused != a.paused)) {
    a.paused = paused;
    SetState(vpb::VIEW_STATE_RUNNING, paused ? "paused" : "");
    if (!a.running) ReportStatus(&a, true);
    a.running = true;
  }
  absl::Status st = Process(a, batch);
  // 5. Flush, then store the position (compare-and-set).
  if (st.ok() && a.dirty && absl::Now() - a.last_checkpoint >= options_.checkpoint_interval) st = Checkpoint(a);
  if (!st.ok()) {
    Fail(a, std::move(st));
    return runtime::ConsumerLoop::Next::kStop;
  }
  ReportStatus(&a, false);
  return runtime::ConsumerLoop::Next::kFetch;
}

// 4. Each input through the engine; outputs and dead letters published.
absl::Status ViewRunner::Process(Attempt& a, std::vector<bus::ReceivedMessage>& batch) {
  if (batch.empty()) {
    if (!a.paused) a.pending = 0;  // a fetch that found nothing
    return absl::OkStatus();
  }
  a.pending = batch.back().num_pending();
  views::Engine& engine = *a.view.engine;
  for (bus::ReceivedMessage& m : batch) {
    const uint64_t seq = m.stream_sequence();
    if (seq <= engine.position()) continue;  // a redelivery of what was processed
    a.records.clear();
    auto step = engine.Process(seq, m.data(), &a.records);
    a.probe->inputs.Inc();
    a.dirty = true;
    if (!step.ok()) {
      if (step.status().code() == absl::StatusCode::kInvalidArgument) {
        if (absl::Status d = DeadLetter(a, m, "invalid", std::string(step.status().message())); !d.ok())
          return FailedAt("dead letter", d);
      } else if (step.status().code() == absl::StatusCode::kResourceExhausted) {
        (void)a.out->Flush(options_.flush_timeout);  // what was emitted stays emitted
        return step.status();                        // the view stops, saying why
      } else {
        return FailedAt("processing", step.status());
      }
    } else if (step->late) {
      if (absl::Status d = DeadLetter(
              a, m, "late",
              absl::StrCat("event at ", absl::FormatTime(absl::FromUnixNanos(step->event_ns)),
                           " is after its windows closed (stream time ",
                           absl::FormatTime(absl::FromUnixNanos(engine.stream_time_ns())), ", grace included)"));
          !d.ok())
        return FailedAt("dead letter", d);
    }
    for (views::Record& r : a.records) {
      if (absl::Status p = a.out->Publish({a.subject, std::move(r.payload), std::move(r.msg_id), {}}); !p.ok())
        return FailedAt("publish", p);
      a.probe->outputs.Inc();
    }
  }
  // The durable acks all and is recreated at the checkpoint on every start:
  // this ack only frees its window.
  (void)batch.back().Ack();
  return absl::OkStatus();
}

absl::Status ViewRunner::DeadLetter(Attempt& a, const bus::ReceivedMessage& m, const char* reason,
                                    const std::string& error) {
  (std::string_view(reason) == "late" ? a.probe->late : a.probe->invalid).Inc();
  return a.dlq->Write(
      {.reason = reason, .error = error, .subject = m.subject(), .input_msg_id = m.msg_id(), .payload = m.data()});
}

absl::Status ViewRunner::Checkpoint(Attempt& a) {
  if (absl::Status f = a.out->Flush(options_.flush_timeout); !f.ok()) return FailedAt("outputs not stored", f);
  if (absl::Status f = a.dlq->Flush(options_.flush_timeout); !f.ok()) return FailedAt("dead letters not stored", f);
  views::Engine& engine = *a.view.engine;
  a.checkpoint.set_engine(engine.Checkpoint());
  a.checkpoint.set_replica(options_.replica);
  a.checkpoint.set_saved_at_ns(NowNs());
  auto rev = checkpoints_.PutIfRevision(definition_.name(), a.checkpoint.SerializeAsString(), a.checkpoint_revision);
  if (!rev.ok()) {
    if (rev.status().code() == absl::StatusCode::kFailedPrecondition)  // another replica wrote it: not ours
      return absl::AbortedError(
          absl::StrCat("the checkpoint was written by another replica: ", rev.status().message()));
    return FailedAt("storing the checkpoint", rev.status());
  }
  a.checkpoint_revision = *rev;
  a.checkpointed_position = engine.position();
  a.dirty = false;
  a.last_checkpoint = absl::Now();
  a.probe->checkpoints.Inc();
  return absl::OkStatus();
}

void ViewRunner::ReportStatus(Attempt* a, bool force) {
  const absl::Time now = absl::Now();
  if (a != nullptr && !force && now - a->last_status < options_.status_interval) return;
  vpb::ViewStatus s;
  {
    std::lock_guard lock(mu_);
    if (a != nullptr) {
      const views::Engine& e = *a->view.engine;
      const auto& c = e.counters();
      status_.set_position(e.position());
      status_.set_inputs(c.inputs);
      status_.set_outputs(c.outputs);
      status_.set_late(c.late);
      status_.set_invalid(c.invalid);
      status_.set_memory_bytes(e.MemoryBytes());
      const double secs = absl::ToDoubleSeconds(now - a->rate_since);
      if (secs >= 0.5) {
        status_.set_inputs_per_s(static_cast<double>(c.inputs - a->last_inputs) / secs);
        status_.set_outputs_per_s(static_cast<double>(c.outputs - a->last_outputs) / secs);
        a->last_inputs = c.inputs;
        a->last_outputs = c.outputs;
        a->rate_since = now;
      }
      a->probe->memory.Set(static_cast<double>(e.MemoryBytes()));
    }
    status_.set_updated_at_ns(absl::ToUnixNanos(now));
    s = status_;
  }
  if (a != nullptr) {
    a->last_status = now;
    // What the consumer still holds for the view (from the last delivery's
    // metadata: no request to the server).
    s.set_input_lag(a->pending);
    a->probe->lag.Set(static_cast<double>(a->pending));
    std::lock_guard lock(mu_);
    status_.set_input_lag(a->pending);
  }
  (void)status_kv_.Put(definition_.name(), s.SerializeAsString());  // best effort: the next report repeats it
}

}  // namespace sa::views_service
