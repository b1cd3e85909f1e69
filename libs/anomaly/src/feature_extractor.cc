#include "anomaly/feature_extractor.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace sa::anomaly {

namespace mdpb = streamadmin::marketdata::v1;

namespace {

constexpr double kBps = 1e4;
constexpr size_t kMedianTrades = 256;

int64_t EventTime(const mdpb::Origin& o) { return o.exchange_time_ns() ? o.exchange_time_ns() : o.receive_time_ns(); }

bool ParseDecimal(const streamadmin::common::v1::Decimal& d, double* out) {
  return absl::SimpleAtod(d.value(), out) && std::isfinite(*out);
}

}  // namespace

const char* EventKindName(EventKind k) { return k == EventKind::kTrade ? "trade" : "quote"; }

const char* FeatureName(Feature f) {
  switch (f) {
    case Feature::kLogReturn: return "log_return";
    case Feature::kSizeRatio: return "size_ratio";
    case Feature::kTradeRate: return "trade_rate";
    case Feature::kVolumeRate: return "volume_rate";
    case Feature::kSpread: return "spread";
    case Feature::kBookImbalance: return "book_imbalance";
    case Feature::kVwapDistance: return "vwap_distance";
    case Feature::kVenueDivergence: return "venue_divergence";
    case Feature::kBurstVolume: return "burst_volume";
  }
  std::abort();
}

absl::StatusOr<Feature> ParseFeature(const std::string& name) {
  for (Feature f : kAllFeatures)
    if (name == FeatureName(f)) return f;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown feature '", name,
      "' (log_return, size_ratio, trade_rate, volume_rate, spread, book_imbalance, vwap_distance, "
      "venue_divergence, burst_volume)"));
}

std::optional<std::string> RejectReason(const std::vector<double>& values, double max_abs) {
  for (double v : values) {
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return "inf";
  }
  for (double v : values)
    if (std::fabs(v) > max_abs) return "out_of_range";
  return std::nullopt;
}

FeatureExtractor::FeatureExtractor(FeatureOptions options) : options_(std::move(options)) {}

std::vector<std::string> FeatureExtractor::FeatureNames() const {
  std::vector<std::string> out;
  for (Feature f : options_.features) out.emplace_back(FeatureName(f));
  return out;
}

FeatureExtractor::State& FeatureExtractor::StateFor(const std::string& venue, const std::string& symbol) {
  return states_[absl::StrCat(venue, "|", symbol)];
}

void FeatureExtractor::Expire(State& s, int64_t now) {
  const int64_t horizon = now - static_cast<int64_t>(options_.window_s * 1e9);
  while (!s.window.empty() && s.window.front().t < horizon) {
    const TradePoint& p = s.window.front();
    s.sum_size -= p.size;
    s.sum_pv -= p.price * p.size;
    if (p.live) {
      --s.live_count;
      s.live_size -= p.size;
    }
    s.window.pop_front();
  }
  if (s.window.empty()) s.sum_size = s.sum_pv = s.live_size = 0;  // no drift carried over
}

