#include "marketdata/order_book.h"

#include <algorithm>
#include <iterator>

#include "absl/strings/str_cat.h"

namespace sa::md {
namespace {

template <typename Map>
void SetLevel(Map& map, PriceKey key, absl::string_view price, absl::string_view size,
              bool remove) {
  if (remove) {
    map.erase(key);
    return;
  }
  auto [it, inserted] = map.try_emplace(key);
  it->second.price.assign(price.data(), price.size());
  it->second.size.assign(size.data(), size.size());
}

template <typename Map, typename Fn>
void TruncateMap(Map& map, size_t depth, Fn&& removed) {
  if (map.size() <= depth) return;
  auto it = map.begin();
  std::advance(it, depth);
  for (auto r = it; r != map.end(); ++r) removed(r->second);
  map.erase(it, map.end());
}

template <typename Map>
void ForEach(const Map& map, size_t n, absl::FunctionRef<void(const OrderBook::Level&)> fn) {
  for (auto it = map.begin(); it != map.end() && n > 0; ++it, --n) fn(it->second);
}

}  // namespace

bool OrderBook::ParseLevel(absl::string_view price, absl::string_view size, ParsedLevel* out) {
  ExactDecimal amount;
  if (!ParsePriceKey(price, &out->key) || !ParseExactDecimal(size, &amount) || amount.units < 0) {
    return false;
  }
  out->remove = IsZero(amount);
  return true;
}

absl::Status OrderBook::Set(BookSide side, absl::string_view price, absl::string_view size) {
  PriceKey key;
  if (!ParsePriceKey(price, &key)) {
    return absl::InvalidArgumentError(absl::StrCat("bad price level \"", price, "\""));
  }
  ExactDecimal amount;
  if (!ParseExactDecimal(size, &amount) || amount.units < 0) {
    return absl::InvalidArgumentError(absl::StrCat("bad size \"", size, "\" at price ", price));
  }
  SetParsed(side, ParsedLevel{key, IsZero(amount)}, price, size);
  return absl::OkStatus();
}

void OrderBook::SetParsed(BookSide side, const ParsedLevel& parsed, absl::string_view price, absl::string_view size) {
  if (side == BookSide::kBid) {
    SetLevel(bids_, parsed.key, price, size, parsed.remove);
  } else {
    SetLevel(asks_, parsed.key, price, size, parsed.remove);
  }
}

void OrderBook::Clear() {
  bids_.clear();
  asks_.clear();
}

void OrderBook::Truncate(size_t depth) {
  TruncateMap(bids_, depth, [](const Level&) {});
  TruncateMap(asks_, depth, [](const Level&) {});
}

void OrderBook::Truncate(size_t depth,
                         absl::FunctionRef<void(BookSide, const Level&)> removed) {
  TruncateMap(bids_, depth, [&](const Level& level) { removed(BookSide::kBid, level); });
  TruncateMap(asks_, depth, [&](const Level& level) { removed(BookSide::kAsk, level); });
}

void OrderBook::ForEachLevel(BookSide side, size_t n,
                             absl::FunctionRef<void(const Level&)> fn) const {
  if (side == BookSide::kBid) {
    ForEach(bids_, n, fn);
  } else {
    ForEach(asks_, n, fn);
  }
}

std::vector<OrderBook::Level> OrderBook::Top(BookSide side, size_t n) const {
  std::vector<Level> out;
  out.reserve(std::min(n, size(side)));
  ForEachLevel(side, n, [&](const Level& level) { out.push_back(level); });
  return out;
}

bool OrderBook::IsCrossed() const {
  if (bids_.empty() || asks_.empty()) return false;
  return bids_.begin()->first >= asks_.begin()->first;
}

}  // namespace sa::md
