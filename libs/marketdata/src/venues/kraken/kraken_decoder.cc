// Kraken WebSocket API v1 (wss://ws.kraken.com): trade, ticker, book-<depth>.
//
// Data frames are arrays [channelID, payload..., channelName, pair]; event
// frames are objects {"event": ...}. The channel name comes after the payload,
// so the two trailing strings are read from the end of the text first (and
// checked against the parse) to know how to read the payload in one pass.
//
// Books: snapshot {"as","bs"}, updates {"a"} / {"b"} / both in two objects,
// level [price, volume, time(, "r" = republish)], "c" = CRC32 of the top 10
// levels after the update (see kraken_checksum.h). After each update the book
// is truncated to the subscribed depth (from "book-<depth>"); levels dropped by
// truncation are published as deletions. Kraken v1 has no sequence numbers: the
// checksum is the oracle, and a mismatch means resync (resubscribe).
//
// Trades: [price, volume, time, side, orderType, misc]; side "b"/"s" is the
// taker's (Kraken: "triggering order side"). v1 trades have no trade id, so
// Trade.trade_id is empty.
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "internal/decoder_base.h"
#include "marketdata/decoder_registry.h"
#include "marketdata/symbols.h"
#include "venues/kraken/kraken_checksum.h"

namespace sa::md::internal {
namespace {

bool IsJsonSpace(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

size_t SkipSpaceBack(std::string_view text, size_t end) {
  while (end > 0 && IsJsonSpace(text[end - 1])) --end;
  return end;
}

// The raw contents of the JSON string whose closing quote is text[end - 1];
// *begin is set to its opening quote.
bool StringBefore(std::string_view text, size_t end, std::string_view* raw, size_t* begin) {
  if (end < 2 || text[end - 1] != '"') return false;
  size_t search = end - 1;
  while (search > 0) {
    const size_t quote = text.rfind('"', search - 1);
    if (quote == std::string_view::npos) return false;
    size_t backslashes = 0;
    while (quote > backslashes && text[quote - 1 - backslashes] == '\\') ++backslashes;
    if (backslashes % 2 == 0) {
      *raw = text.substr(quote + 1, end - 2 - quote);
      *begin = quote;
      return true;
    }
    search = quote;
  }
  return false;
}

// Undoes the only escape Kraken names may carry ("\/").
bool Unescape(std::string_view raw, std::string* buffer, std::string_view* out) {
  if (raw.find('\\') == std::string_view::npos) {
    *out = raw;
    return true;
  }
  buffer->clear();
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '\\') {
      if (i + 1 >= raw.size() || raw[i + 1] != '/') return false;
      ++i;
    }
    buffer->push_back(raw[i]);
  }
  *out = *buffer;
  return true;
}

enum class Channel { kTrade, kTicker, kBook, kOther };

Channel ClassifyChannel(std::string_view name, int* depth) {
  if (name == "trade") return Channel::kTrade;
  if (name == "ticker") return Channel::kTicker;
  if (name.substr(0, 4) == "book") {
    *depth = 10;  // Kraken's default
    if (name.size() > 5 && name[4] == '-' && !absl::SimpleAtoi(AV(name.substr(5)), depth)) {
      return Channel::kOther;
    }
    return *depth > 0 ? Channel::kBook : Channel::kOther;
  }
  return Channel::kOther;
}

struct PendingTrade {
  std::string_view price;
  std::string_view size;
  int64_t time_ns = 0;
  pb::Side side = pb::SIDE_UNSPECIFIED;
};

class KrakenDecoder final : public DecoderBase {
 public:
  explicit KrakenDecoder(const DecoderOptions& options) : DecoderBase("kraken", options) {}

 protected:
  absl::Status DecodeDocument(const RawFrame& frame, od::document& doc, Sink& sink) override;

  ResyncRequest MakeResyncRequest(const TrackedBook& book) const override { return Resubscribe("book", book.depth); }

  void ForgetConnection(absl::string_view conn) override { channels_.erase(conn); }
  // Kraken books carry their own state (levels, depth; the checksum is over
  // the levels); channel ids are only checked when known.
  bool SupportsCheckpoints() const override { return true; }

