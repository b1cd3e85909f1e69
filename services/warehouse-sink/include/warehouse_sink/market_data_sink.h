// MarketDataSink: md.trade.> and md.candle.> from the market data stream into
// the warehouse (warehouse::MarketDataWriter), through two durable pull
// consumers ("warehouse-trades", "warehouse-candles"). A fetched batch is
// written in one COPY transaction and acked after COMMIT; the writes are
// idempotent, so a crash replays harmlessly. A message that cannot be stored
// (undecodable, bad decimal, absurd time) is parked on dlq.warehouse with the
// reason and the rest flows on. A deployment without a market data stream
// just waits for it (logged once).
//
// It runs in warehouse-sink (app.cc), beside the CdcSink, and is switched on
// and off on its own (market_data.disabled); before that it ran inside
// cdc-bridge. The durables and the tables are the same, so a deployment
// moving over resumes where the old process stopped.
//
// Threading: one consumer loop (runtime::ConsumerLoop) per durable, each
// with a warehouse connection of its own; the dead-letter writer, counters
// and last error are shared.
#pragma once

#include <atomic>
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
#include "streamadmin/config/v1/config.pb.h"
#include "warehouse/market_data_writer.h"
#include "warehouse_sink/probe.h"

namespace sa::warehouse_sink {

class MarketDataSink {
 public:
  // `citus_shard_count`: shards of md.trades / md.candles on Citus; 0: the default, 8.
  MarketDataSink(runtime::NatsClient& nats, std::string warehouse_dsn,
                 streamadmin::config::v1::MarketDataSinkConfig config, uint32_t citus_shard_count);
  ~MarketDataSink();
  MarketDataSink(const MarketDataSink&) = delete;
  MarketDataSink& operator=(const MarketDataSink&) = delete;

  void Start();
  // Stops fetching; what was fetched and not acked is redelivered later.
  void Stop();
  // Paused: no fetch (the batch in hand is finished first).
  void SetPaused(bool paused);
  // The consumer loops' health entries ("consumer.trades", "consumer.candles").
  std::vector<streamadmin::control::v1::Dependency> Health() const;
  uint64_t trades() const { return Count(probe_.trades); }
  uint64_t candles() const { return Count(probe_.candles); }
  uint64_t dead_letters() const { return probe_.dead_letters.Total(); }
  std::string last_error() const;

 private:
  // One consumer and what writes its messages; its loop's thread owns `writer`.
  struct Part {
    bool trades = true;
    std::unique_ptr<warehouse::MarketDataWriter> writer;
    std::unique_ptr<runtime::ConsumerLoop> loop;
  };
  // Writes one fetched batch, acks it after COMMIT; false on a warehouse
  // error (the batch is nak'd with a delay).
  bool Write(Part& part, std::vector<bus::ReceivedMessage>& batch);
  // Created on first use; null while it cannot be.
  bus::DeadLetterWriter* Dlq();
  void DeadLetter(const bus::ReceivedMessage& m, const std::string& reason, const std::string& error);
  void SetError(std::string e);

  runtime::NatsClient& nats_;
  const std::string dsn_;
  const streamadmin::config::v1::MarketDataSinkConfig config_;
  const uint32_t citus_shard_count_;
  Part trades_part_, candles_part_;
  std::mutex dlq_mu_;
  std::unique_ptr<bus::DeadLetterWriter> dlq_;  // dlq_mu_
  mutable std::mutex error_mu_;
  std::string last_error_;  // "" once a batch was stored again
  MarketDataSinkProbe probe_;
};

}  // namespace sa::warehouse_sink
