// Coinbase Advanced Trade WebSocket (wss://advanced-trade-ws.coinbase.com),
// venue name "coinbase".
//
// Envelope {"channel", "timestamp", "sequence_num", "events": [...]}.
// sequence_num counts every message of the connection, whatever the channel,
// so any missing frame shows as a gap: the decoder then cannot know which
// channel lost data and treats every book fed by the conn as gapped (KIND_GAP,
// KIND_RESYNCING, kResubscribe "level2"). A sequence_num that goes backwards is
// rejected (kOutOfOrder). A frame of the l2_data channel that cannot be decoded
// is a lost book update too: same treatment.
//
//  - l2_data: events {type snapshot|update, product_id, updates[{side
//    bid|offer, event_time, price_level, new_quantity}]} -> BookUpdate
//    (sequence = sequence_num).
//  - market_trades: trades[{product_id, trade_id, price, size, time, side}].
//    `side` is the MAKER's order side (as in the Exchange feed): a trade
//    printed at the best ask is "SELL". Checked on the 2026 recording: all 17
//    update trades sit on the book side that `side` names. Taker (Trade.side)
//    is therefore the opposite. Snapshot events replay recent trades (newest
//    first); they are emitted too - consumers dedupe by trade_id.
//  - ticker / ticker_batch -> Ticker (time: the envelope timestamp).
//  - candles: 5-minute candles, start in epoch seconds -> Candle "5m", closed
//    once its end is at or before the envelope timestamp.
//  - heartbeats, subscriptions, status: skipped.
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "internal/decoder_base.h"
#include "marketdata/decoder_registry.h"
#include "marketdata/symbols.h"

namespace sa::md::internal {
namespace {

constexpr int64_t kCandleNs = 300'000'000'000;  // Advanced Trade candles are 5 minutes

struct L2Event {
  bool snapshot = false;
  std::string_view product;
  size_t first_level = 0;  // range in levels_
  size_t end_level = 0;
  int64_t time_ns = 0;     // latest event_time of its updates
};

struct TradeView {
  std::string_view product, id, price, size;
  int64_t time_ns = 0;
  pb::Side side = pb::SIDE_UNSPECIFIED;
};

struct TickerView {
  std::string_view product;
  TickerTexts texts;
};

struct CandleView {
  std::string_view product, open, high, low, close, volume;
  int64_t start_s = 0;
};

class CoinbaseDecoder final : public DecoderBase {
 public:
  explicit CoinbaseDecoder(const DecoderOptions& options) : DecoderBase("coinbase", options) {}

 protected:
  absl::Status DecodeDocument(const RawFrame& frame, od::document& doc, Sink& sink) override;
  ResyncRequest MakeResyncRequest(const TrackedBook& book) const override { return Resubscribe("level2"); }
  void ForgetConnection(absl::string_view conn) override { last_sequence_.erase(conn); }
  bool SupportsCheckpoints() const override { return true; }
  void ExportConnState(pb::BookCheckpoint* checkpoint) const override {
    for (const auto& [conn, seq] : last_sequence_) (*checkpoint->mutable_conn_sequence())[conn] = seq;
  }
  void ImportConnState(const pb::BookCheckpoint& checkpoint) override {
    for (const auto& [conn, seq] : checkpoint.conn_sequence()) last_sequence_[conn] = seq;
  }

 private:
  absl::Status ReadL2(const RawFrame& frame, od::array events);
  absl::Status ReadTrades(const RawFrame& frame, od::array events);
  absl::Status ReadTickers(const RawFrame& frame, od::array events);
  absl::Status ReadCandles(const RawFrame& frame, od::array events);
  void ApplyL2(const RawFrame& frame, uint64_t sequence, Sink& sink);
  const std::string& Canonical(std::string_view product);
  absl::Span<const LevelView> EventLevels(const L2Event& event) const {
    return absl::MakeConstSpan(levels_).subspan(event.first_level, event.end_level - event.first_level);
  }

