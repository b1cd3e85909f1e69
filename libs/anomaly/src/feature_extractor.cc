#include "anomaly/feature_extractor.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace sa::anomaly {

namespace mdpb = streamadmin::marketdata::v1;

namespace {

constexpr double kBps = 1e4;

int64_t EventTime(const mdpb::Origin& o) { return o.exchange_time_ns() ? o.exchange_time_ns() : o.receive_time_ns(); }

bool ParseDecimal(const streamadmin::common::v1::Decimal& d, double* out) {
  return absl::SimpleAtod(d.value(), out) && std::isfinite(*out);
}

}  // namespace

const char* FeatureName(Feature f) {
  switch (f) {
    case Feature::kLogReturn: return "log_return";
    case Feature::kSizeRatio: return "size_ratio";
    case Feature::kTradeRate: return "trade_rate";
    case Feature::kSpread: return "spread";
    case Feature::kBookImbalance: return "book_imbalance";
    case Feature::kVwapDistance: return "vwap_distance";
    case Feature::kVenueDivergence: return "venue_divergence";
  }
  std::abort();
}

absl::StatusOr<Feature> ParseFeature(const std::string& name) {
  for (Feature f : kAllFeatures)
    if (name == FeatureName(f)) return f;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown feature '", name,
      "' (log_return, size_ratio, trade_rate, spread, book_imbalance, vwap_distance, venue_divergence)"));
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
    s.sum_size -= s.window.front().size;
    s.sum_pv -= s.window.front().price * s.window.front().size;
    s.window.pop_front();
  }
  if (s.window.empty()) s.sum_size = s.sum_pv = 0;  // no drift carried over
}

