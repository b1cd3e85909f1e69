#include "sources/testing/ws_test_server.h"

#include <spdlog/spdlog.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <condition_variable>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"

namespace sa::sources::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

ServerStep ServerStep::Send(std::string data) {
  ServerStep s;
  s.kind = Kind::kSend;
  s.data = std::move(data);
  return s;
}
ServerStep ServerStep::Oversized(size_t bytes) {
  ServerStep s;
  s.kind = Kind::kSendOversized;
  s.bytes = bytes;
  return s;
}
ServerStep ServerStep::Drop() {
  ServerStep s;
  s.kind = Kind::kDrop;
  return s;
}
ServerStep ServerStep::Silent() {
  ServerStep s;
  s.kind = Kind::kSilent;
  return s;
}
ServerStep ServerStep::Close() {
  ServerStep s;
  s.kind = Kind::kClose;
  return s;
}

ConnectionScript SendFrames(const std::vector<std::string>& frames, size_t await_messages) {
  ConnectionScript script;
  script.await_messages = await_messages;
  for (const auto& f : frames) script.steps.push_back(ServerStep::Send(f));
  return script;
}

// Shared between the server object and its io thread's handlers.
struct WsTestServer::State {
  asio::io_context ioc{1};
  std::optional<ssl::context> tls;
  tcp::acceptor acceptor{ioc};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::thread thread;
  uint16_t port = 0;
  std::promise<void> thread_done_promise;
  std::future<void> thread_done = thread_done_promise.get_future();
  std::vector<std::function<void()>> closers;  // io thread: closes live sockets

  mutable std::mutex mu;
  mutable std::condition_variable cv;
  ConnectionScript default_script;
  std::map<size_t, ConnectionScript> scripts;
  std::map<std::string, std::pair<int, std::string>> http_responses;
  std::vector<std::string> ws_targets;
  std::vector<ClientMessage> messages;
  std::vector<std::string> http_targets;
  std::vector<ClientMessage> http_requests;
  std::vector<std::string> sni_names;
  size_t pings = 0;
  std::vector<int> close_codes;
  bool stopped = false;

  template <class Pred>
  bool Wait(absl::Duration timeout, Pred pred) const {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, absl::ToChronoNanoseconds(timeout), [&] { return pred(); });
  }
  template <class F>
  void Update(F&& f) {
    {
      std::lock_guard<std::mutex> lock(mu);
      f();
    }
    cv.notify_all();
  }
};

namespace {

using State = WsTestServer::State;

// One accepted TCP connection: reads one HTTP request, then either serves it
// or upgrades to WebSocket and plays the connection's script.
template <class Stream>
class ServerSession : public std::enable_shared_from_this<ServerSession<Stream>> {
 public:
  ServerSession(State* state, Stream stream) : state_(state), stream_(std::move(stream)) {}

  void Run() { ReadRequest(); }
  Stream& stream() { return stream_; }

  void CloseSocket() {
    // After the upgrade `stream_` is moved-from: only the ws stream owns the socket.
    error_code ignored;
    if (ws_) {
      beast::get_lowest_layer(*ws_).socket().close(ignored);
    } else {
      beast::get_lowest_layer(stream_).socket().close(ignored);
    }
  }

 private:
  void ReadRequest() {
    http::async_read(stream_, buffer_, request_,
                     [self = this->shared_from_this()](error_code ec, size_t) {
                       if (ec) return;
                       if (websocket::is_upgrade(self->request_)) {
                         self->Upgrade();
                       } else {
                         self->ServeHttp();
                       }
                     });
  }

  void ServeHttp() {
    const std::string target(request_.target());
    int status = 404;
    std::string body = "not found";
    state_->Update([&] {
      state_->http_targets.push_back(target);
      state_->http_requests.push_back({0, target, std::chrono::steady_clock::now()});
      auto it = state_->http_responses.find(target);
      if (it != state_->http_responses.end()) {
        status = it->second.first;
        body = it->second.second;
      }
    });
    response_.emplace(static_cast<http::status>(status), request_.version());
    response_->set(http::field::content_type, "application/json");
    response_->keep_alive(false);
    response_->body() = std::move(body);
    response_->prepare_payload();
    http::async_write(stream_, *response_, [self = this->shared_from_this()](error_code, size_t) {
      error_code ignored;
      beast::get_lowest_layer(self->stream_).socket().shutdown(tcp::socket::shutdown_send, ignored);
    });
  }

