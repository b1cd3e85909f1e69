#include "sources/venue_subscriptions.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace sa::sources {
namespace {

// ordered_json keeps keys in insertion order, which is the order the venues'
// documentation (and the recordings) use.
using OJson = nlohmann::ordered_json;

struct CanonicalSymbol {
  std::string base;
  std::string quote;
};

absl::StatusOr<CanonicalSymbol> SplitSymbol(const std::string& symbol) {
  const size_t dash = symbol.find('-');
  auto valid = [](const std::string& s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) {
      return std::isupper(c) || std::isdigit(c);
    });
  };
  if (dash == std::string::npos || symbol.find('-', dash + 1) != std::string::npos ||
      !valid(symbol.substr(0, dash)) || !valid(symbol.substr(dash + 1))) {
    return absl::InvalidArgumentError(
        absl::StrCat("symbol '", symbol, "': expected canonical BASE-QUOTE upper case"));
  }
  return CanonicalSymbol{symbol.substr(0, dash), symbol.substr(dash + 1)};
}

absl::Status CheckCommon(const SubscriptionRequest& r) {
  if (r.channels.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("venue '", r.venue, "': no channels"));
  }
  if (r.symbols.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("venue '", r.venue, "': no symbols"));
  }
  for (const auto& s : r.symbols) {
    auto split = SplitSymbol(s);
    if (!split.ok()) return split.status();
  }
  return absl::OkStatus();
}

absl::Status CheckChannel(const std::string& venue, const std::string& channel,
                          const std::set<std::string>& allowed) {
  if (allowed.count(channel) != 0) return absl::OkStatus();
  std::vector<std::string> names(allowed.begin(), allowed.end());
  return absl::InvalidArgumentError(absl::StrCat("venue '", venue, "': unknown channel '", channel,
                                                 "' (known: ", absl::StrJoin(names, ", "), ")"));
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

bool IsBinanceChannel(const std::string& c) {
  static const std::set<std::string> kFixed = {"aggTrade",    "trade",       "bookTicker",
                                               "ticker",      "miniTicker",  "depth",
                                               "depth@100ms", "depth@1000ms"};
  static const std::set<std::string> kKline = {"1s", "1m", "3m", "5m",  "15m", "30m", "1h", "2h",
                                               "4h", "6h", "8h", "12h", "1d",  "3d",  "1w", "1M"};
  static const std::set<std::string> kPartial = {"depth5",       "depth10",       "depth20",
                                                 "depth5@100ms", "depth10@100ms", "depth20@100ms"};
  if (kFixed.count(c) || kPartial.count(c)) return true;
  return c.rfind("kline_", 0) == 0 && kKline.count(c.substr(6)) != 0;
}

// Diff-depth streams need a REST snapshot to start from; partial-depth streams
// (depth5/10/20) are snapshots themselves.
bool IsBinanceDiffDepth(const std::string& c) {
  return c == "depth" || c == "depth@100ms" || c == "depth@1000ms";
}

}  // namespace

absl::StatusOr<std::string> KrakenWsPair(const std::string& canonical) {
  auto split = SplitSymbol(canonical);
  if (!split.ok()) return split.status();
  auto map = [](const std::string& asset) -> std::string {
    if (asset == "BTC") return "XBT";
    if (asset == "DOGE") return "XDG";
    return asset;
  };
  return absl::StrCat(map(split->base), "/", map(split->quote));
}

absl::StatusOr<std::string> BinanceSymbol(const std::string& canonical) {
  auto split = SplitSymbol(canonical);
  if (!split.ok()) return split.status();
  return absl::StrCat(split->base, split->quote);
}

// Both Coinbase feeds: one {"type":"subscribe","product_ids":[...],...}
// message per channel, at most 5 a second; `set_channel` names the channel in
// the message the way the feed wants it.
absl::StatusOr<VenuePlan> BuildCoinbasePlan(const SubscriptionRequest& r, const std::set<std::string>& channels,
                                            const std::string& url,
                                            void (*set_channel)(OJson& msg, const std::string& channel)) {
  if (auto st = CheckCommon(r); !st.ok()) return st;
  VenuePlan plan;
  plan.venue = r.venue;
  plan.url = url;
  plan.subscribe_rate_per_sec = 5.0;
  for (const auto& channel : r.channels) {
    if (auto st = CheckChannel(r.venue, channel, channels); !st.ok()) return st;
    OJson msg;
    msg["type"] = "subscribe";
    msg["product_ids"] = r.symbols;
    set_channel(msg, channel);
    plan.subscribe_messages.push_back(msg.dump());
  }
  return plan;
}

absl::StatusOr<VenuePlan> BuildCoinbaseAdvancedTrade(const SubscriptionRequest& r) {
  static const std::set<std::string> kChannels = {"market_trades", "ticker",     "ticker_batch", "level2",
                                                  "candles",       "heartbeats", "status"};
  return BuildCoinbasePlan(r, kChannels, "wss://advanced-trade-ws.coinbase.com",
                           [](OJson& msg, const std::string& channel) { msg["channel"] = channel; });
}

absl::StatusOr<VenuePlan> BuildCoinbaseExchange(const SubscriptionRequest& r) {
  static const std::set<std::string> kChannels = {
      "ticker", "ticker_batch", "matches", "level2", "level2_batch", "heartbeat", "status", "full"};
  return BuildCoinbasePlan(r, kChannels, "wss://ws-feed.exchange.coinbase.com",
                           [](OJson& msg, const std::string& channel) { msg["channels"] = OJson::array({channel}); });
}

