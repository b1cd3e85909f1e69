// KafkaChangeSink: ChangeEvents -> Kafka as Debezium records (cdc/debezium.h)
// through an idempotent librdkafka producer (enable.idempotence=true,
// acks=all), with one delivery callback per event.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cdc/debezium.h"
#include "streamadmin/cdc/v1/cdc.pb.h"

namespace sa::obs {
class MetricsRegistry;
}

namespace sa::cdc {

struct KafkaChangeSinkOptions {
  std::string bootstrap_servers;  // required
  // Topic <topic_prefix>.<schema>.<table>; empty: the event's table.server
  // (Debezium's topic.prefix = the logical server name).
  std::string topic_prefix;
  // After each delete a second record with the same key and a null value
  // (Debezium's tombstones.on.delete, default true), so log compaction can
  // drop the key. Not sent for a delete without key columns.
  bool tombstones_on_delete = true;
  DebeziumOptions debezium;
  int linger_ms = 5;                // linger.ms
  int batch_size_bytes = 1000000;   // batch.size
  // message.timeout.ms: how long a record may wait for its acknowledgement
  // before on_delivered gets Unavailable. Java's delivery.timeout.ms default
  // (what Debezium inherits), not librdkafka's 300 s; it also bounds how long
  // a Send blocked on back-pressure waits while the brokers are unreachable.
  int message_timeout_ms = 120000;
  // Events handed to Send whose on_delivered has not run yet; Send blocks
  // while this many are outstanding.
  size_t max_inflight = 10000;
  // librdkafka properties applied last (they override everything above,
  // e.g. security.protocol, compression.type, message.timeout.ms).
  // enable.idempotence and acks cannot be weakened: Create refuses.
  std::map<std::string, std::string> properties;
  // Where the streamadmin_cdc_kafka_* metrics go; null: the default registry.
  obs::MetricsRegistry* metrics = nullptr;
};

// Thread-safety: Send, Flush, InFlight and Close may be called from any
// thread. on_delivered callbacks run on the sink's own poll thread, one at a
// time, in the order the broker acknowledged the records (per partition that
// is the Send order); they must not call Send, Flush, Close or the destructor
// (those may wait for the very thread running the callback), and should be
// quick (they hold up other deliveries).
class KafkaChangeSink {
 public:
  // Validates the options and starts the producer and its poll thread. The
  // broker is not contacted yet: an unreachable broker shows up as delivery
  // failures (after message.timeout.ms, default 300 s).
  static absl::StatusOr<std::unique_ptr<KafkaChangeSink>> Create(KafkaChangeSinkOptions options);

  // Close(absl::Seconds(10)).
  ~KafkaChangeSink();
  KafkaChangeSink(const KafkaChangeSink&) = delete;
  KafkaChangeSink& operator=(const KafkaChangeSink&) = delete;

  // Queues the Debezium record of `event` (and its tombstone). Returns OK when
  // queued: then on_delivered runs exactly once, with OK only when the broker
  // acknowledged every record of the event (acks=all), otherwise the first
  // error (Unavailable for a delivery failure, FailedPrecondition after a
  // fatal producer error, Cancelled when Close gave up on it). A non-OK return
  // means nothing was queued and on_delivered will not run: InvalidArgument
  // (OP_UNSPECIFIED, no table name, record larger than message.max.bytes),
  // FailedPrecondition (closed, or the producer had a fatal error: recreate
  // the sink), Unavailable (librdkafka refused the record for its topic, e.g.
  // the topic does not exist or is not authorised).
  // Blocks (never drops) while max_inflight events are outstanding or the
  // librdkafka queue is full.
  absl::Status Send(const streamadmin::cdc::v1::ChangeEvent& event,
                    std::function<void(absl::Status)> on_delivered);

  // Waits until every event sent so far has had its on_delivered called.
  // DeadlineExceeded (with the number left) when `timeout` passes first.
  absl::Status Flush(absl::Duration timeout);

  // Events whose on_delivered has not run yet.
  size_t InFlight() const;

  // Stops accepting Sends, waits up to `timeout` for outstanding deliveries,
  // then purges the rest (their on_delivered gets Cancelled: the broker may
  // or may not have them, so do not confirm them), stops the poll thread and
  // destroys the producer. Idempotent. Callbacks not yet run when the poll
  // thread stops run on the calling thread.
  void Close(absl::Duration timeout);

  // The topic an event goes to (DebeziumTopic with the configured prefix).
  std::string TopicFor(const streamadmin::cdc::v1::TableId& table) const;

  struct Impl;

 private:
  explicit KafkaChangeSink(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sa::cdc