std::vector<double> FeatureExtractor::Compute(const State& s, const std::string& venue, const std::string& symbol,
                                             int64_t time_ns, double price, double size, bool trade,
                                             bool live) const {
  std::vector<double> values;
  values.reserve(options_.features.size());
  // Inputs that make no sense (zero or negative price) give NaN, which
  // RejectReason turns away before scoring.
  const double bad = price > 0 && size >= 0 ? 0.0 : std::nan("");
  const double prev = trade ? s.last_price : s.last_mid;
  for (Feature f : options_.features) {
    double x = 0;
    switch (f) {
      case Feature::kLogReturn:
        x = prev > 0 && price > 0 ? std::log(price / prev) * kBps : 0;
        break;
      case Feature::kSizeRatio:
        if (trade && !s.window.empty() && size > 0) {
          // Median of the latest (up to kMedianTrades) sizes: a burst does not
          // raise its own reference.
          std::vector<double> sizes;
          sizes.reserve(std::min(s.window.size(), kMedianTrades));
          for (auto it = s.window.rbegin(); it != s.window.rend() && sizes.size() < kMedianTrades; ++it)
            sizes.push_back(it->size);
          std::nth_element(sizes.begin(), sizes.begin() + sizes.size() / 2, sizes.end());
          const double median = sizes[sizes.size() / 2];
          if (median > 0) x = std::log(size / median);
        }
        break;
      case Feature::kTradeRate: {
        const int64_t short_from = time_ns - static_cast<int64_t>(options_.rate_window_s * 1e9);
        size_t recent = trade ? 1 : 0;
        for (auto it = s.window.rbegin(); it != s.window.rend() && it->t >= short_from; ++it) recent += it->live;
        // The long window covers at most the time since this key's first trade.
        double span = s.first_time ? static_cast<double>(time_ns - s.first_time) / 1e9 : 0;
        span = std::clamp(span, options_.rate_window_s, options_.window_s);
        double short_rate = static_cast<double>(recent) / options_.rate_window_s;
        double long_rate = static_cast<double>(s.live_count + (trade ? 1 : 0)) / span;
        x = std::log((short_rate + 1e-3) / (long_rate + 1e-3));
        break;
      }
      case Feature::kVolumeRate: {
        const int64_t short_from = time_ns - static_cast<int64_t>(options_.rate_window_s * 1e9);
        double recent = trade ? size : 0;
        for (auto it = s.window.rbegin(); it != s.window.rend() && it->t >= short_from; ++it)
          recent += it->live ? it->size : 0;
        double span = s.first_time ? static_cast<double>(time_ns - s.first_time) / 1e9 : 0;
        span = std::clamp(span, options_.rate_window_s, options_.window_s);
        const double long_rate = (s.live_size + (trade ? size : 0)) / span;
        if (long_rate > 0) x = std::log((recent / options_.rate_window_s + 1e-3 * long_rate) / (long_rate * (1 + 1e-3)));
        break;
      }
      case Feature::kSpread: {
        double bid = 0, ask = 0;
        if (TopOfBook(s, &bid, &ask)) x = (ask - bid) / ((ask + bid) / 2) * kBps;
        break;
      }
      case Feature::kBookImbalance: {
        double b = 0, a = 0;
        if (!s.bids.empty() && !s.asks.empty()) {
          int n = 0;
          for (auto it = s.bids.begin(); it != s.bids.end() && n < options_.imbalance_levels; ++it, ++n) b += it->second;
          n = 0;
          for (auto it = s.asks.begin(); it != s.asks.end() && n < options_.imbalance_levels; ++it, ++n) a += it->second;
        } else {
          b = s.q_bid_size;
          a = s.q_ask_size;
        }
        if (a + b > 0) x = (b - a) / (b + a);
        break;
      }
      case Feature::kVwapDistance:
        if (s.sum_size > 0 && s.sum_pv > 0) x = (price / (s.sum_pv / s.sum_size) - 1) * kBps;
        break;
      case Feature::kBurstVolume: {
        // "Now" (the last burst_window_s: live trades, this one included, but
        // the largest) against the key's volume rate before it (every trade,
        // late ones too: a snapshot of past trades tells the usual rate, but
        // is not a burst). One-sided: less volume than usual (a quiet 100 ms,
        // the rule on a sparse key) is 0, so the quiet side does not stretch
        // the feature's training range, against which a burst is measured.
        if (!s.first_time) break;
        const int64_t short_from = time_ns - static_cast<int64_t>(options_.burst_window_s * 1e9);
        const double span = std::min(static_cast<double>(short_from - s.first_own_time) / 1e9,
                                     options_.window_s - options_.burst_window_s);
        if (!(span > 0)) break;  // no history before the window yet
        const bool now = trade && live;
        double v = now ? size : 0, largest = v, v_base = 0;
        std::vector<double> sizes;
        for (auto it = s.window.rbegin(); it != s.window.rend(); ++it) {
          if (it->live && it->t >= short_from) {
            v += it->size;
            largest = std::max(largest, it->size);
          } else {
            v_base += it->size;
          }
          if (sizes.size() < kMedianTrades) sizes.push_back(it->size);
        }
        if (sizes.empty()) break;
        std::nth_element(sizes.begin(), sizes.begin() + sizes.size() / 2, sizes.end());
        const double m = sizes[sizes.size() / 2];
        if (m > 0) x = std::max(0.0, std::log((v - largest + m) / (v_base * options_.burst_window_s / span + m)));
        break;
      }
      case Feature::kVenueDivergence: {
        auto pit = prices_.find(symbol);
        if (pit == prices_.end()) break;
        std::vector<double> others;
        const int64_t max_age = static_cast<int64_t>(options_.divergence_max_age_s * 1e9);
        for (const auto& [other, vp] : pit->second)
          if (other != venue && std::llabs(time_ns - vp.t) <= max_age) others.push_back(vp.price);
        if (others.empty()) break;
        std::sort(others.begin(), others.end());
        size_t m = others.size() / 2;
        double median = others.size() % 2 ? others[m] : (others[m - 1] + others[m]) / 2;
        x = (price / median - 1) * kBps;
        break;
      }
    }
    values.push_back(x + bad);
  }
  return values;
}

