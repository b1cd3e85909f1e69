#include "bus/connection.h"

#include <nats/nats.h>

#include <algorithm>
#include <random>
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

using ConnRegistry = CallbackRegistry<ConnectionState>;

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
  ConnRegistry::Scope scope(closure);
  if (scope.get() != nullptr) scope.get()->MarkUp(nc, /*reconnect=*/false);
}

void OnReconnected(natsConnection* nc, void* closure) {
  ConnRegistry::Scope scope(closure);
  if (scope.get() != nullptr) scope.get()->MarkUp(nc, /*reconnect=*/true);
}

void OnDisconnected(natsConnection* nc, void* closure) {
  ConnRegistry::Scope scope(closure);
  if (scope.get() != nullptr) scope.get()->MarkDown(nc);
}

void OnClosed(natsConnection* nc, void* closure) {
  ConnRegistry::Scope scope(closure);
  if (scope.get() != nullptr) scope.get()->MarkClosed();
}

void OnAsyncError(natsConnection* nc, natsSubscription* sub, natsStatus err, void* closure) {
  ConnRegistry::Scope scope(closure);
  BusMetrics::Get().errors.Inc();
  const char* subject = sub != nullptr ? natsSubscription_GetSubject(sub) : nullptr;
  const char* text = nullptr;
  natsConnection_GetLastError(nc, &text);
  if (scope.get() != nullptr) {
    auto* state = scope.get();
    std::lock_guard lock(state->mu);
    if (state->async_errors.size() >= 100) state->async_errors.erase(state->async_errors.begin());
    state->async_errors.push_back(text != nullptr && *text ? std::string(text) : natsStatus_GetText(err));
    state->cv.notify_all();
  }
  spdlog::error("nats: async error on {}{}: {}",
                scope.get() != nullptr ? scope.get()->config.name() : std::string("connection"),
                subject != nullptr ? absl::StrCat(" (subscription ", subject, ")") : std::string(),
                text != nullptr && *text ? text : natsStatus_GetText(err));
}

int64_t ReconnectDelay(natsConnection* nc, int attempts, void* closure) {
  ConnRegistry::Scope scope(closure);
  EffectiveNatsConfig cfg = scope.get() != nullptr ? scope.get()->effective
                                                   : ApplyDefaults(Connection::Config());
  const int doublings = std::clamp(attempts - 1, 0, 30);
  int64_t delay = cfg.reconnect_wait_ms;
  for (int i = 0; i < doublings && delay < cfg.reconnect_max_wait_ms; ++i) delay *= 2;
  delay = std::min(delay, cfg.reconnect_max_wait_ms);
  if (cfg.reconnect_jitter_ms > 0) {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    delay += std::uniform_int_distribution<int64_t>(0, cfg.reconnect_jitter_ms)(rng);
  }
  return delay;
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

ConnectionState::~ConnectionState() {
  if (nc != nullptr) natsConnection_Destroy(nc);
}

void ConnectionState::MarkUp(natsConnection* conn, bool reconnect) {
  auto& m = BusMetrics::Get();
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
  spdlog::info("nats: {} {} to {}", config.name().empty() ? "connection" : config.name(),
               reconnect ? "reconnected" : "connected", ConnectedUrl(conn));
}

void ConnectionState::MarkDown(natsConnection* conn) {
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
    spdlog::info("nats: {} disconnected (closing)", config.name());
  } else {
    spdlog::warn("nats: {} disconnected; reconnecting with backoff {}..{} ms",
                 config.name().empty() ? "connection" : config.name(), effective.reconnect_wait_ms,
                 effective.reconnect_max_wait_ms);
  }
}

void ConnectionState::MarkClosed() {
  {
    std::lock_guard<std::mutex> lock(mu);
    if (up) {
      up = false;
      BusMetrics::Get().connections_up.Add(-1);
    }
    closed = true;
    BusMetrics::Get().closed.Inc();
  }
  cv.notify_all();
  spdlog::info("nats: {} closed", config.name().empty() ? "connection" : config.name());
}

