// CdcSink: the CDC stream -> the warehouse PostgreSQL, losing nothing.
//
// A durable pull consumer on cdc.> buffers change events per server, ordered
// by (commit LSN, index). cdc-bridge publishes cdc.<server>.watermark after
// every event up to an LSN was stored; when one arrives the sink applies the
// buffered events up to it in one warehouse transaction that also records the
// server's position (warehouse::ChangeApplier), and only after the commit
// acks their messages. So:
// - a crash anywhere replays unacked messages and the replay is skipped by
//   the position (exactly-once effect in the warehouse);
// - a publish cdc-bridge retried after a reconnect, stored out of order, is
//   still applied in commit order (the watermark follows every event it covers);
// - an event that cannot be applied (no primary key, unknown type, a value
//   the column refuses, undecodable bytes) is parked on dlq.cdc with the
//   reason, and the rest flows on.
//
// It runs in warehouse-sink (app.cc), beside the MarketDataSink; before that
// it ran inside cdc-bridge. The durable ("warehouse" by default), the
// warehouse schemas and the position table are the same, so a deployment
// moving over resumes where the old process stopped.
//
// Threading: the consumer loop's thread (runtime::ConsumerLoop) owns the
// subscription, buffer and applier;
// SetPaused, Details, healthy and last_error are for any thread.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bus/dead_letters.h"
#include "bus/jetstream.h"
#include "bus/jetstream_publisher.h"
#include "observability/metrics.h"
#include "runtime/consumer_loop.h"
#include "runtime/nats_client.h"
#include "streamadmin/cdc/v1/cdc.pb.h"
#include "streamadmin/config/v1/config.pb.h"
#include "warehouse/change_applier.h"
#include "warehouse_sink/probe.h"

namespace sa::warehouse_sink {

class CdcSink {
 public:
  // `citus_shard_count`: shards of the CDC tables it distributes on Citus
  // (config.citus_distribute_cdc_tables); 0: the default, 8.
  CdcSink(runtime::NatsClient& nats, std::string warehouse_dsn, streamadmin::config::v1::CdcSinkConfig config,
          uint32_t citus_shard_count);
  ~CdcSink();
  CdcSink(const CdcSink&) = delete;
  CdcSink& operator=(const CdcSink&) = delete;

  void Start();
  // Stops fetching; whatever is buffered and unacked is redelivered later.
  void Stop();
  // Paused: no fetch; what is buffered is still applied as its watermarks allow.
  void SetPaused(bool paused);
  // The consumer loop's health entry ("consumer.cdc").
  streamadmin::control::v1::Dependency Health() const;

  // For GetStatus: position per server, counters, last error.
  std::map<std::string, std::string> Details() const;
  bool healthy() const { return connected_.load(); }
  std::string last_error() const;

 private:
  struct Buffered {
    streamadmin::cdc::v1::ChangeEvent event;
    std::vector<bus::ReceivedMessage> messages;  // the first delivery and any redelivery
  };
  struct Server {
    std::map<std::pair<uint64_t, uint32_t>, Buffered> events;  // by (commit LSN, index)
    uint64_t watermark = 0;
    int64_t watermark_ts_ms = 0;
    std::vector<std::pair<uint64_t, bus::ReceivedMessage>> watermark_messages;
    uint64_t applied = 0;  // position in the warehouse, once known
  };

  // The consumer loop's bind: Subscribe, and the dead-letter writer.
  absl::StatusOr<std::unique_ptr<bus::PullSubscription>> Bind();
  // The consumer loop's handler (its thread owns everything below).
  runtime::ConsumerLoop::Next Handle(std::vector<bus::ReceivedMessage>& batch);
  // Binds to the durable consumer. If deliveries are outstanding (a previous
  // process died holding them, or a reconnect lost some in flight), the
  // consumer is recreated from its ack floor so they come again now and in
  // stream order, and the local buffer is dropped: applying in commit order
  // up to a watermark relies on having seen every message before it.
  absl::StatusOr<std::unique_ptr<bus::PullSubscription>> Subscribe(bool force_rewind);
  // False on a gap in stream sequences (a delivery was lost): rewind.
  bool Take(bus::ReceivedMessage m);
  // Applies what every server's watermark allows; false on an error (retry later).
  bool ApplyReady();
  bool ApplyServer(const std::string& name, Server& s);
  void DeadLetter(const std::string& subject, const std::string& msg_id, const std::string& payload,
                  const std::string& reason, const std::string& error);
  void SetError(const std::string& e);

  runtime::NatsClient& nats_;
  const std::string dsn_;
  const streamadmin::config::v1::CdcSinkConfig config_;
  const uint32_t citus_shard_count_;
  std::unique_ptr<runtime::ConsumerLoop> loop_;
  std::atomic<bool> stop_{false};
  bool force_rewind_ = false;                      // a gap was seen: the next bind rewinds
  absl::Time retry_apply_ = absl::InfinitePast();  // after an apply error, not before
  std::unique_ptr<bus::DeadLetterWriter> dlq_;
  std::unique_ptr<warehouse::ChangeApplier> applier_;
  std::map<std::string, Server> servers_;  // worker thread only
  uint64_t next_seq_ = 0;                   // next stream sequence expected; 0: take the next as baseline

  mutable std::mutex status_mu_;
  std::string last_error_;
  std::map<std::string, uint64_t> positions_;  // copy for Details()
  std::atomic<bool> connected_{false};
  CdcSinkProbe probe_;
};

}  // namespace sa::warehouse_sink
