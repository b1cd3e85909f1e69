#include "bus/jetstream_publisher.h"

#include <nats/nats.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "internal/callback_registry.h"
#include "internal/connection_state.h"
#include "internal/metrics.h"
#include "internal/msg_util.h"
#include "internal/nats_status.h"
#include "spdlog/spdlog.h"

namespace sa::bus {
namespace internal {
namespace {

// How long js_PublishMsgAsync waits when nats.c's own MaxPending is reached
// before returning NATS_TIMEOUT (we then simply call it again). Our own bound
// (equal to MaxPending) keeps that rare and short.
constexpr int64_t kStallWaitMs = 50;
constexpr absl::Duration kFirstRetryBackoff = absl::Milliseconds(10);
constexpr absl::Duration kRetryLogInterval = absl::Seconds(1);

// `user_closed`: the Connection was closed by its owner. A connection nats.c
// closed is rebuilt, so its publishes are tried again.
bool IsPermanent(natsStatus s, int js_err, bool user_closed) {
  switch (s) {
    case NATS_CONNECTION_CLOSED:
      return user_closed;
    case NATS_MAX_PAYLOAD:
    case NATS_INVALID_ARG:
    case NATS_INVALID_SUBJECT:
    case NATS_NOT_PERMITTED:
    case NATS_NO_MEMORY:
      return true;
    case NATS_ERR:
      // Errors the server will repeat for the same message.
      return js_err == JSStreamMessageExceedsMaximumErr || js_err == JSStreamNotMatchErr ||
             js_err == JSStreamWrongLastMsgIDErr || js_err == JSStreamWrongLastSequenceErr;
    default:
      // Timeouts, no responders (JetStream restarting, or no stream yet),
      // disconnected, reconnect buffer full, ...: worth another try.
      return false;
  }
}

}  // namespace

// A message's completion: its own (Publish) or its index in a batch's
// (PublishBatch), so that a batch allocates one completion, not one per message.
struct Done {
  JetStreamPublisher::Completion one;
  std::shared_ptr<const JetStreamPublisher::BatchCompletion> batch;
  size_t index = 0;
  explicit operator bool() const { return one != nullptr || batch != nullptr; }
  void operator()(const absl::Status& result) const {
    if (one) {
      one(result);
    } else if (batch) {
      (*batch)(index, result);
    }
  }
};

absl::Status CheckMessage(const Message& m) {
  if (m.subject.empty()) return absl::InvalidArgumentError("JetStream publish: empty subject");
  if (m.msg_id.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("JetStream publish ", m.subject, ": empty msg_id (dedup is mandatory)"));
  }
  return absl::OkStatus();
}

struct PublisherState : CallbackTarget, RebuildListener {
  // kAcked: acknowledged, on_ack running; the entry leaves `pending` (and
  // Flush may return) only once on_ack has returned. kRetryWait: failed (or,
  // while recovering, published and held back), to be sent by RetryLoop.
  enum class EntryState { kSending, kSent, kRetryWait, kAcked };
  struct Entry {
    Message msg;
    Done done;  // may be empty
    EntryState state = EntryState::kSending;
    int attempts = 0;
    // The natsMsg of the send on the wire, which nats.c hands back with its
    // ack or error (the key in `by_msg`); null while none is.
    const natsMsg* wire = nullptr;
  };
  struct Failure {
    std::string msg_id;
    absl::Status status;
    Done done;
  };

  std::shared_ptr<ConnectionState> conn;
  std::weak_ptr<PublisherState> self;  // registered as the ack handler's closure
  JetStreamPublisher::Options options;
  int64_t max_pending = 0;
  int64_t ack_timeout_ms = 0;
  BusMetrics& metrics = BusMetrics::Get();

