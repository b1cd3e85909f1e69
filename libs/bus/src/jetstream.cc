#include "bus/jetstream.h"

#include <nats/nats.h>

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "internal/connection_state.h"
#include "internal/jetstream_state.h"
#include "internal/metrics.h"
#include "internal/msg_util.h"
#include "internal/nats_status.h"
#include "spdlog/spdlog.h"
#include "wire/subjects.h"

namespace sa::bus {
namespace internal {

// One natsSubscription of a pull subscription and the connection it is on;
// shared with the messages fetched through it (natsMsg acks use it).
struct PullSub {
  ~PullSub() {
    if (sub == nullptr) return;
    natsSubscription_Unsubscribe(sub);  // bound to a durable: the consumer stays
    natsSubscription_Destroy(sub);
  }
  natsSubscription* sub = nullptr;
  NatsConnPtr nc;
  std::shared_ptr<jsCtx> js;  // the context it was made with (not in prefetch mode)
  uint64_t generation = 0;    // of the connection it is on
};

struct PullState {
  // Binds to the durable on the current connection unless `sub` is on it
  // already (a new connection replaced the one it was made on).
  absl::Status Bind();

  std::shared_ptr<JetStreamState> js;
  std::string stream;
  std::string durable;
  std::string filter_subject;
  std::shared_ptr<PullSub> sub;  // nats.c's pull subscription, or (prefetch) a core one on `inbox`

  // Prefetch mode (ConsumerConfig.prefetch > 0): `sub` is a plain
  // subscription on `inbox`, pull requests are published to `next_subject`
  // by Fetch, and messages are acked by publishing to their reply subject.
  bool prefetch = false;
  std::string inbox;
  std::string next_subject;
  int64_t target = 0;       // messages to keep requested
  int64_t outstanding = 0;  // requested and not yet delivered or expired
  absl::Time last_heard;    // last message, heartbeat or status from the server
  uint64_t reconnects_seen = 0;
};

struct ReceivedMessageImpl {
  ~ReceivedMessageImpl() { natsMsg_Destroy(msg); }
  std::shared_ptr<PullState> pull;
  std::shared_ptr<PullSub> via;  // the subscription it came through
  natsMsg* msg = nullptr;        // null in prefetch mode: freed once copied (then `reply` acks)
  std::string reply;             // prefetch mode: the $JS.ACK subject
  std::string subject;
  std::string data;
  Headers headers;
  uint64_t stream_seq = 0;
  uint64_t consumer_seq = 0;
  uint64_t delivered = 0;
  uint64_t pending = 0;
  int64_t timestamp_ns = 0;
};

absl::StatusOr<JsContext> JetStreamState::Ctx() {
  const CurrentConnection now = conn->Current();
  if (now.nc == nullptr) return absl::UnavailableError("not connected yet");
  std::lock_guard<std::mutex> lock(mu_);
  if (current_.js != nullptr && current_.generation >= now.generation) return current_;
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = std::max<int64_t>(1, api_wait_ms);
  jsCtx* js = nullptr;
  natsStatus s = natsConnection_JetStream(&js, now.nc.get(), &jo);
  if (s != NATS_OK) return NatsToStatus(s, "JetStream context");
  current_ = {std::shared_ptr<jsCtx>(js, jsCtx_Destroy), now.generation};
  return current_;
}

absl::Status PullState::Bind() {
  if (sub != nullptr && sub->generation == js->conn->generation()) return absl::OkStatus();
  const std::string op = absl::StrCat("PullSubscribe ", stream, "/", durable);
  const CurrentConnection now = js->conn->Current();
  if (now.nc == nullptr) return absl::UnavailableError(absl::StrCat(op, ": not connected yet"));
  auto fresh = std::make_shared<PullSub>();
  fresh->nc = now.nc;
  fresh->generation = now.generation;
  natsStatus s;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  if (prefetch) {
    s = natsConnection_SubscribeSync(&fresh->sub, now.nc.get(), inbox.c_str());
    if (s == NATS_OK) s = natsSubscription_SetPendingLimits(fresh->sub, -1, -1);  // bounded by `prefetch`
  } else {
    auto ctx = js->Ctx();
    if (!ctx.ok()) return absl::Status(ctx.status().code(), absl::StrCat(op, ": ", ctx.status().message()));
    fresh->js = ctx->js;
    fresh->generation = ctx->generation;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream.c_str();
    so.Consumer = durable.c_str();
    s = js_PullSubscribe(&fresh->sub, ctx->js.get(), filter_subject.c_str(), durable.c_str(), nullptr, &so, &jerr);
  }
  if (s != NATS_OK) return NatsToStatus(s, op, jerr);
  if (sub != nullptr) {
    spdlog::info("consumer {}/{}: bound again on the new NATS connection", stream, durable);
    outstanding = 0;  // the requests went with the old connection
  }
  sub = std::move(fresh);
  return absl::OkStatus();
}

namespace {

constexpr int64_t kNanosPerSecond = 1000000000;

absl::Status FillStreamConfig(const JetStream::StreamConfig& c, jsStreamConfig* out,
                              std::vector<const char*>* subjects) {
  if (c.name().empty()) return absl::InvalidArgumentError("EnsureStream: empty stream name");
  jsStreamConfig_Init(out);
  out->Name = c.name().c_str();
  for (const auto& s : c.subjects()) subjects->push_back(s.c_str());
  out->Subjects = subjects->empty() ? nullptr : subjects->data();
  out->SubjectsLen = static_cast<int>(subjects->size());
  if (c.storage().empty() || c.storage() == "file") {
    out->Storage = js_FileStorage;
  } else if (c.storage() == "memory") {
    out->Storage = js_MemoryStorage;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("EnsureStream ", c.name(), ": storage must be file or memory, not ", c.storage()));
  }
  out->Retention = js_LimitsPolicy;
  out->Discard = js_DiscardOld;
  out->MaxAge = static_cast<int64_t>(c.max_age_s()) * kNanosPerSecond;
  out->MaxBytes = c.max_bytes() > 0 ? c.max_bytes() : -1;
  out->MaxMsgs = c.max_msgs() > 0 ? c.max_msgs() : -1;
  out->Duplicates = static_cast<int64_t>(c.duplicate_window_s()) * kNanosPerSecond;
  out->Replicas = std::max<int64_t>(1, c.replicas());
  return absl::OkStatus();
}

// A durable started at sequence N (RecreatePullConsumerAt) reports floor 0
// until its first ack; nothing before N is ever delivered to it, so its floor
// is N - 1 (else a rewind "from the floor" would replay the whole stream).
uint64_t AckFloorOf(const jsConsumerInfo& ci) {
  uint64_t floor = ci.AckFloor.Stream;
  if (ci.Config != nullptr && ci.Config->DeliverPolicy == js_DeliverByStartSequence && ci.Config->OptStartSeq > 0)
    floor = std::max<uint64_t>(floor, ci.Config->OptStartSeq - 1);
  return floor;
}

absl::Status FillConsumerConfig(const JetStream::ConsumerConfig& c, jsConsumerConfig* out,
                                AckPolicy ack = AckPolicy::kExplicit) {
  if (c.stream().empty() || c.durable().empty()) {
    return absl::InvalidArgumentError("consumer config needs stream and durable");
  }
  jsConsumerConfig_Init(out);
  out->Durable = c.durable().c_str();
  out->AckPolicy = ack == AckPolicy::kAll ? js_AckAll : js_AckExplicit;
  out->DeliverPolicy = js_DeliverAll;
  out->ReplayPolicy = js_ReplayInstant;
  out->AckWait = static_cast<int64_t>(c.ack_wait_s()) * kNanosPerSecond;  // 0: server default (30 s)
  out->MaxDeliver = c.max_deliver() > 0 ? c.max_deliver() : -1;
  out->FilterSubject = c.filter_subject().empty() ? nullptr : c.filter_subject().c_str();
  out->MaxAckPending = c.max_ack_pending();  // 0: server default (1000)
  return absl::OkStatus();
}

}  // namespace
}  // namespace internal

