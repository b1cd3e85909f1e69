// An outside NATS client for the security suite: nats.c used directly, not
// through libs/bus (the code under test), connecting with a .creds file the
// admin minted, as any holder of those credentials could. It reports what the
// server refused: nats-server answers a publish or a subscription outside the
// user's permissions with an asynchronous "Permissions Violation" error and
// drops it (a refused JetStream API request is never seen by JetStream).
//
// Threading: drive it from one thread; messages arrive on nats.c's threads
// and are collected under a lock.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

typedef struct __natsConnection natsConnection;
typedef struct __natsSubscription natsSubscription;

namespace sa::testing {

class NatsProbe {
 public:
  struct Options {
    std::string url;
    std::string creds_file;    // empty: no credentials
    std::string inbox_prefix;  // empty: nats.c's "_INBOX"
    std::string name;
  };
  struct Received {
    std::string subject;
    std::string reply;
    std::string data;
  };

  // Up to 3 attempts: nats.c 3.4.1 + nats-server 2.9.10 refuse about 1 in 200
  // valid nonce signatures, and nats.c then closes the connection
  // (docs/SECURITY.md, known limits).
  static absl::StatusOr<std::unique_ptr<NatsProbe>> Connect(const Options& options);
  ~NatsProbe();
  NatsProbe(const NatsProbe&) = delete;
  NatsProbe& operator=(const NatsProbe&) = delete;

  absl::Status Publish(const std::string& subject, const std::string& data, const std::string& reply = "");
  // The reply's data; DeadlineExceeded when none came (a refused request
  // times out: the server dropped it).
  absl::StatusOr<std::string> Request(const std::string& subject, const std::string& data,
                                      absl::Duration timeout = absl::Seconds(5));
  // Collects what arrives on `subject` (Messages()).
  absl::Status Subscribe(const std::string& subject);
  absl::Status Flush();

  // Publishes (with a reply subject under this client's inbox, as a request
  // would) and reports whether the server refused it for permissions within
  // `timeout`.
  bool PublishRefused(const std::string& subject, const std::string& data = "x",
                      absl::Duration timeout = absl::Seconds(5));
  bool SubscribeRefused(const std::string& subject, absl::Duration timeout = absl::Seconds(5));

  std::vector<Received> Messages() const;
  bool WaitForMessage(const std::function<bool(const Received&)>& pred, absl::Duration timeout) const;
  std::vector<std::string> Errors() const;
  const std::string& inbox_prefix() const { return inbox_prefix_; }

 private:
  NatsProbe() = default;
  friend struct NatsProbeCallbacks;  // nats.c's handlers (nats_probe.cc)
  bool WaitForError(const std::string& needle, absl::Duration timeout) const;

  natsConnection* nc_ = nullptr;
  std::vector<natsSubscription*> subs_;
  std::string inbox_prefix_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::vector<Received> messages_;
  std::vector<std::string> errors_;
  int requests_ = 0;
};

}  // namespace sa::testing