  mutable std::mutex mu;
  std::condition_variable space_cv;  // room under max_pending
  std::condition_variable done_cv;   // entries acknowledged (Flush)
  std::condition_variable retry_cv;  // recovery started, an entry was resolved or held
  uint64_t next_seq = 1;
  std::map<uint64_t, Entry> pending;  // by publish order; acked entries leave
  // Acks are routed by the natsMsg nats.c hands back (the one it was given),
  // not by msg id: a pointer lookup, and exactly the send that was acked.
  // Only sends on the wire are here; an ack or error for anything else (a
  // send of a replaced connection) finds nothing and is dropped: its entry
  // is sent again.
  std::unordered_map<const natsMsg*, uint64_t> by_msg;
  // A Publish waiting for room is woken once `pending` is down to this many
  // (a quarter of max_pending below it), not after every ack: it then sends a
  // run of messages instead of trading the lock with the ack thread for each.
  int64_t wake_publishers_at = 0;
  // Order across failures. Publishes on one connection are stored in the
  // order they are sent, as long as none fails. Once one fails (no
  // responders while a stream leader is elected, an ack timeout, a
  // disconnect), `recovering` holds back every later publish; RetryLoop waits
  // until nothing is on the wire, resends the oldest failed entry alone until
  // it is stored (backing off), then sends every held or failed entry in
  // publish order and only then lets publishes through again. Retrying each
  // failure on its own timer instead let newer messages overtake older ones.
  bool recovering = false;
  absl::Time next_attempt = absl::InfinitePast();  // backoff of the probe
  bool stopping = false;
  std::atomic<bool> stopping_flag{false};
  absl::Status first_failure;  // since the last Flush
  JetStreamPublisher::Stats stats;
  absl::Time last_retry_log = absl::InfinitePast();
  uint64_t retries_not_logged = 0;
  std::thread retry_thread;

  // The publishing context on the current connection: made again (with an
  // ack handler closure of its own) after a rebuild. Not with `mu` held.
  std::mutex ctx_mu;
  std::shared_ptr<jsCtx> js;  // guarded by ctx_mu
  uint64_t js_generation = 0;
  void* closure = nullptr;  // js's ack handler closure; guarded by ctx_mu

  // Null (with *status set) while there is no connection.
  std::shared_ptr<jsCtx> Ctx(natsStatus* status);

  // The natsMsg of `m`, its msg id in the Nats-Msg-Id header (as nats.c's
  // jsPubOptions.MsgId would set it).
  static natsStatus Build(natsMsg** out, const Message& m) {
    natsStatus s = BuildNatsMsg(out, m.subject, m.data, m.headers);
    if (s != NATS_OK) return s;
    s = natsMsgHeader_Set(*out, kMsgIdHeader, m.msg_id.c_str());
    if (s != NATS_OK) {
      natsMsg_Destroy(*out);
      *out = nullptr;
    }
    return s;
  }

  // Sends `*msg` once on `ctx` (nats.c takes it over; destroyed otherwise);
  // loops over nats.c's stall timeout. `ctx` null: fails with `no_ctx` (what
  // Ctx() said). Called without `mu`.
  natsStatus SendBuilt(jsCtx* ctx, natsStatus no_ctx, natsMsg** msg) {
    natsStatus s = no_ctx;
    if (ctx != nullptr) {
      jsPubOptions po;
      jsPubOptions_Init(&po);
      po.MaxWait = ack_timeout_ms;  // nats.c times the ack out and reports NATS_TIMEOUT
      do {
        s = js_PublishMsgAsync(ctx, msg, &po);
      } while (s == NATS_TIMEOUT && !stopping_flag.load());
    }
    natsMsg_Destroy(*msg);  // no-op when nats.c took ownership
    *msg = nullptr;
    return s;
  }

  natsStatus SendBuilt(natsMsg** msg) {
    natsStatus s = NATS_OK;
    std::shared_ptr<jsCtx> ctx = Ctx(&s);
    return SendBuilt(ctx.get(), s, msg);
  }

