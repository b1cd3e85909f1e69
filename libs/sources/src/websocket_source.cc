#include "sources/websocket_source.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <deque>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <thread>
#include <type_traits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/clock.h"
#include "internal/http_fetch.h"
#include "internal/metrics.h"
#include "internal/source_common.h"
#include "internal/url.h"

namespace sa::sources {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using Clock = std::chrono::steady_clock;
using internal::ErrorReason;

using PlainWs = websocket::stream<beast::tcp_stream>;
using TlsWs = websocket::stream<beast::ssl_stream<beast::tcp_stream>>;

// Process-wide, so two sources of one venue never share a connection id.
std::atomic<uint64_t> g_conn_number{0};
uint64_t NextConnNumber() { return g_conn_number.fetch_add(1) + 1; }
// When this process started: HTTP connection ids carry it, so a restarted
// process never repeats the message ids (conn + frame seq) of the last one.
const int64_t g_process_start_ms = absl::ToUnixMillis(absl::Now());

Clock::duration ToChrono(absl::Duration d) {
  return std::chrono::duration_cast<Clock::duration>(absl::ToChronoNanoseconds(d));
}

}  // namespace

namespace internal {
class WsSession;
}  // namespace internal
using internal::WsSession;

struct WebSocketSource::Impl {
  Impl(WebSocketSourceOptions o, internal::ParsedUrl u, std::vector<internal::ParsedUrl> snaps)
      : opts(std::move(o)),
        url(std::move(u)),
        snapshot_urls(std::move(snaps)),
        metrics(opts.venue),
        rng(std::random_device{}()) {}

  // --- io thread ---
  void Connect();
  void OnSessionConnected(WsSession& s);
  void OnSessionEnded(WsSession& s, bool was_connected, Clock::time_point connected_at,
                      std::optional<ErrorReason> error, const std::string& detail);
  void ScheduleReconnect(Clock::time_point connected_at);
  void OnSubscribed();
  void QueueSnapshot(size_t index);
  void FetchNextSnapshot();
  void OnSnapshotResult(absl::StatusOr<std::string> body);
  void DeliverFrame(Frame&& frame);
  void Emit(SourceEventType type, const std::string& conn, const std::string& reason,
            const std::string& detail, absl::Duration retry_in = absl::ZeroDuration());
  void CountError(ErrorReason reason);
  void BeginStop();
  void Run();

  const WebSocketSourceOptions opts;
  const internal::ParsedUrl url;
  const std::vector<internal::ParsedUrl> snapshot_urls;  // parallel to opts.snapshots
  internal::SourceMetrics metrics;

  asio::io_context ioc{1};
  ssl::context tls{ssl::context::tls_client};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::thread thread;
  std::promise<void> thread_done;

  std::mutex lifecycle_mu;
  bool started = false;
  bool stopped = false;
  FrameSink* sink = nullptr;

  // Io-thread state.
  asio::steady_timer backoff_timer{ioc};
  asio::steady_timer http_retry_timer{ioc};
  std::shared_ptr<WsSession> session;
  bool stopping = false;
  uint64_t attempts = 0;  // connection attempts so far
  int failures = 0;       // consecutive, for the backoff
  Clock::time_point last_subscribe_start = Clock::time_point::min();
  std::mt19937_64 rng;
  struct PendingSnapshot {
    size_t index;
    int attempts = 0;
  };
  std::deque<PendingSnapshot> http_queue;
  std::shared_ptr<internal::HttpFetchHandle> http_inflight;
  std::string http_conn;
  uint64_t http_seq = 0;

  mutable std::mutex stats_mu;
  SourceStats stats;
};

// One WebSocket connection attempt and, if it succeeds, its whole life.
// Owned by shared_ptr: the Impl holds the current one, every pending handler
// holds one. Runs on the io thread only. Once `state_` is kDone no handler
// does anything and the Impl has been told exactly once.
namespace internal {
class WsSession : public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(WebSocketSource::Impl& impl, std::string conn)
      : impl_(impl),
        conn_(std::move(conn)),
        resolver_(impl.ioc),
        connect_timer_(impl.ioc),
        ping_timer_(impl.ioc),
        watchdog_timer_(impl.ioc),
        subscribe_timer_(impl.ioc),
        close_timer_(impl.ioc) {
    if (impl_.url.tls) {
      tls_ = std::make_unique<TlsWs>(impl.ioc, impl.tls);
    } else {
      plain_ = std::make_unique<PlainWs>(impl.ioc);
    }
  }

  const std::string& conn() const { return conn_; }

