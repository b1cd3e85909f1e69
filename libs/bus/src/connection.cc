#include "bus/connection.h"

#include <nats/nats.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "internal/callback_registry.h"
#include "internal/connection_state.h"
#include "internal/metrics.h"
#include "internal/msg_util.h"
#include "internal/nats_status.h"
#include "spdlog/spdlog.h"

namespace sa::bus {
namespace internal {

using EventRegistry = CallbackRegistry<ConnectionEvents>;

namespace {

constexpr int64_t kDefaultConnectTimeoutMs = 2000;
constexpr int64_t kDefaultReconnectWaitMs = 100;
constexpr int64_t kDefaultReconnectMaxWaitMs = 5000;
constexpr int64_t kDefaultReconnectJitterMs = 100;
constexpr int64_t kDefaultReconnectBufferBytes = 8 << 20;
constexpr int64_t kDefaultMaxPendingAcks = 4096;
constexpr int64_t kDefaultAckTimeoutMs = 5000;
// How long Close() waits for nats.c to report the connection closed.
constexpr absl::Duration kCloseWait = absl::Seconds(2);

std::string ConnectedUrl(natsConnection* nc) {
  char buf[256] = {0};
  if (nc != nullptr && natsConnection_GetConnectedUrl(nc, buf, sizeof(buf)) == NATS_OK) return buf;
  return "?";
}

// nats.c callbacks. They run on nats.c's async-callback thread (events) or
// its reconnect thread (delay); `closure` is an id, see callback_registry.h.
void OnConnected(natsConnection* nc, void* closure) {
  EventRegistry::Scope scope(closure);
  if (scope.get() != nullptr) scope.get()->state->MarkUp(scope.get()->generation, nc, /*reconnect=*/false);
}

void OnReconnected(natsConnection* nc, void* closure) {
  EventRegistry::Scope scope(closure);
  if (scope.get() != nullptr) scope.get()->state->MarkUp(scope.get()->generation, nc, /*reconnect=*/true);
}

void OnDisconnected(natsConnection* nc, void* closure) {
  EventRegistry::Scope scope(closure);
  if (scope.get() != nullptr) scope.get()->state->MarkDown(scope.get()->generation, nc);
}

void OnClosed(natsConnection* nc, void* closure) {
  EventRegistry::Scope scope(closure);
  if (scope.get() != nullptr) scope.get()->state->MarkClosed(scope.get()->generation, nc);
}

void OnAsyncError(natsConnection* nc, natsSubscription* sub, natsStatus err, void* closure) {
  EventRegistry::Scope scope(closure);
  BusMetrics::Get().errors.Inc();
  const char* subject = sub != nullptr ? natsSubscription_GetSubject(sub) : nullptr;
  const char* text = nullptr;
  natsConnection_GetLastError(nc, &text);
  ConnectionState* state = scope.get() != nullptr ? scope.get()->state.get() : nullptr;
  if (state != nullptr) {
    std::lock_guard lock(state->mu);
    if (state->async_errors.size() >= 100) state->async_errors.erase(state->async_errors.begin());
    state->async_errors.push_back(text != nullptr && *text ? std::string(text) : natsStatus_GetText(err));
    state->cv.notify_all();
  }
  spdlog::error("nats: async error on {}{}: {}", state != nullptr ? state->name : std::string("connection"),
                subject != nullptr ? absl::StrCat(" (subscription ", subject, ")") : std::string(),
                text != nullptr && *text ? text : natsStatus_GetText(err));
}

int64_t ReconnectDelay(natsConnection* nc, int attempts, void* closure) {
  EventRegistry::Scope scope(closure);
  return BackoffMs(scope.get() != nullptr ? scope.get()->state->effective : ApplyDefaults(Connection::Config()),
                   attempts);
}

// A first connect that failed like this is retried in the background (the
// server is there but refused or dropped the handshake); anything else is a
// configuration error reported by Connect().
bool RetryableAtStart(natsStatus s) {
  switch (s) {
    case NATS_CONNECTION_AUTH_FAILED:
    case NATS_NOT_PERMITTED:
    case NATS_NO_SERVER:
    case NATS_TIMEOUT:
    case NATS_IO_ERROR:
    case NATS_STALE_CONNECTION:
    case NATS_CONNECTION_CLOSED:
    case NATS_CONNECTION_DISCONNECTED:
      return true;
    default:
      return false;
  }
}

}  // namespace

EffectiveNatsConfig ApplyDefaults(const Connection::Config& c) {
  auto or_default = [](int64_t v, int64_t d) { return v > 0 ? v : d; };
  EffectiveNatsConfig e;
  e.connect_timeout_ms = or_default(c.connect_timeout_ms(), kDefaultConnectTimeoutMs);
  e.reconnect_wait_ms = or_default(c.reconnect_wait_ms(), kDefaultReconnectWaitMs);
  e.reconnect_max_wait_ms =
      std::max(e.reconnect_wait_ms, or_default(c.reconnect_max_wait_ms(), kDefaultReconnectMaxWaitMs));
  e.reconnect_jitter_ms = or_default(c.reconnect_jitter_ms(), kDefaultReconnectJitterMs);
  e.reconnect_buffer_bytes = or_default(c.reconnect_buffer_bytes(), kDefaultReconnectBufferBytes);
  e.max_pending_acks = or_default(c.max_pending_acks(), kDefaultMaxPendingAcks);
  e.ack_timeout_ms = or_default(c.ack_timeout_ms(), kDefaultAckTimeoutMs);
  return e;
}

int64_t BackoffMs(const EffectiveNatsConfig& cfg, int attempt) {
  const int doublings = std::clamp(attempt - 1, 0, 30);
  int64_t delay = cfg.reconnect_wait_ms;
  for (int i = 0; i < doublings && delay < cfg.reconnect_max_wait_ms; ++i) delay *= 2;
  delay = std::min(delay, cfg.reconnect_max_wait_ms);
  if (cfg.reconnect_jitter_ms > 0) {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    delay += std::uniform_int_distribution<int64_t>(0, cfg.reconnect_jitter_ms)(rng);
  }
  return delay;
}

ConnectionState::ConnectionState(const Connection::Config& config, natsOptions* options)
    : config(config),
      effective(ApplyDefaults(config)),
      name(config.name().empty() ? "connection" : config.name()),
      options_(options) {}

ConnectionState::~ConnectionState() {
  {
    std::lock_guard<std::mutex> lock(mu);
    closing = true;
  }
  cv.notify_all();
  if (rebuilder_.joinable()) {
    if (rebuilder_.get_id() == std::this_thread::get_id()) {
      rebuilder_.detach();
    } else {
      rebuilder_.join();
    }
  }
  nc_.reset();
  natsOptions_Destroy(options_);
}

absl::Status ConnectionState::Build(natsStatus* nats_status) {
  const uint64_t generation = generation_.load() + 1;
  auto events = std::make_shared<ConnectionEvents>();
  events->state = shared_from_this();
  events->generation = generation;
  void* closure = EventRegistry::Instance().Register(events);
  natsStatus s = natsOptions_SetCustomReconnectDelay(options_, ReconnectDelay, closure);
  if (s == NATS_OK) s = natsOptions_SetRetryOnFailedConnect(options_, true, OnConnected, closure);
  if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(options_, OnDisconnected, closure);
  if (s == NATS_OK) s = natsOptions_SetReconnectedCB(options_, OnReconnected, closure);
  if (s == NATS_OK) s = natsOptions_SetClosedCB(options_, OnClosed, closure);
  if (s == NATS_OK) s = natsOptions_SetErrorHandler(options_, OnAsyncError, closure);
  natsConnection* nc = nullptr;
  if (s == NATS_OK) s = natsConnection_Connect(&nc, options_);
  *nats_status = s;
  if (s != NATS_OK && s != NATS_NOT_YET_CONNECTED) {
    absl::Status status = NatsToStatus(s, absl::StrCat("Connect ", absl::StrJoin(config.servers(), ",")));
    EventRegistry::Instance().Unregister(closure);
    if (nc != nullptr) natsConnection_Destroy(nc);
    return status;
  }
  NatsConnPtr replaced;
  void* replaced_closure;
  {
    std::lock_guard<std::mutex> lock(nc_mu_);
    replaced = std::exchange(nc_, NatsConnPtr(nc, natsConnection_Destroy));
    replaced_closure = std::exchange(closure_, closure);
    generation_.store(generation, std::memory_order_release);
  }
  // Late events of the replaced connection resolve to nothing from here on.
  if (replaced_closure != nullptr) EventRegistry::Instance().Unregister(replaced_closure);
  replaced.reset();  // destroyed once its last user lets go
  cv.notify_all();
  if (s == NATS_OK) {
    // The connected callback only fires for a connection made in the background.
    if (natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED) MarkUp(generation, nc, /*reconnect=*/false);
  } else if (generation == 1) {  // the rebuild loop reports on later ones
    spdlog::warn("nats: {}: not connected yet (no server reachable, or handshake refused); retrying", name);
  }
  return absl::OkStatus();
}

void ConnectionState::StartRebuilder(bool rebuild_now) {
  {
    std::lock_guard<std::mutex> lock(mu);
    rebuild_needed = rebuild_needed || rebuild_now;  // a close may have been reported already
  }
  rebuilder_ = std::thread([this] { RebuildLoop(); });
}

void ConnectionState::RebuildLoop() {
  auto& metrics = BusMetrics::Get();
  std::unique_lock<std::mutex> lock(mu);
  while (true) {
    cv.wait(lock, [&] { return closing || draining || rebuild_needed; });
    if (closing || draining) return;
    const int64_t delay_ms = BackoffMs(effective, ++rebuild_attempts);
    if (cv.wait_for(lock, std::chrono::milliseconds(delay_ms), [&] { return closing || draining; })) return;
    rebuild_needed = false;  // a close reported while building sets it again
    lock.unlock();
    natsStatus s;
    absl::Status built = Build(&s);
    lock.lock();
    if (built.ok()) {
      // nats.c may still be connecting in the background (and then refuse
      // and close it): a rebuild is done once the connection is up.
      const uint64_t built_generation = generation();
      cv.wait(lock, [&] { return closing || draining || rebuild_needed || connected_generation >= built_generation; });
      if (closing || draining) return;
      if (connected_generation < built_generation) built = absl::UnavailableError(last_close_error);
    }
    if (!built.ok()) {
      rebuild_needed = true;
      metrics.rebuild_failures.Inc();
      spdlog::warn("nats: {}: new connection failed ({}); next attempt in about {} ms", name,
                   std::string(built.message()), BackoffMs(effective, rebuild_attempts + 1));
      continue;
    }
    // Counted, and everything made on the connection moved to the new one, in MarkUp.
    spdlog::info("nats: {}: new connection up (connection {}, {} rebuilds)", name, generation(), stats.rebuilds);
  }
}

void ConnectionState::MarkUp(uint64_t generation, natsConnection* conn, bool reconnect) {
  if (generation < generation_.load()) return;  // a connection already replaced
  auto& m = BusMetrics::Get();
  std::vector<std::shared_ptr<RebuildListener>> listeners;
  bool rebuilt;
  {
    std::lock_guard<std::mutex> lock(mu);
    // The first time a connection the rebuild loop built comes up.
    rebuilt = generation > connected_generation && generation != initial_generation;
    connected_generation = std::max(connected_generation, generation);
    rebuild_attempts = 0;
    if (rebuilt) {
      ++stats.rebuilds;
      m.rebuilds.Inc();
      for (const auto& weak : listeners_) {
        if (auto l = weak.lock()) listeners.push_back(std::move(l));
      }
    }
  }
  // Before anyone waiting for the connection wakes: what was made on the old
  // one is on this one when WaitConnected returns.
  if (rebuilt) {
    const CurrentConnection now = Current();
    for (const auto& l : listeners) l->OnRebuilt(now);
    listeners.clear();  // a listener's last owner may be gone: let it go without `mu`
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    if (!up) {
      up = true;
      m.connections_up.Add(1);
    }
    if (reconnect) {
      ++stats.reconnects;
    } else {
      ++stats.connects;
    }
    (reconnect ? m.reconnected : m.connected).Inc();  // before waiters wake
  }
  cv.notify_all();
  spdlog::info("nats: {} {} to {}", name, reconnect ? "reconnected" : "connected", ConnectedUrl(conn));
}

void ConnectionState::MarkDown(uint64_t generation, natsConnection* conn) {
  if (generation < generation_.load()) return;
  bool expected;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (up) {
      up = false;
      BusMetrics::Get().connections_up.Add(-1);
    }
    ++stats.disconnects;
    expected = closing || draining;
    BusMetrics::Get().disconnected.Inc();
  }
  if (expected) {
    spdlog::info("nats: {} disconnected (closing)", name);
  } else {
    spdlog::warn("nats: {} disconnected; reconnecting with backoff {}..{} ms", name, effective.reconnect_wait_ms,
                 effective.reconnect_max_wait_ms);
  }
}

void ConnectionState::MarkClosed(uint64_t generation, natsConnection* conn) {
  if (generation < generation_.load()) return;
  const char* text = nullptr;
  natsConnection_GetLastError(conn, &text);
  const std::string last_error = text != nullptr && *text ? text : "no error reported";
  bool rebuild, was_connected;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (up) {
      up = false;
      BusMetrics::Get().connections_up.Add(-1);
    }
    BusMetrics::Get().closed.Inc();
    rebuild = !closing && !draining;
    was_connected = connected_generation >= generation;
    if (rebuild) {
      rebuild_needed = true;
      last_close_error = last_error;
    } else {
      closed = true;
    }
  }
  cv.notify_all();
  if (!rebuild) {
    spdlog::info("nats: {} closed", name);
  } else if (was_connected) {
    spdlog::warn("nats: {}: nats.c closed the connection for good ({}); building a new one", name, last_error);
  }  // else: a new connection that never came up; the rebuild loop reports it
}