  // Publishes msgs[0..n) in order: results[i] is what Publish returns for
  // msgs[i] (the caller sets them OK), done_for(i) makes its completion. The
  // messages are built outside the lock, registered in runs of up to kRun
  // (as many as the window has room for) under one lock, and each run is sent
  // on one context.
  template <typename DoneFor>
  void PublishRun(Message* msgs, size_t n, const DoneFor& done_for, absl::Status* results) {
    constexpr size_t kRun = 256;
    natsMsg* built[kRun];
    natsStatus build_status[kRun];
    size_t pos[kRun];
    size_t have = 0;  // built and not yet registered: built[0..have)
    size_t next = 0;  // the next message to build
    while (true) {
      for (; have < kRun && next < n; ++next) {
        if (absl::Status st = CheckMessage(msgs[next]); !st.ok()) {
          results[next] = std::move(st);
          continue;
        }
        pos[have] = next;
        built[have] = nullptr;
        build_status[have] = Build(&built[have], msgs[next]);
        ++have;
      }
      if (have == 0) return;
      size_t k = 0;
      uint64_t first_seq = 0;
      bool held = false;
      {
        std::unique_lock<std::mutex> lock(mu);
        space_cv.wait(lock, [&] { return stopping || static_cast<int64_t>(pending.size()) < max_pending; });
        if (stopping) {
          lock.unlock();
          const absl::Status closing = absl::CancelledError("JetStream publish: publisher is closing");
          for (size_t i = 0; i < have; ++i) {
            natsMsg_Destroy(built[i]);
            results[pos[i]] = closing;
          }
          for (; next < n; ++next) {
            absl::Status st = CheckMessage(msgs[next]);
            results[next] = st.ok() ? closing : std::move(st);
          }
          return;
        }
        k = std::min(have, static_cast<size_t>(max_pending - static_cast<int64_t>(pending.size())));
        first_seq = next_seq;
        next_seq += k;
        held = recovering;
        for (size_t i = 0; i < k; ++i) {
          auto it =
              pending.emplace_hint(pending.end(), first_seq + i, Entry{std::move(msgs[pos[i]]), done_for(pos[i])});
          if (held) {
            // Sent by RetryLoop after the older ones, in order.
            it->second.state = EntryState::kRetryWait;
            natsMsg_Destroy(std::exchange(built[i], nullptr));
          } else if (built[i] != nullptr) {
            MapWireLocked(it, built[i]);
          }
        }
        stats.published += k;
        stats.in_flight = static_cast<int64_t>(pending.size());
        stats.max_in_flight = std::max(stats.max_in_flight, stats.in_flight);
        metrics.js_published.Inc(static_cast<double>(k));
        metrics.js_in_flight.Add(static_cast<double>(k));
        if (held) retry_cv.notify_one();
      }
      if (!held) {
        // Sent after the entries are registered (an ack may come before
        // js_PublishMsgAsync returns). A send that failed is looked at once
        // the run is out, under one lock.
        natsStatus no_ctx = NATS_OK;
        std::shared_ptr<jsCtx> ctx = Ctx(&no_ctx);
        size_t failed = 0;
        for (size_t i = 0; i < k; ++i) {
          build_status[i] = build_status[i] == NATS_OK ? SendBuilt(ctx.get(), no_ctx, &built[i]) : build_status[i];
          if (build_status[i] != NATS_OK) ++failed;
        }
        if (failed > 0) {
          std::lock_guard<std::mutex> lock(mu);
          for (size_t i = 0; i < k; ++i) {
            if (build_status[i] == NATS_OK) continue;
            std::optional<Failure> failure;  // returned to the caller directly: its completion never runs
            results[pos[i]] = OnSendResult(first_seq + i, build_status[i], &failure);
          }
        }
      }
      std::copy(built + k, built + have, built);
      std::copy(build_status + k, build_status + have, build_status);
      std::copy(pos + k, pos + have, pos);
      have -= k;
    }
  }

  // A new connection: the publishes on the wire went with the old one (no
  // ack or timeout will come for them), so they are sent again, in order,
  // through the recovery below.
  void OnRebuilt(const CurrentConnection& now) override {
    std::lock_guard<std::mutex> lock(mu);
    size_t resent = 0;
    for (auto& [seq, e] : pending) {
      if (e.state != EntryState::kSending && e.state != EntryState::kSent) continue;
      e.state = EntryState::kRetryWait;
      if (e.wire != nullptr) {
        by_msg.erase(e.wire);  // its ack, if one still comes, is dropped: sent again below
        e.wire = nullptr;
      }
      ++resent;
    }
    if (resent == 0 && !recovering) return;
    recovering = true;
    next_attempt = absl::Now();
    retry_cv.notify_one();
    spdlog::info("jetstream publisher: connection {} is new; sending {} unacknowledged publishes again", now.generation,
                 resent);
  }

  void MapWireLocked(std::map<uint64_t, Entry>::iterator it, const natsMsg* msg) {
    it->second.wire = msg;
    by_msg.insert_or_assign(msg, it->first);
  }

  // The entry's send is off the wire (its natsMsg may be freed and reused).
  void UnmapWireLocked(std::map<uint64_t, Entry>::iterator it) {
    const natsMsg* msg = std::exchange(it->second.wire, nullptr);
    if (msg == nullptr) return;
    if (auto m = by_msg.find(msg); m != by_msg.end() && m->second == it->first) by_msg.erase(m);
  }