bool FeatureExtractor::TopOfBook(const State& s, double* bid, double* ask) {
  if (!s.bids.empty() && !s.asks.empty()) {
    *bid = s.bids.begin()->first;
    *ask = s.asks.begin()->first;
    return true;
  }
  if (s.q_bid > 0 && s.q_ask > 0) {
    *bid = s.q_bid;
    *ask = s.q_ask;
    return true;
  }
  return false;
}

std::optional<FeatureVector> FeatureExtractor::OnTrade(const std::string& venue, const std::string& symbol,
                                                       int64_t time_ns, double price, double size) {
  State& s = StateFor(venue, symbol);
  // A trade older than the newest seen is late (Coinbase lists a snapshot of
  // past trades newest first): it counts at the newest time, and not in the
  // rates, which are about trades arriving now.
  const bool live = time_ns >= s.last_time;
  const int64_t own_time = time_ns;
  time_ns = std::max(time_ns, s.last_time);
  s.last_time = time_ns;
  Expire(s, time_ns);
  const bool have_prev = s.last_price > 0;
  FeatureVector v{venue, symbol, time_ns, EventKind::kTrade, Compute(s, venue, symbol, time_ns, price, size, true, live)};
  // A trade whose features are rejected is not remembered either, so it
  // cannot poison the windows of the next ones.
  if (!(price > 0 && size >= 0 && std::isfinite(price) && std::isfinite(size)) ||
      RejectReason(v.values, options_.max_abs_value))
    return v;
  if (!s.first_time) s.first_time = time_ns;
  if (!s.first_own_time || own_time < s.first_own_time) s.first_own_time = own_time;
  s.window.push_back({time_ns, price, size, live});
  s.sum_size += size;
  if (live) {
    ++s.live_count;
    s.live_size += size;
  }
  s.sum_pv += price * size;
  s.last_price = price;
  prices_[symbol][venue] = {price, time_ns};
  if (!have_prev) return std::nullopt;
  return v;
}

std::optional<FeatureVector> FeatureExtractor::QuoteEvent(State& s, const std::string& venue,
                                                          const std::string& symbol, int64_t time_ns) {
  double bid = 0, ask = 0;
  if (!TopOfBook(s, &bid, &ask)) return std::nullopt;
  const double mid = (bid + ask) / 2;
  if (mid == s.last_mid) return std::nullopt;  // only moves of the mid are events
  time_ns = std::max(time_ns, s.last_time);
  s.last_time = time_ns;
  Expire(s, time_ns);
  const bool have_prev = s.last_mid > 0;
  FeatureVector v{venue, symbol, time_ns, EventKind::kQuote, Compute(s, venue, symbol, time_ns, mid, 0, false, false)};
  if (!(mid > 0 && std::isfinite(mid)) || RejectReason(v.values, options_.max_abs_value)) return v;
  s.last_mid = mid;
  prices_[symbol][venue] = {mid, time_ns};
  if (!have_prev) return std::nullopt;
  return v;
}

std::optional<FeatureVector> FeatureExtractor::OnQuote(const std::string& venue, const std::string& symbol,
                                                       int64_t time_ns, double bid, double bid_size, double ask,
                                                       double ask_size) {
  State& s = StateFor(venue, symbol);
  s.q_bid = bid;
  s.q_bid_size = bid_size;
  s.q_ask = ask;
  s.q_ask_size = ask_size;
  if (!s.bids.empty() && !s.asks.empty()) return std::nullopt;  // the book is the better source
  return QuoteEvent(s, venue, symbol, time_ns);
}

