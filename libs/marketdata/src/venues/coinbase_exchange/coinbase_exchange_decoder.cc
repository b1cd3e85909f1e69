// Coinbase Exchange WebSocket feed (legacy "ws-feed.pro.coinbase.com"),
// venue name "coinbase-exchange": channels level2, ticker, matches.
//
// Gap rules (what the feed makes detectable):
//  - level2 (snapshot + l2update) carries NO sequence number: a lost l2update
//    cannot be seen in the level2 stream itself.
//  - match / last_match carry a per-product trade_id that increases by exactly
//    1 per trade (and a per-product `sequence` shared with all order events,
//    which skips numbers legitimately since only matches are subscribed). So a
//    match whose trade_id is not previous + 1 means the connection lost a
//    frame: KIND_GAP, and - because the same connection carries level2 and
//    Coinbase drops messages for a slow consumer without saying which - every
//    book fed by that connection is resynced (kResubscribe "level2"). A
//    trade_id or sequence that goes backwards is rejected (kOutOfOrder).
//    last_match (sent on subscribe) sets the baseline; an already seen one is
//    skipped as a duplicate.
//  - ticker carries trade_id and sequence too, but Coinbase batches tickers
//    under load, so skipped ids are legitimate; only going backwards is
//    rejected.
//  - An l2update/snapshot frame that cannot be decoded is a lost book update:
//    the product's book (or, if the product is unknown, every book of the
//    conn) is resynced.
//
// Sides: in match, `side` is the MAKER order side ("sell" = a resting ask was
// lifted, an up-tick), so the taker (Trade.side) is the opposite. In ticker,
// `side` is the taker side (Coinbase docs; the recording's ticker/last_match
// pairs for one trade_id always show opposite sides).
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

struct Message {
  std::string_view type, product, trade_id, price, size, side, time;
  std::string_view best_bid, best_ask, best_bid_size, best_ask_size, volume_24h, message;
  uint64_t sequence = 0;
  bool has_sequence = false, has_levels = false;
};

struct ProductState {
  std::string conn;
  uint64_t last_trade_id = 0;  // 0: no baseline
  uint64_t last_match_sequence = 0;
  uint64_t last_ticker_sequence = 0;
};

class CoinbaseExchangeDecoder final : public DecoderBase {
 public:
  explicit CoinbaseExchangeDecoder(const DecoderOptions& options)
      : DecoderBase("coinbase-exchange", options) {}

 protected:
  absl::Status DecodeDocument(const RawFrame& frame, od::document& doc, Sink& sink) override;
  ResyncRequest MakeResyncRequest(const TrackedBook& book) const override { return Resubscribe("level2"); }
  void ForgetConnection(absl::string_view conn) override {
    for (auto it = products_.begin(); it != products_.end();) {
      if (it->second.conn == conn) {
        products_.erase(it++);
      } else {
        ++it;
      }
    }
  }

 private:
  absl::Status Read(const RawFrame& frame, od::document& doc, Message* message);
  absl::Status ReadLevels(const RawFrame& frame, od::value value, BookSide side, bool changes);
  absl::Status OnBook(const RawFrame& frame, const Message& message, Sink& sink);
  absl::Status OnMatch(const RawFrame& frame, const Message& message, Sink& sink);
  absl::Status OnTicker(const RawFrame& frame, const Message& message, Sink& sink);
  const std::string& Canonical(std::string_view product);

  SymbolCache symbols_;
  absl::flat_hash_map<std::string, ProductState> products_;
  std::vector<LevelView> levels_;
};

const std::string& CoinbaseExchangeDecoder::Canonical(std::string_view product) {
  return symbols_.Get(product, [](absl::string_view p) { return CoinbaseCanonicalSymbol(p); });
}

