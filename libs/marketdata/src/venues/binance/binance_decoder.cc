// Binance spot WebSocket streams (combined {"stream","data"} or raw) and the
// REST bodies ingest fetches for it.
//
//  - aggTrade / trade -> Trade. `m` = "buyer is the maker", so the taker
//    (aggressor) sold when m is true: SIDE_SELL, else SIDE_BUY. trade_id is the
//    aggregate id `a` (aggTrade) or `t` (trade), verbatim.
//  - bookTicker, 24hrTicker -> Ticker.  kline -> Candle (close_time_ns is the
//    exclusive end, T + 1 ms).
//  - depthUpdate diffs (U = first, u = final update id) on top of a REST depth
//    snapshot (http frame, url .../api/v3/depth?symbol=X, lastUpdateId = L),
//    the procedure Binance documents:
//      * diffs are buffered until a snapshot arrives (up to
//        max_buffered_diffs; a book with no snapshot raises a kFetchSnapshot
//        ResyncRequest with reason "initial");
//      * diffs with u <= L are dropped (stale, counted in stale_diffs_dropped);
//      * the first diff applied must have U <= L+1 <= u, and every next one
//        U == previous u + 1; a diff with u <= previous u is a duplicate and
//        dropped. Anything else is a gap: KIND_GAP, KIND_RESYNCING, a
//        kFetchSnapshot request, and diffs are buffered again for the next
//        snapshot.
//      * a snapshot that the buffered diffs cannot bridge (first diff with
//        u > L has U > L+1: the snapshot is older than the buffer) is not
//        published; another one is requested (reason "snapshot_too_old").
//  - exchangeInfo (http) -> the symbol map (baseAsset/quoteAsset).
#include <deque>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "internal/decoder_base.h"
#include "marketdata/decoder_registry.h"
#include "marketdata/symbols.h"

namespace sa::md::internal {
namespace {

constexpr int64_t kNsPerMs = 1'000'000;

struct OwnedLevel {
  BookSide side;
  std::string price;
  std::string size;
  OrderBook::ParsedLevel parsed;
};

// A depthUpdate kept until a snapshot arrives.
struct BufferedDiff {
  uint64_t first_id = 0;  // U
  uint64_t final_id = 0;  // u
  int64_t event_time_ns = 0;
  RawFrame frame;         // origin of the diff (data left empty)
  std::vector<OwnedLevel> levels;
};

struct SyncState {
  bool bridged = false;  // the first diff after the snapshot has been applied
  std::deque<BufferedDiff> buffer;
};

// Fields of one stream payload, read in a single pass whatever their order.
// Binance reuses letters across event types ("a" is the aggregate trade id in
// aggTrade, the asks in depthUpdate, the best ask in bookTicker), so each is
// read by its JSON type.
struct Payload {
  std::string_view e;                  // event type
  std::string_view s;                  // symbol
  std::string_view p, q;               // trade price / quantity
  std::string_view a_text, b_text;     // bookTicker best ask / bid (strings)
  std::string_view a_id, t_id;         // aggTrade / trade ids (numbers, verbatim)
  std::string_view A, B;               // bookTicker sizes
  std::string_view c, v;               // 24hrTicker last price / base volume
  uint64_t E = 0, T = 0, U = 0, u = 0;
  bool has_U = false, has_u = false, has_m = false, m = false, has_levels = false;
  bool is_response = false;                // {"result": ..., "id": ...}
  std::string_view code, msg;              // {"code": ..., "msg": ...}
  // kline
  bool has_k = false;
  std::string_view k_i, k_o, k_h, k_l, k_c, k_v;
  uint64_t k_t = 0, k_T = 0, k_n = 0;
  bool k_x = false;
};

class BinanceDecoder final : public DecoderBase {
 public:
  explicit BinanceDecoder(const DecoderOptions& options)
      : DecoderBase("binance", options), rest_base_(options.binance_rest_base) {}

 protected:
  absl::Status DecodeDocument(const RawFrame& frame, od::document& doc, Sink& sink) override;
  ResyncRequest MakeResyncRequest(const TrackedBook& book) const override {
    ResyncRequest request;
    request.action = ResyncRequest::Action::kFetchSnapshot;
    request.channel = "depth";
    request.url = absl::StrCat(rest_base_, "/api/v3/depth?symbol=", book.venue_symbol,
                               "&limit=", options_.binance_snapshot_limit);
    return request;
  }
  void OnInvalidated(TrackedBook& book) override {
    SyncState& sync = sync_[book.symbol];
    sync.bridged = false;
    sync.buffer.clear();
  }

