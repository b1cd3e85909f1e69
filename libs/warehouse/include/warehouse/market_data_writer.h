// MarketDataWriter: md.trade and md.candle messages into warehouse tables,
// in batches, with COPY.
//
// Tables (schema `md` by default), partitioned by RANGE on the event time:
// trades by UTC day (md.trades_YYYYMMDD), candles by UTC month
// (md.candles_YYYYMM, a few rows per symbol and minute), each partition
// created when a batch first needs it. (Candle day partitions made by an
// earlier version are kept: a month that overlaps them gets day partitions.)
//   trades  (venue, symbol, trade_id, ts, price, size, side, received)  PK (symbol, venue, trade_id, ts)
//   candles (venue, symbol, interval, open_time, close_time, open, high, low, close, volume,
//            trade_count, closed)                                    PK (symbol, venue, interval, open_time)
// ts is the venue's time, or the receive time when the venue gives none.
// trade_id is the venue's trade id; for venues that give none (Kraken v1) the
// caller stores the MD message's Nats-Msg-Id there, which MD keeps unique.
// Prices and sizes are exact numerics (the messages' decimal text).
// When the citus extension is installed, trades are distributed by trade_id
// (rows spread evenly over the shards whatever the number of symbols; by
// symbol, 14 symbols fell on 10 of 32 shards and the busiest symbol's shard
// took its whole load) and candles by symbol, each with `citus_shard_count`
// shards (8: a year is ~3,000 shards, not 23,000). Every statement runs
// unchanged on plain PostgreSQL and on Citus (docs/DEPLOYMENT.md).
//
// A batch is one transaction: COPY into a temporary staging table, then
// INSERT ... SELECT ... ON CONFLICT ... RETURNING (rows counted from what it
// returns: Citus reports rows pulled to the coordinator as the command's
// count, replays included): a replayed trade is ignored; a candle
// re-published while its interval is open replaces the stored one, except
// that a closed candle is only replaced by a closed one. Replays are harmless.
//
// Threading: one thread at a time.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "pg/connection.h"
#include "streamadmin/marketdata/v1/marketdata.pb.h"

namespace sa::warehouse {

struct MarketDataWriterOptions {
  std::string conninfo;
  std::string schema = "md";
  int citus_shard_count = 8;  // Citus only
};

struct CandleRow {
  std::string interval;  // from the subject: "1s", "1m", "native-1m", ...
  streamadmin::marketdata::v1::Candle candle;
};

class MarketDataWriter {
 public:
  static absl::StatusOr<std::unique_ptr<MarketDataWriter>> Connect(MarketDataWriterOptions options);

  // Why a message cannot be stored ("" = it can): missing fields, decimals
  // that are not exact decimal text, times out of range.
  static std::string Check(const streamadmin::marketdata::v1::Trade& t);
  static std::string Check(const CandleRow& c);

  // Rows newly stored (replays are not counted). Messages must pass Check().
  absl::StatusOr<size_t> WriteTrades(const std::vector<const streamadmin::marketdata::v1::Trade*>& trades);
  absl::StatusOr<size_t> WriteCandles(const std::vector<const CandleRow*>& candles);

  bool distributed() const { return distributed_; }

 private:
  explicit MarketDataWriter(MarketDataWriterOptions o) : options_(std::move(o)) {}
  absl::Status Setup();
  // Partitions of `table` holding `days` (YYYYMMDD): one per day, or with
  // `monthly` one per month.
  absl::Status EnsurePartitions(const std::string& table, const std::set<std::string>& days, bool monthly);
  absl::Status CreatePartition(const std::string& table, const std::string& suffix, const std::string& from,
                               const std::string& to);
  absl::Status Copy(const std::string& table, const std::string& rows);
  // One transaction: partitions for `days`, COPY `rows` into md_stage_<table>, `insert`; rows inserted.
  absl::StatusOr<size_t> CopyBatch(const std::string& table, const std::set<std::string>& days, bool monthly,
                                   const std::string& rows, const std::string& insert);

  MarketDataWriterOptions options_;
  std::unique_ptr<pg::Connection> conn_;
  std::string schema_;  // quoted
  std::set<std::string> partitions_;  // "trades_20261121", known to exist
  bool distributed_ = false;
};

}  // namespace sa::warehouse