  void Start() {
    connect_timer_.expires_after(ToChrono(impl_.opts.connect_timeout));
    connect_timer_.async_wait([self = shared_from_this()](error_code ec) {
      if (ec || self->state_ != State::kConnecting) return;
      self->Fail(ErrorReason::kConnect,
                 absl::StrCat("not connected within ",
                              absl::FormatDuration(self->impl_.opts.connect_timeout)));
    });
    resolver_.async_resolve(
        impl_.url.host, impl_.url.port,
        [self = shared_from_this()](error_code ec, tcp::resolver::results_type r) {
          self->OnResolve(ec, std::move(r));
        });
  }

  // Graceful close (Stop). Connecting sessions are simply abandoned.
  void Close() {
    if (state_ == State::kDone || state_ == State::kClosing) return;
    if (state_ == State::kConnecting) return End(std::nullopt, "stopped while connecting");
    state_ = State::kClosing;
    ping_timer_.cancel();
    watchdog_timer_.cancel();
    subscribe_timer_.cancel();
    close_timer_.expires_after(ToChrono(impl_.opts.close_timeout));
    close_timer_.async_wait([self = shared_from_this()](error_code ec) {
      if (ec || self->state_ == State::kDone) return;
      self->End(std::nullopt, "close handshake timed out");
    });
    if (!writing_) DoClose();  // else OnWrite closes
  }

 private:
  enum class State { kConnecting, kOpen, kClosing, kDone };
  struct Out {
    bool ping = false;
    bool subscribe = false;
    std::string data;
  };

  template <class F>
  void WithWs(F&& f) {
    if (tls_) {
      f(*tls_);
    } else {
      f(*plain_);
    }
  }
  beast::tcp_stream& Lowest() {
    return tls_ ? beast::get_lowest_layer(*tls_) : beast::get_lowest_layer(*plain_);
  }

  void OnResolve(error_code ec, tcp::resolver::results_type results) {
    if (state_ != State::kConnecting) return;
    if (ec)
      return Fail(ErrorReason::kResolve,
                  absl::StrCat("resolve ", impl_.url.host, ": ", ec.message()));
    Lowest().async_connect(results,
                           [self = shared_from_this()](error_code ec, const tcp::endpoint& ep) {
                             self->OnConnect(ec, ep);
                           });
  }

  void OnConnect(error_code ec, const tcp::endpoint& ep) {
    if (state_ != State::kConnecting) return;
    if (ec) {
      return Fail(ErrorReason::kConnect, absl::StrCat("connect ", impl_.url.host, ":",
                                                      impl_.url.port, ": ", ec.message()));
    }
    error_code ignored;
    Lowest().socket().set_option(tcp::no_delay(true), ignored);
    if (!tls_) return WsHandshake();
    auto& stream = tls_->next_layer();
    if (!SSL_set_tlsext_host_name(stream.native_handle(), impl_.url.host.c_str())) {
      return Fail(ErrorReason::kTls, "cannot set SNI host name");
    }
    if (impl_.opts.tls_verify) {
      stream.set_verify_mode(ssl::verify_peer);
      stream.set_verify_callback(ssl::host_name_verification(impl_.url.host));
    } else {
      stream.set_verify_mode(ssl::verify_none);
    }
    stream.async_handshake(ssl::stream_base::client, [self = shared_from_this()](error_code ec) {
      if (self->state_ != State::kConnecting) return;
      if (ec)
        return self->Fail(
            ErrorReason::kTls,
            absl::StrCat("TLS handshake with ", self->impl_.url.host, ": ", ec.message()));
      self->WsHandshake();
    });
  }

  void WsHandshake() {
    WithWs([this](auto& ws) {
      // Our own timers cover handshake, idle and close; Beast's stay off.
      ws.set_option(websocket::stream_base::timeout{websocket::stream_base::none(),
                                                    websocket::stream_base::none(), false});
      ws.set_option(websocket::stream_base::decorator(
          [ua = impl_.opts.user_agent](websocket::request_type& req) {
            req.set(http::field::user_agent, ua);
          }));
      ws.read_message_max(impl_.opts.max_frame_bytes);
      ws.async_handshake(impl_.url.HostHeader(), impl_.url.target,
                         [self = shared_from_this()](error_code ec) { self->OnWsHandshake(ec); });
    });
  }

  void OnWsHandshake(error_code ec) {
    if (state_ != State::kConnecting) return;
    if (ec) {
      return Fail(ErrorReason::kHandshake,
                  absl::StrCat("WebSocket handshake ", impl_.url.target, ": ", ec.message()));
    }
    connect_timer_.cancel();
    state_ = State::kOpen;
    connected_ = true;
    connected_at_ = last_activity_ = Clock::now();
    impl_.OnSessionConnected(*this);
    ReadNext();
    ArmPing();
    ArmWatchdog();
    SendNextSubscribe();
  }

  // --- reading ---
  void ReadNext() {
    WithWs([this](auto& ws) {
      ws.async_read(buffer_,
                    [self = shared_from_this()](error_code ec, size_t n) { self->OnRead(ec, n); });
    });
  }

