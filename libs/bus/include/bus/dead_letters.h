// DeadLetterWriter — the one way input that cannot be handled is parked on
// dlq.<stage> (stream DLQ): one header set, one id scheme, JetStream, a size
// cap, a counter by reason. Every service's dead letters read the same.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bus/connection.h"
#include "bus/jetstream_publisher.h"
#include "bus/message.h"
#include "observability/metrics.h"

namespace sa::bus {

// One input a stage could not handle.
struct DeadLetter {
  std::string reason;        // bounded snake_case code: Sa-Dlq-Reason and the metric label
  std::string error;         // what went wrong, for people: Sa-Dlq-Error (cut to kMaxErrorBytes)
  std::string subject;       // the input's subject: Sa-Dlq-Subject ("" when unknown)
  std::string input_msg_id;  // the input's Nats-Msg-Id, else wire::StreamPositionId: Sa-Msg-Id, and the
                             // dead letter's own id (wire::DeadLetterMsgId), so a retry parks it once
  std::string payload;       // the input as received
  // The input's own headers, kept ahead of the dead-letter headers (without
  // Nats-Msg-Id and any earlier dead-letter header).
  Headers input_headers;
  // Called when `payload` is over the cap: shrink it in place to what
  // identifies the input and return the Sa-Dlq-Truncated value that says how
  // (wire::dlq_truncation), or "" when it cannot. A payload still over the cap
  // is dropped (Sa-Dlq-Truncated: payload-dropped).
  std::function<std::string(std::string* payload)> shrink;
};

// The message on the wire (wire/headers.h has the names):
//   subject     dlq.<stage> (Options::subject)
//   Nats-Msg-Id dlq:<stage>:<input id>
//   headers     <input headers>, Sa-Dlq-Reason, Sa-Dlq-Error, Sa-Dlq-Subject,
//               Sa-Dlq-Stage, Sa-Msg-Id[, Sa-Dlq-Truncated]
//   payload     the input's, whole, shrunk or dropped (at most max_payload_bytes)
// Counted in streamadmin_bus_dead_letters_total{stage,reason}; a cut payload
// also in streamadmin_bus_dead_letters_truncated_total{stage}.
//
// Threading: every method is thread-safe. Write may be called from another
// publisher's ack or retry thread (it publishes through a JetStreamPublisher
// of its own, whose acks arrive on their own thread); it blocks only while
// that publisher's max_pending_acks dead letters are unacknowledged. Borrows
// the Connection, which must outlive the writer.
class DeadLetterWriter {
 public:
  // Under NATS's default max_payload (1 MiB), with room for the headers.
  static constexpr size_t kDefaultMaxPayloadBytes = 960 << 10;
  static constexpr size_t kMaxErrorBytes = 1024;

  struct Options {
    std::string stage;    // ingest, normalizer, cdc-bridge, warehouse, views: Sa-Dlq-Stage, id scope, label
    std::string subject;  // "" = wire::DlqSubject(stage)
    size_t max_payload_bytes = kDefaultMaxPayloadBytes;
    JetStreamPublisher::Options publisher;  // on_failure defaults to a log line
  };

  // Builds only (no connection): for a stage that publishes dead letters
  // with its other outputs, so an input is acked only once its dead letter is
  // stored (the normalizer).
  explicit DeadLetterWriter(Options options);
  // Builds and publishes through a JetStreamPublisher of its own.
  static absl::StatusOr<std::unique_ptr<DeadLetterWriter>> Create(Connection& connection, Options options);
  ~DeadLetterWriter();
  DeadLetterWriter(const DeadLetterWriter&) = delete;
  DeadLetterWriter& operator=(const DeadLetterWriter&) = delete;

  // The dead letter as a message to publish; counts it.
  Message Build(DeadLetter letter);
  // Build + publish. OK means it will be retried until stored (or reported
  // to on_failure). FailedPrecondition for a writer made without a connection.
  absl::Status Write(DeadLetter letter);
  // Waits until every dead letter written before is stored.
  absl::Status Flush(absl::Duration timeout);

  const std::string& subject() const { return options_.subject; }
  const std::string& stage() const { return options_.stage; }

 private:
  obs::Counter& CounterFor(const std::string& reason);

  Options options_;
  std::unique_ptr<JetStreamPublisher> publisher_;
  obs::Counter& truncated_;
  std::mutex counters_mu_;
  std::map<std::string, obs::Counter*> counters_;  // by reason
};

}  // namespace sa::bus