bool ConnectionState::IsConnected() const {
  return nc != nullptr && natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED;
}

void ConnectionState::Close() {
  {
    std::lock_guard<std::mutex> lock(mu);
    if (closing) return;
    closing = true;
  }
  if (nc != nullptr) natsConnection_Close(nc);
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_for(lock, absl::ToChronoNanoseconds(kCloseWait), [&] { return closed; });
  }
  ConnRegistry::Instance().Unregister(closure);
  std::lock_guard<std::mutex> lock(mu);
  if (up) {  // the closed callback did not make it in time
    up = false;
    BusMetrics::Get().connections_up.Add(-1);
  }
  closed = true;
  cv.notify_all();
}

// ---------------------------------------------------------------------------

struct SubscriptionState : CallbackTarget {
  std::string subject;
  Connection::MessageHandler handler;
  std::shared_ptr<ConnectionState> conn;
  natsSubscription* sub = nullptr;
  void* closure = nullptr;
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
}  // namespace internal

using internal::ConnectionState;
using internal::NatsToStatus;

// ---------------------------------------------------------------------------

Subscription::Subscription(std::shared_ptr<internal::SubscriptionState> state)
    : state_(std::move(state)) {}

Subscription::~Subscription() {
  natsSubscription_Unsubscribe(state_->sub);  // fails harmlessly once the connection is closed
  internal::SubRegistry::Instance().Unregister(state_->closure);
  natsSubscription_Destroy(state_->sub);
}

const std::string& Subscription::subject() const { return state_->subject; }

// ---------------------------------------------------------------------------

Connection::Connection(std::shared_ptr<ConnectionState> state) : state_(std::move(state)) {}

Connection::~Connection() { Close(); }

