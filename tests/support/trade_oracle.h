// The trades a recording holds, read straight from its JSON with a parser and
// rules written apart from the decoders under test (nlohmann::json here,
// simdjson on-demand there), so a test can compare what MD stored with what
// the venue sent, trade by trade.
//
// Identity: (venue, venue symbol, venue trade id). Kraken v1 trades carry no
// id, so theirs is (venue symbol, price text, volume text, time, side); two
// such trades can be equal, so the oracle is a multiset.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "bus/connection.h"
#include "e2e_util.h"
#include "streamadmin/marketdata/v1/marketdata.pb.h"

namespace sa::e2e {

// A bundled recording (shared/fixtures/exchanges) and the venue it feeds.
struct Recording {
  const char* file;
  const char* venue;
};
inline constexpr Recording kRecordings[] = {{"kraken.jsonl.zst", "kraken"},
                                            {"binance.jsonl.zst", "binance"},
                                            {"coinbase-exchange.jsonl.zst", "coinbase-exchange"},
                                            {"coinbase-advanced-trade.jsonl.zst", "coinbase"}};

// Ingest's `sources:` replaying every recording of `recordings` (each named
// r-<venue>) at `speed` (see ReplaySourceYaml).
inline std::string ReplayRecordingsYaml(const std::string& speed, std::span<const Recording> recordings = kRecordings) {
  std::string yaml = "sources:\n";
  for (const Recording& r : recordings) yaml += ReplaySourceYaml(absl::StrCat("r-", r.venue), r.file, speed);
  return yaml;
}

// key -> how many times the venue sent that trade (1 for every venue with ids).
using TradeMultiset = std::map<std::string, int>;

// Every trade of the recording `path` (.jsonl.zst) for `venue` (coinbase,
// coinbase-exchange, binance, kraken). Trades with ids that the venue sent
// twice (a snapshot overlapping an update) count once: MD keeps one per id.
absl::StatusOr<TradeMultiset> TradesInRecording(const std::string& path, const std::string& venue);

// The same key for a canonical trade from MD.
std::string TradeKeyOf(const streamadmin::marketdata::v1::Trade& t);

// "a != b" listing the first differences ("missing k (want 1, got 0)"), or "".
std::string DiffTrades(const TradeMultiset& want, const TradeMultiset& got, size_t max_lines = 20);

// The trades stream MD holds, read whole: their oracle keys (TradeKeyOf), and
// each one's warehouse key "venue|symbol|trade id" (the MD message id for a
// trade without a venue id, as the sink stores it).
struct StoredTrades {
  TradeMultiset keys;
  std::set<std::string> warehouse_keys;
  size_t count = 0;
};
// nullopt when a stored message is not a Trade.
std::optional<StoredTrades> ReadStoredTrades(bus::Connection& conn);

}  // namespace sa::e2e