using internal::CurrentConnection;
using internal::NatsToStatus;

// --- ReceivedMessage --------------------------------------------------------

ReceivedMessage::ReceivedMessage(std::unique_ptr<internal::ReceivedMessageImpl> impl)
    : impl_(std::move(impl)) {}
ReceivedMessage::ReceivedMessage(ReceivedMessage&&) noexcept = default;
ReceivedMessage& ReceivedMessage::operator=(ReceivedMessage&&) noexcept = default;
ReceivedMessage::~ReceivedMessage() = default;

const std::string& ReceivedMessage::subject() const { return impl_->subject; }
const std::string& ReceivedMessage::data() const { return impl_->data; }
const Headers& ReceivedMessage::headers() const { return impl_->headers; }

std::optional<std::string> ReceivedMessage::header(const std::string& key) const {
  for (const auto& [k, v] : impl_->headers) {
    if (k == key) return v;
  }
  return std::nullopt;
}

uint64_t ReceivedMessage::stream_sequence() const { return impl_->stream_seq; }
uint64_t ReceivedMessage::consumer_sequence() const { return impl_->consumer_seq; }
uint64_t ReceivedMessage::delivery_count() const { return impl_->delivered; }
uint64_t ReceivedMessage::num_pending() const { return impl_->pending; }
absl::Time ReceivedMessage::timestamp() const { return absl::FromUnixNanos(impl_->timestamp_ns); }

