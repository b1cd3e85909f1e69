#include "marketdata/symbols.h"

#include <array>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "internal/json.h"

namespace sa::md {
namespace {

using internal::AV;

// Binance quote assets, longest first so "BUSD" wins over "USD".
constexpr std::array<absl::string_view, 25> kBinanceQuotes = {
    "FDUSD", "USDT", "BUSD", "USDC", "TUSD", "USDP", "BIDR", "IDRT", "BVND",
    "EUR",   "GBP",  "AUD",  "BRL",  "TRY",  "RUB",  "UAH",  "NGN",  "ZAR",  "DAI",
    "PAX",   "BTC",  "ETH",  "BNB",  "TRX",  "XRP"};

}  // namespace

std::string CanonicalAsset(absl::string_view venue_asset) {
  std::string asset = absl::AsciiStrToUpper(venue_asset);
  if (asset == "XBT") return "BTC";
  if (asset == "XDG") return "DOGE";
  return asset;
}

std::string JoinSymbol(absl::string_view base, absl::string_view quote) {
  return absl::StrCat(CanonicalAsset(base), "-", CanonicalAsset(quote));
}

std::string KrakenCanonicalSymbol(absl::string_view ws_pair) {
  const size_t slash = ws_pair.find('/');
  if (slash == absl::string_view::npos || slash == 0 || slash + 1 == ws_pair.size()) return "";
  return JoinSymbol(ws_pair.substr(0, slash), ws_pair.substr(slash + 1));
}

std::string CoinbaseCanonicalSymbol(absl::string_view product_id) {
  return absl::AsciiStrToUpper(product_id);
}

std::string BinanceCanonicalFromSuffix(absl::string_view venue_symbol) {
  const std::string upper = absl::AsciiStrToUpper(venue_symbol);
  const absl::string_view s(upper);
  for (absl::string_view quote : kBinanceQuotes) {
    if (s.size() > quote.size() && absl::EndsWith(s, quote)) {
      return JoinSymbol(s.substr(0, s.size() - quote.size()), quote);
    }
  }
  return "";
}

void BinanceSymbolMap::Add(absl::string_view symbol, absl::string_view base,
                           absl::string_view quote) {
  canonical_[absl::AsciiStrToUpper(symbol)] = JoinSymbol(base, quote);
}

absl::Status BinanceSymbolMap::LoadExchangeInfo(absl::string_view json) {
  internal::PaddedInput input;
  simdjson::ondemand::parser parser;
  simdjson::ondemand::document doc;
  auto fail = [](absl::string_view what, simdjson::error_code error) {
    return absl::InvalidArgumentError(absl::StrCat("binance exchangeInfo: ", what, ": ",
                                                   simdjson::error_message(error)));
  };
  if (auto error = parser.iterate(input.Copy(json.data(), json.size())).get(doc)) {
    return fail("not JSON", error);
  }
  simdjson::ondemand::array symbols;
  if (auto error = doc["symbols"].get_array().get(symbols)) return fail("symbols", error);
  size_t index = 0;
  for (auto element : symbols) {
    simdjson::ondemand::object entry;
    if (auto error = element.get_object().get(entry)) {
      return fail(absl::StrCat("symbols[", index, "]"), error);
    }
    // get_string views stay valid until the parser parses another document.
    std::string_view symbol, base, quote;
    if (auto error = entry["symbol"].get_string().get(symbol)) {
      return fail(absl::StrCat("symbols[", index, "].symbol"), error);
    }
    if (auto error = entry["baseAsset"].get_string().get(base)) {
      return fail(absl::StrCat("symbols[", index, "].baseAsset"), error);
    }
    if (auto error = entry["quoteAsset"].get_string().get(quote)) {
      return fail(absl::StrCat("symbols[", index, "].quoteAsset"), error);
    }
    Add(AV(symbol), AV(base), AV(quote));
    ++index;
  }
  return absl::OkStatus();
}

std::string BinanceSymbolMap::Canonical(absl::string_view venue_symbol) const {
  const std::string upper = absl::AsciiStrToUpper(venue_symbol);
  if (auto it = canonical_.find(upper); it != canonical_.end()) return it->second;
  return BinanceCanonicalFromSuffix(upper);
}

}  // namespace sa::md
