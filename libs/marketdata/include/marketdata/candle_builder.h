// CandleBuilder: OHLCV candles (1s and 1m by default) from canonical trades.
//
// A trade belongs to the interval [k*len, (k+1)*len) that holds its time
// (exchange time, or receive time when the venue gives none). The candle of an
// interval is emitted closed (closed = true) when a later trade for the same
// venue+symbol rolls the interval over, or when CloseDue() is called with a
// time at or past its end (a timer, so quiet markets still close candles).
// Intervals with no trade produce no candle. A trade older than the open
// interval (late, e.g. a venue's trade snapshot replaying history) is not
// folded into any candle and is counted in late_trades().
//
// Prices keep the venue text (open/high/low/close are trades' own texts);
// volume is the exact decimal sum of sizes, written with the largest scale seen
// ("0.5" + "0.25" = "0.75", "1.10" + "2" = "3.10"). No binary floats.
// close_time_ns is the exclusive end of the interval.
//
// Not thread-safe. The Candle passed to `emit` is reused: copy what you keep.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "marketdata/decimal.h"
#include "streamadmin/marketdata/v1/marketdata.pb.h"

namespace sa::md {

class CandleBuilder {
 public:
  struct Interval {
    std::string name;  // Candle.interval: "1s", "1m"
    int64_t length_ns = 0;
  };
  struct Options {
    std::vector<Interval> intervals = {{"1s", 1'000'000'000}, {"1m", 60'000'000'000}};
    // Also emit the open candle (closed = false) after every trade.
    bool emit_open = false;
  };
  using Emit = absl::FunctionRef<void(const ::streamadmin::marketdata::v1::Candle&)>;

  CandleBuilder();
  explicit CandleBuilder(Options options);

  // Folds `trade` in. InvalidArgument when its price/size is not an exact
  // decimal or it has no time; nothing changes then.
  absl::Status Add(const ::streamadmin::marketdata::v1::Trade& trade, Emit emit);
  // Emits (closed) and forgets every open candle whose interval ends at or
  // before now_ns.
  void CloseDue(int64_t now_ns, Emit emit);

  uint64_t late_trades() const { return late_trades_; }

 private:
  struct Bar {
    bool open = false;
    int64_t open_time_ns = 0;
    std::string open_text, high_text, low_text, close_text;
    ExactDecimal high, low, volume;
    uint64_t trade_count = 0;
  };
  struct Series {
    ::streamadmin::marketdata::v1::Origin origin;  // of the last trade
    std::vector<Bar> bars;                         // one per interval
  };

  void EmitBar(const Series& series, size_t interval, bool closed, Emit emit);

  Options options_;
  absl::flat_hash_map<std::string, Series> series_;  // key: venue '\n' symbol
  std::string key_;                                  // lookup scratch
  ::streamadmin::marketdata::v1::Candle candle_;
  uint64_t late_trades_ = 0;
};

}  // namespace sa::md
