// bus::JetStream — streams, durable pull consumers and what they deliver.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bus/connection.h"
#include "bus/message.h"
#include "streamadmin/config/v1/config.pb.h"

namespace sa::obs {
class Gauge;
}  // namespace sa::obs

namespace sa::bus {

// Messages per Fetch when ConsumerConfig.fetch_batch is 0, in every service.
inline constexpr int kDefaultFetchBatch = 256;

namespace internal {
struct JetStreamState;
struct PullState;
struct ReceivedMessageImpl;
}  // namespace internal

// How a durable pull consumer takes acks. kExplicit: each message is acked on
// its own. kAll: acking a message acks every earlier one (by stream sequence),
// so one ack per batch frees the window — for a consumer that acks in stream
// order and never past an input whose outputs are not stored (AckWindow with
// Options::acks = kAll, or a consumer that rewinds on failure). The server
// cannot change a durable's policy: EnsurePullConsumer recreates it.
enum class AckPolicy { kExplicit, kAll };

struct StreamInfo {
  std::string name;
  std::vector<std::string> subjects;
  std::string storage;  // "file" or "memory"
  uint64_t messages = 0;
  uint64_t bytes = 0;
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;
  int64_t consumers = 0;
  int64_t duplicate_window_ns = 0;
  int64_t replicas = 1;
  std::string leader;  // server name of the stream's leader (clustered JetStream), else ""
};

struct ConsumerInfo {
  std::string stream;
  std::string name;
  std::string filter_subject;
  uint64_t num_pending = 0;      // in the stream, not yet delivered
  int64_t num_ack_pending = 0;   // delivered, not yet acknowledged
  int64_t num_redelivered = 0;
  int64_t num_waiting = 0;       // pull requests waiting
  uint64_t delivered_stream_seq = 0;
  uint64_t ack_floor_stream_seq = 0;  // at least start - 1 for a durable started at a sequence
  int64_t ack_wait_ns = 0;
  int64_t max_ack_pending = 0;
  int64_t max_deliver = 0;
  AckPolicy ack_policy = AckPolicy::kExplicit;  // kExplicit also for a consumer with no acks
};

// One message fetched from a pull consumer. Move-only; must be acknowledged
// (Ack/Nak/Term) or it is redelivered after the consumer's ack wait.
// Threading: one thread at a time; may be handed to another thread.
class ReceivedMessage {
 public:
  ReceivedMessage(ReceivedMessage&&) noexcept;
  ReceivedMessage& operator=(ReceivedMessage&&) noexcept;
  ~ReceivedMessage();

  const std::string& subject() const;
  const std::string& data() const;
  const Headers& headers() const;
  std::optional<std::string> header(const std::string& key) const;  // first value
  std::string msg_id() const { return header(kMsgIdHeader).value_or(""); }

  uint64_t stream_sequence() const;
  uint64_t consumer_sequence() const;
  uint64_t delivery_count() const;  // 1 on first delivery
  uint64_t num_pending() const;     // left in the consumer after this one
  absl::Time timestamp() const;

  // Fire-and-forget acknowledgements (the server may miss one if the
  // connection drops: the message is then redelivered, never lost).
  absl::Status Ack();
  absl::Status Nak();
  absl::Status NakWithDelay(absl::Duration delay);
  absl::Status Term();        // never redeliver
  absl::Status InProgress();  // reset the ack wait timer
  // Ack and wait for the server to confirm it.
  absl::Status AckSync(absl::Duration timeout);

 private:
  friend class PullSubscription;
  explicit ReceivedMessage(std::unique_ptr<internal::ReceivedMessageImpl> impl);
  std::unique_ptr<internal::ReceivedMessageImpl> impl_;
};

// A pull subscription bound to an existing durable consumer (see
// JetStream::PullSubscribe). Destroying it does not delete the consumer.
// Threading: Fetch from one thread at a time.
class PullSubscription {
 public:
  ~PullSubscription();
  PullSubscription(const PullSubscription&) = delete;
  PullSubscription& operator=(const PullSubscription&) = delete;