bool ConnectionState::IsConnected() const {
  const CurrentConnection now = Current();
  return now.nc != nullptr && natsConnection_Status(now.nc.get()) == NATS_CONN_STATUS_CONNECTED;
}

bool ConnectionState::UserClosed() const {
  std::lock_guard<std::mutex> lock(mu);
  return closing || draining;
}

bool ConnectionState::WaitUp(absl::Duration timeout) const {
  std::unique_lock<std::mutex> lock(mu);
  cv.wait_for(lock, absl::ToChronoNanoseconds(timeout), [&] { return closed || closing || up; });
  return up && !closed;
}

CurrentConnection ConnectionState::Current() const {
  std::lock_guard<std::mutex> lock(nc_mu_);
  return {nc_, generation_.load(std::memory_order_relaxed)};
}

void ConnectionState::AddListener(std::weak_ptr<RebuildListener> listener) {
  std::lock_guard<std::mutex> lock(mu);
  listeners_.erase(std::remove_if(listeners_.begin(), listeners_.end(), [](const auto& l) { return l.expired(); }),
                   listeners_.end());
  listeners_.push_back(std::move(listener));
}

void ConnectionState::Close() {
  {
    std::lock_guard<std::mutex> lock(mu);
    if (closing) return;
    closing = true;
  }
  cv.notify_all();
  if (rebuilder_.joinable() && rebuilder_.get_id() != std::this_thread::get_id()) rebuilder_.join();
  // No connection is built from here on.
  const CurrentConnection now = Current();
  const bool open = now.nc != nullptr && natsConnection_Status(now.nc.get()) != NATS_CONN_STATUS_CLOSED;
  if (now.nc != nullptr) natsConnection_Close(now.nc.get());
  if (open) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_for(lock, absl::ToChronoNanoseconds(kCloseWait), [&] { return closed; });
  }
  void* closure;
  {
    std::lock_guard<std::mutex> lock(nc_mu_);
    closure = std::exchange(closure_, nullptr);
  }
  if (closure != nullptr) EventRegistry::Instance().Unregister(closure);
  std::vector<std::shared_ptr<RebuildListener>> listeners;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (up) {  // the closed callback did not make it in time
      up = false;
      BusMetrics::Get().connections_up.Add(-1);
    }
    closed = true;
    for (const auto& weak : listeners_) {
      if (auto l = weak.lock()) listeners.push_back(std::move(l));
    }
  }
  cv.notify_all();
  for (const auto& l : listeners) l->OnClosed();
}