absl::StatusOr<VenuePlan> BuildBinance(const SubscriptionRequest& r) {
  if (auto st = CheckCommon(r); !st.ok()) return st;
  constexpr size_t kMaxStreams = 1024;        // per connection, venue limit
  constexpr size_t kStreamsPerMessage = 200;  // SUBSCRIBE params per message
  VenuePlan plan;
  plan.venue = r.venue;
  // Binance counts pings and control messages against 5 messages/s.
  plan.subscribe_rate_per_sec = 4.0;
  std::vector<std::string> streams;
  bool diff_depth = false;
  for (const auto& channel : r.channels) {
    if (!IsBinanceChannel(channel)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "venue '", r.venue, "': unknown channel '", channel,
          "' (known: aggTrade, trade, bookTicker, ticker, miniTicker, depth, depth@100ms, "
          "depth@1000ms, depth5/10/20[@100ms], kline_<interval>)"));
    }
    diff_depth = diff_depth || IsBinanceDiffDepth(channel);
    for (const auto& symbol : r.symbols) {
      auto s = BinanceSymbol(symbol);
      if (!s.ok()) return s.status();
      streams.push_back(absl::StrCat(Lower(*s), "@", channel));
    }
  }
  if (streams.size() > kMaxStreams) {
    return absl::InvalidArgumentError(absl::StrCat("venue '", r.venue, "': ", streams.size(),
                                                   " streams exceed the per-connection limit of ",
                                                   kMaxStreams));
  }
  if (r.binance_subscribe_method) {
    plan.url = "wss://stream.binance.com:9443/stream";
    int id = 1;
    for (size_t i = 0; i < streams.size(); i += kStreamsPerMessage) {
      OJson msg;
      msg["method"] = "SUBSCRIBE";
      msg["params"] = std::vector<std::string>(
          streams.begin() + i, streams.begin() + std::min(streams.size(), i + kStreamsPerMessage));
      msg["id"] = id++;
      plan.subscribe_messages.push_back(msg.dump());
    }
  } else {
    plan.url =
        absl::StrCat("wss://stream.binance.com:9443/stream?streams=", absl::StrJoin(streams, "/"));
  }
  if (diff_depth) {
    for (const auto& symbol : r.symbols) {
      auto s = BinanceSymbol(symbol);
      if (!s.ok()) return s.status();
      plan.snapshots.push_back({symbol, absl::StrCat("https://api.binance.com/api/v3/depth?symbol=",
                                                     *s, "&limit=1000")});
    }
  }
  return plan;
}

absl::StatusOr<VenuePlan> BuildKraken(const SubscriptionRequest& r) {
  if (auto st = CheckCommon(r); !st.ok()) return st;
  static const std::set<std::string> kChannels = {"trade", "ticker", "book", "spread", "ohlc"};
  static const std::set<int> kDepths = {10, 25, 100, 500, 1000};
  VenuePlan plan;
  plan.venue = r.venue;
  plan.url = "wss://ws.kraken.com";
  plan.subscribe_rate_per_sec = 5.0;
  std::vector<std::string> pairs;
  for (const auto& symbol : r.symbols) {
    auto pair = KrakenWsPair(symbol);
    if (!pair.ok()) return pair.status();
    pairs.push_back(*pair);
  }
  for (const auto& channel : r.channels) {
    if (auto st = CheckChannel(r.venue, channel, kChannels); !st.ok()) return st;
    OJson msg;
    msg["event"] = "subscribe";
    msg["pair"] = pairs;
    OJson sub;
    sub["name"] = channel;
    if (channel == "book") {
      if (kDepths.count(r.book_depth) == 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "venue '", r.venue, "': book_depth ", r.book_depth, " not one of 10/25/100/500/1000"));
      }
      sub["depth"] = r.book_depth;
    }
    msg["subscription"] = std::move(sub);
    plan.subscribe_messages.push_back(msg.dump());
  }
  return plan;
}

VenueRegistry& VenueRegistry::Default() {
  static VenueRegistry* registry = [] {
    auto* r = new VenueRegistry();
    (void)r->Register("coinbase", BuildCoinbaseAdvancedTrade);
    (void)r->Register("coinbase-exchange", BuildCoinbaseExchange);
    (void)r->Register("binance", BuildBinance);
    (void)r->Register("kraken", BuildKraken);
    return r;
  }();
  return *registry;
}

absl::Status VenueRegistry::Register(const std::string& venue, VenueBuilder builder) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!builders_.emplace(venue, std::move(builder)).second) {
    return absl::AlreadyExistsError(absl::StrCat("venue builder '", venue, "' already registered"));
  }
  return absl::OkStatus();
}

absl::StatusOr<VenuePlan> VenueRegistry::Build(const SubscriptionRequest& request) const {
  VenueBuilder builder;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = builders_.find(request.venue);
    if (it == builders_.end()) {
      std::vector<std::string> names;
      for (const auto& [name, _] : builders_) names.push_back(name);
      return absl::NotFoundError(absl::StrCat("no subscription builder for venue '", request.venue,
                                              "' (known: ", absl::StrJoin(names, ", "), ")"));
    }
    builder = it->second;
  }
  return builder(request);
}

std::vector<std::string> VenueRegistry::Venues() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> names;
  for (const auto& [name, _] : builders_) names.push_back(name);
  return names;
}

}  // namespace sa::sources