absl::Status CoinbaseExchangeDecoder::Read(const RawFrame& frame, od::document& doc,
                                           Message* m) {
  od::object object;
  if (auto error = doc.get_object().get(object)) return JsonError(frame, error, "frame");
  levels_.clear();
  for (auto field : object) {
    std::string_view key;
    if (auto error = KeyText(field, &key)) return JsonError(frame, error, "key");
    od::value value = field.value();
    // Dispatched on the key's length first: one or two comparisons per key.
    std::string_view* text = nullptr;
    bool is_levels = false;
    switch (key.size()) {
      case 4:
        text = KeyIs(key, "type")   ? &m->type
               : KeyIs(key, "size") ? &m->size
               : KeyIs(key, "side") ? &m->side
               : KeyIs(key, "time") ? &m->time
                                    : nullptr;
        is_levels = KeyIs(key, "bids") || KeyIs(key, "asks");
        break;
      case 5:
        text = KeyIs(key, "price") ? &m->price : nullptr;
        break;
      case 7:
        text = KeyIs(key, "message") ? &m->message : nullptr;
        is_levels = KeyIs(key, "changes");
        break;
      case 8:
        text = KeyIs(key, "best_bid") ? &m->best_bid : KeyIs(key, "best_ask") ? &m->best_ask : nullptr;
        break;
      case 10:
        text = KeyIs(key, "product_id") ? &m->product : KeyIs(key, "volume_24h") ? &m->volume_24h : nullptr;
        break;
      case 13:
        text = KeyIs(key, "best_bid_size")   ? &m->best_bid_size
               : KeyIs(key, "best_ask_size") ? &m->best_ask_size
                                             : nullptr;
        break;
      default:
        break;
    }
    if (text != nullptr) {
      if (auto error = value.get_string().get(*text)) return JsonError(frame, error, AV(key));
    } else if (KeyIs(key, "trade_id")) {
      if (auto error = RawScalarText(value, &m->trade_id)) {
        return JsonError(frame, error, "trade_id");
      }
    } else if (KeyIs(key, "sequence")) {
      if (auto error = value.get_uint64().get(m->sequence)) {
        return JsonError(frame, error, "sequence");
      }
      m->has_sequence = true;
    } else if (is_levels) {
      m->has_levels = true;
      absl::Status status =
          ReadLevels(frame, value, KeyIs(key, "asks") ? BookSide::kAsk : BookSide::kBid, KeyIs(key, "changes"));
      if (!status.ok()) return status;
    }
  }
  return absl::OkStatus();
}

absl::Status CoinbaseExchangeDecoder::ReadLevels(const RawFrame& frame, od::value value,
                                                 BookSide side, bool changes) {
  od::array levels;
  if (auto error = value.get_array().get(levels)) return JsonError(frame, error, "levels");
  for (auto element : levels) {
    od::array items;
    if (auto error = element.get_array().get(items)) return JsonError(frame, error, "level");
    LevelView level{side, {}, {}};
    std::string_view parts[3];
    size_t index = 0;
    for (auto item : items) {
      if (index < 3) {
        if (auto error = item.get_string().get(parts[index])) {
          return JsonError(frame, error, "level");
        }
      }
      ++index;
    }
    // changes: [side, price, size]; snapshot bids/asks: [price, size].
    if (changes) {
      if (index < 3) return Error(frame, DecodeError::kMissingField, "change without side/price/size");
      if (KeyIs(parts[0], "buy")) {
        level.side = BookSide::kBid;
      } else if (KeyIs(parts[0], "sell")) {
        level.side = BookSide::kAsk;
      } else {
        return Error(frame, DecodeError::kBadValue, absl::StrCat("change side \"", AV(parts[0]), "\""));
      }
      level.price = parts[1];
      level.size = parts[2];
    } else {
      if (index < 2) return Error(frame, DecodeError::kMissingField, "level without price/size");
      level.price = parts[0];
      level.size = parts[1];
    }
    if (auto st = CheckLevel(frame, "level", level.price, level.size, &level.parsed); !st.ok()) return st;
    levels_.push_back(level);
  }
  return absl::OkStatus();
}