 private:
  absl::Status DecodeHttp(const RawFrame& frame, od::document& doc, Sink& sink);
  absl::Status DecodeSnapshot(const RawFrame& frame, od::document& doc, Sink& sink);
  absl::Status ReadPayload(const RawFrame& frame, od::object object, Payload* payload);
  absl::Status ReadLevels(const RawFrame& frame, od::value value, BookSide side);
  absl::Status ReadKline(const RawFrame& frame, od::value value, Payload* payload);
  absl::Status EmitPayload(const RawFrame& frame, const Payload& payload, Sink& sink);
  absl::Status OnDiff(const RawFrame& frame, const Payload& payload, Sink& sink);
  // Applies a diff to a live book or finds a gap; false when it must be buffered.
  void ApplyLive(TrackedBook& book, SyncState& sync, const RawFrame& frame, uint64_t first_id,
                 uint64_t final_id, int64_t event_time_ns, const std::vector<LevelView>& levels,
                 Sink& sink);
  void Buffer(SyncState& sync, const RawFrame& frame, uint64_t first_id, uint64_t final_id,
              int64_t event_time_ns, const std::vector<LevelView>& levels);
  const std::string& Canonical(std::string_view venue_symbol);

  BinanceSymbolMap symbol_map_;
  SymbolCache symbols_;
  absl::flat_hash_map<std::string, SyncState> sync_;       // by canonical symbol
  std::string rest_base_;
  std::vector<LevelView> levels_;  // scratch
  std::vector<LevelView> replay_levels_;
};

const std::string& BinanceDecoder::Canonical(std::string_view venue_symbol) {
  return symbols_.Get(venue_symbol, [this](absl::string_view s) { return symbol_map_.Canonical(s); });
}

absl::Status BinanceDecoder::DecodeDocument(const RawFrame& frame, od::document& doc,
                                            Sink& sink) {
  if (frame.kind == FrameKind::kHttp) return DecodeHttp(frame, doc, sink);
  // Combined stream {"stream": ..., "data": {...}}, a raw stream payload, a
  // subscription response {"result": null, "id": 1} or an error {"code","msg"}.
  od::object object;
  if (auto error = doc.get_object().get(object)) return JsonError(frame, error, "frame");
  Payload payload;
  levels_.clear();
  od::value data;
  auto error = object.find_field_unordered("data").get(data);
  if (error == simdjson::SUCCESS) {
    od::object data_object;
    if (auto e = data.get_object().get(data_object)) return JsonError(frame, e, "data");
    if (absl::Status status = ReadPayload(frame, data_object, &payload); !status.ok()) {
      return status;
    }
  } else if (error == simdjson::NO_SUCH_FIELD) {
    if (auto e = object.reset().error()) return JsonError(frame, e, "frame");
    if (absl::Status status = ReadPayload(frame, object, &payload); !status.ok()) return status;
    if (payload.e.empty() && payload.s.empty()) {
      if (!payload.msg.empty()) {
        return Error(frame, DecodeError::kVenueError,
                     absl::StrCat("error ", AV(payload.code), ": ", AV(payload.msg)));
      }
      if (payload.is_response) {
        CountSkipped();
        return absl::OkStatus();
      }
      return Error(frame, DecodeError::kUnknownMessage, "no stream payload");
    }
  } else {
    return JsonError(frame, error, "frame");
  }
  return EmitPayload(frame, payload, sink);
}

absl::Status BinanceDecoder::ReadPayload(const RawFrame& frame, od::object object,
                                         Payload* payload) {
  for (auto field : object) {
    std::string_view key;
    if (auto error = field.unescaped_key().get(key)) return JsonError(frame, error, "key");
    od::value value = field.value();
    if (key.size() != 1) {
      if (key == "result" || key == "id") {
        payload->is_response = true;
      } else if (key == "code") {
        if (auto error = RawScalarText(value, &payload->code)) {
          return JsonError(frame, error, "code");
        }
      } else if (key == "msg") {
        if (auto error = value.get_string().get(payload->msg)) return JsonError(frame, error, "msg");
      }
      continue;
    }
    simdjson::error_code error = simdjson::SUCCESS;
    switch (key[0]) {
      case 'e': error = value.get_string().get(payload->e); break;
      case 's': error = value.get_string().get(payload->s); break;
      case 'p': error = value.get_string().get(payload->p); break;
      case 'q': error = value.get_string().get(payload->q); break;
      case 'A': error = value.get_string().get(payload->A); break;
      case 'B': error = value.get_string().get(payload->B); break;
      case 'c': error = value.get_string().get(payload->c); break;
      case 'v': error = value.get_string().get(payload->v); break;
      case 'E': error = value.get_uint64().get(payload->E); break;
      case 'T': error = value.get_uint64().get(payload->T); break;
      case 'U':
        error = value.get_uint64().get(payload->U);
        payload->has_U = true;
        break;
      case 'u':
        error = value.get_uint64().get(payload->u);
        payload->has_u = true;
        break;
      case 'm':
        error = value.get_bool().get(payload->m);
        payload->has_m = true;
        break;
      case 't':
        error = RawScalarText(value, &payload->t_id);
        break;
      case 'k': {
        payload->has_k = true;
        if (absl::Status status = ReadKline(frame, value, payload); !status.ok()) return status;
        break;
      }
      case 'a':
      case 'b': {
        od::json_type type;
        if ((error = value.type().get(type))) break;
        const BookSide side = key[0] == 'a' ? BookSide::kAsk : BookSide::kBid;
        if (type == od::json_type::array) {
          payload->has_levels = true;
          if (absl::Status status = ReadLevels(frame, value, side); !status.ok()) return status;
        } else if (type == od::json_type::string) {
          error = value.get_string().get(side == BookSide::kAsk ? payload->a_text
                                                                : payload->b_text);
        } else if (key[0] == 'a') {
          error = RawScalarText(value, &payload->a_id);
        }
        break;
      }
      default:
        break;
    }
    if (error) return JsonError(frame, error, AV(key));
  }
  return absl::OkStatus();
}

absl::Status BinanceDecoder::ReadLevels(const RawFrame& frame, od::value value, BookSide side) {
  od::array levels;
  if (auto error = value.get_array().get(levels)) return JsonError(frame, error, "levels");
  for (auto element : levels) {
    od::array pair;
    if (auto error = element.get_array().get(pair)) return JsonError(frame, error, "level");
    LevelView level{side, {}, {}};
    size_t index = 0;
    for (auto item : pair) {
      if (index < 2) {
        if (auto error = item.get_string().get(index == 0 ? level.price : level.size)) {
          return JsonError(frame, error, "level");
        }
      }
      ++index;  // later elements (old API's []) are ignored
    }
    if (index < 2) return Error(frame, DecodeError::kMissingField, "level without price and size");
    if (auto st = CheckLevel(frame, "level", level.price, level.size, &level.parsed); !st.ok()) return st;
    levels_.push_back(level);
  }
  return absl::OkStatus();
}

absl::Status BinanceDecoder::ReadKline(const RawFrame& frame, od::value value, Payload* p) {
  od::object kline;
  if (auto error = value.get_object().get(kline)) return JsonError(frame, error, "k");
  for (auto field : kline) {
    std::string_view key;
    if (auto error = field.unescaped_key().get(key)) return JsonError(frame, error, "k");
    if (key.size() != 1) continue;
    od::value v = field.value();
    simdjson::error_code error = simdjson::SUCCESS;
    switch (key[0]) {
      case 't': error = v.get_uint64().get(p->k_t); break;
      case 'T': error = v.get_uint64().get(p->k_T); break;
      case 'i': error = v.get_string().get(p->k_i); break;
      case 'o': error = v.get_string().get(p->k_o); break;
      case 'h': error = v.get_string().get(p->k_h); break;
      case 'l': error = v.get_string().get(p->k_l); break;
      case 'c': error = v.get_string().get(p->k_c); break;
      case 'v': error = v.get_string().get(p->k_v); break;
      case 'n': error = v.get_uint64().get(p->k_n); break;
      case 'x': error = v.get_bool().get(p->k_x); break;
      default: break;
    }
    if (error) return JsonError(frame, error, absl::StrCat("k.", AV(key)));
  }
  return absl::OkStatus();
}

absl::Status BinanceDecoder::EmitPayload(const RawFrame& frame, const Payload& p, Sink& sink) {
  if (p.s.empty()) return Error(frame, DecodeError::kMissingField, "payload without symbol s");
  const std::string& symbol = Canonical(p.s);
  if (symbol.empty()) {
    return Error(frame, DecodeError::kBadValue,
                 absl::StrCat("cannot split symbol \"", AV(p.s), "\" into base and quote"));
  }
  const std::string_view e = p.e;
  // Times in ms must fit int64 ns (until 2262): a larger one is not a time,
  // and multiplying it overflowed (found by fuzz/targets/decoder.cc).
  constexpr uint64_t kMaxMs = std::numeric_limits<int64_t>::max() / kNsPerMs - 1;
  if (p.E > kMaxMs || p.T > kMaxMs || p.k_t > kMaxMs || p.k_T > kMaxMs) {
    return Error(frame, DecodeError::kBadValue,
                 absl::StrCat(AV(e), " time out of range (E ", p.E, ", T ", p.T, ", k.t ", p.k_t, ", k.T ", p.k_T, ")"));
  }
  if (e == "aggTrade" || e == "trade") {
    const std::string_view id = e == "aggTrade" ? p.a_id : p.t_id;
    ExactDecimal check;
    if (id.empty() || p.p.empty() || p.q.empty() || !p.has_m || p.T == 0) {
      return Error(frame, DecodeError::kMissingField, absl::StrCat(AV(e), " without id/p/q/m/T"));
    }
    if (!ParseExactDecimal(AV(p.p), &check) || !ParseExactDecimal(AV(p.q), &check)) {
      return Error(frame, DecodeError::kBadValue,
                   absl::StrCat(AV(e), " price/quantity \"", AV(p.p), "\"/\"", AV(p.q), "\""));
    }
    pb::Trade& trade = this->trade();
    FillOrigin(trade.mutable_origin(), frame, symbol, AV(p.s),
               static_cast<int64_t>(p.T) * kNsPerMs);
    trade.mutable_trade_id()->assign(id.data(), id.size());
    SetDecimal(trade.mutable_price(), p.p);
    SetDecimal(trade.mutable_size(), p.q);
    trade.set_side(p.m ? pb::SIDE_SELL : pb::SIDE_BUY);
    EmitTrade(sink);
    return absl::OkStatus();
  }
  if (e == "depthUpdate") {
    if (!p.has_U || !p.has_u || !p.has_levels) {
      return Error(frame, DecodeError::kMissingField, "depthUpdate without U/u/b/a");
    }
    return OnDiff(frame, p, sink);
  }
  if (e == "kline") {
    if (!p.has_k || p.k_i.empty() || p.k_o.empty() || p.k_c.empty() || p.k_h.empty() ||
        p.k_l.empty() || p.k_v.empty()) {
      return Error(frame, DecodeError::kMissingField, "kline without k.{i,o,h,l,c,v}");
    }
    pb::Candle& candle = this->candle();
    FillOrigin(candle.mutable_origin(), frame, symbol, AV(p.s),
               static_cast<int64_t>(p.E) * kNsPerMs);
    candle.mutable_interval()->assign(p.k_i.data(), p.k_i.size());
    candle.set_open_time_ns(static_cast<int64_t>(p.k_t) * kNsPerMs);
    candle.set_close_time_ns(static_cast<int64_t>(p.k_T + 1) * kNsPerMs);
    SetDecimal(candle.mutable_open(), p.k_o);
    SetDecimal(candle.mutable_high(), p.k_h);
    SetDecimal(candle.mutable_low(), p.k_l);
    SetDecimal(candle.mutable_close(), p.k_c);
    SetDecimal(candle.mutable_volume(), p.k_v);
    candle.set_trade_count(p.k_n);
    candle.set_closed(p.k_x);
    EmitCandle(sink);
    return absl::OkStatus();
  }
  const bool book_ticker = e.empty() && p.has_u && !p.a_text.empty() && !p.b_text.empty() &&
                           !p.A.empty() && !p.B.empty();
  if (book_ticker || e == "24hrTicker") {
    if (p.a_text.empty() || p.b_text.empty() || p.A.empty() || p.B.empty()) {
      return Error(frame, DecodeError::kMissingField, "ticker without b/B/a/A");
    }
    pb::Ticker& ticker = this->ticker();
    FillOrigin(ticker.mutable_origin(), frame, symbol, AV(p.s),
               static_cast<int64_t>(p.E) * kNsPerMs);
    SetDecimal(ticker.mutable_bid_price(), p.b_text);
    SetDecimal(ticker.mutable_bid_size(), p.B);
    SetDecimal(ticker.mutable_ask_price(), p.a_text);
    SetDecimal(ticker.mutable_ask_size(), p.A);
    if (e == "24hrTicker") {
      SetDecimal(ticker.mutable_last_price(), p.c);
      SetDecimal(ticker.mutable_volume_24h(), p.v);
    } else {
      ticker.clear_last_price();
      ticker.clear_volume_24h();
    }
    EmitTicker(sink);
    return absl::OkStatus();
  }
  return Error(frame, DecodeError::kUnknownMessage,
               absl::StrCat("event \"", AV(e), "\" is not decoded"));
}

absl::Status BinanceDecoder::OnDiff(const RawFrame& frame, const Payload& p, Sink& sink) {
  if (p.U > p.u) {
    return Error(frame, DecodeError::kBadValue,
                 absl::StrCat("depthUpdate U ", p.U, " > u ", p.u));
  }
  const std::string& symbol = Canonical(p.s);
  TrackedBook& book = GetBook(symbol, AV(p.s));
  book.conn = frame.conn;
  SyncState& sync = sync_[symbol];
  const int64_t event_time_ns = static_cast<int64_t>(p.E) * kNsPerMs;
  if (book.state == BookState::kLive) {
    ApplyLive(book, sync, frame, p.U, p.u, event_time_ns, levels_, sink);
    return absl::OkStatus();
  }
  Buffer(sync, frame, p.U, p.u, event_time_ns, levels_);
  if (book.state == BookState::kUnsynced) RequestInitialSync(book, sink);
  return absl::OkStatus();
}

void BinanceDecoder::Buffer(SyncState& sync, const RawFrame& frame, uint64_t first_id,
                            uint64_t final_id, int64_t event_time_ns,
                            const std::vector<LevelView>& levels) {
  BufferedDiff diff;
  diff.first_id = first_id;
  diff.final_id = final_id;
  diff.event_time_ns = event_time_ns;
  diff.frame.venue = frame.venue;
  diff.frame.conn = frame.conn;
  diff.frame.frame_seq = frame.frame_seq;
  diff.frame.recv_time_ns = frame.recv_time_ns;
  diff.levels.reserve(levels.size());
  for (const LevelView& level : levels) {
    diff.levels.push_back({level.side, std::string(level.price), std::string(level.size), level.parsed});
  }
  sync.buffer.push_back(std::move(diff));
  while (sync.buffer.size() > options_.max_buffered_diffs) sync.buffer.pop_front();
}

void BinanceDecoder::ApplyLive(TrackedBook& book, SyncState& sync, const RawFrame& frame,
                               uint64_t first_id, uint64_t final_id, int64_t event_time_ns,
                               const std::vector<LevelView>& levels, Sink& sink) {
  const uint64_t last = book.sequence;  // L until bridged, then the previous u
  if (final_id <= last) {
    ++stats_.stale_diffs_dropped;
    return;
  }
  const bool fits = sync.bridged ? first_id == last + 1 : first_id <= last + 1;
  if (!fits) {
    Invalidate(book, pb::VenueStatus::KIND_GAP, "gap",
               absl::StrCat(book.venue_symbol, " depthUpdate U=", first_id, " u=", final_id,
                            sync.bridged ? " after u=" : " does not bridge snapshot lastUpdateId=",
                            last),
               last + 1, first_id, &frame, sink);
    Buffer(sync, frame, first_id, final_id, event_time_ns, levels);
    return;
  }
  sync.bridged = true;
  book.sequence = final_id;
  pb::BookUpdate& update =
      StartBookUpdate(book, frame, /*snapshot=*/false, final_id, event_time_ns);
  ApplyLevels(book.book, levels, update);
  PublishBookUpdate(book, sink);
}

absl::Status BinanceDecoder::DecodeHttp(const RawFrame& frame, od::document& doc, Sink& sink) {
  if (absl::StrContains(frame.url, "/exchangeInfo")) {
    if (absl::Status status = symbol_map_.LoadExchangeInfo(frame.data); !status.ok()) {
      return Error(frame, DecodeError::kBadValue, status.message());
    }
    symbols_.Clear();
    return absl::OkStatus();
  }
  if (absl::StrContains(frame.url, "/depth")) return DecodeSnapshot(frame, doc, sink);
  return Error(frame, DecodeError::kUnsupportedFrame,
               absl::StrCat("REST response from ", frame.url, " is not decoded"));
}

absl::Status BinanceDecoder::DecodeSnapshot(const RawFrame& frame, od::document& doc,
                                            Sink& sink) {
  // The symbol is only in the request: ...?symbol=NKNUSDT&limit=1000
  const size_t at = frame.url.find("symbol=");
  if (at == std::string::npos) {
    return Error(frame, DecodeError::kMissingField,
                 absl::StrCat("depth snapshot URL without symbol: ", frame.url));
  }
  const size_t end = frame.url.find('&', at);
  const std::string venue_symbol = absl::AsciiStrToUpper(
      frame.url.substr(at + 7, end == std::string::npos ? std::string::npos : end - at - 7));
  const std::string& symbol = Canonical(venue_symbol);
  if (symbol.empty()) {
    return Error(frame, DecodeError::kBadValue,
                 absl::StrCat("cannot split symbol \"", venue_symbol, "\""));
  }
  od::object object;
  if (auto error = doc.get_object().get(object)) return JsonError(frame, error, "snapshot");
  levels_.clear();
  uint64_t last_update_id = 0;
  bool has_id = false, has_bids = false, has_asks = false;
  for (auto field : object) {
    std::string_view key;
    if (auto error = field.unescaped_key().get(key)) return JsonError(frame, error, "key");
    if (key == "lastUpdateId") {
      if (auto error = field.value().get_uint64().get(last_update_id)) {
        return JsonError(frame, error, "lastUpdateId");
      }
      has_id = true;
    } else if (key == "bids" || key == "asks") {
      (key == "bids" ? has_bids : has_asks) = true;
      absl::Status status =
          ReadLevels(frame, field.value(), key == "bids" ? BookSide::kBid : BookSide::kAsk);
      if (!status.ok()) return status;
    } else if (key == "code" || key == "msg") {
      return Error(frame, DecodeError::kVenueError, "depth snapshot request failed");
    }
  }
  if (!has_id || !has_bids || !has_asks) {
    return Error(frame, DecodeError::kMissingField, "depth snapshot without lastUpdateId/bids/asks");
  }
  // Remember where snapshots come from, for resync URLs.
  if (const size_t path = frame.url.find("/api/"); path != std::string::npos) {
    rest_base_ = frame.url.substr(0, path);
  }

  TrackedBook& book = GetBook(symbol, venue_symbol);
  SyncState& sync = sync_[symbol];
  while (!sync.buffer.empty() && sync.buffer.front().final_id <= last_update_id) {
    sync.buffer.pop_front();
    ++stats_.stale_diffs_dropped;
  }
  if (!sync.buffer.empty() && sync.buffer.front().first_id > last_update_id + 1) {
    // Older than every buffered diff (books that are not live buffer): it
    // could only be published to be found wrong by the next diff.
    RaiseResyncRequest(book, "snapshot_too_old", sink);
    return absl::OkStatus();
  }
  ReplaceLevels(book.book, levels_);
  std::deque<BufferedDiff> pending;
  pending.swap(sync.buffer);
  sync.bridged = false;
  GoLiveWithSnapshot(book, frame, last_update_id, 0, sink);
  for (BufferedDiff& diff : pending) {
    if (book.state != BookState::kLive) {
      // A gap inside the buffer: keep the rest for the next snapshot.
      sync.buffer.push_back(std::move(diff));
      continue;
    }
    replay_levels_.clear();
    for (const OwnedLevel& level : diff.levels) {
      replay_levels_.push_back({level.side, level.price, level.size, level.parsed});
    }
    ApplyLive(book, sync, diff.frame, diff.first_id, diff.final_id, diff.event_time_ns,
              replay_levels_, sink);
  }
  return absl::OkStatus();
}

}  // namespace

SA_REGISTER_DECODER("binance", BinanceDecoder)

}  // namespace sa::md::internal