// ---------------------------------------------------------------------------

// Resubscribed on every new connection (RebuildListener) until the owner
// unsubscribes.
struct SubscriptionState : CallbackTarget, RebuildListener {
  ~SubscriptionState() override {
    if (sub != nullptr) natsSubscription_Destroy(sub);
  }

  // Subscribes on `now` unless already subscribed there. With `mu` held.
  natsStatus SubscribeOn(const CurrentConnection& now);
  void OnRebuilt(const CurrentConnection& now) override {
    std::lock_guard<std::mutex> lock(mu);
    if (natsStatus s = SubscribeOn(now); s != NATS_OK) {
      spdlog::error("nats: {}: cannot subscribe to {} on the new connection: {}", conn->name, subject,
                    natsStatus_GetText(s));
    }
  }

  std::string subject;
  Connection::MessageHandler handler;
  std::shared_ptr<ConnectionState> conn;
  void* closure = nullptr;

  std::mutex mu;
  natsSubscription* sub = nullptr;  // on connection `generation`; guarded by mu
  uint64_t generation = 0;
  bool unsubscribed = false;
};

using SubRegistry = CallbackRegistry<SubscriptionState>;

namespace {

void OnMessage(natsConnection* nc, natsSubscription* sub, natsMsg* msg, void* closure) {
  SubRegistry::Scope scope(closure);
  if (scope.get() == nullptr) {
    natsMsg_Destroy(msg);
    return;
  }
  InboundMessage m;
  m.subject = CStr(natsMsg_GetSubject(msg));
  m.reply = CStr(natsMsg_GetReply(msg));
  m.data = MsgData(msg);
  m.headers = ReadHeaders(msg);
  natsMsg_Destroy(msg);
  scope.get()->handler(m);
}

}  // namespace