namespace {

// An acknowledgement goes through the message's own subscription
// (natsMsg_Ack) while that is on the current connection. In prefetch mode,
// and for a message fetched on a connection since replaced, it is a publish
// of `body` to the message's reply subject on the current connection (what
// natsMsg_Ack does for nats.c's own subscriptions).
bool RawAcks(const internal::ReceivedMessageImpl& m) {
  return m.pull != nullptr && (m.pull->prefetch || m.via->generation != m.pull->js->conn->generation());
}

std::string ReplyOf(const internal::ReceivedMessageImpl& m) {
  return m.msg != nullptr ? internal::CStr(natsMsg_GetReply(m.msg)) : m.reply;
}

// The error names the operation and subject; built only on failure (acks are
// per message on hot paths).
absl::Status AckStatus(natsStatus s, const char* what, const internal::ReceivedMessageImpl& m) {
  if (s == NATS_OK) return absl::OkStatus();
  return NatsToStatus(s, absl::StrCat(what, " ", m.subject));
}

absl::Status PublishAck(const internal::ReceivedMessageImpl& m, const std::string& body, const char* what) {
  const std::string reply = ReplyOf(m);
  if (reply.empty())
    return absl::FailedPreconditionError(absl::StrCat(what, " ", m.subject, ": message has no reply subject"));
  const CurrentConnection now = m.pull->js->conn->Current();
  if (now.nc == nullptr) return absl::UnavailableError(absl::StrCat(what, " ", m.subject, ": not connected"));
  return AckStatus(natsConnection_Publish(now.nc.get(), reply.c_str(), body.data(), static_cast<int>(body.size())),
                   what, m);
}

}  // namespace

absl::Status ReceivedMessage::Ack() {
  if (RawAcks(*impl_)) return PublishAck(*impl_, "+ACK", "Ack");
  return AckStatus(natsMsg_Ack(impl_->msg, nullptr), "Ack", *impl_);
}
absl::Status ReceivedMessage::Nak() {
  if (RawAcks(*impl_)) return PublishAck(*impl_, "-NAK", "Nak");
  return AckStatus(natsMsg_Nak(impl_->msg, nullptr), "Nak", *impl_);
}
absl::Status ReceivedMessage::NakWithDelay(absl::Duration delay) {
  if (RawAcks(*impl_))
    return PublishAck(*impl_, absl::StrCat("-NAK {\"delay\":", absl::ToInt64Nanoseconds(delay), "}"), "Nak");
  return AckStatus(natsMsg_NakWithDelay(impl_->msg, absl::ToInt64Milliseconds(delay), nullptr), "Nak", *impl_);
}
absl::Status ReceivedMessage::Term() {
  if (RawAcks(*impl_)) return PublishAck(*impl_, "+TERM", "Term");
  return AckStatus(natsMsg_Term(impl_->msg, nullptr), "Term", *impl_);
}
absl::Status ReceivedMessage::InProgress() {
  if (RawAcks(*impl_)) return PublishAck(*impl_, "+WPI", "InProgress");
  return AckStatus(natsMsg_InProgress(impl_->msg, nullptr), "InProgress", *impl_);
}
absl::Status ReceivedMessage::AckSync(absl::Duration timeout) {
  if (RawAcks(*impl_)) {
    const std::string reply = ReplyOf(*impl_);
    if (reply.empty())
      return absl::FailedPreconditionError(absl::StrCat("AckSync ", impl_->subject, ": message has no reply subject"));
    const CurrentConnection now = impl_->pull->js->conn->Current();
    if (now.nc == nullptr) return absl::UnavailableError(absl::StrCat("AckSync ", impl_->subject, ": not connected"));
    natsMsg* resp = nullptr;
    natsStatus s = natsConnection_Request(&resp, now.nc.get(), reply.c_str(), "+ACK", 4,
                                          std::max<int64_t>(1, absl::ToInt64Milliseconds(timeout)));
    natsMsg_Destroy(resp);
    return NatsToStatus(s, absl::StrCat("AckSync ", impl_->subject));
  }
  jsOptions o;
  jsOptions_Init(&o);
  o.Wait = absl::ToInt64Milliseconds(timeout);
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = natsMsg_AckSync(impl_->msg, &o, &jerr);
  return NatsToStatus(s, absl::StrCat("AckSync ", impl_->subject), jerr);
}

// --- PullSubscription -------------------------------------------------------

PullSubscription::PullSubscription(std::shared_ptr<internal::PullState> state, std::string stream, std::string durable,
                                   int fetch_batch)
    : state_(std::move(state)),
      stream_(std::move(stream)),
      durable_(std::move(durable)),
      fetch_batch_(fetch_batch),
      pending_(&internal::BusMetrics::ConsumerPending(stream_, durable_)) {}

PullSubscription::~PullSubscription() { pending_->Set(0); }