  void Upgrade() {
    ws_.emplace(std::move(stream_));
    // No idle timer: a script may drop the socket under Beast, and a pending
    // 300 s idle timer would keep the session (and Stop) waiting.
    ws_->set_option(websocket::stream_base::timeout{std::chrono::seconds(30),
                                                    websocket::stream_base::none(), false});
    ws_->read_message_max(size_t{1} << 30);
    ws_->control_callback(
        [self = this->shared_from_this()](websocket::frame_type kind, beast::string_view) {
          if (kind == websocket::frame_type::ping)
            self->state_->Update([&] { ++self->state_->pings; });
        });
    ws_->async_accept(request_, [self = this->shared_from_this()](error_code ec) {
      if (ec) return;
      self->state_->Update([&] {
        self->index_ = self->state_->ws_targets.size();
        self->state_->ws_targets.push_back(std::string(self->request_.target()));
        auto it = self->state_->scripts.find(self->index_);
        self->script_ =
            it != self->state_->scripts.end() ? it->second : self->state_->default_script;
      });
      self->ReadMessage();
      if (self->script_.await_messages == 0) self->StartScript();
    });
  }

  void ReadMessage() {
    ws_->async_read(read_buffer_, [self = this->shared_from_this()](error_code ec, size_t) {
      if (ec) {
        if (ec == websocket::error::closed) {
          self->state_->Update(
              [&] { self->state_->close_codes.push_back(self->ws_->reason().code); });
        }
        self->done_ = true;
        return;
      }
      std::string text = beast::buffers_to_string(self->read_buffer_.data());
      self->read_buffer_.consume(self->read_buffer_.size());
      self->state_->Update([&] {
        self->state_->messages.push_back(
            {self->index_, std::move(text), std::chrono::steady_clock::now()});
      });
      if (++self->received_ >= self->script_.await_messages) self->StartScript();
      self->ReadMessage();
    });
  }

  void StartScript() {
    if (started_) return;
    started_ = true;
    NextStep();
  }

  void NextStep() {
    if (done_ || step_ >= script_.steps.size()) return;
    const ServerStep& step = script_.steps[step_++];
    auto next = [self = this->shared_from_this()](error_code ec, size_t) {
      if (ec) return;
      self->NextStep();
    };
    switch (step.kind) {
      case ServerStep::Kind::kSend:
        ws_->text(true);
        ws_->async_write(asio::buffer(step.data), next);
        return;
      case ServerStep::Kind::kSendOversized:
        oversized_ = absl::StrCat("{\"pad\":\"", std::string(step.bytes, 'x'), "\"}");
        ws_->text(true);
        ws_->async_write(asio::buffer(oversized_), next);
        return;
      case ServerStep::Kind::kDrop:
        done_ = true;
        CloseSocket();
        return;
      case ServerStep::Kind::kSilent:
        return;
      case ServerStep::Kind::kClose:
        ws_->async_close(websocket::close_code::normal,
                         [self = this->shared_from_this()](error_code) {});
        return;
    }
  }

  State* state_;  // outlives every session: sessions live in its io_context
  Stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  std::optional<http::response<http::string_body>> response_;
  std::optional<websocket::stream<Stream>> ws_;
  beast::flat_buffer read_buffer_;
  ConnectionScript script_;
  size_t index_ = 0;
  size_t received_ = 0;
  size_t step_ = 0;
  bool started_ = false;
  bool done_ = false;
  std::string oversized_;
};

void Accept(State* state) {
  state->acceptor.async_accept([state](error_code ec, tcp::socket socket) {
    if (ec) return;  // acceptor closed
    if (state->tls) {
      using TlsStream = beast::ssl_stream<beast::tcp_stream>;
      auto session = std::make_shared<ServerSession<TlsStream>>(
          state, TlsStream(beast::tcp_stream(std::move(socket)), *state->tls));
      state->closers.push_back([w = std::weak_ptr(session)] {
        if (auto s = w.lock()) s->CloseSocket();
      });
      session->stream().async_handshake(ssl::stream_base::server, [state, session](error_code ec) {
        if (ec) return;
        const char* sni =
            SSL_get_servername(session->stream().native_handle(), TLSEXT_NAMETYPE_host_name);
        state->Update([&] { state->sni_names.push_back(sni ? sni : ""); });
        session->Run();
      });
    } else {
      auto session = std::make_shared<ServerSession<beast::tcp_stream>>(
          state, beast::tcp_stream(std::move(socket)));
      state->closers.push_back([w = std::weak_ptr(session)] {
        if (auto s = w.lock()) s->CloseSocket();
      });
      session->Run();
    }
    Accept(state);
  });
}

}  // namespace