natsStatus SubscriptionState::SubscribeOn(const CurrentConnection& now) {
  if (unsubscribed || now.nc == nullptr || generation == now.generation) return NATS_OK;
  natsSubscription* fresh = nullptr;
  natsStatus s = natsConnection_Subscribe(&fresh, now.nc.get(), subject.c_str(), OnMessage, closure);
  if (s != NATS_OK) return s;
  if (sub != nullptr) natsSubscription_Destroy(sub);  // its connection is closed: nothing to unsubscribe
  sub = fresh;
  generation = now.generation;
  return NATS_OK;
}

}  // namespace internal

using internal::ConnectionState;
using internal::CurrentConnection;
using internal::NatsToStatus;

// ---------------------------------------------------------------------------

Subscription::Subscription(std::shared_ptr<internal::SubscriptionState> state) : state_(std::move(state)) {}

Subscription::~Subscription() {
  natsSubscription* sub;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->unsubscribed = true;
    sub = std::exchange(state_->sub, nullptr);
  }
  if (sub != nullptr) natsSubscription_Unsubscribe(sub);  // fails harmlessly once the connection is closed
  internal::SubRegistry::Instance().Unregister(state_->closure);
  if (sub != nullptr) natsSubscription_Destroy(sub);
}

const std::string& Subscription::subject() const { return state_->subject; }