std::optional<FeatureVector> FeatureExtractor::OnTrade(const std::string& venue, const std::string& symbol,
                                                       int64_t time_ns, double price, double size) {
  State& s = StateFor(venue, symbol);
  Expire(s, time_ns);
  const double prev = s.last_price;
  const bool have_prev = prev > 0;

  FeatureVector v;
  v.venue = venue;
  v.symbol = symbol;
  v.event_time_ns = time_ns;
  v.values.reserve(options_.features.size());
  // Inputs that make no sense (zero or negative price) give NaN, which
  // RejectReason turns away before scoring.
  const double bad = price > 0 && size >= 0 ? 0.0 : std::nan("");
  for (Feature f : options_.features) {
    double x = 0;
    switch (f) {
      case Feature::kLogReturn:
        x = have_prev && price > 0 ? std::log(price / prev) * kBps : 0;
        break;
      case Feature::kSizeRatio:
        if (!s.window.empty() && s.sum_size > 0 && size > 0)
          x = std::log(size / (s.sum_size / static_cast<double>(s.window.size())));
        break;
      case Feature::kTradeRate: {
        const int64_t short_from = time_ns - static_cast<int64_t>(options_.rate_window_s * 1e9);
        size_t recent = 1;  // this trade
        for (auto it = s.window.rbegin(); it != s.window.rend() && it->t >= short_from; ++it) ++recent;
        // The long window covers at most the time since this key was first seen.
        double span = s.first_time ? static_cast<double>(time_ns - s.first_time) / 1e9 : 0;
        span = std::clamp(span, options_.rate_window_s, options_.window_s);
        double short_rate = static_cast<double>(recent) / options_.rate_window_s;
        double long_rate = static_cast<double>(s.window.size() + 1) / span;
        x = std::log((short_rate + 1e-3) / (long_rate + 1e-3));
        break;
      }
      case Feature::kSpread: {
        double bid = 0, ask = 0;
        if (!s.bids.empty() && !s.asks.empty()) {
          bid = s.bids.begin()->first;
          ask = s.asks.begin()->first;
        } else if (s.q_bid > 0 && s.q_ask > 0) {
          bid = s.q_bid;
          ask = s.q_ask;
        }
        if (bid > 0 && ask > 0) x = (ask - bid) / ((ask + bid) / 2) * kBps;
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
      case Feature::kVenueDivergence: {
        auto pit = prices_.find(symbol);
        if (pit == prices_.end()) break;
        std::vector<double> others;
        const int64_t max_age = static_cast<int64_t>(options_.divergence_max_age_s * 1e9);
        for (const auto& [other, vp] : pit->second)
          if (other != venue && std::llabs(time_ns - vp.t) <= max_age) others.push_back(vp.price);
        if (others.empty()) break;
        std::nth_element(others.begin(), others.begin() + others.size() / 2, others.end());
        double median = others[others.size() / 2];
        if (others.size() % 2 == 0) {
          double lower = *std::max_element(others.begin(), others.begin() + others.size() / 2);
          median = (median + lower) / 2;
        }
        x = (price / median - 1) * kBps;
        break;
      }
    }
    v.values.push_back(x + bad);
  }

  if (!(price > 0 && size >= 0 && std::isfinite(price) && std::isfinite(size))) return v;  // not remembered
  if (!s.first_time) s.first_time = time_ns;
  s.window.push_back({time_ns, price, size});
  s.sum_size += size;
  s.sum_pv += price * size;
  s.last_price = price;
  prices_[symbol][venue] = {price, time_ns};
  if (!have_prev) return std::nullopt;
  return v;
}

void FeatureExtractor::OnQuote(const std::string& venue, const std::string& symbol, int64_t time_ns, double bid,
                               double bid_size, double ask, double ask_size) {
  State& s = StateFor(venue, symbol);
  s.q_bid = bid;
  s.q_bid_size = bid_size;
  s.q_ask = ask;
  s.q_ask_size = ask_size;
}

void FeatureExtractor::OnBook(const std::string& venue, const std::string& symbol, int64_t time_ns, bool snapshot,
                              const std::vector<Level>& bids, const std::vector<Level>& asks) {
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
}

void FeatureExtractor::ResetBook(const std::string& venue, const std::string& symbol) {
  State& s = StateFor(venue, symbol);
  s.bids.clear();
  s.asks.clear();
}

absl::StatusOr<std::optional<FeatureVector>> FeatureExtractor::OnTrade(const mdpb::Trade& t) {
  double price = 0, size = 0;
  if (!ParseDecimal(t.price(), &price) || !ParseDecimal(t.size(), &size))
    return absl::InvalidArgumentError(absl::StrCat("trade ", t.origin().venue(), " ", t.origin().symbol(), " ",
                                                   t.trade_id(), ": price '", t.price().value(), "' or size '",
                                                   t.size().value(), "' is not a finite number"));
  return OnTrade(t.origin().venue(), t.origin().symbol(), EventTime(t.origin()), price, size);
}

absl::Status FeatureExtractor::OnTicker(const mdpb::Ticker& t) {
  double bid = 0, bid_size = 0, ask = 0, ask_size = 0;
  if (!ParseDecimal(t.bid_price(), &bid) || !ParseDecimal(t.ask_price(), &ask))
    return absl::InvalidArgumentError(
        absl::StrCat("ticker ", t.origin().venue(), " ", t.origin().symbol(), ": bid or ask is not a number"));
  if (!ParseDecimal(t.bid_size(), &bid_size)) bid_size = 0;
  if (!ParseDecimal(t.ask_size(), &ask_size)) ask_size = 0;
  OnQuote(t.origin().venue(), t.origin().symbol(), EventTime(t.origin()), bid, bid_size, ask, ask_size);
  return absl::OkStatus();
}

absl::Status FeatureExtractor::OnBookUpdate(const mdpb::BookUpdate& b) {
  std::vector<Level> bids, asks;
  bids.reserve(b.bids_size());
  asks.reserve(b.asks_size());
  for (const auto& l : b.bids()) {
    Level x{};
    if (!ParseDecimal(l.price(), &x.price) || !ParseDecimal(l.size(), &x.size))
      return absl::InvalidArgumentError(absl::StrCat("book ", b.origin().venue(), " ", b.origin().symbol(),
                                                     ": level '", l.price().value(), "' is not a number"));
    bids.push_back(x);
  }
  for (const auto& l : b.asks()) {
    Level x{};
    if (!ParseDecimal(l.price(), &x.price) || !ParseDecimal(l.size(), &x.size))
      return absl::InvalidArgumentError(absl::StrCat("book ", b.origin().venue(), " ", b.origin().symbol(),
                                                     ": level '", l.price().value(), "' is not a number"));
    asks.push_back(x);
  }
  OnBook(b.origin().venue(), b.origin().symbol(), EventTime(b.origin()), b.snapshot(), bids, asks);
  return absl::OkStatus();
}

}  // namespace sa::anomaly