namespace {

// Wraps one natsMsg (ours now) into a ReceivedMessageImpl.
std::unique_ptr<internal::ReceivedMessageImpl> Wrap(natsMsg* msg, const std::shared_ptr<internal::PullState>& pull) {
  auto impl = std::make_unique<internal::ReceivedMessageImpl>();
  impl->pull = pull;
  impl->via = pull->sub;
  impl->msg = msg;
  impl->subject = internal::CStr(natsMsg_GetSubject(msg));
  impl->data = internal::MsgData(msg);
  impl->headers = internal::ReadHeaders(msg);
  return impl;
}

// Wraps every natsMsg of `list` (emptied) into ReceivedMessages.
void TakeMessages(natsMsgList* list, const std::shared_ptr<internal::PullState>& pull,
                  std::vector<std::unique_ptr<internal::ReceivedMessageImpl>>* out) {
  for (int i = 0; i < list->Count; ++i) {
    natsMsg* msg = list->Msgs[i];
    list->Msgs[i] = nullptr;  // ours now
    auto impl = Wrap(msg, pull);
    jsMsgMetaData* meta = nullptr;
    if (natsMsg_GetMetaData(&meta, msg) == NATS_OK) {
      impl->stream_seq = meta->Sequence.Stream;
      impl->consumer_seq = meta->Sequence.Consumer;
      impl->delivered = meta->NumDelivered;
      impl->pending = meta->NumPending;
      impl->timestamp_ns = meta->Timestamp;
      jsMsgMetaData_Destroy(meta);
    }
    out->push_back(std::move(impl));
  }
  if (list->Msgs != nullptr) natsMsgList_Destroy(list);
}

// Fills the sequence fields from a JetStream ack subject:
//   $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ns>.<pending>
//   $JS.ACK.<domain>.<account>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ns>.<pending>[.<token>]
// False when `reply` is not one.
bool ParseAckSubject(absl::string_view reply, internal::ReceivedMessageImpl* m) {
  std::vector<absl::string_view> t = absl::StrSplit(reply, '.');
  if (t.size() < 9 || t[0] != "$JS" || t[1] != "ACK") return false;
  const size_t o = t.size() == 9 ? 4 : 6;  // index of <delivered>
  if (t.size() != 9 && t.size() < 11) return false;
  int64_t ns = 0;
  if (!absl::SimpleAtoi(t[o], &m->delivered) || !absl::SimpleAtoi(t[o + 1], &m->stream_seq) ||
      !absl::SimpleAtoi(t[o + 2], &m->consumer_seq) || !absl::SimpleAtoi(t[o + 3], &ns) ||
      !absl::SimpleAtoi(t[o + 4], &m->pending))
    return false;
  m->timestamp_ns = ns;
  return true;
}

// Prefetch mode: how long one standing pull request lives, and the idle
// heartbeat the server sends while it waits with nothing to deliver. Silence
// for kPrefetchSilence with requests outstanding means they were lost (a
// server restart): they are forgotten and asked again.
constexpr absl::Duration kPrefetchExpires = absl::Seconds(30);
constexpr absl::Duration kPrefetchHeartbeat = absl::Seconds(5);
constexpr absl::Duration kPrefetchSilence = absl::Seconds(12);

// Bound on the second, "take what is already there" request of Fetch. It is
// no_wait, so the server answers at once with what it has (then a 404 when
// that is fewer than asked); the bound only has to outlast the delivery of
// the batch. It must: messages of a request the client stopped waiting for
// arrive later and sit in the subscription, and nats.c 3.4.1 copies such
// leftovers into the next Fetch's array without checking its size (a heap
// overflow seen with 1000-message batches under load).
constexpr absl::Duration kTopUpWait = absl::Seconds(10);

// Tops the standing pull requests up to `target` once half of it is used.
absl::Status RequestMore(internal::PullState& p) {
  if (p.outstanding > p.target / 2) return absl::OkStatus();
  const int64_t batch = p.target - p.outstanding;
  const std::string req = absl::StrCat("{\"batch\":", batch, ",\"expires\":", absl::ToInt64Nanoseconds(kPrefetchExpires),
                                       ",\"idle_heartbeat\":", absl::ToInt64Nanoseconds(kPrefetchHeartbeat), "}");
  natsStatus s =
      natsConnection_PublishRequestString(p.sub->nc.get(), p.next_subject.c_str(), p.inbox.c_str(), req.c_str());
  if (s != NATS_OK) return NatsToStatus(s, absl::StrCat("pull request ", p.next_subject));
  p.outstanding += batch;
  return absl::OkStatus();
}

// What a status message (no payload, "Status" header) from the consumer
// means: heartbeats and expired requests are bookkeeping; a deleted
// consumer or a refused request is an error for the caller.
absl::Status HandleStatus(internal::PullState& p, natsMsg* m, const char* code) {
  const std::string c(code);
  if (c == "100" || c == "404") return absl::OkStatus();  // idle heartbeat; nothing (only for no_wait)
  const std::string desc = internal::HeaderValue(m, "Description");
  if (c == "408" || c == "409") {
    int64_t left = 0;
    const std::string pending = internal::HeaderValue(m, "Nats-Pending-Messages");
    if (!pending.empty() && absl::SimpleAtoi(pending, &left)) {
      p.outstanding = std::max<int64_t>(0, p.outstanding - left);
    } else {
      p.outstanding = 0;  // cannot tell how much of it was left: ask again in full
    }
    // Expired, or ended by a server going away: ask again (the reconnect
    // logic renews the rest).
    if (c == "408" || absl::StrContains(desc, "Leadership Change") || absl::StrContains(desc, "Server Shutdown"))
      return absl::OkStatus();
  }
  return absl::FailedPreconditionError(absl::StrCat("pull consumer ", p.next_subject, ": ", c, " ", desc));
}

using ImplList = std::vector<std::unique_ptr<internal::ReceivedMessageImpl>>;
absl::StatusOr<ImplList> FetchPrefetched(const std::shared_ptr<internal::PullState>& state, int batch,
                                         absl::Duration timeout);

// After a failure a new connection may cure (nats.c closed the connection;
// none yet): waits up to `timeout` for one, so a caller fetching again at
// once does not spin.
void AwaitConnection(const internal::ConnectionState& conn, absl::Duration timeout) {
  if (!conn.IsConnected() && !conn.UserClosed()) (void)conn.WaitUp(timeout);
}

}  // namespace