absl::StatusOr<std::unique_ptr<Connection>> Connection::Connect(const Config& config) {
  auto state = std::make_shared<ConnectionState>(config);
  const auto& eff = state->effective;

  std::vector<std::string> servers(config.servers().begin(), config.servers().end());
  if (servers.empty()) servers.push_back(NATS_DEFAULT_URL);
  std::vector<const char*> server_ptrs;
  for (const auto& s : servers) server_ptrs.push_back(s.c_str());
  const std::string op = absl::StrCat("Connect ", absl::StrJoin(servers, ","));

  natsOptions* opts = nullptr;
  natsStatus s = natsOptions_Create(&opts);
  if (s != NATS_OK) return NatsToStatus(s, op);
  std::unique_ptr<natsOptions, void (*)(natsOptions*)> opts_guard(opts, natsOptions_Destroy);

  void* closure = internal::ConnRegistry::Instance().Register(state);
  state->closure = closure;
  s = natsOptions_SetServers(opts, server_ptrs.data(), static_cast<int>(server_ptrs.size()));
  if (s == NATS_OK && !config.name().empty()) s = natsOptions_SetName(opts, config.name().c_str());
  if (s == NATS_OK) s = natsOptions_SetTimeout(opts, eff.connect_timeout_ms);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, -1);
  if (s == NATS_OK) s = natsOptions_SetCustomReconnectDelay(opts, internal::ReconnectDelay, closure);
  if (s == NATS_OK) s = natsOptions_SetReconnectBufSize(opts, static_cast<int>(eff.reconnect_buffer_bytes));
  if (s == NATS_OK && config.send_asap()) s = natsOptions_SetSendAsap(opts, true);
  if (s == NATS_OK) s = natsOptions_SetRetryOnFailedConnect(opts, true, internal::OnConnected, closure);
  if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(opts, internal::OnDisconnected, closure);
  if (s == NATS_OK) s = natsOptions_SetReconnectedCB(opts, internal::OnReconnected, closure);
  if (s == NATS_OK) s = natsOptions_SetClosedCB(opts, internal::OnClosed, closure);
  if (s == NATS_OK) s = natsOptions_SetErrorHandler(opts, internal::OnAsyncError, closure);
  if (s == NATS_OK && !config.user().empty()) {
    s = natsOptions_SetUserInfo(opts, config.user().c_str(), config.password().c_str());
  }
  if (s == NATS_OK && !config.token().empty()) s = natsOptions_SetToken(opts, config.token().c_str());
  if (s == NATS_OK && !config.inbox_prefix().empty()) {
    s = natsOptions_SetCustomInboxPrefix(opts, config.inbox_prefix().c_str());
    if (s != NATS_OK) {
      internal::ConnRegistry::Instance().Unregister(closure);
      return absl::InvalidArgumentError(
          absl::StrCat("key 'nats.inbox_prefix': '", config.inbox_prefix(),
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
      s = natsOptions_LoadCertificatesChain(opts, config.tls().cert_file().c_str(),
                                            config.tls().key_file().c_str());
    }
  }
  if (s != NATS_OK) {
    auto status = NatsToStatus(s, absl::StrCat(op, ": options"));
    internal::ConnRegistry::Instance().Unregister(closure);
    return status;
  }

  natsConnection* nc = nullptr;
  s = natsConnection_Connect(&nc, opts);
  if (s != NATS_OK && s != NATS_NOT_YET_CONNECTED) {
    auto status = NatsToStatus(s, op);
    internal::ConnRegistry::Instance().Unregister(closure);
    if (nc != nullptr) natsConnection_Destroy(nc);
    return status;
  }
  state->nc = nc;
  if (s == NATS_OK) {
    // The connected callback only fires for a connection made in the background.
    if (state->IsConnected()) state->MarkUp(nc, /*reconnect=*/false);
  } else {
    spdlog::warn("nats: {}: no server reachable yet; retrying in the background", op);
  }
  return std::unique_ptr<Connection>(new Connection(std::move(state)));
}

bool Connection::IsConnected() const { return state_->IsConnected(); }

bool Connection::WaitConnected(absl::Duration timeout) const {
  std::unique_lock<std::mutex> lock(state_->mu);
  state_->cv.wait_for(lock, absl::ToChronoNanoseconds(timeout),
                      [&] { return state_->closed || state_->up; });
  return state_->up && !state_->closed;
}

absl::Status Connection::Publish(const std::string& subject, const std::string& data,
                                 const Headers& headers) {
  natsMsg* msg = nullptr;
  natsStatus s = internal::BuildNatsMsg(&msg, subject, data, headers);
  if (s == NATS_OK) {
    s = natsConnection_PublishMsg(state_->nc, msg);
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
  natsStatus s = natsConnection_Subscribe(&sub_state->sub, state_->nc, subject.c_str(),
                                          internal::OnMessage, sub_state->closure);
  if (s != NATS_OK) {
    auto status = NatsToStatus(s, absl::StrCat("Subscribe ", subject));
    internal::SubRegistry::Instance().Unregister(sub_state->closure);
    return status;
  }
  return std::unique_ptr<Subscription>(new Subscription(std::move(sub_state)));
}

absl::Status Connection::Flush(absl::Duration timeout) {
  return NatsToStatus(natsConnection_FlushTimeout(state_->nc, absl::ToInt64Milliseconds(timeout)),
                      "Flush");
}

absl::Status Connection::Drain(absl::Duration timeout) {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->draining = true;  // the coming disconnect is expected
  }
  natsStatus s = natsConnection_DrainTimeout(state_->nc, absl::ToInt64Milliseconds(timeout));
  if (s != NATS_OK && s != NATS_CONNECTION_CLOSED) return NatsToStatus(s, "Drain");
  bool closed;
  {
    std::unique_lock<std::mutex> lock(state_->mu);
    closed = state_->cv.wait_for(lock, absl::ToChronoNanoseconds(timeout + absl::Seconds(1)),
                                 [&] { return state_->closed; });
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