// ---------------------------------------------------------------------------

Connection::Connection(std::shared_ptr<ConnectionState> state) : state_(std::move(state)) {}

Connection::~Connection() { Close(); }

absl::StatusOr<std::unique_ptr<Connection>> Connection::Connect(const Config& config) {
  std::vector<std::string> servers(config.servers().begin(), config.servers().end());
  if (servers.empty()) servers.push_back(NATS_DEFAULT_URL);
  std::vector<const char*> server_ptrs;
  for (const auto& s : servers) server_ptrs.push_back(s.c_str());
  const std::string op = absl::StrCat("Connect ", absl::StrJoin(servers, ","));
  const internal::EffectiveNatsConfig eff = internal::ApplyDefaults(config);

  if (!config.creds_file().empty() && !std::ifstream(config.creds_file()).good()) {
    // nats.c reads it at every connect: a refusal later is then a server's, never a missing file.
    return absl::InvalidArgumentError(absl::StrCat("key 'nats.creds_file': cannot read '", config.creds_file(), "'"));
  }
  natsOptions* opts = nullptr;
  natsStatus s = natsOptions_Create(&opts);
  if (s != NATS_OK) return NatsToStatus(s, op);
  std::unique_ptr<natsOptions, void (*)(natsOptions*)> opts_guard(opts, natsOptions_Destroy);
  s = natsOptions_SetServers(opts, server_ptrs.data(), static_cast<int>(server_ptrs.size()));
  if (s == NATS_OK && !config.name().empty()) s = natsOptions_SetName(opts, config.name().c_str());
  if (s == NATS_OK) s = natsOptions_SetTimeout(opts, eff.connect_timeout_ms);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectBufSize(opts, static_cast<int>(eff.reconnect_buffer_bytes));
  if (s == NATS_OK && config.send_asap()) s = natsOptions_SetSendAsap(opts, true);
  if (s == NATS_OK && !config.user().empty()) {
    s = natsOptions_SetUserInfo(opts, config.user().c_str(), config.password().c_str());
  }
  if (s == NATS_OK && !config.token().empty()) s = natsOptions_SetToken(opts, config.token().c_str());
  if (s == NATS_OK && !config.inbox_prefix().empty()) {
    s = natsOptions_SetCustomInboxPrefix(opts, config.inbox_prefix().c_str());
    if (s != NATS_OK) {
      return absl::InvalidArgumentError(absl::StrCat("key 'nats.inbox_prefix': '", config.inbox_prefix(),
                                                     "' is not a subject prefix (tokens without '*', '>', spaces)"));
    }
  }
  if (s == NATS_OK && !config.creds_file().empty()) {
    s = natsOptions_SetUserCredentialsFromFiles(opts, config.creds_file().c_str(), nullptr);
  }
  if (s == NATS_OK && config.tls().enabled()) {
    s = natsOptions_SetSecure(opts, true);
    if (s == NATS_OK && !config.tls().ca_file().empty()) {
      s = natsOptions_LoadCATrustedCertificates(opts, config.tls().ca_file().c_str());
    }
    if (s == NATS_OK && !config.tls().cert_file().empty()) {
      s = natsOptions_LoadCertificatesChain(opts, config.tls().cert_file().c_str(), config.tls().key_file().c_str());
    }
  }
  if (s != NATS_OK) return NatsToStatus(s, absl::StrCat(op, ": options"));

  auto state = std::make_shared<ConnectionState>(config, opts_guard.release());
  natsStatus connect_status = NATS_OK;
  state->initial_generation = 1;  // connection 1 coming up is no rebuild, unless it is refused here
  absl::Status built = state->Build(&connect_status);
  if (!built.ok() && !internal::RetryableAtStart(connect_status)) return built;
  if (!built.ok()) {
    state->initial_generation = 0;
    spdlog::warn("nats: {}: first connect failed ({}); retrying in the background", state->name,
                 std::string(built.message()));
  }
  state->StartRebuilder(/*rebuild_now=*/!built.ok());
  return std::unique_ptr<Connection>(new Connection(std::move(state)));
}