absl::StatusOr<std::vector<ReceivedMessage>> PullSubscription::Fetch(int batch,
                                                                     absl::Duration timeout) {
  if (batch <= 0) return absl::InvalidArgumentError("Fetch: batch must be positive");
  if (absl::Status st = state_->Bind(); !st.ok()) {
    AwaitConnection(*state_->js->conn, timeout);
    return st;
  }
  if (state_->prefetch) {
    auto impls = FetchPrefetched(state_, batch, timeout);
    if (!impls.ok()) return impls.status();
    std::vector<ReceivedMessage> out;
    out.reserve(impls->size());
    for (auto& impl : *impls) out.push_back(ReceivedMessage(std::move(impl)));
    if (!out.empty()) pending_->Set(static_cast<double>(out.back().num_pending()));
    return out;
  }
  std::vector<std::unique_ptr<internal::ReceivedMessageImpl>> got;
  got.reserve(static_cast<size_t>(std::min(batch, 4096)));  // no regrowth (large reallocations consolidate malloc's fastbins)

  // nats.c's natsSubscription_Fetch(batch > 1) waits for the whole timeout
  // when fewer than `batch` messages are available. So: wait for one
  // message, then take at once the ones the server says are pending.
  natsMsgList list{nullptr, 0};
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = natsSubscription_Fetch(&list, state_->sub->sub, 1,
                                        std::max<int64_t>(1, absl::ToInt64Milliseconds(timeout)), &jerr);
  TakeMessages(&list, state_, &got);
  if (got.empty()) {
    if (s == NATS_OK || s == NATS_TIMEOUT || s == NATS_NOT_FOUND) return std::vector<ReceivedMessage>();
    absl::Status st = NatsToStatus(s, absl::StrCat("Fetch ", stream_, "/", durable_), jerr);
    AwaitConnection(*state_->js->conn, timeout);
    return st;
  }
  const uint64_t available = got.back()->pending;
  if (batch > 1 && available > 0) {
    jsFetchRequest req;
    jsFetchRequest_Init(&req);
    req.Batch = static_cast<int>(std::min<uint64_t>(static_cast<uint64_t>(batch - 1), available));
    req.NoWait = true;
    req.Expires = absl::ToInt64Nanoseconds(kTopUpWait);
    natsMsgList more{nullptr, 0};
    (void)natsSubscription_FetchRequest(&more, state_->sub->sub, &req);  // what arrives is kept
    TakeMessages(&more, state_, &got);
  }
  std::vector<ReceivedMessage> out;
  out.reserve(got.size());
  for (auto& impl : got) out.push_back(ReceivedMessage(std::move(impl)));
  pending_->Set(static_cast<double>(out.back().num_pending()));
  return out;
}