  absl::flat_hash_map<std::string, uint64_t> last_sequence_;  // per conn
  SymbolCache symbols_;
  std::vector<L2Event> l2_events_;
  std::vector<LevelView> levels_;
  std::vector<TradeView> trades_;
  std::vector<TickerView> tickers_;
  std::vector<CandleView> candles_;
};

const std::string& CoinbaseDecoder::Canonical(std::string_view product) {
  return symbols_.Get(product, [](absl::string_view p) { return CoinbaseCanonicalSymbol(p); });
}

absl::Status CoinbaseDecoder::DecodeDocument(const RawFrame& frame, od::document& doc,
                                             Sink& sink) {
  if (frame.kind == FrameKind::kHttp) {
    CountSkipped();  // REST product lists: product ids are already BASE-QUOTE
    return absl::OkStatus();
  }
  od::object object;
  if (auto error = doc.get_object().get(object)) return JsonError(frame, error, "frame");
  std::string_view channel, timestamp;
  uint64_t sequence = 0;
  // Fields are looked up by name (any order); in Coinbase's order this is one pass.
  if (auto error = object["channel"].get_string().get(channel)) {
    if (error == simdjson::NO_SUCH_FIELD) {
      // {"type":"error","message":...}: the venue rejected something.
      std::string_view type, message;
      if (!object.reset().error() && !object["type"].get_string().get(type) && type == "error") {
        if (object["message"].get_string().get(message)) message = "(no message)";
        return Error(frame, DecodeError::kVenueError, absl::StrCat("error: ", AV(message)));
      }
      return Error(frame, DecodeError::kUnknownMessage, "message without channel");
    }
    return JsonError(frame, error, "channel");
  }
  if (auto error = object["timestamp"].get_string().get(timestamp)) {
    return JsonError(frame, error, "timestamp");
  }
  if (auto error = object["sequence_num"].get_uint64().get(sequence)) {
    return JsonError(frame, error, "sequence_num");
  }
  int64_t envelope_ns = 0;
  if (!ParseRfc3339ToNs(AV(timestamp), &envelope_ns)) {
    return Error(frame, DecodeError::kBadValue, absl::StrCat("timestamp \"", AV(timestamp), "\""));
  }

  // Connection sequence: checked before the payload so that a gap stops the
  // books before this frame's update could be applied to them.
  auto [it, first] = last_sequence_.try_emplace(frame.conn, sequence);
  if (!first) {
    if (sequence <= it->second) {
      return Error(frame, DecodeError::kOutOfOrder,
                   absl::StrCat("sequence_num ", sequence, " after ", it->second));
    }
    const uint64_t expected = it->second + 1;
    it->second = sequence;
    if (sequence != expected) {
      InvalidateConn(frame.conn, pb::VenueStatus::KIND_GAP, "gap",
                     absl::StrCat("sequence_num jumped from ", expected - 1, " to ", sequence),
                     expected, sequence, &frame, sink);
    }
  }

  if (channel == "heartbeats" || channel == "subscriptions" || channel == "status") {
    CountSkipped();
    return absl::OkStatus();
  }
  od::array events;
  if (auto error = object["events"].get_array().get(events)) {
    return JsonError(frame, error, "events");
  }
  if (channel == "l2_data") {
    absl::Status status = ReadL2(frame, events);
    if (!status.ok()) {
      InvalidateConn(frame.conn, pb::VenueStatus::KIND_GAP, "gap",
                     absl::StrCat("undecodable l2_data frame: ", status.message()), 0, sequence,
                     &frame, sink);
      return status;
    }
    ApplyL2(frame, sequence, sink);
    return absl::OkStatus();
  }
  if (channel == "market_trades") {
    if (absl::Status status = ReadTrades(frame, events); !status.ok()) return status;
    for (const TradeView& view : trades_) {
      pb::Trade& trade = this->trade();
      FillOrigin(trade.mutable_origin(), frame, Canonical(view.product), AV(view.product),
                 view.time_ns);
      trade.mutable_trade_id()->assign(view.id.data(), view.id.size());
      SetDecimal(trade.mutable_price(), view.price);
      SetDecimal(trade.mutable_size(), view.size);
      trade.set_side(view.side);
      EmitTrade(sink);
    }
    return absl::OkStatus();
  }
  if (channel == "ticker" || channel == "ticker_batch") {
    if (absl::Status status = ReadTickers(frame, events); !status.ok()) return status;
    for (const TickerView& view : tickers_) {
      EmitTicker(frame, Canonical(view.product), AV(view.product), envelope_ns, view.texts, sink);
    }
    return absl::OkStatus();
  }
  if (channel == "candles") {
    if (absl::Status status = ReadCandles(frame, events); !status.ok()) return status;
    for (const CandleView& view : candles_) {
      pb::Candle& candle = this->candle();
      FillOrigin(candle.mutable_origin(), frame, Canonical(view.product), AV(view.product),
                 envelope_ns);
      candle.set_interval("5m");
      const int64_t open_ns = view.start_s * 1'000'000'000;
      candle.set_open_time_ns(open_ns);
      candle.set_close_time_ns(open_ns + kCandleNs);
      SetDecimal(candle.mutable_open(), view.open);
      SetDecimal(candle.mutable_high(), view.high);
      SetDecimal(candle.mutable_low(), view.low);
      SetDecimal(candle.mutable_close(), view.close);
      SetDecimal(candle.mutable_volume(), view.volume);
      candle.set_trade_count(0);  // not given by the venue
      candle.set_closed(open_ns + kCandleNs <= envelope_ns);
      EmitCandle(sink);
    }
    return absl::OkStatus();
  }
  return Error(frame, DecodeError::kUnknownChannel,
               absl::StrCat("channel \"", AV(channel), "\" is not decoded"));
}

absl::Status CoinbaseDecoder::ReadL2(const RawFrame& frame, od::array events) {
  l2_events_.clear();
  levels_.clear();
  for (auto element : events) {
    od::object event_object;
    if (auto error = element.get_object().get(event_object)) return JsonError(frame, error, "event");
    L2Event event;
    std::string_view type;
    bool has_updates = false;
    event.first_level = levels_.size();
    for (auto field : event_object) {
      std::string_view key;
      if (auto error = KeyText(field, &key)) return JsonError(frame, error, "key");
      if (key == "type") {
        if (auto error = field.value().get_string().get(type)) return JsonError(frame, error, "type");
      } else if (key == "product_id") {
        if (auto error = field.value().get_string().get(event.product)) {
          return JsonError(frame, error, "product_id");
        }
      } else if (key == "updates") {
        has_updates = true;
        od::array updates;
        std::string_view last_time;
        bool last_time_ok = false;
        int64_t last_time_ns = 0;
        if (auto error = field.value().get_array().get(updates)) {
          return JsonError(frame, error, "updates");
        }
        for (auto update_element : updates) {
          od::object update;
          if (auto error = update_element.get_object().get(update)) {
            return JsonError(frame, error, "update");
          }
          std::string_view side, time;
          LevelView level;
          for (auto update_field : update) {
            std::string_view name;
            if (auto error = KeyText(update_field, &name)) {
              return JsonError(frame, error, "update key");
            }
            std::string_view* target = KeyIs(name, "side")           ? &side
                                       : KeyIs(name, "event_time")   ? &time
                                       : KeyIs(name, "price_level")  ? &level.price
                                       : KeyIs(name, "new_quantity") ? &level.size
                                                                     : nullptr;
            if (target == nullptr) continue;
            if (auto error = update_field.value().get_string().get(*target)) {
              return JsonError(frame, error, AV(name));
            }
          }
          if (KeyIs(side, "bid")) {
            level.side = BookSide::kBid;
          } else if (KeyIs(side, "offer") || KeyIs(side, "ask")) {
            level.side = BookSide::kAsk;
          } else {
            return Error(frame, DecodeError::kBadValue, absl::StrCat("l2 side \"", AV(side), "\""));
          }
          if (auto st = CheckLevel(frame, "l2 level", level.price, level.size, &level.parsed); !st.ok()) return st;
          // Snapshot levels all carry the same event_time: parsed once per text.
          if (time != last_time) {
            last_time = time;
            last_time_ok = !time.empty() && ParseRfc3339ToNs(AV(time), &last_time_ns);
          }
          if (last_time_ok && last_time_ns > event.time_ns) event.time_ns = last_time_ns;
          levels_.push_back(level);
        }
      }
    }
    if (type == "snapshot") {
      event.snapshot = true;
    } else if (type != "update") {
      return Error(frame, DecodeError::kUnknownMessage,
                   absl::StrCat("l2_data event type \"", AV(type), "\""));
    }
    if (event.product.empty() || !has_updates) {
      return Error(frame, DecodeError::kMissingField, "l2_data event without product_id/updates");
    }
    event.end_level = levels_.size();
    l2_events_.push_back(event);
  }
  return absl::OkStatus();
}

void CoinbaseDecoder::ApplyL2(const RawFrame& frame, uint64_t sequence, Sink& sink) {
  for (const L2Event& event : l2_events_) {
    TrackedBook& book = GetBook(Canonical(event.product), AV(event.product));
    book.conn = frame.conn;
    if (event.snapshot) {
      ReplaceLevels(book.book, EventLevels(event));
      GoLiveWithSnapshot(book, frame, sequence, event.time_ns, sink);
      continue;
    }
    if (book.state != BookState::kLive) {
      if (book.state == BookState::kUnsynced) {
        Invalidate(book, pb::VenueStatus::KIND_GAP, "gap",
                   absl::StrCat(book.venue_symbol, " l2 update before any snapshot"), 0, sequence,
                   &frame, sink);
      }
      CountDroppedOutOfSync();
      continue;
    }
    book.sequence = sequence;
    pb::BookUpdate& update = StartBookUpdate(book, frame, false, sequence, event.time_ns);
    ApplyLevels(book.book, EventLevels(event), update);
    PublishBookUpdate(book, sink);
  }
}

absl::Status CoinbaseDecoder::ReadTrades(const RawFrame& frame, od::array events) {
  trades_.clear();
  for (auto element : events) {
    od::object event;
    if (auto error = element.get_object().get(event)) return JsonError(frame, error, "event");
    od::array trades;
    if (auto error = event["trades"].get_array().get(trades)) return JsonError(frame, error, "trades");
    for (auto trade_element : trades) {
      od::object trade;
      if (auto error = trade_element.get_object().get(trade)) return JsonError(frame, error, "trade");
      TradeView view;
      std::string_view side, time;
      for (auto field : trade) {
        std::string_view key;
        if (auto error = field.unescaped_key().get(key)) return JsonError(frame, error, "key");
        std::string_view* target = key == "product_id" ? &view.product
                                   : key == "trade_id" ? &view.id
                                   : key == "price"    ? &view.price
                                   : key == "size"     ? &view.size
                                   : key == "time"     ? &time
                                   : key == "side"     ? &side
                                                       : nullptr;
        if (target == nullptr) continue;
        if (auto error = RawScalarText(field.value(), target)) {
          return JsonError(frame, error, AV(key));
        }
      }
      if (view.product.empty() || view.id.empty() || view.price.empty() || view.size.empty()) {
        return Error(frame, DecodeError::kMissingField, "trade without product_id/trade_id/price/size");
      }
      ExactDecimal check;
      if (!ParseExactDecimal(AV(view.price), &check) || !ParseExactDecimal(AV(view.size), &check)) {
        return Error(frame, DecodeError::kBadValue,
                     absl::StrCat("trade price/size \"", AV(view.price), "\"/\"", AV(view.size),
                                  "\""));
      }
      if (!ParseRfc3339ToNs(AV(time), &view.time_ns)) {
        return Error(frame, DecodeError::kBadValue, absl::StrCat("trade time \"", AV(time), "\""));
      }
      // `side` is the maker's: the taker did the opposite.
      if (side == "BUY") {
        view.side = pb::SIDE_SELL;
      } else if (side == "SELL") {
        view.side = pb::SIDE_BUY;
      } else {
        return Error(frame, DecodeError::kBadValue, absl::StrCat("trade side \"", AV(side), "\""));
      }
      trades_.push_back(view);
    }
  }
  return absl::OkStatus();
}

absl::Status CoinbaseDecoder::ReadTickers(const RawFrame& frame, od::array events) {
  tickers_.clear();
  for (auto element : events) {
    od::object event;
    if (auto error = element.get_object().get(event)) return JsonError(frame, error, "event");
    od::array tickers;
    if (auto error = event["tickers"].get_array().get(tickers)) {
      return JsonError(frame, error, "tickers");
    }
    for (auto ticker_element : tickers) {
      od::object ticker;
      if (auto error = ticker_element.get_object().get(ticker)) {
        return JsonError(frame, error, "ticker");
      }
      TickerView view;
      for (auto field : ticker) {
        std::string_view key;
        if (auto error = field.unescaped_key().get(key)) return JsonError(frame, error, "key");
        std::string_view* target = key == "product_id"          ? &view.product
                                   : key == "price"             ? &view.texts.last
                                   : key == "volume_24_h"       ? &view.texts.volume_24h
                                   : key == "best_bid"          ? &view.texts.bid
                                   : key == "best_ask"          ? &view.texts.ask
                                   : key == "best_bid_quantity" ? &view.texts.bid_size
                                   : key == "best_ask_quantity" ? &view.texts.ask_size
                                                                : nullptr;
        if (target == nullptr) continue;
        if (auto error = field.value().get_string().get(*target)) {
          return JsonError(frame, error, AV(key));
        }
      }
      if (view.product.empty() || view.texts.last.empty()) {
        return Error(frame, DecodeError::kMissingField, "ticker without product_id/price");
      }
      tickers_.push_back(view);
    }
  }
  return absl::OkStatus();
}

absl::Status CoinbaseDecoder::ReadCandles(const RawFrame& frame, od::array events) {
  candles_.clear();
  for (auto element : events) {
    od::object event;
    if (auto error = element.get_object().get(event)) return JsonError(frame, error, "event");
    od::array candles;
    if (auto error = event["candles"].get_array().get(candles)) {
      return JsonError(frame, error, "candles");
    }
    for (auto candle_element : candles) {
      od::object candle;
      if (auto error = candle_element.get_object().get(candle)) {
        return JsonError(frame, error, "candle");
      }
      CandleView view;
      std::string_view start;
      for (auto field : candle) {
        std::string_view key;
        if (auto error = field.unescaped_key().get(key)) return JsonError(frame, error, "key");
        std::string_view* target = key == "product_id" ? &view.product
                                   : key == "start"     ? &start
                                   : key == "open"      ? &view.open
                                   : key == "high"      ? &view.high
                                   : key == "low"       ? &view.low
                                   : key == "close"     ? &view.close
                                   : key == "volume"    ? &view.volume
                                                        : nullptr;
        if (target == nullptr) continue;
        if (auto error = RawScalarText(field.value(), target)) {
          return JsonError(frame, error, AV(key));
        }
      }
      if (view.product.empty() || !absl::SimpleAtoi(AV(start), &view.start_s) ||
          view.open.empty() || view.close.empty() || view.high.empty() || view.low.empty() ||
          view.volume.empty()) {
        return Error(frame, DecodeError::kMissingField, "candle without start/OHLCV/product_id");
      }
      // Seconds that fit int64 ns (1970..2262); found by fuzz/targets/decoder.cc.
      if (view.start_s < 0 || view.start_s > std::numeric_limits<int64_t>::max() / 1'000'000'000 - 1) {
        return Error(frame, DecodeError::kBadValue, absl::StrCat("candle start ", view.start_s, " out of range"));
      }
      candles_.push_back(view);
    }
  }
  return absl::OkStatus();
}

}  // namespace

SA_REGISTER_DECODER("coinbase", CoinbaseDecoder)

}  // namespace sa::md::internal