bool Connection::IsConnected() const { return state_->IsConnected(); }

bool Connection::WaitConnected(absl::Duration timeout) const { return state_->WaitUp(timeout); }

absl::Status Connection::Publish(const std::string& subject, const std::string& data, const Headers& headers) {
  const CurrentConnection now = state_->Current();
  if (now.nc == nullptr) return absl::UnavailableError(absl::StrCat("Publish ", subject, ": not connected yet"));
  natsMsg* msg = nullptr;
  natsStatus s = internal::BuildNatsMsg(&msg, subject, data, headers);
  if (s == NATS_OK) {
    s = natsConnection_PublishMsg(now.nc.get(), msg);
    natsMsg_Destroy(msg);
  }
  return NatsToStatus(s, absl::StrCat("Publish ", subject));
}

absl::StatusOr<std::unique_ptr<Subscription>> Connection::Subscribe(const std::string& subject,
                                                                    MessageHandler handler) {
  auto sub_state = std::make_shared<internal::SubscriptionState>();
  sub_state->subject = subject;
  sub_state->handler = std::move(handler);
  sub_state->conn = state_;
  sub_state->closure = internal::SubRegistry::Instance().Register(sub_state);
  state_->AddListener(sub_state);
  natsStatus s;
  {
    std::lock_guard<std::mutex> lock(sub_state->mu);
    s = sub_state->SubscribeOn(state_->Current());
    // On a connection nats.c closed, the subscription is made on the next one.
    if (s == NATS_CONNECTION_CLOSED && !state_->UserClosed()) s = NATS_OK;
    if (s != NATS_OK) sub_state->unsubscribed = true;
  }
  if (s != NATS_OK) {
    auto status = NatsToStatus(s, absl::StrCat("Subscribe ", subject));
    internal::SubRegistry::Instance().Unregister(sub_state->closure);
    return status;
  }
  return std::unique_ptr<Subscription>(new Subscription(std::move(sub_state)));
}