  // The entry whose send on the wire is `msg`, unmapped; pending.end() if none.
  std::map<uint64_t, Entry>::iterator TakeByWireLocked(const natsMsg* msg) {
    auto m = by_msg.find(msg);
    if (m == by_msg.end()) return pending.end();
    auto it = pending.find(m->second);
    by_msg.erase(m);
    if (it == pending.end() || it->second.wire != msg) return pending.end();
    it->second.wire = nullptr;
    return it;
  }

  void Erase(std::map<uint64_t, Entry>::iterator it) {
    UnmapWireLocked(it);
    pending.erase(it);
    stats.in_flight = static_cast<int64_t>(pending.size());
    metrics.js_in_flight.Add(-1);
    if (stats.in_flight <= wake_publishers_at) space_cv.notify_all();
    done_cv.notify_all();
    // RetryLoop waits for entries to resolve only while recovering; otherwise
    // it sleeps until a failure starts a recovery, and waking it for every
    // ack cost a futex wake-up, a thread switch and a lock hand-off each.
    if (recovering) retry_cv.notify_one();
  }

  void ScheduleRetryLocked(std::map<uint64_t, Entry>::iterator it, natsStatus s, const char* why) {
    UnmapWireLocked(it);
    Entry& e = it->second;
    e.state = EntryState::kRetryWait;
    ++e.attempts;
    absl::Duration backoff = absl::ZeroDuration();
    if (s != NATS_TIMEOUT) {  // a timeout has already waited ack_timeout
      backoff = kFirstRetryBackoff;
      for (int i = 1; i < e.attempts && backoff < options.max_retry_backoff; ++i) backoff *= 2;
      backoff = std::min(backoff, options.max_retry_backoff);
    }
    recovering = true;
    next_attempt = std::max(next_attempt, absl::Now() + backoff);
    retry_cv.notify_one();
    const absl::Time now = absl::Now();
    if (now - last_retry_log >= kRetryLogInterval) {
      spdlog::warn(
          "jetstream publish {} ({}): {}; retrying (attempt {}; {} "
          "more retries since last log)",
          e.msg.subject, e.msg.msg_id, why, e.attempts + 1, retries_not_logged);
      last_retry_log = now;
      retries_not_logged = 0;
    } else {
      ++retries_not_logged;
    }
  }

  // Outcome of a Send() for entry `seq`. Returns the permanent failure, if any.
  absl::Status OnSendResult(uint64_t seq, natsStatus s, std::optional<Failure>* failure) {
    auto it = pending.find(seq);
    if (it == pending.end() || it->second.state == EntryState::kAcked) {
      return absl::OkStatus();  // already acknowledged
    }
    if (s == NATS_OK) {
      if (it->second.state == EntryState::kSending) it->second.state = EntryState::kSent;
      return absl::OkStatus();
    }
    absl::Status status =
        NatsToStatus(s, absl::StrCat("JetStream publish ", it->second.msg.subject, " (", it->second.msg.msg_id, ")"));
    if (IsPermanent(s, 0, conn->UserClosed())) {
      *failure = Failure{it->second.msg.msg_id, status, std::move(it->second.done)};
      ++stats.failed;
      metrics.js_failed.Inc();
      Erase(it);
      return status;
    }
    ScheduleRetryLocked(it, s, natsStatus_GetText(s));
    return absl::OkStatus();
  }

  void OnAck(const natsMsg* msg) {
    uint64_t seq;
    Done done;
    std::string msg_id;
    {
      std::lock_guard<std::mutex> lock(mu);
      auto it = TakeByWireLocked(msg);
      if (it == pending.end() || it->second.state == EntryState::kAcked) return;  // not on the wire (any more)
      ++stats.acked;
      metrics.js_acked.Inc();
      if (!options.on_ack && !it->second.done) {
        Erase(it);
        return;
      }
      it->second.state = EntryState::kAcked;
      done = std::move(it->second.done);
      if (options.on_ack) msg_id = it->second.msg.msg_id;
      seq = it->first;
    }
    if (options.on_ack) options.on_ack(msg_id);
    if (done) done(absl::OkStatus());
    std::lock_guard<std::mutex> lock(mu);
    if (auto it = pending.find(seq); it != pending.end()) Erase(it);
  }

