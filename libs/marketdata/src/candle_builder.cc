#include "marketdata/candle_builder.h"

#include "absl/strings/str_cat.h"

namespace sa::md {
namespace {

namespace pb = ::streamadmin::marketdata::v1;

int64_t FloorTo(int64_t t, int64_t length) {
  int64_t q = t / length;
  if (t % length != 0 && t < 0) --q;
  return q * length;
}

}  // namespace

CandleBuilder::CandleBuilder() : CandleBuilder(Options()) {}
CandleBuilder::CandleBuilder(Options options) : options_(std::move(options)) {}

absl::Status CandleBuilder::Add(const pb::Trade& trade, Emit emit) {
  const pb::Origin& origin = trade.origin();
  const int64_t t =
      origin.exchange_time_ns() != 0 ? origin.exchange_time_ns() : origin.receive_time_ns();
  ExactDecimal price, size;
  if (!ParseExactDecimal(trade.price().value(), &price) ||
      !ParseExactDecimal(trade.size().value(), &size)) {
    return absl::InvalidArgumentError(
        absl::StrCat("candle: trade ", origin.venue(), " ", origin.symbol(), " price \"",
                     trade.price().value(), "\" size \"", trade.size().value(), "\""));
  }
  if (t == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("candle: trade ", origin.venue(), " ", origin.symbol(), " has no time"));
  }
  key_.assign(origin.venue());
  key_.push_back('\n');
  key_.append(origin.symbol());
  auto it = series_.find(key_);
  if (it == series_.end()) {
    it = series_.emplace(key_, Series()).first;
    it->second.bars.resize(options_.intervals.size());
  }
  Series& series = it->second;

  // Check every interval before changing any, so a failure changes nothing.
  bool late = false;
  for (size_t i = 0; i < options_.intervals.size(); ++i) {
    const Bar& bar = series.bars[i];
    if (bar.open && FloorTo(t, options_.intervals[i].length_ns) < bar.open_time_ns) late = true;
  }
  if (late) {
    ++late_trades_;
    return absl::OkStatus();
  }
  for (size_t i = 0; i < options_.intervals.size(); ++i) {
    Bar& bar = series.bars[i];
    const int64_t start = FloorTo(t, options_.intervals[i].length_ns);
    if (bar.open && start > bar.open_time_ns) {
      EmitBar(series, i, /*closed=*/true, emit);
      bar.open = false;
    }
    if (!bar.open) {
      bar.open = true;
      bar.open_time_ns = start;
      bar.open_text = trade.price().value();
      bar.high_text = bar.open_text;
      bar.low_text = bar.open_text;
      bar.high = price;
      bar.low = price;
      bar.volume = ExactDecimal{};
      bar.trade_count = 0;
    } else {
      if (ExactCompare(price, bar.high) > 0) {
        bar.high = price;
        bar.high_text = trade.price().value();
      }
      if (ExactCompare(price, bar.low) < 0) {
        bar.low = price;
        bar.low_text = trade.price().value();
      }
    }
    bar.close_text = trade.price().value();
    ExactDecimal volume;
    if (!ExactAdd(bar.volume, size, &volume)) {
      return absl::OutOfRangeError(absl::StrCat("candle: volume overflow for ", origin.symbol()));
    }
    bar.volume = volume;
    ++bar.trade_count;
  }
  series.origin = origin;
  if (options_.emit_open) {
    for (size_t i = 0; i < options_.intervals.size(); ++i) EmitBar(series, i, false, emit);
  }
  return absl::OkStatus();
}

void CandleBuilder::CloseDue(int64_t now_ns, Emit emit) {
  for (auto& [key, series] : series_) {
    for (size_t i = 0; i < options_.intervals.size(); ++i) {
      Bar& bar = series.bars[i];
      if (bar.open && bar.open_time_ns + options_.intervals[i].length_ns <= now_ns) {
        EmitBar(series, i, /*closed=*/true, emit);
        bar.open = false;
      }
    }
  }
}

void CandleBuilder::EmitBar(const Series& series, size_t interval, bool closed, Emit emit) {
  const Bar& bar = series.bars[interval];
  *candle_.mutable_origin() = series.origin;
  candle_.set_interval(options_.intervals[interval].name);
  candle_.set_open_time_ns(bar.open_time_ns);
  candle_.set_close_time_ns(bar.open_time_ns + options_.intervals[interval].length_ns);
  candle_.mutable_open()->set_value(bar.open_text);
  candle_.mutable_high()->set_value(bar.high_text);
  candle_.mutable_low()->set_value(bar.low_text);
  candle_.mutable_close()->set_value(bar.close_text);
  candle_.mutable_volume()->set_value(FormatExactDecimal(bar.volume));
  candle_.set_trade_count(bar.trade_count);
  candle_.set_closed(closed);
  emit(candle_);
}

}  // namespace sa::md
