// WsTestServer — a scripted WebSocket + HTTP server on 127.0.0.1:<free port>
// for testing WebSocket sources without touching the internet.
//
// Per WebSocket connection (numbered 0, 1, ... in accept order) it waits for
// the client's subscribe message(s), then plays a script: send frames, send an
// oversized frame, drop the TCP connection, go silent, or close cleanly. It
// records everything the client sent (with arrival times, for rate limits),
// the pings it received and the close codes. Plain HTTP GETs are answered
// from a table of canned responses (the Binance REST snapshot path).
// Optional TLS (certificate + key PEM files) for wss:// / https://.
//
// Threading: the server runs its own io thread; every method is thread-safe.
// Waits block on a condition variable with a deadline (no polling).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace sa::sources::testing {

struct ServerStep {
  enum class Kind { kSend, kSendOversized, kDrop, kSilent, kClose };
  Kind kind = Kind::kSend;
  std::string data;  // kSend: the frame text, sent as is (may be garbage)
  size_t bytes = 0;  // kSendOversized: approximate frame size

  static ServerStep Send(std::string data);
  // A well-formed JSON text frame of about `bytes` bytes.
  static ServerStep Oversized(size_t bytes);
  // Closes the TCP connection without a WebSocket close frame.
  static ServerStep Drop();
  // Sends nothing more but keeps the connection open (and keeps reading).
  static ServerStep Silent();
  // WebSocket close handshake with code 1000.
  static ServerStep Close();
};

struct ConnectionScript {
  size_t await_messages = 1;      // client messages to receive before step 1
  std::vector<ServerStep> steps;  // after the last step the server stays silent
};

// Script that sends `frames` in order after `await_messages` client messages.
ConnectionScript SendFrames(const std::vector<std::string>& frames, size_t await_messages = 1);

struct ClientMessage {
  size_t connection = 0;
  std::string data;
  std::chrono::steady_clock::time_point at;
};

class WsTestServer {
 public:
  struct Options {
    std::string tls_cert_file;  // both set: serve TLS
    std::string tls_key_file;
  };

  static absl::StatusOr<std::unique_ptr<WsTestServer>> Start(Options options);
  static absl::StatusOr<std::unique_ptr<WsTestServer>> Start() { return Start(Options{}); }
  ~WsTestServer();  // Stop()
  WsTestServer(const WsTestServer&) = delete;
  WsTestServer& operator=(const WsTestServer&) = delete;

  uint16_t port() const;
  // "ws://127.0.0.1:<port><target>" (wss:// with TLS); `host` replaces 127.0.0.1.
  std::string WsUrl(const std::string& target = "/", const std::string& host = "127.0.0.1") const;
  // "http://127.0.0.1:<port>" (https:// with TLS), no trailing slash.
  std::string HttpBase(const std::string& host = "127.0.0.1") const;

  // Script for connections without a specific one (default: await 1 message,
  // then silent).
  void SetDefaultScript(ConnectionScript script);
  void SetScript(size_t connection, ConnectionScript script);
  // Canned response for GET <target> (path + query, exact match); others 404.
  void SetHttpResponse(const std::string& target, std::string body, int status = 200);

  size_t connections() const;
  std::vector<std::string> ws_targets() const;  // request target per connection
  std::vector<ClientMessage> messages() const;  // all connections, arrival order
  std::vector<std::string> MessagesOf(size_t connection) const;
  std::vector<std::string> http_targets() const;
  // HTTP requests with arrival times (data = target; connection unused).
  std::vector<ClientMessage> http_requests() const;
  // TLS only: the SNI host name each handshake carried ("" if none).
  std::vector<std::string> sni_names() const;
  size_t pings() const;
  std::vector<int> close_codes() const;  // close codes the client sent

  bool WaitForConnections(size_t n, absl::Duration timeout) const;
  bool WaitForMessages(size_t n, absl::Duration timeout) const;
  bool WaitForHttpRequests(size_t n, absl::Duration timeout) const;
  bool WaitForPings(size_t n, absl::Duration timeout) const;
  bool WaitForCloseCodes(size_t n, absl::Duration timeout) const;

  void Stop();

  struct State;

 private:
  explicit WsTestServer(std::shared_ptr<State> state);
  std::shared_ptr<State> state_;
};

}  // namespace sa::sources::testing