  void OnError(const natsMsg* msg, natsStatus err, int js_err, const char* text) {
    std::optional<Failure> failure;
    {
      std::lock_guard<std::mutex> lock(mu);
      auto it = TakeByWireLocked(msg);
      if (it == pending.end() || it->second.state == EntryState::kAcked) return;
      const std::string& msg_id = it->second.msg.msg_id;
      if (!IsPermanent(err, js_err, conn->UserClosed())) {
        ScheduleRetryLocked(it, err, text != nullptr ? text : natsStatus_GetText(err));
        return;
      }
      absl::Status status = absl::FailedPreconditionError(
          absl::StrCat("JetStream publish ", it->second.msg.subject, " (", msg_id,
                       "): ", text != nullptr ? text : natsStatus_GetText(err),
                       js_err != 0 ? absl::StrCat(" [jetstream error ", js_err, "]") : ""));
      spdlog::error("{}", std::string(status.message()));
      if (first_failure.ok()) first_failure = status;
      ++stats.failed;
      metrics.js_failed.Inc();
      failure = Failure{msg_id, status, std::move(it->second.done)};
      Erase(it);
    }
    Report(*failure);
  }

  void Report(const Failure& failure) const {
    if (options.on_failure) options.on_failure(failure.msg_id, failure.status);
    if (failure.done) failure.done(failure.status);
  }

  // The owner closed the connection. nats.c drops what is on the wire with it
  // (no ack, error or timeout comes for those sends), so they are resolved
  // here as the destructor would resolve them, Cancelled: a Publish waiting
  // for room goes on (its sends then fail at once), and Flush returns the
  // Cancelled instead of waiting. Entries waiting for a retry fail when
  // RetryLoop sends them on the closed connection.
  void OnClosed() override {
    const absl::Status closed = absl::CancelledError("JetStream publish: the connection was closed before the ack");
    std::vector<Done> cancelled;
    {
      std::lock_guard<std::mutex> lock(mu);
      for (auto it = pending.begin(); it != pending.end();) {
        auto entry = it++;
        if (entry->second.state != EntryState::kSending && entry->second.state != EntryState::kSent) continue;
        if (entry->second.done) cancelled.push_back(std::move(entry->second.done));
        if (first_failure.ok()) first_failure = closed;
        Erase(entry);
      }
    }
    for (const Done& done : cancelled) done(closed);
  }

  // True while an entry is on the wire (sent, neither acked nor failed yet).
  bool OnTheWireLocked() const {
    for (const auto& [seq, e] : pending)
      if (e.state == EntryState::kSending || e.state == EntryState::kSent) return true;
    return false;
  }

  // Sends entry `seq` (kRetryWait) without `mu` held; false if it failed at
  // once.
  bool ResendLocked(std::unique_lock<std::mutex>& lock, uint64_t seq) {
    auto it = pending.find(seq);
    it->second.state = EntryState::kSending;
    if (it->second.attempts > 0) {
      ++stats.retried;
      metrics.js_retried.Inc();
    }
    natsMsg* msg = nullptr;
    natsStatus s = Build(&msg, it->second.msg);
    if (s == NATS_OK) MapWireLocked(it, msg);
    lock.unlock();
    if (s == NATS_OK) s = SendBuilt(&msg);
    lock.lock();
    std::optional<Failure> failure;
    absl::Status st = OnSendResult(seq, s, &failure);
    if (failure.has_value()) {
      if (first_failure.ok()) first_failure = st;
      spdlog::error("{}", std::string(st.message()));
      if (options.on_failure || failure->done) {
        lock.unlock();
        Report(*failure);
        lock.lock();
      }
    }
    return s == NATS_OK;
  }

