// FeatureExtractor: turns canonical market data into feature vectors per
// (venue, symbol), over sliding windows of event time. Two kinds of events
// yield a vector: a trade (price p = the trade price), and a quote event, a
// move of the mid of the book (or of the ticker's top when there is no book),
// with p = the mid.
//
// Features (names as in config; every one is scale-free, so one model can
// serve every symbol):
//   log_return        ln(p / previous p of the same kind, venue and symbol), in bps
//   size_ratio        ln(size / median size of the trades in the last window_s,
//                     at most the latest 256); 0 for quotes
//   trade_rate        ln((trades/s over rate_window_s + 1e-3) / (trades/s over window_s + 1e-3));
//                     the long window spans at most the time since the key's first trade;
//                     late trades (older than the newest seen) are not counted
//   volume_rate       the same ratio for traded volume (size), ln((v_short + e) / (v_long + e)),
//                     e = 1e-3 x the long rate (0 when there is no volume at all)
//   spread            (ask - bid) / mid of the book top (ticker top as fallback), in bps
//   book_imbalance    (bid size - ask size) / (bid size + ask size) over the top
//                     imbalance_levels levels of the book (ticker top as fallback)
//   vwap_distance     (p / VWAP of the trades of the last window_s - 1), in bps
//   venue_divergence  (p / median of the other venues' latest p for the same
//                     symbol, seen within divergence_max_age_s - 1), in bps
//   burst_volume      ln((v + m) / (v_expected + m)): v = size of the live trades of the
//                     last burst_window_s (this one included) but their largest (one big
//                     trade is size_ratio's business; a burst is a cluster of trades
//                     carrying much volume); v_expected = the key's traded size before that
//                     window (live trades older than it, and late ones: a snapshot of past
//                     trades tells the usual rate but is no burst) per second, over at most
//                     window_s - burst_window_s back to the oldest own event time of the
//                     key's trades, times burst_window_s; m = median size of the window's
//                     trades (the latest 256, as size_ratio); at least 0 (less volume
//                     than usual is no burst). 0 until that span is > 0.
// A feature whose input is not known yet (no book, no other venue, no trade
// in the window) is 0, its neutral value. The first event of each kind of a
// venue+symbol yields no vector (no return yet).
//
// Event time is the venue's time when given, else the receive time; per
// venue+symbol it never goes back (an older event counts at the newest time
// seen). Not thread-safe: one thread feeds it.
#pragma once

#include <cstdint>
#include <deque>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "streamadmin/marketdata/v1/marketdata.pb.h"

namespace sa::anomaly {

enum class Feature {
  kLogReturn,
  kSizeRatio,
  kTradeRate,
  kVolumeRate,
  kSpread,
  kBookImbalance,
  kVwapDistance,
  kVenueDivergence,
  kBurstVolume
};

inline constexpr Feature kAllFeatures[] = {Feature::kLogReturn,    Feature::kSizeRatio,     Feature::kTradeRate,
                                           Feature::kVolumeRate,   Feature::kSpread,        Feature::kBookImbalance,
                                           Feature::kVwapDistance, Feature::kVenueDivergence,
                                           Feature::kBurstVolume};

const char* FeatureName(Feature f);
absl::StatusOr<Feature> ParseFeature(const std::string& name);

struct FeatureOptions {
  std::vector<Feature> features{std::begin(kAllFeatures), std::end(kAllFeatures)};
  double window_s = 60;             // sizes, VWAP, long trade rate
  double rate_window_s = 1;         // short trade and volume rates
  double burst_window_s = 0.1;      // burst_volume: the "now" window
  int imbalance_levels = 5;
  double divergence_max_age_s = 10;
  // An event whose features RejectReason turns away (beyond +-max_abs_value,
  // NaN, inf) is returned but not remembered: the next event is measured
  // against the last good one.
  double max_abs_value = 1e5;
};

enum class EventKind { kTrade, kQuote };
const char* EventKindName(EventKind k);

struct FeatureVector {
  std::string venue;
  std::string symbol;
  int64_t event_time_ns = 0;
  EventKind kind = EventKind::kTrade;
  std::vector<double> values;  // in FeatureOptions::features order
};

class FeatureExtractor {
 public:
  explicit FeatureExtractor(FeatureOptions options);