namespace {

// Prefetch mode: takes what the standing requests have delivered, up to
// `batch`, waiting at most `timeout` for the first message.
absl::StatusOr<ImplList> FetchPrefetched(const std::shared_ptr<internal::PullState>& state, int batch,
                                         absl::Duration timeout) {
  internal::PullState& p = *state;
  {
    std::lock_guard lock(p.js->conn->mu);
    if (p.js->conn->stats.reconnects != p.reconnects_seen) {
      // Requests may not have survived (a restarted server forgets them).
      p.reconnects_seen = p.js->conn->stats.reconnects;
      p.outstanding = 0;
    }
  }
  const absl::Time start = absl::Now();
  if (p.outstanding > 0 && start - p.last_heard > kPrefetchSilence) p.outstanding = 0;
  if (p.outstanding == 0) p.last_heard = start;
  if (absl::Status st = RequestMore(p); !st.ok()) {
    AwaitConnection(*p.js->conn, timeout);
    return st;
  }

  ImplList out;
  out.reserve(static_cast<size_t>(std::min(batch, 4096)));
  const absl::Time deadline = start + timeout;
  while (static_cast<int>(out.size()) < batch) {
    int64_t wait_ms = 0;
    if (out.empty()) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) break;
      wait_ms = std::max<int64_t>(1, absl::ToInt64Milliseconds(std::min(left, kPrefetchHeartbeat)));
    }
    natsMsg* m = nullptr;
    natsStatus s = natsSubscription_NextMsg(&m, p.sub->sub, wait_ms);
    if (s == NATS_TIMEOUT) {
      if (!out.empty()) break;
      if (p.outstanding > 0 && absl::Now() - p.last_heard > kPrefetchSilence) p.outstanding = 0;
      if (absl::Status st = RequestMore(p); !st.ok()) return st;
      continue;
    }
    if (s != NATS_OK) {
      if (!out.empty()) break;
      absl::Status st = NatsToStatus(s, absl::StrCat("Fetch ", p.next_subject));
      AwaitConnection(*p.js->conn, deadline - absl::Now());
      return st;
    }
    p.last_heard = absl::Now();
    const char* code = nullptr;
    if (natsMsg_GetDataLength(m) == 0 && natsMsgHeader_Get(m, "Status", &code) == NATS_OK && code != nullptr) {
      absl::Status st = HandleStatus(p, m, code);
      natsMsg_Destroy(m);
      if (!st.ok()) {
        if (!out.empty()) break;  // the caller gets these first, the error on its next Fetch
        return st;
      }
      if (absl::Status rq = RequestMore(p); !rq.ok() && out.empty()) return rq;
      continue;
    }
    if (p.outstanding > 0) --p.outstanding;
    auto impl = Wrap(m, state);
    const char* reply = natsMsg_GetReply(m);
    if (reply == nullptr || !ParseAckSubject(reply, impl.get())) {
      // Not from the consumer (nothing else publishes to this inbox): drop it.
      continue;
    }
    // Everything is copied out: free nats.c's copy now rather than when the
    // caller acks (a frame waiting for its ack would otherwise be held twice).
    impl->reply = reply;
    impl->msg = nullptr;
    natsMsg_Destroy(m);
    out.push_back(std::move(impl));
    if (absl::Status rq = RequestMore(p); !rq.ok()) break;  // retried on the next Fetch
  }
  return out;
}

}  // namespace

// --- JetStream --------------------------------------------------------------

JetStream::JetStream(std::shared_ptr<internal::JetStreamState> state) : state_(std::move(state)) {}
JetStream::~JetStream() = default;

absl::StatusOr<std::unique_ptr<JetStream>> JetStream::Create(Connection& connection,
                                                             absl::Duration api_timeout) {
  auto state = std::make_shared<internal::JetStreamState>();
  state->conn = connection.state_;
  state->api_wait_ms = std::max<int64_t>(1, absl::ToInt64Milliseconds(api_timeout));
  // Made now when there is a connection, else on first use.
  if (auto ctx = state->Ctx(); !ctx.ok() && ctx.status().code() != absl::StatusCode::kUnavailable) {
    return ctx.status();
  }
  return std::unique_ptr<JetStream>(new JetStream(std::move(state)));
}

namespace {

// The context for `op`, or why there is none ("<op>: not connected yet").
absl::StatusOr<std::shared_ptr<jsCtx>> ContextFor(internal::JetStreamState& state, absl::string_view op) {
  auto ctx = state.Ctx();
  if (!ctx.ok()) return absl::Status(ctx.status().code(), absl::StrCat(op, ": ", ctx.status().message()));
  return ctx->js;
}

}  // namespace

absl::Status JetStream::EnsureStream(const StreamConfig& config) {
  jsStreamConfig cfg;
  std::vector<const char*> subjects;
  if (auto st = internal::FillStreamConfig(config, &cfg, &subjects); !st.ok()) return st;
  const std::string op = absl::StrCat("EnsureStream ", config.name());
  auto js = ContextFor(*state_, op);
  if (!js.ok()) return js.status();
  jsStreamInfo* si = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  // The server treats an identical re-add as success and rejects a different
  // configuration with "stream name already in use": then update.
  natsStatus s = js_AddStream(&si, js->get(), &cfg, nullptr, &jerr);
  if (s == NATS_ERR && jerr == JSStreamNameExistErr) {
    jerr = static_cast<jsErrCode>(0);
    s = js_UpdateStream(&si, js->get(), &cfg, nullptr, &jerr);
  }
  jsStreamInfo_Destroy(si);
  return NatsToStatus(s, op, jerr);
}