 private:
  absl::Status DecodeEvent(const RawFrame& frame, od::document& doc);
  absl::Status ReadTrades(const RawFrame& frame, od::value value);
  absl::Status ReadTicker(const RawFrame& frame, od::value value);
  absl::Status ReadBookPayload(const RawFrame& frame, od::value value);
  absl::Status ReadLevels(const RawFrame& frame, od::value value, BookSide side,
                          std::string_view key);
  absl::Status ApplyBook(const RawFrame& frame, std::string_view pair, const std::string& symbol,
                         int depth, Sink& sink);
  const std::string& Canonical(std::string_view pair);

  SymbolCache symbols_;
  // conn -> channelID -> pair, from subscriptionStatus.
  absl::flat_hash_map<std::string, absl::flat_hash_map<uint64_t, std::string>> channels_;

  // Per-frame scratch (views into the parser's buffers), reused.
  std::string channel_buffer_;
  std::string pair_buffer_;
  std::vector<PendingTrade> trades_;
  std::vector<LevelView> levels_;
  bool book_snapshot_ = false;
  bool has_checksum_ = false;
  std::string_view checksum_;
  int64_t book_time_ns_ = 0;
  TickerTexts ticker_fields_;
};

const std::string& KrakenDecoder::Canonical(std::string_view pair) {
  return symbols_.Get(pair, [](absl::string_view p) { return KrakenCanonicalSymbol(p); });
}

absl::Status KrakenDecoder::DecodeDocument(const RawFrame& frame, od::document& doc,
                                           Sink& sink) {
  if (frame.kind == FrameKind::kHttp) {
    CountSkipped();  // REST bodies (AssetPairs): the WS pair names are enough
    return absl::OkStatus();
  }
  od::json_type type;
  if (auto error = doc.type().get(type)) return JsonError(frame, error, "frame");
  if (type == od::json_type::object) return DecodeEvent(frame, doc);
  if (type != od::json_type::array) {
    return Error(frame, DecodeError::kUnknownMessage, "neither an event object nor a data array");
  }

  // Trailing "channelName","pair"].
  const std::string_view text = frame.data;
  size_t end = SkipSpaceBack(text, text.size());
  if (end == 0 || text[end - 1] != ']') {
    return Error(frame, DecodeError::kTruncated, "data array does not end with ']'");
  }
  std::string_view raw_pair, raw_channel, pair, channel_name;
  size_t begin = 0;
  end = SkipSpaceBack(text, end - 1);
  bool tail_ok = StringBefore(text, end, &raw_pair, &begin);
  if (tail_ok) {
    end = SkipSpaceBack(text, begin);
    tail_ok = end > 0 && text[end - 1] == ',' &&
              StringBefore(text, SkipSpaceBack(text, end - 1), &raw_channel, &begin);
  }
  if (!tail_ok || !Unescape(raw_pair, &pair_buffer_, &pair) ||
      !Unescape(raw_channel, &channel_buffer_, &channel_name)) {
    return Error(frame, DecodeError::kUnknownMessage,
                 "data array does not end with channel name and pair");
  }
  int depth = 0;
  const Channel channel = ClassifyChannel(channel_name, &depth);
  if (channel == Channel::kOther) {
    return Error(frame, DecodeError::kUnknownChannel,
                 absl::StrCat("channel \"", AV(channel_name), "\" is not decoded"));
  }

  trades_.clear();
  levels_.clear();
  book_snapshot_ = false;
  has_checksum_ = false;
  book_time_ns_ = 0;
  ticker_fields_ = {};

  od::array array;
  if (auto error = doc.get_array().get(array)) return JsonError(frame, error, "frame");
  uint64_t channel_id = 0;
  size_t index = 0;
  int payloads = 0;
  std::string_view names[2];
  int name_count = 0;
  for (auto element : array) {
    od::value value;
    if (auto error = element.get(value)) return JsonError(frame, error, "data array");
    if (index++ == 0) {
      if (auto error = value.get_uint64().get(channel_id)) {
        return JsonError(frame, error, "channel id");
      }
      continue;
    }
    od::json_type element_type;
    if (auto error = value.type().get(element_type)) return JsonError(frame, error, "data array");
    if (element_type == od::json_type::string) {
      if (name_count == 2) {
        return Error(frame, DecodeError::kUnknownMessage, "more than two names in data array");
      }
      if (auto error = value.get_string().get(names[name_count++])) {
        return JsonError(frame, error, "channel name");
      }
      continue;
    }
    if (name_count > 0) {
      return Error(frame, DecodeError::kUnknownMessage, "payload after the channel name");
    }
    ++payloads;
    absl::Status status;
    switch (channel) {
      case Channel::kTrade: status = ReadTrades(frame, value); break;
      case Channel::kTicker: status = ReadTicker(frame, value); break;
      case Channel::kBook: status = ReadBookPayload(frame, value); break;
      case Channel::kOther: break;
    }
    if (!status.ok()) return status;
  }
  if (name_count != 2 || names[0] != channel_name || names[1] != pair) {
    return Error(frame, DecodeError::kUnknownMessage, "data array names do not match its tail");
  }
  if (payloads == 0 || (channel != Channel::kBook && payloads != 1) || payloads > 2) {
    return Error(frame, DecodeError::kUnknownMessage,
                 absl::StrCat(payloads, " payloads in a ", AV(channel_name), " frame"));
  }
  if (auto it = channels_.find(frame.conn); it != channels_.end()) {
    auto known = it->second.find(channel_id);
    if (known != it->second.end() && known->second != pair) {
      return Error(frame, DecodeError::kUnknownChannel,
                   absl::StrCat("channel id ", channel_id, " is subscribed to ", known->second,
                                ", not ", AV(pair)));
    }
  }

  const std::string& symbol = Canonical(pair);
  if (symbol.empty()) {
    return Error(frame, DecodeError::kBadValue,
                 absl::StrCat("pair \"", AV(pair), "\" is not BASE/QUOTE"));
  }
  switch (channel) {
    case Channel::kTrade:
      for (const PendingTrade& pending : trades_) {
        pb::Trade& trade = this->trade();
        FillOrigin(trade.mutable_origin(), frame, symbol, AV(pair), pending.time_ns);
        trade.clear_trade_id();
        SetDecimal(trade.mutable_price(), pending.price);
        SetDecimal(trade.mutable_size(), pending.size);
        trade.set_side(pending.side);
        EmitTrade(sink);
      }
      return absl::OkStatus();
    case Channel::kTicker:
      EmitTicker(frame, symbol, AV(pair), 0, ticker_fields_, sink);
      return absl::OkStatus();
    case Channel::kBook:
      return ApplyBook(frame, pair, symbol, depth, sink);
    case Channel::kOther:
      break;
  }
  return absl::OkStatus();
}

absl::Status KrakenDecoder::ReadTrades(const RawFrame& frame, od::value value) {
  od::array trades;
  if (auto error = value.get_array().get(trades)) return JsonError(frame, error, "trades");
  for (auto element : trades) {
    od::array fields;
    if (auto error = element.get_array().get(fields)) return JsonError(frame, error, "trade");
    PendingTrade trade;
    std::string_view time, side;
    size_t index = 0;
    for (auto field : fields) {
      std::string_view* target = nullptr;
      switch (index++) {
        case 0: target = &trade.price; break;
        case 1: target = &trade.size; break;
        case 2: target = &time; break;
        case 3: target = &side; break;
        default: break;
      }
      if (target == nullptr) continue;
      if (auto error = field.get_string().get(*target)) return JsonError(frame, error, "trade field");
    }
    if (index < 4) return Error(frame, DecodeError::kMissingField, "trade with fewer than 4 fields");
    ExactDecimal check;
    if (!ParseExactDecimal(AV(trade.price), &check) || !ParseExactDecimal(AV(trade.size), &check)) {
      return Error(frame, DecodeError::kBadValue,
                   absl::StrCat("trade price/volume \"", AV(trade.price), "\"/\"",
                                AV(trade.size), "\" not decimal"));
    }
    if (!ParseDecimalSecondsToNs(AV(time), &trade.time_ns)) {
      return Error(frame, DecodeError::kBadValue,
                   absl::StrCat("trade time \"", AV(time), "\""));
    }
    if (side == "b") {
      trade.side = pb::SIDE_BUY;
    } else if (side == "s") {
      trade.side = pb::SIDE_SELL;
    } else {
      return Error(frame, DecodeError::kBadValue, absl::StrCat("trade side \"", AV(side), "\""));
    }
    trades_.push_back(trade);
  }
  if (trades_.empty()) return Error(frame, DecodeError::kMissingField, "empty trade list");
  return absl::OkStatus();
}

absl::Status KrakenDecoder::ReadTicker(const RawFrame& frame, od::value value) {
  od::object object;
  if (auto error = value.get_object().get(object)) return JsonError(frame, error, "ticker");
  int seen = 0;
  for (auto field : object) {
    std::string_view key;
    if (auto error = field.unescaped_key().get(key)) return JsonError(frame, error, "ticker key");
    std::string_view* first = nullptr;   // element 0
    std::string_view* second = nullptr;  // element 1 (c, v) or 2 (a, b)
    size_t second_index = 2;
    if (key == "a") {
      first = &ticker_fields_.ask, second = &ticker_fields_.ask_size;
    } else if (key == "b") {
      first = &ticker_fields_.bid, second = &ticker_fields_.bid_size;
    } else if (key == "c") {
      first = &ticker_fields_.last;
    } else if (key == "v") {
      second = &ticker_fields_.volume_24h, second_index = 1;  // [today, last 24 hours]
    } else {
      continue;
    }
    ++seen;
    od::array values;
    if (auto error = field.value().get_array().get(values)) {
      return JsonError(frame, error, absl::StrCat("ticker ", AV(key)));
    }
    size_t index = 0;
    for (auto element : values) {
      std::string_view* target =
          index == 0 ? first : (index == second_index ? second : nullptr);
      ++index;
      if (target == nullptr) continue;
      if (auto error = element.get_string().get(*target)) {
        return JsonError(frame, error, absl::StrCat("ticker ", AV(key)));
      }
    }
  }
  if (seen != 4 || ticker_fields_.bid.empty() || ticker_fields_.ask.empty() || ticker_fields_.last.empty() ||
      ticker_fields_.volume_24h.empty()) {
    return Error(frame, DecodeError::kMissingField, "ticker without a, b, c and v");
  }
  return absl::OkStatus();
}

absl::Status KrakenDecoder::ReadLevels(const RawFrame& frame, od::value value, BookSide side,
                                       std::string_view key) {
  od::array levels;
  if (auto error = value.get_array().get(levels)) return JsonError(frame, error, AV(key));
  for (auto element : levels) {
    od::array fields;
    if (auto error = element.get_array().get(fields)) return JsonError(frame, error, AV(key));
    LevelView level{side, {}, {}};
    std::string_view time;
    size_t index = 0;
    for (auto field : fields) {
      std::string_view text;
      if (auto error = field.get_string().get(text)) return JsonError(frame, error, AV(key));
      switch (index++) {
        case 0: level.price = text; break;
        case 1: level.size = text; break;
        case 2: time = text; break;
        case 3:
          if (!KeyIs(text, "r")) {
            return Error(frame, DecodeError::kBadValue,
                         absl::StrCat("level flag \"", AV(text), "\" (only \"r\" is known)"));
          }
          break;
        default:
          return Error(frame, DecodeError::kBadValue, "book level with more than 4 fields");
      }
    }
    if (index < 3) return Error(frame, DecodeError::kMissingField, "book level with < 3 fields");
    if (auto st = CheckLevel(frame, "book level", level.price, level.size, &level.parsed); !st.ok()) return st;
    int64_t time_ns = 0;
    if (!ParseDecimalSecondsToNs(AV(time), &time_ns)) {
      return Error(frame, DecodeError::kBadValue, absl::StrCat("level time \"", AV(time), "\""));
    }
    if (time_ns > book_time_ns_) book_time_ns_ = time_ns;
    levels_.push_back(level);
  }
  return absl::OkStatus();
}

absl::Status KrakenDecoder::ReadBookPayload(const RawFrame& frame, od::value value) {
  od::object object;
  if (auto error = value.get_object().get(object)) return JsonError(frame, error, "book payload");
  for (auto field : object) {
    std::string_view key;
    if (auto error = KeyText(field, &key)) return JsonError(frame, error, "book key");
    absl::Status status;
    if (KeyIs(key, "as") || KeyIs(key, "bs")) {
      book_snapshot_ = true;
      status = ReadLevels(frame, field.value(), key[0] == 'a' ? BookSide::kAsk : BookSide::kBid, key);
    } else if (KeyIs(key, "a") || KeyIs(key, "b")) {
      status = ReadLevels(frame, field.value(), key[0] == 'a' ? BookSide::kAsk : BookSide::kBid, key);
    } else if (KeyIs(key, "c")) {
      has_checksum_ = true;
      if (auto error = field.value().get_string().get(checksum_)) {
        return JsonError(frame, error, "checksum");
      }
    } else {
      return Error(frame, DecodeError::kUnknownMessage,
                   absl::StrCat("book payload key \"", AV(key), "\""));
    }
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status KrakenDecoder::ApplyBook(const RawFrame& frame, std::string_view pair,
                                      const std::string& symbol, int depth, Sink& sink) {
  uint32_t venue_checksum = 0;
  if (has_checksum_ && !absl::SimpleAtoi(AV(checksum_), &venue_checksum)) {
    return Error(frame, DecodeError::kBadValue,
                 absl::StrCat("checksum \"", AV(checksum_), "\" is not a uint32"));
  }
  TrackedBook& book = GetBook(symbol, AV(pair));
  if (book_snapshot_) {
    book.conn = frame.conn;
    book.depth = depth;
    ReplaceLevels(book.book, levels_);
    book.book.Truncate(static_cast<size_t>(depth));
    GoLiveWithSnapshot(book, frame, 0, book_time_ns_, sink);
    return absl::OkStatus();
  }
  if (book.state != BookState::kLive) {
    if (book.state == BookState::kUnsynced) {
      book.conn = frame.conn;
      book.depth = depth;
      Invalidate(book, pb::VenueStatus::KIND_GAP, "gap",
                 absl::StrCat(book.venue_symbol, " book update before any snapshot"), 0, 0, &frame,
                 sink);
    }
    CountDroppedOutOfSync();
    return absl::OkStatus();
  }
  pb::BookUpdate& update = StartBookUpdate(book, frame, /*snapshot=*/false, 0, book_time_ns_);
  ApplyLevels(book.book, levels_, update);
  book.book.Truncate(static_cast<size_t>(book.depth), [&](BookSide side, const OrderBook::Level& level) {
    pb::BookLevel* out = AddLevel(update, side);
    SetDecimal(out->mutable_price(), level.price);
    SetDecimal(out->mutable_size(), "0");
  });
  if (has_checksum_) {
    const uint32_t ours = KrakenBookChecksum(book.book);
    if (ours != venue_checksum) {
      Invalidate(book, pb::VenueStatus::KIND_CHECKSUM_MISMATCH, "checksum_mismatch",
                 absl::StrCat(book.venue_symbol, " checksum: venue ", venue_checksum, ", book ",
                              ours),
                 venue_checksum, ours, &frame, sink);
      return absl::OkStatus();
    }
    ++stats_.checksums_verified;
  }
  PublishBookUpdate(book, sink);
  return absl::OkStatus();
}

absl::Status KrakenDecoder::DecodeEvent(const RawFrame& frame, od::document& doc) {
  od::object object;
  if (auto error = doc.get_object().get(object)) return JsonError(frame, error, "event");
  std::string_view event, status, pair, error_message;
  uint64_t channel_id = 0;
  bool has_channel_id = false;
  for (auto field : object) {
    std::string_view key;
    if (auto error = field.unescaped_key().get(key)) return JsonError(frame, error, "event key");
    std::string_view* target = nullptr;
    if (key == "event") {
      target = &event;
    } else if (key == "status") {
      target = &status;
    } else if (key == "pair") {
      target = &pair;
    } else if (key == "errorMessage") {
      target = &error_message;
    } else if (key == "channelID") {
      if (auto error = field.value().get_uint64().get(channel_id)) {
        return JsonError(frame, error, "channelID");
      }
      has_channel_id = true;
    }
    if (target != nullptr) {
      if (auto error = field.value().get_string().get(*target)) return JsonError(frame, error, AV(key));
    }
  }
  if (event == "heartbeat" || event == "pong" || event == "systemStatus") {
    CountSkipped();
    return absl::OkStatus();
  }
  if (event == "subscriptionStatus") {
    if (status == "error") {
      return Error(frame, DecodeError::kVenueError,
                   absl::StrCat("subscription error for ", AV(pair), ": ", AV(error_message)));
    }
    if (has_channel_id) {
      auto& channels = channels_[frame.conn];
      if (status == "subscribed") {
        channels[channel_id] = std::string(pair);
      } else if (status == "unsubscribed") {
        channels.erase(channel_id);
      }
    }
    CountSkipped();
    return absl::OkStatus();
  }
  if (event == "error") {
    return Error(frame, DecodeError::kVenueError, absl::StrCat("error: ", AV(error_message)));
  }
  return Error(frame, DecodeError::kUnknownMessage,
               absl::StrCat("event \"", AV(event), "\" is not decoded"));
}

}  // namespace

SA_REGISTER_DECODER("kraken", KrakenDecoder)

}  // namespace sa::md::internal
