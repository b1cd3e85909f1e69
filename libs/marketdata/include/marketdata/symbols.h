// Canonical symbols: BASE-QUOTE in upper case ("BTC-USD"), whatever the venue
// calls the pair. Origin.venue_symbol keeps the venue's own name.
#pragma once

#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace sa::md {

// Venue asset codes that differ from the common ones: Kraken's XBT -> BTC,
// XDG -> DOGE. Upper-cases; anything else is returned as is.
std::string CanonicalAsset(absl::string_view venue_asset);

// "BASE" + "QUOTE" -> "BASE-QUOTE" with CanonicalAsset applied to both.
std::string JoinSymbol(absl::string_view base, absl::string_view quote);

// Kraken WS pair names "XBT/USD" -> "BTC-USD". Empty when there is no '/'.
std::string KrakenCanonicalSymbol(absl::string_view ws_pair);

// Coinbase product ids are already BASE-QUOTE; this only upper-cases.
std::string CoinbaseCanonicalSymbol(absl::string_view product_id);

// Binance concatenates assets ("BTCUSDT", lower case in stream names). The
// exchangeInfo REST response (baseAsset / quoteAsset per symbol) is the truth;
// without it, known quote-asset suffixes are tried, longest first.
class BinanceSymbolMap {
 public:
  // Loads `symbols[].{symbol, baseAsset, quoteAsset}` from a GET
  // /api/v3/exchangeInfo body. InvalidArgument names what is malformed.
  absl::Status LoadExchangeInfo(absl::string_view json);
  void Add(absl::string_view symbol, absl::string_view base, absl::string_view quote);

  // "NKNUSDT" / "nknusdt" -> "NKN-USDT"; empty when neither exchangeInfo nor a
  // known quote suffix splits it.
  std::string Canonical(absl::string_view venue_symbol) const;
  size_t size() const { return canonical_.size(); }

 private:
  absl::flat_hash_map<std::string, std::string> canonical_;  // upper-case venue symbol -> canonical
};

// The quote-suffix fallback alone.
std::string BinanceCanonicalFromSuffix(absl::string_view venue_symbol);

}  // namespace sa::md