absl::Status CoinbaseExchangeDecoder::DecodeDocument(const RawFrame& frame, od::document& doc,
                                                     Sink& sink) {
  if (frame.kind == FrameKind::kHttp) {
    CountSkipped();
    return absl::OkStatus();
  }
  Message message;
  absl::Status status = Read(frame, doc, &message);
  const std::string_view type = message.type;
  if (!status.ok()) {
    // A lost book update cannot be seen later (no sequence in level2).
    if (type == "l2update" || type == "snapshot") {
      TrackedBook* book = message.product.empty() ? nullptr : FindBook(Canonical(message.product));
      const std::string detail = absl::StrCat("undecodable ", AV(type), ": ", status.message());
      if (book != nullptr) {
        Invalidate(*book, pb::VenueStatus::KIND_GAP, "gap", detail, 0, 0, &frame, sink);
      } else {
        InvalidateConn(frame.conn, pb::VenueStatus::KIND_GAP, "gap", detail, 0, 0, &frame, sink);
      }
    }
    return status;
  }
  if (type == "l2update" || type == "snapshot") return OnBook(frame, message, sink);
  if (type == "match" || type == "last_match") return OnMatch(frame, message, sink);
  if (type == "ticker") return OnTicker(frame, message, sink);
  if (type == "subscriptions" || type == "heartbeat" || type == "status") {
    CountSkipped();
    return absl::OkStatus();
  }
  if (type == "error") {
    return Error(frame, DecodeError::kVenueError, absl::StrCat("error: ", AV(message.message)));
  }
  if (type.empty()) return Error(frame, DecodeError::kUnknownMessage, "message without type");
  return Error(frame, DecodeError::kUnknownMessage,
               absl::StrCat("type \"", AV(type), "\" is not decoded"));
}

absl::Status CoinbaseExchangeDecoder::OnBook(const RawFrame& frame, const Message& m,
                                             Sink& sink) {
  if (m.product.empty() || !m.has_levels) {
    return Error(frame, DecodeError::kMissingField,
                 absl::StrCat(AV(m.type), " without product_id/levels"));
  }
  int64_t time_ns = 0;
  if (!m.time.empty() && !ParseRfc3339ToNs(AV(m.time), &time_ns)) {
    return Error(frame, DecodeError::kBadValue, absl::StrCat("time \"", AV(m.time), "\""));
  }
  TrackedBook& book = GetBook(Canonical(m.product), AV(m.product));
  book.conn = frame.conn;
  if (m.type == "snapshot") {
    ReplaceLevels(book.book, levels_);
    GoLiveWithSnapshot(book, frame, 0, time_ns, sink);
    return absl::OkStatus();
  }
  if (book.state != BookState::kLive) {
    if (book.state == BookState::kUnsynced) {
      Invalidate(book, pb::VenueStatus::KIND_GAP, "gap",
                 absl::StrCat(book.venue_symbol, " l2update before any snapshot"), 0, 0, &frame,
                 sink);
    }
    CountDroppedOutOfSync();
    return absl::OkStatus();
  }
  pb::BookUpdate& update = StartBookUpdate(book, frame, false, 0, time_ns);
  ApplyLevels(book.book, levels_, update);
  PublishBookUpdate(book, sink);
  return absl::OkStatus();
}