  void OnRead(error_code ec, size_t) {
    if (state_ == State::kDone) return;
    if (ec) {
      if (state_ == State::kClosing) return End(std::nullopt, "closed");
      if (ec == websocket::error::message_too_big) {
        return Fail(ErrorReason::kOversized,
                    absl::StrCat("frame larger than max_frame_bytes=", impl_.opts.max_frame_bytes));
      }
      if (ec == websocket::error::closed) {
        std::string why;
        WithWs([&](auto& ws) {
          why = absl::StrCat("closed by peer, code ", ws.reason().code, " '",
                             std::string(ws.reason().reason.c_str()), "'");
        });
        return Fail(ErrorReason::kClosed, why);
      }
      return Fail(ErrorReason::kRead, ec.message());
    }
    Frame frame;
    frame.recv_time_ns = NowUnixNanos();
    frame.venue = impl_.opts.venue;
    frame.conn = conn_;
    frame.kind = "ws";
    frame.url = impl_.opts.url;
    frame.data = beast::buffers_to_string(buffer_.data());
    frame.frame_seq = ++seq_;
    buffer_.consume(buffer_.size());
    impl_.DeliverFrame(std::move(frame));
    // After the sink returns: time spent blocked in the sink is not silence.
    last_activity_ = Clock::now();
    if (state_ == State::kDone) return;
    ReadNext();
  }

  // --- writing: one write op (text, ping or close) at a time ---
  void Enqueue(Out out) {
    out_.push_back(std::move(out));
    WriteNext();
  }

  void WriteNext() {
    if (writing_ || out_.empty() || state_ != State::kOpen) return;
    writing_ = true;
    Out& out = out_.front();
    auto on_done = [self = shared_from_this()](error_code ec, auto&&...) { self->OnWrite(ec); };
    if (out.ping) {
      WithWs([&](auto& ws) { ws.async_ping({}, on_done); });
      return;
    }
    if (out.subscribe) impl_.last_subscribe_start = Clock::now();
    {
      std::lock_guard<std::mutex> lock(impl_.stats_mu);
      ++impl_.stats.messages_sent;
    }
    WithWs([&](auto& ws) {
      ws.text(true);
      ws.async_write(asio::buffer(out.data), on_done);
    });
  }

  void OnWrite(error_code ec) {
    writing_ = false;
    if (state_ == State::kDone) return;
    if (ec) {
      if (state_ == State::kClosing) return End(std::nullopt, "closed");
      return Fail(ErrorReason::kWrite, ec.message());
    }
    const bool was_subscribe = out_.front().subscribe;
    out_.pop_front();
    if (state_ == State::kClosing) return DoClose();
    if (was_subscribe) {
      ++next_subscribe_;
      SendNextSubscribe();
    }
    WriteNext();
  }

  // Subscribe messages go one at a time; the next waits for the rate limit,
  // counted from when the previous one started (on any connection).
  void SendNextSubscribe() {
    if (state_ != State::kOpen) return;
    const auto& messages = impl_.opts.subscribe_messages;
    if (next_subscribe_ >= messages.size()) {
      if (!subscribed_) {
        subscribed_ = true;
        impl_.OnSubscribed();
      }
      return;
    }
    Clock::time_point earliest = Clock::now();
    if (impl_.opts.subscribe_rate_per_sec > 0 &&
        impl_.last_subscribe_start != Clock::time_point::min()) {
      const auto interval = std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(1.0 / impl_.opts.subscribe_rate_per_sec));
      earliest = std::max(earliest, impl_.last_subscribe_start + interval);
    }
    subscribe_timer_.expires_at(earliest);
    subscribe_timer_.async_wait([self = shared_from_this()](error_code ec) {
      if (ec || self->state_ != State::kOpen) return;
      self->Enqueue(Out{false, true, self->impl_.opts.subscribe_messages[self->next_subscribe_]});
    });
  }

  void ArmPing() {
    if (impl_.opts.ping_interval <= absl::ZeroDuration()) return;
    ping_timer_.expires_after(ToChrono(impl_.opts.ping_interval));
    ping_timer_.async_wait([self = shared_from_this()](error_code ec) {
      if (ec || self->state_ != State::kOpen) return;
      const bool queued =
          std::any_of(self->out_.begin(), self->out_.end(), [](const Out& o) { return o.ping; });
      if (!queued) self->Enqueue(Out{true, false, {}});
      self->ArmPing();
    });
  }

  void ArmWatchdog() {
    if (impl_.opts.watchdog_timeout <= absl::ZeroDuration()) return;
    const auto timeout = ToChrono(impl_.opts.watchdog_timeout);
    watchdog_timer_.expires_at(last_activity_ + timeout);
    watchdog_timer_.async_wait([self = shared_from_this(), timeout](error_code ec) {
      if (ec || self->state_ != State::kOpen) return;
      if (Clock::now() - self->last_activity_ >= timeout) {
        return self->Fail(
            ErrorReason::kStale,
            absl::StrCat("no frame for ", absl::FormatDuration(self->impl_.opts.watchdog_timeout)));
      }
      self->ArmWatchdog();
    });
  }

  void DoClose() {
    if (state_ != State::kClosing || close_sent_) return;
    close_sent_ = true;
    writing_ = true;
    WithWs([this](auto& ws) {
      ws.async_close(websocket::close_code::normal, [self = shared_from_this()](error_code ec) {
        self->writing_ = false;
        self->End(std::nullopt, ec ? absl::StrCat("close: ", ec.message()) : "closed");
      });
    });
  }

  void Fail(ErrorReason reason, const std::string& detail) { End(reason, detail); }

  // Tears everything down and tells the Impl, once. `error` empty means a
  // close we asked for.
  void End(std::optional<ErrorReason> error, const std::string& detail) {
    if (state_ == State::kDone) return;
    state_ = State::kDone;
    connect_timer_.cancel();
    ping_timer_.cancel();
    watchdog_timer_.cancel();
    subscribe_timer_.cancel();
    close_timer_.cancel();
    resolver_.cancel();
    error_code ignored;
    Lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    Lowest().socket().close(ignored);
    impl_.OnSessionEnded(*this, connected_, connected_at_, error, detail);
  }

  WebSocketSource::Impl& impl_;
  const std::string conn_;
  uint64_t seq_ = 0;
  tcp::resolver resolver_;
  std::unique_ptr<PlainWs> plain_;
  std::unique_ptr<TlsWs> tls_;
  asio::steady_timer connect_timer_, ping_timer_, watchdog_timer_, subscribe_timer_, close_timer_;
  beast::flat_buffer buffer_;
  std::deque<Out> out_;
  bool writing_ = false;
  bool close_sent_ = false;
  bool subscribed_ = false;
  size_t next_subscribe_ = 0;
  State state_ = State::kConnecting;
  bool connected_ = false;
  Clock::time_point connected_at_{};
  Clock::time_point last_activity_{};
};
}  // namespace internal