absl::Status Connection::Flush(absl::Duration timeout) {
  const CurrentConnection now = state_->Current();
  if (now.nc == nullptr) return absl::UnavailableError("Flush: not connected yet");
  return NatsToStatus(natsConnection_FlushTimeout(now.nc.get(), absl::ToInt64Milliseconds(timeout)), "Flush");
}

absl::Status Connection::Drain(absl::Duration timeout) {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->draining = true;  // the coming disconnect is expected; nothing is rebuilt
  }
  state_->cv.notify_all();
  const CurrentConnection now = state_->Current();
  bool closed = true;
  if (now.nc != nullptr) {
    natsStatus s = natsConnection_DrainTimeout(now.nc.get(), absl::ToInt64Milliseconds(timeout));
    if (s != NATS_OK && s != NATS_CONNECTION_CLOSED) return NatsToStatus(s, "Drain");
    if (s == NATS_OK) {
      std::unique_lock<std::mutex> lock(state_->mu);
      closed = state_->cv.wait_for(lock, absl::ToChronoNanoseconds(timeout + absl::Seconds(1)),
                                   [&] { return state_->closed; });
    }
  }
  state_->Close();
  if (!closed) return absl::DeadlineExceededError("Drain: connection not closed in time");
  return absl::OkStatus();
}

void Connection::Close() { state_->Close(); }

std::vector<std::string> Connection::AsyncErrors() const {
  std::lock_guard lock(state_->mu);
  return state_->async_errors;
}

bool Connection::WaitForAsyncError(const std::string& needle, absl::Duration timeout) const {
  std::unique_lock lock(state_->mu);
  return state_->cv.wait_for(lock, absl::ToChronoNanoseconds(timeout), [&] {
    for (const auto& e : state_->async_errors) {
      if (e.find(needle) != std::string::npos) return true;
    }
    return false;
  });
}

Connection::Stats Connection::stats() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->stats;
}

const Connection::Config& Connection::config() const { return state_->config; }

int64_t Connection::reconnect_buffer_bytes() const { return state_->effective.reconnect_buffer_bytes; }

}  // namespace sa::bus