absl::Status CoinbaseExchangeDecoder::OnMatch(const RawFrame& frame, const Message& m,
                                              Sink& sink) {
  uint64_t trade_id = 0;
  if (m.product.empty() || m.price.empty() || m.size.empty() || m.side.empty() ||
      !m.has_sequence) {
    return Error(frame, DecodeError::kMissingField,
                 absl::StrCat(AV(m.type), " without product_id/price/size/side/sequence"));
  }
  if (!absl::SimpleAtoi(AV(m.trade_id), &trade_id) || trade_id == 0) {
    return Error(frame, DecodeError::kBadValue, absl::StrCat("trade_id \"", AV(m.trade_id), "\""));
  }
  ExactDecimal check;
  if (!ParseExactDecimal(AV(m.price), &check) || !ParseExactDecimal(AV(m.size), &check)) {
    return Error(frame, DecodeError::kBadValue,
                 absl::StrCat("price/size \"", AV(m.price), "\"/\"", AV(m.size), "\""));
  }
  int64_t time_ns = 0;
  if (!ParseRfc3339ToNs(AV(m.time), &time_ns)) {
    return Error(frame, DecodeError::kBadValue, absl::StrCat("time \"", AV(m.time), "\""));
  }
  pb::Side taker;
  if (m.side == "buy") {
    taker = pb::SIDE_SELL;  // a resting bid was hit
  } else if (m.side == "sell") {
    taker = pb::SIDE_BUY;   // a resting ask was lifted
  } else {
    return Error(frame, DecodeError::kBadValue, absl::StrCat("side \"", AV(m.side), "\""));
  }

  auto it = products_.find(AV(m.product));
  if (it == products_.end()) it = products_.emplace(std::string(m.product), ProductState()).first;
  ProductState& state = it->second;
  state.conn = frame.conn;
  if (m.type == "last_match") {
    if (state.last_trade_id != 0 && trade_id <= state.last_trade_id) {
      CountSkipped();  // replayed on (re)subscribe, already seen
      return absl::OkStatus();
    }
  } else if (state.last_trade_id != 0) {
    if (trade_id <= state.last_trade_id || m.sequence <= state.last_match_sequence) {
      return Error(frame, DecodeError::kOutOfOrder,
                   absl::StrCat(AV(m.product), " match trade_id ", trade_id, " sequence ",
                                m.sequence, " after trade_id ", state.last_trade_id,
                                " sequence ", state.last_match_sequence));
    }
    if (trade_id != state.last_trade_id + 1) {
      InvalidateConn(frame.conn, pb::VenueStatus::KIND_GAP, "gap",
                     absl::StrCat(AV(m.product), " match trade_id jumped from ",
                                  state.last_trade_id, " to ", trade_id),
                     state.last_trade_id + 1, trade_id, &frame, sink);
    }
  }
  state.last_trade_id = trade_id;
  state.last_match_sequence = m.sequence;

  pb::Trade& trade = this->trade();
  FillOrigin(trade.mutable_origin(), frame, Canonical(m.product), AV(m.product), time_ns);
  trade.mutable_trade_id()->assign(m.trade_id.data(), m.trade_id.size());
  SetDecimal(trade.mutable_price(), m.price);
  SetDecimal(trade.mutable_size(), m.size);
  trade.set_side(taker);
  EmitTrade(sink);
  return absl::OkStatus();
}

absl::Status CoinbaseExchangeDecoder::OnTicker(const RawFrame& frame, const Message& m,
                                               Sink& sink) {
  if (m.product.empty() || m.price.empty() || m.best_bid.empty() || m.best_ask.empty()) {
    return Error(frame, DecodeError::kMissingField,
                 "ticker without product_id/price/best_bid/best_ask");
  }
  int64_t time_ns = 0;
  if (!m.time.empty() && !ParseRfc3339ToNs(AV(m.time), &time_ns)) {
    return Error(frame, DecodeError::kBadValue, absl::StrCat("time \"", AV(m.time), "\""));
  }
  if (m.has_sequence) {
    auto it = products_.find(AV(m.product));
    if (it == products_.end()) it = products_.emplace(std::string(m.product), ProductState()).first;
    ProductState& state = it->second;
    state.conn = frame.conn;
    if (m.sequence <= state.last_ticker_sequence) {
      return Error(frame, DecodeError::kOutOfOrder,
                   absl::StrCat(AV(m.product), " ticker sequence ", m.sequence, " after ",
                                state.last_ticker_sequence));
    }
    state.last_ticker_sequence = m.sequence;
  }
  pb::Ticker& ticker = this->ticker();
  FillOrigin(ticker.mutable_origin(), frame, Canonical(m.product), AV(m.product), time_ns);
  SetDecimal(ticker.mutable_bid_price(), m.best_bid);
  SetDecimal(ticker.mutable_ask_price(), m.best_ask);
  if (m.best_bid_size.empty()) {
    ticker.clear_bid_size();  // the 2021 feed has no sizes
  } else {
    SetDecimal(ticker.mutable_bid_size(), m.best_bid_size);
  }
  if (m.best_ask_size.empty()) {
    ticker.clear_ask_size();
  } else {
    SetDecimal(ticker.mutable_ask_size(), m.best_ask_size);
  }
  SetDecimal(ticker.mutable_last_price(), m.price);
  if (m.volume_24h.empty()) {
    ticker.clear_volume_24h();
  } else {
    SetDecimal(ticker.mutable_volume_24h(), m.volume_24h);
  }
  EmitTicker(sink);
  return absl::OkStatus();
}

}  // namespace

SA_REGISTER_DECODER("coinbase-exchange", CoinbaseExchangeDecoder)

}  // namespace sa::md::internal