// ---------------------------------------------------------------------------
// Impl (io thread unless noted)

void WebSocketSource::Impl::Run() {
  for (;;) {
    try {
      ioc.run();
      break;
    } catch (const std::exception& e) {
      // A sink that throws must not kill the source; the frame is lost.
      spdlog::error("source {}: exception on the io thread: {}", opts.name, e.what());
    } catch (...) {
      spdlog::error("source {}: unknown exception on the io thread", opts.name);
    }
  }
  thread_done.set_value();
}

void WebSocketSource::Impl::Connect() {
  if (stopping) return;
  if (attempts++ > 0) {
    metrics.reconnects.Inc();
    std::lock_guard<std::mutex> lock(stats_mu);
    ++stats.reconnects;
  }
  session =
      std::make_shared<WsSession>(*this, absl::StrCat(opts.conn_prefix, ".", NextConnNumber()));
  session->Start();
}

void WebSocketSource::Impl::OnSessionConnected(WsSession& s) {
  metrics.connected.Add(1);
  {
    std::lock_guard<std::mutex> lock(stats_mu);
    ++stats.connects;
    stats.connected = true;
    stats.conn = s.conn();
  }
  spdlog::info("source {}: connected {} to {}", opts.name, s.conn(), opts.url);
  Emit(SourceEventType::kConnected, s.conn(), "", opts.url);
}

void WebSocketSource::Impl::OnSessionEnded(WsSession& s, bool was_connected,
                                           Clock::time_point connected_at,
                                           std::optional<ErrorReason> error,
                                           const std::string& detail) {
  // Keep the session alive until this function returns.
  std::shared_ptr<WsSession> keep = session;
  if (session.get() == &s) session.reset();
  if (error) {
    CountError(*error);
    const std::string reason = internal::ErrorReasonName(*error);
    spdlog::warn("source {}: {} {}: {}", opts.name, s.conn(), reason, detail);
    Emit(*error == ErrorReason::kStale ? SourceEventType::kStale : SourceEventType::kError,
         s.conn(), reason, detail);
  }
  if (was_connected) {
    metrics.connected.Add(-1);
    {
      std::lock_guard<std::mutex> lock(stats_mu);
      stats.connected = false;
      stats.conn.clear();
    }
    spdlog::info("source {}: disconnected {}: {}", opts.name, s.conn(), detail);
    Emit(SourceEventType::kDisconnected, s.conn(),
         error ? internal::ErrorReasonName(*error) : "closed", detail);
  }
  if (!stopping) ScheduleReconnect(was_connected ? connected_at : Clock::time_point{});
}