  // Up to `batch` messages, waiting at most `timeout` for the first. No
  // message within the timeout yields an empty vector, not an error.
  absl::StatusOr<std::vector<ReceivedMessage>> Fetch(int batch, absl::Duration timeout);
  // Fetch(fetch_batch(), timeout).
  absl::StatusOr<std::vector<ReceivedMessage>> Fetch(absl::Duration timeout) {
    return Fetch(fetch_batch_, timeout);
  }
  // ConsumerConfig.fetch_batch, or kDefaultFetchBatch when unset.
  int fetch_batch() const { return fetch_batch_; }

  const std::string& stream() const { return stream_; }
  const std::string& durable() const { return durable_; }

 private:
  friend class JetStream;
  PullSubscription(std::shared_ptr<internal::PullState> state, std::string stream,
                   std::string durable, int fetch_batch);
  // Shared with every ReceivedMessage fetched, so acks work after the
  // PullSubscription is gone.
  std::shared_ptr<internal::PullState> state_;
  std::string stream_;
  std::string durable_;
  int fetch_batch_;
  // streamadmin_bus_consumer_pending{stream,durable}: what the consumer had left
  // after the last message fetched (0 again once this subscription is gone).
  obs::Gauge* pending_;
};

// Management and consumption over one JetStream context. Thread-safe.
// Shares the Connection's state (may outlive the Connection object, but then
// every call fails with Unavailable).
class JetStream {
 public:
  using StreamConfig = ::streamadmin::config::v1::StreamConfig;
  using ConsumerConfig = ::streamadmin::config::v1::ConsumerConfig;

  // `api_timeout`: how long each JetStream API request waits for the server.
  static absl::StatusOr<std::unique_ptr<JetStream>> Create(Connection& connection,
                                                           absl::Duration api_timeout = absl::Seconds(5));
  ~JetStream();
  JetStream(const JetStream&) = delete;
  JetStream& operator=(const JetStream&) = delete;

  // Idempotent: creates the stream, or updates it when it exists with another
  // configuration (an existing identical stream is success). Limits retention,
  // discard old; 0 fields mean unlimited / server default (see config.proto).
  absl::Status EnsureStream(const StreamConfig& config);
  using AckPolicy = bus::AckPolicy;
  // Idempotent: a durable pull consumer acked by `ack`, delivering from the
  // start of the stream; updated when it exists with another config. One
  // that exists with the other ack policy (which the server cannot update)
  // is migrated: recreated with `ack` from its ack floor + 1, so whatever it
  // had not acked is delivered again, in stream order (logged).
  absl::Status EnsurePullConsumer(const ConsumerConfig& config, AckPolicy ack = AckPolicy::kExplicit);
  // Deletes the durable consumer (if any) and creates it again delivering
  // from stream sequence `start_seq`: every message from there on is
  // delivered again, in stream order, at once (no waiting for ack waits of
  // deliveries a dead process never acked).
  absl::Status RecreatePullConsumerAt(const ConsumerConfig& config, uint64_t start_seq,
                                      AckPolicy ack = AckPolicy::kExplicit);
  // The same, from the first message stored at or after `start`.
  absl::Status RecreatePullConsumerAtTime(const ConsumerConfig& config, absl::Time start,
                                          AckPolicy ack = AckPolicy::kExplicit);
  // Binds to the durable consumer `config` names (EnsurePullConsumer first).
  absl::StatusOr<std::unique_ptr<PullSubscription>> PullSubscribe(const ConsumerConfig& config);

  absl::StatusOr<StreamInfo> GetStreamInfo(const std::string& stream);
  absl::StatusOr<ConsumerInfo> GetConsumerInfo(const std::string& stream, const std::string& durable);
  absl::Status DeleteStream(const std::string& stream);
  absl::Status DeleteConsumer(const std::string& stream, const std::string& durable);

 private:
  friend class KeyValue;
  explicit JetStream(std::shared_ptr<internal::JetStreamState> state);
  absl::Status RecreatePullConsumer(const ConsumerConfig& config, uint64_t start_seq, absl::Time start, AckPolicy ack);
  std::shared_ptr<internal::JetStreamState> state_;
};

}  // namespace sa::bus
