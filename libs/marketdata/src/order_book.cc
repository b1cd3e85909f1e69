#include "marketdata/order_book.h"

#include <algorithm>
#include <iterator>
#include <tuple>

#include "absl/strings/str_cat.h"

namespace sa::md {

template <typename Map>
void OrderBook::SetLevel(Map& map, const ParsedLevel& parsed, absl::string_view price, absl::string_view size) {
  if (parsed.remove) {
    auto it = map.find(parsed.key);
    if (it == map.end()) return;
    free_slots_.push_back(it->second);
    map.erase(it);
    return;
  }
  // A level beyond the worst one (every level of a snapshot, which venues send
  // best first) is appended with the end as hint: no descent from the root.
  typename Map::iterator it;
  bool inserted;
  if (map.empty() || map.key_comp()(map.rbegin()->first, parsed.key)) {
    it = map.emplace_hint(map.end(), parsed.key, Slot{0});
    inserted = true;
  } else {
    std::tie(it, inserted) = map.try_emplace(parsed.key, Slot{0});
  }
  if (inserted) it->second = NewSlot();
  Level& level = At(it->second);
  level.price.assign(price.data(), price.size());
  level.size.assign(size.data(), size.size());
  level.derived.clear();
}

template <typename Map, typename Fn>
void OrderBook::TruncateMap(Map& map, size_t depth, Fn&& removed) {
  if (map.size() <= depth) return;
  auto it = map.begin();
  std::advance(it, depth);
  for (auto r = it; r != map.end(); ++r) {
    removed(At(r->second));
    free_slots_.push_back(r->second);
  }
  map.erase(it, map.end());
}

OrderBook::Slot OrderBook::NewSlot() {
  if (!free_slots_.empty()) {
    const Slot slot = free_slots_.back();
    free_slots_.pop_back();
    return slot;
  }
  if (used_slots_ == chunks_.size() * kChunkLevels) chunks_.push_back(std::make_unique<Level[]>(kChunkLevels));
  return used_slots_++;
}

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
    SetLevel(bids_, parsed, price, size);
  } else {
    SetLevel(asks_, parsed, price, size);
  }
}

void OrderBook::Clear() {
  bids_.clear();
  asks_.clear();
  used_slots_ = 0;
  free_slots_.clear();
}

void OrderBook::Truncate(size_t depth) {
  TruncateMap(bids_, depth, [](const Level&) {});
  TruncateMap(asks_, depth, [](const Level&) {});
}

void OrderBook::Truncate(size_t depth, absl::FunctionRef<void(BookSide, const Level&)> removed) {
  TruncateMap(bids_, depth, [&](const Level& level) { removed(BookSide::kBid, level); });
  TruncateMap(asks_, depth, [&](const Level& level) { removed(BookSide::kAsk, level); });
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