void WebSocketSource::Impl::ScheduleReconnect(Clock::time_point connected_at) {
  if (connected_at != Clock::time_point{} &&
      Clock::now() - connected_at >= ToChrono(opts.backoff_reset_after)) {
    failures = 0;
  }
  ++failures;
  double delay_s = absl::ToDoubleSeconds(opts.backoff_initial) *
                   std::pow(opts.backoff_multiplier, std::min(failures - 1, 64));
  delay_s = std::min(delay_s, absl::ToDoubleSeconds(opts.backoff_max));
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  delay_s *= 1.0 + opts.backoff_jitter * u(rng);
  delay_s = std::clamp(delay_s, 0.0, absl::ToDoubleSeconds(opts.backoff_max));
  const absl::Duration delay = absl::Seconds(delay_s);
  Emit(SourceEventType::kReconnecting, "", "", absl::StrCat("attempt ", failures), delay);
  backoff_timer.expires_after(ToChrono(delay));
  backoff_timer.async_wait([this](error_code ec) {
    if (ec || stopping) return;
    Connect();
  });
}

void WebSocketSource::Impl::OnSubscribed() {
  for (size_t i = 0; i < opts.snapshots.size(); ++i) QueueSnapshot(i);
}

void WebSocketSource::Impl::QueueSnapshot(size_t index) {
  if (stopping) return;
  // A request still waiting covers this one; the one in flight (the front)
  // does not, because the caller wants data newer than now.
  const size_t first_waiting = std::min<size_t>(http_inflight ? 1 : 0, http_queue.size());
  const bool waiting = std::any_of(http_queue.begin() + first_waiting, http_queue.end(),
                                   [&](const PendingSnapshot& p) { return p.index == index; });
  if (!waiting) http_queue.push_back({index});
  FetchNextSnapshot();
}

void WebSocketSource::Impl::FetchNextSnapshot() {
  if (stopping || http_inflight || http_queue.empty()) return;
  const size_t index = http_queue.front().index;
  internal::HttpGetParams params;
  params.url = snapshot_urls[index];
  params.url_text = opts.snapshots[index].url;
  params.timeout = opts.http_timeout;
  params.body_limit = opts.max_http_body_bytes;
  params.user_agent = opts.user_agent;
  params.tls_verify = opts.tls_verify;
  http_inflight = internal::StartHttpGet(
      ioc, tls, std::move(params),
      [this](absl::StatusOr<std::string> body) { OnSnapshotResult(std::move(body)); });
}

void WebSocketSource::Impl::OnSnapshotResult(absl::StatusOr<std::string> body) {
  http_inflight.reset();
  if (stopping || http_queue.empty()) return;
  PendingSnapshot& p = http_queue.front();
  const SnapshotEndpoint& endpoint = opts.snapshots[p.index];
  if (body.ok()) {
    Frame frame;
    frame.recv_time_ns = NowUnixNanos();
    frame.venue = opts.venue;
    frame.conn = http_conn;
    frame.kind = "http";
    frame.url = endpoint.url;
    frame.data = *std::move(body);
    frame.frame_seq = ++http_seq;
    http_queue.pop_front();
    {
      std::lock_guard<std::mutex> lock(stats_mu);
      ++stats.http_frames;
    }
    DeliverFrame(std::move(frame));
    FetchNextSnapshot();
    return;
  }
  CountError(ErrorReason::kHttp);
  const bool give_up = ++p.attempts >= opts.http_attempts;
  spdlog::warn("source {}: snapshot {} failed (attempt {}/{}): {}", opts.name, endpoint.symbol,
               p.attempts, opts.http_attempts, body.status().ToString());
  Emit(SourceEventType::kError, http_conn, "http",
       absl::StrCat(body.status().message(), give_up ? " (giving up)" : " (will retry)"));
  if (give_up) {
    http_queue.pop_front();
    FetchNextSnapshot();
    return;
  }
  const double delay_s =
      std::min(absl::ToDoubleSeconds(opts.backoff_initial) * std::pow(2.0, p.attempts - 1),
               absl::ToDoubleSeconds(opts.backoff_max));
  http_retry_timer.expires_after(ToChrono(absl::Seconds(delay_s)));
  http_retry_timer.async_wait([this](error_code ec) {
    if (!ec) FetchNextSnapshot();
  });
}

void WebSocketSource::Impl::DeliverFrame(Frame&& frame) {
  internal::CountFrame(frame, metrics, stats_mu, stats);
  sink->OnFrame(std::move(frame));
}

void WebSocketSource::Impl::CountError(ErrorReason reason) { internal::CountError(reason, metrics, stats_mu, stats); }

void WebSocketSource::Impl::Emit(SourceEventType type, const std::string& conn,
                                 const std::string& reason, const std::string& detail,
                                 absl::Duration retry_in) {
  sink->OnStatus(internal::MakeSourceEvent(type, opts.name, opts.venue, conn, reason, detail, retry_in));
}