absl::StatusOr<std::unique_ptr<WsTestServer>> WsTestServer::Start(Options options) {
  auto state = std::make_shared<State>();
  error_code ec;
  if (!options.tls_cert_file.empty() || !options.tls_key_file.empty()) {
    state->tls.emplace(ssl::context::tls_server);
    state->tls->use_certificate_chain_file(options.tls_cert_file, ec);
    if (ec) return absl::InvalidArgumentError(absl::StrCat("test server cert: ", ec.message()));
    state->tls->use_private_key_file(options.tls_key_file, ssl::context::pem, ec);
    if (ec) return absl::InvalidArgumentError(absl::StrCat("test server key: ", ec.message()));
  }
  const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
  state->acceptor.open(endpoint.protocol(), ec);
  if (!ec) state->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) state->acceptor.bind(endpoint, ec);
  if (!ec) state->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("test server listen: ", ec.message()));
  state->port = state->acceptor.local_endpoint().port();
  state->work.emplace(asio::make_work_guard(state->ioc));
  Accept(state.get());
  state->thread = std::thread([state = state.get()] {
    try {
      state->ioc.run();
    } catch (const std::exception& e) {
      spdlog::error("WsTestServer: {}", e.what());
    }
    state->thread_done_promise.set_value();
  });
  return std::unique_ptr<WsTestServer>(new WsTestServer(std::move(state)));
}

WsTestServer::WsTestServer(std::shared_ptr<State> state) : state_(std::move(state)) {}

WsTestServer::~WsTestServer() { Stop(); }

void WsTestServer::Stop() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (state_->stopped) return;
    state_->stopped = true;
  }
  asio::post(state_->ioc, [state = state_.get()] {
    error_code ignored;
    state->acceptor.close(ignored);
    for (auto& close : state->closers) close();
    state->closers.clear();
    state->work.reset();
  });
  // Sessions end once their sockets are closed; bound it anyway.
  if (state_->thread_done.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
    state_->ioc.stop();
  }
  state_->thread.join();
}

uint16_t WsTestServer::port() const { return state_->port; }

std::string WsTestServer::WsUrl(const std::string& target, const std::string& host) const {
  return absl::StrCat(state_->tls ? "wss://" : "ws://", host, ":", state_->port, target);
}

std::string WsTestServer::HttpBase(const std::string& host) const {
  return absl::StrCat(state_->tls ? "https://" : "http://", host, ":", state_->port);
}

void WsTestServer::SetDefaultScript(ConnectionScript script) {
  state_->Update([&] { state_->default_script = std::move(script); });
}

void WsTestServer::SetScript(size_t connection, ConnectionScript script) {
  state_->Update([&] { state_->scripts[connection] = std::move(script); });
}

void WsTestServer::SetHttpResponse(const std::string& target, std::string body, int status) {
  state_->Update([&] { state_->http_responses[target] = {status, std::move(body)}; });
}

size_t WsTestServer::connections() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->ws_targets.size();
}

std::vector<std::string> WsTestServer::ws_targets() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->ws_targets;
}

std::vector<ClientMessage> WsTestServer::messages() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->messages;
}

std::vector<std::string> WsTestServer::MessagesOf(size_t connection) const {
  std::lock_guard<std::mutex> lock(state_->mu);
  std::vector<std::string> out;
  for (const auto& m : state_->messages) {
    if (m.connection == connection) out.push_back(m.data);
  }
  return out;
}

std::vector<std::string> WsTestServer::http_targets() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->http_targets;
}

std::vector<ClientMessage> WsTestServer::http_requests() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->http_requests;
}

std::vector<std::string> WsTestServer::sni_names() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->sni_names;
}

size_t WsTestServer::pings() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->pings;
}

std::vector<int> WsTestServer::close_codes() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->close_codes;
}

bool WsTestServer::WaitForConnections(size_t n, absl::Duration timeout) const {
  return state_->Wait(timeout, [&] { return state_->ws_targets.size() >= n; });
}
bool WsTestServer::WaitForMessages(size_t n, absl::Duration timeout) const {
  return state_->Wait(timeout, [&] { return state_->messages.size() >= n; });
}
bool WsTestServer::WaitForHttpRequests(size_t n, absl::Duration timeout) const {
  return state_->Wait(timeout, [&] { return state_->http_targets.size() >= n; });
}
bool WsTestServer::WaitForPings(size_t n, absl::Duration timeout) const {
  return state_->Wait(timeout, [&] { return state_->pings >= n; });
}
bool WsTestServer::WaitForCloseCodes(size_t n, absl::Duration timeout) const {
  return state_->Wait(timeout, [&] { return state_->close_codes.size() >= n; });
}

}  // namespace sa::sources::testing