  // The recovery described at `recovering`.
  void RetryLoop() {
    std::unique_lock<std::mutex> lock(mu);
    while (!stopping) {
      if (!recovering || OnTheWireLocked()) {
        retry_cv.wait(lock);
        continue;
      }
      if (next_attempt > absl::Now()) {
        retry_cv.wait_until(lock, absl::ToChronoTime(next_attempt));
        continue;
      }
      auto oldest = std::find_if(pending.begin(), pending.end(),
                                 [](const auto& p) { return p.second.state == EntryState::kRetryWait; });
      if (oldest == pending.end()) {
        recovering = false;  // everything sent in order: publishes go out directly again
        space_cv.notify_all();
        continue;
      }
      // The probe: alone on the wire until it is stored or fails again.
      const uint64_t probe = oldest->first;
      if (!ResendLocked(lock, probe)) continue;
      retry_cv.wait(lock, [&] {
        auto it = pending.find(probe);
        return stopping || it == pending.end() || it->second.state == EntryState::kAcked ||
               it->second.state == EntryState::kRetryWait;
      });
      if (stopping) break;
      auto it = pending.find(probe);
      if (it != pending.end() && it->second.state == EntryState::kRetryWait) continue;  // failed again: back off
      // Stored: the stream takes messages again. The rest, in order.
      for (uint64_t seq = probe + 1; !stopping;) {
        auto next = pending.lower_bound(seq);
        while (next != pending.end() && next->second.state != EntryState::kRetryWait) ++next;
        if (next == pending.end()) break;
        seq = next->first + 1;
        if (!ResendLocked(lock, next->first)) break;  // failed at once: recover again from there
      }
    }
  }
};

using PubRegistry = CallbackRegistry<PublisherState>;

namespace {

// nats.c's PublishAsync.AckHandler: runs on the context's reply
// subscription thread for every ack, error or ack timeout. We own `msg`.
void OnPubAck(jsCtx* js, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure) {
  {
    PubRegistry::Scope scope(closure);
    PublisherState* state = scope.get();
    if (state != nullptr) {
      if (pa != nullptr) {
        state->OnAck(msg);
      } else if (pae != nullptr) {
        state->OnError(msg, pae->Err, static_cast<int>(pae->ErrCode), pae->ErrText);
      }
    }
  }
  natsMsg_Destroy(msg);  // after the lookup: until then no other message can have its address
}

}  // namespace

std::shared_ptr<jsCtx> PublisherState::Ctx(natsStatus* status) {
  const CurrentConnection now = conn->Current();
  void* replaced_closure = nullptr;
  std::shared_ptr<jsCtx> ctx;
  {
    std::lock_guard<std::mutex> lock(ctx_mu);
    if (stopping_flag.load()) {
      *status = NATS_CONNECTION_CLOSED;
      return nullptr;
    }
    if (js != nullptr && js_generation >= now.generation) return js;
    if (now.nc == nullptr) {
      *status = NATS_CONNECTION_DISCONNECTED;  // retried: a connection is being built
      return nullptr;
    }
    auto owner = self.lock();
    if (owner == nullptr) {
      *status = NATS_ILLEGAL_STATE;
      return nullptr;
    }
    void* fresh_closure = PubRegistry::Instance().Register(owner);
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = max_pending;
    jo.PublishAsync.StallWait = kStallWaitMs;
    jo.PublishAsync.AckHandler = OnPubAck;
    jo.PublishAsync.AckHandlerClosure = fresh_closure;
    jsCtx* raw = nullptr;
    *status = natsConnection_JetStream(&raw, now.nc.get(), &jo);
    if (*status != NATS_OK) {
      replaced_closure = fresh_closure;  // unregistered below, without the lock
    } else {
      js = std::shared_ptr<jsCtx>(raw, jsCtx_Destroy);
      js_generation = now.generation;
      replaced_closure = std::exchange(closure, fresh_closure);
      ctx = js;
    }
  }
  // Acks still queued for the replaced context are dropped: its publishes
  // are sent again on this one.
  if (replaced_closure != nullptr) PubRegistry::Instance().Unregister(replaced_closure);
  return ctx;
}

}  // namespace internal

using internal::PublisherState;

JetStreamPublisher::JetStreamPublisher(std::shared_ptr<PublisherState> state) : state_(std::move(state)) {}

absl::StatusOr<std::unique_ptr<JetStreamPublisher>> JetStreamPublisher::Create(Connection& connection,
                                                                               Options options) {
  auto state = std::make_shared<PublisherState>();
  state->conn = connection.state_;
  const auto& eff = state->conn->effective;
  state->max_pending = options.max_pending_acks > 0 ? options.max_pending_acks : eff.max_pending_acks;
  state->ack_timeout_ms = options.ack_timeout > absl::ZeroDuration()
                              ? std::max<int64_t>(1, absl::ToInt64Milliseconds(options.ack_timeout))
                              : eff.ack_timeout_ms;
  if (options.max_retry_backoff <= absl::ZeroDuration()) options.max_retry_backoff = absl::Seconds(1);
  state->options = std::move(options);
  state->wake_publishers_at = state->max_pending - std::max<int64_t>(1, state->max_pending / 4);
  state->self = state;
  natsStatus s = NATS_OK;
  // Made now when there is a connection, else on first use.
  if (state->Ctx(&s) == nullptr && s != NATS_CONNECTION_DISCONNECTED) {
    return internal::NatsToStatus(s, "JetStreamPublisher context");
  }
  state->conn->AddListener(state);
  state->retry_thread = std::thread([raw = state.get()] { raw->RetryLoop(); });
  return std::unique_ptr<JetStreamPublisher>(new JetStreamPublisher(std::move(state)));
}

