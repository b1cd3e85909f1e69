// Venue subscription builders: from (venue, channels, symbols) to the
// WebSocket endpoint and the exact subscribe messages the venue expects, plus
// REST snapshot URLs where the venue needs them (Binance depth).
//
// Symbols are canonical BASE-QUOTE upper case ("BTC-USD"); channels are the
// venue's own names (they differ too much to map usefully). Builders register
// by venue name; adding a venue is one new builder and one Register() call.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace sa::sources {

struct SubscriptionRequest {
  std::string venue;                  // "coinbase", "coinbase-exchange", "binance", "kraken"
  std::vector<std::string> channels;  // venue channel names, see README
  std::vector<std::string> symbols;   // canonical BASE-QUOTE
  int book_depth = 1000;              // kraken "book" depth (10, 25, 100, 500, 1000)
  // binance: false = combined-stream URL (/stream?streams=a/b/...), true =
  // plain /ws endpoint + {"method":"SUBSCRIBE"} messages.
  bool binance_subscribe_method = false;
};

struct SnapshotEndpoint {
  std::string symbol;  // canonical
  std::string url;     // full https URL
};

struct VenuePlan {
  std::string venue;
  std::string url;                              // wss://...
  std::vector<std::string> subscribe_messages;  // in sending order
  std::vector<SnapshotEndpoint> snapshots;      // fetched after (re)subscribing
  double subscribe_rate_per_sec = 5.0;          // what the venue tolerates
};

using VenueBuilder = std::function<absl::StatusOr<VenuePlan>(const SubscriptionRequest&)>;

// Threading: thread-safe.
class VenueRegistry {
 public:
  // With "coinbase" (Advanced Trade), "coinbase-exchange", "binance" and
  // "kraken" registered.
  static VenueRegistry& Default();

  absl::Status Register(const std::string& venue, VenueBuilder builder);
  // NotFound for an unknown venue, InvalidArgument for an unknown channel or a
  // malformed symbol.
  absl::StatusOr<VenuePlan> Build(const SubscriptionRequest& request) const;
  std::vector<std::string> Venues() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, VenueBuilder> builders_;
};

// The builders themselves, usable directly.
absl::StatusOr<VenuePlan> BuildCoinbaseAdvancedTrade(const SubscriptionRequest& request);
absl::StatusOr<VenuePlan> BuildCoinbaseExchange(const SubscriptionRequest& request);
absl::StatusOr<VenuePlan> BuildBinance(const SubscriptionRequest& request);
absl::StatusOr<VenuePlan> BuildKraken(const SubscriptionRequest& request);

// Symbol helpers. "BTC-USD" -> "XBT/USD" (Kraken WS v1 also renames DOGE -> XDG).
absl::StatusOr<std::string> KrakenWsPair(const std::string& canonical);
// "BTC-USDT" -> "BTCUSDT"; lower case for stream names.
absl::StatusOr<std::string> BinanceSymbol(const std::string& canonical);

}  // namespace sa::sources