void WebSocketSource::Impl::BeginStop() {
  stopping = true;
  backoff_timer.cancel();
  http_retry_timer.cancel();
  http_queue.clear();
  if (auto inflight = http_inflight) inflight->Cancel();
  if (auto s = session) s->Close();
  work.reset();
}

// ---------------------------------------------------------------------------
// Public API (any thread)

namespace {

absl::Status Validate(const WebSocketSourceOptions& o) {
  auto bad = [](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat("websocket source: ", what));
  };
  if (o.venue.empty()) return bad("venue is required");
  if (o.url.empty()) return bad("url is required");
  if (o.backoff_initial <= absl::ZeroDuration()) return bad("backoff_initial must be > 0");
  if (o.backoff_max < o.backoff_initial) return bad("backoff_max must be >= backoff_initial");
  if (o.backoff_multiplier < 1.0) return bad("backoff_multiplier must be >= 1");
  if (o.backoff_jitter < 0 || o.backoff_jitter > 1) return bad("backoff_jitter must be in [0, 1]");
  if (o.connect_timeout <= absl::ZeroDuration()) return bad("connect_timeout must be > 0");
  if (o.close_timeout <= absl::ZeroDuration()) return bad("close_timeout must be > 0");
  if (o.http_timeout <= absl::ZeroDuration()) return bad("http_timeout must be > 0");
  if (o.max_frame_bytes == 0) return bad("max_frame_bytes must be > 0");
  if (o.http_attempts < 1) return bad("http_attempts must be >= 1");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<WebSocketSource>> WebSocketSource::Create(
    WebSocketSourceOptions options) {
  if (options.name.empty()) options.name = absl::StrCat(options.venue, ".ws");
  if (options.conn_prefix.empty()) options.conn_prefix = absl::StrCat(options.venue, ".ws");
  if (auto st = Validate(options); !st.ok()) return st;
  auto url = internal::ParseUrl(options.url);
  if (!url.ok()) return url.status();
  if (url->scheme != "ws" && url->scheme != "wss") {
    return absl::InvalidArgumentError(
        absl::StrCat("websocket source: url '", options.url, "' is not ws:// or wss://"));
  }
  bool need_tls = url->tls;
  std::vector<internal::ParsedUrl> snaps;
  for (const auto& s : options.snapshots) {
    auto su = internal::ParseUrl(s.url);
    if (!su.ok()) return su.status();
    if (su->scheme != "http" && su->scheme != "https") {
      return absl::InvalidArgumentError(
          absl::StrCat("websocket source: snapshot url '", s.url, "' is not http:// or https://"));
    }
    need_tls = need_tls || su->tls;
    snaps.push_back(*std::move(su));
  }
  auto impl = std::make_unique<Impl>(std::move(options), *std::move(url), std::move(snaps));
  if (need_tls) {
    error_code ec;
    impl->tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                              ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                              ssl::context::no_tlsv1_1,
                          ec);
    impl->tls.set_default_verify_paths(ec);
    if (ec)
      spdlog::warn("source {}: OpenSSL default verify paths: {}", impl->opts.name, ec.message());
    if (!impl->opts.ca_path.empty()) {
      impl->tls.add_verify_path(impl->opts.ca_path, ec);
      if (ec) {
        return absl::InvalidArgumentError(
            absl::StrCat("websocket source: ca_path '", impl->opts.ca_path, "': ", ec.message()));
      }
    }
    if (!impl->opts.ca_file.empty()) {
      impl->tls.load_verify_file(impl->opts.ca_file, ec);
      if (ec) {
        return absl::InvalidArgumentError(
            absl::StrCat("websocket source: ca_file '", impl->opts.ca_file, "': ", ec.message()));
      }
    }
  }
  return std::unique_ptr<WebSocketSource>(new WebSocketSource(std::move(impl)));
}

