// JetStreamPublisher — at-least-once publishing into JetStream that a server
// restart cannot make lose an acknowledged message, and (with Nats-Msg-Id
// dedup) exactly-once storage within the stream's duplicate window.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bus/connection.h"
#include "bus/publisher.h"

namespace sa::bus {

namespace internal {
struct PublisherState;
}

// How it works: Publish() sends asynchronously (js_PublishMsgAsync) with
// Nats-Msg-Id = Message::msg_id and keeps a copy until the server acks it.
// A publish that times out (no ack within ack_timeout, e.g. the server died
// with it) or is refused transiently (no responders while JetStream
// restarts, reconnect buffer full) is re-sent with the same msg id, with
// backoff, until it is acknowledged; the stream stores it once. At most
// max_pending_acks messages are unacknowledged at a time (counting those
// waiting for a retry): beyond that Publish() blocks (back-pressure) instead
// of failing or buffering without bound.
//
// Permanent failures (message larger than the stream allows, wrong expected
// sequence, closed connection, ...) are not retried: they count in
// streamadmin_bus_js_failed_total, are reported to on_failure, and the next
// Flush() returns the first of them. When the Connection's owner closes it,
// the sends on the wire (which nats.c drops with it) complete Cancelled, as
// they would in the destructor, and Flush returns that Cancelled.
//
// Threading: Publish/Flush/stats are thread-safe. on_ack/on_failure run on
// nats.c's ack-delivery thread (or the publisher's retry thread); they must
// be quick and must not call Publish or Flush (Publish may block waiting for
// the very acks that thread delivers). The destructor stops retries and drops
// what is still unacknowledged: Flush() first. Do not destroy it while
// another thread is inside Publish/Flush.
class JetStreamPublisher : public Publisher {
 public:
  struct Options {
    // 0 / zero duration: take NatsConfig.max_pending_acks / ack_timeout_ms
    // (defaults 4096 and 5 s).
    int64_t max_pending_acks = 0;
    absl::Duration ack_timeout = absl::ZeroDuration();
    // Cap of the retry backoff after errors other than an ack timeout.
    absl::Duration max_retry_backoff = absl::Seconds(1);
    // Once per acknowledgement (including "duplicate" acks: the message is
    // stored either way), with the message's msg_id.
    std::function<void(const std::string& msg_id)> on_ack;
    // A publish that failed permanently after Publish() had returned OK.
    std::function<void(const std::string& msg_id, const absl::Status& error)> on_failure;
  };

  struct Stats {
    uint64_t published = 0;  // accepted by Publish()
    uint64_t acked = 0;
    uint64_t retried = 0;    // re-sends
    uint64_t failed = 0;     // permanent failures
    int64_t in_flight = 0;   // unacknowledged now
    int64_t max_in_flight = 0;  // high-water mark of in_flight
  };

  static absl::StatusOr<std::unique_ptr<JetStreamPublisher>> Create(Connection& connection,
                                                                    Options options);
  static absl::StatusOr<std::unique_ptr<JetStreamPublisher>> Create(Connection& connection) {
    return Create(connection, Options{});
  }
  ~JetStreamPublisher() override;
  JetStreamPublisher(const JetStreamPublisher&) = delete;
  JetStreamPublisher& operator=(const JetStreamPublisher&) = delete;

  // InvalidArgument for an empty subject or msg_id (dedup is mandatory).
  // Blocks while max_pending_acks publishes are unacknowledged. OK means the
  // message will be retried until acknowledged (or reported as failed).
  // Cancelled (here and from Flush) once the publisher is closing: the
  // message says nothing about the message, only about this process.
  absl::Status Publish(const Message& message) override;
  // Called once per message accepted by Publish(message, done): OK once the
  // stream stored it (a "duplicate" ack included), else the permanent failure,
  // or Cancelled for a message still unacknowledged when the publisher is
  // destroyed. Runs on the ack-delivery (or retry) thread, with the rules of
  // on_ack; in the destructor, on the destroying thread. Flush returns only
  // after the completions of the stored messages it waited for have returned.
  using Completion = std::function<void(const absl::Status& result)>;
  // Publish, with `done` for this message alone. When this returns an error
  // the message was refused and `done` is never called.
  absl::Status Publish(const Message& message, Completion done);
  // The same, taking over the message's buffers instead of copying them.
  absl::Status Publish(Message&& message, Completion done);
  // `done(i, result)` for messages[i], with the rules of Completion.
  using BatchCompletion = std::function<void(size_t index, const absl::Status& result)>;
  // Publishes `messages` in order, each as Publish(std::move(messages[i]),
  // ...) would (the same checks, back-pressure and guarantees), but registers
  // them in runs under one lock, with one completion object for all. Returns
  // one status per message, what Publish would have returned: `done` is
  // called exactly once for each message whose status is OK, never for the
  // others.
  std::vector<absl::Status> PublishBatch(std::vector<Message> messages, BatchCompletion done);
  // Waits until every message accepted by Publish() before this call has
  // been acknowledged. DeadlineExceeded says how many are still missing.
  absl::Status Flush(absl::Duration timeout) override;

  Stats stats() const;
  int64_t max_pending_acks() const;

 private:
  explicit JetStreamPublisher(std::shared_ptr<internal::PublisherState> state);
  std::shared_ptr<internal::PublisherState> state_;
};

}  // namespace sa::bus