  // Plain inputs (prices and sizes already parsed). Each returns the event's
  // feature vector, if it is one, computed against the windows before it.
  std::optional<FeatureVector> OnTrade(const std::string& venue, const std::string& symbol, int64_t time_ns,
                                       double price, double size);
  std::optional<FeatureVector> OnQuote(const std::string& venue, const std::string& symbol, int64_t time_ns, double bid, double bid_size,
               double ask, double ask_size);
  struct Level {
    double price;
    double size;  // 0 removes the level
  };
  std::optional<FeatureVector> OnBook(const std::string& venue, const std::string& symbol, int64_t time_ns, bool snapshot,
              const std::vector<Level>& bids, const std::vector<Level>& asks);
  // Forgets a book (it is resyncing; its next update is a snapshot).
  void ResetBook(const std::string& venue, const std::string& symbol);

  // Canonical messages; decimals that do not parse are an InvalidArgument.
  absl::StatusOr<std::optional<FeatureVector>> OnTrade(const streamadmin::marketdata::v1::Trade& t);
  absl::StatusOr<std::optional<FeatureVector>> OnTicker(const streamadmin::marketdata::v1::Ticker& t);
  absl::StatusOr<std::optional<FeatureVector>> OnBookUpdate(const streamadmin::marketdata::v1::BookUpdate& b);

  struct Top {
    double bid, bid_size, ask, ask_size;
  };
  // The top of the book (ticker top as fallback), if both sides are known.
  std::optional<Top> TopOf(const std::string& venue, const std::string& symbol) const;

  const FeatureOptions& options() const { return options_; }
  std::vector<std::string> FeatureNames() const;
  size_t keys() const { return states_.size(); }

 private:
  struct TradePoint {
    int64_t t;
    double price, size;
    bool live;  // arrived in time order (late trades are left out of the rates)
  };
  struct State {
    std::deque<TradePoint> window;  // last window_s of trades
    double sum_size = 0, sum_pv = 0;
    size_t live_count = 0;
    double live_size = 0;
    double last_price = 0;  // last trade
    double last_mid = 0;    // last quote event
    int64_t first_time = 0;
    int64_t first_own_time = 0;  // oldest own event time of a trade (burst baseline)
    int64_t last_time = std::numeric_limits<int64_t>::min();  // newest event time seen: the clock never goes back
    std::map<double, double, std::greater<>> bids;
    std::map<double, double> asks;
    double q_bid = 0, q_bid_size = 0, q_ask = 0, q_ask_size = 0;  // ticker top
  };
  struct VenuePrice {
    double price;
    int64_t t;
  };
  State& StateFor(const std::string& venue, const std::string& symbol);
  void Expire(State& s, int64_t now);
  static bool TopOfBook(const State& s, double* bid, double* ask);
  std::vector<double> Compute(const State& s, const std::string& venue, const std::string& symbol, int64_t time_ns,
                              double price, double size, bool trade, bool live) const;
  std::optional<FeatureVector> QuoteEvent(State& s, const std::string& venue, const std::string& symbol,
                                          int64_t time_ns);

  FeatureOptions options_;
  absl::flat_hash_map<std::string, State> states_;  // "venue|symbol"
  absl::flat_hash_map<std::string, std::map<std::string, VenuePrice>> prices_;  // symbol -> venue -> latest
};

// Why a feature vector is not scored; values from a bounded set for metrics.
// Returns nullopt for a valid vector: every value finite and |value| <= max_abs.
std::optional<std::string> RejectReason(const std::vector<double>& values, double max_abs);

}  // namespace sa::anomaly