WebSocketSource::WebSocketSource(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

WebSocketSource::~WebSocketSource() { Stop(); }

absl::Status WebSocketSource::Start(FrameSink* sink) {
  std::lock_guard<std::mutex> lock(impl_->lifecycle_mu);
  if (auto st = internal::CheckCanStart("websocket", impl_->opts.name, sink, impl_->started); !st.ok()) return st;
  impl_->started = true;
  impl_->sink = sink;
  impl_->http_conn = absl::StrCat(impl_->opts.venue, ".http.", g_process_start_ms, ".", NextConnNumber());
  impl_->work.emplace(asio::make_work_guard(impl_->ioc));
  asio::post(impl_->ioc, [impl = impl_.get()] { impl->Connect(); });
  impl_->thread = std::thread([impl = impl_.get()] { impl->Run(); });
  return absl::OkStatus();
}

void WebSocketSource::Stop() {
  std::lock_guard<std::mutex> lock(impl_->lifecycle_mu);
  if (!internal::ClaimStop(impl_->started, &impl_->stopped, impl_->thread, impl_->opts.name)) return;
  asio::post(impl_->ioc, [impl = impl_.get()] { impl->BeginStop(); });
  auto done = impl_->thread_done.get_future();
  // The close handshake is bounded by close_timeout; past that (plus slack),
  // stop the loop outright.
  if (done.wait_for(absl::ToChronoNanoseconds(impl_->opts.close_timeout + absl::Seconds(1))) !=
      std::future_status::ready) {
    spdlog::warn("source {}: io thread did not finish in time, stopping it", impl_->opts.name);
    impl_->ioc.stop();
  }
  impl_->thread.join();
  std::lock_guard<std::mutex> stats_lock(impl_->stats_mu);
  if (impl_->stats.connected) {
    impl_->metrics.connected.Add(-1);
    impl_->stats.connected = false;
    impl_->stats.conn.clear();
  }
}

SourceStats WebSocketSource::Stats() const {
  std::lock_guard<std::mutex> lock(impl_->stats_mu);
  return impl_->stats;
}

std::string WebSocketSource::name() const { return impl_->opts.name; }

const WebSocketSourceOptions& WebSocketSource::options() const { return impl_->opts; }

absl::Status WebSocketSource::RequestSnapshot(const std::string& symbol) {
  size_t index = impl_->opts.snapshots.size();
  for (size_t i = 0; i < impl_->opts.snapshots.size(); ++i) {
    if (impl_->opts.snapshots[i].symbol == symbol) index = i;
  }
  if (index == impl_->opts.snapshots.size()) {
    return absl::NotFoundError(
        absl::StrCat("source ", impl_->opts.name, ": no snapshot endpoint for '", symbol, "'"));
  }
  std::lock_guard<std::mutex> lock(impl_->lifecycle_mu);
  if (!impl_->started || impl_->stopped) {
    return absl::FailedPreconditionError(
        absl::StrCat("source ", impl_->opts.name, ": not running"));
  }
  asio::post(impl_->ioc, [impl = impl_.get(), index] { impl->QueueSnapshot(index); });
  return absl::OkStatus();
}

absl::Status WebSocketSource::Reconnect(const std::string& reason) {
  std::lock_guard<std::mutex> lock(impl_->lifecycle_mu);
  if (!impl_->started || impl_->stopped) {
    return absl::FailedPreconditionError(absl::StrCat("source ", impl_->opts.name, ": not running"));
  }
  spdlog::info("source {}: reconnecting on request: {}", impl_->opts.name, reason);
  // A graceful close ends the session; OnSessionEnded schedules the new one.
  asio::post(impl_->ioc, [impl = impl_.get()] {
    if (auto s = impl->session) s->Close();
  });
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Options

WebSocketSourceOptions OptionsFromPlan(const VenuePlan& plan) {
  WebSocketSourceOptions o;
  o.venue = plan.venue;
  o.url = plan.url;
  o.subscribe_messages = plan.subscribe_messages;
  o.snapshots = plan.snapshots;
  o.subscribe_rate_per_sec = plan.subscribe_rate_per_sec;
  return o;
}

namespace {

absl::Status KeyError(const std::string& key, const std::string& want) {
  return absl::InvalidArgumentError(
      absl::StrCat("websocket source config: '", key, "' must be ", want));
}

// Sets *out to c[key] when the key is there (OK when it is absent); a value
// of another JSON type than T's (string, boolean, number) is an error saying
// `want`.
template <typename T>
absl::Status GetValue(const nlohmann::json& c, const std::string& key, const char* want, T* out) {
  auto it = c.find(key);
  if (it == c.end()) return absl::OkStatus();
  bool fits;
  if constexpr (std::is_same_v<T, std::string>) {
    fits = it->is_string();
  } else if constexpr (std::is_same_v<T, bool>) {
    fits = it->is_boolean();
  } else {
    fits = it->is_number();
  }
  if (!fits) return KeyError(key, want);
  *out = it->get<T>();
  return absl::OkStatus();
}

absl::Status GetString(const nlohmann::json& c, const std::string& key, std::string* out) {
  return GetValue(c, key, "a string", out);
}

absl::Status GetStrings(const nlohmann::json& c, const std::string& key,
                        std::vector<std::string>* out) {
  auto it = c.find(key);
  if (it == c.end()) return absl::OkStatus();
  if (!it->is_array()) return KeyError(key, "an array of strings");
  out->clear();
  for (const auto& v : *it) {
    if (!v.is_string()) return KeyError(key, "an array of strings");
    out->push_back(v.get<std::string>());
  }
  return absl::OkStatus();
}

absl::Status GetDouble(const nlohmann::json& c, const std::string& key, double* out) {
  return GetValue(c, key, "a number", out);
}

absl::Status GetMillis(const nlohmann::json& c, const std::string& key, absl::Duration* out) {
  auto it = c.find(key);
  if (it == c.end()) return absl::OkStatus();
  if (!it->is_number() || it->get<double>() < 0)
    return KeyError(key, "a number of milliseconds >= 0");
  *out = absl::Milliseconds(it->get<double>());
  return absl::OkStatus();
}

template <typename T>
absl::Status GetUnsigned(const nlohmann::json& c, const std::string& key, T* out) {
  auto it = c.find(key);
  if (it == c.end()) return absl::OkStatus();
  if (!it->is_number_unsigned() && !(it->is_number_integer() && it->get<int64_t>() >= 0)) {
    return KeyError(key, "a non-negative integer");
  }
  *out = static_cast<T>(it->get<uint64_t>());
  return absl::OkStatus();
}

absl::Status GetBool(const nlohmann::json& c, const std::string& key, bool* out) {
  return GetValue(c, key, "true or false", out);
}

// Replaces scheme://authority of `url` by `base` (tests point venues at a local server).
std::string Rebase(const std::string& url, std::string base) {
  while (!base.empty() && base.back() == '/') base.pop_back();
  const size_t scheme = url.find("://");
  const size_t path = url.find_first_of("/?", scheme == std::string::npos ? 0 : scheme + 3);
  return base + (path == std::string::npos ? std::string() : url.substr(path));
}

}  // namespace

absl::StatusOr<WebSocketSourceOptions> WebSocketSourceOptionsFromJson(const nlohmann::json& c) {
  if (!c.is_object())
    return absl::InvalidArgumentError("websocket source config: must be an object");
  WebSocketSourceOptions o;
  SubscriptionRequest request;
  if (auto st = GetString(c, "venue", &request.venue); !st.ok()) return st;
  if (auto st = GetStrings(c, "channels", &request.channels); !st.ok()) return st;
  if (auto st = GetStrings(c, "symbols", &request.symbols); !st.ok()) return st;
  if (c.contains("book_depth")) {
    if (!c["book_depth"].is_number_integer()) return KeyError("book_depth", "an integer");
    request.book_depth = c["book_depth"].get<int>();
  }
  if (auto st = GetBool(c, "binance_subscribe_method", &request.binance_subscribe_method); !st.ok())
    return st;
  if (!request.channels.empty() || !request.symbols.empty()) {
    auto plan = VenueRegistry::Default().Build(request);
    if (!plan.ok()) return plan.status();
    o = OptionsFromPlan(*plan);
  }
  o.venue = request.venue;
  if (auto st = GetStrings(c, "subscribe_messages", &o.subscribe_messages); !st.ok()) return st;
  std::string ws_base, snapshot_base;
  if (auto st = GetString(c, "ws_base_url", &ws_base); !st.ok()) return st;
  if (auto st = GetString(c, "snapshot_base_url", &snapshot_base); !st.ok()) return st;
  if (!ws_base.empty()) o.url = Rebase(o.url, ws_base);
  if (!snapshot_base.empty()) {
    for (auto& s : o.snapshots) s.url = Rebase(s.url, snapshot_base);
  }
  for (auto st : {GetString(c, "url", &o.url),
                  GetString(c, "name", &o.name),
                  GetString(c, "conn_prefix", &o.conn_prefix),
                  GetDouble(c, "subscribe_rate_per_sec", &o.subscribe_rate_per_sec),
                  GetMillis(c, "ping_interval_ms", &o.ping_interval),
                  GetMillis(c, "watchdog_timeout_ms", &o.watchdog_timeout),
                  GetMillis(c, "connect_timeout_ms", &o.connect_timeout),
                  GetMillis(c, "close_timeout_ms", &o.close_timeout),
                  GetMillis(c, "backoff_initial_ms", &o.backoff_initial),
                  GetMillis(c, "backoff_max_ms", &o.backoff_max),
                  GetDouble(c, "backoff_multiplier", &o.backoff_multiplier),
                  GetDouble(c, "backoff_jitter", &o.backoff_jitter),
                  GetMillis(c, "backoff_reset_after_ms", &o.backoff_reset_after),
                  GetUnsigned(c, "max_frame_bytes", &o.max_frame_bytes),
                  GetMillis(c, "http_timeout_ms", &o.http_timeout),
                  GetUnsigned(c, "max_http_body_bytes", &o.max_http_body_bytes),
                  GetUnsigned(c, "http_attempts", &o.http_attempts),
                  GetBool(c, "tls_verify", &o.tls_verify),
                  GetString(c, "ca_file", &o.ca_file),
                  GetString(c, "ca_path", &o.ca_path),
                  GetString(c, "user_agent", &o.user_agent)}) {
    if (!st.ok()) return st;
  }
  if (o.venue.empty()) return KeyError("venue", "a non-empty string");
  if (o.url.empty()) return KeyError("url", "set (or give channels + symbols of a known venue)");
  return o;
}

}  // namespace sa::sources