std::optional<FeatureVector> FeatureExtractor::OnBook(const std::string& venue, const std::string& symbol,
                                                      int64_t time_ns, bool snapshot, const std::vector<Level>& bids,
                                                      const std::vector<Level>& asks) {
  State& s = StateFor(venue, symbol);
  if (snapshot) {
    s.bids.clear();
    s.asks.clear();
  }
  for (const Level& l : bids) {
    if (l.size > 0) s.bids[l.price] = l.size;
    else s.bids.erase(l.price);
  }
  for (const Level& l : asks) {
    if (l.size > 0) s.asks[l.price] = l.size;
    else s.asks.erase(l.price);
  }
  if (s.bids.empty() || s.asks.empty()) return std::nullopt;
  return QuoteEvent(s, venue, symbol, time_ns);
}

std::optional<FeatureExtractor::Top> FeatureExtractor::TopOf(const std::string& venue,
                                                             const std::string& symbol) const {
  auto it = states_.find(absl::StrCat(venue, "|", symbol));
  if (it == states_.end()) return std::nullopt;
  const State& s = it->second;
  if (!s.bids.empty() && !s.asks.empty())
    return Top{s.bids.begin()->first, s.bids.begin()->second, s.asks.begin()->first, s.asks.begin()->second};
  if (s.q_bid > 0 && s.q_ask > 0) return Top{s.q_bid, s.q_bid_size, s.q_ask, s.q_ask_size};
  return std::nullopt;
}

void FeatureExtractor::ResetBook(const std::string& venue, const std::string& symbol) {
  State& s = StateFor(venue, symbol);
  s.bids.clear();
  s.asks.clear();
  s.last_mid = 0;
}

absl::StatusOr<std::optional<FeatureVector>> FeatureExtractor::OnTrade(const mdpb::Trade& t) {
  double price = 0, size = 0;
  if (!ParseDecimal(t.price(), &price) || !ParseDecimal(t.size(), &size))
    return absl::InvalidArgumentError(absl::StrCat("trade ", t.origin().venue(), " ", t.origin().symbol(), " ",
                                                   t.trade_id(), ": price '", t.price().value(), "' or size '",
                                                   t.size().value(), "' is not a finite number"));
  return OnTrade(t.origin().venue(), t.origin().symbol(), EventTime(t.origin()), price, size);
}

absl::StatusOr<std::optional<FeatureVector>> FeatureExtractor::OnTicker(const mdpb::Ticker& t) {
  double bid = 0, bid_size = 0, ask = 0, ask_size = 0;
  if (!ParseDecimal(t.bid_price(), &bid) || !ParseDecimal(t.ask_price(), &ask))
    return absl::InvalidArgumentError(
        absl::StrCat("ticker ", t.origin().venue(), " ", t.origin().symbol(), ": bid or ask is not a number"));
  if (!ParseDecimal(t.bid_size(), &bid_size)) bid_size = 0;
  if (!ParseDecimal(t.ask_size(), &ask_size)) ask_size = 0;
  return OnQuote(t.origin().venue(), t.origin().symbol(), EventTime(t.origin()), bid, bid_size, ask, ask_size);
}

absl::StatusOr<std::optional<FeatureVector>> FeatureExtractor::OnBookUpdate(const mdpb::BookUpdate& b) {
  // One side's levels as numbers; the first that is not one fails the update.
  auto parse_side = [&b](const auto& levels, std::vector<Level>* out) -> absl::Status {
    out->reserve(levels.size());
    for (const auto& l : levels) {
      Level x{};
      if (!ParseDecimal(l.price(), &x.price) || !ParseDecimal(l.size(), &x.size))
        return absl::InvalidArgumentError(absl::StrCat("book ", b.origin().venue(), " ", b.origin().symbol(),
                                                       ": level '", l.price().value(), "' is not a number"));
      out->push_back(x);
    }
    return absl::OkStatus();
  };
  std::vector<Level> bids, asks;
  if (auto st = parse_side(b.bids(), &bids); !st.ok()) return st;
  if (auto st = parse_side(b.asks(), &asks); !st.ok()) return st;
  return OnBook(b.origin().venue(), b.origin().symbol(), EventTime(b.origin()), b.snapshot(), bids, asks);
}

}  // namespace sa::anomaly