JetStreamPublisher::~JetStreamPublisher() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->stopping = true;
    state_->stopping_flag = true;
  }
  state_->retry_cv.notify_all();
  state_->space_cv.notify_all();
  state_->done_cv.notify_all();
  if (state_->retry_thread.joinable()) state_->retry_thread.join();
  // No ack callback runs after this; late acks resolve to nothing.
  void* closure;
  std::shared_ptr<jsCtx> js;
  {
    std::lock_guard<std::mutex> lock(state_->ctx_mu);
    closure = std::exchange(state_->closure, nullptr);
    js = std::move(state_->js);
  }
  if (closure != nullptr) internal::PubRegistry::Instance().Unregister(closure);
  js.reset();
  std::vector<internal::Done> cancelled;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (!state_->pending.empty()) {
      spdlog::warn("JetStreamPublisher destroyed with {} unacknowledged messages", state_->pending.size());
      state_->metrics.js_in_flight.Add(-static_cast<double>(state_->pending.size()));
      for (auto& [seq, e] : state_->pending)
        if (e.done) cancelled.push_back(std::move(e.done));
      state_->pending.clear();
      state_->by_msg.clear();
    }
  }
  const absl::Status closing = absl::CancelledError("JetStream publish: publisher destroyed before the ack");
  for (auto& done : cancelled) done(closing);
}

absl::Status JetStreamPublisher::Publish(const Message& message) { return Publish(message, nullptr); }

absl::Status JetStreamPublisher::Publish(const Message& message, Completion done) {
  return Publish(Message(message), std::move(done));
}

absl::Status JetStreamPublisher::Publish(Message&& message, Completion done) {
  absl::Status result;
  state_->PublishRun(
      &message, 1, [&done](size_t) { return internal::Done{.one = std::move(done)}; }, &result);
  return result;
}

std::vector<absl::Status> JetStreamPublisher::PublishBatch(std::vector<Message> messages, BatchCompletion done) {
  std::vector<absl::Status> results(messages.size());
  auto shared = done ? std::make_shared<const BatchCompletion>(std::move(done)) : nullptr;
  state_->PublishRun(
      messages.data(), messages.size(), [&shared](size_t i) { return internal::Done{.batch = shared, .index = i}; },
      results.data());
  return results;
}

absl::Status JetStreamPublisher::Flush(absl::Duration timeout) {
  PublisherState& st = *state_;
  std::unique_lock<std::mutex> lock(st.mu);
  const uint64_t target = st.next_seq - 1;
  auto done = [&] { return st.stopping || st.pending.empty() || st.pending.begin()->first > target; };
  if (!st.done_cv.wait_for(lock, absl::ToChronoNanoseconds(timeout), done)) {
    size_t missing = static_cast<size_t>(std::distance(st.pending.begin(), st.pending.upper_bound(target)));
    const size_t waiting_retry =
        static_cast<size_t>(std::count_if(st.pending.begin(), st.pending.end(), [](const auto& p) {
          return p.second.state == PublisherState::EntryState::kRetryWait;
        }));
    return absl::DeadlineExceededError(absl::StrCat("JetStream Flush: ", missing, " publishes not acknowledged after ",
                                                    absl::FormatDuration(timeout), " (", waiting_retry,
                                                    " waiting for a retry)"));
  }
  if (!st.first_failure.ok()) {
    absl::Status failure = st.first_failure;
    st.first_failure = absl::OkStatus();
    return failure;
  }
  if (st.stopping) return absl::CancelledError("JetStream Flush: publisher is closing");
  return absl::OkStatus();
}

JetStreamPublisher::Stats JetStreamPublisher::stats() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->stats;
}

int64_t JetStreamPublisher::max_pending_acks() const { return state_->max_pending; }

}  // namespace sa::bus