absl::Status JetStream::EnsurePullConsumer(const ConsumerConfig& config, AckPolicy ack) {
  jsConsumerConfig cfg;
  if (auto st = internal::FillConsumerConfig(config, &cfg, ack); !st.ok()) return st;
  const std::string op = absl::StrCat("EnsurePullConsumer ", config.stream(), "/", config.durable());
  auto js = ContextFor(*state_, op);
  if (!js.ok()) return js.status();
  jsErrCode jerr = static_cast<jsErrCode>(0);
  // The server refuses to change where a consumer starts: an existing one
  // (RecreatePullConsumerAt may have rewound it) keeps its start. Nor does it
  // change an ack policy: a durable with the other one is recreated from its
  // ack floor (what it had not acked comes again; outputs carry deterministic
  // ids, so repeats are stored once).
  jsConsumerInfo* existing = nullptr;
  if (js_GetConsumerInfo(&existing, js->get(), config.stream().c_str(), config.durable().c_str(), nullptr, &jerr) ==
          NATS_OK &&
      existing->Config != nullptr) {
    if (existing->Config->AckPolicy != cfg.AckPolicy) {
      const uint64_t from = internal::AckFloorOf(*existing) + 1;
      spdlog::info("consumer {}/{}: ack policy {} -> {}; recreated from stream sequence {} ({} unacknowledged)",
                   config.stream(), config.durable(), existing->Config->AckPolicy == js_AckAll ? "all" : "explicit",
                   ack == AckPolicy::kAll ? "all" : "explicit", from, existing->NumAckPending);
      jsConsumerInfo_Destroy(existing);
      return RecreatePullConsumerAt(config, from, ack);
    }
    cfg.DeliverPolicy = existing->Config->DeliverPolicy;
    cfg.OptStartSeq = existing->Config->OptStartSeq;
    cfg.OptStartTime = existing->Config->OptStartTime;
  }
  jsConsumerInfo* ci = nullptr;
  jerr = static_cast<jsErrCode>(0);
  // The server treats an identical re-add as success; a different one is an
  // update (or refused as "already exists" by older servers: then update).
  natsStatus s = js_AddConsumer(&ci, js->get(), config.stream().c_str(), &cfg, nullptr, &jerr);
  if (s == NATS_ERR &&
      (jerr == JSConsumerNameExistErr || jerr == JSConsumerExistingActiveErr || jerr == 10148)) {
    jerr = static_cast<jsErrCode>(0);
    s = js_UpdateConsumer(&ci, js->get(), config.stream().c_str(), &cfg, nullptr, &jerr);
  }
  jsConsumerInfo_Destroy(ci);
  jsConsumerInfo_Destroy(existing);
  return NatsToStatus(s, op, jerr);
}

absl::Status JetStream::RecreatePullConsumerAt(const ConsumerConfig& config, uint64_t start_seq, AckPolicy ack) {
  return RecreatePullConsumer(config, std::max<uint64_t>(1, start_seq), absl::InfinitePast(), ack);
}

absl::Status JetStream::RecreatePullConsumerAtTime(const ConsumerConfig& config, absl::Time start, AckPolicy ack) {
  return RecreatePullConsumer(config, 0, start, ack);
}

absl::Status JetStream::RecreatePullConsumer(const ConsumerConfig& config, uint64_t start_seq, absl::Time start,
                                             AckPolicy ack) {
  jsConsumerConfig cfg;
  if (auto st = internal::FillConsumerConfig(config, &cfg, ack); !st.ok()) return st;
  std::string op;
  if (start_seq > 0) {
    cfg.DeliverPolicy = js_DeliverByStartSequence;
    cfg.OptStartSeq = start_seq;
    op = absl::StrCat("RecreatePullConsumerAt ", config.stream(), "/", config.durable(), " seq ", start_seq);
  } else {
    cfg.DeliverPolicy = js_DeliverByStartTime;
    cfg.OptStartTime = absl::ToUnixNanos(start);
    op = absl::StrCat("RecreatePullConsumerAt ", config.stream(), "/", config.durable(), " time ",
                      absl::FormatTime(start));
  }
  if (absl::Status st = DeleteConsumer(config.stream(), config.durable());
      !st.ok() && !absl::IsNotFound(st))  // nats.c: NATS_NOT_FOUND / JSConsumerNotFoundErr
    return st;
  auto js = ContextFor(*state_, op);
  if (!js.ok()) return js.status();
  jsConsumerInfo* ci = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_AddConsumer(&ci, js->get(), config.stream().c_str(), &cfg, nullptr, &jerr);
  jsConsumerInfo_Destroy(ci);
  return NatsToStatus(s, op, jerr);
}

absl::StatusOr<std::unique_ptr<PullSubscription>> JetStream::PullSubscribe(
    const ConsumerConfig& config) {
  if (config.stream().empty() || config.durable().empty()) {
    return absl::InvalidArgumentError("PullSubscribe: consumer config needs stream and durable");
  }
  const std::string op = absl::StrCat("PullSubscribe ", config.stream(), "/", config.durable());
  auto pull = std::make_shared<internal::PullState>();
  pull->js = state_;
  pull->stream = config.stream();
  pull->durable = config.durable();
  pull->filter_subject = config.filter_subject();
  const int fetch_batch =
      config.fetch_batch() > 0 ? static_cast<int>(config.fetch_batch()) : kDefaultFetchBatch;
  if (config.prefetch() > 0) {
    // A plain subscription on a fresh inbox; Fetch keeps pull requests for
    // `prefetch` messages standing on it. Binding checks the consumer exists.
    auto js = ContextFor(*state_, op);
    if (!js.ok()) return js.status();
    jsConsumerInfo* ci = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s =
        js_GetConsumerInfo(&ci, js->get(), config.stream().c_str(), config.durable().c_str(), nullptr, &jerr);
    const bool push = s == NATS_OK && ci->Config != nullptr && ci->Config->DeliverSubject != nullptr;
    jsConsumerInfo_Destroy(ci);
    if (s != NATS_OK) return NatsToStatus(s, op, jerr);
    if (push) return absl::FailedPreconditionError(absl::StrCat(op, ": the consumer is push based"));
    natsInbox* inbox = nullptr;
    if (natsInbox_Create(&inbox) != NATS_OK) return absl::ResourceExhaustedError(absl::StrCat(op, ": inbox"));
    // natsInbox_Create ignores the connection's custom prefix: apply it, the
    // credentials may allow replies only below it.
    const std::string& prefix = state_->conn->config.inbox_prefix();
    pull->inbox = prefix.empty()
                      ? std::string(inbox)
                      : absl::StrCat(prefix, ".", absl::StripPrefix(absl::string_view(inbox), wire::kNatsInboxPrefix));
    natsInbox_Destroy(inbox);
    pull->next_subject = absl::StrCat("$JS.API.CONSUMER.MSG.NEXT.", config.stream(), ".", config.durable());
    pull->target = std::max<int64_t>(config.prefetch(), 1);
    pull->prefetch = true;
    {
      std::lock_guard lock(state_->conn->mu);
      pull->reconnects_seen = state_->conn->stats.reconnects;
    }
  }
  if (absl::Status st = pull->Bind(); !st.ok()) return st;
  return std::unique_ptr<PullSubscription>(
      new PullSubscription(std::move(pull), config.stream(), config.durable(), fetch_batch));
}

absl::StatusOr<StreamInfo> JetStream::GetStreamInfo(const std::string& stream) {
  const std::string op = absl::StrCat("GetStreamInfo ", stream);
  auto js = ContextFor(*state_, op);
  if (!js.ok()) return js.status();
  jsStreamInfo* si = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_GetStreamInfo(&si, js->get(), stream.c_str(), nullptr, &jerr);
  if (s != NATS_OK) return NatsToStatus(s, op, jerr);
  StreamInfo out;
  out.name = internal::CStr(si->Config->Name);
  for (int i = 0; i < si->Config->SubjectsLen; ++i) out.subjects.emplace_back(si->Config->Subjects[i]);
  out.storage = si->Config->Storage == js_MemoryStorage ? "memory" : "file";
  out.messages = si->State.Msgs;
  out.bytes = si->State.Bytes;
  out.first_seq = si->State.FirstSeq;
  out.last_seq = si->State.LastSeq;
  out.consumers = si->State.Consumers;
  out.duplicate_window_ns = si->Config->Duplicates;
  out.replicas = si->Config->Replicas;
  if (si->Cluster != nullptr) out.leader = internal::CStr(si->Cluster->Leader);
  jsStreamInfo_Destroy(si);
  return out;
}

absl::StatusOr<ConsumerInfo> JetStream::GetConsumerInfo(const std::string& stream,
                                                        const std::string& durable) {
  const std::string op = absl::StrCat("GetConsumerInfo ", stream, "/", durable);
  auto js = ContextFor(*state_, op);
  if (!js.ok()) return js.status();
  jsConsumerInfo* ci = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_GetConsumerInfo(&ci, js->get(), stream.c_str(), durable.c_str(), nullptr, &jerr);
  if (s != NATS_OK) return NatsToStatus(s, op, jerr);
  ConsumerInfo out;
  out.stream = internal::CStr(ci->Stream);
  out.name = internal::CStr(ci->Name);
  out.filter_subject = internal::CStr(ci->Config->FilterSubject);
  out.num_pending = ci->NumPending;
  out.num_ack_pending = ci->NumAckPending;
  out.num_redelivered = ci->NumRedelivered;
  out.num_waiting = ci->NumWaiting;
  out.delivered_stream_seq = ci->Delivered.Stream;
  out.ack_floor_stream_seq = internal::AckFloorOf(*ci);
  out.ack_wait_ns = ci->Config->AckWait;
  out.max_ack_pending = ci->Config->MaxAckPending;
  out.max_deliver = ci->Config->MaxDeliver;
  out.ack_policy = ci->Config->AckPolicy == js_AckAll ? AckPolicy::kAll : AckPolicy::kExplicit;
  jsConsumerInfo_Destroy(ci);
  return out;
}

absl::Status JetStream::DeleteStream(const std::string& stream) {
  const std::string op = absl::StrCat("DeleteStream ", stream);
  auto js = ContextFor(*state_, op);
  if (!js.ok()) return js.status();
  jsErrCode jerr = static_cast<jsErrCode>(0);
  return NatsToStatus(js_DeleteStream(js->get(), stream.c_str(), nullptr, &jerr), op, jerr);
}

absl::Status JetStream::DeleteConsumer(const std::string& stream, const std::string& durable) {
  const std::string op = absl::StrCat("DeleteConsumer ", stream, "/", durable);
  auto js = ContextFor(*state_, op);
  if (!js.ok()) return js.status();
  jsErrCode jerr = static_cast<jsErrCode>(0);
  return NatsToStatus(js_DeleteConsumer(js->get(), stream.c_str(), durable.c_str(), nullptr, &jerr), op, jerr);
}

}  // namespace sa::bus
